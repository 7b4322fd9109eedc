#!/usr/bin/env bash
# Prepare what travels to the lent H100 (device tool), in git-ignored folders of the repo root:
#   .gpusrc/llama-cpp-python-0.3.36-trimmed.tar.xz  llama-cpp-python's sdist minus everything a
#                                                   CUDA build of the shared libraries does not read
#   .gpusrc/whl/*.whl                                pure-python wheels missing on the device (cp312)
#   .gpucNN/<name>.partNN                            the model, split into chunks (one folder a call)
# Each device call carries .gpusrc (first call only) and one .gpucNN; the runner reassembles the
# chunks on the device and checks the sha256 before it builds any rung.
#
# usage: scripts/gpu/pack.sh src|wheels|chunks <gguf> <name> [first_mb] [mb] [first_folder_no]|all
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SDIST=${SDIST:-benchmarks/.build/llama_cpp_python-0.3.36}
PY=${PY:-.venv/bin/python}

exclude() {  # the folders are git-ignored through .git/info/exclude (never .gitignore: nothing to commit)
  grep -qxF '/.gpusrc/' .git/info/exclude || echo '/.gpusrc/' >> .git/info/exclude
  grep -qxF '/.gpuc*/' .git/info/exclude || echo '/.gpuc*/' >> .git/info/exclude
}

pack_src() {
  [ -d "$SDIST/vendor/llama.cpp" ] || { echo "no extracted sdist at $SDIST" >&2; exit 1; }
  local stage; stage=$(mktemp -d)
  local top=llama_cpp_python-0.3.36
  # copy, then drop what a CUDA build of libllama/libggml never reads
  cp -a "$SDIST" "$stage/$top"
  (cd "$stage/$top" && rm -rf .git vendor/llama.cpp/.git* llama_cpp/lib build docs examples tests docker scripts \
     vendor/llama.cpp/{models,docs,tests,examples,benches,scripts,conversion,media,gguf-py,tools,pocs,app,ci,skills,requirements} \
     vendor/llama.cpp/*.py && find . -name __pycache__ -prune -exec rm -rf {} + && find . -name '*.so' -delete)
  # ggml backends: keep the base sources, ggml-cpu and ggml-cuda only
  for d in "$stage/$top/vendor/llama.cpp/ggml/src"/ggml-*/; do
    case "$(basename "$d")" in ggml-cpu|ggml-cuda) ;; *) rm -rf "$d" ;; esac
  done
  mkdir -p .gpusrc
  tar -C "$stage" -cf - "$top" | xz -T0 -9 > .gpusrc/llama-cpp-python-0.3.36-trimmed.tar.xz
  rm -rf "$stage"
  ls -l .gpusrc/llama-cpp-python-0.3.36-trimmed.tar.xz
}

pack_wheels() {
  # Missing on the device's Python 3.12 (KINDS.md's list): gguf (reads GGUF headers; also writes the
  # synthetic roofline model), pydantic and its needs (lib.tasks validates task files with it),
  # diskcache (llama_cpp imports it at import time).
  mkdir -p .gpusrc/whl
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .gpusrc/whl \
    gguf==0.19.0 pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 \
    diskcache==5.6.3
  ls -l .gpusrc/whl
}

pack_chunks() {  # <gguf> <name> [first_mb] [mb] [first_folder_no]: the first chunk may be smaller (it
  # travels with the sources); chunks of a second model continue the folder numbers (.gpuc05, ...)
  local src=$1 name=$2 first=${3:-18} mb=${4:-27} start=${5:-1}
  rm -f .gpuc[0-9]*/"$name".part* .gpuc[0-9]*/"$name".sha256 2>/dev/null || true
  local size off=0 i=$start n
  size=$(stat -c %s "$src")
  while [ "$off" -lt "$size" ]; do
    n=$(( (i == start ? first : mb) * 1000000 ))
    local dir; dir=$(printf '.gpuc%02d' "$i")
    mkdir -p "$dir"
    dd if="$src" of="$dir/$name.part$(printf %02d $(( i - start + 1 )))" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$n" status=none
    off=$(( off + n )); i=$(( i + 1 ))
  done
  sha256sum "$src" | awk -v n="$name" '{print $1"  "n}' > "$(printf '.gpuc%02d' "$start")/$name.sha256"
  ls -l .gpuc*/"$name".part*
}

exclude
case "${1:-all}" in
  src) pack_src ;;
  wheels) pack_wheels ;;
  chunks) shift; pack_chunks "$@" ;;
  all) pack_src; pack_wheels ;;
  *) echo "usage: $0 src|wheels|chunks <gguf> <name> [first_mb] [mb]|all" >&2; exit 2 ;;
esac

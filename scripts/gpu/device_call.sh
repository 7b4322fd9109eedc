#!/usr/bin/env bash
# The command each device call runs (on the lent GPU machine, in the repo root there).
#
#   bash scripts/gpu/device_call.sh start      first call: wheels -> /tmp/site, CUDA build of
#                                              llama-cpp-python in the background (setsid), chunks
#   bash scripts/gpu/device_call.sh chunk      later calls: stash this call's model chunk(s)
#   bash scripts/gpu/device_call.sh measure NAME SHA256 MODEL BASE_QUANT [LADDER] [SYNTHETIC_SHAPES]
#                                              wait for the build, reassemble + verify the model,
#                                              measure in the background, poll, copy results to $OUT
#   bash scripts/gpu/device_call.sh collect NAME   poll a measurement still running; copy its results
#
# Chunks travel in git-ignored folders .gpucNN/ (pack.sh); each call copies what it carries to
# /tmp/xfer, so a repeated call is harmless. The machine keeps /tmp while it stays warm (30 s).
set -uo pipefail
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && export PATH=$d:$PATH && break; done
OUT=${OUT:-/tmp/out}
DEADLINE=$(( SECONDS + ${BUDGET:-540} ))  # stay inside the call's 600 s limit
mkdir -p /tmp/xfer /tmp/gpu_out "$OUT"

stash() {
  for f in .gpuc*/*; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    [ -f "/tmp/xfer/$b" ] && [ "$(stat -c %s "$f")" = "$(stat -c %s "/tmp/xfer/$b")" ] || cp "$f" "/tmp/xfer/$b"
  done
  echo "stashed: $(ls /tmp/xfer | tr '\n' ' ')"
  du -cb /tmp/xfer/*.part* 2>/dev/null | tail -1
}

build_state() {
  if [ -f /tmp/build.rc ]; then echo "build finished rc=$(cat /tmp/build.rc) in $(cat /tmp/build.secs 2>/dev/null)s"
    [ "$(cat /tmp/build.rc)" = 0 ] || grep -v '^ *$' /tmp/build.log | grep -i -m20 -B2 'error' ; [ "$(cat /tmp/build.rc)" = 0 ] || tail -25 /tmp/build.log
  elif [ -f /tmp/build.log ]; then echo "build running: $(grep -o '\[[0-9]*/[0-9]*\]' /tmp/build.log | tail -1)"
  else echo "build not started"; fi
}

case "${1:-}" in
start)
  echo "== $(date -u +%FT%TZ) $(hostname) $(nproc) cores; $(python3 --version); $(command -v nvcc) $(nvcc --version | tail -1)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.memory --format=csv,noheader
  df -h /tmp | tail -1
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpusrc/whl/*.whl || exit 1
  rm -rf /tmp/src && mkdir -p /tmp/src && tar -C /tmp/src -xJf .gpusrc/llama-cpp-python-0.3.36-trimmed.tar.xz || exit 1
  cat > /tmp/build.sh <<'EOF'
#!/usr/bin/env bash
for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && export PATH=$d:$PATH && break; done
export CUDACXX=$(command -v nvcc)
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAVA_BUILD=OFF -DLLAMA_OPENSSL=OFF"
export CMAKE_BUILD_PARALLEL_LEVEL=16
echo "CMAKE_ARGS=$CMAKE_ARGS" > /tmp/build.flags
t0=$(date +%s)
python3 -m pip install -v --no-build-isolation --no-deps --no-index --no-cache-dir --target /tmp/site/ /tmp/src/llama_cpp_python-0.3.36 > /tmp/build.log 2>&1
rc=$?
echo $(( $(date +%s) - t0 )) > /tmp/build.secs
echo $rc > /tmp/build.rc
EOF
  chmod +x /tmp/build.sh
  setsid nohup /tmp/build.sh > /dev/null 2>&1 < /dev/null &
  sleep 2
  stash; build_state
  ;;
chunk)
  stash; build_state
  ;;
measure)
  NAME=$2; SHA=$3; MODEL=$4; BASEQ=$5; LADDER=${6:-F16,Q8_0,Q4_K_M,Q2_K}; SHAPES=${7:-}
  stash
  while [ ! -f /tmp/build.rc ] && [ $SECONDS -lt $DEADLINE ]; do sleep 5; done
  build_state
  if [ "$(cat /tmp/build.rc 2>/dev/null)" != "0" ]; then tail -60 /tmp/build.log; cp /tmp/build.log "$OUT/" 2>/dev/null; exit 1; fi
  mkdir -p /tmp/models
  cat $(ls /tmp/xfer/"$NAME".part* | sort) > "/tmp/models/$NAME.gguf"
  got=$(sha256sum "/tmp/models/$NAME.gguf" | cut -d' ' -f1)
  echo "sha256 $got (expected $SHA)"
  [ "$got" = "$SHA" ] || { echo "SHA MISMATCH: re-send the chunks"; exit 1; }
  cat > "/tmp/measure_$NAME.sh" <<EOF
#!/usr/bin/env bash
export PATH=/usr/local/cuda/bin:\$PATH PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
cd $PWD
python3 scripts/gpu/device_run.py measure --model $MODEL --base /tmp/models/$NAME.gguf --base-sha256 $SHA \
  --base-quant $BASEQ --ladder $LADDER --out /tmp/gpu_out/$NAME ${MEASURE_ARGS:-} > /tmp/gpu_out/$NAME.stdout 2>&1
if [ -n "$SHAPES" ]; then
  python3 scripts/gpu/device_run.py synthetic --tokenizer-gguf /tmp/models/$NAME.gguf --shapes $SHAPES \
    --out /tmp/gpu_out/$NAME ${SYNTH_ARGS:-} >> /tmp/gpu_out/$NAME.stdout 2>&1
fi
echo done > /tmp/gpu_out/$NAME.done
EOF
  chmod +x "/tmp/measure_$NAME.sh"
  rm -f "/tmp/gpu_out/$NAME.done"
  setsid nohup "/tmp/measure_$NAME.sh" > /dev/null 2>&1 < /dev/null &
  BUDGET=$(( DEADLINE - SECONDS )) bash "$0" collect "$NAME"
  ;;
collect)
  NAME=$2
  while [ ! -f "/tmp/gpu_out/$NAME.done" ] && [ $SECONDS -lt $DEADLINE ]; do sleep 5; done
  [ -f "/tmp/gpu_out/$NAME.done" ] && echo "measurement $NAME finished" || echo "measurement $NAME STILL RUNNING"
  grep -v '^\[ *[0-9]*/ *[0-9]*\]\|^llama_model_quantize\|^main: \|^llama_model_loader\|^print_info\|^load' "/tmp/gpu_out/$NAME.stdout" | tail -80
  mkdir -p "$OUT/$NAME"
  cp /tmp/gpu_out/$NAME/results.json /tmp/gpu_out/$NAME/run.log "$OUT/$NAME/" 2>/dev/null
  tail -c 2000000 "/tmp/gpu_out/$NAME.stdout" > "$OUT/$NAME/stdout.tail.log"
  { cat /tmp/build.flags; echo "build_secs=$(cat /tmp/build.secs)"; grep -m5 -i 'cuda\|nvcc' /tmp/build.log; tail -5 /tmp/build.log; } > "$OUT/$NAME/build.txt" 2>/dev/null
  ls -la "$OUT/$NAME"
  ;;
*) echo "usage: $0 start|chunk|measure|collect" >&2; exit 2 ;;
esac

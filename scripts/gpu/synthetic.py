"""A synthetic GGUF of a larger model's shape, written on the device, for the decode roofline only.

Why: the device machine has no network and each call carries at most ~28 MB beside the working
tree, so the real models that can travel (SmolLM2-135M, 98 MB; Qwen2.5-0.5B, 491 MB) are far too
small to stream weights at anything near the H100's bandwidth: their decode steps are bound by
kernel launches and synchronisation, not by memory. How close llama.cpp's CUDA decode comes to the
bandwidth bound is a property of the tensor shapes and types, not of the weight values, so a model
with a Llama-like shape and random quantized blocks measures it. Such a file is NOT a model: its
text is noise; only speed and memory figures may be taken from it, never quality.

Layout: llama architecture; every tensor type follows llama.cpp's Q4_K_M rule
(src/llama-quant.cpp): output.weight Q6_K; attn_v and ffn_down Q6_K in the layers where
`use_more_bits` holds (the first and last eighth, and every third layer between), Q4_K elsewhere;
token_embd Q4_K; norms F32. Blocks are random bytes with their f16 scales (d, dmin) fixed to small
finite values, so no NaN or Inf reaches the kernels. The tokenizer is copied from a real GGUF
(SmolLM2's, 49,152 tokens), so llama.cpp loads the file like any other.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

# llama.cpp block layouts (ggml-common.h): bytes per block of 256 weights, and the f16 scale offsets
Q4_K_BYTES, Q6_K_BYTES, QK_K = 144, 210, 256

SHAPES = {
    # name: (n_embd, n_layer, n_ff, n_head, n_head_kv) - the shapes of well-known open models
    "tiny": (256, 2, 512, 4, 2),  # for tests on a CPU
    "qwen2.5-1.5b-shape": (1536, 28, 8960, 12, 2),
    "llama3-8b-shape": (4096, 32, 14336, 32, 8),
    "qwen2.5-14b-shape": (5120, 48, 13824, 40, 8),
    "qwen2.5-32b-shape": (5120, 64, 27648, 40, 8),
    "llama3-70b-shape": (8192, 80, 28672, 64, 8),
}


def use_more_bits(i_layer: int, n_layer: int) -> bool:
    """llama.cpp's rule for the layers that get a wider type in Q4_K_M (attn_v, ffn_down)."""
    return i_layer < n_layer // 8 or i_layer >= 7 * n_layer // 8 or (i_layer - n_layer // 8) % 3 == 2


class BlockPool:
    """Random quantized blocks, reused cyclically (values do not change the kernels' speed)."""

    def __init__(self, block_bytes: int, scale_offsets: tuple[int, ...], n_blocks: int = 1 << 16, seed: int = 0):
        rng = np.random.default_rng(seed)
        pool = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
        scale = np.frombuffer(np.float16(1e-3).tobytes(), dtype=np.uint8)
        for off in scale_offsets:
            pool[:, off:off + 2] = scale
        self.pool = pool

    def blocks(self, n: int) -> np.ndarray:
        reps = -(-n // len(self.pool))
        return np.tile(self.pool, (reps, 1))[:n] if reps > 1 else self.pool[:n]


def _tensor_plan(n_embd, n_layer, n_ff, n_head, n_head_kv, n_vocab):
    """(name, rows, cols, type) in the order llama.cpp's converters write them."""
    head_dim = n_embd // n_head
    kv = n_head_kv * head_dim
    plan = [("token_embd.weight", n_vocab, n_embd, "Q4_K")]
    for i in range(n_layer):
        wide = use_more_bits(i, n_layer)
        plan += [
            (f"blk.{i}.attn_norm.weight", 1, n_embd, "F32"),
            (f"blk.{i}.attn_q.weight", n_embd, n_embd, "Q4_K"),
            (f"blk.{i}.attn_k.weight", kv, n_embd, "Q4_K"),
            (f"blk.{i}.attn_v.weight", kv, n_embd, "Q6_K" if wide else "Q4_K"),
            (f"blk.{i}.attn_output.weight", n_embd, n_embd, "Q4_K"),
            (f"blk.{i}.ffn_norm.weight", 1, n_embd, "F32"),
            (f"blk.{i}.ffn_gate.weight", n_ff, n_embd, "Q4_K"),
            (f"blk.{i}.ffn_up.weight", n_ff, n_embd, "Q4_K"),
            (f"blk.{i}.ffn_down.weight", n_embd, n_ff, "Q6_K" if wide else "Q4_K"),
        ]
    plan += [("output_norm.weight", 1, n_embd, "F32"), ("output.weight", n_vocab, n_embd, "Q6_K")]
    return plan


def _copy_tokenizer(writer, tokenizer_gguf: Path) -> int:
    import gguf

    reader = gguf.GGUFReader(str(tokenizer_gguf), "r")
    n_vocab = None
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        value = field.contents()
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        if key == "tokenizer.chat_template":
            continue  # not a chat model
        writer.add_key_value(key, value, vtype, sub_type=sub)
        if key == "tokenizer.ggml.tokens":
            n_vocab = len(value)
    if not n_vocab:
        raise ValueError(f"{tokenizer_gguf} has no tokenizer.ggml.tokens")
    return n_vocab


def write_synthetic(path: Path | str, shape: str, tokenizer_gguf: Path | str, n_ctx_train: int = 8192) -> dict:
    import gguf

    n_embd, n_layer, n_ff, n_head, n_head_kv = SHAPES[shape]
    if n_embd % QK_K or n_ff % QK_K:
        raise ValueError("K-quant rows must be multiples of 256")
    t0 = time.perf_counter()
    path = Path(path)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name(f"synthetic-{shape}")
    w.add_string("general.description", "SYNTHETIC random weights (quantbench scripts/gpu/synthetic.py): speed only")
    n_vocab = _copy_tokenizer(w, Path(tokenizer_gguf))
    w.add_context_length(n_ctx_train)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q4_K_M))
    pools = {"Q4_K": BlockPool(Q4_K_BYTES, (0, 2), seed=1), "Q6_K": BlockPool(Q6_K_BYTES, (208,), seed=2)}
    qtypes = {"Q4_K": gguf.GGMLQuantizationType.Q4_K, "Q6_K": gguf.GGMLQuantizationType.Q6_K}
    nbytes = {"Q4_K": Q4_K_BYTES, "Q6_K": Q6_K_BYTES}
    plan = _tensor_plan(n_embd, n_layer, n_ff, n_head, n_head_kv, n_vocab)
    n_params = 0
    types: dict[str, int] = {}
    for name, rows, cols, t in plan:
        n_params += rows * cols
        if t == "F32":
            w.add_tensor_info(name, (cols,), np.dtype(np.float32), cols * 4)
        else:
            row_bytes = cols // QK_K * nbytes[t]
            w.add_tensor_info(name, (rows, row_bytes), np.dtype(np.uint8), rows * row_bytes, raw_dtype=qtypes[t])
            types[t] = types.get(t, 0) + rows * row_bytes
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    ones = {}
    for name, rows, cols, t in plan:
        if t == "F32":
            ones.setdefault(cols, np.ones(cols, dtype=np.float32))
            w.write_tensor_data(ones[cols])
        else:
            n_blocks = rows * cols // QK_K
            w.write_tensor_data(pools[t].blocks(n_blocks).reshape(rows, -1))
    w.close()
    return {"shape": shape, "path": str(path), "size_bytes": path.stat().st_size, "n_parameters": n_params,
            "n_embd": n_embd, "n_layer": n_layer, "n_ff": n_ff, "n_head": n_head, "n_head_kv": n_head_kv,
            "n_vocab": n_vocab, "tensor_type_bytes": types, "write_s": round(time.perf_counter() - t0, 2),
            "synthetic": True, "quant_mix": "Q4_K_M rule (llama-quant.cpp use_more_bits), random blocks"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--tokenizer-gguf", required=True)
    args = ap.parse_args(argv)
    print(json.dumps(write_synthetic(args.out, args.shape, args.tokenizer_gguf)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

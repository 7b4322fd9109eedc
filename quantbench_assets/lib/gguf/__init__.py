"""GGUF files: reading their facts, building quant rungs, the quant types and the one baseline rule."""

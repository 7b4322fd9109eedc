"""quantbench: which small language model, at which GGUF quantization, for my task, memory and cost."""

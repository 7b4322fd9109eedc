"""Measurements of a rung beyond its answers: perplexity and KL divergence, speed, memory, hardware, backend equivalence, sampling variance."""

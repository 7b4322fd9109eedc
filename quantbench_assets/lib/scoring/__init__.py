"""From model outputs to per-item scores: multiple-choice scorers, TR125's generate-and-rescore, generation metrics, code execution."""

"""Task definitions: benchmark items and subsets, generation tasks, lm-eval's task system."""

"""Statistics across rungs: paired comparisons, tests and power, tier and Pareto oracles, mart expectations."""

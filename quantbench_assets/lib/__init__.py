"""Pure logic for quantbench. Nothing under lib/ imports Dagster: it is tested as plain functions."""

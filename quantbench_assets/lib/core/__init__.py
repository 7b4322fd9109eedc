"""Paths, the content-addressed artifact store, the per-sample cache, the warehouse connection and the run's study settings."""

"""mtestimator benchmarks: ``python -m benchmarks``."""

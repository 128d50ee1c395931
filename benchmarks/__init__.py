"""Benchmarks of mixedmodels against lme4 (R), mixedlm and statsmodels: ``python -m benchmarks``."""

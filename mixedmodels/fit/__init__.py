"""The fit stage: from the model frame's matrices to the optimum (see docs/fit_stage.md).

``crossprod`` (the stored cross-products) -> ``criterion`` (the profiled criterion; its evaluation path
from ``paths``, built on ``linalg``, ``kernels``, ``smallfit`` and ``gradient``) -> ``optimize`` (BOBYQA,
the quasi-Newton, lme4's boundary check, the fit record ``OptSummary``).
"""

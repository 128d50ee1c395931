"""Evaluations and time of the two optimizers on the big cases: ``python -m benchmarks.gradient_check``.

For each case (default: insteval, sim200k; or the names given on the command line) the REML criterion is
minimized from lme4's start by ``optimize_theta`` (NLopt BOBYQA + finite-difference Newton polish) and by
``optimize_with_gradient`` (quasi-Newton on the analytic gradient). Printed per optimizer: criterion
evaluations (factorizations), gradients, wall time of the optimization alone (the cross-products are
built once, outside the timing), the criterion reached, and the per-evaluation costs. Timings on a shared
machine are noisy: compare the counts.
"""

from __future__ import annotations

import sys
import time
import warnings


def run(name: str, repeats: int = 1) -> None:
    import numpy as np

    from benchmarks.cases import CASES
    from mixedmodels.fit.gradient import gradient
    from mixedmodels.fit.optimize import optimize_with_gradient
    from mixedmodels.model import LinearMixedModel
    from mixedmodels.fit.optimize import optimize_theta

    case = next(c for c in CASES if c.name == name)
    data = case.load()
    t0 = time.perf_counter()
    model = LinearMixedModel(case.formula, data)
    crit = model.criterion(True)
    t_setup = time.perf_counter() - t0
    theta0 = crit.theta_init()
    # warm-up: compiled kernels, caches
    crit(theta0)
    gradient(crit, theta0)
    # per-evaluation costs
    reps = 5
    t0 = time.perf_counter()
    for _ in range(reps):
        crit(theta0)
    t_val = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        gradient(crit, theta0)
    t_grad = (time.perf_counter() - t0) / reps
    print(f"{name}: {case.formula}  (n = {crit.n}, dense rest block {crit.m} x {crit.m}, "
          f"{crit.ntheta} theta; set-up {t_setup:.2f} s)")
    print(f"  one evaluation {1e3 * t_val:.1f} ms, evaluation + gradient {1e3 * t_grad:.1f} ms")
    results = {}
    for label, fn in (("bobyqa", lambda: optimize_theta(crit, theta0, crit.lower_bounds())),
                      ("gradient", lambda: optimize_with_gradient(crit, theta0, crit.lower_bounds()))):
        best = np.inf
        for _ in range(repeats):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                opt = fn()
                best = min(best, time.perf_counter() - t0)
        results[label] = opt
        ngrad = getattr(opt, "ngrad", 0)
        print(f"  {label:9s} evals {opt.feval:4d}  gradients {ngrad:3d}  time {best:6.2f} s  "
              f"criterion {opt.objective:.10f}  theta {np.array2string(opt.theta, precision=6)}  "
              f"[{opt.optimizer}]")
    d = results["gradient"].objective - results["bobyqa"].objective
    print(f"  criterion(gradient) - criterion(bobyqa) = {d:+.3e}")


def main(argv: list[str]) -> None:
    names = [a for a in argv if not a.startswith("-")] or ["insteval", "sim200k"]
    repeats = 3 if "--repeat" in argv else 1
    for name in names:
        run(name, repeats)


if __name__ == "__main__":
    main(sys.argv[1:])

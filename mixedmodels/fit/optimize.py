"""Bound-constrained minimization of the profiled criterion over theta (lme4's ``optimizeLmer``).

The optimizer is BOBYQA (Powell's derivative-free trust-region method with quadratic models) from NLopt,
the same algorithm lme4 uses by default (``nloptwrap``) and MixedModels.jl uses, so results are directly
comparable; our default tolerances are tighter than lme4's (``ftol_abs = 1e-8``, ``xtol_abs = 1e-8``), so
where lme4 stops early we go on to the better optimum. As lme4 does, after convergence every theta
component within ``boundary_tol`` of its bound is tried at the bound and kept there if that is no worse
(``check.boundary``). If NLopt is missing, SciPy's bounded L-BFGS-B on finite differences is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import warn as warn_r
from ..errors import ConvergenceWarning

__all__ = ["OptSummary", "optimize_theta"]


@dataclass
class OptSummary:
    """What the optimizer did: start, result, bounds, evaluations, settings and messages."""

    theta_init: np.ndarray
    theta: np.ndarray
    lower: np.ndarray
    objective: float
    feval: int
    optimizer: str
    converged: bool
    return_code: str
    ftol_abs: float
    xtol_abs: float
    messages: list[str] = field(default_factory=list)


def bobyqa(fun, x0, lower, ftol_abs=1e-10, xtol_abs=1e-9, ftol_rel=1e-14, maxeval=100_000,
           initial_step=None, upper=None):
    """NLopt's BOBYQA on ``fun`` over ``lower <= x (<= upper)``; returns ``(x, code, converged)``.

    The best point evaluated is kept (NLopt may stop on a round-off error after finding it), and
    non-finite values are reported to NLopt as a huge number so it backs away from them.
    """
    import nlopt

    x0 = np.asarray(x0, dtype=float)
    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    best = {"x": x0.copy(), "f": np.inf}

    def f(x, grad):
        v = fun(x)
        if v < best["f"]:
            best["f"] = v
            best["x"] = x.copy()
        return v if np.isfinite(v) else 1e300

    opt.set_min_objective(f)
    opt.set_lower_bounds(np.asarray(lower, dtype=float))
    if upper is not None:
        opt.set_upper_bounds(np.asarray(upper, dtype=float))
    opt.set_ftol_abs(ftol_abs)
    opt.set_ftol_rel(ftol_rel)
    opt.set_xtol_abs(np.full(len(x0), xtol_abs))
    opt.set_maxeval(maxeval)
    if initial_step is not None:
        opt.set_initial_step(initial_step)
    code = "unknown"
    try:
        xopt = opt.optimize(np.asarray(x0, dtype=float))
        code = {1: "NLOPT_SUCCESS", 2: "NLOPT_STOPVAL_REACHED", 3: "NLOPT_FTOL_REACHED",
                4: "NLOPT_XTOL_REACHED", 5: "NLOPT_MAXEVAL_REACHED", 6: "NLOPT_MAXTIME_REACHED"}.get(
            opt.last_optimize_result(), str(opt.last_optimize_result()))
    except nlopt.RoundoffLimited:
        xopt = best["x"]
        code = "NLOPT_ROUNDOFF_LIMITED"
    except (ValueError, RuntimeError) as exc:  # pragma: no cover - nlopt internal failure
        xopt = best["x"]
        code = f"NLOPT_FAILURE ({exc})"
    if fun(xopt) > best["f"]:
        xopt = best["x"]
    converged = code in ("NLOPT_SUCCESS", "NLOPT_FTOL_REACHED", "NLOPT_XTOL_REACHED",
                         "NLOPT_ROUNDOFF_LIMITED")
    return np.asarray(xopt, dtype=float), code, converged


def _lbfgsb(fun, x0, lower, ftol_abs, maxeval):
    from scipy.optimize import minimize

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    res = minimize(lambda x: fun(x) if np.isfinite(fun(x)) else 1e300, x0, method="L-BFGS-B",
                   bounds=bounds, options={"ftol": ftol_abs, "maxfun": maxeval})
    return np.asarray(res.x), res.message if isinstance(res.message, str) else str(res.message), \
        bool(res.success)


def _fd_newton(fun, x: np.ndarray, fx: float, lower: np.ndarray) -> tuple[np.ndarray, float, int]:
    """One Newton step on the free components of ``x`` with a finite-difference gradient and Hessian.

    BOBYQA stops when the criterion changes by less than its tolerance, which on a flat optimum leaves
    theta accurate to only ~1e-5 relative: enough for the criterion, not for the 5th printed digit of a
    variance. Central differences (step 1e-4 relative) give the gradient to ~1e-8 and one Newton step
    lands on the optimum to about that precision. Components on their bound stay there. The step is kept
    only if the criterion does not increase.
    """
    free = ~(np.isfinite(lower) & (x - lower < 1e-6))
    idx = np.flatnonzero(free)
    k = len(idx)
    if k == 0:
        return x, fx, 0
    h = np.maximum(np.abs(x[idx]), 0.1) * 1e-4
    # keep every probe inside the bounds
    room = np.where(np.isfinite(lower[idx]), x[idx] - lower[idx], np.inf)
    if np.any(room <= 2 * h):
        return x, fx, 0
    evals = 0

    def f(delta):
        nonlocal evals
        y = x.copy()
        y[idx] += delta
        evals += 1
        return fun(y)

    E = np.diag(h)
    fp = np.array([f(E[i]) for i in range(k)])
    fm = np.array([f(-E[i]) for i in range(k)])
    g = (fp - fm) / (2 * h)
    H = np.diag((fp - 2 * fx + fm) / h ** 2)
    for i in range(k):
        for j in range(i):
            v = (f(E[i] + E[j]) - f(E[i] - E[j]) - f(-E[i] + E[j]) + f(-E[i] - E[j])) / (4 * h[i] * h[j])
            H[i, j] = H[j, i] = v
    if not np.all(np.isfinite(H)) or not np.all(np.isfinite(g)):
        return x, fx, evals
    try:
        w = np.linalg.eigvalsh(H)
        if w.min() <= 0:
            return x, fx, evals
        step = np.linalg.solve(H, g)
    except np.linalg.LinAlgError:
        return x, fx, evals
    if np.any(np.abs(step) > 100 * h):  # not in the quadratic region: do not trust it
        return x, fx, evals
    y = x.copy()
    y[idx] -= step
    y = np.maximum(y, lower)
    fy = fun(y)
    evals += 1
    if fy <= fx:
        return y, fy, evals
    return x, fx, evals


def optimize_theta(fun: Callable[[np.ndarray], float], theta0: np.ndarray, lower: np.ndarray, *,
                   ftol_abs: float = 1e-10, xtol_abs: float = 1e-9, ftol_rel: float = 1e-14,
                   maxeval: int = 100_000, boundary_tol: float = 1e-5, polish: bool = True,
                   initial_step: np.ndarray | None = None) -> OptSummary:
    """Minimize ``fun`` over theta >= lower from ``theta0``; returns an :class:`OptSummary`.

    ``ftol_abs``/``xtol_abs`` are NLopt's stopping tolerances (lme4's defaults, 1e-8); unlike lme4 there
    is no ``xtol_rel = 1e-4`` stop, and with ``polish`` a finite-difference Newton step
    (:func:`_fd_newton`) finishes the job, so theta is accurate to ~1e-8 rather than ~1e-5.
    """
    theta0 = np.asarray(theta0, dtype=float)
    if not np.all(np.isfinite(theta0)):  # NLopt's binding corrupts memory on a non-finite start
        from ..errors import ModelError

        raise ModelError(f"cannot optimize from a non-finite theta ({theta0.tolist()})")
    if not np.isfinite(fun(theta0)):  # NLopt is never handed a start where the criterion is undefined
        from ..errors import ModelError

        raise ModelError("the criterion is not finite at the starting theta: the data may be on an extreme "
                         "scale, or the model degenerate")
    lower = np.asarray(lower, dtype=float)
    below = np.flatnonzero(theta0 < lower)
    if below.size:  # NLopt would stop with an empty invalid_argument
        from ..errors import ModelError

        k = int(below[0])
        raise ModelError(f"the starting theta's element {k + 1} ({theta0[k]:g}) is below its lower bound "
                         f"({lower[k]:g})")
    nev0 = getattr(fun, "nevals", 0)
    try:
        import nlopt  # noqa: F401
        have_nlopt = True
    except ImportError:  # pragma: no cover - nlopt is a declared dependency
        have_nlopt = False
    if have_nlopt:
        theta, code, converged = bobyqa(fun, theta0, lower, ftol_abs, xtol_abs, ftol_rel, maxeval,
                                        initial_step)
        name = "bobyqa (NLopt)"
    else:  # pragma: no cover
        theta, code, converged = _lbfgsb(fun, theta0, lower, ftol_abs, maxeval)
        name = "L-BFGS-B (SciPy)"
    fval = fun(theta)
    if polish and converged and len(theta) <= 12:
        theta, fval, _ = _fd_newton(fun, theta, fval, lower)
    # lme4's check.boundary: snap components near their bound onto it when that is no worse (to within
    # the criterion's rounding: a variance of 1e-9 is not better than 0 by one unit in the last place)
    if boundary_tol > 0:
        near = np.isfinite(lower) & (theta - lower < boundary_tol) & (theta != lower)
        if near.any():
            trial = theta.copy()
            trial[near] = lower[near]
            ftrial = fun(trial)
            if ftrial <= fval + 1e-12 * max(1.0, abs(fval)):
                theta, fval = trial, ftrial
    messages: list[str] = []
    if not converged:
        messages.append(f"optimizer did not converge: {code}")
        warn_r(f"the optimizer stopped without converging ({code}); the estimates may be "
              "unreliable", ConvergenceWarning)
    feval = getattr(fun, "nevals", nev0) - nev0
    return OptSummary(theta_init=theta0, theta=theta, lower=lower, objective=float(fval), feval=feval,
                      optimizer=name, converged=converged, return_code=code, ftol_abs=ftol_abs,
                      xtol_abs=xtol_abs, messages=messages)

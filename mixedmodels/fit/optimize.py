"""Bound-constrained minimization of the profiled criterion over theta (lme4's ``optimizeLmer``), and
the record of what the optimizer did (:class:`OptSummary`, as MixedModels.jl's).

Two optimizers, both on an evaluation path of the criterion (:mod:`mixedmodels.fit.paths`):

* :func:`optimize_theta`: BOBYQA (Powell's derivative-free trust-region method with quadratic models)
  from NLopt, the algorithm lme4 (``nloptwrap``) and MixedModels.jl use by default, so results are
  directly comparable; our default tolerances are tighter than lme4's (``ftol_abs = 1e-8``, ``xtol_abs =
  1e-8``), so where lme4 stops early we go on to the better optimum. If NLopt is missing, SciPy's
  bounded L-BFGS-B on finite differences is used instead.
* :func:`optimize_with_gradient`: quasi-Newton on the exact gradient (:mod:`mixedmodels.fit.gradient`).

:func:`fit_theta` runs the one asked for (``"auto"``: the gradient search, and a BOBYQA cross-check where
it can pay, :func:`cross_check_reason`). After either, lme4's ``check.boundary``
(:func:`check_boundary`): every theta component within ``boundary_tol`` of its bound is tried at the
bound and kept there if that is no worse. Every evaluation goes through one :class:`Evaluations`
(counts, budget, fit log), from which the frozen :class:`OptSummary` is built once, at the end.
"""

from __future__ import annotations

import math
import operator
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import scipy.linalg as sla

from ..errors import warn as warn_r
from ..errors import ConvergenceWarning, ModelError
from .paths import CROSS_CHECK_DENSE_MAX_THETA, CROSS_CHECK_FEW_LEVELS, CROSS_CHECK_SINGULAR_TOL

__all__ = ["OptSummary", "Check", "Evaluations", "optimize_theta", "optimize_with_gradient", "fit_theta",
           "check_boundary", "canonical_theta", "cross_check_reason", "bobyqa", "OPTIONS"]

# the options each optimizer takes (keywords of fit() / lmer())
OPTIONS = {
    "gradient": frozenset({"dec_tol", "maxiter", "boundary_tol", "fallback", "probes", "probe_zero",
                           "verbose", "ftol_abs", "xtol_abs", "ftol_rel", "maxeval", "polish", "initial_step"}),
    "bobyqa": frozenset({"ftol_abs", "xtol_abs", "ftol_rel", "maxeval", "boundary_tol", "polish",
                         "initial_step"}),
}
OPTIONS["auto"] = OPTIONS["gradient"]
_BOBYQA_DEFAULTS = {"ftol_abs": 1e-10, "xtol_abs": 1e-9, "ftol_rel": 1e-14, "maxeval": 100_000,
                    "boundary_tol": 1e-5, "polish": True, "initial_step": None}
_GRADIENT_DEFAULTS = {"dec_tol": 1e-11, "maxiter": 500, "boundary_tol": 1e-5, "fallback": True,
                      "probes": (1e-3, 0.1), "probe_zero": 1e-6, "verbose": False}


@dataclass(frozen=True)
class Check:
    """A search or test run after the main search: ``name`` (``"bobyqa fallback"``, ``"boundary"``,
    ``"bobyqa cross-check"``), why it ran, its evaluations, the criterion it reached and whether its
    point was kept."""

    name: str
    reason: str
    feval: int
    objective: float
    kept: bool


@dataclass(frozen=True, eq=False)
class OptSummary:
    """What the optimizer did, all set when it is made (MixedModels.jl's ``OptSummary``).

    ``theta_init`` / ``theta``: start and result; ``lower``: the bounds; ``objective``: the criterion at
    ``theta``; ``feval``: criterion evaluations (factorizations) in all, ``ngrad``: how many of them also
    had a gradient; ``optimizer``: the method(s) that ran; ``path``: the evaluation path
    (:mod:`mixedmodels.fit.paths`); ``settings``: every option in force, defaults included;
    ``converged``, ``return_code``, ``messages`` (lme4's convergence messages); ``restarts``: quasi-Newton
    restarts off a saddle at zero; ``checks``: the checks that ran after the search (:class:`Check`);
    ``fitlog``: ``(theta, criterion)`` for every evaluation, in order (MixedModels.jl's ``fitlog``).
    """

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
    messages: tuple[str, ...] = ()
    ngrad: int = 0
    restarts: int = 0
    path: str = ""
    settings: Mapping = field(default_factory=lambda: MappingProxyType({}))
    checks: tuple[Check, ...] = ()
    fitlog: tuple[tuple[np.ndarray, float], ...] = ()

    @property
    def fitlog_table(self):
        """The fit log as a pandas DataFrame: one row per evaluation, ``theta1..thetak`` and ``objective``."""
        import pandas as pd

        k = len(self.theta)
        rows = np.array([np.append(t, v) for t, v in self.fitlog]).reshape(-1, k + 1)
        return pd.DataFrame(rows, columns=[f"theta{i + 1}" for i in range(k)] + ["objective"])


class _Budget(Exception):
    """The evaluation budget (``maxeval``) is spent."""


class Evaluations:
    """Every evaluation of one fit, counted and logged: ``evaluate`` (value and the state its gradient
    needs), ``gradient_at`` and, for derivative-free searches, calling it (value only).

    ``fun`` is a :class:`~mixedmodels.fit.criterion.ProfiledCriterion` (evaluated by its path; its
    ``nevals`` counted too) or any ``theta -> value`` callable. ``budget``: at most this many
    evaluations by ``evaluate`` (then the search stops); ``verbose`` prints each one.
    """

    def __init__(self, fun, *, budget: int | None = None, verbose: bool = False):
        self.fun = fun
        self.path = getattr(fun, "path", None)
        self.budget = budget
        self.verbose = verbose
        self.nevals = 0
        self.ngrad = 0
        self._thetas: list[np.ndarray] = []
        self._values: list[float] = []
        self.best_x: np.ndarray | None = None
        self.best_f = np.inf

    def _record(self, x: np.ndarray, v: float, copy: bool = True) -> None:
        self.nevals += 1
        if self.path is not None:
            self.fun.nevals += 1
        if copy:
            x = np.array(x, dtype=float)
        self._thetas.append(x)
        self._values.append(v)
        if v < self.best_f:
            self.best_x, self.best_f = x, v
        if self.verbose:
            print(f"    f={v:.12f} x={np.array2string(x, precision=8)}")

    def evaluate(self, x: np.ndarray):
        """``(value, state)`` at ``x``; ``state`` is None where the criterion is not finite."""
        if self.budget is not None and self.nevals >= self.budget:
            raise _Budget()
        x = np.array(x, dtype=float)  # the log's own copy, also what the path evaluates (and only reads)
        v, state = self.path.evaluate(x)
        self._record(x, float(v), copy=False)
        return v, state

    def gradient_at(self, state) -> np.ndarray | None:
        self.ngrad += 1
        return self.path.gradient_at(state)

    def __call__(self, x: np.ndarray) -> float:
        x = np.asarray(x, dtype=float)
        v = float(self.path.value(x)) if self.path is not None else float(self.fun(x))
        self._record(x, v)
        return v

    def fitlog(self) -> tuple[tuple[np.ndarray, float], ...]:
        return tuple(zip(self._thetas, self._values))


def check_boundary(fun: Callable[[np.ndarray], float], theta: np.ndarray, fval: float, lower: np.ndarray,
                   tol: float) -> tuple[np.ndarray, float, Check | None]:
    """lme4's ``check.boundary``: components within ``tol`` of their (finite) bound are put on it when
    that is no worse, to within the criterion's rounding (a variance of 1e-9 is not better than 0 by
    one unit in the last place). ``(theta, fval, check)``; ``check`` is None when nothing was near."""
    if not tol > 0:
        return theta, fval, None
    near = np.isfinite(lower) & (theta - lower < tol) & (theta != lower)
    if not near.any():
        return theta, fval, None
    trial = np.array(theta, dtype=float)
    trial[near] = lower[near]
    ft = float(fun(trial))
    kept = ft <= fval + 1e-12 * max(1.0, abs(fval))
    check = Check("boundary", f"{int(near.sum())} component(s) within {tol:g} of the bound", 1, ft, kept)
    return (trial, ft, check) if kept else (theta, fval, check)


def _summary(rec: Evaluations, *, theta0, theta, lower, objective, optimizer, converged, code, settings,
             ftol_abs, xtol_abs, restarts=0, checks=()) -> OptSummary:
    messages: tuple[str, ...] = ()
    if not converged:
        messages = (f"optimizer did not converge: {code}",)
    return OptSummary(theta_init=np.array(theta0, dtype=float), theta=np.array(theta, dtype=float),
                      lower=np.array(lower, dtype=float), objective=float(objective), feval=rec.nevals,
                      optimizer=optimizer, converged=bool(converged), return_code=code,
                      ftol_abs=float(ftol_abs), xtol_abs=float(xtol_abs), messages=messages, ngrad=rec.ngrad,
                      restarts=int(restarts), path=rec.path.name if rec.path is not None else "",
                      settings=MappingProxyType(dict(settings)), checks=tuple(checks), fitlog=rec.fitlog())


def _warn_not_converged(code: str) -> None:
    warn_r(f"the optimizer stopped without converging ({code}); the estimates may be unreliable",
           ConvergenceWarning)


def bobyqa(fun, x0, lower, ftol_abs=1e-10, xtol_abs=1e-9, ftol_rel=1e-14, maxeval=100_000,
           initial_step=None, upper=None):
    """NLopt's BOBYQA on ``fun`` over ``lower <= x (<= upper)``; returns ``(x, code, converged)``.

    The best point evaluated is kept (NLopt may stop on a round-off error after finding it), and
    non-finite values are reported to NLopt as a huge number so it backs away from them.
    """
    import nlopt

    x0 = np.asarray(x0, dtype=float)
    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    best_x, best_f = x0.copy(), math.inf

    def f(x, grad):  # called once per evaluation: kept lean (a small GLMM's evaluation takes ~10 us)
        nonlocal best_x, best_f
        v = fun(x)
        if v < best_f:
            best_f = v
            best_x = x.copy()
        return v if math.isfinite(v) else 1e300

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
        xopt = best_x
        code = "NLOPT_ROUNDOFF_LIMITED"
    except (ValueError, RuntimeError) as exc:  # pragma: no cover - nlopt internal failure
        xopt = best_x
        code = f"NLOPT_FAILURE ({exc})"
    if fun(xopt) > best_f:
        xopt = best_x
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


def _check_start(fun, theta0: np.ndarray) -> None:
    if not np.all(np.isfinite(theta0)):  # NLopt's binding corrupts memory on a non-finite start
        raise ModelError(f"cannot optimize from a non-finite theta ({theta0.tolist()})")
    if not np.isfinite(fun(theta0)):  # NLopt is never handed a start where the criterion is undefined
        raise ModelError("the criterion is not finite at the starting theta: the data may be on an extreme "
                         "scale, or the model degenerate")


def _run_bobyqa(rec: Evaluations, theta0: np.ndarray, lower: np.ndarray, ftol_abs: float, xtol_abs: float,
                ftol_rel: float, maxeval: int, polish: bool, initial_step) -> tuple:
    """BOBYQA (then the Newton polish) from ``theta0``: ``(theta, fval, code, converged, name)``."""
    _check_start(rec, theta0)
    below = np.flatnonzero(theta0 < lower)
    if below.size:  # NLopt would stop with an empty invalid_argument
        k = int(below[0])
        raise ModelError(f"the starting theta's element {k + 1} ({theta0[k]:g}) is below its lower bound "
                         f"({lower[k]:g})")
    try:
        import nlopt  # noqa: F401
        have_nlopt = True
    except ImportError:  # pragma: no cover - nlopt is a declared dependency
        have_nlopt = False
    if have_nlopt:
        theta, code, converged = bobyqa(rec, theta0, lower, ftol_abs, xtol_abs, ftol_rel, maxeval,
                                        initial_step)
        name = "bobyqa (NLopt)"
    else:  # pragma: no cover
        theta, code, converged = _lbfgsb(rec, theta0, lower, ftol_abs, maxeval)
        name = "L-BFGS-B (SciPy)"
    fval = rec(theta)
    if polish and converged and len(theta) <= 12:
        theta, fval, _ = _fd_newton(rec, theta, fval, lower)
    return theta, fval, code, converged, name


def optimize_theta(fun: Callable[[np.ndarray], float], theta0: np.ndarray, lower: np.ndarray, *,
                   ftol_abs: float = 1e-10, xtol_abs: float = 1e-9, ftol_rel: float = 1e-14,
                   maxeval: int = 100_000, boundary_tol: float = 1e-5, polish: bool = True,
                   initial_step: np.ndarray | None = None) -> OptSummary:
    """Minimize ``fun`` (a criterion, or any callable) over theta >= lower from ``theta0`` by BOBYQA;
    returns an :class:`OptSummary`.

    ``ftol_abs``/``xtol_abs`` are NLopt's stopping tolerances (lme4's defaults, 1e-8); unlike lme4 there
    is no ``xtol_rel = 1e-4`` stop, and with ``polish`` a finite-difference Newton step
    (:func:`_fd_newton`) finishes the job, so theta is accurate to ~1e-8 rather than ~1e-5. Then
    :func:`check_boundary`.
    """
    theta0 = np.asarray(theta0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    settings = {"ftol_abs": ftol_abs, "xtol_abs": xtol_abs, "ftol_rel": ftol_rel, "maxeval": maxeval,
                "boundary_tol": boundary_tol, "polish": polish, "initial_step": initial_step}
    rec = Evaluations(fun)
    theta, fval, code, converged, name = _run_bobyqa(rec, theta0, lower, ftol_abs, xtol_abs, ftol_rel,
                                                     maxeval, polish, initial_step)
    theta, fval, bcheck = check_boundary(rec, theta, fval, lower, boundary_tol)
    if not converged:
        _warn_not_converged(code)
    return _summary(rec, theta0=theta0, theta=theta, lower=lower, objective=fval, optimizer=name,
                    converged=converged, code=code, settings=settings, ftol_abs=ftol_abs, xtol_abs=xtol_abs,
                    checks=() if bcheck is None else (bcheck,))


# ------------------------------------------------------------------------ quasi-Newton on the gradient
_dpotrf, _dpotrs = sla.lapack.dpotrf, sla.lapack.dpotrs


def _cholesky_solve(B: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``B^-1 g`` by Cholesky (what ``scipy.linalg.cho_factor``/``cho_solve`` compute, without their
    per-call overhead); LinAlgError when ``B`` is not finite or not positive definite."""
    if not np.isfinite(B).all():
        raise np.linalg.LinAlgError("the matrix has non-finite entries")
    c, info = _dpotrf(B, lower=0, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"the matrix is not positive definite (dpotrf info {info})")
    x, info = _dpotrs(c, g, lower=0)
    if info != 0:  # pragma: no cover - only on an illegal argument
        raise np.linalg.LinAlgError(f"dpotrs info {info}")
    return x


def _projected_bfgs(fun: "Evaluations", x0: np.ndarray, lower: np.ndarray, dec_tol: float, maxiter: int,
                    max_step: float = 1.0) -> tuple[np.ndarray, float, np.ndarray | None, str, bool]:
    """Projected quasi-Newton: dense damped BFGS on the free variables, Armijo backtracking along the
    projected path (steps at most ``max_step * max(1, |x|)`` per component). The first step is along
    the gradient; the Hessian approximation then starts from the per-coordinate curvature seen on it
    (theta's components have very different scales: a term with few levels is far flatter).
    Converged when the predicted decrease ``g_F' B_FF^-1 g_F / 2`` is below ``dec_tol`` or below what
    the criterion's rounding can resolve (1e-14 relative). Variables on their bound with a
    non-negative derivative are held there. Returns ``(x, f, g, message, converged)``."""
    x = np.maximum(x0, lower)
    fx, fac = fun.evaluate(x)
    if fac is None:
        return x, fx, None, "criterion not finite at the start", False
    g = fun.gradient_at(fac)
    if g is None:
        return x, fx, None, "gradient failed", False
    n = len(x)
    B = None
    bounded = np.isfinite(lower)
    # lme4's bounds are dropped by the caller (the unconstrained search): then nothing is ever held on a
    # bound and the projections are the identity, so they are skipped (the arithmetic is the same)
    any_bounded = bool(bounded.any())
    free = np.ones(n, dtype=bool)
    fixed = ~free
    for it in range(maxiter):
        fnoise = 1e-14 * max(1.0, abs(fx))  # what the criterion's rounding can resolve
        if any_bounded:
            fixed = bounded & (x <= lower) & (g >= 0)
            free = ~fixed
            all_free = not fixed.any()
            if not free.any():
                return x, fx, g, "all parameters on their bounds", True
        else:
            all_free = True
            if n == 0:
                return x, fx, g, "all parameters on their bounds", True
        gF = g if all_free else g[free]
        xmax = max(1.0, float(np.abs(x).max()))
        dec = np.inf
        if B is None:
            d = -gF * (0.5 * xmax / max(float(np.abs(gF).max()), 1e-300))
        else:
            BF = B if all_free else B[np.ix_(free, free)]
            try:
                d = -_cholesky_solve(BF, gF)
            except np.linalg.LinAlgError:
                B = np.eye(n) * max(1e-8, np.abs(np.diag(B)).max())
                d = -gF / np.diag(B)[free]
            dec = float(-gF @ d)
            if dec <= 2.0 * max(dec_tol, fnoise):
                return x, fx, g, "predicted decrease below tolerance", True
        # Armijo backtracking along the projected path, from a step of at most max_step per component
        alpha = min(1.0, max_step * xmax / max(float(np.abs(d).max()), 1e-300))
        accepted = False
        gt = None
        for trial in range(30):
            if all_free:
                xt = x + alpha * d
            else:
                xt = x.copy()
                xt[free] += alpha * d
            if any_bounded:
                xt = np.maximum(xt, lower)
            step = xt - x
            if not step.any():
                break
            slope = float(g @ step)
            # the full quasi-Newton step is tried even when the decrease it predicts is below the
            # criterion's resolution: the gradient can still judge it (below)
            newton = trial == 0 and B is not None and alpha == 1.0
            if -slope < fnoise and not newton:
                break  # the decrease this step could give is below the criterion's resolution
            ft, fact = fun.evaluate(xt)
            if fact is not None and ft <= fx + 1e-4 * min(slope, 0.0):
                accepted = True
                break
            if newton and fact is not None and ft <= fx + 1e3 * fnoise:
                # near the optimum the criterion's rounding (~1e-13 relative: log-determinants and a
                # residual sum of squares from cross-products) hides decreases the exact gradient still
                # sees. Keep a quasi-Newton step whose change in the criterion is within that noise if
                # it halves the gradient's norm in the metric B^-1 (the predicted decrease).
                gt = fun.gradient_at(fact)
                if gt is not None:
                    gtF = gt if all_free else gt[free]
                    try:
                        dect = float(gtF @ _cholesky_solve(BF, gtF))
                    except np.linalg.LinAlgError:
                        dect = np.inf
                    if dect < 0.25 * dec and (all_free or np.all(gt[fixed] >= 0)):
                        accepted = True
                        break
                gt = None
            # safeguarded quadratic interpolation along the (unprojected) direction
            if slope < 0 and math.isfinite(ft):
                a_new = -slope * alpha / (2.0 * (ft - fx - slope))
                alpha = float(min(max(a_new, 0.1 * alpha), 0.5 * alpha))  # np.clip, on scalars
            else:
                alpha *= 0.25
        if not accepted:
            ok = B is not None and dec <= 2.0 * max(1e3 * dec_tol, 1e3 * fnoise)
            return x, fx, g, "line search made no progress", ok
        if gt is None:
            gt = fun.gradient_at(fact)
        if gt is None:
            return xt, ft, None, "gradient failed", False
        s = xt - x
        y = gt - g
        sy = float(s @ y)
        if B is None:
            # diagonal start: the curvature seen along each coordinate that moved on the first step;
            # for the others, a curvature that would move them by about half a unit
            scal = float(y @ y) / sy if sy > 0 else max(1e-8, np.abs(gt).max())
            big = np.abs(s) >= 0.1 * np.abs(s).max()
            with np.errstate(divide="ignore", invalid="ignore"):
                diag = np.where((s * y > 0) & big, y / s, np.abs(gt) / (0.5 * max(1.0, np.abs(xt).max())))
            B = np.diag(np.clip(diag, 1e-6 * scal, scal))
        # damped BFGS (Powell): keeps B positive definite without a Wolfe line search
        Bs = B @ s
        sBs = float(s @ Bs)
        if sBs > 0:
            theta_d = 1.0 if sy >= 0.2 * sBs else 0.8 * sBs / (sBs - sy)
            r = theta_d * y + (1.0 - theta_d) * Bs
            sr = float(s @ r)
            if sr > 0:
                # np.outer(a, b) is a[:, None] * b[None, :]: the same products, without its overhead
                B = B - (Bs[:, None] * Bs[None, :]) / sBs + (r[:, None] * r[None, :]) / sr
        x, fx, g = xt, ft, gt
    return x, fx, g, "maximum number of iterations", False


SMALL_BFGS_MAX = 8
"""Up to this many parameters the unconstrained quasi-Newton search runs on Python floats
(:func:`_bfgs_small`): for a theta of a few elements a NumPy call (~1 us, ~15 us for SciPy's LAPACK
wrappers) costs far more than its arithmetic; above it, :func:`_projected_bfgs`'s NumPy arithmetic."""


def _chol_solve_small(B: list, g: list) -> list:
    """``B^-1 g`` by Cholesky on Python floats (``B`` a list of rows, symmetric); LinAlgError when ``B``
    is not finite or not positive definite (as :func:`_cholesky_solve`)."""
    n = len(g)
    L = [[0.0] * n for _ in range(n)]
    for j in range(n):
        Bj, Lj = B[j], L[j]
        s = Bj[j]
        for k in range(j):
            s -= Lj[k] * Lj[k]
        if not s > 0.0 or not math.isfinite(s):
            raise np.linalg.LinAlgError("the matrix is not positive definite")
        ljj = math.sqrt(s)
        Lj[j] = ljj
        for i in range(j + 1, n):
            Li = L[i]
            v = B[i][j]
            for k in range(j):
                v -= Li[k] * Lj[k]
            Li[j] = v / ljj
    z = [0.0] * n
    for i in range(n):  # L z = g
        v = g[i]
        Li = L[i]
        for k in range(i):
            v -= Li[k] * z[k]
        z[i] = v / Li[i]
    x = [0.0] * n
    for i in range(n - 1, -1, -1):  # L' x = z
        v = z[i]
        for k in range(i + 1, n):
            v -= L[k][i] * x[k]
        x[i] = v / L[i][i]
    if not all(map(math.isfinite, x)):
        raise np.linalg.LinAlgError("the matrix has non-finite entries")
    return x


def _dot(a, b) -> float:
    return sum(map(operator.mul, a, b))


def _bfgs_small(fun: "Evaluations", x0: np.ndarray, dec_tol: float, maxiter: int,
                max_step: float = 1.0) -> tuple[np.ndarray, float, np.ndarray | None, str, bool]:
    """:func:`_projected_bfgs` without bounds (lme4's bounds dropped: the unconstrained search), its
    arithmetic on Python floats: the same steps, line search, curvature start and damped BFGS update,
    for a theta of at most :data:`SMALL_BFGS_MAX` elements. Returns ``(x, f, g, message, converged)``
    with ``x`` and ``g`` arrays."""
    x = [float(v) for v in x0]
    fx, fac = fun.evaluate(x)
    if fac is None:
        return np.array(x), fx, None, "criterion not finite at the start", False
    ga = fun.gradient_at(fac)
    if ga is None:
        return np.array(x), fx, None, "gradient failed", False
    g = ga.tolist()
    n = len(x)
    if n == 0:
        return np.array(x), fx, ga, "all parameters on their bounds", True
    B = None
    rng = range(n)
    for it in range(maxiter):
        fnoise = 1e-14 * max(1.0, abs(fx))  # what the criterion's rounding can resolve
        xmax = max(1.0, max(map(abs, x)))
        dec = math.inf
        if B is None:
            c = 0.5 * xmax / max(max(map(abs, g)), 1e-300)
            d = [-v * c for v in g]
        else:
            try:
                d = [-v for v in _chol_solve_small(B, g)]
            except np.linalg.LinAlgError:
                b = max(1e-8, max(abs(B[i][i]) for i in rng))
                B = [[b if i == j else 0.0 for j in rng] for i in rng]
                d = [-v / b for v in g]
            dec = -_dot(g, d)
            if dec <= 2.0 * max(dec_tol, fnoise):
                return np.array(x), fx, np.array(g), "predicted decrease below tolerance", True
        # Armijo backtracking, from a step of at most max_step per component
        alpha = min(1.0, max_step * xmax / max(max(map(abs, d)), 1e-300))
        accepted = False
        gt = None
        for trial in range(30):
            xt = [a + alpha * b for a, b in zip(x, d)]
            step = [a - b for a, b in zip(xt, x)]
            if not any(step):
                break
            slope = _dot(g, step)
            newton = trial == 0 and B is not None and alpha == 1.0
            if -slope < fnoise and not newton:
                break  # the decrease this step could give is below the criterion's resolution
            ft, fact = fun.evaluate(xt)
            if fact is not None and ft <= fx + 1e-4 * min(slope, 0.0):
                accepted = True
                break
            if newton and fact is not None and ft <= fx + 1e3 * fnoise:
                # a step within the criterion's rounding kept if it halves the gradient's norm in the
                # metric B^-1 (see _projected_bfgs)
                ga = fun.gradient_at(fact)
                if ga is not None:
                    gt = ga.tolist()
                    try:
                        dect = _dot(gt, _chol_solve_small(B, gt))
                    except np.linalg.LinAlgError:
                        dect = math.inf
                    if dect < 0.25 * dec:
                        accepted = True
                        break
                gt = None
            if slope < 0 and math.isfinite(ft):
                a_new = -slope * alpha / (2.0 * (ft - fx - slope))
                alpha = float(min(max(a_new, 0.1 * alpha), 0.5 * alpha))
            else:
                alpha *= 0.25
        if not accepted:
            ok = B is not None and dec <= 2.0 * max(1e3 * dec_tol, 1e3 * fnoise)
            return np.array(x), fx, np.array(g), "line search made no progress", ok
        if gt is None:
            ga = fun.gradient_at(fact)
            if ga is None:
                return np.array(xt), ft, None, "gradient failed", False
            gt = ga.tolist()
        s = step
        y = [a - b for a, b in zip(gt, g)]
        sy = _dot(s, y)
        if B is None:
            scal = _dot(y, y) / sy if sy > 0 else max(1e-8, max(map(abs, gt)))
            smin = 0.1 * max(map(abs, s))
            other = 0.5 * max(1.0, max(map(abs, xt)))
            lo = 1e-6 * scal
            diag = [y[i] / s[i] if s[i] * y[i] > 0 and abs(s[i]) >= smin else abs(gt[i]) / other for i in rng]
            B = [[min(max(diag[i], lo), scal) if i == j else 0.0 for j in rng] for i in rng]
        # damped BFGS (Powell)
        Bs = [_dot(row, s) for row in B]
        sBs = _dot(s, Bs)
        if sBs > 0:
            theta_d = 1.0 if sy >= 0.2 * sBs else 0.8 * sBs / (sBs - sy)
            r = [theta_d * a + (1.0 - theta_d) * b for a, b in zip(y, Bs)]
            sr = _dot(s, r)
            if sr > 0:
                B = [[B[i][j] - (Bs[i] * Bs[j]) / sBs + (r[i] * r[j]) / sr for j in rng] for i in rng]
        x, fx, g = xt, ft, gt
    return np.array(x), fx, np.array(g), "maximum number of iterations", False


def canonical_theta(crit, theta: np.ndarray) -> np.ndarray:
    """The same model with every diagonal element of every lambda non-negative: a column of lambda
    whose diagonal is negative is negated (lambda lambda' is unchanged, so is the criterion)."""
    theta = np.array(theta, dtype=float)
    for t, sl, (rows, cols) in zip(crit.terms, crit.theta_slices, crit.tril):
        lam = np.zeros((t.ncols, t.ncols))
        lam[rows, cols] = theta[sl]
        neg = np.diagonal(lam) < 0
        if neg.any():
            lam[:, neg] *= -1.0
            theta[sl] = lam[rows, cols]
    return theta


def _run_gradient(rec: Evaluations, crit, theta0: np.ndarray, lower: np.ndarray, *, dec_tol: float,
                  maxiter: int, fallback: bool, probes, probe_zero: float, verbose: bool,
                  bobyqa_options: dict) -> tuple:
    """Steps 1-3 of :func:`optimize_with_gradient` (the boundary check is the caller's):
    ``(theta, fval, code, converged, name, restarts, checks, spent)``."""
    maxeval = bobyqa_options.get("maxeval")
    rec.budget = maxeval
    natural = lower.shape == crit.lower_bounds().shape and np.array_equal(lower, crit.lower_bounds())
    search_lower = np.full(len(theta0), -np.inf) if natural else lower
    restarts = 0
    try:
        x, fx, g, code, converged, restarts = _search(crit, rec, theta0, lower, search_lower, natural,
                                                      dec_tol, maxiter, probes, probe_zero)
        spent = False
    except _Budget:
        spent = True
        x = rec.best_x if rec.best_x is not None else np.maximum(theta0, lower)
        fx, g, converged = rec.best_f, None, False
        code = f"maximum number of evaluations reached (maxeval = {maxeval})"
        if natural:
            x = canonical_theta(crit, x)
    rec.budget = None
    if not spent and natural:
        x = canonical_theta(crit, x)
    elif not spent and converged and g is not None and np.any((x <= lower) & (g == 0)):
        # held on a bound where the derivative vanishes (a variance at 0): first order cannot tell
        # whether that is a minimum, so BOBYQA checks
        converged = False
        code += "; a component on its bound with zero derivative"
    name = "BFGS (analytic gradient)" if natural else "projected BFGS (analytic gradient)"
    if verbose:
        print(f"  {name}: {code}; {rec.nevals} evaluations, {rec.ngrad} gradients, "
              f"{restarts} restarts off zero")
    checks = []
    if not converged and fallback and not spent:
        n0 = rec.nevals
        opts = {**_BOBYQA_DEFAULTS, **{k: v for k, v in bobyqa_options.items() if k in _BOBYQA_DEFAULTS}}
        if "initial_step" not in bobyqa_options:
            opts["initial_step"] = np.maximum(np.abs(x), 0.1) * 1e-2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            xb, fb, code_b, conv_b, _ = _run_bobyqa(rec, np.maximum(x, lower), lower, opts["ftol_abs"],
                                                    opts["xtol_abs"], opts["ftol_rel"], opts["maxeval"],
                                                    opts["polish"], opts["initial_step"])
        kept = fb <= fx or not np.isfinite(fx)
        if kept:
            x, fx = xb, fb
        checks.append(Check("bobyqa fallback", f"the quasi-Newton did not converge ({code})",
                            rec.nevals - n0, float(fb), bool(kept)))
        converged = conv_b
        code = f"{code}; then {code_b}"
        name += " + bobyqa (NLopt)"
    return x, fx, code, converged, name, restarts, checks, spent


def _gradient_settings(dec_tol, maxiter, boundary_tol, fallback, probes, probe_zero, verbose,
                       bobyqa_options) -> dict:
    return {"dec_tol": dec_tol, "maxiter": maxiter, "boundary_tol": boundary_tol, "fallback": fallback,
            "probes": tuple(probes), "probe_zero": probe_zero, "verbose": verbose,
            "maxeval": bobyqa_options.get("maxeval"),
            # the BOBYQA fallback's own settings (its initial step, when not given: 1% of |theta| or 0.001)
            "fallback_options": MappingProxyType({k: v for k, v in {**_BOBYQA_DEFAULTS,
                                                                   **bobyqa_options}.items()
                                                  if k != "boundary_tol"})}


def optimize_with_gradient(crit, theta0, lower, *, dec_tol: float = 1e-11, maxiter: int = 500,
                           boundary_tol: float = 1e-5, fallback: bool = True, probes: tuple = (1e-3, 0.1),
                           probe_zero: float = 1e-6, verbose: bool = False, **bobyqa_options) -> OptSummary:
    """Minimize ``crit`` (a :class:`~mixedmodels.fit.criterion.ProfiledCriterion`, evaluated by its path)
    over theta >= lower from ``theta0`` by quasi-Newton on the exact gradient; returns an
    :class:`OptSummary`.

    With lme4's bounds (0 on the diagonal of each lambda, none elsewhere: ``crit.lower_bounds()``) the
    bounds are not needed: the criterion depends on lambda only through lambda lambda', unchanged when a
    column of lambda changes sign, so it is a smooth function of theta on the whole space, even in each
    such column. The minimization is then unconstrained and the result mapped back
    (:func:`canonical_theta`): no active set, and a variance that crosses zero on the way is not stuck on
    the bound. With other bounds the same quasi-Newton runs projected onto them.

    1. Damped BFGS (:func:`_projected_bfgs`), stopped when the predicted decrease ``g' B^-1 g / 2`` is
       below ``dec_tol``; line-search trials cost a factorization only, accepted points one gradient
       more.
    2. A diagonal element that ends within ``probe_zero`` of 0 with its column otherwise 0 (a scalar
       term's variance at 0) is a stationary point whatever the data say -- the derivative there is
       exactly 0 -- so it may be a saddle: the criterion is evaluated at each of ``probes``; if one is
       lower the quasi-Newton restarts from it (at most 3 times).
    3. If the quasi-Newton did not converge (or, with other bounds, ends on a bound where the
       derivative vanishes), BOBYQA finishes from the best point (``fallback``).
    4. :func:`check_boundary`.

    ``feval`` counts factorizations (criterion evaluations, each with or without a gradient); ``ngrad``
    how many of them had a gradient. Other keywords (``ftol_abs``, ``maxeval``, ...) go to the BOBYQA
    fallback; ``maxeval`` caps the quasi-Newton's evaluations too.
    """
    theta0 = np.asarray(theta0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    rec = Evaluations(crit, verbose=verbose)
    x, fx, code, converged, name, restarts, checks, spent = _run_gradient(
        rec, crit, theta0, lower, dec_tol=dec_tol, maxiter=maxiter, fallback=fallback, probes=probes,
        probe_zero=probe_zero, verbose=verbose, bobyqa_options=bobyqa_options)
    if not spent:
        x, fx, bcheck = check_boundary(rec, x, fx, lower, boundary_tol)
        if bcheck is not None:
            checks.append(bcheck)
    if not converged:
        _warn_not_converged(code)
    settings = _gradient_settings(dec_tol, maxiter, boundary_tol, fallback, probes, probe_zero, verbose,
                                  bobyqa_options)
    return _summary(rec, theta0=theta0, theta=x, lower=lower, objective=fx, optimizer=name,
                    converged=converged, code=code, settings=settings, ftol_abs=dec_tol,
                    xtol_abs=float("nan"), restarts=restarts, checks=checks)


# ------------------------------------------------------------------------------- the cross-check
def cross_check_reason(crit, theta: np.ndarray, lower: np.ndarray) -> str | None:
    """Why a BOBYQA search from lme4's start could end at a lower optimum than the gradient search's
    ``theta``, where it is also cheap enough to try; None where it cannot pay.

    It can pay where a profiled likelihood surface is most often multimodal, and where the two searches
    were seen to disagree: a singular fit (a variance component within
    :data:`~mixedmodels.fit.paths.CROSS_CHECK_SINGULAR_TOL` of 0) or a grouping factor with at most
    :data:`~mixedmodels.fit.paths.CROSS_CHECK_FEW_LEVELS` levels. It is cheap on the compiled small path
    (an evaluation costs microseconds) and, with at most
    :data:`~mixedmodels.fit.paths.CROSS_CHECK_DENSE_MAX_THETA` parameters, on the dense path (and the nested
    and amalgamated paths, which take models of that size or cheaper ones). On larger
    models (a maximal model with 20 parameters: 600 more evaluations, that never ended lower) it is
    skipped.
    """
    path = crit.path.name
    if path in ("dense", "nested", "amalgamated"):  # the NumPy paths of models up to dense size
        if crit.ntheta > CROSS_CHECK_DENSE_MAX_THETA:
            return None
    elif path != "small":
        return None
    diag = np.isfinite(lower) & (lower == 0)
    if np.any(theta[diag] < CROSS_CHECK_SINGULAR_TOL):
        return "singular fit"
    few = [t.group for t in crit.terms if t.nlevels <= CROSS_CHECK_FEW_LEVELS]
    if few:
        return f"a grouping factor with at most {CROSS_CHECK_FEW_LEVELS} levels ({few[0]})"
    return None


def fit_theta(crit, theta0: np.ndarray, lower: np.ndarray, optimizer: str = "auto",
              **options) -> OptSummary:
    """The optimizer of a fit: ``"bobyqa"`` (:func:`optimize_theta`), ``"gradient"``
    (:func:`optimize_with_gradient`) or ``"auto"``: the gradient search, then where
    :func:`cross_check_reason` says it can pay, BOBYQA from the same start as well, keeping the lower
    criterion (the cross-check is recorded in ``checks``); one :class:`OptSummary` for the whole."""
    if optimizer == "bobyqa":
        return optimize_theta(crit, theta0, lower, **options)
    if optimizer == "gradient":
        return optimize_with_gradient(crit, theta0, lower, **options)
    theta0 = np.asarray(theta0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    g_opts = {k: v for k, v in options.items() if k in _GRADIENT_DEFAULTS}
    g_opts = {**_GRADIENT_DEFAULTS, **g_opts}
    bobyqa_options = {k: v for k, v in options.items() if k not in _GRADIENT_DEFAULTS}
    rec = Evaluations(crit, verbose=g_opts["verbose"])
    x, fx, code, converged, name, restarts, checks, spent = _run_gradient(
        rec, crit, theta0, lower, dec_tol=g_opts["dec_tol"], maxiter=g_opts["maxiter"],
        fallback=g_opts["fallback"], probes=g_opts["probes"], probe_zero=g_opts["probe_zero"],
        verbose=g_opts["verbose"], bobyqa_options=bobyqa_options)
    boundary_tol = g_opts["boundary_tol"]
    if not spent:
        x, fx, bcheck = check_boundary(rec, x, fx, lower, boundary_tol)
        if bcheck is not None:
            checks.append(bcheck)
    if not converged:
        _warn_not_converged(code)
    settings = _gradient_settings(g_opts["dec_tol"], g_opts["maxiter"], boundary_tol, g_opts["fallback"],
                                  g_opts["probes"], g_opts["probe_zero"], g_opts["verbose"], bobyqa_options)
    reason = None if spent else cross_check_reason(crit, x, lower)
    settings["cross_check"] = reason or "not run"
    if reason is not None:
        n0 = rec.nevals
        b = {**_BOBYQA_DEFAULTS, **{k: v for k, v in bobyqa_options.items() if k in _BOBYQA_DEFAULTS}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            xb, fb, code_b, conv_b, name_b = _run_bobyqa(rec, theta0, lower, b["ftol_abs"], b["xtol_abs"],
                                                         b["ftol_rel"], b["maxeval"], b["polish"],
                                                         b["initial_step"])
            xb, fb, _ = check_boundary(rec, xb, fb, lower, b["boundary_tol"])
        better = fb < fx - 1e-10 * max(1.0, abs(fx))  # a lower optimum, not the same one within rounding
        checks.append(Check("bobyqa cross-check", reason, rec.nevals - n0, float(fb), bool(better)))
        if better:
            x, fx, code, converged, name = xb, fb, code_b, conv_b, name_b
            if not converged:
                _warn_not_converged(code)
    return _summary(rec, theta0=theta0, theta=x, lower=lower, objective=fx, optimizer=name,
                    converged=converged, code=code, settings=settings, ftol_abs=g_opts["dec_tol"],
                    xtol_abs=float("nan"), restarts=restarts, checks=checks)


def _quasi_newton(fun, x0, search_lower, natural, dec_tol, maxiter):
    """:func:`_bfgs_small` for an unconstrained search over a few parameters, else
    :func:`_projected_bfgs`."""
    if natural and len(x0) <= SMALL_BFGS_MAX:
        return _bfgs_small(fun, x0, dec_tol, maxiter)
    return _projected_bfgs(fun, x0, search_lower, dec_tol, maxiter)


def _search(crit, fun, theta0, lower, search_lower, natural, dec_tol, maxiter, probes, probe_zero):
    """The quasi-Newton search with its restarts off zero (steps 1 and 2 of
    :func:`optimize_with_gradient`): ``(x, fx, g, code, converged, restarts)``."""
    x, fx, g, code, converged = _quasi_newton(fun, theta0, search_lower, natural, dec_tol, maxiter)
    restarts = 0
    while natural and converged and restarts < 3:
        # a diagonal element at 0 whose column is otherwise 0 (e.g. a scalar term's variance) is a
        # stationary point whatever the data say: the criterion is even in it. Probe every diagonal
        # element at 0 off zero; if the criterion goes down, that was a saddle and the quasi-Newton
        # restarts from the probe.
        x = canonical_theta(crit, x)
        at_zero = np.flatnonzero(np.isfinite(lower) & (np.abs(x) <= probe_zero))
        start = None
        for i in at_zero:
            for delta in probes:
                trial = x.copy()
                trial[i] = delta
                ft, _ = fun.evaluate(trial)
                if ft < fx - 1e-14 * max(1.0, abs(fx)):
                    start, fx_start = trial, ft
                    break
            if start is not None:
                break
        if start is None:
            break
        restarts += 1
        x2, f2, g2, code2, conv2 = _quasi_newton(fun, start, search_lower, natural, dec_tol, maxiter)
        if f2 <= fx_start:
            x, fx, g, code, converged = x2, f2, g2, code2, conv2
        else:  # pragma: no cover - the quasi-Newton never ends above its start
            x, fx = start, fx_start
    return x, fx, g, code, converged, restarts

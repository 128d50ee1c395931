"""Satterthwaite's degrees of freedom for fixed-effect contrasts (lmerTest's method).

lmerTest (Kuznetsova, Brockhoff & Christensen 2017) works with the variance parameters
``varpar = (theta, sigma)``:

* ``A = 2 H^-1``, H the Hessian of the deviance (REML criterion for REML fits) as a function of
  ``varpar`` at the optimum, sigma *not* profiled out (``lmerTest:::devfun_vp``)::

      D(theta, sigma) = log|L_Z|^2 + r^2(theta) / sigma^2 + n log(2 pi sigma^2)
                        [REML: + log|R_X|^2 - p log(2 pi sigma^2)]

  The inverse is taken over the positive eigenvalues only, with lmerTest's warnings for negative and
  near-zero eigenvalues (``lmerTest:::as_lmerModLT``).
* ``J_i = d Var(beta-hat) / d varpar_i``, ``Var(beta-hat) = sigma^2 (R_X R_X')^-1``
  (``lmerTest:::get_covbeta``).
* For a contrast vector ``l``: ``nu = 2 (l'Cl)^2 / (g' A g)`` with ``g_i = l' J_i l``
  (``lmerTest:::contest1D.lmerModLmerTest``); for a matrix L the F statistic and the
  eigen-decomposition recipe of ``lmerTest:::contestMD.lmerModLmerTest`` / ``get_Fstat_ddf``.

Derivatives are numerical, as lmerTest's (numDeriv's Richardson extrapolation, ported here as
:func:`gen_d` and :func:`jacobian`), but every evaluation goes through the model's blocked Cholesky
factor (:meth:`ProfiledCriterion.factor`), never through ``n x n`` matrices. A change of sigma alone
needs no new factor (the factor depends on theta only), so evaluations are cached by theta: an
InstEval-sized model (3 theta) needs about 70 factorizations.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, field

import numpy as np

from ..errors import warn as warn_r
from ..errors import ConvergenceWarning, ModelError
from ..fit.linalg import NotPositiveDefinite
from ..fit.threads import scoped as threads_scoped

__all__ = ["gen_d", "hessian", "jacobian", "VarparInfo", "varpar_info", "satterthwaite_1d",
           "satterthwaite_md", "fstat_ddf"]

_ZERO_TOL = math.sqrt(np.finfo(float).eps / 7e-7)  # numDeriv's zero.tol
_LOG2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------------------------------- numDeriv
def gen_d(func, x, d: float = 1e-4, eps: float = 1e-4, zero_tol: float = _ZERO_TOL, r: int = 4,
          v: int = 2):
    """numDeriv's ``genD`` (Richardson extrapolation): first and second derivatives of a (vector-valued)
    ``func`` at ``x``.

    Returns ``(f0, grad, hess)``: ``grad[k, i] = d f_k / d x_i`` and ``hess[k, i, j]``.
    """
    if v != 2:
        raise ValueError("the Richardson recursion here assumes v = 2 (numDeriv's default)")
    x = np.asarray(x, dtype=float)
    f0 = np.atleast_1d(np.asarray(func(x), dtype=float))
    n = len(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < zero_tol)
    grad = np.zeros((len(f0), n))
    hess = np.zeros((len(f0), n, n))
    hdiag = np.zeros((len(f0), n))
    for i in range(n):
        h = h0.copy()
        dap = np.zeros((len(f0), r))
        hap = np.zeros((len(f0), r))
        e = np.zeros(n)
        e[i] = 1.0
        for k in range(r):
            f1 = np.atleast_1d(func(x + e * h))
            f2 = np.atleast_1d(func(x - e * h))
            dap[:, k] = (f1 - f2) / (2 * h[i])
            hap[:, k] = (f1 - 2 * f0 + f2) / h[i] ** 2
            h = h / v
        for m in range(1, r):
            for k in range(r - m):
                dap[:, k] = (dap[:, k + 1] * 4 ** m - dap[:, k]) / (4 ** m - 1)
                hap[:, k] = (hap[:, k + 1] * 4 ** m - hap[:, k]) / (4 ** m - 1)
        grad[:, i] = dap[:, 0]
        hdiag[:, i] = hap[:, 0]
        hess[:, i, i] = hap[:, 0]
    for i in range(n):
        for j in range(i):
            h = h0.copy()
            dap = np.zeros((len(f0), r))
            ei = np.zeros(n)
            ei[i] = 1.0
            ej = np.zeros(n)
            ej[j] = 1.0
            for k in range(r):
                f1 = np.atleast_1d(func(x + ei * h + ej * h))
                f2 = np.atleast_1d(func(x - ei * h - ej * h))
                dap[:, k] = ((f1 - 2 * f0 + f2 - hdiag[:, i] * h[i] ** 2 - hdiag[:, j] * h[j] ** 2)
                             / (2 * h[i] * h[j]))
                h = h / v
            for m in range(1, r):
                for k in range(r - m):
                    dap[:, k] = (dap[:, k + 1] * 4 ** m - dap[:, k]) / (4 ** m - 1)
            hess[:, i, j] = hess[:, j, i] = dap[:, 0]
    return f0, grad, hess


def hessian(func, x, **kw) -> np.ndarray:
    """numDeriv's ``hessian`` (``genD`` with ``d = 0.1``) of a scalar function."""
    kw.setdefault("d", 0.1)
    _, _, h = gen_d(func, x, **kw)
    return h[0]


def jacobian(func, x, d: float = 1e-4, eps: float = 1e-4, zero_tol: float = _ZERO_TOL, r: int = 4,
             v: int = 2) -> np.ndarray:
    """numDeriv's ``jacobian`` (method ``"Richardson"``): ``(len(f), len(x))``."""
    x = np.asarray(x, dtype=float)
    f = np.atleast_1d(np.asarray(func(x), dtype=float))
    n = len(x)
    a = np.zeros((len(f), r, n))
    h = np.abs(d * x) + eps * (np.abs(x) < zero_tol)
    for k in range(r):
        for i in range(n):
            e = np.zeros(n)
            e[i] = h[i]
            a[:, k, i] = (np.atleast_1d(func(x + e)) - np.atleast_1d(func(x - e))) / (2 * h[i])
        h = h / v
    for m in range(1, r):
        a = (a[:, 1: r + 1 - m, :] * 4 ** m - a[:, : r - m, :]) / (4 ** m - 1)
    return a[:, 0, :]


# ---------------------------------------------------------------------------------------- varpar
class _ThetaCache:
    """The theta-dependent pieces of ``devfun_vp`` and ``get_covbeta``, cached by theta."""

    def __init__(self, crit, reml: bool):
        self.crit = crit
        self.reml = reml
        self._store: dict[bytes, tuple[float, float, np.ndarray]] = {}

    def get(self, theta: np.ndarray):
        key = np.asarray(theta, dtype=float).tobytes()
        hit = self._store.get(key)
        if hit is None:
            try:
                f = self.crit.factor(theta, need_C=False)  # only log-determinants, r^2, R_X
                a = f.logdet_L + (f.logdet_RX if self.reml else 0.0)
                b = f.pwrss
                U = self.crit.vcov_unscaled(f)
            except (NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
                p = self.crit.p
                a, b, U = np.nan, np.nan, np.full((p, p), np.nan)
            hit = (float(a), float(b), U)
            self._store[key] = hit
        return hit


@dataclass
class VarparInfo:
    """What lmerTest adds to a fit (class ``lmerModLmerTest``): ``vcov_beta``, ``vcov_varpar`` (A),
    ``jac_list`` (one ``p x p`` matrix per variance parameter), and the Hessian and its warnings."""

    varpar: np.ndarray
    vcov_beta: np.ndarray
    vcov_varpar: np.ndarray
    jac_list: list[np.ndarray]
    hessian: np.ndarray
    warnings: list[str] = field(default_factory=list)


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@threads_scoped
def varpar_info(fit, tol: float = 1e-8) -> VarparInfo:
    """Port of ``lmerTest:::as_lmerModLT``: Hessian of ``devfun_vp`` and Jacobian of ``get_covbeta`` at
    ``(theta, sigma)``; cached per fit."""
    info = _CACHE.get(fit)
    if info is not None:
        return info
    crit = fit._crit
    reml = bool(fit.reml)
    n, p = crit.n, crit.p
    c = (n - p) if reml else n
    cache = _ThetaCache(crit, reml)
    nth = len(fit.theta)

    def devfun_vp(varpar):
        sigma2 = varpar[-1] ** 2
        a, b, _ = cache.get(varpar[:-1])
        return a + b / sigma2 + c * (_LOG2PI + math.log(sigma2))

    def covbeta(varpar):
        _, _, U = cache.get(varpar[:-1])
        return (varpar[-1] ** 2 * U).ravel(order="F")

    varpar = np.concatenate([np.asarray(fit.theta, dtype=float), [float(fit.sigma)]])
    try:
        H = hessian(devfun_vp, varpar)
        if not np.all(np.isfinite(H)):
            raise np.linalg.LinAlgError("non-finite Hessian")
        evals, evecs = np.linalg.eigh(H)
    except (np.linalg.LinAlgError, ZeroDivisionError, OverflowError, ValueError):
        raise ModelError("Satterthwaite's degrees of freedom need the Hessian of the deviance in the "
                         f"variance parameters, which is not finite at this fit (sigma = {fit.sigma:.3g}): "
                         "the fit is degenerate, e.g. the random effects reproduce the response") from None
    order = np.argsort(evals)[::-1]  # R's eigen(): decreasing
    evals, evecs = evals[order], evecs[:, order]
    msgs = []
    neg = evals < -tol
    zero = (evals > -tol) & (evals < tol)
    if neg.any():
        word = "eigenvalues" if neg.sum() > 1 else "eigenvalue"
        vals = " ".join(_sprintf_1e(v) for v in evals[neg])
        msgs.append(f"Model failed to converge with {int(neg.sum())} negative {word}: {vals}")
    if zero.any():
        word = "eigenvalues" if zero.sum() > 1 else "eigenvalue"
        vals = " ".join(_sprintf_1e(v) for v in evals[zero])
        msgs.append(f"Model may not have converged with {int(zero.sum())} {word} close to zero: {vals}")
    for m in msgs:
        warn_r(m, ConvergenceWarning)
    pos = evals > tol
    Vp = evecs[:, pos]
    h_inv = (Vp / evals[pos]) @ Vp.T
    J = jacobian(covbeta, varpar)
    jac_list = [J[:, i].reshape(p, p, order="F") for i in range(nth + 1)]
    info = VarparInfo(varpar=varpar, vcov_beta=np.asarray(fit.vcov, dtype=float), vcov_varpar=2.0 * h_inv,
                      jac_list=jac_list, hessian=H, warnings=msgs)
    _CACHE[fit] = info
    return info


def _sprintf_1e(v: float) -> str:
    """C's ``%1.1e`` as R's sprintf prints it (two-digit exponent at least)."""
    return "%1.1e" % v


def _qform(x: np.ndarray, A: np.ndarray) -> float:
    return float(x @ A @ x)


def satterthwaite_1d(info: VarparInfo, L: np.ndarray) -> tuple[float, float]:
    """``(var_con, ddf)`` for one contrast vector (``contest1D.lmerModLmerTest``, Satterthwaite part)."""
    L = np.asarray(L, dtype=float)
    var_con = _qform(L, info.vcov_beta)
    grad = np.array([_qform(L, J) for J in info.jac_list])
    denom = np.float64(_qform(grad, info.vcov_varpar))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ddf = 2.0 * np.float64(var_con) ** 2 / denom  # inf or NaN, not ZeroDivisionError, when 0
    return var_con, float(ddf)


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """``lmerTest:::get_Fstat_ddf``: the denominator df of an F test from the per-row df."""
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2 * E / (E - len(nu))


def satterthwaite_md(info: VarparInfo, beta: np.ndarray, L: np.ndarray, rhs: np.ndarray | None = None,
                     eps: float = math.sqrt(np.finfo(float).eps)):
    """F test of ``L beta = rhs`` with Satterthwaite's denominator df (``contestMD.lmerModLmerTest``).

    Returns ``(F, numdf, dendf)``, or ``None`` when L has rank 0 (an empty row in lmerTest's table).
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    beta0 = np.asarray(beta, dtype=float)
    rhs = np.zeros(L.shape[0]) if rhs is None else np.broadcast_to(np.asarray(rhs, dtype=float),
                                                                   (L.shape[0],))
    if L.shape[0] == 1:
        var_con, ddf = satterthwaite_1d(info, L[0])
        t = (float(L[0] @ beta0) - rhs[0]) / math.sqrt(var_con) if var_con > 0 else np.nan
        return t * t, 1, ddf
    beta = beta0 - np.linalg.pinv(L) @ rhs if np.any(rhs != 0) else beta0
    VL = L @ info.vcov_beta @ L.T
    d, P = np.linalg.eigh(VL)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    tol = max(eps * d[0], 0.0)
    q = int(np.sum(d > tol))
    if q <= 0:
        return None
    PtL = (P.T @ L)[:q]
    if q == 1:  # lmerTest: contest1D(model, PtL, rhs = rhs[1]) on the unshifted beta
        var_con, ddf = satterthwaite_1d(info, PtL[0])
        t = (float(PtL[0] @ beta0) - rhs[0]) / math.sqrt(var_con) if var_con > 0 else np.nan
        return t * t, 1, ddf
    t2 = (PtL @ beta) ** 2 / d[:q]
    F = float(np.sum(t2) / q)
    nu = np.empty(q)
    for m in range(q):
        grad = np.array([_qform(PtL[m], J) for J in info.jac_list])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            nu[m] = 2 * np.float64(d[m]) ** 2 / np.float64(_qform(grad, info.vcov_varpar))
    return F, q, fstat_ddf(nu, tol=1e-8)

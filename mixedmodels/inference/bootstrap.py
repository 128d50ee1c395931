"""Parametric bootstrap of a fitted linear mixed model (lme4's ``bootMer`` / ``confint(method = "boot")``).

Each replicate simulates a new response from the fitted model, unconditionally on the random effects
(lme4's ``simulate(m, use.u = FALSE)``)::

    y* = X beta + offset + sigma (Z Lambda u + e),   u ~ N(0, I_q), e ~ N(0, I_n),

refits the same model (REML or ML as the original) starting from its theta, and records lme4's
``bootFun``: the standard deviations / correlations, sigma and the fixed effects. Percentile intervals
are ``boot::boot.ci(type = "perc")``'s, with its interpolation on the normal quantile scale
(``boot:::norm.inter``).

A refit needs only the response-dependent part of the cross-products (``Z'y``, ``X'y``, ``y'y``), so
the model's stored cross-products are reused and each replicate costs one optimization.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from ..errors import warn as warn_r
from ..fit.criterion import ProfiledCriterion
from ..fit.crossprod import CrossProducts
from ..fit.optimize import optimize_theta
from ..fit.threads import scoped as threads_scoped
from ..errors import MixedModelsError
from ..post.predict import check_nsim, make_rng
from .profile import cv_to_sv, format_perc, par_names

__all__ = ["bootstrap", "confint_boot", "norm_inter", "ProgressBar"]


class ProgressBar:
    """A minimal text progress bar on stderr (``[=====     ]  50%  250/500``)."""

    def __init__(self, total: int, width: int = 40, stream=None):
        self.total = max(1, int(total))
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self._last = -1

    def update(self, done: int) -> None:
        frac = min(1.0, done / self.total)
        filled = int(round(frac * self.width))
        pct = int(frac * 100)
        if pct == self._last and done != self.total:
            return
        self._last = pct
        bar = "=" * filled + " " * (self.width - filled)
        self.stream.write(f"\r[{bar}] {pct:3d}%  {done}/{self.total}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class _Refitter:
    """Refits the model to new responses, reusing the response-free cross-products."""

    def __init__(self, fit):
        self.fit = fit
        d = fit.design
        self.design = d
        self.reml = bool(fit.reml)
        crit = fit._crit
        self.terms = d.terms
        self.cp = crit.cp
        self.int_col = crit.int_col
        self.weights = d.weights
        # with prior weights the rows of Z and X are scaled by sqrt(w), as in the criterion
        sw = np.sqrt(d.weights) if d.weights is not None else None
        scale = (lambda M: sp.diags(sw) @ M) if sw is not None else (lambda M: M)
        self.sw = sw
        self.Z1 = sp.csc_matrix(scale(d.terms[0].zmatrix()))
        blocks = [scale(t.zmatrix()) for t in d.terms[1:]]
        Xs = sp.csr_matrix(d.X if sw is None else d.X * sw[:, None])
        self.Wrest = sp.hstack(blocks + [Xs], format="csr") if blocks else Xs
        self.lower = crit.lower_bounds()

    def criterion(self, y: np.ndarray) -> ProfiledCriterion:
        """The criterion for response ``y`` (already net of the offset)."""
        cp = self.cp
        AR1 = cp.AR1.tocsr()
        m = cp.ARR.shape[0]
        shift = float(np.mean(y)) if self.int_col is not None else 0.0
        y = y - shift  # centered, as ProfiledCriterion does (no digits lost in y'y)
        if self.sw is not None:
            y = y * self.sw
        zy = np.asarray(self.Z1.T @ y).ravel()
        wy = np.asarray(self.Wrest.T @ y).ravel()
        yy = float(y @ y)
        yrow = sp.csr_matrix(zy[None, :])
        AR1n = sp.vstack([AR1[: m - 1], yrow], format="csr")
        AR1n.eliminate_zeros()
        AR1n.sum_duplicates()
        AR1n.sort_indices()
        ARRn = cp.ARR.copy()
        ARRn[: m - 1, m - 1] = wy
        ARRn[m - 1, : m - 1] = wy
        ARRn[m - 1, m - 1] = yy
        return ProfiledCriterion(self.terms, self.design.X, y, reml=self.reml,
                                 crossprods=CrossProducts(cp.A11, AR1n, ARRn), y_shift=shift,
                                 weights=self.weights)

    def refit(self, y: np.ndarray):
        """(theta, sigma, beta) of the model refitted to ``y``."""
        crit = self.criterion(y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt = optimize_theta(crit, np.asarray(self.fit.theta, dtype=float), self.lower)
        f = crit.factor(opt.theta)
        beta, _ = crit.solve(f)
        d = self.design
        denom = d.n - d.p if self.reml else d.n
        return opt.theta, float(np.sqrt(f.pwrss / denom)), beta


def _simulate(fit, rng: np.random.Generator) -> np.ndarray:
    """One response from the fitted model (new random effects), net of the offset."""
    d = fit.design
    eta = d.X @ fit._beta
    sigma = float(fit.sigma)
    b_part = np.zeros(d.n)
    for t, lam in zip(d.terms, fit._factor.lambdas):
        u = rng.standard_normal((t.nlevels, t.ncols))
        b = u @ lam.T
        b_part += np.einsum("ij,ij->i", t.z, b[t.refs])
    noise = rng.standard_normal(d.n)
    if d.weights is not None:  # residual SD sigma / sqrt(w)
        noise = noise / np.sqrt(d.weights)
    return eta + sigma * (b_part + noise)


@threads_scoped
def bootstrap(fit, nsim: int = 500, seed: int | None = None, progress: bool = False):
    """Parametric bootstrap (lme4's ``bootMer(m, FUN, nsim)`` with lme4's confint ``bootFun``).

    Returns ``(t0, t)``: the statistic on the fit (a Series: sd/cor names, ``sigma``, fixed effects)
    and an ``nsim x len(t0)`` DataFrame of the replicates (NaN rows for failed refits).
    """
    d = fit.design
    ncols = [t.ncols for t in d.terms]
    names = par_names(d.terms) + ["sigma"] + list(d.x_names)
    t0 = pd.Series(np.concatenate([cv_to_sv(np.asarray(fit.theta), ncols, float(fit.sigma)),
                                   np.asarray(fit._beta)]), index=names)
    nsim = check_nsim(nsim)
    rng = make_rng(seed)
    refitter = _Refitter(fit)
    out = np.full((nsim, len(names)), np.nan)
    bar = ProgressBar(nsim) if progress else None
    failed = 0
    for i in range(nsim):
        y = _simulate(fit, rng)
        try:
            th, sg, beta = refitter.refit(y)
            out[i] = np.concatenate([cv_to_sv(th, ncols, sg), beta])
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            failed += 1
        if bar is not None:
            bar.update(i + 1)
    if bar is not None:
        bar.close()
    if failed:
        warn_r(f"some bootstrap runs failed ({failed}/{nsim})", UserWarning)
    return t0, pd.DataFrame(out, columns=names)


def norm_inter(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``boot:::norm.inter``: quantiles of the replicates, interpolated on the normal scale."""
    t = np.asarray(t, dtype=float)
    t = t[np.isfinite(t)]
    R = len(t)
    alpha = np.asarray(alpha, dtype=float)
    out = np.full(len(alpha), np.nan)
    if R == 0:
        return out
    rk = (R + 1) * alpha
    if not np.all((rk > 1) & (rk < R)):
        warn_r("extreme order statistics used as endpoints", UserWarning)
    k = np.trunc(rk).astype(int)
    tstar = np.sort(t)
    for i in range(len(alpha)):
        if k[i] == rk[i] and 0 < k[i] <= R:
            out[i] = tstar[k[i] - 1]
        elif k[i] <= 0:
            out[i] = tstar[0]
        elif k[i] >= R:
            out[i] = tstar[R - 1]
        else:
            t1 = stats.norm.ppf(alpha[i])
            t2 = stats.norm.ppf(k[i] / (R + 1))
            t3 = stats.norm.ppf((k[i] + 1) / (R + 1))
            tk, tk1 = tstar[k[i] - 1], tstar[k[i]]
            out[i] = tk + (t1 - t2) / (t3 - t2) * (tk1 - tk)
    return out


def confint_boot(fit, nsim: int = 500, level: float = 0.95, seed: int | None = None,
                 progress: bool = False) -> pd.DataFrame:
    """``confint(m, method = "boot", nsim = nsim)``: percentile intervals (``boot.type = "perc"``)."""
    t0, t = bootstrap(fit, nsim=nsim, seed=seed, progress=progress)
    if t.isna().all().all():
        raise MixedModelsError("*all* bootstrap runs failed!")
    alpha = np.array([(1 - level) / 2, (1 + level) / 2])
    rows = [norm_inter(t[c].to_numpy(), alpha) for c in t.columns]
    return pd.DataFrame(np.array(rows), index=t0.index, columns=format_perc(alpha))

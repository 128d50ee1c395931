"""pbkrtest's ``KRmodcomp(largeModel, smallModel)``: the Kenward-Roger F test of a smaller model (or of a
restriction ``L beta = 0``) against a larger one.

The small model's fixed effects must span a subspace of the large model's (same random effects, fitted
by REML). The restriction matrix is any basis of what the large model adds (pbkrtest's
``model2restrictionMatrix``); the Kenward-Roger statistic, its scaling and its denominator degrees of
freedom do not depend on which basis (they are built from ``L' (L Phi L')^-1 L``). The test is
:func:`mixedmodels.inference.kenward_roger.kr_adjust`; the printout is pbkrtest's ``print.KRmodcomp``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..errors import MixedModelsError
from ..fit.optimize import optimize_theta
from ..model import LmerFit
from ..post.predict import check_nsim, make_rng
from ..rbase import rformat as rf
from .bootstrap import _Refitter, _simulate
from .kenward_roger import kr_adjust, vcov_adj
from .tables import _as_contrast_matrix, _nested

__all__ = ["kr_modcomp", "KRModcomp", "restriction_matrix"]


def restriction_matrix(large_X: np.ndarray, small_X: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """L (rows orthonormal) with ``{X_large b : L b = 0} = span(X_small)``; an error unless span(X_small)
    is inside span(X_large)."""
    def rank(M):
        if M.shape[1] == 0:
            return 0
        sv = np.linalg.svd(M, compute_uv=False)
        return int(np.sum(sv > tol * max(sv[0], 1e-300)))

    rb, ra = rank(large_X), rank(small_X)
    if rank(np.column_stack([small_X, large_X])) > rb:
        raise MixedModelsError("the small model's fixed effects are not a subspace of the large model's")
    if ra == rb:
        raise MixedModelsError("the two models have the same fixed effects: there is nothing to test")
    # an orthonormal basis of span(X_small), then of what X_large adds to it
    U, sv, _ = np.linalg.svd(small_X, full_matrices=False) if ra else (np.zeros((len(large_X), 0)), None, None)
    A = U[:, :ra]
    R = large_X - A @ (A.T @ large_X)
    U2, sv2, _ = np.linalg.svd(R, full_matrices=False)
    Q2 = U2[:, : rb - ra]
    L = Q2.T @ large_X
    q, _ = np.linalg.qr(L.T)
    return q[:, : rb - ra].T


@dataclass
class KRModcomp:
    """The result of :func:`kr_modcomp`: ``stat`` (the scaled F), ``ndf``, ``ddf``, ``F_scaling``,
    ``p_value``, and the unscaled ``FstatU`` / ``p_valueU``; ``str()`` is pbkrtest's print."""

    large: str
    small: str | None
    L: np.ndarray | None
    stat: float
    ndf: int
    ddf: float
    F_scaling: float
    p_value: float
    FstatU: float
    p_valueU: float

    def __str__(self) -> str:
        lines = [f"large : {self.large}"]
        if self.small is not None:
            lines.append(f"small : {self.small}")
        else:
            lines.append("L = ")
            L = np.atleast_2d(self.L)
            flat = rf.format_num(L.ravel(), digits=rf.R_DIGITS)  # R formats a matrix as one vector
            cells = [flat[i * L.shape[1]:(i + 1) * L.shape[1]] for i in range(L.shape[0])]
            lines += rf.print_matrix(cells, [f"[{i + 1},]" for i in range(L.shape[0])],
                                     [f"[,{j + 1}]" for j in range(L.shape[1])], right=True)
        # pbkrtest shows the scaled test unless the scaling is below 0.2
        if self.F_scaling > 0.2:
            row, name = [self.stat, self.ndf, self.ddf, self.F_scaling, self.p_value], "Ftest"
        else:
            row, name = [self.FstatU, self.ndf, self.ddf, np.nan, self.p_valueU], "FtestU"
        lines += rf.print_coefmat(np.array([row], dtype=float), [name],
                                  ["stat", "ndf", "ddf", "F.scaling", "p.value"],
                                  tst_ind=[0, 1, 2], na_print="", has_pvalue=True)
        return "\n".join(lines)

    __repr__ = __str__


def kr_modcomp(large, small) -> KRModcomp:
    """pbkrtest's ``KRmodcomp(largeModel, smallModel)``: ``small`` is a fitted model (the same random
    effects, fixed effects a subspace of ``large``'s) or a restriction matrix L (one row per
    constraint, one column per fixed effect; the test of ``L beta = 0``). ML fits are refitted by REML,
    as pbkrtest does (its KR statistics are REML's)."""
    if not isinstance(large, LmerFit):
        raise MixedModelsError(f"KRmodcomp needs a fitted model, not {type(large).__name__}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if not large.reml:  # pbkrtest's KR statistics are REML's: an ML fit is refitted by REML
            large = large.update(REML=True)
        if isinstance(small, LmerFit) and not small.reml:
            small = small.update(REML=True)
    small_text = None
    if isinstance(small, LmerFit):
        if small.nobs != large.nobs or not np.array_equal(small.design.y, large.design.y):
            raise MixedModelsError("the two models are not fitted to the same observations")
        L = restriction_matrix(large.design.X, small.design.X)
        small_text = small.design.formula.deparse()
        Lshow = None
    else:
        L, _ = _as_contrast_matrix(large, small)  # a DataFrame is matched to the fixed effects by name
        if not np.any(L):
            raise MixedModelsError("the restriction matrix is all zeros: there is nothing to test")
        Lshow = L
    res = kr_adjust(vcov_adj(large), L, large._beta)
    ndf, ddf = int(res["ndf"]), float(res["ddf"])
    p = float(stats.f.sf(res["Fstat"], ndf, ddf))
    pu = float(stats.f.sf(res["FstatU"], ndf, ddf))
    return KRModcomp(large.design.formula.deparse(), small_text, Lshow, float(res["Fstat"]), ndf, ddf,
                     float(res["F_scaling"]), p, float(res["FstatU"]), pu)


# ------------------------------------------------------------------------------- parametric bootstrap
@dataclass
class PBModcomp:
    """The result of :func:`pb_modcomp`: the likelihood-ratio statistic ``LRT`` with its chi-square
    ``df`` and ``p_chisq``, the bootstrap p-value ``p_pb`` from ``used`` of ``nsim`` simulations, the
    reference distribution ``ref`` and the elapsed ``seconds``; ``str()`` is pbkrtest's print."""

    large: str
    small: str
    LRT: float
    df: int
    p_chisq: float
    p_pb: float
    nsim: int
    used: int
    extremes: int
    ref: np.ndarray
    seconds: float

    def __str__(self) -> str:
        lines = [f"Bootstrap test; time: {self.seconds:.2f} sec; samples: {self.nsim}; "
                 f"extremes: {self.extremes};"]
        if self.used != self.nsim:
            lines.append(f"Requested samples: {self.nsim} Used samples: {self.used} Extremes: {self.extremes}")
        lines += [f"large : {self.large}", self.small]
        tab = np.array([[self.LRT, self.df, self.p_chisq], [self.LRT, np.nan, self.p_pb]])
        lines += rf.print_coefmat(tab, ["LRT", "PBtest"], ["stat", "df", "p.value"], tst_ind=[0],
                                  na_print="", has_pvalue=True)
        return "\n".join(lines)

    __repr__ = __str__


def pb_modcomp(large, small, nsim: int = 1000, seed=None) -> PBModcomp:
    """pbkrtest's ``PBmodcomp(largeModel, smallModel, nsim)``: the likelihood-ratio test of a smaller
    nested model, its p-value from the chi-square distribution and from a parametric bootstrap: ``nsim``
    responses simulated from the small model (fitted by ML), both models refitted by ML to each, the
    p-value ``(#{LRT* >= LRT} + 1) / (used + 1)``. Random numbers are NumPy's (``seed``), so the bootstrap
    p-value is R's in distribution, not digit for digit; the LRT and its chi-square p-value are R's."""
    if not (isinstance(large, LmerFit) and isinstance(small, LmerFit)):
        raise MixedModelsError("PBmodcomp needs two fitted models (large, small)")
    nsim = check_nsim(nsim)
    rng = make_rng(seed)
    if small.nobs != large.nobs or not np.array_equal(small.design.y, large.design.y) \
            or not np.allclose(small.design.offset, large.design.offset):
        raise MixedModelsError("the two models are not fitted to the same observations (and offset)")
    if not _nested(small, large):
        raise MixedModelsError("the small model is not nested in the large one")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml_large = large.update(REML=False) if large.reml else large
        ml_small = small.update(REML=False) if small.reml else small
    lrt = 2.0 * (ml_large.loglik - ml_small.loglik)
    df = int(ml_large.npar - ml_small.npar)
    if df < 1:
        raise MixedModelsError("the large model must have more parameters than the small one")
    ref_large, ref_small = _Refitter(ml_large), _Refitter(ml_small)
    out = np.full(nsim, np.nan)
    for i in range(nsim):
        y = _simulate(ml_small, rng)
        try:
            dl = _ml_deviance(ref_large, y)
            ds = _ml_deviance(ref_small, y)
        except MixedModelsError:
            continue
        out[i] = ds - dl
    ok = out[np.isfinite(out)]
    ok = ok[ok >= 0]  # a refit that ended below the smaller model's optimum is a failed refit
    extremes = int(np.sum(ok >= lrt))
    p_pb = (extremes + 1) / (len(ok) + 1)
    return PBModcomp(large.design.formula.deparse(), small.design.formula.deparse(), float(lrt), df,
                     float(stats.chi2.sf(lrt, df)), float(p_pb), nsim, int(len(ok)), extremes, ok,
                     time.perf_counter() - t0)


def _ml_deviance(refitter, y: np.ndarray) -> float:
    """The ML deviance of ``refitter``'s model refitted to ``y``."""
    crit = refitter.criterion(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = optimize_theta(crit, np.asarray(refitter.fit.theta, dtype=float), refitter.lower)
    return float(opt.objective)

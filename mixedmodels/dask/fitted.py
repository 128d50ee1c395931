"""The fitted model of a Dask DataFrame: an :class:`~mixedmodels.model.LmerFit` whose row-wise results are
further passes over the partitions.

* ``fitted``, ``residuals``, ``resid(type, scaled)`` and ``predict(newdata)`` are lazy Dask Series,
  computed partition by partition when the caller computes them (nothing is collected here);
* the summary's scaled-residual quantiles are exact (R's ``quantile`` type 7 of all residuals): one pass
  gives each partition's count, extremes and a sorted sample, a second pass counts the residuals below a
  bracket around each needed order statistic and returns the few inside it; the client picks the exact
  order statistics (a third pass only if a bracket missed, which the counts detect);
* what needs the rows on the client (Kenward-Roger, the parametric bootstrap, simulate, the method of
  moments, statsmodels, refits on other data) is refused with a :class:`~mixedmodels.errors.MixedModelsError`
  rather than collected silently.
"""

from __future__ import annotations

import copy
import warnings
from functools import cached_property

import numpy as np
import pandas as pd

import dask

from ..errors import DataError, MixedModelsError
from ..frame.partition import partition_arrays
from ..model import LmerFit
from . import is_dask_frame
from .compute import compute, share

__all__ = ["DaskLmerFit", "exact_quantiles"]

_SAMPLE = 256  # sorted sample points per partition for the quantile brackets


def _refuse(what: str):
    raise MixedModelsError(f"{what} needs the rows of the data on the client; it does not run on a fit to a "
                           "Dask DataFrame (nothing is collected silently): fit a sample in memory with "
                           "ddf.sample(...).compute() if that is what you want")


def _eta(a, beta, blocks, new_ok: bool, keep):
    """Fitted values of a partition's arrays: X beta + offset + sum over terms of z . b[level]."""
    X = a.X if keep is None or len(keep) == a.X.shape[1] else a.X[:, keep]
    eta = X @ beta + a.offset
    for k, b in enumerate(blocks):
        refs = a.refs[k]
        ok = refs >= 0
        if not new_ok and not ok.all():  # pragma: no cover - training rows have fitted levels
            raise DataError("a row of the training data has a grouping level the fit does not have")
        part = np.zeros(len(refs))
        part[ok] = np.einsum("ij,ij->i", a.z[k][ok], b[refs[ok]])
        part[refs == -2] = np.nan
        eta = eta + part
    return eta


def _fitted_partition(pdf, state, beta, blocks, what: str, sigma: float):
    a = partition_arrays(pdf, state)
    eta = _eta(a, beta, blocks, new_ok=False, keep=state.x_keep)
    if what == "fitted":
        return pd.Series(eta, index=a.index, name="fitted")
    r = a.y - eta
    if what in ("pearson", "deviance", "pearson_scaled") and a.weights is not None:
        r = r * np.sqrt(a.weights)
    if what.endswith("_scaled"):
        r = r / sigma
    return pd.Series(r, index=a.index, name="residuals")


def _predict_partition(pdf, state, beta, blocks, allow_new: bool):
    a = partition_arrays(pdf, state, response=False)
    for k, refs in enumerate(a.refs):
        if not allow_new and np.any(refs == -1):
            raise DataError("new levels in newdata for a grouping factor of the model: pass "
                            "allow_new_levels=True to predict them at the population level (lme4's rule)")
    return pd.Series(_eta(a, beta, blocks, new_ok=True, keep=state.x_keep), index=pdf.index, name="predicted")


# ------------------------------------------------------------------------------------------ quantiles
def _sample_stats(s: pd.Series) -> dict:
    v = np.sort(s.to_numpy(dtype=float))
    n = len(v)
    if n == 0:
        return {"n": 0, "sample": v, "ranks": np.zeros(0, dtype=np.int64)}
    ranks = np.unique(np.linspace(0, n - 1, min(n, _SAMPLE)).round().astype(np.int64))
    return {"n": n, "sample": v[ranks], "ranks": ranks}


def _window(s: pd.Series, lo: np.ndarray, hi: np.ndarray) -> list:
    v = s.to_numpy(dtype=float)
    return [(int(np.sum(v < a)), np.sort(v[(v >= a) & (v <= b)])) for a, b in zip(lo, hi)]


def exact_quantiles(series, probs, progress: bool = False) -> np.ndarray:
    """Exact R type-7 quantiles of a Dask Series (two passes; more only if a bracket misses). Under a
    ``distributed.Client`` the series is kept in the workers' memory between the passes (8 bytes a row,
    released afterwards), so that what it is computed from (the partitions' model arrays and residuals)
    is computed once."""
    try:
        from distributed import get_client

        get_client()
        series = series.persist()
    except (ImportError, ValueError):
        pass
    parts = series.to_delayed()
    stats = compute([dask.delayed(_sample_stats, pure=True)(p) for p in parts], progress,
                    "the quantiles' sample pass")
    n = sum(s["n"] for s in stats)
    if n == 0:
        return np.full(len(probs), np.nan)
    h = (n - 1) * np.asarray(probs, dtype=float)
    need = sorted({int(np.floor(x)) for x in h} | {min(n - 1, int(np.floor(x)) + 1) for x in h})
    # brackets: for a value v, each partition's sample bounds its count below v; choose, per needed
    # rank, the largest sample value with an upper bound on the count below it <= rank, and the
    # smallest with a lower bound above it
    lo = np.full(len(need), -np.inf)
    hi = np.full(len(need), np.inf)
    cand = np.unique(np.concatenate([s["sample"] for s in stats if s["n"]]))
    if len(cand):
        below_max = np.zeros(len(cand))  # an upper bound of #{x < c}
        below_min = np.zeros(len(cand))  # a lower bound of #{x <= c}
        for s in stats:
            if not s["n"]:
                continue
            samp, ranks = s["sample"], s["ranks"]
            # values < c: at most the rank of the first sample point >= c
            j = np.searchsorted(samp, cand, side="left")
            below_max += np.where(j < len(samp), ranks[np.minimum(j, len(samp) - 1)], s["n"])
            # values <= c: at least the rank of the last sample point <= c, plus one
            i = np.searchsorted(samp, cand, side="right") - 1
            below_min += np.where(i >= 0, ranks[np.maximum(i, 0)] + 1, 0)
        for t, k in enumerate(need):
            ok_lo = np.flatnonzero(below_max <= k)
            if len(ok_lo):
                lo[t] = cand[ok_lo[-1]]
            ok_hi = np.flatnonzero(below_min >= k + 1)
            if len(ok_hi):
                hi[t] = cand[ok_hi[0]]
    values = {}
    for _ in range(3):
        wins = compute([dask.delayed(_window, pure=True)(p, lo, hi) for p in parts], progress,
                       "the quantiles' counting pass")
        missed = False
        for t, k in enumerate(need):
            below = sum(w[t][0] for w in wins)
            inside = np.sort(np.concatenate([w[t][1] for w in wins]))
            if below <= k < below + len(inside):
                values[k] = inside[k - below]
            else:  # pragma: no cover - the brackets are bounds; kept for safety
                missed = True
                lo[t], hi[t] = -np.inf, np.inf
        if not missed:
            break
    out = []
    for x in h:
        j = int(np.floor(x))
        g = x - j
        a = values[j]
        b = values[min(n - 1, j + 1)]
        out.append(a if g == 0 else a + g * (b - a))
    return np.asarray(out)


# ------------------------------------------------------------------------------------------ the fit
class DaskLmerFit(LmerFit):
    """A fit to a Dask DataFrame (see the module docstring for what runs where)."""

    def require_rows(self, what: str) -> None:
        _refuse(what)

    @property
    def ddf(self):
        """The Dask DataFrame the model was fitted to."""
        return self.model.ddf

    def _blocks_for_rows(self):
        """The conditional modes per bar in formula order (the partitions' refs follow the formula)."""
        order = self.model.state.term_order
        out = [None] * len(order)
        for pos, k in enumerate(order):
            out[k] = self._b_blocks[pos]
        return out

    def _lazy(self, what: str):
        state = self.model.state
        meta = pd.Series([], dtype=float, name="fitted" if what == "fitted" else "residuals")
        return self.ddf.map_partitions(_fitted_partition, share(state), self._beta, share(self._blocks_for_rows()),
                                       what, self.sigma, meta=meta)

    @cached_property
    def fitted(self):
        """Fitted values as a lazy Dask Series (rows used only, in the data's index)."""
        return self._lazy("fitted")

    @cached_property
    def residuals(self):
        """Response residuals as a lazy Dask Series (rows used only)."""
        return self._lazy("response")

    def resid(self, type: str = "response", scaled: bool = False):
        if type not in ("response", "pearson", "working", "deviance"):
            raise DataError(f"type must be one of 'response', 'pearson', 'working', 'deviance', not {type!r}")
        if not isinstance(scaled, (bool, np.bool_)):
            raise DataError(f"scaled must be True or False, not {scaled!r}")
        key = type if type in ("pearson", "deviance") else "response"
        return self._lazy(key + ("_scaled" if scaled else ""))

    @cached_property
    def _fitted_array(self):
        _refuse("the fitted values as one array")

    @cached_property
    def scaled_residual_quantiles(self) -> np.ndarray:
        """Min, 1Q, median, 3Q, max of the scaled Pearson residuals (exact; two passes)."""
        return exact_quantiles(self.resid("pearson", scaled=True), [0, 0.25, 0.5, 0.75, 1],
                               getattr(self.model, "progress", False))

    def _summary_data(self):
        # the summary prints R's quantile(type 7) of the residuals at 0, .25, .5, .75, 1; of five values
        # those are the values themselves, so the exact quantiles stand in for the residuals
        q = self.scaled_residual_quantiles
        self.resid = lambda *a, **k: pd.Series(q)
        try:
            return super()._summary_data()
        finally:
            del self.resid

    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False):
        """Predictions on a Dask DataFrame (lazily, per partition); ``newdata=None`` gives the fitted
        values. Only ``re_form=None`` (all random effects) and ``"~0"`` (population level)."""
        if newdata is None:
            return self.fitted
        if not is_dask_frame(newdata):
            raise DataError("a fit to a Dask DataFrame predicts on a Dask DataFrame "
                            "(dd.from_pandas(newdata, npartitions=1) for a small one)")
        blocks = self._blocks_for_rows()
        if re_form is not None:
            if isinstance(re_form, str) and re_form.replace(" ", "") in ("~0", "NA", "~1"):
                blocks = [np.zeros_like(b) for b in blocks]
            else:
                raise MixedModelsError("on a Dask DataFrame predict() takes re_form=None or '~0'")
        meta = pd.Series([], dtype=float, name="predicted")
        return newdata.map_partitions(_predict_partition, share(self.model.state), self._beta, share(blocks),
                                      bool(allow_new_levels) or re_form is not None, meta=meta)

    # -- what needs the rows on the client
    def simulate(self, *args, **kwargs):
        _refuse("simulate()")

    def compare_statsmodels(self, **kwargs):
        _refuse("compare_statsmodels()")

    def ranova(self, *args, **kwargs):
        _refuse("ranova() (refits on the data)")

    def drop1(self, *args, **kwargs):
        _refuse("drop1()")

    def step(self, **kwargs):
        _refuse("step()")

    def ls_means(self, *args, **kwargs):
        _refuse("ls_means()")

    def difflsmeans(self, *args, **kwargs):
        _refuse("difflsmeans()")

    def update(self, formula=None, **kwargs):
        _refuse("update()")

    def fixef_all(self):
        if self.design.dropped:
            _refuse("fixef_all() with dropped columns")
        return self.fixef.copy()

    def coef_table(self, ddf: str | None = "Satterthwaite"):
        _refuse_kr(ddf)
        return super().coef_table(ddf)

    def summary(self, ddf: str | None = None, **kwargs):
        _refuse_kr(ddf)
        return super().summary(ddf, **kwargs)

    def anova(self, ddf: str = "Satterthwaite", type: int = 3):
        _refuse_kr(ddf)
        proxy = copy.copy(self)
        proxy.model = copy.copy(self.model)
        proxy.model.design = copy.copy(self.design)
        if str(type).strip().upper() in ("3", "III") and ddf is not None and self._type3_needs_rows():
            # lmerTest's type III hypotheses read rows: each factor's coding, the products of the codings
            # and X's columns matched by value. With every cell of the factors present and each term's
            # margins in the model, the hypotheses depend on X only through those patterns and its column
            # space, so a few rows per cell (kept by the cross-product pass) give the in-memory ones
            self._check_type3()
            proxy.model.design.X = self.design.cells
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out = LmerFit.anova(proxy, ddf=ddf, type=type)
            if any("Missing cells" in str(w.message) for w in caught):
                _refuse("a type III anova() with missing cells (its hypotheses then depend on the rows' "
                        "counts per cell; type=1 or type=2 work)")
            for w in caught:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            return out
        # lmerTest's type I and II hypotheses (and type III of numeric main effects) read X only through
        # X'X and the terms' columns (a factor is told from a numeric variable by its column names), so
        # X's triangular factor stands in for the rows
        proxy.model.design.X = self.design.gram_factor
        return LmerFit.anova(proxy, ddf=ddf, type=type)

    def _type3_needs_rows(self) -> bool:
        labels = {t.label for t in self.design.fixed_terms}
        factors = any(nm not in labels for nm in self.design.x_names)
        return factors or any(len(t.variables) > 1 for t in self.design.fixed_terms)

    def _check_type3(self) -> None:
        state = self.model.state
        cells = getattr(self.design, "cells", None)
        if cells is None:  # pragma: no cover - kept whenever the fixed part has a factor or an interaction
            _refuse("a type III anova() of this model")
        if any(ordered for _, ordered in state.categories.values()) or "ordered(" in state.formula:
            _refuse("a type III anova() with an ordered factor (lmerTest re-codes the model frame's rows "
                    "of its factors with treatment contrasts; type=1 or type=2 work)")
        terms = [t for t in self.design.fixed_terms if t.label != "(Intercept)"]
        have = {frozenset(t.variables) for t in terms}
        if "(Intercept)" not in self.design.x_names:
            _refuse("a type III anova() without an intercept on a Dask DataFrame (type=1 or type=2 work)")
        for t in terms:
            v = frozenset(t.variables)
            for name in v:
                margin = v - {name}
                if margin and margin not in have:
                    _refuse(f"a type III anova() where the term '{t.label}' has a margin that is not in the "
                            "model (its hypotheses then depend on the rows; type=1 or type=2 work)")
        if np.linalg.matrix_rank(cells) < cells.shape[1]:  # pragma: no cover - cells span X's columns
            _refuse("a type III anova() of this model (the rows kept per cell do not span X)")

    def test_contrast(self, L, ddf: str = "Satterthwaite", joint: bool = True, **kwargs):
        _refuse_kr(ddf)
        return super().test_contrast(L, ddf=ddf, joint=joint, **kwargs)

    def confint(self, method: str = "profile", level: float = 0.95, nsim: int = 500, seed=None,
                progress: bool = False, **kwargs):
        if isinstance(method, str) and method.lower().startswith("boot"):
            _refuse("confint(method='boot') (a parametric bootstrap simulates and refits rows)")
        return super().confint(method=method, level=level, nsim=nsim, seed=seed, progress=progress, **kwargs)


def _refuse_kr(ddf) -> None:
    if isinstance(ddf, str) and ddf.lower().replace("_", "-").startswith("kenward"):
        _refuse("Kenward-Roger (pbkrtest's adjustment needs the n x n covariance of the rows)")

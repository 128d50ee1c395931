"""``lmer`` on a Dask DataFrame: the passes over the partitions and the fitted model built from them.

Passes (each one Dask computation over all partitions; the client receives only what is listed):

1. the frame, in two computations: (a) the kind of every column the formula uses and the distinct values
   of its factor columns (global categories in R's order; mixed types between partitions are an error);
   (b) per partition the rows used (na.omit / na.fail), the factor levels present in them, the moments
   of the response and of every ``scale()`` argument: merged on the client into the global frame state;
2. the cross-products ``[Z X y]'[Z X y]`` of every partition (with the global levels; per-level
   ``np.bincount`` sums, :func:`crossproducts_by_counting`), the triangular factor R of its X (for R's
   aliasing rule), the moments of X's columns and, when the fixed part has a factor or an interaction, a
   few rows per cell of the factors' coding (type III hypotheses), added up as a tree.

The stateful variables (``poly``, ``ns``, ``bs``, ``cut(x, k)``) get their global state between 1a and
1b (their range and mean come with pass 1a; see :func:`_stateful_states`). The frame state goes to each
worker once (one Dask key), not inside every task.

The optimizer then runs on the client over the reduced cross-products exactly as for a pandas DataFrame
(:class:`~mixedmodels.fit.criterion.ProfiledCriterion`), and the fit is an
:class:`~mixedmodels.model.LmerFit` whose row-wise results (fitted values, residuals, the summary's
scaled-residual quantiles, predictions) are computed by further passes, lazily where they are rows.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

import dask

from ..errors import DataError, FormulaError, MixedModelsError, ModelError
from ..fit.criterion import ProfiledCriterion
from ..fit.crossprod import CrossProducts
from ..fit.linalg import NotPositiveDefinite
from ..fit.paths import choose_path
from ..formula.parse import BinOp, Call, Name, Paren, UnaryOp, deparse, expand_bars, parse_formula, split_formula
from ..frame.design import Design, FixedTerm
from ..frame.partition import (FrameState, aliased_and_scale, column_summary, cut_breaks, frame_summary,
                               global_frame_spec,
                               global_labels, merge_column_summaries, merge_frame_summaries, partition_arrays, plan_columns,
                               spline_interior_count, spline_values, stateful_plan, stateful_summary, subset_rows,
                               with_categories)
from ..frame.reterms import ReTerm
from ..model import LinearMixedModel, check_optimizer_options, start_theta
from ..rbase.rmath import seq_length_out
from .compute import compute, share, tree_reduce
from .fitted import DaskLmerFit, exact_quantiles

__all__ = ["lmer_dask", "DaskLinearMixedModel", "DaskLmerFit", "DistributedDesign", "crossproducts_by_counting"]

# ------------------------------------------------------------------------------------ pass 2: cross-products
_ARR_SPARSE_FROM = 512  # rest blocks of more columns travel sparse between the partitions and the client
_PAIR_DENSE_MAX = 4_000_000  # level pairs of two rest terms counted with one bincount up to this many


def _pair_index(ra: np.ndarray, rb: np.ndarray, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct level pairs (a, b) of the rows, as sorted keys ``a * nb + b``, and each row's pair
    (a hash of the keys, then a sort of the distinct ones only: ``np.unique`` would sort all rows)."""
    codes, keys = pd.factorize(ra.astype(np.int64) * nb + rb, sort=True)
    return np.asarray(keys, dtype=np.int64), codes.astype(np.intp, copy=False)


def crossproducts_by_counting(refs: list[np.ndarray], zs: list[np.ndarray], nlevels: list[int],
                              W: np.ndarray, sparse_rest: bool = False) -> CrossProducts:
    """The cross-products of one partition (terms in lme4's order, ``W = [X y]``) as per-level sums:
    ``np.bincount`` over the level codes (and over the distinct level pairs of two terms) instead of
    sparse matrix products. The same numbers as :meth:`CrossProducts.from_rows`, in the same layout;
    with ``sparse_rest`` the rest block ``ARR`` is a sparse CSR matrix (for a large crossed factor, whose
    own block is diagonal) instead of a dense array."""
    r1, z1, l1 = refs[0], zs[0], nlevels[0]
    s1 = z1.shape[1]
    q1 = l1 * s1
    A11 = np.zeros((l1, s1, s1))
    for a in range(s1):
        for b in range(a, s1):
            v = np.bincount(r1, weights=z1[:, a] * z1[:, b], minlength=l1)
            A11[:, a, b] = v
            A11[:, b, a] = v
    ncw = W.shape[1]
    sizes = [nlevels[k] * zs[k].shape[1] for k in range(1, len(refs))]
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    qr = int(offs[-1])
    m = qr + ncw
    # the rest block as (row, column, value) triplets, each position once
    rr, rc, rv = [], [], []

    def put(i, j, v, mirror: bool):
        keep = v != 0
        i, j, v = np.broadcast_to(i, v.shape)[keep], np.broadcast_to(j, v.shape)[keep], v[keep]
        rr.append(i)
        rc.append(j)
        rv.append(v)
        if mirror:
            rr.append(j)
            rc.append(i)
            rv.append(v)

    wc = np.arange(qr, m)
    put(np.repeat(wc, ncw), np.tile(wc, ncw), (W.T @ W).ravel(), False)
    rows_l, cols_l, vals_l = [], [], []
    # rest terms against the first term: the level pairs seen
    for k in range(1, len(refs)):
        rk, zk, lk = refs[k], zs[k], nlevels[k]
        sk = zk.shape[1]
        keys, inv = _pair_index(rk, r1, l1)
        la, lb = keys // l1, keys % l1
        cols = (lb[:, None] * s1 + np.arange(s1)[None, :]).ravel()
        for a in range(sk):
            # one row per (level, column a) of term k; its entries in increasing column order
            v = np.column_stack([np.bincount(inv, weights=zk[:, a] * z1[:, j], minlength=len(keys))
                                 for j in range(s1)])
            rows_l.append(np.repeat(offs[k - 1] + la * sk + a, s1))
            cols_l.append(cols)
            vals_l.append(v.ravel())
        # the term's own diagonal blocks and its products with X and y
        idx = offs[k - 1] + np.arange(lk) * sk
        for a in range(sk):
            for b in range(a, sk):
                v = np.bincount(rk, weights=zk[:, a] * zk[:, b], minlength=lk)
                put(idx + a, idx + b, v, a != b)
            for c in range(ncw):
                v = np.bincount(rk, weights=zk[:, a] * W[:, c], minlength=lk)
                put(idx + a, np.full(lk, qr + c), v, True)
        # against the later rest terms
        for u in range(k + 1, len(refs)):
            ru, zu, lu = refs[u], zs[u], nlevels[u]
            su = zu.shape[1]
            if lk * lu <= _PAIR_DENSE_MAX:
                keys = np.arange(lk * lu, dtype=np.int64)
                inv = rk.astype(np.int64) * lu + ru
            else:
                keys, inv = _pair_index(rk, ru, lu)
            la, lb = keys // lu, keys % lu
            for a in range(sk):
                for b in range(su):
                    v = np.bincount(inv, weights=zk[:, a] * zu[:, b], minlength=len(keys))
                    put(offs[k - 1] + la * sk + a, offs[u - 1] + lb * su + b, v, True)
    rr, rc, rv = np.concatenate(rr), np.concatenate(rc), np.concatenate(rv)
    if sparse_rest:
        ARR = sp.coo_matrix((rv, (rr, rc)), shape=(m, m)).tocsr()
    else:
        ARR = np.zeros((m, m))
        ARR[rr, rc] = rv
    # X and y against the first term
    allcols = np.arange(q1, dtype=np.int64)
    for c in range(ncw):
        v = np.column_stack([np.bincount(r1, weights=z1[:, j] * W[:, c], minlength=l1) for j in range(s1)]).ravel()
        nz = np.flatnonzero(v)
        rows_l.append(np.full(len(nz), qr + c, dtype=np.int64))
        cols_l.append(allcols[nz])
        vals_l.append(v[nz])
    # every (row, column) pair is emitted once and each row's columns in increasing order, so the
    # stable counting sort of coo -> csr gives a canonical CSR matrix without sorting or summing
    AR1 = sp.coo_matrix((np.concatenate(vals_l), (np.concatenate(rows_l), np.concatenate(cols_l))),
                        shape=(m, q1)).tocsr()
    AR1.has_canonical_format = True
    return CrossProducts(A11, AR1, ARR)


def _crossprod_partition(pdf: pd.DataFrame, state: FrameState, nlevels: list[int]) -> dict | None:
    a = partition_arrays(pdf, state)
    n = len(a.y)
    if n == 0:
        return None
    X = a.X
    p = X.shape[1]
    big = np.abs(X).max(axis=0) if n else np.zeros(p)
    yc = a.y - a.offset - state.y_shift
    order = state.term_order
    zs = [a.z[k] for k in order]
    W = np.column_stack([X, yc])
    if a.weights is not None:
        sw = np.sqrt(a.weights)
        zs = [z * sw[:, None] for z in zs]
        W = W * sw[:, None]
    nl = [nlevels[k] for k in order]
    m = sum(nl[j] * zs[j].shape[1] for j in range(1, len(nl))) + W.shape[1]
    # many rest columns (a large crossed factor): its block of ARR is diagonal, so the partition sends
    # (and the tree adds) ARR sparse; the client makes it dense once, after the reduction
    cp = crossproducts_by_counting([a.refs[k] for k in order], zs, nl, W, sparse_rest=m > _ARR_SPARSE_FROM)
    R = np.linalg.qr(X, mode="r") if p else np.zeros((0, 0))
    mean = X.mean(axis=0)
    return {"cp": cp, "R": R, "n": n, "mean": mean, "m2": ((X - mean) ** 2).sum(axis=0),
            "all01": np.all((X == 0) | (X == 1), axis=0), "all1": np.all(X == 1.0, axis=0), "big": big,
            "cells": representative_rows(X, p + 1) if state.want_cells else None,
            "x_names": a.x_names, "fixed_terms": a.fixed_terms, "cnames": a.cnames}


def representative_rows(X: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` rows of X (in order) per pattern of its 0/1 columns: every cell of the factors' coding
    that occurs, each with a few rows, so that lmerTest's type III hypotheses (which need rows: the
    factors' codings, their products and the columns matched by value) can be built without all rows."""
    n = X.shape[0]
    if n == 0:
        return X[:0].copy()
    binary = np.flatnonzero(np.all((X == 0) | (X == 1), axis=0))
    if 0 < len(binary) <= 62:  # the pattern as the bits of one integer, hashed (linear time)
        bits = X[:, binary].astype(np.int64) << np.arange(len(binary), dtype=np.int64)
        inv = pd.factorize(bits.sum(axis=1))[0]
    elif len(binary):
        _, inv = np.unique(X[:, binary], axis=0, return_inverse=True)
        inv = np.asarray(inv).ravel()
    else:
        inv = np.zeros(n, dtype=np.int64)
    rank = pd.Series(inv).groupby(inv).cumcount().to_numpy()  # each row's number within its pattern
    return X[rank < k].copy()


def _combine_crossprods(parts: list) -> dict | None:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    out = dict(parts[0])
    for p in parts[1:]:
        out["cp"] = out["cp"] + p["cp"]
        stacked = np.vstack([out["R"], p["R"]])
        out["R"] = np.linalg.qr(stacked, mode="r") if stacked.shape[1] else stacked
        na, nb = out["n"], p["n"]
        tot = na + nb
        delta = p["mean"] - out["mean"]
        out["mean"] = out["mean"] + delta * nb / tot
        out["m2"] = out["m2"] + p["m2"] + delta ** 2 * na * nb / tot
        out["n"] = tot
        out["all01"] = out["all01"] & p["all01"]
        out["all1"] = out["all1"] & p["all1"]
        out["big"] = np.maximum(out["big"], p["big"])
        if out["cells"] is not None:
            out["cells"] = representative_rows(np.vstack([out["cells"], p["cells"]]), out["cells"].shape[1] + 1)
    return out


# ------------------------------------------------------------------------------------ the design without rows
class DistributedDesign(Design):
    """A :class:`~mixedmodels.frame.design.Design` whose rows stay in the Dask partitions: ``y``, ``X``
    and the terms' ``refs``/``z`` have no rows here; ``n`` is the number of rows used."""

    def __init__(self, *args, nrows: int, state: FrameState, **kwargs):
        super().__init__(*args, **kwargs)
        self.nrows = nrows
        self.state = state

    @property
    def n(self) -> int:
        return self.nrows


class _StatsCriterion(ProfiledCriterion):
    """The profiled criterion over cross-products reduced from the partitions (no rows on the client):
    the number of rows, the intercept column, the response's shift and the weights' log-sum come from
    the passes instead of from y and X."""

    def __init__(self, terms, cp: CrossProducts, n: int, p: int, int_col, y_shift: float, log_w: float,
                 reml: bool, path: str = "auto"):
        self.terms = terms
        self.n = int(n)
        self.p = int(p)
        self.reml = reml
        self.int_col = int_col
        self.weights = None
        self.log_w = float(log_w)
        self.y_shift = float(y_shift)
        self.cp = cp
        self._X, self._y = np.zeros((0, p)), np.zeros(0)
        self._build_layout()
        self.nevals = 0
        self.path = choose_path(self, path)

    def with_path(self, path: str) -> "_StatsCriterion":
        return _StatsCriterion(self.terms, self.cp, self.n, self.p, self.int_col, self.y_shift, self.log_w,
                               self.reml, path)


def _require_name(arg, what: str):
    if arg is None or isinstance(arg, str):
        return arg
    raise DataError(f"on a Dask DataFrame, {what}= must be a column name (a string), not "
                    f"{type(arg).__name__}: add the values as a column (ddf.assign) and give its name")


class DaskLinearMixedModel(LinearMixedModel):
    """A linear mixed model on a Dask DataFrame: the frame and cross-product passes run at construction
    (``progress=True`` shows them); fitting runs on the client over the reduced statistics."""

    def __init__(self, formula: str, data, *, data_name: str | None = None, subset=None, weights=None,
                 offset=None, na_action: str = "na.omit", progress: bool = False):
        if not isinstance(formula, str):
            raise MixedModelsError(f"formula must be a string, not {type(formula).__name__}")
        if data_name is None:
            data_name = "data"
        if not isinstance(data_name, str):
            raise MixedModelsError(f"data_name must be a string, not {type(data_name).__name__}")
        if na_action not in ("na.omit", "na.fail"):
            raise DataError(f"na_action must be 'na.omit' or 'na.fail', not {na_action!r}")
        if subset is not None and not isinstance(subset, str):
            raise DataError("on a Dask DataFrame, subset= must be an expression (a string such as "
                            "'Days >= 2'), not " + type(subset).__name__)
        weights = _require_name(weights, "weights")
        offset = _require_name(offset, "offset")
        self.formula = formula
        self.frame_args = {"subset": subset, "weights": weights, "offset": offset, "na_action": na_action}
        self.refit_args = {"weights": weights, "offset": offset, "na_action": na_action}
        self.data_name = data_name
        self.ddf = data
        self.progress = bool(progress)
        self._index = None
        self._criteria = {}
        self._build(formula, data, subset, weights, offset, na_action)

    # -- the passes
    def _build(self, formula, ddf, subset, weights, offset, na_action):
        extra = [c for c in (weights, offset) if c is not None]
        if subset is not None:
            extra += sorted(_names(parse_formula("~" + subset).rhs))
        plan = plan_columns(formula, dict(ddf.dtypes), extra)
        parts = ddf.to_delayed()
        clock = time.perf_counter
        t0 = clock()
        # pass 1a: column kinds and the global categories
        # the stateful variables' first pass (range, mean) needs no categories: it rides along
        bare = FrameState(formula, subset=subset)
        plan_s = stateful_plan(formula, ddf._meta, bare)
        calls = [item["node"] for item in plan_s]
        both = compute([dask.delayed(_column_summary_subset, pure=True)(p, plan, subset, bare, calls) for p in parts],
                       self.progress, "pass 1a (column kinds and categories)")
        summaries = [b[0] for b in both]
        state = FrameState(formula, weights=weights, offset=offset, subset=subset, na_action=na_action,
                           categories=merge_column_summaries(summaries, plan),
                           factor_columns=list(plan.factor_numeric))
        for name in state.categories:  # R's labels of the levels, once, on the client
            global_labels(state, name)
        if plan_s:  # the global state of poly / ns / bs / cut(x, k): passes over their x
            state.stateful = _stateful_states(plan_s, parts, ddf, state, self.progress, [b[1] for b in both])
        t1 = clock()
        # pass 1b: rows used, present levels, moments
        shared = share(state)  # one key: sent to each worker once, not embedded in every task
        frames = compute([dask.delayed(frame_summary, pure=True)(p, shared) for p in parts], self.progress,
                         "pass 1b (the model frame)")
        totals = merge_frame_summaries(frames, state, ddf._meta)
        nlevels = [len(g) for g in state.group_present]
        t2 = clock()
        # pass 2: the cross-products, reduced as a tree
        shared = share(state)
        state.want_cells = bool(state.present) or _has_interaction(formula)
        first = state.term_order[0]
        # partition results of a large first term (tens of MB each) are added four at a time, so that a
        # worker holds at most five of them
        fan_in = 8 if nlevels[first] < 100_000 else 4
        red = compute([tree_reduce([dask.delayed(_crossprod_partition, pure=True)(p, shared, nlevels)
                                    for p in parts], _combine_crossprods, fan_in)], self.progress,
                      "pass 2 (the cross-products)")[0]
        t3 = clock()
        self.pass_seconds = {"columns": t1 - t0, "frame": t2 - t1, "crossproducts": t3 - t2}
        if red is None:  # pragma: no cover - merge_frame_summaries refuses zero rows first
            raise DataError("no complete rows")
        self._finish(formula, state, totals, red)
        # what code reading ``model.data`` gets: no rows, the columns coded with the global categories
        # (enough to know the variables' kinds: factor, ordered, numeric); the rows stay in ``self.ddf``
        self.data = with_categories(ddf._meta, state)

    def _finish(self, formula, state: FrameState, totals: dict, red: dict) -> None:
        n = totals["n"]
        names = list(red["x_names"])
        big = red["big"]
        extreme = [names[j] for j in range(len(names)) if big[j] > 1e150 or 0 < big[j] < 1e-150]
        if extreme:
            raise DataError(f"the fixed-effects columns {', '.join(extreme)} have values on an extreme scale, "
                            "beyond what their cross-products hold in double precision (1e-150 to 1e150): "
                            "rescale them")
        keep, scale_warning = aliased_and_scale(red["R"], names, red["n"], red["mean"], red["m2"], red["all01"])
        dropped = [names[j] for j in range(len(names)) if j not in keep]
        newpos = {old: new for new, old in enumerate(keep)}
        fterms = [FixedTerm(t.label, [newpos[c] for c in t.columns if c in newpos], t.variables, t.indicators)
                  for t in red["fixed_terms"]]
        f = parse_formula(formula)
        lhs, _, bar_nodes = split_formula(f)
        bars = expand_bars(bar_nodes, formula)
        terms = []
        for k in state.term_order:
            bar = bars[k]
            s = len(red["cnames"][k])
            terms.append(ReTerm(group=bar.group_name, levels=totals["group_levels"][k],
                                refs=np.zeros(0, dtype=np.int64), cnames=red["cnames"][k], z=np.zeros((0, s)),
                                source=deparse(bar.source)))
        for t in terms:
            if t.nlevels < 2:
                raise ModelError(f"grouping factor '{t.group}' has only one level: a random effect needs at "
                                 "least two groups (use it as a fixed effect, or drop it)")
            if t.nlevels >= n:
                raise ModelError(f"number of levels of the grouping factor '{t.group}' ({t.nlevels}) must be "
                                 f"less than the number of observations ({n}): the random effect cannot be "
                                 "told apart from the residual")
            if t.nranef >= n:
                raise ModelError(f"number of observations ({n}) <= number of random effects ({t.nranef}) "
                                 f"for term ({t.source}): the random-effects parameters and the residual "
                                 "variance (or scale parameter) are probably unidentifiable")
        # the cross-products of the kept columns
        cp: CrossProducts = red["cp"]
        if sp.issparse(cp.ARR):
            cp = CrossProducts(cp.A11, cp.AR1, cp.ARR.toarray())
        qrest = sum(t.nranef for t in terms[1:])
        rest = np.concatenate([np.arange(qrest), qrest + np.asarray(keep, dtype=np.int64),
                               [qrest + len(names)]]).astype(np.int64)
        AR1 = cp.AR1.tocsr()[rest].tocsr()
        AR1.sum_duplicates()
        AR1.sort_indices()
        self.cp = CrossProducts(cp.A11, AR1, cp.ARR[np.ix_(rest, rest)])
        p = len(keep)
        ones = [newpos[j] for j in keep if red["all1"][j]]
        self.int_col = ones[0] if ones else None
        if state.y_shift and self.int_col is None:  # pragma: no cover - an intercept is a column of ones
            raise ModelError("internal: the response was centred but X has no intercept column")
        state.x_keep = list(keep)
        self.log_w = totals["logw"]
        self.totals = totals
        self.state = state
        # the triangular factor of X's kept columns (the same X'X and relations between columns as X:
        # what lmerTest's hypotheses of numeric terms need), never the rows
        RX = np.linalg.qr(red["R"][:, keep], mode="r") if p else np.zeros((0, 0))
        self.design = DistributedDesign(
            y=np.zeros(0), X=np.zeros((0, p)), offset=np.zeros(0), x_names=[names[j] for j in keep],
            fixed_terms=fterms, terms=terms, rows=np.zeros(0, dtype=np.int64), formula=f,
            response_name=deparse(lhs), dropped=dropped, has_intercept="(Intercept)" in names,
            scale_warning=scale_warning, weights=None, nrows=n, state=state)
        self.design.gram_factor = RX
        # the frozen frame spec (levels, contrasts, stateful parameters, terms and columns), built from the
        # global state without rows
        self.design.spec = global_frame_spec(self.ddf._meta, state, keep, totals["group_levels"])
        # a few rows per cell of the factors' coding (type III hypotheses of factors and interactions)
        self.design.cells = None if red["cells"] is None else red["cells"][:, keep]

    # -- the fit
    def criterion(self, reml: bool = True, path: str = "auto") -> ProfiledCriterion:
        key = (bool(reml), path)
        if key not in self._criteria:
            self._criteria[key] = _StatsCriterion(self.design.terms, self.cp, self.design.n, self.design.p,
                                                  self.int_col, self.state.y_shift, self.log_w, reml, path)
        return self._criteria[key]

    def criterion_from_crossproducts(self, cp: CrossProducts, p: int, int_col, y_shift: float,
                                     reml: bool) -> ProfiledCriterion:
        """A criterion over other cross-products of the same rows (the profile's shifted responses)."""
        return _StatsCriterion(self.design.terms, cp, self.design.n, p, int_col, y_shift, self.log_w, reml)

    def fit(self, method: str = "REML", **kwargs) -> "DaskLmerFit":
        if isinstance(method, str) and method.lower() == "moments":
            raise MixedModelsError("method='moments' needs the rows (the ANOVA table); it does not run on a "
                                   "Dask DataFrame: fit by REML or ML")
        out = super().fit(method, **kwargs)
        return out

    def _check_not_perfect(self, crit: ProfiledCriterion) -> None:
        t = self.totals
        if t["max"] - t["min"] == 0:
            raise DataError(f"the response '{self.design.response_name}' is constant: there is no "
                            "variation to model")
        try:
            rss = crit.factor(np.zeros(crit.ntheta), need_C=False).pwrss
        except NotPositiveDefinite:
            rss = 0.0
        if rss <= 1e-12 * t["m2"]:
            raise DataError("the fixed effects reproduce the response exactly (residual sum of squares "
                            "is zero): a perfect fit leaves no variance for random effects or residuals")

    def _fitted_class(self):
        return DaskLmerFit


def _names(node) -> set[str]:
    out: set[str] = set()
    if isinstance(node, Name):
        out.add(node.id)
    elif isinstance(node, Paren):
        out |= _names(node.expr)
    elif isinstance(node, UnaryOp):
        out |= _names(node.operand)
    elif isinstance(node, BinOp):
        out |= _names(node.left) | _names(node.right)
    elif isinstance(node, Call):
        for a in node.args:
            out |= _names(a)
        for _, a in node.kwargs:
            out |= _names(a)
    return out


def _stateful_states(plan: list[dict], parts: list, ddf, state: FrameState, progress: bool, first: list) -> dict:
    """The global state of every stateful variable (R's ``predvars``), from passes over its ``x`` (the
    first, ``first``: each partition's range and mean, computed with the column pass):

    * ``cut(x, k)``: the range (one pass);
    * ``ns``/``bs``: the range (boundary knots) and exact type-7 quantiles of x inside it (the interior
      knots: two more passes, :func:`~mixedmodels.dask.fitted.exact_quantiles`);
    * ``poly(x, k)``: R's ``alpha`` and ``norm2`` by the Stieltjes procedure, one pass per degree after
      the mean (the sums of the monic orthogonal polynomials of the recurrence ``predict.poly`` uses);
      ``poly(x, k, raw = TRUE)`` has nothing global."""
    out: dict = {}
    shared = share(state)
    calls = [item["node"] for item in plan]
    polys = {}
    for item in plan:
        key, node = item["key"], item["node"]
        rows = [f[key] for f in first if key in f]
        nmiss = sum(r[0] for r in rows)
        n = sum(r[1] for r in rows)
        lo = min((r[3] for r in rows), default=math.inf)
        hi = max((r[4] for r in rows), default=-math.inf)
        if item["kind"] == "poly":
            if item["raw"]:
                out[key] = {"raw": True}
                continue
            if nmiss:
                raise FormulaError("missing values are not allowed in 'poly'", state.formula, node.start, node.end)
            if n == 0:
                raise DataError(f"{key}: no values")
            polys[key] = {"xbar": math.fsum(r[2] for r in rows) / n, "n": n, "degree": item["degree"]}
            continue
        if n == 0:
            raise DataError(f"{key}: no non-missing values to take the range of")
        if item["kind"] == "cut":
            out[key] = {"breaks": cut_breaks(lo, hi, item["k"])}
            continue
        bk = item["boundary"] if item["boundary"] is not None else [lo, hi]
        if bk[0] == bk[1]:
            raise DataError(f"{key}: the boundary knots coincide ({bk[0]:g}): x takes a single value")
        nint = spline_interior_count(item)
        if item["knots"] is not None:
            knots = [float(k) for k in item["knots"]]
        elif nint:
            probs = seq_length_out(0.0, 1.0, nint + 2)[1:-1]
            xs = ddf.map_partitions(spline_values, shared, item["node"], list(bk),
                                    meta=pd.Series([], dtype=float))
            knots = [float(k) for k in exact_quantiles(xs, probs, progress)]
        else:
            knots = []
        st = {"knots": knots, "boundary": [float(bk[0]), float(bk[1])], "intercept": bool(item["intercept"])}
        if item["kind"] == "bs":
            st["degree"] = int(item["degree"])
        out[key] = st
    if polys:
        out.update(_poly_states(polys, parts, shared, calls, progress))
    return out


def _poly_states(polys: dict, parts: list, shared, calls: list, progress: bool) -> dict:
    """``alpha`` and ``norm2`` of each ``poly(x, k)`` (see :func:`_stateful_states`)."""
    params = {key: {"xbar": p["xbar"]} for key, p in polys.items()}
    sums = compute([dask.delayed(stateful_summary, pure=True)(p, shared, calls, 1, params) for p in parts],
                   progress, "the poly() pass 1")
    for key, p in polys.items():
        n = p["n"]
        s1, s2, s3 = (math.fsum(r[key][j] for r in sums if key in r) for j in range(3))
        d0 = s1 / n
        nz1 = s2 - 2 * d0 * s1 + n * d0 * d0
        p.update(d=[d0], norm2=[1.0, float(n), nz1], scale=s2 / n)
        _check_poly(key, p, 1)
        if p["degree"] > 1:
            p["d"].append((s3 - 2 * d0 * s2 + d0 * d0 * s1) / nz1)
    step = 2
    while any(p["degree"] >= step for p in polys.values()):
        params = {key: {"xbar": p["xbar"], "d": list(p["d"]), "norm2": list(p["norm2"])}
                  for key, p in polys.items() if p["degree"] >= step}
        sums = compute([dask.delayed(stateful_summary, pure=True)(p, shared, calls, step, params) for p in parts],
                       progress, f"the poly() pass {step}")
        for key in params:
            p = polys[key]
            nz = math.fsum(r[key][0] for r in sums if key in r)
            p["norm2"].append(nz)
            _check_poly(key, p, step)
            if p["degree"] > step:
                p["d"].append(math.fsum(r[key][1] for r in sums if key in r) / nz)
        step += 1
    return {key: {"alpha": np.asarray(p["d"][:p["degree"]]) + p["xbar"], "norm2": np.asarray(p["norm2"])}
            for key, p in polys.items()}


def _check_poly(key: str, p: dict, j: int) -> None:
    """R's "'degree' must be less than number of unique points": the j-th orthogonal polynomial vanishes
    on the data (its squared norm is rounding error relative to the spread of x)."""
    nz = p["norm2"][j + 1]
    if not nz > 1e-20 * p["n"] * p["scale"] ** j:
        raise DataError(f"{key}: 'degree' must be less than number of unique points")


def _has_interaction(formula: str) -> bool:
    """Whether the fixed part has an interaction (with a factor, or when the fixed part has a factor, the
    cross-product pass also keeps a few rows per cell of the factors' coding, :func:`representative_rows`,
    for type III hypotheses)."""
    def walk(node) -> bool:
        if isinstance(node, Paren):
            return walk(node.expr)
        if isinstance(node, BinOp):
            return node.op in (":", "*", "/", "^", "%in%") or walk(node.left) or walk(node.right)
        return False

    _, fixed, _ = split_formula(parse_formula(formula))
    return any(walk(node) for node in fixed)


def _column_summary_subset(pdf, plan, subset, bare: FrameState, calls: list):
    """Pass 1a of a partition: the columns' kinds and categories, and the stateful variables' range and
    mean (:func:`~mixedmodels.frame.partition.stateful_summary` step 0), which need no categories."""
    return (column_summary(subset_rows(pdf, subset), plan),
            stateful_summary(pdf, bare, calls, 0, {}) if calls else None)


def lmer_dask(formula: str, data, REML: bool = True, *, subset=None, weights=None, offset=None,
              na_action: str = "na.omit", start=None, data_name: str | None = None, optimizer: str = "auto",
              path: str = "auto", progress: bool = False, **optimizer_options) -> "DaskLmerFit":
    """:func:`mixedmodels.lmer` on a Dask DataFrame (see the module docstring for the passes)."""
    if not isinstance(REML, (bool, np.bool_)):
        raise MixedModelsError(f"REML must be True or False, not {REML!r}")
    if optimizer not in ("auto", "gradient", "bobyqa"):
        raise MixedModelsError(f"optimizer must be 'auto', 'gradient' or 'bobyqa', not {optimizer!r}")
    check_optimizer_options(optimizer, optimizer_options)
    model = DaskLinearMixedModel(formula, data, data_name=data_name, subset=subset, weights=weights,
                                 offset=offset, na_action=na_action, progress=progress)
    return model.fit("REML" if REML else "ML", theta0=start_theta(start), optimizer=optimizer, path=path,
                     **optimizer_options)


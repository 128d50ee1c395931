"""The model frame of one partition of a larger data set, with the global state fixed beforehand.

A data set split in partitions (a Dask DataFrame) cannot be given to :func:`~mixedmodels.frame.design.build_design`
as a whole, and building each partition's design on its own would give each its own factor levels, its own
``scale()`` centre and its own unused-level dropping. This module evaluates the formula on one partition
with the *global* state of the whole data set fixed by earlier passes (a :class:`FrameState`):

* every column used as a factor (strings, categoricals, and numbers used as grouping variables or inside
  ``factor()``) is coded with the global categories, in R's order (:func:`column_summary`,
  :func:`merge_column_summaries`);
* the levels present in the rows used (R's model frame drops unused levels) are global
  (:func:`frame_summary` collects them, the caller merges them into the state);
* ``scale(x)`` uses the global centre and scale (:func:`frame_summary` returns per-partition moments);
* the stateful variables ``poly(x, k)``, ``ns``, ``bs`` and ``cut(x, k)`` use their global state (R's
  ``predvars``: :func:`stateful_plan` and :func:`stateful_summary` give what the passes compute it
  from; the caller stores it in ``FrameState.stateful``);
* transformations whose value needs all rows at once otherwise (those calls nested in another
  expression, ``mean``/``sd``/``median``, ``scale`` nested in another expression, ``poly`` of several
  variables) are refused with a :class:`~mixedmodels.errors.DataError` that says so.

:func:`partition_arrays` then gives the partition's y, X (all columns, aliasing decided globally later),
offset, weights and random-effects codes/values with global levels: what the cross-products of the
partition need. :func:`global_frame_spec` builds the whole data set's frozen
:class:`~mixedmodels.frame.spec.FrameSpec` from the global state, without rows. Factor columns are
coded once per partition with the global categories (:func:`global_factors`: a lookup table for integer
ids), never through a pandas Categorical of all the global labels.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import warn as warn_r
from ..rbase.rmath import seq_length_out
from ..errors import DataError, FormulaError, PredictorScaleWarning, RankDeficiencyWarning
from ..formula.parse import (BinOp, Call, Name, Node, Num, Paren, UnaryOp, deparse, expand_bars, format_r_number,
                             parse_formula, split_formula)
from ..formula.transforms import (LOGICAL_LEVELS, Evaluator, Factor, Numeric, all_real_numbers, r_level_labels,
                                  r_sort_key)
from .columns import build_columns, term_codings
from .design import (SCALE_MESSAGE, _compile_fixed, _drop_aliased, _group_factor, _model_matrix, _term_specs, _terms,
                     _variable_specs, _VarTable, compile_fixed_part, factor_columns, lme4_term_order)
from .spec import FrameSpec, FrozenDict, RandomTermSpec

__all__ = ["FrameState", "FramePlan", "plan_columns", "column_summary", "merge_column_summaries",
           "frame_summary", "merge_frame_summaries", "partition_arrays", "PartitionArrays", "subset_rows",
           "with_categories", "global_factors", "global_labels", "aliased_and_scale", "stateful_variables",
           "stateful_argument", "stateful_summary", "stateful_plan", "cut_breaks", "spline_interior_count",
           "spline_values", "global_frame_spec"]

_FACTOR_CALLS = ("factor", "as.factor", "ordered", "interaction", "relevel")
_STATEFUL = {"poly": "poly() needs the whole column (orthogonal polynomials)",
             "ns": "ns() needs exact quantiles of the whole column (its knots)",
             "bs": "bs() needs exact quantiles of the whole column (its knots)"}
_REFUSED = {"mean": "mean() inside a formula is one number over all rows",
            "sd": "sd() inside a formula is one number over all rows",
            "median": "median() inside a formula is one number over all rows"}


# ------------------------------------------------------------------------------------------ the plan
@dataclass
class FramePlan:
    """What a formula needs from the columns: every column it names, and which of them are factors."""

    columns: list[str]
    factor_numeric: list[str]  # numeric columns used as factors (grouping variables, factor(x))
    factor_other: list[str]    # string, categorical and boolean columns


def _walk(node: Node | None, as_factor: bool, out: dict[str, set]) -> None:
    if node is None:
        return
    if isinstance(node, Name):
        out.setdefault(node.id, set()).add("factor" if as_factor else "value")
    elif isinstance(node, Paren):
        _walk(node.expr, as_factor, out)
    elif isinstance(node, UnaryOp):
        _walk(node.operand, False, out)
    elif isinstance(node, BinOp):
        keep = as_factor and node.op in (":", "/")
        _walk(node.left, keep, out)
        _walk(node.right, keep, out)
    elif isinstance(node, Call):
        fac = node.func in _FACTOR_CALLS
        for k, a in enumerate(node.args):
            _walk(a, fac and (k == 0 or node.func == "interaction"), out)
        for _, a in node.kwargs:
            _walk(a, False, out)


def plan_columns(formula: str, dtypes: dict, extra: list[str] = ()) -> FramePlan:
    """The columns the formula (and ``extra``: weights, offset, subset) uses and how, from the frame's
    column dtypes (a Dask frame's ``dtypes``)."""
    f = parse_formula(formula)
    lhs, fixed, bar_nodes = split_formula(f)
    uses: dict[str, set] = {}
    _walk(lhs, False, uses)
    for node in fixed:
        _walk(node, False, uses)
    for bar in expand_bars(bar_nodes, formula):
        _walk(bar.expr, False, uses)
        _walk(bar.group, True, uses)
    for name in extra:
        uses.setdefault(name, set()).add("value")
    cols = {str(c): c for c in dtypes}
    columns, fnum, fother = [], [], []
    for name, how in uses.items():
        if name not in cols:
            if name in ("pi", "Inf", "TRUE", "FALSE", "T", "F"):
                continue
            raise DataError(f"the Dask DataFrame has no column {name!r}, which the model uses "
                            f"(columns: {', '.join(map(str, cols))})")
        columns.append(name)
        dt = dtypes[cols[name]]
        numeric = pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt) \
            and not isinstance(dt, pd.CategoricalDtype)
        if numeric and "factor" in how:
            if "value" in how:
                raise DataError(f"column {name!r} is used both as a number and as a factor; on a Dask "
                                "DataFrame give the factor use its own column (a string or categorical copy)")
            fnum.append(name)
        elif not numeric and not pd.api.types.is_bool_dtype(dt):
            fother.append(name)
    return FramePlan(columns, fnum, fother)


# ------------------------------------------------------------------------------------ pass 1a: columns
def _kind(s: pd.Series) -> str:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(s.dtype):
        return "bool"
    if pd.api.types.is_numeric_dtype(s.dtype):
        return "number"
    if len(s) == 0 or s.isna().all():
        return "empty"
    if s.dtype == object and all_real_numbers(s):
        return "number"
    if pd.api.types.infer_dtype(s, skipna=True) == "boolean":
        return "bool"
    return "string"


def column_summary(pdf: pd.DataFrame, plan: FramePlan) -> dict:
    """Per partition: the kind of every column used, and the distinct values of the factor columns."""
    out: dict = {"kinds": {}, "values": {}}
    cols = {str(c): c for c in pdf.columns}
    for name in plan.columns:
        s = pdf[cols[name]]
        kind = _kind(s)
        out["kinds"][name] = kind
        if name in plan.factor_numeric:
            v = s.to_numpy(dtype=float, na_value=np.nan) if kind == "number" else np.zeros(0)
            out["values"][name] = np.unique(v[~np.isnan(v)])
        elif name in plan.factor_other:
            if kind == "category":
                out["values"][name] = ("category", list(s.cat.categories), bool(s.cat.ordered))
            elif kind == "string":
                vals = s[s.notna()].map(str).unique()
                out["values"][name] = ("string", set(vals.tolist()))
    return out


def merge_column_summaries(parts: list[dict], plan: FramePlan) -> dict[str, tuple[list, bool]]:
    """The global categories of each factor column (R's order), from the partitions' summaries; mixed
    kinds of one column between partitions are an error."""
    kinds: dict[str, list[str]] = {}
    for k, p in enumerate(parts):
        for name, kind in p["kinds"].items():
            kinds.setdefault(name, []).append(kind)
    for name, ks in kinds.items():
        seen = sorted({k for k in ks if k != "empty"})
        if len(seen) > 1:
            where = {k: [i for i, kk in enumerate(ks) if kk == k] for k in seen}
            desc = "; ".join(f"{k} in partition{'s' if len(v) > 1 else ''} {', '.join(map(str, v[:5]))}"
                             for k, v in where.items())
            raise DataError(f"column {name!r} has mixed types between the partitions of the Dask "
                            f"DataFrame ({desc}): give it one dtype (e.g. ddf.astype({{{name!r}: ...}}))")
    out: dict[str, tuple[list, bool]] = {}
    for name in plan.factor_numeric:
        vals = [p["values"][name] for p in parts if len(p["values"].get(name, ()))]
        out[name] = (np.unique(np.concatenate(vals)).tolist() if vals else [], False)
    for name in plan.factor_other:
        entries = [p["values"][name] for p in parts if name in p["values"]]
        cats = [e for e in entries if e[0] == "category"]
        strs = [e for e in entries if e[0] == "string"]
        if cats:
            first = cats[0][1]
            if all(c[1] == first for c in cats):
                out[name] = ([str(v) if not isinstance(v, (int, float, np.number)) else v for v in first],
                             cats[0][2])
            else:
                # categories differ between partitions: their union in order of appearance (what
                # concatenating the partitions in pandas gives, union_categoricals)
                union: list = []
                seen_set: set = set()
                for c in cats:
                    for v in c[1]:
                        if v not in seen_set:
                            seen_set.add(v)
                            union.append(v)
                out[name] = (union, False)
        else:
            allv: set = set()
            for e in strs:
                allv |= e[1]
            out[name] = (sorted(allv, key=r_sort_key), False)
    return out


# ------------------------------------------------------------------------------------ the state
@dataclass
class FrameState:
    """The global state of the model frame (what the passes over the data fix): formula, options, the
    categories of factor columns, the levels present in the rows used, ``scale()`` parameters."""

    formula: str
    weights: str | None = None
    offset: str | None = None
    subset: str | None = None
    na_action: str = "na.omit"
    categories: dict = field(default_factory=dict)   # column -> (categories, ordered)
    factor_columns: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)      # numeric factor column -> R's labels of its categories
    scale: dict | None = None          # deparsed scale() call -> {"center", "scale"}
    present: dict | None = None        # factor variable label -> global present codes
    group_present: list | None = None  # per bar (formula order): global present codes of its factor
    term_order: list | None = None     # lme4's order of the bars
    y_shift: float = 0.0
    x_keep: list | None = None         # the columns of X kept (R's aliasing rule), after the cross-products
    stateful: dict | None = None       # deparsed poly/ns/bs/cut(x, k) variable -> its global state
    want_cells: bool | None = None     # keep a few rows per cell of the factors' coding (type III)
    category_arrays: dict = field(default_factory=dict, repr=False)  # numeric factor column -> float array


class _PartitionEvaluator(Evaluator):
    """The formula evaluator on one partition: refuses what needs all rows; ``scale()`` as a variable
    of the model frame uses the global parameters (or records moments while they are being computed)."""

    def __init__(self, data: pd.DataFrame, text: str, state: FrameState, newdata: bool = False):
        super().__init__(data, text)
        self.state = state
        self.newdata = newdata
        self.scale_moments: dict[str, tuple] = {}

    def saved(self, node: Call) -> dict | None:
        """The global state of a stateful variable (``poly``, ``ns``, ``bs``, ``cut`` with a number of
        intervals) computed by the stateful passes; None for a call that is not a variable of the frame."""
        if not self.state.stateful or node is not self._variable:
            return None
        return self.state.stateful.get(deparse(node))

    def _function(self, node: Call):
        fn = super()._function(node)
        if node.func in _STATEFUL:
            if self.saved(node) is None:
                raise DataError(f"{deparse(node)}: {_STATEFUL[node.func]}; on a Dask DataFrame its global state "
                                "is computed by extra passes only where it is a variable of the formula (a "
                                "term or part of an interaction), not nested in another expression: compute "
                                "the column beforehand (e.g. with ddf.assign) or fit in memory")
            return fn
        if node.func in _REFUSED:
            raise DataError(f"{deparse(node)}: {_REFUSED[node.func]}, which a Dask DataFrame does not give "
                            "in one partition; compute the column beforehand (e.g. with ddf.assign) or fit "
                            "in memory")
        if node.func == "cut":
            a = self.match_args(node, ("x", "breaks", "labels", "include.lowest", "right", "dig.lab",
                                       "ordered_result"), required=2)
            if len(self.vector(a.get("breaks"))) == 1:
                saved = self.saved(node)
                if saved is None or self.newdata:
                    why = ("on new data R takes the breaks from the range of the new values, which one "
                           "partition does not give") if self.newdata else \
                        "only a variable of the formula gets the global range (not a call nested in another)"
                    raise DataError(f"{deparse(node)}: a number of breaks needs the range of the whole column; "
                                    f"{why}: give the breaks themselves (cut(x, c(...)))")
                given = dict(a.given)
                given["breaks"] = Call(func="c", args=tuple(Num(value=float(b)) for b in saved["breaks"]))
                explicit = Call(func="cut", args=(), kwargs=tuple(given.items()), start=node.start, end=node.end)
                return lambda ev, _node: fn(ev, explicit)
        if node.func == "scale":
            return self._scale
        if node.func in ("factor", "as.factor", "ordered") and len(node.args) == 1 and not node.kwargs \
                and isinstance(node.args[0], Name) and node.args[0].id in self.state.categories:
            return self._column_factor
        return fn

    def _column_factor(self, ev, node: Call) -> Factor:
        """``factor(g)`` of a column coded with the global categories: the column's factor itself (R's
        factor() would drop the levels unused in this partition; the unused levels of the whole data
        are dropped globally, from the levels present in the rows used)."""
        v = self.column(node.args[0])
        if not isinstance(v, Factor):  # pragma: no cover - the column was coded as categories
            raise DataError(f"{deparse(node)}: the column is not a factor in this partition")
        return Factor(v.codes, v.levels, True if node.func == "ordered" else v.ordered)

    def _scale(self, ev, node: Call) -> Numeric:
        key = deparse(node)
        if node is not self._variable:
            raise DataError(f"{key}: scale() inside another expression needs the whole column; on a Dask "
                            "DataFrame use it as a variable of its own or compute it beforehand")
        a = self.match_args(node, ("x", "center", "scale"))
        x = self.numeric(a.get("x"))
        opts: dict = {"center": True, "scale": True}
        for k in ("center", "scale"):
            if k in a:
                opts[k] = self.flag_or_number(a.get(k), k)
        if self.state.scale is None:  # the frame pass: record moments, values are placeholders
            ok = x[~np.isnan(x)]
            m = len(ok)
            mean = float(ok.mean()) if m else 0.0
            self.scale_moments[key] = (m, mean, float(((ok - mean) ** 2).sum()) if m else 0.0, opts)
            return Numeric(x.copy(), None, {"center": 0.0, "scale": 1.0})
        par = self.state.scale[key]
        with np.errstate(all="ignore"):
            return Numeric((x - par["center"]) / par["scale"], None, dict(par))


class _GlobalVarTable(_VarTable):
    """Factor variables coded with the globally present levels (the frame pass records them)."""

    def __init__(self, ev: Evaluator, present: dict | None):
        super().__init__(ev)
        self.present = present

    def columns(self, i: int, rows: np.ndarray, contrasts: bool):
        v = self.values[i]
        if isinstance(v, Factor) and not (v.levels == LOGICAL_LEVELS and not v.ordered):
            present = np.asarray(self.present[self.labels[i]], dtype=np.int64)
            if len(present) == 1 and len(rows):
                raise DataError(f"the factor '{self.labels[i]}' has a single level ({v.levels[present[0]]!r}) "
                                "in the rows used: contrasts need at least two levels (R stops here too: "
                                "\"contrasts can be applied only to factors with 2 or more levels\")")
            remap = np.full(len(v.levels) + 1, -1, dtype=np.int64)
            remap[present] = np.arange(len(present))
            codes = v.codes[rows]
            unseen = (codes >= 0) & (remap[codes] < 0)
            if unseen.any():
                new = sorted({v.levels[c] for c in codes[unseen]}, key=r_sort_key)
                raise DataError(f"factor '{self.labels[i]}' has new level{'s' if len(new) > 1 else ''} in "
                                f"newdata: {', '.join(new[:10])} (levels in fitting: "
                                f"{', '.join(v.levels[c] for c in present[:10])})")
            return factor_columns(remap[codes], [v.levels[c] for c in present], contrasts, v.ordered)
        return super().columns(i, rows, contrasts)

    def levels_in(self, i: int, rows: np.ndarray) -> list[str]:
        """The levels of factor ``i`` present in the rows used of the whole data (global)."""
        v = self.values[i]
        if isinstance(v, Factor) and not (v.levels == LOGICAL_LEVELS and not v.ordered) \
                and self.present is not None and self.labels[i] in self.present:
            return [v.levels[c] for c in self.present[self.labels[i]]]
        return super().levels_in(i, rows)


def _integer_labels(values: np.ndarray) -> list[str]:
    """R's ``as.character`` of numbers, fast for whole numbers below 1e15 (ids): R writes the fixed
    form unless the scientific one (15 significant digits) is narrower (``1e+05`` for 100000); other
    values go through :func:`~mixedmodels.formula.parse.format_r_number`."""
    v = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        simple = np.isfinite(v) & (np.abs(v) < 1e15) & (v == np.round(v)) & (v != 0)
    ints = np.where(simple, np.abs(v), 1).astype(np.int64)
    ndig = np.floor(np.log10(ints)).astype(np.int64) + 1
    ndig += ints >= 10 ** np.minimum(ndig, 18)  # log10 rounding at powers of ten
    ndig -= ints < 10 ** np.maximum(ndig - 1, 0)
    zeros = np.zeros(len(v), dtype=np.int64)
    for k in range(1, 16):
        zeros += (ints % 10 ** k == 0)
    sig = ndig - zeros
    sci = sig + (sig > 1) + 4  # mantissa, its point, "e+XX" (exponents below 100 here)
    fixed = simple & (ndig <= sci)
    text = np.where(v < 0, -ints, ints).astype(str).tolist()
    return [t if ok else format_r_number(float(x)) for t, ok, x in zip(text, fixed.tolist(), v.tolist())]


def global_labels(state: FrameState, name: str) -> list:
    """R's labels of the global categories of factor column ``name`` (computed once, kept in the state)."""
    labels = state.labels.get(name)
    if labels is None:
        cats, _ = state.categories[name]
        if name in state.factor_columns:
            labels = _integer_labels(np.asarray(cats, dtype=float))
        else:
            labels = r_level_labels(cats)
        state.labels[name] = labels
    return labels


def _integer_codes(vals: np.ndarray, cats: np.ndarray) -> np.ndarray | None:
    """Codes of integer-valued ids among sorted integer categories spanning a compact range, by a
    lookup table (linear time) instead of a binary search; None when that does not apply."""
    k = len(cats)
    if not k or cats[-1] - cats[0] > 4 * k + 1024 or not np.all(cats == np.round(cats)):
        return None
    lo = cats[0]
    table = np.full(int(cats[-1] - lo) + 1, -1, dtype=np.int64)
    table[(cats - lo).astype(np.int64)] = np.arange(k)
    with np.errstate(invalid="ignore"):
        inside = (vals >= lo) & (vals <= cats[-1])
    idx = np.zeros(len(vals), dtype=np.int64)
    idx[inside] = (vals[inside] - lo).astype(np.int64)
    codes = np.where(inside, table[idx], -1)
    frac = inside & (vals != np.floor(vals))
    codes[frac] = -1
    return codes


def global_factors(pdf: pd.DataFrame, state: FrameState) -> dict[str, Factor]:
    """The factor columns of a partition as :class:`Factor` objects coded with the global categories
    (a value outside them, or missing, is -1), sharing the state's label lists: what
    :func:`with_categories` followed by the evaluator's conversion gives, without building a pandas
    Categorical with all the global labels in every partition."""
    cols = {str(c): c for c in pdf.columns}
    out: dict[str, Factor] = {}
    for name, (cats, ordered) in state.categories.items():
        if name not in cols:
            raise DataError(f"the data have no column {name!r}, which the formula uses")
        s = pdf[cols[name]]
        labels = global_labels(state, name)
        if name in state.factor_columns:
            vals = s.to_numpy(dtype=float, na_value=np.nan)
            cats_a = state.category_arrays.get(name)
            if cats_a is None:
                cats_a = state.category_arrays[name] = np.asarray(cats, dtype=float)
            codes = _integer_codes(vals, cats_a)
            if codes is None:
                codes = np.searchsorted(cats_a, vals)
                ok = ~np.isnan(vals) & (codes < len(cats_a))
                ok[ok] = cats_a[codes[ok]] == vals[ok]
                codes = np.where(ok, codes, -1).astype(np.int64)
        elif isinstance(s.dtype, pd.CategoricalDtype) and list(s.cat.categories) == list(cats):
            codes = np.asarray(s.cat.codes, dtype=np.int64)
        else:
            vals = s.astype(object).where(s.notna(), None)
            if not isinstance(s.dtype, pd.CategoricalDtype):
                vals = vals.map(lambda v: None if v is None else str(v))
            codes = np.asarray(pd.Categorical(vals, categories=list(cats)).codes, dtype=np.int64)
        out[name] = Factor(codes, labels, bool(ordered))
    return out



def with_categories(pdf: pd.DataFrame, state: FrameState, extend: bool = False) -> pd.DataFrame:
    """A copy of the partition whose factor columns are coded with the global categories; with
    ``extend`` (new data) values outside them become categories of their own after the global ones
    (levels not seen in fitting), instead of missing values."""
    cols = {str(c): c for c in pdf.columns}
    new = {}
    for name, (cats, ordered) in state.categories.items():
        if name not in cols:
            raise DataError(f"newdata has no column {name!r}, which the formula uses")
        s = pdf[cols[name]]
        if name in state.factor_columns:  # numbers used as factors: categories are R's labels
            vals = s.to_numpy(dtype=float, na_value=np.nan)
            cats_a = np.asarray(cats, dtype=float)
            labels = state.labels.get(name)
            if labels is None:
                labels = state.labels[name] = r_level_labels(cats_a)
            if extend:
                extra = np.setdiff1d(np.unique(vals[~np.isnan(vals)]), cats_a)
                if len(extra):
                    cats_a = np.concatenate([cats_a, extra])
                    order = np.argsort(cats_a, kind="stable")
                    labels = list(labels) + r_level_labels(extra)
                    cats_a, labels = cats_a[order], [labels[k] for k in order]
            codes = np.searchsorted(cats_a, vals)
            ok = ~np.isnan(vals) & (codes < len(cats_a))
            ok[ok] = cats_a[codes[ok]] == vals[ok]
            new[cols[name]] = pd.Categorical.from_codes(np.where(ok, codes, -1), categories=labels)
        elif isinstance(s.dtype, pd.CategoricalDtype) and list(s.cat.categories) == list(cats):
            continue
        else:
            vals = s.astype(object).where(s.notna(), None)
            if not isinstance(s.dtype, pd.CategoricalDtype):
                vals = vals.map(lambda v: None if v is None else str(v))
            cats_l = list(cats)
            if extend:
                known = set(cats_l)
                extra = sorted({v for v in vals if v is not None and v not in known}, key=lambda v: r_sort_key(str(v)))
                cats_l = cats_l + extra
            new[cols[name]] = pd.Categorical(vals, categories=cats_l, ordered=ordered)
    if not new:
        return pdf
    out = pdf.copy(deep=False)
    for c, v in new.items():
        out[c] = pd.Series(v, index=pdf.index)
    return out


def subset_rows(pdf: pd.DataFrame, subset: str | None) -> pd.DataFrame:
    """The partition's rows selected by R's ``subset`` expression (missing counts as FALSE)."""
    if subset is None or len(pdf) == 0:
        return pdf
    node = parse_formula("~" + subset).rhs
    val = _PartitionEvaluator(pdf, subset, FrameState(subset)).eval(node)
    if not (isinstance(val, Factor) and val.levels == ["FALSE", "TRUE"]):
        raise DataError(f"subset must be a logical expression (a comparison such as 'Days >= 2'), not {subset!r}")
    return pdf[val.codes == 1]


def _numeric_column(pdf: pd.DataFrame, name: str, what: str) -> np.ndarray:
    cols = {str(c): c for c in pdf.columns}
    if name not in cols:
        raise DataError(f"{what}: no column {name!r} in the data")
    s = pdf[cols[name]]
    if not pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        raise DataError(f"{what} must be numbers (a numeric column name), not {s.dtype}")
    return s.to_numpy(dtype=float, na_value=np.nan)


@dataclass
class _Evaluated:
    y: np.ndarray
    vt: _GlobalVarTable
    rhs: str
    re_specs: list
    rows: np.ndarray
    offset: np.ndarray
    weights: np.ndarray | None
    ev: _PartitionEvaluator
    nmissing: int
    offset_calls: list = field(default_factory=list)


def _evaluate(pdf: pd.DataFrame, state: FrameState, response: bool = True) -> _Evaluated:
    """The partition's formula variables and complete rows (as ``_build_design`` up to the rows used)."""
    text = state.formula
    # fitting rows: the factor columns coded once with the global categories (no per-partition pandas
    # Categorical of all the labels); new data: values outside them become levels of their own
    data = pdf if response else with_categories(pdf, state, extend=True)
    n0 = len(data)
    w_all = None if state.weights is None else _numeric_column(data, state.weights, "weights")
    if w_all is not None:
        ok = w_all[~np.isnan(w_all)]
        if np.any(ok <= 0):
            raise DataError("weights must be positive (lme4 refuses negative weights; drop rows of weight 0)")
        if not np.all(np.isfinite(ok)):
            raise DataError("weights must be finite")
    f = parse_formula(text)
    lhs, fixed, bar_nodes = split_formula(f)
    bars = expand_bars(bar_nodes, text)
    ev = _PartitionEvaluator(data, text, state, newdata=not response)
    if response:
        ev._factors.update(global_factors(data, state))
    missing = np.zeros(n0, dtype=bool)
    y_all = np.zeros(n0)
    if response:
        yv = ev.eval(lhs)
        if isinstance(yv, Factor):
            raise DataError(f"the response '{deparse(lhs)}' is not numeric")
        y_all = yv.matrix[:, 0]
        missing |= np.isnan(y_all)
    vt = _GlobalVarTable(ev, state.present)
    used: set[int] = set()
    rhs, offset_calls = compile_fixed_part(fixed, vt, text, used)
    offsets = [ev.numeric(call.args[0]) for call in offset_calls]
    re_specs = []
    for bar in bars:
        e_used: set[int] = set()
        e_rhs = _compile_fixed(bar.expr, vt, e_used, text)
        g = _group_factor(bar.group, ev, text)
        re_specs.append((bar, e_rhs, e_used, g))
    if response:
        for i in used | set().union(*[s[2] for s in re_specs]) if re_specs else used:
            missing |= vt.values[i].missing
        for _, _, _, g in re_specs:
            missing |= g.missing
    if state.offset is not None:
        offsets.append(_numeric_column(data, state.offset, "offset"))
    for off in offsets:
        if response:
            missing |= np.isnan(off)
    if w_all is not None and response:
        missing |= np.isnan(w_all)
    rows = np.flatnonzero(~missing)
    offset = np.zeros(len(rows))
    for off in offsets:
        offset = offset + off[rows]
    return _Evaluated(y=y_all[rows], vt=vt, rhs=rhs, re_specs=re_specs, rows=rows, offset=offset,
                      weights=None if w_all is None else w_all[rows], ev=ev, nmissing=int(missing.sum()),
                      offset_calls=list(offset_calls))


# ------------------------------------------------------------------------------------ pass 1b: the frame
def frame_summary(pdf: pd.DataFrame, state: FrameState) -> dict:
    """Per partition: rows used, moments of the response (less offset), the factor codes present in
    the rows used, ``scale()`` moments, and the checks of the response and offset."""
    pdf = subset_rows(pdf, state.subset)
    e = _evaluate(pdf, state)
    if state.na_action == "na.fail" and e.nmissing:
        raise DataError(f"missing values in {e.nmissing} row{'s' if e.nmissing > 1 else ''} of the variables "
                        "the model uses (na_action='na.fail')")
    y = e.y
    if not np.all(np.isfinite(y)):
        raise DataError("the response has infinite values")
    if len(y) and (np.abs(y).max() > 1e150 or 0 < np.abs(y).max() < 1e-150):
        raise DataError(f"the response has values on an extreme scale (largest {np.abs(y).max():.3g}), beyond "
                        "what its cross-products hold in double precision (1e-150 to 1e150): rescale it")
    if not np.all(np.isfinite(e.offset)):
        raise DataError("the offset has infinite values (e.g. log(0)): an offset must be finite")
    r = y - e.offset
    m = len(r)
    mean = float(r.mean()) if m else 0.0
    present = {}
    for label, v in zip(e.vt.labels, e.vt.values):
        if isinstance(v, Factor):
            present[label] = _present_codes(v.codes[e.rows], len(v.levels))
    groups = []
    for _, _, _, g in e.re_specs:
        groups.append(_present_codes(g.codes[e.rows], len(g.levels)))  # codes only: labels are global
    return {"n": m, "mean": mean, "m2": float(((r - mean) ** 2).sum()) if m else 0.0,
            "min": float(r.min()) if m else math.inf, "max": float(r.max()) if m else -math.inf,
            "present": present, "groups": groups, "scale": e.ev.scale_moments,
            "intercept": () in _terms(e.rhs), "logw": float(np.log(e.weights).sum()) if e.weights is not None else 0.0}


def _present_codes(codes: np.ndarray, nlevels: int) -> np.ndarray:
    """The sorted distinct non-negative codes (a counting pass, not a sort)."""
    c = codes[codes >= 0]
    if not len(c):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.bincount(c, minlength=max(nlevels, int(c.max()) + 1))).astype(np.int64)


def _chan(parts: list[tuple[int, float, float]]) -> tuple[int, float, float]:
    """Count, mean and sum of squared deviations of the union of groups (Chan et al.'s pairwise update)."""
    n, mean, m2 = 0, 0.0, 0.0
    for nb, mb, m2b in parts:
        if nb == 0:
            continue
        tot = n + nb
        delta = mb - mean
        mean = mean + delta * nb / tot
        m2 = m2 + m2b + delta * delta * n * nb / tot
        n = tot
    return n, mean, m2


def merge_frame_summaries(parts: list[dict], state: FrameState, meta: pd.DataFrame) -> dict:
    """Merge the partitions' frame summaries into ``state`` (present levels, scale parameters, term
    order, response shift); returns the totals (n, moments, group levels, sum of log weights).
    ``meta`` is an empty frame with the data's columns: the grouping factors' labels are read off it
    (with the global categories, the levels do not depend on the rows)."""
    n, mean, m2 = _chan([(p["n"], p["mean"], p["m2"]) for p in parts])
    if n == 0:
        raise DataError("no complete rows: every row has a missing value in a variable of the formula")
    present: dict[str, np.ndarray] = {}
    for p in parts:
        for label, c in p["present"].items():
            present[label] = np.union1d(present.get(label, np.zeros(0, dtype=np.int64)), c).astype(np.int64)
    text = state.formula
    ev = _PartitionEvaluator(meta, text, state)
    ev._factors.update(global_factors(meta, state))
    bars = expand_bars(split_formula(parse_formula(text))[2], text)
    group_present, group_levels = [], []
    for k, bar in enumerate(bars):
        codes = np.unique(np.concatenate([np.asarray(p["groups"][k], dtype=np.int64) for p in parts]))
        levels = _group_factor(bar.group, ev, text).levels
        group_present.append(codes)
        group_levels.append([levels[c] for c in codes])
    scale = {}
    for key in parts[0]["scale"]:
        m, mu, s2 = _chan([p["scale"][key][:3] for p in parts if key in p["scale"]])
        opts = parts[0]["scale"][key][3]
        c = opts["center"]
        center = mu if c is True else (0.0 if c is False else float(c))
        s = opts["scale"]
        if s is True:
            ss = s2 + m * (mu - center) ** 2
            sc = math.sqrt(ss / max(m - 1, 1))
            if sc == 0 or not math.isfinite(sc):
                raise DataError(f"{key}: the variable is constant (standard deviation 0), so it cannot be scaled")
        else:
            sc = 1.0 if s is False else float(s)
        scale[key] = {"center": center, "scale": sc}
    state.present = present
    state.group_present = group_present
    state.scale = scale
    nlev = [len(g) for g in group_present]
    state.term_order = lme4_term_order(nlev)
    state.y_shift = mean if parts[0]["intercept"] else 0.0
    return {"n": n, "mean": mean, "m2": m2, "min": min(p["min"] for p in parts),
            "max": max(p["max"] for p in parts), "group_levels": group_levels,
            "logw": math.fsum(p["logw"] for p in parts)}


# ------------------------------------------------------------------------------------ pass 2: arrays
@dataclass
class PartitionArrays:
    """The partition's rows used: response less offset, X (all columns), weights, and per bar (formula
    order) the global level index of each row and the term's columns."""

    y: np.ndarray
    X: np.ndarray
    x_names: list[str]
    fixed_terms: list
    offset: np.ndarray
    weights: np.ndarray | None
    refs: list[np.ndarray]
    z: list[np.ndarray]
    cnames: list[list[str]]
    rows: np.ndarray
    index: pd.Index


def partition_arrays(pdf: pd.DataFrame, state: FrameState, response: bool = True,
                     newdata: bool = False) -> PartitionArrays:
    """The partition's model arrays with the global state (after :func:`merge_frame_summaries`).

    ``response=False`` (new data): no response, every row kept (missing predictors give NaN); a level
    of a fixed-effects factor not seen in fitting is an error; a grouping level not seen in fitting gets
    index -1, a missing one -2."""
    if response:
        pdf = subset_rows(pdf, state.subset)
    e = _evaluate(pdf, state, response=response)
    rows = e.rows
    X, names, fterms = _model_matrix(e.rhs, e.vt, rows)
    if response:
        if not np.all(np.isfinite(X)):
            bad = [names[j] for j in range(X.shape[1]) if not np.all(np.isfinite(X[:, j]))]
            raise DataError(f"the fixed-effects model matrix has infinite or undefined values in: {', '.join(bad)}")
    refs, zs, cnames = [], [], []
    for k, (bar, e_rhs, _, g) in enumerate(e.re_specs):
        Zt, z_names, _ = _model_matrix(e_rhs, e.vt, rows)
        if Zt.shape[1] == 0:
            raise FormulaError("a random-effects term with no columns", state.formula, bar.source.start,
                               bar.source.end)
        if response and not np.all(np.isfinite(Zt)):
            raise DataError(f"the random-effects term ({deparse(bar.source)}) has infinite values")
        present = np.asarray(state.group_present[k], dtype=np.int64)
        remap = np.full(len(g.levels) + 1, -1, dtype=np.int64)
        remap[present] = np.arange(len(present))
        codes = g.codes[rows]
        r = remap[codes]
        r[codes < 0] = -2
        refs.append(r)
        zs.append(np.ascontiguousarray(Zt))
        cnames.append(list(z_names))
    return PartitionArrays(y=e.y, X=X, x_names=names, fixed_terms=fterms, offset=e.offset, weights=e.weights,
                           refs=refs, z=zs, cnames=cnames, rows=rows, index=pdf.index[rows])


# ------------------------------------------------------------------------------------ after pass 2
def aliased_and_scale(R: np.ndarray, names: list[str], count: int, mean: np.ndarray, m2: np.ndarray,
                      all01: np.ndarray) -> tuple[list[int], bool]:
    """The columns of X that R's ``qr(X, tol = 1e-7)`` keeps, decided on the triangular factor R of X
    (X = QR with orthonormal Q: the same column norms and residuals), with lme4's rank-deficiency
    warning; and lme4's check.scaleX from the columns' moments, with its warning."""
    keep = _drop_aliased(R, names)
    dropped = [names[j] for j in range(len(names)) if j not in keep]
    if dropped:
        k = len(dropped)
        warn_r(f"fixed-effect model matrix is rank deficient so dropping {k} column"
               f"{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''} ({', '.join(dropped)})",
               RankDeficiencyWarning)
    scale_warning = False
    cont = [j for j in keep if not all01[j]]
    if count >= 2 and cont:
        sd = np.sqrt(m2[cont] / (count - 1))
        with np.errstate(divide="ignore"):
            logsd = np.log(sd)
        big = np.log(1e3)
        scale_warning = bool(np.any(np.abs(logsd) > big) or (len(cont) > 1 and np.ptp(logsd) > big))
    if scale_warning:
        warn_r(SCALE_MESSAGE, PredictorScaleWarning)
    return keep, scale_warning


# ------------------------------------------------------------------------------------ stateful variables
_FORMULA_OPS = ("+", "-", "*", ":", "/", "^", "%in%")
_STATEFUL_FORMALS = {"poly": ("x", "...", "degree", "raw"),
                     "ns": ("x", "df", "knots", "intercept", "Boundary.knots"),
                     "bs": ("x", "df", "knots", "degree", "intercept", "Boundary.knots"),
                     "cut": ("x", "breaks", "labels", "include.lowest", "right", "dig.lab", "ordered_result")}


def stateful_variables(formula: str) -> list[Call]:
    """The variables of the formula (terms' atoms, fixed and random parts) that are stateful calls whose
    state needs the whole column: ``poly``, ``ns``, ``bs``, and ``cut`` (the caller keeps ``cut`` only
    with a number of intervals). Calls nested in other expressions are not variables (refused later)."""
    f = parse_formula(formula)
    _, fixed, bar_nodes = split_formula(f)
    out: dict[str, Call] = {}

    def walk(node):
        if isinstance(node, Paren):
            walk(node.expr)
        elif isinstance(node, BinOp) and node.op in _FORMULA_OPS:
            walk(node.left)
            walk(node.right)
        elif isinstance(node, Call) and node.func in _STATEFUL_FORMALS:
            out.setdefault(deparse(node), node)

    for node in fixed:
        walk(node)
    for bar in expand_bars(bar_nodes, formula):
        walk(bar.expr)
    return list(out.values())


def stateful_argument(ev: Evaluator, node: Call) -> tuple[np.ndarray, object]:
    """The values of a stateful call's ``x`` on the evaluator's rows, and its matched arguments."""
    a = ev.match_args(node, _STATEFUL_FORMALS[node.func], required=2 if node.func == "cut" else 1)
    return ev.numeric(a.get("x")), a


def stateful_summary(pdf: pd.DataFrame, state: FrameState, calls: list[Call], step: int,
                     params: dict) -> dict:
    """Per partition (rows of the subset, all of them: R evaluates the variables before dropping
    incomplete rows), per stateful variable, the sums its global state needs at ``step``:

    * step 0: missing count, count, sum, min and max of x;
    * step 1 (``poly``): the sums of ``xc``, ``xc^2``, ``xc^3`` with ``xc = x - mean``;
    * step j >= 2 (``poly``): with the monic orthogonal polynomial ``Z_j`` of the three-term recurrence
      over the coefficients found so far (``params``), the sums of ``Z_j^2`` and ``xc Z_j^2``."""
    pdf = subset_rows(pdf, state.subset)
    ev = _PartitionEvaluator(pdf, state.formula, state)
    out = {}
    for node in calls:
        key = deparse(node)
        if step > 0 and key not in params:
            continue
        x, _ = stateful_argument(ev, node)
        if step == 0:
            ok = x[~np.isnan(x)]
            out[key] = (len(x) - len(ok), len(ok), float(ok.sum()) if len(ok) else 0.0,
                        float(ok.min()) if len(ok) else math.inf, float(ok.max()) if len(ok) else -math.inf)
            continue
        par = params[key]
        xc = x - par["xbar"]
        if step == 1:
            out[key] = (float(xc.sum()), float((xc ** 2).sum()), float((xc ** 3).sum()))
            continue
        d, norm2 = par["d"], par["norm2"]  # d_i = alpha_i - xbar; norm2 = [1, n, |Z_1|^2, ...]
        z_prev, z = np.ones(len(x)), xc - d[0]
        for i in range(1, step):
            z_prev, z = z, (xc - d[i]) * z - (norm2[i + 1] / norm2[i]) * z_prev
        z2 = z * z
        out[key] = (float(z2.sum()), float((xc * z2).sum()))
    return out


def stateful_plan(formula: str, meta: pd.DataFrame, state: FrameState) -> list[dict]:
    """What each stateful variable of the formula needs, from its constant arguments (evaluated on the
    empty frame ``meta``): ``poly`` its degree (``raw = TRUE`` needs nothing: its state is fixed);
    ``ns``/``bs`` df, knots, degree, intercept, boundary knots; ``cut`` the number of intervals (a
    ``cut`` with explicit breaks is row-wise and left out). ``poly`` of several variables is refused."""
    ev = _PartitionEvaluator(meta, formula, state)
    out = []
    for node in stateful_variables(formula):
        key = deparse(node)
        _, a = stateful_argument(ev, node)
        item = {"key": key, "node": node, "kind": node.func}
        if node.func == "poly":
            if a.dots and not (len(a.dots) == 1 and ev.is_constant(a.dots[0])):
                raise DataError(f"{key}: poly() of several variables (R's polym) does not run on a Dask "
                                "DataFrame; compute the columns beforehand or fit in memory")
            degree = ev.whole(a.get("degree"), "degree", 1) if "degree" in a else 1
            if len(a.dots) == 1:
                degree = ev.whole(a.dots[0], "degree", 1)
            if degree < 1:
                raise ev.error("'degree' must be at least 1", node)
            item["degree"] = degree
            item["raw"] = ev.boolean(a.get("raw")) if "raw" in a else False
        elif node.func == "cut":
            br = ev.numbers(a.get("breaks"), "breaks")
            if len(br) != 1:
                continue
            k = br[0]
            if math.isnan(k) or k < 2 or not math.isfinite(k) or k > 1e6:
                raise ev.error("invalid number of intervals", node)
            item["k"] = k
        else:
            item["intercept"] = ev.boolean(a.get("intercept")) if "intercept" in a else False
            item["degree"] = ev.whole(a.get("degree"), "degree", 1) if "degree" in a else 3
            item["df"] = ev.whole(a.get("df"), "df", 1) if "df" in a else None
            item["knots"] = ev.numbers(a.get("knots"), "knots") if "knots" in a else None
            bk = ev.numbers(a.get("Boundary.knots"), "Boundary.knots") if "Boundary.knots" in a else None
            if bk is not None and len(bk) != 2:
                raise ev.error("'Boundary.knots' must be two numbers", a.get("Boundary.knots"))
            item["boundary"] = None if bk is None else sorted(float(b) for b in bk)
        out.append(item)
    return out


def cut_breaks(lo: float, hi: float, k: float) -> list[float]:
    """R's ``cut(x, k)`` breaks from the range of x: ``k`` equal intervals, widened by ``dx/1000`` at both
    ends (for a constant x, by a thousandth of its absolute value or of 1)."""
    nb = int(k + 1)
    dx = hi - lo
    if dx == 0:
        dx = abs(lo) if lo != 0 else 1.0
        return [float(b) for b in seq_length_out(lo - dx / 1000, hi + dx / 1000, nb)]
    out = seq_length_out(lo, hi, nb)
    out[0], out[-1] = lo - dx / 1000, hi + dx / 1000
    return [float(b) for b in out]


def spline_interior_count(item: dict) -> int:
    """The number of interior knots ``ns``/``bs`` place at quantiles for their ``df`` (R's rule)."""
    df = item["df"]
    if item["knots"] is not None or df is None:
        return 0
    intercept = bool(item["intercept"])
    if item["kind"] == "ns":
        k = df - 1 - intercept
        least = 1 + intercept
    else:
        k = df - (item["degree"] + 1) + (1 - intercept)
        least = item["degree"] + 1 - (1 - intercept)
    if k < 0:
        warn_r(f"'df' was too small; have used {least}", UserWarning)
        k = 0
    return int(k)


def spline_values(pdf: pd.DataFrame, state: FrameState, node: Call, boundary: list[float]) -> pd.Series:
    """The values of a spline call's ``x`` in a partition that its interior knots are quantiles of: not
    missing, inside the boundary knots."""
    pdf = subset_rows(pdf, state.subset)
    x, _ = stateful_argument(_PartitionEvaluator(pdf, state.formula, state), node)
    keep = ~np.isnan(x) & (x >= boundary[0]) & (x <= boundary[1])
    return pd.Series(x[keep])


# ------------------------------------------------------------------------------------ the frozen spec
def global_frame_spec(meta: pd.DataFrame, state: FrameState, kept: list[int],
                      group_levels: list[list[str]]) -> FrameSpec:
    """The :class:`~mixedmodels.frame.spec.FrameSpec` of the whole data set's model frame, built without
    rows: the formula evaluated on the empty frame ``meta`` with the global state (factor levels present
    in the rows used, contrasts, the stateful variables' training parameters); ``kept`` are the columns of
    X the fit kept, ``group_levels`` the grouping factors' levels in formula order. The variables' means
    over the rows used (for reference grids) are not recorded (NaN)."""
    e = _evaluate(meta.iloc[:0], state)
    vt = e.vt
    fkeys = _terms(e.rhs)
    fcodings = term_codings(fkeys, vt.is_factor)
    _, names, fterms = build_columns(fkeys, fcodings, vt, e.rows)
    parts = []
    for bar, e_rhs, _, _ in e.re_specs:
        zkeys = _terms(e_rhs)
        zcodings = term_codings(zkeys, vt.is_factor)
        _, z_names, zterms = build_columns(zkeys, zcodings, vt, e.rows)
        parts.append((bar, _term_specs(zkeys, zcodings, zterms, vt), z_names))
    f = parse_formula(state.formula)
    lhs = split_formula(f)[0]
    random = tuple(RandomTermSpec(source=deparse(parts[k][0].source), group=parts[k][0].group_name,
                                  group_node=parts[k][0].group, terms=parts[k][1], cnames=tuple(parts[k][2]),
                                  levels=tuple(group_levels[k]))
                   for k in state.term_order)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        variables = _variable_specs(vt, e.rows)
    return FrameSpec(formula=f, response_name=deparse(lhs), variables=variables,
                     fixed=_term_specs(fkeys, fcodings, fterms, vt), column_names=tuple(names),
                     kept=tuple(int(k) for k in kept), offsets=tuple(e.offset_calls), random=random,
                     column_levels=FrozenDict(e.ev.string_column_levels()))

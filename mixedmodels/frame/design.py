"""The model frame, as lme4's ``lFormula`` builds it: response, fixed-effects matrix X, random-effects terms.

``build_design(formula, data)`` parses the formula, evaluates every variable safely
(:mod:`mixedmodels.formula.transforms`), drops rows with a missing value in any variable the formula uses, drops
unused factor levels, expands R's term algebra (:mod:`mixedmodels.formula.terms`), builds X with R's
codings and column names (:mod:`mixedmodels.frame.columns`), drops aliased columns of a rank-deficient X
(with a warning, as lme4 does), builds one :class:`~mixedmodels.frame.reterms.ReTerm` per bar, orders the
terms by decreasing number of levels and runs lme4's checks on them, and records all of it as a frozen
:class:`~mixedmodels.frame.spec.FrameSpec` (``design.spec``) that rebuilds X and Z on other data. The
caller's DataFrame is only read.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import scipy.linalg as sla
import pandas as pd

from ..errors import warn as warn_r
from ..errors import DataError, FormulaError, ModelError, PredictorScaleWarning, RankDeficiencyWarning
from ..formula.parse import Call, Formula, Name, Node, deparse, expand_bars, parse_formula, split_formula
from ..formula.terms import compile_fixed_part, compile_term, expand_terms
from ..formula.transforms import (LOGICAL_LEVELS, Evaluator, Factor, Numeric, all_real_numbers, is_stateful,
                                  real_numbers_as_float)
from .columns import FixedTerm, build_columns, evaluate_variable, factor_columns, group_factor, term_codings
from .reterms import ReTerm
from .spec import FrameSpec, FrozenDict, RandomTermSpec, TermSpec, VariableSpec, make_variable_spec

__all__ = ["Design", "FixedTerm", "FrameSpec", "build_design", "check_data", "frame_expression",
           "independent_columns", "with_type_notes"]

@dataclass
class Design:
    """Everything the fit needs, in the rows actually used.

    Attributes
    ----------
    y : (n,) response;  X : (n, p) fixed-effects matrix (aliased columns already dropped)
    offset : (n,) offset (zeros when the formula has none)
    x_names : R's column names of X;  dropped : names of aliased columns that were dropped
    scale_warning : lme4's check.scaleX found predictors on very different scales
    weights : prior weights (residual variance sigma^2 / w), None when not given
    fixed_terms : the fixed terms with their columns in X (for ANOVA tables)
    terms : the random-effects terms, ordered by decreasing number of levels (lme4's order)
    rows : positional indices (into the caller's data) of the rows used
    formula : the parsed formula;  response_name : the response as R deparses it
    spec : the frozen :class:`~mixedmodels.frame.spec.FrameSpec` (levels, contrasts, stateful-transform
        state, terms to columns) that rebuilds X and Z on other data
    """

    y: np.ndarray
    X: np.ndarray
    offset: np.ndarray
    x_names: list[str]
    fixed_terms: list[FixedTerm]
    terms: list[ReTerm]
    rows: np.ndarray
    formula: Formula
    response_name: str
    dropped: list[str] = field(default_factory=list)
    has_intercept: bool = True
    scale_warning: bool = False  # lme4's "Some predictor variables are on very different scales"
    weights: np.ndarray | None = None  # prior weights of the rows used (None: all 1)
    # columns made factors by their type though they may be meant as numbers (text that looks
    # numeric, pandas Periods): named when the model cannot be fitted
    type_notes: list[str] = field(default_factory=list)
    spec: FrameSpec | None = None  # the frozen frame spec: the model frame's recipe for other data
    na_counts: dict[str, int] = field(default_factory=dict)  # variable -> rows it lacks (dropped rows)
    nrow_data: int = 0  # rows of the data the frame was built from
    na_in_columns: bool = False  # some of the missing values are in the data's columns themselves

    def dropped_rows_message(self) -> str | None:
        """The warning on rows dropped for missing values (``None`` when none were): how many, and the
        variables responsible with their counts."""
        k = self.nrow_data - len(self.rows)
        if k <= 0 or not self.na_counts:
            return None
        parts = ", ".join(f"{v} ({c})" for v, c in sorted(self.na_counts.items(), key=lambda kv: -kv[1]))
        msg = (f"{k} of {self.nrow_data} rows dropped for missing values (na_action='na.omit', as R's "
               f"lmer does silently) in: {parts}")
        if self.na_in_columns:
            msg += (". If these were not meant to be missing (pandas.read_csv reads 'None', 'NaN', 'null', "
                    "'n/a' and empty fields as missing; R's read.csv only 'NA'), read the file with mm.read_csv")
        return msg

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def p(self) -> int:
        return self.X.shape[1]

    def reduced(self, formula: Formula, random, drop_fixed=()) -> "Design | None":
        """The design of a reduced model on the same model frame, sliced from this one (nothing is
        evaluated again): ``random`` lists the indices of the random-effects terms kept, in the reduced
        model's (lme4's) order, or ``(index, source)`` for a term whose intercept alone is kept (lmerTest's
        reduction of ``(x | g)`` to ``(1 | g)``; ``source`` the new bar as written); ``drop_fixed`` the labels of fixed-effects terms removed; ``formula`` is
        the reduced model's parsed formula. None where slicing cannot give what building the reduced
        formula gives: aliased columns were dropped (removing a term may bring them back), or removing a
        term changes how another is coded (a factor whose margin goes)."""
        spec = self.spec
        if spec is None or self.dropped:
            return None
        drop_fixed = list(drop_fixed)
        x_keep = list(range(self.p))
        fixed_terms = self.fixed_terms
        new_spec = spec
        if drop_fixed:
            labels = [t.label for t in spec.fixed]
            if any(lab not in labels for lab in drop_fixed):
                return None
            new_spec = spec.without_terms(drop_fixed)
            gone = {c for t in self.fixed_terms if t.label in drop_fixed for c in t.columns}
            x_keep = [j for j in range(self.p) if j not in gone]
            if list(new_spec.column_names) != [self.x_names[j] for j in x_keep]:
                return None  # another term is coded differently without the removed one
            newpos = {old: new for new, old in enumerate(x_keep)}
            fixed_terms = [FixedTerm(t.label, [newpos[c] for c in t.columns], t.variables, t.indicators)
                           for t in self.fixed_terms if t.label not in drop_fixed]
            new_spec = replace(new_spec, kept=tuple(range(len(x_keep))))
        terms, rspecs = [], []
        for k in random:
            if isinstance(k, (int, np.integer)):
                terms.append(self.terms[k])
                rspecs.append(spec.random[k])
                continue
            k, source = k  # the term's intercept alone, (1 | g) in place of (x | g)
            t, rs = self.terms[k], spec.random[k]
            icpt = [ts for ts in rs.terms if ts.label == "(Intercept)"]
            if not icpt or t.cnames[0] != "(Intercept)":
                return None
            terms.append(ReTerm(t.group, t.levels, t.refs, ["(Intercept)"], np.ascontiguousarray(t.z[:, :1]),
                                source=source))
            rspecs.append(replace(rs, source=source, terms=(replace(icpt[0], columns=(0,)),),
                                  cnames=("(Intercept)",)))
        new_spec = _pruned(replace(new_spec, formula=formula, random=tuple(rspecs)))
        X = self.X if len(x_keep) == self.p else np.ascontiguousarray(self.X[:, x_keep])
        x_names = [self.x_names[j] for j in x_keep]
        return replace(self, X=X, x_names=x_names, fixed_terms=fixed_terms, terms=terms, formula=formula,
                       has_intercept="(Intercept)" in x_names, scale_warning=_different_scales(X), spec=new_spec)


@lru_cache(maxsize=2048)
def _deparse_hashed(node: Node) -> str:
    return deparse(node)


def deparse_memo(node: Node) -> str:
    """``deparse(node)``, remembered: the nodes are frozen (hashed and compared by value), and a model
    frame deparses the same few (the response, the variables, the bars) at every fit of a formula --
    R's number formatting makes a deparse cost tens of microseconds."""
    try:
        return _deparse_hashed(node)
    except TypeError:  # a node holding something unhashable: deparsed each time
        return deparse(node)


def check_data(data) -> None:
    """lme4-style checks of the data argument (type, emptiness, duplicate names)."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if len(data) == 0:
        raise DataError("the data have no rows")
    cols = data.columns
    if cols.is_unique and pd.api.types.is_string_dtype(cols.dtype) and \
            (cols.dtype != object or all(type(c) is str for c in cols.tolist())):
        return  # distinct names that are strings already (the usual case): distinct as R names them
    # one pass over the names (a frame may have hundreds of thousands of columns the formula never uses)
    names = [str(c) for c in cols.tolist()]
    if len(set(names)) == len(names):
        return
    seen: set[str] = set()
    dup = sorted({c for c in names if c in seen or seen.add(c)})
    if dup:
        raise DataError(f"the data have duplicate column names: {', '.join(repr(d) for d in dup)}")


# ------------------------------------------------------------------------------- the fixed-part compiler
class _VarTable:
    """Variables of the formula (deduplicated by their deparsed text, numbered by first appearance, which
    is R's variable order) and the placeholder names that stand for them in the term algebra."""

    def __init__(self, ev: Evaluator):
        self.ev = ev
        self.labels: list[str] = []
        self.values: list[Numeric | Factor] = []
        self.nodes: list[Node] = []
        self.index: dict[str, int] = {}

    def add(self, node: Node) -> int:
        label = deparse_memo(node)
        if label not in self.index:
            if self.ev.length_one(node):
                raise FormulaError(f"variable lengths differ (found for '{label}'): it is one number, not a "
                                   "value per row; use it inside an expression, e.g. I(x - mean(x))",
                                   self.ev.text, node.start, node.end)
            val = evaluate_variable(self.ev, node)
            self.index[label] = len(self.labels)
            self.labels.append(label)
            self.values.append(val)
            self.nodes.append(node)
        return self.index[label]

    def is_factor(self, i: int) -> bool:
        return isinstance(self.values[i], Factor)

    def levels_in(self, i: int, rows: np.ndarray) -> list[str]:
        """The levels of factor ``i`` present in ``rows`` (unused levels are dropped, as lme4's model
        frame does); an R logical keeps both levels."""
        v = self.values[i]
        if v.levels == LOGICAL_LEVELS and not v.ordered:
            return list(LOGICAL_LEVELS)
        present = levels_present(v.codes[rows], len(v.levels))
        return [v.levels[c] for c in present]

    def columns(self, i: int, rows: np.ndarray, contrasts: bool) -> tuple[list[np.ndarray], list[str]]:
        """Columns of variable ``i`` on ``rows`` and their name suffixes: R's treatment contrasts (all
        levels but the first) when ``contrasts``, else one indicator per level; a numeric variable gives
        its column(s)."""
        v = self.values[i]
        if isinstance(v, Factor):
            codes = v.codes[rows]
            if v.levels == LOGICAL_LEVELS and not v.ordered:
                # an R logical keeps both levels (model.matrix codes it as factor(x, c(FALSE, TRUE))):
                # an all-FALSE comparison gives an all-zero column, dropped as aliased with a warning
                return factor_columns(codes, list(LOGICAL_LEVELS), contrasts)
            present = levels_present(codes, len(v.levels))  # unused levels are dropped, as lme4's model frame does
            if len(present) == 1 and len(rows):
                raise DataError(f"the factor '{self.labels[i]}' has a single level ({v.levels[present[0]]!r}) "
                                "in the rows used: contrasts need at least two levels (R stops here too: "
                                "\"contrasts can be applied only to factors with 2 or more levels\")")
            remap = np.full(len(v.levels), -1, dtype=np.int64)
            remap[present] = np.arange(len(present))
            return factor_columns(remap[codes], [v.levels[c] for c in present], contrasts, v.ordered)
        if v.values.ndim == 2:
            return [v.values[rows, k] for k in range(v.values.shape[1])], list(v.suffixes)
        return [v.values[rows]], [""]


def levels_present(codes: np.ndarray, nlevels: int) -> np.ndarray:
    """The levels (codes ``0 .. nlevels - 1``, increasing) that occur in ``codes``; missing values (-1)
    are not levels. What ``np.unique`` gives without its sort."""
    ok = codes[codes >= 0] if len(codes) and codes.min() < 0 else codes
    return np.flatnonzero(np.bincount(ok, minlength=nlevels))


def lme4_term_order(nlevels: list[int]) -> list[int]:
    """lme4's order of the random-effects terms (``mkReTrms``): unchanged when the numbers of levels
    never increase along the formula, else ``rev(order(nlevels))`` -- decreasing, ties in reverse
    formula order."""
    if not any(b > a for a, b in zip(nlevels, nlevels[1:])):
        return list(range(len(nlevels)))
    ascending = sorted(range(len(nlevels)), key=lambda k: nlevels[k])  # R's order(): stable
    return ascending[::-1]


SCALE_MESSAGE = "Some predictor variables are on very different scales: consider rescaling"


def _different_scales(X: np.ndarray, tol: float = 1e3) -> bool:
    """lme4's ``checkScaleX``: among the columns of X that are not all 0/1, a standard deviation beyond
    ``tol`` or below ``1/tol``, or two standard deviations more than ``tol`` apart."""
    if X.shape[0] < 2:
        return False
    cont = np.flatnonzero(~((X == 0) | (X == 1)).all(axis=0)).tolist()
    if not cont:
        return False
    Xc = X[:, cont]
    dev = Xc - Xc.sum(axis=0) / X.shape[0]  # X.std(axis=0, ddof=1)'s arithmetic, without its overhead
    sd = np.sqrt((dev * dev).sum(axis=0) / (X.shape[0] - 1)).tolist()
    logsd = [math.log(v) if v > 0 else -math.inf for v in sd]  # a few columns: Python floats
    big = math.log(tol)
    if any(abs(v) > big for v in logsd):
        return True
    return bool(len(cont) > 1 and max(logsd) - min(logsd) > big)


def _drop_aliased(X: np.ndarray, names: list[str], tol: float = 1e-7) -> list[int]:
    """Columns kept by R's ``qr(X, tol = 1e-7)`` (LINPACK limited pivoting: a column whose residual on the
    columns kept before it is below ``tol`` times its norm is aliased and moved out).

    Screened on the cross-product (one BLAS product, linear in n): an incremental Cholesky of the scaled
    ``X'X`` gives each column's residual on the kept ones. Where a residual is clearly above ``tol`` (more
    than 1e-3 of the norm, far above the cross-product's rounding) the column is kept; at the first one
    that is not, the decision is made on X itself (Gram-Schmidt with reorthogonalization, as R's QR).
    """
    n, p = X.shape
    big = np.abs(X).max(axis=0) if n else np.zeros(p)
    cand = np.flatnonzero(big > 0)  # a zero column is aliased whatever comes before it
    k_all = len(cand)
    if k_all <= 1:  # one non-zero column is kept whatever its scale
        return cand.tolist()
    # scaled: a column of 1e-200s is not zero (its squared norm would underflow)
    Xs = X / big if k_all == p else X[:, cand] / big[cand]
    G = Xs.T @ Xs
    # every column clearly independent of those before it (the common case): the incremental Cholesky
    # below keeps them all, and its pivots are those of one Cholesky factor of G
    Lfull, info = sla.lapack.dpotrf(G, lower=1)
    if info == 0 and np.all(np.diagonal(Lfull) ** 2 > 1e-6 * np.diagonal(G)):
        return [int(c) for c in cand]
    L = np.zeros((k_all, k_all))
    kept: list[int] = []
    for j in range(k_all):
        k = len(kept)
        g = G[kept, j]
        l = sla.solve_triangular(L[:k, :k], g, lower=True, check_finite=False) if k else g
        r2 = G[j, j] - float(l @ l)
        if not r2 > 1e-6 * G[j, j]:
            return [int(cand[i]) for i in _drop_aliased_exact(Xs, tol)]
        L[k, :k] = l
        L[k, k] = np.sqrt(r2)
        kept.append(j)
    return [int(cand[i]) for i in kept]


def _drop_aliased_exact(Xs: np.ndarray, tol: float) -> list[int]:
    """:func:`_drop_aliased` on the (scaled, non-zero) columns themselves, the basis preallocated."""
    n, p = Xs.shape
    Q = np.empty((n, p))
    keep: list[int] = []
    for j in range(p):
        x = Xs[:, j]
        norm = np.linalg.norm(x)
        Qk = Q[:, : len(keep)]
        r = x - Qk @ (Qk.T @ x)
        r = r - Qk @ (Qk.T @ r)
        rn = np.linalg.norm(r)
        if rn > tol * norm:
            Q[:, len(keep)] = r / rn
            keep.append(j)
    return keep


def frame_expression(text: str, data: pd.DataFrame, what: str) -> pd.Series | np.ndarray:
    """lmer's ``offset = log(Time)`` / ``weights = w``: a column name (its Series), or an R expression over
    the columns evaluated as a formula variable is (parsed, never executed; the formula's whitelist of
    functions), one number per row."""
    if text in data.columns:
        return data[text]
    try:
        node = parse_formula("~" + text).rhs
    except FormulaError as exc:
        raise DataError(f"{what}: {text!r} is neither a column of the data nor an R expression "
                        f"({exc.reason})") from None
    if node is None:
        raise DataError(f"{what}: {text!r} is not an expression")
    ev = Evaluator(data, text)
    try:
        if ev.length_one(node):
            raise DataError(f"{what}: {text!r} is one number, not a value per row (R: variable lengths differ)")
        val = ev.eval(node)
    except FormulaError as exc:
        if isinstance(node, Name) and not node.quoted:
            raise DataError(f"{what}: no column {text!r} in the data") from None
        raise DataError(f"{what}: cannot evaluate {text!r}: {exc.reason}") from None
    if isinstance(val, Factor):
        raise DataError(f"{what} must be numbers, but {text!r} is a factor")
    if val.matrix.shape[1] != 1:
        raise DataError(f"{what}: {text!r} has several columns")
    return val.matrix[:, 0]


def _frame_column(arg, data: pd.DataFrame, what: str) -> np.ndarray:
    """``weights=`` / ``offset=``: a column name, an R expression over the columns (see
    :func:`frame_expression`), or numbers with one entry per row of the data."""
    if isinstance(arg, str):
        arg = frame_expression(arg, data, what)
    values = arg.to_numpy() if isinstance(arg, pd.Series) else np.asarray(arg)
    if values.dtype == object:
        ok = values.ndim == 1 and all_real_numbers(pd.Series(values, dtype=object))  # Decimal too
        if ok:
            values = real_numbers_as_float(pd.Series(values, dtype=object))
    else:
        ok = (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)) \
            and values.dtype != bool
    if not ok or isinstance(getattr(arg, "dtype", None), pd.CategoricalDtype):
        raise DataError(f"{what} must be numbers (a numeric column name or array), not {values.dtype}")
    try:
        out = np.asarray(pd.to_numeric(pd.Series(values.ravel()), errors="raise"), dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{what} must be numbers (a column name or an array)") from None
    if out.shape != (len(data),):
        raise DataError(f"{what} has {out.size} values but the data have {len(data)} rows")
    return out


def build_design(formula: str, data: pd.DataFrame, *, require_random: bool = True, weights=None,
                 offset=None, na_action: str = "na.omit", response: np.ndarray | None = None) -> Design:
    """Build the model frame of an lme4 formula on a DataFrame (lme4's ``lFormula``); see
    :func:`_build_design` (this wrapper turns a formula nested too deeply for Python's recursion into a
    FormulaError). Every call builds the frame from the data it is given: nothing about the data is
    remembered between calls.

    ``response``: the response already evaluated, one float per row of ``data`` (NaN: missing), in place
    of evaluating the formula's left side (glmer's ``cbind(s, f)`` and factor responses, read by the
    family); the left side then only names it."""
    return _build_design_checked(formula, data, require_random=require_random, weights=weights,
                                 offset=offset, na_action=na_action, response=response)


def _build_design_checked(formula: str, data: pd.DataFrame, *, require_random: bool = True, weights=None,
                          offset=None, na_action: str = "na.omit", response: np.ndarray | None = None
                          ) -> Design:
    notes: dict[str, str] = {}
    try:
        return _build_design(formula, data, require_random=require_random, weights=weights, offset=offset,
                             na_action=na_action, type_notes=notes, response=response)
    except (DataError, ModelError) as exc:
        if notes:  # a column's type may be why: say which
            raise type(exc)(with_type_notes(str(exc), list(notes.values()))) from None
        raise
    except RecursionError:
        raise FormulaError("the formula is nested too deeply", formula if isinstance(formula, str) else None) \
            from None


MAX_RE_TERMS = 50
"""The most random-effects terms (after lme4's expansions of ``||`` and ``/``) a model may have: the blocked
factorization's work grows with the cube of their number (100 copies of one term take about a second an
evaluation, 300 copies minutes a fit)."""


def _refuse_many_bars(bars: list, formula: str) -> None:
    """The formula has more than MAX_RE_TERMS random-effects terms: say so, and name a repeated term."""
    counts = Counter(f"({deparse(b.expr)} | {deparse(b.group)})" for b in bars)
    term, times = counts.most_common(1)[0]
    copies = (f"; {term} appears {times} times (copies of one term are told apart by nothing but their "
              "starting values: write it once)") if times > 1 else ""
    raise ModelError(f"the formula has {len(bars):,} random-effects terms, more than the {MAX_RE_TERMS} a model "
                     f"may have here (the work of each evaluation grows with the cube of their number){copies}")


def with_type_notes(message: str, notes: list[str]) -> str:
    """An error message followed by the columns whose type may be the reason (see Design.type_notes)."""
    return message + "".join(f"; note: {n}" for n in notes)


def _build_design(formula: str, data: pd.DataFrame, *, require_random: bool = True, weights=None,
                  offset=None, na_action: str = "na.omit", type_notes: dict | None = None,
                  response: np.ndarray | None = None) -> Design:
    """Build the model frame of an lme4 formula on a DataFrame (lme4's ``lFormula``).

    ``weights`` (prior weights) and ``offset`` are column names or arrays with one value per row;
    ``na_action`` is ``"na.omit"`` (drop incomplete rows) or ``"na.fail"`` (refuse them); ``response``
    (see :func:`build_design`) the response's values."""
    check_data(data)
    if na_action not in ("na.omit", "na.fail"):
        raise DataError(f"na_action must be 'na.omit' or 'na.fail', not {na_action!r}")
    w_all = None if weights is None else _frame_column(weights, data, "weights")
    if w_all is not None and np.any(w_all[~np.isnan(w_all)] <= 0):
        raise DataError("weights must be positive (lme4 refuses negative weights; drop rows of weight 0)")
    if w_all is not None and not np.all(np.isfinite(w_all[~np.isnan(w_all)])):
        raise DataError("weights must be finite")
    f = parse_formula(formula)
    lhs, fixed, bar_nodes = split_formula(f)
    if lhs is None:
        raise FormulaError("the formula has no response: write it as 'y ~ ...'", formula, 0, 1)
    bars = expand_bars(bar_nodes, formula)
    if len(bars) > MAX_RE_TERMS:
        _refuse_many_bars(bars, formula)
    if require_random and not bars:
        raise FormulaError("no random-effects terms in the formula: a mixed model needs at least one "
                           "'(expr | g)'; for a model without random effects use ordinary least squares "
                           "(e.g. statsmodels.formula.api.ols)", formula, 0, len(formula))
    ev = Evaluator(data, formula)
    if type_notes is not None:
        ev.type_notes = type_notes

    # response
    response_name = deparse_memo(lhs)
    if response is not None:
        y_all = np.asarray(response, dtype=float)
        if y_all.shape != (len(data),):
            raise DataError(f"the response '{response_name}' has {y_all.size} values but the data have "
                            f"{len(data)} rows")
    else:
        yv = ev.eval(lhs)
        if isinstance(yv, Factor):
            raise DataError(f"the response '{response_name}' is not numeric")
        if yv.matrix.shape[1] != 1:
            raise DataError(f"the response '{response_name}' must be a single column")
        y_all = yv.matrix[:, 0]

    # fixed part: offsets apart, the rest compiled for the term algebra
    vt = _VarTable(ev)
    used: set[int] = set()
    rhs, offset_calls = compile_fixed_part(fixed, vt, formula, used)
    offsets: list[np.ndarray] = [ev.numeric(call.args[0]) for call in offset_calls]

    # random terms: their expressions and grouping factors
    re_specs = []
    for bar in bars:
        e_used: set[int] = set()
        e_rhs = compile_term(bar.expr, vt, e_used, formula)
        g = group_factor(bar.group, ev, formula)
        re_specs.append((bar, e_rhs, e_used, g))

    # rows used: complete cases over every variable the formula uses; what each variable lacks is kept
    # for the message on dropped rows (Design.na_counts)
    by_var: dict[str, np.ndarray] = {}

    def _note(label: str, miss: np.ndarray) -> None:
        by_var[label] = by_var[label] | miss if label in by_var else miss.copy()

    _note(response_name, np.isnan(y_all))
    for i in sorted(used | set().union(*[s[2] for s in re_specs]) if re_specs else used):
        _note(vt.labels[i], vt.values[i].missing)
    for call, off in zip(offset_calls, offsets):
        _note(deparse(call), np.isnan(off))
    if offset is not None:
        offsets.append(_frame_column(offset, data, "offset"))
        _note(offset if isinstance(offset, str) else "offset", np.isnan(offsets[-1]))
    for bar, _, _, g in re_specs:
        _note(deparse_memo(bar.group), g.missing)
    if w_all is not None:
        _note(weights if isinstance(weights, str) else "weights", np.isnan(w_all))
    missing = np.zeros(len(y_all), dtype=bool)
    for miss in by_var.values():
        missing |= miss
    na_counts = {k: int(v.sum()) for k, v in by_var.items() if v.any()}
    if na_action == "na.fail" and missing.any():
        raise DataError(f"missing values in {int(missing.sum())} row{'s' if missing.sum() > 1 else ''} of "
                        "the variables the model uses (na_action='na.fail')")
    rows = np.flatnonzero(~missing)
    n = len(rows)
    if n == 0:
        raise DataError("no complete rows: every row has a missing value in a variable of the formula")
    y = y_all[rows]
    if not np.isfinite(y).all():
        raise DataError(f"the response '{response_name}' has infinite values")
    y_big = float(np.abs(y).max()) if len(y) else 0.0
    if y_big > 1e150 or 0 < y_big < 1e-150:
        raise DataError(f"the response '{response_name}' has values on an extreme scale (largest "
                        f"{y_big:.3g}), beyond what its cross-products hold in double precision "
                        "(1e-150 to 1e150): rescale it")

    fkeys = expand_terms(rhs)
    fcodings = term_codings(fkeys, vt.is_factor)
    X, x_names, fterms = build_columns(fkeys, fcodings, vt, rows)
    all_names, full_terms = list(x_names), fterms
    if not np.isfinite(X).all():
        bad = [x_names[j] for j in range(X.shape[1]) if not np.all(np.isfinite(X[:, j]))]
        raise DataError(f"the fixed-effects model matrix has infinite or undefined values in: {', '.join(bad)}")
    x_big = np.abs(X).max(axis=0) if X.shape[0] else np.zeros(X.shape[1])
    extreme = [x_names[j] for j in np.flatnonzero((x_big > 1e150) | ((0 < x_big) & (x_big < 1e-150)))]
    if extreme:
        raise DataError(f"the fixed-effects columns {', '.join(extreme)} have values on an extreme scale, "
                        "beyond what their cross-products hold in double precision (1e-150 to 1e150): "
                        "rescale them")
    has_intercept = "(Intercept)" in x_names
    keep = _drop_aliased(X, x_names)
    dropped = [x_names[j] for j in range(X.shape[1]) if j not in keep]
    if dropped:
        k = len(dropped)
        warn_r(f"fixed-effect model matrix is rank deficient so dropping {k} column"
              f"{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''} ({', '.join(dropped)})",
              RankDeficiencyWarning)
        newpos = {old: new for new, old in enumerate(keep)}
        X = X[:, keep]
        x_names = [x_names[j] for j in keep]
        fterms = [FixedTerm(t.label, [newpos[c] for c in t.columns if c in newpos], t.variables,
                            t.indicators) for t in fterms]
    scale_warning = _different_scales(X)
    if scale_warning:
        warn_r(SCALE_MESSAGE, PredictorScaleWarning)
    offset_rows = np.zeros(n)
    for off in offsets:
        offset_rows = offset_rows + off[rows]
    if offsets and not np.all(np.isfinite(offset_rows)):
        raise DataError(f"the offset has infinite values in {int((~np.isfinite(offset_rows)).sum())} row(s) "
                        "(e.g. log(0)): an offset must be finite")
    if offsets and n and np.abs(offset_rows).max() > 1e150:
        raise DataError("the offset has values beyond 1e150, too large for double precision: rescale it")

    terms: list[ReTerm] = []
    re_parts = []
    for bar, e_rhs, e_used, g in re_specs:
        zkeys = expand_terms(e_rhs)
        zcodings = term_codings(zkeys, vt.is_factor)
        Zt, z_names, zterms = build_columns(zkeys, zcodings, vt, rows)
        re_parts.append((bar, _term_specs(zkeys, zcodings, zterms, vt)))
        if Zt.shape[1] == 0:
            raise FormulaError("a random-effects term with no columns", formula, bar.source.start,
                               bar.source.end)
        if not np.isfinite(Zt).all():
            raise DataError(f"the random-effects term ({deparse(bar.source)}) has infinite values")
        codes = g.codes[rows]  # a new array
        present = levels_present(codes, len(g.levels))
        if len(present) == len(g.levels):  # every level used: the codes are the references
            levels, refs = list(g.levels), codes.astype(np.int64, copy=False)
        else:
            remap = np.full(len(g.levels), -1)
            remap[present] = np.arange(len(present))
            levels, refs = [g.levels[c] for c in present.tolist()], remap[codes].astype(np.int64)
        terms.append(ReTerm(group=deparse_memo(bar.group), levels=levels, refs=refs, cnames=z_names,
                            z=np.ascontiguousarray(Zt), source=deparse_memo(bar.source)))

    # lme4's order (mkReTrms): decreasing number of levels; see lme4_term_order for the ties
    order = lme4_term_order([t.nlevels for t in terms])
    terms = [terms[k] for k in order]
    re_parts = [re_parts[k] for k in order]
    for t in terms:
        if t.nlevels < 2:
            raise ModelError(f"grouping factor '{t.group}' has only one level: a random effect needs at "
                             "least two groups (use it as a fixed effect, or drop it)")
        if t.nlevels >= n and require_random:
            raise ModelError(f"number of levels of the grouping factor '{t.group}' ({t.nlevels}) must be "
                             f"less than the number of observations ({n}): the random effect cannot be "
                             "told apart from the residual")
        if t.nranef >= n and require_random:
            raise ModelError(f"number of observations ({n}) <= number of random effects ({t.nranef}) "
                             f"for term ({t.source}): the random-effects parameters and the residual "
                             "variance (or scale parameter) are probably unidentifiable")
    spec = FrameSpec(
        formula=f, response_name=response_name, variables=_variable_specs(vt, rows),
        fixed=_term_specs(fkeys, fcodings, full_terms, vt), column_names=tuple(all_names), kept=tuple(keep),
        offsets=tuple(call for call in offset_calls),
        random=tuple(RandomTermSpec(source=t.source, group=t.group, group_node=bar.group, terms=tspecs,
                                    cnames=tuple(t.cnames), levels=tuple(t.levels))
                     for t, (bar, tspecs) in zip(terms, re_parts)),
        column_levels=FrozenDict(ev.string_column_levels()))
    return Design(y=y, X=X, offset=offset_rows, x_names=x_names, fixed_terms=fterms, terms=terms,
                  rows=rows, formula=f, response_name=response_name, dropped=dropped,
                  has_intercept=has_intercept, scale_warning=scale_warning,
                  weights=None if w_all is None else w_all[rows], spec=spec, na_counts=na_counts,
                  nrow_data=len(data), na_in_columns=any(k in data.columns for k in na_counts),
                  type_notes=list(ev.type_notes.values()))


def _pruned(spec: FrameSpec) -> FrameSpec:
    """``spec`` without the variables no term uses any more (the others renumbered, in their order)."""
    used = sorted({i for t in spec.fixed for i in t.variables}
                  | {i for r in spec.random for t in r.terms for i in t.variables})
    if len(used) == len(spec.variables):
        return spec
    new = {old: k for k, old in enumerate(used)}

    def renum(terms):
        return tuple(replace(t, variables=tuple(new[i] for i in t.variables)) for t in terms)

    return replace(spec, variables=tuple(spec.variables[i] for i in used), fixed=renum(spec.fixed),
                   random=tuple(replace(r, terms=renum(r.terms)) for r in spec.random))


def _term_specs(keys, codings, fterms, vt: _VarTable) -> tuple[TermSpec, ...]:
    """The frozen terms of a model matrix built by :func:`~mixedmodels.frame.columns.build_columns`."""
    return tuple(TermSpec(label=t.label, variables=tuple(k), contrasts=tuple(c), columns=tuple(t.columns))
                 for k, c, t in zip(keys, codings, fterms))


def _variable_specs(vt: _VarTable, rows: np.ndarray) -> tuple[VariableSpec, ...]:
    """The frozen variables of the formula: levels in the rows used, contrasts, the training state of a
    stateful call (R's predvars) and the mean over the rows used."""
    out = []
    for i, (label, node, val) in enumerate(zip(vt.labels, vt.nodes, vt.values)):
        levels = vt.levels_in(i, rows) if isinstance(val, Factor) else None
        state = val.coefs if isinstance(node, Call) and is_stateful(node) and isinstance(val, Numeric) else None
        out.append(make_variable_spec(label, node, val, levels, rows, state))
    return tuple(out)


def independent_columns(X: np.ndarray, tol: float = 1e-7) -> list[int]:
    """The columns of X that R's ``qr(X, tol = 1e-7)`` keeps (those not aliased with columns before
    them): lme4's rule for dropping the columns of a rank-deficient X."""
    return _drop_aliased(np.asarray(X, dtype=float), [], tol)


def _model_matrix(rhs: str, vt: _VarTable, rows: np.ndarray):
    """R's ``model.matrix`` of a compiled right-hand side over a variable table: columns, R's column names
    and the terms with their columns (:func:`~mixedmodels.frame.columns.term_codings` decides the
    coding of each factor)."""
    terms = expand_terms(rhs)
    return build_columns(terms, term_codings(terms, vt.is_factor), vt, rows)


# the older names of helpers that moved to formula/terms.py and frame/columns.py, for modules of this
# stage written against them (other stages use the public names)
_compile_fixed = compile_term
_group_factor = group_factor
_terms = expand_terms

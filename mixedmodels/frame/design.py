"""The model frame, as lme4's ``lFormula`` builds it: response, fixed-effects matrix X, random-effects terms.

``build_design(formula, data)`` parses the formula, evaluates every variable safely
(:mod:`mixedmodels.formula.transforms`), drops rows with a missing value in any variable the formula uses, drops
unused factor levels, builds X through formulaic with R's treatment contrasts and R's column names,
drops aliased columns of a rank-deficient X (with a warning, as lme4 does), builds one
:class:`~mixedmodels.frame.reterms.ReTerm` per bar, orders the terms by decreasing number of levels and runs
lme4's checks on them. The caller's DataFrame is only read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import warn as warn_r
from ..errors import DataError, FormulaError, ModelError, PredictorScaleWarning, RankDeficiencyWarning
from ..formula.parse import (BinOp, Call, Formula, Node, Num, Paren, UnaryOp, deparse, expand_bars,
                      parse_formula, split_formula)
from .reterms import ReTerm
from ..formula.transforms import (LOGICAL_LEVELS, Evaluator, Factor, Numeric, all_real_numbers,
                                  real_numbers_as_float)

__all__ = ["Design", "FixedTerm", "build_design", "check_data", "with_type_notes"]

_PH = "XqZ{}Q"  # placeholder variable names handed to formulaic's term algebra (never user-visible)
_PH_RE = re.compile(r"XqZ(\d+)Q")


@dataclass
class FixedTerm:
    """A term of the fixed-effects part: its R label (``"age:Sex"``), its columns in X and its variables
    in R's order (``("age", "Sex")``; empty for the intercept)."""

    label: str
    columns: list[int]
    variables: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()  # the factors coded here by indicators of all levels (no contrasts)


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

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def p(self) -> int:
        return self.X.shape[1]


def check_data(data) -> None:
    """lme4-style checks of the data argument (type, emptiness, duplicate names)."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if len(data) == 0:
        raise DataError("the data have no rows")
    # one pass over the names (a frame may have hundreds of thousands of columns the formula never uses)
    cols = data.columns.tolist()
    names = pd.Index([str(c) for c in cols], dtype=object)
    dup = sorted(set(names[names.duplicated()].tolist())) if not names.is_unique else []
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
        self.index: dict[str, int] = {}

    def add(self, node: Node) -> int:
        label = deparse(node)
        if label not in self.index:
            if self.ev.length_one(node):
                raise FormulaError(f"variable lengths differ (found for '{label}'): it is one number, not a "
                                   "value per row; use it inside an expression, e.g. I(x - mean(x))",
                                   self.ev.text, node.start, node.end)
            val = self.ev.eval_variable(node)
            if isinstance(val, Numeric) and val.values.ndim == 2 and val.suffixes is None:
                if val.values.shape[1] != 1:
                    raise FormulaError(f"'{label}' has several columns", self.ev.text, node.start, node.end)
                val = Numeric(val.values[:, 0], None, val.coefs)
            self.index[label] = len(self.labels)
            self.labels.append(label)
            self.values.append(val)
        return self.index[label]

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
            present = np.unique(codes)  # unused levels are dropped, as lme4's model frame does
            present = present[present >= 0]
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


def poly_contrasts(k: int) -> tuple[np.ndarray, list[str]]:
    """R's ``contr.poly(k)``: orthonormal polynomial contrasts over scores 1..k (columns .L, .Q, .C, ^4,
    ...), as R codes an ordered factor."""
    x = np.arange(1, k + 1, dtype=float)
    x -= x.mean()
    V = np.column_stack([x ** d for d in range(k)])
    q, r = np.linalg.qr(V)
    Z = q * np.diag(r)  # Gram-Schmidt directions: sign-free, as R's qr.qy(QR, diag(R))
    Z /= np.sqrt((Z ** 2).sum(axis=0))
    names = [".L", ".Q", ".C"] + [f"^{d}" for d in range(4, k)]
    return Z[:, 1:], names[: k - 1]


def factor_columns(codes: np.ndarray, levels: list[str], contrasts: bool, ordered: bool = False
                   ) -> tuple[list[np.ndarray], list[str]]:
    """Model-matrix columns of a factor whose ``codes`` index ``levels`` (-1: missing, giving NaN):
    treatment contrasts (all levels but the first; polynomial contrasts for an ordered factor) when
    ``contrasts``, else one indicator per level."""
    k = len(levels)
    ind = np.zeros((len(codes), k))
    ok = codes >= 0
    ind[np.flatnonzero(ok), codes[ok]] = 1.0
    ind[~ok] = np.nan
    if contrasts and ordered and k > 1:
        C, names = poly_contrasts(k)
        M = ind @ C
        return [M[:, j] for j in range(k - 1)], names
    use = range(1, k) if contrasts else range(k)
    return [ind[:, c] for c in use], [levels[c] for c in use]


def _compile_fixed(node: Node, vt: _VarTable, used: set[int], text: str) -> str:
    """Rewrite a fixed-effects expression for formulaic's term algebra, each variable by a placeholder.
    A table with ``bars_are_variables`` (R's update(): :class:`mixedmodels.post.updating._Algebra`) takes a
    random-effects term ``(x | g)`` as one more variable."""
    if getattr(vt, "bars_are_variables", False):
        inner = node.expr if isinstance(node, Paren) else node
        if isinstance(inner, BinOp) and inner.op in ("|", "||"):
            i = vt.add(Paren(expr=inner))
            used.add(i)
            return _PH.format(i)
    if isinstance(node, Paren):
        return "(" + _compile_fixed(node.expr, vt, used, text) + ")"
    if isinstance(node, Num):
        if node.value in (0.0, 1.0):
            return str(int(node.value))
        raise FormulaError("a number other than 0 or 1 cannot be a term; wrap arithmetic in I()",
                           text, node.start, node.end)
    if isinstance(node, UnaryOp):
        if node.op == "-":
            return "-" + _compile_fixed(node.operand, vt, used, text)
        if node.op == "+":
            return _compile_fixed(node.operand, vt, used, text)
        if node.op == "!":  # a logical variable, as in R ('!b' is the term, 'y ~ !b' a column '!bTRUE')
            i = vt.add(node)
            used.add(i)
            return _PH.format(i)
        raise FormulaError(f"unexpected {node.op!r}", text, node.start, node.end)
    if isinstance(node, BinOp):
        if node.op in ("+", "-", "*", "/", ":"):
            return (_compile_fixed(node.left, vt, used, text) + f" {node.op} "
                    + _compile_fixed(node.right, vt, used, text))
        if node.op == "%in%":
            return (_compile_fixed(node.left, vt, used, text) + " : "
                    + _compile_fixed(node.right, vt, used, text))
        if node.op in ("==", "!=", "<", ">", "<=", ">=", "&"):  # a logical variable, as in R
            i = vt.add(node)
            used.add(i)
            return _PH.format(i)
        if node.op == "^":
            right = node.right
            while isinstance(right, Paren):
                right = right.expr
            if not isinstance(right, Num) or right.value != int(right.value) or right.value < 1:
                raise FormulaError("in a formula, '^' needs a positive whole number on its right "
                                   "(for powers of a variable write I(x^2))", text, node.start, node.end)
            left = _compile_fixed(node.left, vt, used, text)
            return f"({left}) ** {_capped_power(left, int(right.value), text, node)}"
        raise FormulaError(f"the operator {node.op!r} is not a formula operator here", text,
                           node.start, node.end)
    if isinstance(node, Call) and node.func == "offset":
        raise FormulaError("offset() must be a term of its own, e.g. 'y ~ x + offset(z)'", text,
                           node.start, node.end)
    i = vt.add(node)
    used.add(i)
    return _PH.format(i)


MAX_TERMS = 4_096  # far beyond any model a mixed-model fit can use


def _capped_power(left: str, k: int, text: str, node) -> int:
    """``(a + b + c)^k``: beyond the number of variables every k gives the full interaction, so k is
    capped there; an expansion beyond MAX_TERMS terms is refused (it would exhaust memory)."""
    import math

    count = max(1, len(set(_PH_RE.findall(left))))
    k = min(k, count)
    if sum(math.comb(count, i) for i in range(1, k + 1)) > MAX_TERMS:
        raise FormulaError(f"this power expands to more than {MAX_TERMS:,} terms", text, node.start, node.end)
    return k


def compile_fixed_part(fixed: list[Node], vt: _VarTable, text: str, used: set[int] | None = None
                       ) -> tuple[str, list[Call]]:
    """The fixed-effects summands (from :func:`mixedmodels.formula.parse.split_formula`) as a right-hand side
    for formulaic's term algebra, each variable through ``vt``; and the ``offset(...)`` calls apart, each
    distinct one once (R: the same offset twice is one variable of the model frame)."""
    used = set() if used is None else used
    pieces: list[str] = []
    offsets: list[Call] = []
    seen: set[str] = set()
    for node in fixed:
        inner = node.operand if isinstance(node, UnaryOp) and node.op == "-" else node
        if isinstance(inner, Call) and inner.func == "offset":
            if inner is not node:
                raise FormulaError("an offset cannot be subtracted", text, node.start, node.end)
            if len(inner.args) != 1 or inner.kwargs:
                raise FormulaError("offset() takes one argument", text, inner.start, inner.end)
            if deparse(inner) not in seen:
                seen.add(deparse(inner))
                offsets.append(inner)
            continue
        pieces.append(_compile_fixed(node, vt, used, text))
    return (" + ".join(pieces) if pieces else "1").replace("+ -", "-"), offsets


def fixed_var_table(design: "Design", data: pd.DataFrame) -> tuple[_VarTable, str]:
    """The fixed part's variables evaluated again on the training ``data`` (the fit keeps it as
    ``model.data``) and the formulaic right-hand side: what rebuilding the model matrix with other
    codings or on a reference grid starts from."""
    vt = _VarTable(Evaluator(data, design.formula.text))
    _, fixed, _ = split_formula(design.formula)
    rhs, _ = compile_fixed_part(fixed, vt, design.formula.text)
    return vt, rhs


def _terms(rhs: str) -> list[tuple[int, ...]]:
    """R's terms of a right-hand side: formulaic expands the algebra (``*``, ``/``, ``^``, ``-``); each
    term's variables are put in R's order (first appearance), duplicates removed; ``()`` is the
    intercept. Terms come ordered by degree, in order of appearance within a degree (R's ``terms``)."""
    simple = _simple_terms(rhs)
    if simple is not None:
        return simple
    from formulaic import Formula

    out: list[tuple[int, ...]] = []
    try:
        expanded = list(Formula(rhs))
    except RecursionError:
        raise FormulaError("the formula is nested too deeply to expand") from None
    except Exception as exc:  # formulaic's own errors on algebra R would reject too
        reason = _PH_RE.sub("x", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise FormulaError(f"cannot expand the terms of the formula ({reason})") from None
    for term in expanded:
        names = [str(f) for f in term.factors]
        if names == ["1"]:
            key: tuple[int, ...] = ()
        else:
            matches = [_PH_RE.fullmatch(nm) for nm in names]
            if not all(matches):
                raise FormulaError("a number inside an interaction (such as '1:x') is not a term R's "
                                   "formulas can have")
            key = tuple(sorted(int(m.group(1)) for m in matches))
        if key not in out:
            out.append(key)
    intercept = [t for t in out if t == ()]
    rest = sorted((t for t in out if t != ()), key=len)  # stable: appearance order within a degree
    return intercept + rest


_SIMPLE_PIECE = re.compile(r"^(?:0|1|XqZ\d+Q)$")


def _simple_terms(rhs: str) -> list[tuple[int, ...]] | None:
    """The terms of a plain sum of main effects (``1 + a + b``, ``0 + a``) without formulaic's parser;
    ``None`` for anything with an operator other than ``+`` (formulaic then does the algebra)."""
    pieces = [p.strip() for p in rhs.split(" + ")]
    if not all(_SIMPLE_PIECE.match(p) for p in pieces):
        return None
    intercept = "0" not in pieces
    out: list[tuple[int, ...]] = [()] if intercept else []
    for p in pieces:
        if p.startswith("XqZ"):
            key = (int(p[3:-1]),)
            if key not in out:
                out.append(key)
    return out


def _model_matrix(rhs: str, vt: _VarTable, rows: np.ndarray):
    """R's ``model.matrix``: columns, R's column names and the terms with their columns.

    A factor in a term is coded by treatment contrasts when the term without it is in the model, else
    by indicators of all its levels (R's rule in ``TermCode``, with model.matrix's exception for a
    model without intercept; see the comment below); within a term the first variable varies fastest.
    """
    terms = _terms(rhs)
    # R's rule (terms.formula's TermCode, then model.matrix): a variable in a term gets contrasts when
    # the term without it is in the model, the empty term counting as present even without an
    # intercept; without an intercept the first factor of the first term that has a factor is coded by
    # indicators instead (so `0 + A + B` gives all levels of A and contrasts for B)
    present = set(terms) | {()}
    full_first = None
    if () not in terms:
        for term in terms:
            facs = [v for v in term if isinstance(vt.values[v], Factor)]
            if facs:
                full_first = (term, facs[0])
                break
    cols: list[np.ndarray] = []
    names: list[str] = []
    fterms: list[FixedTerm] = []
    n = len(rows)
    for term in terms:
        start = len(cols)
        if term == ():
            cols.append(np.ones(n))
            names.append("(Intercept)")
            fterms.append(FixedTerm("(Intercept)", [start]))
            continue
        parts_c: list[np.ndarray] = [np.ones(n)]
        parts_n: list[str] = [""]
        indicators = []
        for k, var in enumerate(term):
            margin = term[:k] + term[k + 1:]
            contrasts = margin in present and (term, var) != full_first
            if not contrasts and isinstance(vt.values[var], Factor):
                indicators.append(vt.labels[var])
            c, suffixes = vt.columns(var, rows, contrasts=contrasts)
            label = vt.labels[var]
            new_c, new_n = [], []
            for cj, sj in zip(c, suffixes):  # later variables vary slowest
                for ci, ni in zip(parts_c, parts_n):
                    new_c.append(ci * cj)
                    new_n.append((ni + ":" if ni else "") + label + sj)
            parts_c, parts_n = new_c, new_n
        cols.extend(parts_c)
        names.extend(parts_n)
        fterms.append(FixedTerm(":".join(vt.labels[v] for v in term), list(range(start, len(cols))),
                                tuple(vt.labels[v] for v in term), tuple(indicators)))
    X = np.column_stack(cols) if cols else np.zeros((n, 0))
    return X, names, fterms


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
    cont = [j for j in range(X.shape[1]) if not np.all((X[:, j] == 0) | (X[:, j] == 1))]
    if not cont:
        return False
    sd = X[:, cont].std(axis=0, ddof=1)
    with np.errstate(divide="ignore"):
        logsd = np.log(sd)
    big = np.log(tol)
    if np.any(np.abs(logsd) > big):
        return True
    return bool(len(cont) > 1 and np.ptp(logsd) > big)


def _drop_aliased(X: np.ndarray, names: list[str], tol: float = 1e-7) -> list[int]:
    """Columns kept by R's ``qr(X, tol = 1e-7)`` (LINPACK limited pivoting: a column whose residual on the
    columns kept before it is below ``tol`` times its norm is aliased and moved out)."""
    n, p = X.shape
    big = np.abs(X).max(axis=0) if n else np.zeros(p)
    nonzero = np.flatnonzero(big > 0)
    # scaled: a column of 1e-200s is not zero (its squared norm would underflow)
    Xs = X[:, nonzero] / big[nonzero]
    if 0 < len(nonzero) <= n:
        # the usual case in one LAPACK call: when no column is aliased, |R_jj| of the unpivoted QR is
        # each column's residual on the columns before it, the quantity the loop below tests
        R = np.linalg.qr(Xs, mode="r")
        if np.all(np.abs(np.diag(R)) > 10 * tol * np.linalg.norm(Xs, axis=0)):
            return nonzero.tolist()
    keep: list[int] = []
    Q = np.zeros((n, min(n, len(nonzero))))
    k = 0
    for jj, j in enumerate(nonzero):
        x = Xs[:, jj]
        norm = np.linalg.norm(x)
        Qk = Q[:, :k]
        r = x - Qk @ (Qk.T @ x)
        r = r - Qk @ (Qk.T @ r)
        rn = np.linalg.norm(r)
        if rn > tol * norm and k < Q.shape[1]:
            keep.append(int(j))
            Q[:, k] = r / rn
            k += 1
    return keep


def _group_factor(node: Node, ev: Evaluator, text: str) -> Factor:
    """Evaluate a grouping expression (``g``, ``a:b``) to a factor; ``a:b`` has a's level slowest."""
    inner = node
    while isinstance(inner, Paren):
        inner = inner.expr
    if isinstance(inner, BinOp) and inner.op == ":":
        left = _group_factor(inner.left, ev, text)
        right = _group_factor(inner.right, ev, text)
        nr = len(right.levels)
        codes = np.where((left.codes >= 0) & (right.codes >= 0), left.codes * nr + right.codes, -1)
        levels = [f"{a}:{b}" for a in left.levels for b in right.levels]
        return Factor(codes=codes, levels=levels)
    if isinstance(inner, BinOp) and inner.op != ":":
        raise FormulaError(f"a grouping factor is a column or an interaction 'a:b', not '{deparse(inner)}'",
                           text, inner.start, inner.end)
    val = ev.eval(inner)
    if isinstance(val, Factor):
        return val
    x = val.matrix
    if x.shape[1] != 1:
        raise FormulaError("a grouping factor must be one column", text, node.start, node.end)
    from ..formula.transforms import factor_from_series
    return factor_from_series(pd.Series(x[:, 0]), deparse(inner))


def _frame_column(arg, data: pd.DataFrame, what: str) -> np.ndarray:
    """``weights=`` / ``offset=``: a column name, or numbers with one entry per row of the data."""
    if isinstance(arg, str):
        if arg not in data.columns:
            raise DataError(f"{what}: no column {arg!r} in the data")
        arg = data[arg]
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
                 offset=None, na_action: str = "na.omit") -> Design:
    """Build the model frame of an lme4 formula on a DataFrame (lme4's ``lFormula``); see
    :func:`_build_design` (this wrapper turns a formula nested too deeply for Python's recursion into a
    FormulaError)."""
    notes: dict[str, str] = {}
    try:
        return _build_design(formula, data, require_random=require_random, weights=weights, offset=offset,
                             na_action=na_action, type_notes=notes)
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
    from collections import Counter

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
                  offset=None, na_action: str = "na.omit", type_notes: dict | None = None) -> Design:
    """Build the model frame of an lme4 formula on a DataFrame (lme4's ``lFormula``).

    ``weights`` (prior weights) and ``offset`` are column names or arrays with one value per row;
    ``na_action`` is ``"na.omit"`` (drop incomplete rows) or ``"na.fail"`` (refuse them)."""
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
    yv = ev.eval(lhs)
    if isinstance(yv, Factor):
        raise DataError(f"the response '{deparse(lhs)}' is not numeric")
    if yv.matrix.shape[1] != 1:
        raise DataError(f"the response '{deparse(lhs)}' must be a single column")
    y_all = yv.matrix[:, 0]

    # fixed part: offsets apart, the rest compiled for formulaic
    vt = _VarTable(ev)
    used: set[int] = set()
    rhs, offset_calls = compile_fixed_part(fixed, vt, formula, used)
    offsets: list[np.ndarray] = [ev.numeric(call.args[0]) for call in offset_calls]

    # random terms: their expressions and grouping factors
    re_specs = []
    for bar in bars:
        e_used: set[int] = set()
        e_rhs = _compile_fixed(bar.expr, vt, e_used, formula)
        g = _group_factor(bar.group, ev, formula)
        re_specs.append((bar, e_rhs, e_used, g))

    # rows used: complete cases over every variable the formula uses
    missing = np.isnan(y_all)
    for i in used | set().union(*[s[2] for s in re_specs]) if re_specs else used:
        missing |= vt.values[i].missing
    if offset is not None:
        offsets.append(_frame_column(offset, data, "offset"))
    for off in offsets:
        missing |= np.isnan(off)
    for _, _, _, g in re_specs:
        missing |= g.missing
    if w_all is not None:
        missing |= np.isnan(w_all)
    if na_action == "na.fail" and missing.any():
        raise DataError(f"missing values in {int(missing.sum())} row{'s' if missing.sum() > 1 else ''} of "
                        "the variables the model uses (na_action='na.fail')")
    rows = np.flatnonzero(~missing)
    n = len(rows)
    if n == 0:
        raise DataError("no complete rows: every row has a missing value in a variable of the formula")
    y = y_all[rows]
    if not np.all(np.isfinite(y)):
        raise DataError(f"the response '{deparse(lhs)}' has infinite values")
    if len(y) and (np.abs(y).max() > 1e150 or 0 < np.abs(y).max() < 1e-150):
        raise DataError(f"the response '{deparse(lhs)}' has values on an extreme scale (largest "
                        f"{np.abs(y).max():.3g}), beyond what its cross-products hold in double precision "
                        "(1e-150 to 1e150): rescale it")

    X, x_names, fterms = _model_matrix(rhs, vt, rows)
    if not np.all(np.isfinite(X)):
        bad = [x_names[j] for j in range(X.shape[1]) if not np.all(np.isfinite(X[:, j]))]
        raise DataError(f"the fixed-effects model matrix has infinite or undefined values in: {', '.join(bad)}")
    extreme = [x_names[j] for j in range(X.shape[1])
               if X.shape[0] and (np.abs(X[:, j]).max() > 1e150 or 0 < np.abs(X[:, j]).max() < 1e-150)]
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
    if not np.all(np.isfinite(offset_rows)):
        raise DataError(f"the offset has infinite values in {int((~np.isfinite(offset_rows)).sum())} row(s) "
                        "(e.g. log(0)): an offset must be finite")
    if n and np.abs(offset_rows).max() > 1e150:
        raise DataError("the offset has values beyond 1e150, too large for double precision: rescale it")

    terms: list[ReTerm] = []
    for bar, e_rhs, e_used, g in re_specs:
        Zt, z_names, _ = _model_matrix(e_rhs, vt, rows)
        if Zt.shape[1] == 0:
            raise FormulaError("a random-effects term with no columns", formula, bar.source.start,
                               bar.source.end)
        if not np.all(np.isfinite(Zt)):
            raise DataError(f"the random-effects term ({deparse(bar.source)}) has infinite values")
        codes = g.codes[rows]
        present = np.unique(codes)
        remap = np.full(len(g.levels), -1)
        remap[present] = np.arange(len(present))
        terms.append(ReTerm(group=bar.group_name, levels=[g.levels[c] for c in present],
                            refs=remap[codes].astype(np.int64), cnames=z_names,
                            z=np.ascontiguousarray(Zt), source=deparse(bar.source)))

    # lme4's order (mkReTrms): decreasing number of levels; see lme4_term_order for the ties
    order = lme4_term_order([t.nlevels for t in terms])
    terms = [terms[k] for k in order]
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
    return Design(y=y, X=X, offset=offset_rows, x_names=x_names, fixed_terms=fterms, terms=terms,
                  rows=rows, formula=f, response_name=deparse(lhs), dropped=dropped,
                  has_intercept=has_intercept, scale_warning=scale_warning,
                  weights=None if w_all is None else w_all[rows], type_notes=list(ev.type_notes.values()))

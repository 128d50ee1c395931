"""Safe evaluation of the variables of a formula: columns, arithmetic and a whitelist of R functions.

A variable is any leaf of a model formula that is not a formula operator: a column name (``Days``), a
call (``log(Reaction)``, ``factor(nitro)``, ``poly(Days, 2)``, ``ns(x, df = 3)``, ``I(Days^2)``) or a
number. This module evaluates such a syntax tree against a DataFrame *without ever calling Python's eval*:
only the node types of :mod:`mixedmodels.formula.parse` are interpreted and only the functions in
:data:`FUNCTIONS` can be called (with their package, ``pkg::fun``, only the pairs in :data:`NAMESPACES`),
so a formula string cannot run code or touch anything but the columns it names. Function arguments that
are not variables (``df = 3``, ``levels = c("b", "a")``, ``breaks = c(-Inf, 0, Inf)``) must be constants.

Values are either :class:`Numeric` (one column, or several for ``poly``, ``ns``, ``bs``) or :class:`Factor`
(integer codes and R-ordered level labels; R's logicals are factors with levels FALSE, TRUE). Missing values are NaN (numeric) or code -1 (factor); rows holding them are
dropped later by the model frame, as R's ``na.omit`` does.
"""

from __future__ import annotations

import decimal
import difflib
import itertools
import math
import numbers
import unicodedata
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import warn as warn_r
from ..errors import DataError, FormulaError, NaNProducedWarning
from .parse import BinOp, Call, Name, Node, Num, Paren, Str, UnaryOp, deparse, format_r_number
from ..rbase.rformat import format_c
from ..rbase.rmath import bincode, r_round, seq_length_out
from ..rbase.splines import SplineSpec, bs_basis, ns_basis

__all__ = ["Numeric", "Factor", "Evaluator", "FUNCTIONS", "NAMESPACES", "r_level_labels", "factor_from_series",
           "is_stateful", "predict_poly", "column_suffixes", "r_sort_key"]


@dataclass
class Numeric:
    """A numeric variable: ``values`` is (n,) or (n, k); ``suffixes`` names the k columns (``poly``)."""

    values: np.ndarray
    suffixes: list[str] | None = None
    coefs: dict = field(default_factory=dict)  # what is needed to re-evaluate on new data (poly, scale)

    @property
    def matrix(self) -> np.ndarray:
        return self.values if self.values.ndim == 2 else self.values[:, None]

    @property
    def missing(self) -> np.ndarray:
        return np.isnan(self.matrix).any(axis=1)


@dataclass
class Factor:
    """A categorical variable: ``codes`` index ``levels`` (-1 = missing); level order is R's."""

    codes: np.ndarray
    levels: list[str]
    ordered: bool = False  # an ordered factor: R codes it by polynomial contrasts (contr.poly)

    @property
    def missing(self) -> np.ndarray:
        return self.codes < 0

    def labels(self) -> np.ndarray:
        lev = np.asarray(self.levels + [""], dtype=object)
        return lev[self.codes]


def r_level_labels(values) -> list[str]:
    """Level labels as R's ``as.character`` writes them (``0.2``, ``1``, ``TRUE``)."""
    values = values if isinstance(values, list) else list(values)
    if all(type(v) is str for v in values):  # text levels (the usual case) are their own labels
        return values[:]
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)):
            out.append("TRUE" if v else "FALSE")
        elif isinstance(v, (int, np.integer)):
            out.append(str(int(v)))
        elif isinstance(v, (float, np.floating)):
            out.append(format_r_number(float(v)))
        else:
            out.append(str(v))
    return out


# ICU's root collation of the printable ASCII characters (what R's sort() uses for strings in an ICU build,
# the usual one): punctuation and symbols first, then digits, then letters, a lower-case letter before its
# upper case only on a tie. Read off R 4.2.2 (Debian, ICU): sort(sapply(32:126, intToUtf8)).
_ICU_ASCII = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789abcdefghijklmnopqrstuvwxyz"
_PRIMARY = {ch: k for k, ch in enumerate(_ICU_ASCII)}
_PRIMARY.update({ch.upper(): k for ch, k in list(_PRIMARY.items()) if ch.isalpha()})


def _r_sort_key(s: str):
    """A sort key that orders strings as R's ``sort()`` does with ICU collation (tertiary strength,
    punctuation not ignored): first by the characters' primary weights (punctuation, then digits, then
    letters without case or accents: ``a_b`` < ``a-b`` < ``a.b`` < ``a1`` < ``ab``), then by accents
    (``e`` < ``é``), then by case (``ab`` < ``aB`` < ``Ab``). Exact for ASCII (tested against R); other
    characters sort with their base letter (``é`` next to ``e``) or, for other scripts, after the
    Latin letters by code point."""
    primary, secondary, tertiary = [], [], []
    for ch in s:
        base, marks = ch, ""
        if ch not in _PRIMARY:
            decomposed = unicodedata.normalize("NFD", ch)
            base, marks = decomposed[0], decomposed[1:]
        primary.append(_PRIMARY.get(base, 1000 + ord(base.lower())))
        secondary.append(sum(ord(m) for m in marks))
        tertiary.append(1 if ch.isupper() else 0)
    return tuple(primary), tuple(secondary), tuple(tertiary)


def factor_from_series(s: pd.Series, name: str) -> Factor:
    """Turn a column into a :class:`Factor` with R's level order.

    A pandas Categorical keeps its categories' order (R's ``levels``); strings are sorted as R sorts them;
    numbers numerically; booleans as FALSE < TRUE.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        cat = s.array  # the Categorical itself: its codes without a Series built around them
        cats = cat.categories.tolist()  # tolist: iterating an Index (of Arrow strings) is slow
        codes = cat.codes.astype(np.int64)
        return Factor(codes=codes, levels=r_level_labels(cats), ordered=bool(cat.ordered))
    values = s.to_numpy()
    mask = pd.isna(s).to_numpy()
    if pd.api.types.is_bool_dtype(s.dtype) or (s.dtype == object and all(
            isinstance(v, (bool, np.bool_)) for v in values[~mask])):
        codes = np.full(len(s), -1, dtype=np.int64)
        codes[~mask] = [1 if v else 0 for v in values[~mask]]
        return Factor(codes=codes, levels=["FALSE", "TRUE"])
    if pd.api.types.is_numeric_dtype(s.dtype):
        vals = values[~mask].astype(float)
        uniq = np.unique(vals)
        codes = np.full(len(s), -1, dtype=np.int64)
        codes[~mask] = np.searchsorted(uniq, vals)
        return Factor(codes=codes, levels=r_level_labels(uniq))
    present = values[~mask]
    codes = np.full(len(s), -1, dtype=np.int64)
    if pd.api.types.infer_dtype(present, skipna=False) == "string":
        # strings only: pandas' hash table finds the distinct values, then R's order of those few
        fcodes, funiq = pd.factorize(present)
        uniq = sorted(funiq.tolist(), key=_r_sort_key)
        index = {u: i for i, u in enumerate(uniq)}
        codes[~mask] = np.array([index[u] for u in funiq.tolist()], dtype=np.int64)[fcodes]
        return Factor(codes=codes, levels=uniq)
    strs = np.array([str(v) for v in present], dtype=object)
    uniq = sorted(set(strs.tolist()), key=_r_sort_key)
    index = {u: i for i, u in enumerate(uniq)}
    codes[~mask] = [index[v] for v in strs]
    return Factor(codes=codes, levels=uniq)


def column_suffixes(k: int) -> list[str] | None:
    """Column-name suffixes of a k-column matrix variable (``poly``, ``ns``, ``bs``): ``1, 2, ...``; none
    for one column (R's model.matrix names a one-column matrix by the term alone: ``poly(x, 1)``)."""
    return [str(j) for j in range(1, k + 1)] if k > 1 else None


# ------------------------------------------------------------------------------------ argument values
@dataclass
class Args:
    """The arguments of one call after R's matching: ``given`` maps formal names to the nodes written,
    ``dots`` holds the arguments matched to ``...``."""

    node: Call
    given: dict[str, Node]
    dots: list[Node]

    def __contains__(self, name: str) -> bool:
        return name in self.given

    def get(self, name: str) -> Node | None:
        return self.given.get(name)


def _is_null(node: Node) -> bool:
    return isinstance(node, Name) and node.id == "NULL" and not node.quoted


def _strip(node: Node) -> Node:
    while isinstance(node, Paren):
        node = node.expr
    return node


# ------------------------------------------------------------------------------------ math functions
def _warn_nans(ev: "Evaluator", node: Call, x: np.ndarray, out: np.ndarray) -> None:
    """R's warning "NaNs produced" when a function turns numbers into NaN (``sqrt(-1)``, ``log(-1)``):
    those rows then count as missing and are dropped."""
    new = np.isnan(out) & ~np.isnan(x)
    if new.any():
        warn_r(f"{deparse(node)}: NaNs produced in {int(new.sum())} row{'s' if new.sum() > 1 else ''}; "
              "they are treated as missing and dropped", NaNProducedWarning)


def _unary_math(fn: Callable[[np.ndarray], np.ndarray]):
    def apply(ev: "Evaluator", node: Call) -> Numeric:
        ev.check_arity(node, 1, 1)
        x = ev.numeric(node.args[0])
        with np.errstate(all="ignore"):
            out = fn(x)
        _warn_nans(ev, node, x, out)
        return Numeric(out)
    return apply


def _f_log(ev: "Evaluator", node: Call) -> Numeric:
    ev.check_arity(node, 1, 2, allowed_kw=("base",))
    x = ev.numeric(node.args[0])
    base = None
    if len(node.args) == 2:
        base = ev.scalar(node.args[1])
    for k, v in node.kwargs:
        base = ev.scalar(v)
    if base is not None and not (math.isfinite(base) and base > 0 and base != 1):
        raise ev.error(f"the base of log() must be a positive number other than 1, not "
                       f"{format_r_number(base)}", node)
    with np.errstate(all="ignore"):
        out = np.log(x)
        if base is not None:
            out = out / math.log(base)
    _warn_nans(ev, node, x, out)
    return Numeric(out)


def _f_round(ev: "Evaluator", node: Call) -> Numeric:
    """R's ``round(x, digits = 0)``: half to even for whole numbers (``round(2.5)`` is 2); with digits,
    R 4's nearer-candidate rule (``round(0.15, 1)`` is 0.1), see :func:`~mixedmodels.rbase.rmath.r_round`."""
    a = ev.match_args(node, ("x", "digits"))
    x = ev.numeric(a.get("x"))
    digits = ev.number(a.get("digits"), "digits") if "digits" in a else 0.0
    return Numeric(r_round(x, digits))


def _f_sign(ev: "Evaluator", node: Call) -> Numeric:
    """R's ``sign(x)``: -1, 0 or 1 (NA stays NA)."""
    a = ev.match_args(node, ("x",))
    return Numeric(np.sign(ev.numeric(a.get("x"))))


def _f_as_integer(ev: "Evaluator", node: Call) -> Numeric:
    """R's ``as.integer(x)``: truncation towards zero; a logical gives 0/1, a factor its (1-based) codes;
    values beyond R's integer range become NA (with R's warning)."""
    a = ev.match_args(node, ("x",))
    v = ev.eval(a.get("x"))
    if isinstance(v, Factor):
        return _f_as_numeric_value(v)
    x = ev.single_column(v, a.get("x"))
    with np.errstate(invalid="ignore"):
        out = np.trunc(x)
        big = np.abs(out) > 2147483647
    if big.any():
        warn_r(f"{deparse(node)}: NAs introduced by coercion to integer range", UserWarning)
        out = np.where(big, np.nan, out)
    return Numeric(out)


def _f_is_na(ev: "Evaluator", node: Call) -> Factor:
    """R's ``is.na(x)``: a logical without missing values (so its rows are never dropped for it)."""
    a = ev.match_args(node, ("x",))
    v = ev.eval(a.get("x"))
    if isinstance(v, Factor):
        miss = v.missing
    else:
        miss = np.isnan(ev.single_column(v, a.get("x")))
    return _logical(miss, np.zeros(len(miss), dtype=bool))


def _parallel(ev: "Evaluator", node: Call, reduce_nan, reduce_skip) -> Numeric:
    """``pmin``/``pmax``: elementwise over any number of vectors and numbers (recycled); NA wins unless
    ``na.rm = TRUE``. Logicals count as 0/1 and the result is numeric (R gives an integer)."""
    a = ev.match_args(node, ("...", "na.rm"), required=0)
    if not a.dots:
        raise ev.error(f"{node.func}() needs at least one argument", node)
    na_rm = ev.boolean(a.get("na.rm")) if "na.rm" in a else False
    cols = []
    for arg in a.dots:
        v = ev.eval(arg)
        if isinstance(v, Factor) and not _is_logical(v):
            raise ev.error(f"{node.func}() of the factor '{deparse(arg)}': R compares numbers only", arg)
        cols.append(ev.single_column(v, arg))
    M = np.vstack(cols)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows with na.rm
        out = reduce_skip(M) if na_rm else reduce_nan(M)
    return Numeric(out)


def _f_pmin(ev: "Evaluator", node: Call):
    return _parallel(ev, node, lambda M: np.minimum.reduce(M, axis=0), lambda M: np.fmin.reduce(M, axis=0))


def _f_pmax(ev: "Evaluator", node: Call):
    return _parallel(ev, node, lambda M: np.maximum.reduce(M, axis=0), lambda M: np.fmax.reduce(M, axis=0))


def _r_mean(x: np.ndarray) -> float:
    """R's ``mean`` of doubles: the sum divided by n, then refined by the mean of the residuals."""
    n = len(x)
    if n == 0:
        return math.nan
    m = math.fsum(x) / n
    if math.isfinite(m):
        m += math.fsum(x - m) / n
    return m


def _summary_stat(stat: Callable[[np.ndarray], float], formals: tuple[str, ...]):
    """``mean``/``sd``/``median`` of a variable: one number over *all* rows of the data (R's model frame
    evaluates them before dropping incomplete rows), repeated on every row. A missing value makes it NA
    (and so every row incomplete) unless ``na.rm = TRUE``."""
    def apply(ev: "Evaluator", node: Call) -> Numeric:
        a = ev.match_args(node, formals)
        if "trim" in a:
            raise ev.error("mean(trim = ) is not supported", a.get("trim"))
        x = ev.numeric(a.get("x"))
        na_rm = ev.boolean(a.get("na.rm")) if "na.rm" in a else False
        if np.isnan(x).any() and not na_rm:
            value = math.nan
        else:
            value = stat(x[~np.isnan(x)])
        return Numeric(np.full(ev.n, value))
    return apply


def _sd(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1)) if len(x) > 1 else math.nan


def _median(x: np.ndarray) -> float:
    return float(np.median(x)) if len(x) else math.nan


def _f_identity(ev: "Evaluator", node: Call):
    ev.check_arity(node, 1, 1)
    v = ev.eval(node.args[0])
    return v


def _f_c(ev: "Evaluator", node: Call):
    raise ev.error("c() makes a vector of constants for a function's argument, as in "
                   "ns(x, knots = c(1, 2)); it cannot be a variable of the model", node)


def _f_as_numeric_value(v: Factor) -> Numeric:
    if v.levels == LOGICAL_LEVELS and not v.ordered:  # R: FALSE/TRUE are 0/1
        return Numeric(np.where(v.codes >= 0, v.codes.astype(float), np.nan))
    return Numeric(np.where(v.codes >= 0, v.codes + 1.0, np.nan))  # R: the integer codes, 1-based


def _f_as_numeric(ev: "Evaluator", node: Call) -> Numeric:
    ev.check_arity(node, 1, 1)
    v = ev.eval(node.args[0])
    if isinstance(v, Factor):
        return _f_as_numeric_value(v)
    return v


# ------------------------------------------------------------------------------------ factors
def _as_character(ev: "Evaluator", v, node: Node) -> tuple[np.ndarray, np.ndarray]:
    """R's ``as.character(x)`` of a variable: the labels (object array) and the missing rows."""
    if isinstance(v, Factor):
        return v.labels(), v.missing
    x = ev.single_column(v, node)
    miss = np.isnan(x)
    uniq, inv = np.unique(x[~miss], return_inverse=True)
    labels = np.full(len(x), "", dtype=object)
    labels[~miss] = np.asarray(r_level_labels(uniq), dtype=object)[inv] if len(uniq) else []
    return labels, miss


def _default_levels(ev: "Evaluator", v, node: Node) -> Factor:
    """``factor(x)`` without levels: a factor's levels in use (in its order), else the sorted values."""
    if isinstance(v, Factor):
        used = np.unique(v.codes[v.codes >= 0])
        remap = np.full(len(v.levels) + 1, -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return Factor(codes=np.where(v.codes >= 0, remap[v.codes], -1), levels=[v.levels[i] for i in used],
                      ordered=v.ordered)
    x = ev.single_column(v, node)
    return factor_from_series(pd.Series(x), deparse(node))


def _match_levels(labels: np.ndarray, missing: np.ndarray, levels: list[str]) -> np.ndarray:
    """R's ``match(as.character(x), levels)``: codes into ``levels`` (-1 for no match or missing)."""
    index = {lev: k for k, lev in enumerate(levels)}
    codes = np.array([index.get(s, -1) for s in labels], dtype=np.int64)
    codes[missing] = -1
    return codes


def _relabel(ev: "Evaluator", f: Factor, labels: list[str], node: Node) -> Factor:
    """``factor(..., labels = )``: one label per level (equal labels merge their levels) or a single
    prefix (``labels = "g"`` gives g1, g2, ...)."""
    k = len(f.levels)
    if len(labels) == 1 and k != 1:
        return Factor(f.codes, [f"{labels[0]}{j}" for j in range(1, k + 1)], f.ordered)
    if len(labels) != k:
        raise ev.error(f"invalid 'labels'; length {len(labels)} should be 1 or {k}", node)
    uniq = list(dict.fromkeys(labels))
    remap = np.array([uniq.index(lab) for lab in labels] + [-1], dtype=np.int64)
    return Factor(np.where(f.codes >= 0, remap[f.codes], -1), uniq, f.ordered)


_FACTOR_FORMALS = ("x", "levels", "labels", "exclude", "ordered", "nmax")


def _factor(ev: "Evaluator", a: Args, ordered: bool | None) -> Factor:
    """R's ``factor(x, levels, labels, ordered)``: ``levels`` (matched against ``as.character(x)``;
    values not among them become NA) in the order given, else the sorted values; ``labels`` rename the
    levels; ``ordered = TRUE`` gives polynomial contrasts."""
    for unsupported in ("exclude", "nmax"):
        if unsupported in a:
            raise ev.error(f"factor(): the argument {unsupported!r} is not supported", a.get(unsupported))
    xnode = a.get("x")
    v = ev.eval(xnode)
    if "levels" in a:
        levels = ev.strings(a.get("levels"), "levels")
        dup = [lev for k, lev in enumerate(levels) if lev in levels[:k]]
        if dup:
            raise ev.error(f"factor level {dup[0]!r} is duplicated", a.get("levels"))
        labels, miss = _as_character(ev, v, xnode)
        f = Factor(_match_levels(labels, miss, levels), list(levels),
                   isinstance(v, Factor) and v.ordered)
    else:
        f = _default_levels(ev, v, xnode)
    if "labels" in a:
        f = _relabel(ev, f, ev.strings(a.get("labels"), "labels"), a.get("labels"))
    if ordered is None:
        ordered = ev.boolean(a.get("ordered")) if "ordered" in a else (isinstance(v, Factor) and v.ordered)
    return Factor(f.codes, f.levels, bool(ordered))


def _f_factor(ev: "Evaluator", node: Call) -> Factor:
    return _factor(ev, ev.match_args(node, _FACTOR_FORMALS), None)


def _f_as_factor(ev: "Evaluator", node: Call) -> Factor:
    a = ev.match_args(node, ("x",))
    return _factor(ev, a, None)


def _f_ordered(ev: "Evaluator", node: Call) -> Factor:
    """R's ``ordered(x, ...)``, which is ``factor(x, ..., ordered = TRUE)``."""
    a = ev.match_args(node, tuple(f for f in _FACTOR_FORMALS if f != "ordered"))
    return _factor(ev, a, True)


def _f_relevel(ev: "Evaluator", node: Call) -> Factor:
    """R's ``relevel(x, ref)``: the level ``ref`` (a label, or a 1-based position) first, the others in
    their order; for unordered factors only."""
    a = ev.match_args(node, ("x", "ref"), required=2)
    v = ev.eval(a.get("x"))
    if not isinstance(v, Factor):
        raise ev.error("'relevel' only for (unordered) factors", a.get("x"))
    if v.ordered:
        raise ev.error("'relevel' only for unordered factors", a.get("x"))
    ref_node = a.get("ref")
    ref = ev.vector(ref_node)
    if len(ref) != 1:
        raise ev.error("'ref' must be of length one", ref_node)
    if isinstance(ref[0], str):
        if ref[0] not in v.levels:
            if ev.for_newdata:  # the order of the new data's levels does not matter (recoded by label)
                return v
            raise ev.error(f"'ref' must be an existing level ({', '.join(v.levels)})", ref_node)
        k = v.levels.index(ref[0])
    else:
        if not math.isfinite(ref[0]):
            raise ev.error(f"ref must be a level or a position in 1L:{len(v.levels)}", ref_node)
        k = int(ref[0]) - 1
        if not 0 <= k < len(v.levels) or ref[0] != int(ref[0]):
            raise ev.error(f"ref = {format_r_number(float(ref[0]))} must be in 1L:{len(v.levels)}", ref_node)
    order = [k] + [j for j in range(len(v.levels)) if j != k]
    remap = np.empty(len(order) + 1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    remap[-1] = -1
    return Factor(np.where(v.codes >= 0, remap[v.codes], -1), [v.levels[j] for j in order])


def _as_factor_value(ev: "Evaluator", v, node: Node) -> Factor:
    """R's ``as.factor``: a factor unchanged, a logical with the values it takes, numbers sorted."""
    if isinstance(v, Factor):
        if _is_logical(v):
            return _default_levels(ev, v, node)
        return v
    return _default_levels(ev, v, node)


def _f_interaction(ev: "Evaluator", node: Call) -> Factor:
    """R's ``interaction(..., drop = FALSE, sep = ".", lex.order = FALSE)``: the levels are every
    combination, the first factor varying fastest (the last with ``lex.order = TRUE``), labelled
    ``a.b``; unused combinations are kept unless ``drop`` (the model frame drops them anyway)."""
    a = ev.match_args(node, ("...", "drop", "sep", "lex.order"), required=0)
    if not a.dots:
        raise ev.error("No factors specified", node)
    drop = ev.boolean(a.get("drop")) if "drop" in a else False
    sep = ev.string(a.get("sep"), "sep") if "sep" in a else "."
    lex = ev.boolean(a.get("lex.order")) if "lex.order" in a else False
    factors = [_as_factor_value(ev, ev.eval(arg), arg) for arg in a.dots]
    ncomb = 1
    for f in factors:
        ncomb *= max(1, len(f.levels))
        if ncomb > MAX_COUNT:
            raise ev.error(f"interaction() of these factors has more than {MAX_COUNT:,} level combinations", node)
    missing = np.zeros(ev.n, dtype=bool)
    ans: np.ndarray | None = None
    lvs: list[str] = []
    for i in range(len(factors) - 1, -1, -1):
        f = factors[i]
        if drop:
            f = _default_levels(ev, f, a.dots[i])
        missing |= f.missing
        if1 = np.where(f.codes >= 0, f.codes, 0)
        lev = f.levels
        if ans is None:
            ans, lvs = if1, list(lev)
            continue
        if lex:
            ans = ans + len(lvs) * if1
            lvs = [f"{l1}{sep}{l2}" for l1 in lev for l2 in lvs]
        else:
            ans = ans * len(lev) + if1
            lvs = [f"{l1}{sep}{l2}" for l2 in lvs for l1 in lev]
        uniq = list(dict.fromkeys(lvs))
        if len(uniq) < len(lvs):  # equal labels from different combinations are one level (R)
            pos = {u: k for k, u in enumerate(uniq)}
            ans = np.array([pos[s] for s in lvs], dtype=np.int64)[ans]
            lvs = uniq
        if drop:
            used = np.unique(ans[~missing])
            remap = np.full(len(lvs), -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            ans, lvs = remap[ans], [lvs[k] for k in used]
    return Factor(np.where(missing, -1, ans), lvs)


def _cut_breaks(ev: "Evaluator", x: np.ndarray, breaks: list[float], node: Node) -> np.ndarray:
    """``cut``'s break points: a number of intervals gives equal-width intervals over the range of x,
    widened by 0.1% of the range at both ends (R: ``dx/1000``); a vector is sorted."""
    if len(breaks) == 1:
        nint = breaks[0]
        if math.isnan(nint) or nint < 2:
            raise ev.error("invalid number of intervals", node)
        limit = min(MAX_COUNT, max(100 * ev.n, 1000))
        if not math.isfinite(nint) or nint > limit:
            why = "the most for any data" if limit == MAX_COUNT else \
                f"100 per row of the data, which has {ev.n:,} rows" if limit > 1000 else \
                "1,000 for data of up to 10 rows"
            raise ev.error(f"cut() into {format_r_number(nint)} intervals: at most {limit:,} intervals can be "
                           f"built here ({why})", node)
        nb = int(nint + 1)
        ok = x[~np.isnan(x)]
        if len(ok) == 0:
            raise ev.error("cut(): no non-missing values to take the range of", node)
        lo, hi = float(ok.min()), float(ok.max())
        dx = hi - lo
        if dx == 0:
            dx = abs(lo) if lo != 0 else 1.0
            return seq_length_out(lo - dx / 1000, hi + dx / 1000, nb)
        out = seq_length_out(lo, hi, nb)
        out[0], out[-1] = lo - dx / 1000, hi + dx / 1000
        return out
    out = np.sort(np.asarray(breaks, dtype=float))
    if len(np.unique(out)) < len(out):
        raise ev.error("'breaks' are not unique", node)
    if len(out) < 2:
        raise ev.error("cut() needs at least two break points", node)
    return out


def _cut_labels(breaks: np.ndarray, right: bool, include_lowest: bool, dig_lab: int) -> list[str]:
    """R's interval labels: ``(a,b]`` (``[a,b)`` when not ``right``) with the breaks written by
    ``formatC(digits = d)`` for the smallest d >= dig.lab (up to 12) that tells them all apart."""
    nb = len(breaks)
    ch: list[str] = []
    ok = False
    for dig in range(dig_lab, max(12, dig_lab) + 1):
        ch = format_c(0.0 + np.asarray(breaks, dtype=float), digits=dig, width=1)  # formatC(0+breaks, ...)
        ok = all(ch[k + 1] != ch[k] for k in range(nb - 1))
        if ok:
            break
    if not ok:
        return [f"Range_{k}" for k in range(1, nb)]
    labels = [("(" if right else "[") + f"{ch[k]},{ch[k + 1]}" + ("]" if right else ")") for k in range(nb - 1)]
    if include_lowest:
        if right:
            labels[0] = "[" + labels[0][1:]
        else:
            labels[-1] = labels[-1][:-1] + "]"
    return labels


def _f_cut(ev: "Evaluator", node: Call):
    """R's ``cut(x, breaks, labels = NULL, include.lowest = FALSE, right = TRUE, dig.lab = 3,
    ordered_result = FALSE)``: a factor of intervals (R's labels), or the interval numbers with
    ``labels = FALSE``. Not stateful: on new data a number of breaks is taken over the new values, as
    in R."""
    a = ev.match_args(node, ("x", "breaks", "labels", "include.lowest", "right", "dig.lab", "ordered_result"),
                      required=2)
    xnode = a.get("x")
    v = ev.eval(xnode)
    if isinstance(v, Factor):
        raise ev.error("'x' must be numeric", xnode)
    x = ev.single_column(v, xnode)
    breaks = _cut_breaks(ev, x, ev.numbers(a.get("breaks"), "breaks"), a.get("breaks"))
    right = ev.boolean(a.get("right")) if "right" in a else True
    include_lowest = ev.boolean(a.get("include.lowest")) if "include.lowest" in a else False
    dig_lab = ev.whole(a.get("dig.lab"), "dig.lab", 1) if "dig.lab" in a else 3
    if dig_lab > 22:
        raise ev.error("'dig.lab' must be at most 22 (R's formatC digits)", a.get("dig.lab"))
    ordered = ev.boolean(a.get("ordered_result")) if "ordered_result" in a else False
    codes = bincode(x, breaks, right, include_lowest)
    lab_node = a.get("labels")
    if lab_node is not None and isinstance(_strip(lab_node), Name) and _strip(lab_node).id in ("FALSE", "F"):
        return Numeric(np.where(codes > 0, codes.astype(float), np.nan))
    if lab_node is None:
        labels = _cut_labels(breaks, right, include_lowest, dig_lab)
    else:
        labels = ev.strings(lab_node, "labels")
        if len(labels) != len(breaks) - 1:
            raise ev.error("lengths of 'breaks' and 'labels' differ", lab_node)
    f = _relabel(ev, Factor(codes - 1, [str(k) for k in range(len(labels))]), labels, node)
    return Factor(f.codes, f.levels, ordered)


# ------------------------------------------------------------------------------------ stateful transformations
def _f_scale(ev: "Evaluator", node: Call) -> Numeric:
    """R's ``scale(x, center = TRUE, scale = TRUE)``: ``center`` and ``scale`` are TRUE/FALSE or numbers;
    ``scale = TRUE`` divides by the root mean square of the centred values (the standard deviation when
    centred on the mean). On new data the training center and scale are used (R's makepredictcall),
    except for ``base::scale``, which R's makepredictcall does not recognise."""
    a = ev.match_args(node, ("x", "center", "scale"))
    x = ev.numeric(a.get("x"))
    saved = ev.saved(node)
    if saved is not None:
        with np.errstate(all="ignore"):
            return Numeric((x - saved["center"]) / saved["scale"], None, saved)
    opts: dict[str, bool | float] = {"center": True, "scale": True}
    for k in ("center", "scale"):
        if k in a:
            opts[k] = ev.flag_or_number(a.get(k), k)
    ok = ~np.isnan(x)
    c = opts["center"]
    center = float(x[ok].mean()) if c is True else (0.0 if c is False else float(c))
    xc = x - center
    s = opts["scale"]
    if s is True:
        m = ok.sum()
        scale = float(np.sqrt((xc[ok] ** 2).sum() / max(m - 1, 1)))
        if scale == 0 or not np.isfinite(scale):
            raise ev.error(f"scale() of '{deparse(a.get('x'))}': the variable is constant (standard "
                           "deviation 0), so it cannot be scaled", node)
    else:
        scale = 1.0 if s is False else float(s)
    with np.errstate(all="ignore"):
        return Numeric(xc / scale, None, {"center": center, "scale": scale})


def _poly(x: np.ndarray, degree: int, raw: bool, node: Node, text: str) -> Numeric:
    """R's ``poly(x, degree)``: orthogonal polynomials (or raw powers with ``raw = TRUE``)."""
    if np.isnan(x).any():
        raise FormulaError("missing values are not allowed in 'poly'", text, node.start, node.end)
    if degree >= len(np.unique(x)):  # R checks this before the raw branch too
        raise FormulaError("'degree' must be less than number of unique points", text,
                           node.start, node.end)
    if raw:
        vals = np.column_stack([x ** k for k in range(1, degree + 1)])
        return Numeric(vals, column_suffixes(degree), {"raw": True})
    if degree >= len(np.unique(x)):
        raise FormulaError("'degree' must be less than the number of unique points", text,
                           node.start, node.end)
    xbar = x.mean()
    xc = x - xbar
    X = np.column_stack([xc ** k for k in range(degree + 1)])
    q, r = np.linalg.qr(X)
    Z = q * np.diag(r)  # Gram-Schmidt components, sign-free
    norm2 = (Z ** 2).sum(axis=0)
    alpha = ((xc[:, None] * Z ** 2).sum(axis=0) / norm2 + xbar)[:degree]
    Z = Z / np.sqrt(norm2)
    return Numeric(Z[:, 1:], column_suffixes(degree),
                   {"alpha": alpha, "norm2": np.concatenate([[1.0], norm2])})


def predict_poly(x: np.ndarray, coefs: dict, degree: int) -> np.ndarray:
    """R's ``predict.poly`` three-term recurrence with the training ``alpha`` and ``norm2``
    (NaN rows stay NaN, as R's ``poly(x, coefs = ...)`` allows)."""
    if coefs.get("raw"):
        return np.column_stack([x ** k for k in range(1, degree + 1)])
    alpha = np.asarray(coefs["alpha"], dtype=float)
    norm2 = np.asarray(coefs["norm2"], dtype=float)
    Z = np.ones((len(x), degree + 1))
    Z[:, 1] = x - alpha[0]
    for i in range(1, degree):
        Z[:, i + 1] = (x - alpha[i]) * Z[:, i] - (norm2[i + 1] / norm2[i]) * Z[:, i - 1]
    Z = Z / np.sqrt(norm2[1:])
    return Z[:, 1:]


def _polym_exponents(nvar: int, degree: int) -> list[tuple[int, ...]]:
    """``polym``'s columns: the exponent tuples of ``expand.grid(0:degree, ...)`` (first variable
    fastest) with a total degree between 1 and ``degree``."""
    out = []
    for combo in itertools.product(range(degree + 1), repeat=nvar):
        z = combo[::-1]
        if 0 < sum(z) <= degree:
            out.append(z)
    return out


def _polym(ev: "Evaluator", node: Call, xs: list[np.ndarray], degree: int, raw: bool) -> Numeric:
    """R's ``polym(x, z, ..., degree)`` (what ``poly(x, z, degree = 2)`` calls): the products of the
    variables' polynomials with total degree at most ``degree``, named ``1.0``, ``2.0``, ``0.1``, ...;
    on new data each variable's training coefficients are used."""
    saved = ev.saved(node)
    bases = []
    for k, x in enumerate(xs):
        if saved is not None:
            b = predict_poly(x, saved["vars"][k], degree)
            bases.append(Numeric(b, None, saved["vars"][k]))
        else:
            bases.append(_poly(x, degree, raw, node, ev.text))
    exps = _polym_exponents(len(xs), degree)
    cols = []
    for z in exps:
        col = np.ones(ev.n)
        for k, e in enumerate(z):
            if e:
                col = col * bases[k].matrix[:, e - 1]
        cols.append(col)
    coefs = {"vars": [b.coefs for b in bases], "raw": raw}
    return Numeric(np.column_stack(cols), [".".join(str(e) for e in z) for z in exps], coefs)


def _f_poly(ev: "Evaluator", node: Call) -> Numeric:
    """R's ``poly(x, ..., degree = 1, raw = FALSE)``: one variable gives orthogonal (or raw) polynomials;
    a single number after x is the degree; further variables make it ``polym``."""
    a = ev.match_args(node, ("x", "...", "degree", "raw"))
    raw = ev.boolean(a.get("raw")) if "raw" in a else False
    degree = ev.whole(a.get("degree"), "degree", 1) if "degree" in a else 1
    variables = [a.get("x")]
    if len(a.dots) == 1 and ev.is_constant(a.dots[0]):
        degree = ev.whole(a.dots[0], "degree", 1)
    elif a.dots:
        for d in a.dots:
            if ev.is_constant(d):
                raise ev.error(f"poly() with several variables takes '{deparse(d)}' as one more variable "
                               "(R's polym); give the degree by name: degree = " + deparse(d), d)
        variables += a.dots
    if degree < 1:
        raise ev.error("'degree' must be at least 1", node)
    xs = [ev.numeric(v) for v in variables]
    if len(xs) > 1:
        return _polym(ev, node, xs, degree, raw)
    saved = ev.saved(node)
    if saved is not None:
        return Numeric(predict_poly(xs[0], saved, degree), column_suffixes(degree), saved)
    return _poly(xs[0], degree, raw, node, ev.text)


def _spline(kind: str):
    """``splines::ns`` / ``splines::bs``: the basis of R's functions (see :mod:`mixedmodels.rbase.splines`),
    columns named ``1, 2, ...``; on new data the training knots, boundary knots and intercept (R's
    makepredictcall), so values beyond the boundary knots are R's extrapolation."""
    formals = ("x", "df", "knots", "intercept", "Boundary.knots") if kind == "ns" else \
        ("x", "df", "knots", "degree", "intercept", "Boundary.knots")

    def apply(ev: "Evaluator", node: Call) -> Numeric:
        a = ev.match_args(node, formals)
        x = ev.numeric(a.get("x"))
        saved = ev.saved(node)
        if saved is not None:
            spec = SplineSpec(knots=saved["knots"], boundary=saved["boundary"], intercept=saved["intercept"],
                              degree=saved.get("degree", 3))
        else:
            spec = SplineSpec(intercept=ev.boolean(a.get("intercept")) if "intercept" in a else False)
            if "df" in a:
                spec.df = ev.whole(a.get("df"), "df", 1)
                if spec.df > max(ev.n, 1):
                    raise ev.error(f"df = {spec.df} is more than the number of rows ({ev.n})", a.get("df"))
            if "knots" in a:
                spec.knots = ev.numbers(a.get("knots"), "knots")
                if len(spec.knots) > max(ev.n, 1):
                    raise ev.error(f"{len(spec.knots)} knots are more than the number of rows ({ev.n})",
                                   a.get("knots"))
            if "degree" in a:
                spec.degree = ev.whole(a.get("degree"), "degree", 1)
                if spec.degree > max(ev.n, 1):
                    raise ev.error(f"degree = {spec.degree} is more than the number of rows ({ev.n})",
                                   a.get("degree"))
            if "Boundary.knots" in a:
                bk = ev.numbers(a.get("Boundary.knots"), "Boundary.knots")
                if len(bk) != 2:
                    raise ev.error("'Boundary.knots' must be two numbers", a.get("Boundary.knots"))
                spec.boundary = bk
            if spec.knots is not None and not np.all(np.isfinite(spec.knots)):
                raise ev.error("'knots' must be finite numbers", a.get("knots"))
        if not np.isfinite(x[~np.isnan(x)]).all():
            raise ev.error(f"{kind}() of '{deparse(a.get('x'))}': infinite values", node)
        try:
            basis, state = (ns_basis if kind == "ns" else bs_basis)(x, spec)
        except ValueError as exc:
            raise ev.error(f"{kind}(): {exc}", node) from None
        return Numeric(basis, column_suffixes(basis.shape[1]), state)
    return apply


def _f_xor(ev: "Evaluator", node: Call) -> Factor:
    """R's ``xor(x, y)``: TRUE where exactly one is TRUE; NA where either is NA."""
    if len(node.args) != 2 or node.kwargs:
        raise ev.error("xor() takes two arguments", node)
    a, b = ev.numeric(node.args[0]), ev.numeric(node.args[1])
    missing = np.isnan(a) | np.isnan(b)
    with np.errstate(invalid="ignore"):
        return _logical((a != 0) != (b != 0), missing)


FUNCTIONS: dict[str, Callable] = {
    "I": _f_identity,
    "log": _f_log,
    "log10": _unary_math(np.log10),
    "log2": _unary_math(np.log2),
    "log1p": _unary_math(np.log1p),
    "exp": _unary_math(np.exp),
    "expm1": _unary_math(np.expm1),
    "sqrt": _unary_math(np.sqrt),
    "abs": _unary_math(np.abs),
    "sin": _unary_math(np.sin),
    "cos": _unary_math(np.cos),
    "tan": _unary_math(np.tan),
    "floor": _unary_math(np.floor),
    "ceiling": _unary_math(np.ceil),
    "trunc": _unary_math(np.trunc),
    "round": _f_round,
    "sign": _f_sign,
    "pmin": _f_pmin,
    "pmax": _f_pmax,
    "mean": _summary_stat(_r_mean, ("x", "trim", "na.rm")),
    "sd": _summary_stat(_sd, ("x", "na.rm")),
    "median": _summary_stat(_median, ("x", "na.rm")),
    "is.na": _f_is_na,
    "c": _f_c,
    "xor": _f_xor,
    "factor": _f_factor,
    "as.factor": _f_as_factor,
    "ordered": _f_ordered,
    "relevel": _f_relevel,
    "interaction": _f_interaction,
    "cut": _f_cut,
    "as.numeric": _f_as_numeric,
    "as.integer": _f_as_integer,
    "scale": _f_scale,
    "poly": _f_poly,
    "ns": _spline("ns"),
    "bs": _spline("bs"),
}
"""The functions a formula may call (names as in R)."""

NAMESPACES: dict[str, frozenset[str]] = {
    "base": frozenset({"I", "log", "log10", "log2", "log1p", "exp", "expm1", "sqrt", "abs", "sin", "cos", "tan",
                       "floor", "ceiling", "trunc", "round", "sign", "pmin", "pmax", "mean", "is.na", "c",
                       "xor", "factor", "as.factor", "ordered", "interaction", "cut", "as.numeric", "as.integer",
                       "scale"}),
    "stats": frozenset({"sd", "median", "relevel", "poly"}),
    "splines": frozenset({"ns", "bs"}),
}
"""The functions that may be written with their package, ``pkg::fun(...)`` (R's packages of each)."""


_ELEMENTWISE = {"I", "log", "log10", "log2", "log1p", "exp", "expm1", "sqrt", "abs", "sin", "cos", "tan", "floor",
                "ceiling", "trunc", "round", "sign", "as.numeric", "as.integer", "is.na", "xor"}


def is_stateful(node: Call) -> bool:
    """Whether R's ``makepredictcall`` keeps the training parameters of this call for new data: ``poly``,
    ``ns``, ``bs`` (also written ``stats::poly``, ``splines::ns``, ...) and plain ``scale`` (R's default
    method compares the function's name with "scale", so ``base::scale`` is re-evaluated on new data)."""
    return node.func in ("poly", "ns", "bs") or (node.func == "scale" and not node.pkg)


_COMPARE = {"==": np.equal, "!=": np.not_equal, "<": np.less, ">": np.greater, "<=": np.less_equal,
            ">=": np.greater_equal}
LOGICAL_LEVELS = ["FALSE", "TRUE"]


def _is_logical(v) -> bool:
    """An R logical vector: a factor with levels FALSE, TRUE (a logical column or a comparison)."""
    return isinstance(v, Factor) and v.levels == LOGICAL_LEVELS and not v.ordered


def _logical(values: np.ndarray, missing: np.ndarray) -> Factor:
    """An R logical vector: in a model matrix it is a factor with levels FALSE, TRUE (``xTRUE``)."""
    return Factor(codes=np.where(missing, -1, values.astype(np.int64)), levels=list(LOGICAL_LEVELS))


_ARITH = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
    "%%": lambda a, b: a - np.floor(a / b) * b, "%/%": lambda a, b: np.floor(a / b),
}
_CONSTANTS = {"pi": math.pi, "Inf": math.inf}


class Evaluator:
    """Evaluates variable expressions of one formula against one DataFrame (read only).

    ``predvars`` (new data only) holds the training parameters of the stateful calls, keyed by the
    call's deparsed text (R's ``predvars``); they apply to the variables of the model frame, not to calls
    nested in other expressions, as in R.
    """

    def __init__(self, data: pd.DataFrame, text: str, predvars: dict[str, dict] | None = None):
        self.data = data
        self.text = text
        self.n = len(data)
        self.predvars = predvars
        self._columns = {str(c): c for c in data.columns.tolist()}  # tolist: iterating an Index is slow
        self._factors: dict[str, Factor] = {}  # columns already turned into factors (never modified)
        self._string_columns: set[str] = set()  # ... of them, those of text (what new data re-reads)
        # columns made factors because of their type although they may be meant as numbers (text that
        # looks numeric, pandas Periods): named when the model cannot be built
        self.type_notes: dict[str, str] = {}
        self._variable: Node | None = None

    @property
    def for_newdata(self) -> bool:
        return self.predvars is not None

    # -- helpers used by the function table
    def error(self, msg: str, node: Node) -> FormulaError:
        return FormulaError(msg, self.text, node.start, node.end)

    def check_arity(self, node: Call, lo: int, hi: int, allowed_kw: tuple = ()) -> None:
        for k, v in node.kwargs:
            if k not in allowed_kw:
                raise self._name_error(f"{node.func}() has no argument {k!r}", k, v)
        total = len(node.args) + len(node.kwargs)
        if not lo <= total <= hi or len(node.args) < 1:
            raise self.error(f"{node.func}() takes {lo}" + (f" to {hi}" if hi > lo else "")
                             + " argument" + ("s" if hi > 1 else ""), node)

    def _name_error(self, msg: str, name: str, value: Node) -> FormulaError:
        """An error with the caret under an argument's name (``df`` of ``df = 3``)."""
        pos = self.text.rfind(name, 0, value.start)
        if pos < 0:
            return self.error(msg, value)
        return FormulaError(msg, self.text, pos, pos + len(name))

    def match_args(self, node: Call, formals: tuple[str, ...], required: int = 1) -> Args:
        """R's argument matching for ``node``: exact names, then unique partial names (only for the
        formals before ``...``), then positions (up to ``...``; the rest go to ``...``). ``NULL`` counts
        as not given. ``required`` leading formals must be given."""
        fname = node.func
        dots_at = formals.index("...") if "..." in formals else len(formals)
        names = [f for f in formals if f != "..."]
        given: dict[str, Node] = {}
        pending: list[tuple[str, Node]] = []
        for k, v in node.kwargs:
            if k in names:
                if k in given:
                    raise self._name_error(f"formal argument {k!r} matched by multiple actual arguments", k, v)
                given[k] = v
            else:
                pending.append((k, v))
        for k, v in pending:
            cands = [f for f in formals[:dots_at] if f.startswith(k) and f not in given]
            if len(cands) == 1:
                given[cands[0]] = v
            elif len(cands) > 1:
                raise self._name_error(f"argument {k!r} of {fname}() matches several arguments "
                                       f"({', '.join(cands)})", k, v)
            else:
                raise self._name_error(f"{fname}() has no argument {k!r} (its arguments: "
                                       f"{', '.join(names)})", k, v)
        dots: list[Node] = []
        free = [f for f in formals[:dots_at] if f not in given]
        for v in node.args:
            if free:
                given[free.pop(0)] = v
            elif dots_at < len(formals):
                dots.append(v)
            else:
                raise self.error(f"{fname}() takes at most {len(names)} argument"
                                 f"{'s' if len(names) > 1 else ''} ({', '.join(names)})", v)
        given = {k: v for k, v in given.items() if not _is_null(v)}
        for f in formals[:min(required, dots_at)]:
            if f not in given:
                raise self.error(f"{fname}(): argument {f!r} is missing", node)
        return Args(node, given, dots)

    def single_column(self, v, node: Node) -> np.ndarray:
        """The values of a one-column numeric variable (a logical counts as 0/1)."""
        if isinstance(v, Factor):
            if _is_logical(v):
                return np.where(v.codes >= 0, v.codes.astype(float), np.nan)
            raise self.error(f"'{deparse(node)}' is a factor; a numeric variable is needed here", node)
        m = v.matrix
        if m.shape[1] != 1:
            raise self.error(f"'{deparse(node)}' has several columns here", node)
        return m[:, 0]

    def numeric(self, node: Node) -> np.ndarray:
        v = self.eval(node)
        if isinstance(v, Factor) and v.levels == LOGICAL_LEVELS:  # R: TRUE/FALSE count as 1/0
            return np.where(v.codes >= 0, v.codes.astype(float), np.nan)
        if isinstance(v, Factor):
            raise self.error(f"'{deparse(node)}' is a factor; arithmetic needs a numeric variable", node)
        m = v.matrix
        if m.shape[1] != 1:
            raise self.error(f"'{deparse(node)}' has several columns here", node)
        return m[:, 0]

    def is_constant(self, node: Node) -> bool:
        """A literal number or vector of constants (``2``, ``-1``, ``c(1, 2)``, ``1:3``), not a column."""
        try:
            self.vector(node)
        except FormulaError:
            return False
        return True

    def vector(self, node: Node) -> list:
        """A constant argument: a number, a string, TRUE/FALSE, ``c(...)`` of these or ``a:b``, as a
        list of floats, strings and bools (R's coercion: with a string present everything is a string)."""
        inner = _strip(node)
        if isinstance(inner, Num):
            return [inner.value]
        if isinstance(inner, Str):
            return [inner.value]
        if isinstance(inner, UnaryOp) and inner.op in ("-", "+"):
            vals = self.vector(inner.operand)
            if not all(isinstance(v, float) for v in vals):
                raise self.error("a number is expected after the sign", inner)
            return [-v for v in vals] if inner.op == "-" else vals
        if isinstance(inner, Name) and not inner.quoted:
            if inner.id in ("TRUE", "T"):
                return [True]
            if inner.id in ("FALSE", "F"):
                return [False]
            if inner.id in _CONSTANTS and inner.id not in self._columns:
                return [_CONSTANTS[inner.id]]
        if isinstance(inner, Call) and inner.func == "c" and inner.pkg in ("", "base"):
            if inner.kwargs:
                raise self.error("c() with named elements is not supported here", inner)
            out: list = []
            for arg in inner.args:
                out.extend(self.vector(arg))
            if any(isinstance(v, str) for v in out):
                out = [_as_string(v) for v in out]
            return out
        if isinstance(inner, BinOp) and inner.op == ":":
            a, b = self.number(inner.left, "from"), self.number(inner.right, "to")
            if not (math.isfinite(a) and math.isfinite(b)) or abs(b - a) >= MAX_COUNT:
                raise self.error(f"the sequence {deparse(inner)} is infinite or longer than {MAX_COUNT:,}", inner)
            step = 1.0 if b >= a else -1.0
            return [a + k * step for k in range(int(math.floor(abs(b - a) + 1e-10)) + 1)]
        raise self.error("a constant is expected here: a number, a string, TRUE/FALSE or c(...) of them", node)

    def number(self, node: Node, what: str) -> float:
        vals = self.vector(node)
        if len(vals) != 1 or not isinstance(vals[0], float):
            raise self.error(f"'{what}' must be one number", node)
        return vals[0]

    def whole(self, node: Node, what: str, lo: int) -> int:
        """A whole number >= lo (R's integer arguments such as ``df``, ``degree``), at most MAX_COUNT
        (a bound on what a formula may ask to build: columns, breaks, levels)."""
        value = self.number(node, what)
        if not math.isfinite(value) or value != math.floor(value) or value < lo:
            raise self.error(f"'{what}' must be a whole number of at least {lo}", node)
        if value > MAX_COUNT:
            raise self.error(f"'{what}' = {format_r_number(value)} is beyond what a formula may build "
                             f"here (at most {MAX_COUNT:,})", node)
        return int(value)

    def numbers(self, node: Node, what: str) -> list[float]:
        vals = self.vector(node)
        if not all(isinstance(v, float) for v in vals):
            raise self.error(f"'{what}' must be numbers", node)
        return vals

    def strings(self, node: Node, what: str) -> list[str]:
        """A vector of labels, as R's ``as.character`` (numbers as R writes them, TRUE/FALSE)."""
        return [_as_string(v) for v in self.vector(node)]

    def string(self, node: Node, what: str) -> str:
        vals = self.vector(node)
        if len(vals) != 1 or not isinstance(vals[0], str):
            raise self.error(f"'{what}' must be one string", node)
        return vals[0]

    def flag_or_number(self, node: Node, what: str) -> bool | float:
        vals = self.vector(node)
        if len(vals) != 1:
            raise self.error(f"'{what}' must be TRUE, FALSE or one number", node)
        if isinstance(vals[0], str):
            raise self.error(f"'{what}' must be TRUE, FALSE or one number", node)
        return vals[0]

    def scalar(self, node: Node) -> float:
        inner = _strip(node)
        if isinstance(inner, Num):
            return inner.value
        if isinstance(inner, UnaryOp) and inner.op == "-" and isinstance(inner.operand, Num):
            return -inner.operand.value
        if isinstance(inner, Name) and inner.id == "pi":
            return math.pi
        raise self.error("a number is expected here", node)

    def boolean(self, node: Node) -> bool:
        inner = _strip(node)
        if isinstance(inner, Name) and inner.id in ("TRUE", "T"):
            return True
        if isinstance(inner, Name) and inner.id in ("FALSE", "F"):
            return False
        raise self.error("TRUE or FALSE is expected here", node)

    def saved(self, node: Call) -> dict | None:
        """The training parameters of a stateful call when it is the model-frame variable being
        evaluated on new data (R's predvars), else None."""
        if self.predvars is None or node is not self._variable:
            return None
        return self.predvars.get(deparse(node))

    def string_column_levels(self) -> dict[str, list[str]]:
        """The levels of the string columns (not categorical, numeric or logical) read so far, by name:
        what a factor column of an R data frame keeps for new data."""
        return {name: list(fac.levels) for name, fac in self._factors.items() if name in self._string_columns}

    def column(self, node: Name):
        key = self._columns.get(node.id)
        if key is None:
            if node.id in _CONSTANTS and not node.quoted:
                return Numeric(np.full(self.n, _CONSTANTS[node.id]))
            close = difflib.get_close_matches(node.id, list(self._columns), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise self.error(f"unknown column {node.id!r}{hint}", node)
        if node.id in self._factors:  # e.g. the 'batch' of (1 | batch/cask), used twice
            return self._factors[node.id]
        s = self.data[key]
        if isinstance(s, pd.DataFrame):
            raise DataError(f"the data have more than one column named {node.id!r}")
        dtype = s.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "fiu":
            # the common case, a NumPy integer or float column: its values as floats (a copy), no checks
            return Numeric(np.array(s.to_numpy(), dtype=float))
        if isinstance(dtype, pd.CategoricalDtype):  # a factor as it is (no type note: it is meant as one)
            fac = self._factors[node.id] = factor_from_series(s, node.id)
            return fac
        if pd.api.types.is_complex_dtype(s.dtype):
            raise DataError(f"column {node.id!r} holds complex numbers; a model needs real numbers")
        if s.dtype == object and all_real_numbers(s):
            # an object column that holds only numbers (Decimal and Fraction too) is numeric (R's
            # read.csv would read it so)
            return Numeric(real_numbers_as_float(s))
        if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s.dtype) \
                or pd.api.types.is_bool_dtype(s.dtype):
            if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
                raise self.error(f"column {node.id!r} holds dates or times; convert it to numbers first", node)
            fac = self._factors[node.id] = factor_from_series(s, node.id)
            if not (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(s.dtype)
                    or pd.api.types.is_bool_dtype(s.dtype)):
                self._string_columns.add(node.id)
            note = _type_note(node.id, s, len(fac.levels))
            if note:
                self.type_notes[node.id] = note
            return fac
        return Numeric(s.to_numpy(dtype=float, na_value=np.nan).copy())

    def _compare(self, node: BinOp) -> Factor:
        """``x > 5``, ``Sex == "Male"``: an R logical vector."""
        sides = []
        for side in (node.left, node.right):
            if isinstance(side, Str):
                sides.append(side.value)
            else:
                sides.append(self.eval(side))
        if any(_is_logical(v) for v in sides) and not any(isinstance(v, str) for v in sides) and \
                all(_is_logical(v) or isinstance(v, Numeric) for v in sides):
            # a logical against TRUE / FALSE / a number: R compares numerically (TRUE is 1)
            a, b = (self._logical_as_number(v) for v in sides)
            with np.errstate(invalid="ignore"):
                out = _COMPARE[node.op](a, b)
            return _logical(out, np.isnan(a) | np.isnan(b))
        if any(isinstance(v, (Factor, str)) for v in sides):
            if node.op not in ("==", "!="):
                raise self.error(f"'{node.op}' compares numbers; a factor can only be tested with == or !=",
                                 node)
            labels, missing = [], np.zeros(self.n, dtype=bool)
            for v in sides:
                if isinstance(v, str):
                    labels.append(np.full(self.n, v, dtype=object))
                elif isinstance(v, Factor):
                    labels.append(v.labels())
                    missing |= v.missing
                else:
                    x = v.matrix[:, 0]
                    labels.append(np.array(r_level_labels(x), dtype=object))
                    missing |= np.isnan(x)
            eq = labels[0] == labels[1]
            return _logical(eq if node.op == "==" else ~eq, missing)
        a, b = (v.matrix[:, 0] for v in sides)
        with np.errstate(invalid="ignore"):
            out = _COMPARE[node.op](a, b)
        return _logical(out, np.isnan(a) | np.isnan(b))

    def _not(self, node: UnaryOp) -> Factor:
        """R's ``!x``: logical negation; a number is TRUE when non-zero (``!x`` is ``x == 0``); NA stays NA."""
        v = self.eval(node.operand)
        if _is_logical(v):
            return _logical(v.codes == 0, v.missing)
        if isinstance(v, Factor):
            raise self.error(f"invalid argument type: '!' needs a logical or a number, and "
                             f"'{deparse(node.operand)}' is a factor", node)
        x = self.single_column(v, node.operand)
        with np.errstate(invalid="ignore"):
            return _logical(x == 0, np.isnan(x))

    def _in(self, node: BinOp) -> Factor:
        """R's ``x %in% c(...)``: TRUE where x's value is in the set (never NA: a missing x is FALSE
        unless NA is in the set)."""
        left = self.eval(node.left)
        table = self.vector(node.right)
        if isinstance(left, Factor):
            labels = left.labels()
            wanted = {_as_string(v) for v in table}
            hit = np.array([c >= 0 and lab in wanted for c, lab in zip(left.codes, labels)], dtype=bool)
        else:
            x = left.matrix[:, 0]
            nums = [float(v) for v in table if not isinstance(v, str)]
            strs = {v for v in table if isinstance(v, str)}
            hit = np.isin(x, nums) if nums else np.zeros(len(x), dtype=bool)
            if strs:
                hit |= np.array([format_r_number(v) in strs for v in x], dtype=bool)
        return _logical(hit, np.zeros(len(hit), dtype=bool))

    @staticmethod
    def _logical_as_number(v) -> np.ndarray:
        if isinstance(v, Factor):
            return np.where(v.codes >= 0, v.codes.astype(float), np.nan)
        return v.matrix[:, 0]

    # -- the interpreter
    def eval_variable(self, node: Node):
        """Evaluate a variable of the model frame (a term's atom such as ``ns(x, 3)``): on new data its
        stateful call uses the training parameters (R's ``makepredictcall`` works on these only)."""
        previous, self._variable = self._variable, node
        try:
            return self.eval(node)
        finally:
            self._variable = previous

    def length_one(self, node: Node) -> bool:
        """Whether R would evaluate ``node`` to a single number (a literal, ``pi``, ``mean(x)``, arithmetic
        and elementwise functions of such): as a variable of the model frame R refuses it ("variable
        lengths differ")."""
        node = _strip(node)
        if isinstance(node, (Num, Str)):
            return True
        if isinstance(node, Name):
            return node.id in ("TRUE", "FALSE", "T", "F", *_CONSTANTS) and node.id not in self._columns
        if isinstance(node, UnaryOp):
            return self.length_one(node.operand)
        if isinstance(node, BinOp):
            return self.length_one(node.left) and self.length_one(node.right)
        if isinstance(node, Call):
            if node.func in ("mean", "sd", "median"):
                return True
            if node.func in ("pmin", "pmax"):
                return all(self.length_one(a) for a in node.args)
            if node.func in _ELEMENTWISE and node.args:
                return self.length_one(node.args[0])
        return False

    def _function(self, node: Call) -> Callable:
        if node.pkg:
            allowed = NAMESPACES.get(node.pkg)
            if allowed is None:
                raise self.error(f"'{node.qualname}' is not allowed in a formula: only functions of "
                                 f"{', '.join(sorted(NAMESPACES))} may be named with their package "
                                 "(as in splines::ns)", node)
            if node.func not in allowed:
                home = [p for p in sorted(NAMESPACES) if node.func in NAMESPACES[p]]
                hint = f"; write {home[0]}::{node.func}" if home else \
                    f" (from {node.pkg}: {', '.join(sorted(allowed))})"
                raise self.error(f"'{node.qualname}' is not allowed in a formula: {node.func} is not a "
                                 f"function of {node.pkg} that formulas may call{hint}", node)
        fn = FUNCTIONS.get(node.func)
        if fn is None and node.func == "cbind":
            raise self.error("cbind(successes, failures) is a binomial response: lmer fits linear mixed "
                             "models only (lmer does not take family= either); use mm.glmer for "
                             "generalized models", node)
        if fn is None:
            close = difflib.get_close_matches(node.func, list(FUNCTIONS), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise self.error(f"function {node.func!r} is not allowed in a formula{hint}; allowed: "
                             + ", ".join(sorted(FUNCTIONS)) + ", offset", node)
        return fn

    def eval(self, node: Node):
        if isinstance(node, Name):
            if node.id in ("TRUE", "FALSE", "T", "F") and node.id not in self._columns:
                return Numeric(np.full(self.n, 1.0 if node.id in ("TRUE", "T") else 0.0))
            return self.column(node)
        if isinstance(node, Num):
            return Numeric(np.full(self.n, node.value))
        if isinstance(node, Paren):
            return self.eval(node.expr)
        if isinstance(node, UnaryOp):
            if node.op == "-":
                return Numeric(-self.numeric(node.operand))
            if node.op == "+":
                return Numeric(self.numeric(node.operand))
            if node.op == "!":
                return self._not(node)
            raise self.error(f"unexpected {node.op!r} here", node)
        if isinstance(node, BinOp) and node.op in _COMPARE:
            return self._compare(node)
        if isinstance(node, BinOp) and node.op == "&":
            a, b = self.numeric(node.left), self.numeric(node.right)
            na, nb = np.isnan(a), np.isnan(b)
            with np.errstate(invalid="ignore"):
                false = (~na & (a == 0)) | (~nb & (b == 0))  # R: NA & FALSE is FALSE
            return _logical(~false & ~na & ~nb, (na | nb) & ~false)
        if isinstance(node, BinOp) and node.op in ("|", "||"):
            # logical or (reached in subset= expressions; in a formula '|' is a random-effects bar)
            a, b = self.numeric(node.left), self.numeric(node.right)
            na, nb = np.isnan(a), np.isnan(b)
            with np.errstate(invalid="ignore"):
                true = (~na & (a != 0)) | (~nb & (b != 0))  # R: NA | TRUE is TRUE
            return _logical(true, (na | nb) & ~true)
        if isinstance(node, BinOp) and node.op == "%in%":
            return self._in(node)
        if isinstance(node, BinOp):
            fn = _ARITH.get(node.op)
            if fn is None:
                raise self.error(f"the operator {node.op!r} cannot be used inside a variable "
                                 "expression; wrap arithmetic in I(), e.g. I(x^2)", node)
            a = self.numeric(node.left)
            b = self.numeric(node.right)
            with np.errstate(all="ignore"):
                return Numeric(fn(a, b))
        if isinstance(node, Call):
            return self._function(node)(self, node)
        if isinstance(node, Str):
            raise self.error("a string cannot be a variable", node)
        raise self.error("cannot evaluate this expression", node)


MAX_COUNT = 1_000_000
"""The largest count (spline df, polynomial degree, number of breaks, length of a sequence) a formula may
ask for: a guard against formulas that would exhaust memory."""


def _type_note(name: str, s: pd.Series, nlevels: int) -> str | None:
    """Why a column that became a factor may have been meant as numbers: text that reads as numbers,
    or pandas Periods (None otherwise)."""
    if isinstance(s.dtype, pd.PeriodDtype):
        return (f"column {name!r} holds pandas Periods, so it is a factor ({nlevels:,} levels) here; "
                "convert it to numbers (e.g. .dt.year, or the months since a start) if it is a time")
    if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(s.dtype):
        return None
    vals = s.dropna()
    if len(vals) == 0 or not all(isinstance(v, str) for v in vals.head(1000).tolist()):
        return None
    if pd.to_numeric(vals, errors="coerce").notna().all():
        return (f"column {name!r} holds text that looks like numbers (e.g. {str(vals.iloc[0])!r}), so it is "
                f"a factor ({nlevels:,} levels) here, as in R; convert it with pandas.to_numeric if it is a "
                "number")
    return None


def all_real_numbers(s: pd.Series) -> bool:
    """Every non-missing value is a real number: an int, a float, a ``decimal.Decimal`` or a
    ``fractions.Fraction`` (not a bool, not a string); pandas' C inference first."""
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return True
    if kind not in ("mixed", "mixed-integer"):
        return False
    return all(isinstance(v, (numbers.Real, decimal.Decimal)) and not isinstance(v, (bool, np.bool_))
               for v in s.dropna().tolist())


def real_numbers_as_float(s: pd.Series) -> np.ndarray:
    """An object column of real numbers (see :func:`all_real_numbers`) as floats, missing as NaN."""
    def one(v) -> float:
        if v is None or v is pd.NA:
            return np.nan
        try:
            return float(v)
        except ValueError:  # Decimal('sNaN')
            return np.nan
        except OverflowError:  # a Fraction beyond double precision
            return math.copysign(np.inf, v)

    return np.array([one(v) for v in s.tolist()], dtype=float)


def _as_string(v) -> str:
    """R's ``as.character`` of one constant."""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return format_r_number(v)
    return str(v)


r_sort_key = _r_sort_key  # public: R's order of strings (ICU collation), for modules of other stages

"""Safe evaluation of the variables of a formula: columns, arithmetic and a whitelist of R functions.

A variable is any leaf of a model formula that is not a formula operator: a column name (``Days``), a
call (``log(Reaction)``, ``factor(nitro)``, ``poly(Days, 2)``, ``I(Days^2)``) or a number. This module
evaluates such a syntax tree against a DataFrame *without ever calling Python's eval*: only the node types
of :mod:`mixedmodels.formula` are interpreted and only the functions in :data:`FUNCTIONS` can be called,
so a formula string cannot run code or touch anything but the columns it names.

Values are either :class:`Numeric` (one column, or several for ``poly``) or :class:`Factor` (integer codes
and R-ordered level labels). Missing values are NaN (numeric) or code -1 (factor); rows holding them are
dropped later by the model frame, as R's ``na.omit`` does.
"""

from __future__ import annotations

import difflib
import unicodedata
import warnings
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .errors import warn as _warn
from .errors import DataError, FormulaError, NaNProducedWarning
from .formula import BinOp, Call, Name, Node, Num, Paren, Str, UnaryOp, deparse, format_r_number

__all__ = ["Numeric", "Factor", "Evaluator", "FUNCTIONS", "r_level_labels", "factor_from_series"]


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
        cats = list(cat.categories)
        codes = cat.codes.astype(np.int64)
        return Factor(codes=codes, levels=r_level_labels(cats), ordered=bool(s.cat.ordered))
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
    strs = np.array([str(v) for v in values[~mask]], dtype=object)
    uniq = sorted(set(strs.tolist()), key=_r_sort_key)
    index = {u: i for i, u in enumerate(uniq)}
    codes = np.full(len(s), -1, dtype=np.int64)
    codes[~mask] = [index[v] for v in strs]
    return Factor(codes=codes, levels=uniq)


def _poly(x: np.ndarray, degree: int, raw: bool, node: Node, text: str) -> Numeric:
    """R's ``poly(x, degree)``: orthogonal polynomials (or raw powers with ``raw = TRUE``)."""
    if np.isnan(x).any():
        raise FormulaError("missing values are not allowed in 'poly'", text, node.start, node.end)
    if raw:
        vals = np.column_stack([x ** k for k in range(1, degree + 1)])
        return Numeric(vals, poly_suffixes(degree), {"raw": True})
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
    return Numeric(Z[:, 1:], poly_suffixes(degree),
                   {"alpha": alpha, "norm2": np.concatenate([[1.0], norm2])})


def poly_suffixes(degree: int) -> list[str] | None:
    """Column-name suffixes of ``poly(x, degree)``: ``1, 2, ...``; none for one column (R's model.matrix
    names a one-column matrix by the term alone: ``poly(x, 1)``)."""
    return [str(k) for k in range(1, degree + 1)] if degree > 1 else None


def _warn_nans(ev: "Evaluator", node: Call, x: np.ndarray, out: np.ndarray) -> None:
    """R's warning "NaNs produced" when a function turns numbers into NaN (``sqrt(-1)``, ``log(-1)``):
    those rows then count as missing and are dropped."""
    new = np.isnan(out) & ~np.isnan(x)
    if new.any():
        _warn(f"{deparse(node)}: NaNs produced in {int(new.sum())} row{'s' if new.sum() > 1 else ''}; "
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
    with np.errstate(all="ignore"):
        out = np.log(x)
        if base is not None:
            out = out / math.log(base)
    _warn_nans(ev, node, x, out)
    return Numeric(out)


def _f_identity(ev: "Evaluator", node: Call):
    ev.check_arity(node, 1, 1)
    v = ev.eval(node.args[0])
    return v


def _f_factor(ev: "Evaluator", node: Call) -> Factor:
    ev.check_arity(node, 1, 1)
    v = ev.eval(node.args[0])
    if isinstance(v, Factor):
        used = np.unique(v.codes[v.codes >= 0])
        remap = np.full(len(v.levels) + 1, -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return Factor(codes=np.where(v.codes >= 0, remap[v.codes], -1), levels=[v.levels[i] for i in used],
                      ordered=v.ordered)
    x = v.matrix
    if x.shape[1] != 1:
        raise FormulaError("factor() of a matrix", ev.text, node.start, node.end)
    return factor_from_series(pd.Series(x[:, 0]), deparse(node))


def _f_as_numeric(ev: "Evaluator", node: Call) -> Numeric:
    ev.check_arity(node, 1, 1)
    v = ev.eval(node.args[0])
    if isinstance(v, Factor) and v.levels == LOGICAL_LEVELS and not v.ordered:  # R: FALSE/TRUE are 0/1
        return Numeric(np.where(v.codes >= 0, v.codes.astype(float), np.nan))
    if isinstance(v, Factor):  # R: the integer codes, 1-based
        return Numeric(np.where(v.codes >= 0, v.codes + 1.0, np.nan))
    return v


def _f_scale(ev: "Evaluator", node: Call) -> Numeric:
    ev.check_arity(node, 1, 3, allowed_kw=("center", "scale"))
    x = ev.numeric(node.args[0])
    opts = {"center": True, "scale": True}
    for k, a in zip(("center", "scale"), node.args[1:]):
        opts[k] = ev.boolean(a)
    for k, v in node.kwargs:
        opts[k] = ev.boolean(v)
    ok = ~np.isnan(x)
    center = float(x[ok].mean()) if opts["center"] else 0.0
    xc = x - center
    scale = 1.0
    if opts["scale"]:
        m = ok.sum()
        scale = float(np.sqrt((xc[ok] ** 2).sum() / max(m - 1, 1)))
        if scale == 0 or not np.isfinite(scale):
            raise ev.error(f"scale() of '{deparse(node.args[0])}': the variable is constant (standard "
                           "deviation 0), so it cannot be scaled", node)
    with np.errstate(all="ignore"):
        return Numeric(xc / scale, None, {"center": center, "scale": scale})


def _f_poly(ev: "Evaluator", node: Call) -> Numeric:
    ev.check_arity(node, 1, 3, allowed_kw=("degree", "raw"))
    if len(node.args) > 3 or (len(node.args) == 3 and any(k == "raw" for k, _ in node.kwargs)):
        raise ev.error("poly() of several variables is not supported; use one variable, "
                       "poly(x, degree, raw = FALSE)", node)
    x = ev.numeric(node.args[0])
    degree = 1
    raw = False
    if len(node.args) > 1:
        degree = int(ev.scalar(node.args[1]))
    if len(node.args) > 2:
        raw = ev.boolean(node.args[2])
    for k, v in node.kwargs:
        if k == "degree":
            degree = int(ev.scalar(v))
        else:
            raw = ev.boolean(v)
    if degree < 1:
        raise FormulaError("'degree' must be at least 1", ev.text, node.start, node.end)
    return _poly(x, degree, raw, node, ev.text)


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
    "factor": _f_factor,
    "as.factor": _f_factor,
    "as.numeric": _f_as_numeric,
    "scale": _f_scale,
    "poly": _f_poly,
}
"""The functions a formula may call (names as in R)."""

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


class Evaluator:
    """Evaluates variable expressions of one formula against one DataFrame (read only)."""

    def __init__(self, data: pd.DataFrame, text: str):
        self.data = data
        self.text = text
        self.n = len(data)
        self._columns = {str(c): c for c in data.columns}
        self._factors: dict[str, Factor] = {}  # columns already turned into factors (never modified)

    # -- helpers used by the function table
    def error(self, msg: str, node: Node) -> FormulaError:
        return FormulaError(msg, self.text, node.start, node.end)

    def check_arity(self, node: Call, lo: int, hi: int, allowed_kw: tuple = ()) -> None:
        for k, v in node.kwargs:
            if k not in allowed_kw:
                raise self.error(f"{node.func}() has no argument {k!r}", v)
        total = len(node.args) + len(node.kwargs)
        if not lo <= total <= hi or len(node.args) < 1:
            raise self.error(f"{node.func}() takes {lo}" + (f" to {hi}" if hi > lo else "")
                             + " argument" + ("s" if hi > 1 else ""), node)

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

    def scalar(self, node: Node) -> float:
        inner = node
        while isinstance(inner, Paren):
            inner = inner.expr
        if isinstance(inner, Num):
            return inner.value
        if isinstance(inner, UnaryOp) and inner.op == "-" and isinstance(inner.operand, Num):
            return -inner.operand.value
        if isinstance(inner, Name) and inner.id == "pi":
            return math.pi
        raise self.error("a number is expected here", node)

    def boolean(self, node: Node) -> bool:
        if isinstance(node, Name) and node.id in ("TRUE", "T"):
            return True
        if isinstance(node, Name) and node.id in ("FALSE", "F"):
            return False
        raise self.error("TRUE or FALSE is expected here", node)

    def column(self, node: Name):
        key = self._columns.get(node.id)
        if key is None:
            if node.id == "pi":
                return Numeric(np.full(self.n, math.pi))
            close = difflib.get_close_matches(node.id, list(self._columns), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise self.error(f"unknown column {node.id!r}{hint}", node)
        if node.id in self._factors:  # e.g. the 'batch' of (1 | batch/cask), used twice
            return self._factors[node.id]
        s = self.data[key]
        if isinstance(s, pd.DataFrame):
            raise DataError(f"the data have more than one column named {node.id!r}")
        if pd.api.types.is_complex_dtype(s.dtype):
            raise DataError(f"column {node.id!r} holds complex numbers; a model needs real numbers")
        if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s.dtype) \
                or pd.api.types.is_bool_dtype(s.dtype):
            if pd.api.types.is_datetime64_any_dtype(s.dtype) or pd.api.types.is_timedelta64_dtype(s.dtype):
                raise self.error(f"column {node.id!r} holds dates or times; convert it to numbers first", node)
            fac = self._factors[node.id] = factor_from_series(s, node.id)
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

    @staticmethod
    def _logical_as_number(v) -> np.ndarray:
        if isinstance(v, Factor):
            return np.where(v.codes >= 0, v.codes.astype(float), np.nan)
        return v.matrix[:, 0]

    # -- the interpreter
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
            raise self.error(f"unexpected {node.op!r} here", node)
        if isinstance(node, BinOp) and node.op in _COMPARE:
            return self._compare(node)
        if isinstance(node, BinOp) and node.op == "&":
            a, b = self.numeric(node.left), self.numeric(node.right)
            na, nb = np.isnan(a), np.isnan(b)
            with np.errstate(invalid="ignore"):
                false = (~na & (a == 0)) | (~nb & (b == 0))  # R: NA & FALSE is FALSE
            return _logical(~false & ~na & ~nb, (na | nb) & ~false)
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
            fn = FUNCTIONS.get(node.func)
            if fn is None:
                close = difflib.get_close_matches(node.func, list(FUNCTIONS), n=3, cutoff=0.6)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise self.error(f"function {node.func!r} is not allowed in a formula{hint}; allowed: "
                                 + ", ".join(sorted(FUNCTIONS)) + ", offset", node)
            return fn(self, node)
        if isinstance(node, Str):
            raise self.error("a string cannot be a variable", node)
        raise self.error("cannot evaluate this expression", node)

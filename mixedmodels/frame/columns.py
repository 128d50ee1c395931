"""Model-matrix columns from evaluated variables: R's codings of a factor (treatment or polynomial
contrasts, or indicators of all levels), R's rule for which coding a factor gets in each term
(:func:`term_codings`), the columns and R's names of a list of terms (:func:`build_columns`), and the
grouping factor of a random-effects term (:func:`group_factor`).

Shared by the model frame built on the training data (:mod:`mixedmodels.frame.design`) and the frozen
frame spec applied to other data (:mod:`mixedmodels.frame.spec`): a *table* of variables is any object
with ``labels`` (R's names of the variables), ``is_factor(i)`` and ``columns(i, rows, contrasts)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import FormulaError
from ..formula.parse import BinOp, Node, Paren, deparse
from ..formula.transforms import Evaluator, Factor, Numeric, factor_from_series

__all__ = ["FixedTerm", "poly_contrasts", "factor_columns", "term_codings", "build_columns",
           "evaluate_variable", "group_factor"]


@dataclass
class FixedTerm:
    """A term of the fixed-effects part: its R label (``"age:Sex"``), its columns in X and its variables
    in R's order (``("age", "Sex")``; empty for the intercept)."""

    label: str
    columns: list[int]
    variables: tuple[str, ...] = ()
    indicators: tuple[str, ...] = ()  # the factors coded here by indicators of all levels (no contrasts)


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


def term_codings(terms: Sequence[tuple[int, ...]], is_factor: Callable[[int], bool]
                 ) -> list[tuple[bool, ...]]:
    """Per term, per variable: coded by contrasts (True) or by indicators of all its levels (False).

    R's rule (terms.formula's TermCode, then model.matrix): a variable in a term gets contrasts when
    the term without it is in the model, the empty term counting as present even without an
    intercept; without an intercept the first factor of the first term that has a factor is coded by
    indicators instead (so ``0 + A + B`` gives all levels of A and contrasts for B)."""
    present = set(terms) | {()}
    full_first = None
    if () not in terms:
        for term in terms:
            facs = [v for v in term if is_factor(v)]
            if facs:
                full_first = (term, facs[0])
                break
    return [tuple(term[:k] + term[k + 1:] in present and (term, var) != full_first
                  for k, var in enumerate(term)) for term in terms]


def build_columns(terms: Sequence[tuple[int, ...]], codings: Sequence[tuple[bool, ...]], table,
                  rows: np.ndarray) -> tuple[np.ndarray, list[str], list[FixedTerm]]:
    """R's ``model.matrix`` of ``terms`` (tuples of variable indices into ``table``; ``()`` is the
    intercept) coded as ``codings`` says, on ``rows``: the matrix, R's column names and the terms with
    their columns. Within a term the first variable varies fastest."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    fterms: list[FixedTerm] = []
    n = len(rows)
    for term, coding in zip(terms, codings):
        start = len(cols)
        if term == ():
            cols.append(np.ones(n))
            names.append("(Intercept)")
            fterms.append(FixedTerm("(Intercept)", [start]))
            continue
        parts_c: list[np.ndarray] = [np.ones(n)]
        parts_n: list[str] = [""]
        indicators = []
        for var, contrasts in zip(term, coding):
            if not contrasts and table.is_factor(var):
                indicators.append(table.labels[var])
            c, suffixes = table.columns(var, rows, contrasts=contrasts)
            label = table.labels[var]
            new_c, new_n = [], []
            for cj, sj in zip(c, suffixes):  # later variables vary slowest
                for ci, ni in zip(parts_c, parts_n):
                    new_c.append(ci * cj)
                    new_n.append((ni + ":" if ni else "") + label + sj)
            parts_c, parts_n = new_c, new_n
        cols.extend(parts_c)
        names.extend(parts_n)
        fterms.append(FixedTerm(":".join(table.labels[v] for v in term), list(range(start, len(cols))),
                                tuple(table.labels[v] for v in term), tuple(indicators)))
    X = np.column_stack(cols) if cols else np.zeros((n, 0))
    return X, names, fterms


def evaluate_variable(ev: Evaluator, node: Node):
    """A variable of the model frame (a term's atom) evaluated by ``ev``: a factor, or a numeric variable
    of one column (a one-column matrix is taken as its column) or of named columns (``poly``, ``ns``)."""
    val = ev.eval_variable(node)
    if isinstance(val, Numeric) and val.values.ndim == 2 and val.suffixes is None:
        if val.values.shape[1] != 1:
            raise FormulaError(f"'{deparse(node)}' has several columns", ev.text, node.start, node.end)
        val = Numeric(val.values[:, 0], None, val.coefs)
    return val


def group_factor(node: Node, ev: Evaluator, text: str) -> Factor:
    """Evaluate a grouping expression (``g``, ``a:b``) to a factor; ``a:b`` has a's level slowest."""
    inner = node
    while isinstance(inner, Paren):
        inner = inner.expr
    if isinstance(inner, BinOp) and inner.op == ":":
        left = group_factor(inner.left, ev, text)
        right = group_factor(inner.right, ev, text)
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
    return factor_from_series(pd.Series(x[:, 0]), deparse(inner))

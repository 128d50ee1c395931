"""Sequential sums of squares, expected mean squares by Hartley's synthesis, and error terms for F tests.

This is the numerical core behind :func:`mixedmodels.classical.aov.aov` (MATH.md section 7). It knows nothing
about formulas: it takes named blocks of columns in the order they are to be fitted.

Sequential (type I) sums of squares
    The blocks ``B_1, ..., B_m`` span nested column spaces ``S_j = span(B_1, ..., B_j)``. Source ``j`` owns
    the increment ``S_j (-) S_{j-1}``; :class:`SequentialAnova` keeps an orthonormal basis ``U_j`` of each
    increment, so ``Q_j = U_j U_j'``, ``SS_j(v) = ||U_j' v||^2`` and ``df_j = rank(Q_j)``. What no block
    spans is the residual.

Hartley's method of synthesis (Biometrics 23, 1967)
    With ``V = sum_k s2_k Z_k Z_k' + s2_e I`` and ``E[y] = X b``,
    ``E[SS_j] = sum_k s2_k tr(Z_k' Q_j Z_k) + s2_e df_j + b' X' Q_j X b``, and ``tr(Z_k' Q_j Z_k)`` is the sum,
    over the columns ``z`` of ``Z_k``, of ``SS_j(z)``: each column of ``Z_k`` is analysed as if it were the
    response, through the very same sequential decomposition. That holds whether or not the data are
    balanced. :meth:`SequentialAnova.ss` does exactly that for a vector or for the columns of a matrix.

Error terms
    :func:`error_term` finds the mean square (or, failing that, the linear combination of mean squares,
    with Satterthwaite's degrees of freedom) whose expectation is a given target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SequentialAnova", "ErrorTerm", "error_term", "satterthwaite_df"]

RANK_TOL = 1e-9  # a direction counts when its norm exceeds this fraction of the block's largest column


class SequentialAnova:
    """Orthonormal bases of the successive increments of the column spaces of ``blocks``.

    Parameters
    ----------
    n : int
        Number of observations.
    blocks : list of (name, (n, k) array)
        The sources in the order they are fitted. A block whose columns add nothing to the earlier ones
        gets ``df = 0``.

    Attributes
    ----------
    names : list[str];  df : (m,) int array;  residual_df : int
    """

    def __init__(self, n: int, blocks: list[tuple[str, np.ndarray]], tol: float = RANK_TOL):
        self.n = int(n)
        self.names: list[str] = []
        self.bases: list[np.ndarray] = []
        fitted = np.zeros((self.n, 0))
        for name, M in blocks:
            M = np.asarray(M, dtype=float).reshape(self.n, -1)
            scale = float(np.max(np.linalg.norm(M, axis=0))) if M.shape[1] else 0.0
            R = M - fitted @ (fitted.T @ M)
            R = R - fitted @ (fitted.T @ R)  # a second pass keeps the bases orthogonal to working precision
            if scale > 0 and R.shape[1]:
                U, s, _ = np.linalg.svd(R, full_matrices=False)
                U = U[:, s > tol * scale]
            else:
                U = np.zeros((self.n, 0))
            self.names.append(name)
            self.bases.append(U)
            fitted = np.column_stack([fitted, U])
        self._all = fitted
        self.df = np.array([U.shape[1] for U in self.bases], dtype=int)
        self.residual_df = self.n - int(self.df.sum())

    def ss(self, v: np.ndarray) -> tuple[np.ndarray, float]:
        """Sequential sums of squares of ``v`` and its residual sum of squares.

        ``v`` is a vector (the response) or an ``(n, c)`` matrix, in which case every column is analysed
        as if it were the response and the sums of squares are added over the columns: for ``v = Z_k`` this
        is ``tr(Z_k' Q_j Z_k)`` for every source ``j`` (Hartley's synthesis).
        """
        V = np.asarray(v, dtype=float).reshape(self.n, -1)
        per_source = np.array([float(np.sum((U.T @ V) ** 2)) for U in self.bases])
        resid = V - self._all @ (self._all.T @ V)
        return per_source, float(np.sum(resid ** 2))


def satterthwaite_df(weights: np.ndarray, ms: np.ndarray, df: np.ndarray) -> float:
    """Satterthwaite's df of ``sum a_i MS_i``: ``(sum a_i MS_i)^2 / sum (a_i MS_i)^2 / df_i``."""
    terms = np.asarray(weights, float) * np.asarray(ms, float)
    den = float(np.sum(terms ** 2 / np.asarray(df, float)))
    return float(np.sum(terms) ** 2 / den) if den > 0 else float("nan")


@dataclass
class ErrorTerm:
    """The denominator of an F test.

    ``weights`` maps source names to their coefficients (one source with weight 1 for an exact error term);
    ``ms`` is the denominator mean square, ``df`` its degrees of freedom (Satterthwaite's when
    synthesized); ``label`` is what the ANOVA table prints in its "Error term" column.
    """

    weights: dict[str, float] = field(default_factory=dict)
    ms: float = float("nan")
    df: float = float("nan")
    synthesized: bool = False

    @property
    def found(self) -> bool:
        return bool(self.weights)

    @property
    def label(self) -> str:
        if not self.weights:
            return "none"
        if not self.synthesized:
            return next(iter(self.weights))
        parts = []
        for i, (name, w) in enumerate(self.weights.items()):
            sign = "-" if w < 0 else "+"
            num = f"{abs(w):.4g}"
            if "." not in num and "e" not in num:
                num += ".0"
            text = f"{num}*{name}"
            parts.append(("- " if sign == "-" else "") + text if i == 0 else f"{sign} {text}")
        return "synth: " + " ".join(parts) + f" (df {self.df:.4g})"


def _close(a: np.ndarray, b: np.ndarray, scale: float) -> bool:
    return bool(np.all(np.abs(a - b) <= 1e-8 * scale))


def error_term(target: np.ndarray, candidates: list[tuple[str, np.ndarray, float, float]]) -> ErrorTerm:
    """The error term whose expected mean square is ``target``.

    Parameters
    ----------
    target : (c,) array
        EMS coefficients (over the variance components, the residual included) the denominator must have.
    candidates : list of (name, coefficients, MS, df)
        Sources eligible as denominators: their EMS must have no fixed-effects part.

    First a single candidate with exactly the target's coefficients; otherwise the combination
    ``sum a_i MS_i`` of candidates whose components all appear in the target, solved by least squares and
    accepted only when it reproduces the target; its df is Satterthwaite's. No solution gives an empty
    :class:`ErrorTerm` (``found`` is False).
    """
    target = np.asarray(target, dtype=float)
    scale = max(1.0, float(np.max(np.abs(target))))
    for name, coef, ms, df in candidates:
        if df > 0 and _close(np.asarray(coef, float), target, scale):
            return ErrorTerm({name: 1.0}, float(ms), float(df), synthesized=False)
    support = np.abs(target) > 1e-10 * scale
    usable = [(nm, np.asarray(c, float), ms, df) for nm, c, ms, df in candidates
              if df > 0 and not np.any((np.abs(np.asarray(c, float)) > 1e-10 * scale) & ~support)]
    if not usable:
        return ErrorTerm()
    C = np.array([c for _, c, _, _ in usable])  # rows: candidates, columns: components
    a, *_ = np.linalg.lstsq(C.T, target, rcond=None)
    if not _close(C.T @ a, target, scale * 1e2):
        return ErrorTerm()
    keep = np.abs(a) > 1e-10
    names = [u[0] for u, k in zip(usable, keep) if k]
    a = a[keep]
    ms = np.array([u[2] for u, k in zip(usable, keep) if k])
    df = np.array([u[3] for u, k in zip(usable, keep) if k])
    weights = dict(zip(names, (float(x) for x in a)))
    return ErrorTerm(weights, float(a @ ms), satterthwaite_df(a, ms, df), synthesized=True)

"""One random-effects term: its grouping factor, its model-matrix columns and its relative covariance factor.

A term ``(expr | g)`` has ``nlevels`` levels of ``g`` and ``ncols`` columns of ``expr``'s model matrix.
Its block of Z has ``nlevels * ncols`` columns ordered level by level (all columns of level 1, then of
level 2, ...), as lme4 and MixedModels.jl order them, and its block of Lambda is ``I_nlevels (x) lambda``
with ``lambda`` lower triangular ``ncols x ncols``. The term's ``ntheta = ncols (ncols + 1) / 2``
parameters are the lower triangle of ``lambda`` in column-major order (lme4's ``theta`` order).

Z is never stored as a matrix: the term keeps ``refs`` (the level index of each row) and ``z`` (the
``n x ncols`` values), which is all the cross-products and the conditional modes need.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

__all__ = ["ReTerm"]


@lru_cache(maxsize=None)
def _tril_indices(s: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the lower triangle of an ``s x s`` matrix in column-major order, computed once
    per size (read-only: shared by every term)."""
    cols, rows = np.triu_indices(s)  # triu of the transpose = tril column-major
    rows.flags.writeable = False
    cols.flags.writeable = False
    return rows, cols


@dataclass
class ReTerm:
    """A random-effects term.

    Attributes
    ----------
    group : str
        lme4's name of the grouping factor (``"Subject"``, ``"Block:Variety"``, ``"cask:batch"``).
    levels : list[str]
        The levels of the grouping factor, in R's order (unused levels dropped).
    refs : ndarray of int, shape (n,)
        The level index of each observation.
    cnames : list[str]
        R's names of the term's columns (``"(Intercept)"``, ``"Days"``).
    z : ndarray, shape (n, ncols)
        The term's model-matrix values.
    source : str
        The bar as written, deparsed (``"Days | Subject"``), for messages.
    """

    group: str
    levels: list[str]
    refs: np.ndarray
    cnames: list[str]
    z: np.ndarray
    source: str = ""

    @property
    def nlevels(self) -> int:
        return len(self.levels)

    @property
    def ncols(self) -> int:
        return self.z.shape[1]

    @property
    def nranef(self) -> int:
        """Number of columns of this term's block of Z (``nlevels * ncols``)."""
        return self.nlevels * self.ncols

    @property
    def ntheta(self) -> int:
        s = self.ncols
        return s * (s + 1) // 2

    def theta_diagonal(self) -> np.ndarray:
        """Boolean mask over this term's theta: True for elements on the diagonal of lambda."""
        rows, cols = self._tril()
        return rows == cols

    def _tril(self) -> tuple[np.ndarray, np.ndarray]:
        # column-major lower triangle (R's lower.tri order)
        return _tril_indices(self.ncols)

    def theta_init(self) -> np.ndarray:
        return self.theta_diagonal().astype(float)

    def lower_bounds(self) -> np.ndarray:
        return np.where(self.theta_diagonal(), 0.0, -np.inf)

    def lambda_matrix(self, theta: np.ndarray) -> np.ndarray:
        """lambda (``ncols x ncols`` lower triangular) from this term's slice of theta."""
        s = self.ncols
        lam = np.zeros((s, s))
        rows, cols = self._tril()
        lam[rows, cols] = theta
        return lam

    def theta_names(self) -> list[str]:
        """lme4's names of the theta elements (``Subject.(Intercept)``, ``Subject.Days.(Intercept)``)."""
        rows, cols = self._tril()
        out = []
        for r, c in zip(rows, cols):
            if r == c:
                out.append(f"{self.group}.{self.cnames[r]}")
            else:
                out.append(f"{self.group}.{self.cnames[r]}.{self.cnames[c]}")
        return out

    def zmatrix(self) -> sp.csr_matrix:
        """The term's block of Z as a sparse ``n x nranef`` matrix (for tests and small problems)."""
        n, s = self.z.shape
        rows = np.repeat(np.arange(n), s)
        cols = (self.refs[:, None] * s + np.arange(s)[None, :]).ravel()
        return sp.csr_matrix((self.z.ravel(), (rows, cols)), shape=(n, self.nranef))

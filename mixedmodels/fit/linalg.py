"""Small linear-algebra kernels for the blocked Cholesky factor.

Each kernel handles one block type: a batch of small diagonal blocks (the first random-effects term,
``nlevels`` blocks of ``s x s``; ``s = 1`` is the common scalar case and gets its own closed form), a
sparse block-diagonal scaling, and the dense block. The generic update in :mod:`mixedmodels.fit.criterion`
only calls these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..errors import ModelError

__all__ = ["BlockedFactor", "WeightedGram", "batched_cholesky", "batched_inverse", "batched_tri_inverse",
           "block_diag_sparse",
           "dense_cholesky", "NotPositiveDefinite"]


class NotPositiveDefinite(np.linalg.LinAlgError, ModelError):
    """Raised inside the criterion when a block is not positive definite (the optimizer backs off). Also
    a :class:`~mixedmodels.errors.ModelError`, so one that reaches the user is the package's error."""


@dataclass
class BlockedFactor:
    """The blocked lower Cholesky factor ``L = [[L11, 0], [C, LRR]]`` of the penalized cross-product at
    one theta (see :mod:`mixedmodels.fit.criterion` for the blocks). Every evaluation path
    (:mod:`mixedmodels.fit.paths`) produces one; ``C`` is ``None`` when a path was asked to skip it
    (inside the optimizer), else dense or sparse as the path keeps it."""

    theta: np.ndarray
    lambdas: list[np.ndarray]
    L11: np.ndarray          # (l1, s1, s1)
    L11inv: np.ndarray       # (l1, s1, s1)
    C: "sp.csr_matrix | np.ndarray | None"  # (m, q1)
    LRR: np.ndarray          # (m, m) lower triangular
    qrest: int               # number of Z columns in the rest block
    p: int

    @property
    def logdet_L(self) -> float:
        d1 = self.L11.diagonal(axis1=1, axis2=2)
        return 2.0 * (np.log(d1).sum() + np.log(self.LRR.diagonal()[: self.qrest]).sum())

    @property
    def logdet_RX(self) -> float:
        d = self.LRR.diagonal()[self.qrest: self.qrest + self.p]
        return 2.0 * np.log(d).sum()

    @property
    def pwrss(self) -> float:
        return float(self.LRR[-1, -1] ** 2)


def batched_cholesky(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of symmetric positive-definite ``s x s`` blocks (l, s, s)."""
    s = A.shape[1]
    if s == 1:
        if (A[:, 0, 0] <= 0).any():
            raise NotPositiveDefinite("a diagonal block is not positive definite")
        return np.sqrt(A)
    if s == 2:
        a, b, c = A[:, 0, 0], A[:, 1, 0], A[:, 1, 1]
        if (a <= 0).any():
            raise NotPositiveDefinite("a diagonal block is not positive definite")
        l11 = np.sqrt(a)
        l21 = b / l11
        d = c - l21 * l21
        if (d <= 0).any():
            raise NotPositiveDefinite("a diagonal block is not positive definite")
        L = np.zeros(A.shape, A.dtype)
        L[:, 0, 0] = l11
        L[:, 1, 0] = l21
        L[:, 1, 1] = np.sqrt(d)
        return L
    try:
        return np.linalg.cholesky(A)
    except np.linalg.LinAlgError as exc:
        raise NotPositiveDefinite(str(exc)) from None


def batched_tri_inverse(L: np.ndarray) -> np.ndarray:
    """Inverses of a stack of lower-triangular blocks (l, s, s)."""
    s = L.shape[1]
    if s == 1:
        return 1.0 / L
    if s == 2:
        out = np.zeros(L.shape, L.dtype)
        out[:, 0, 0] = 1.0 / L[:, 0, 0]
        out[:, 1, 1] = 1.0 / L[:, 1, 1]
        out[:, 1, 0] = -L[:, 1, 0] * out[:, 0, 0] * out[:, 1, 1]
        return out
    eye = np.broadcast_to(np.eye(s), L.shape)
    return np.linalg.solve(L, eye)


def batched_inverse(A: np.ndarray) -> np.ndarray:
    """Inverses of a stack of small general square blocks (l, s, s); closed forms for ``s <= 2`` (numpy's
    batched ``inv`` costs far more than the arithmetic on such blocks)."""
    s = A.shape[1]
    if s == 1:
        if (A == 0).any():
            raise np.linalg.LinAlgError("Singular matrix")
        return 1.0 / A
    if s == 2:
        a, b, c, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 0], A[:, 1, 1]
        det = a * d - b * c
        if (det == 0).any():
            raise np.linalg.LinAlgError("Singular matrix")
        out = np.empty(A.shape, A.dtype)
        out[:, 0, 0] = d / det
        out[:, 0, 1] = -b / det
        out[:, 1, 0] = -c / det
        out[:, 1, 1] = a / det
        return out
    return np.linalg.inv(A)


def block_diag_sparse(blocks: np.ndarray) -> sp.bsr_matrix:
    """A sparse block-diagonal matrix from a stack of ``s x s`` blocks, without any sorting."""
    l, s, _ = blocks.shape
    return sp.bsr_matrix((blocks, np.arange(l), np.arange(l + 1)), shape=(l * s, l * s))


def dense_cholesky(M: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a dense symmetric positive-definite matrix, in place (LAPACK dpotrf).

    Only the lower triangle of ``M`` is read; the strict upper triangle of the result is zeroed.
    """
    if M.shape[0] == 0:
        return M
    L, info = sla.lapack.dpotrf(M, lower=1, clean=1, overwrite_a=1)
    if info != 0:
        raise NotPositiveDefinite(f"the dense block is not positive definite (dpotrf info {info})")
    return L


class WeightedGram:
    """``A diag(w) A'`` for a sparse ``m x q`` matrix ``A`` of fixed pattern and weights ``w`` that change:
    the symbolic product done once. Every pair of rows ``a <= b`` stored in one column ``j`` contributes
    ``A[a, j] A[b, j] w_j`` to the entry ``(b, a)``; the pairs are numbered by distinct entry (through a
    dense ``m x m`` table: the product is held dense anyway) into a sparse ``(entries x q)`` matrix ``R``
    built column by column, so the numeric product is one sparse matrix-vector product ``R w`` (no pattern
    computed, sorted or allocated per call). ``npairs``: the stored pairs (~12 bytes each);
    :meth:`pair_count` says how many there would be before building."""

    def __init__(self, A: sp.spmatrix):
        csc = sp.csc_matrix(A)
        csc.sum_duplicates()
        csc.sort_indices()
        m, q = csc.shape
        self.shape = (m, m)
        counts = np.diff(csc.indptr).astype(np.int64)
        nnz = int(csc.indptr[-1])
        col = np.repeat(np.arange(q, dtype=np.int64), counts)
        # stored element i at position t of its column (of c elements) pairs with positions t .. c-1
        rowlen = csc.indptr[col + 1].astype(np.int64) - np.arange(nnz, dtype=np.int64)
        npairs = int(rowlen.sum())
        first = np.repeat(np.arange(nnz, dtype=np.int64), rowlen)
        starts = np.zeros(nnz + 1, dtype=np.int64)
        np.cumsum(rowlen, out=starts[1:])
        second = first + (np.arange(npairs, dtype=np.int64) - np.repeat(starts[:-1], rowlen))
        rows = csc.indices.astype(np.int64)
        lo, hi = rows[first], rows[second]  # lo <= hi: rows ascend within a column
        vals = csc.data[first] * csc.data[second]
        pptr = np.zeros(q + 1, dtype=np.int64)  # pairs are generated column by column
        np.cumsum((counts * (counts + 1)) // 2, out=pptr[1:])
        del first, second, starts, rowlen
        key = hi * m + lo
        del hi, lo
        # number the distinct entries through a dense m x m table (no sort: M is m x m anyway)
        mark = np.zeros(m * m, dtype=bool)
        mark[key] = True
        ukey = np.flatnonzero(mark)
        del mark
        table = np.zeros(m * m, dtype=np.int32 if len(ukey) < 2**31 - 1 else np.int64)
        table[ukey] = np.arange(len(ukey), dtype=table.dtype)
        slot = table[key]
        del table, key
        itype = np.int32 if max(npairs, len(ukey)) < 2**31 - 1 else np.int64
        # R by columns: column j holds its pairs' entries (each at most once); R w is one csc_matvec
        self.R = sp.csc_matrix((vals, slot.astype(itype, copy=False), pptr.astype(itype)),
                               shape=(len(ukey), q))
        self.hi = (ukey // m).astype(np.intp)
        self.lo = (ukey % m).astype(np.intp)
        self.off = self.hi != self.lo
        self.flat_lower = ukey  # C order: (hi, lo), lower triangle
        self.flat_upper = (self.lo * m + self.hi)[self.off]
        self.npairs = npairs

    @staticmethod
    def pair_count(A: sp.spmatrix) -> int:
        """The number of row pairs ``a <= b`` sharing a column of ``A``."""
        c = np.diff(sp.csc_matrix(A).indptr).astype(np.int64)
        return int((c * (c + 1) // 2).sum())

    def subtract_from(self, M: np.ndarray, w: np.ndarray, d: np.ndarray | None = None) -> np.ndarray:
        """``M -= diag(d) A diag(w) A' diag(d)`` on ``A A'``'s pattern, both triangles, in place (``M``
        C-contiguous ``m x m``); ``d`` None means the identity."""
        g = self.R @ w
        if d is not None:
            g *= d[self.hi]
            g *= d[self.lo]
        flat = M.reshape(-1)
        flat[self.flat_lower] -= g
        flat[self.flat_upper] -= g[self.off]
        return M

"""The blocked cross-product ``[Z X y]' [Z X y]``, computed once per model, as a sum over rows.

Layout (MixedModels.jl's, adapted): the first random-effects term (the one with the most levels) is kept
apart because its diagonal block is block diagonal (``nlevels`` blocks of ``ncols x ncols``); every other
column -- the other terms' Z columns, then X, then y -- forms the "rest" block. Three pieces are stored:

``A11``  (nlevels1, s1, s1)  the diagonal blocks of Z1'Z1
``AR1``  sparse (m, q1)      rest' Z1 (small models keep it dense, ``AR1_array``; the sparse form is
                             made on first use)
``ARR``  dense (m, m)        rest' rest

All three are sums over observations, so :meth:`CrossProducts.from_design` can build them chunk by chunk
(``chunk_rows``) and :meth:`CrossProducts.__add__` adds the pieces of two partitions: the same code will run
partition by partition on data too big for one machine.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import paths
from ..frame.reterms import ReTerm

__all__ = ["CrossProducts", "rest_matrix"]


def rest_matrix(terms: list[ReTerm], X: np.ndarray, y: np.ndarray, rows: slice | np.ndarray = slice(None)
                ) -> sp.csc_matrix:
    """The "rest" columns ``[Z_2 ... Z_k X y]`` for the given rows, as a sparse matrix."""
    blocks = []
    for t in terms[1:]:
        sub = ReTerm(t.group, t.levels, t.refs[rows], t.cnames, t.z[rows])
        blocks.append(sub.zmatrix())
    blocks.append(sp.csr_matrix(np.column_stack([X[rows], y[rows]])))
    return sp.hstack(blocks, format="csc")


def _dense_z(refs: np.ndarray, z: np.ndarray, nranef: int) -> np.ndarray:
    """A term's block of Z as a dense ``n x nranef`` array (the dense form of :meth:`ReTerm.zmatrix`)."""
    n, s = z.shape
    out = np.zeros((n, nranef))
    out[np.arange(n)[:, None], refs[:, None] * s + np.arange(s)[None, :]] = z
    return out


class CrossProducts:
    """The three stored pieces of the cross-product (see the module docstring).

    ``AR1`` may be given sparse or as a dense ``(m, q1)`` array (small models: their cross-products are
    formed densely, and the small and dense evaluation paths never need a sparse copy). Either form is
    available: :attr:`AR1` (CSR, duplicates summed, indices sorted) and :attr:`AR1_array` (dense), each
    made from the other on first use and kept."""

    __slots__ = ("A11", "ARR", "_AR1", "_AR1_array")

    def __init__(self, A11: np.ndarray, AR1, ARR: np.ndarray):
        self.A11 = A11
        self.ARR = ARR
        if sp.issparse(AR1):
            self._AR1, self._AR1_array = AR1, None
        else:
            self._AR1, self._AR1_array = None, np.asarray(AR1, dtype=float)

    @property
    def AR1(self) -> sp.csr_matrix:
        """``rest' Z1`` as a sparse (CSR) matrix."""
        if self._AR1 is None:
            out = sp.csr_matrix(self._AR1_array)
            out.sum_duplicates()
            out.sort_indices()
            self._AR1 = out
        return self._AR1

    @property
    def AR1_array(self) -> np.ndarray:
        """``rest' Z1`` as a dense ``(m, q1)`` array (formed once; not to be modified)."""
        if self._AR1_array is None:
            self._AR1_array = self._AR1.toarray()
        return self._AR1_array

    @property
    def AR1_is_dense(self) -> bool:
        """Whether A_R1 was formed densely (its sparse form not made yet)."""
        return self._AR1 is None

    def __repr__(self) -> str:
        return f"CrossProducts(A11={self.A11.shape}, AR1={(self.ARR.shape[0], self.A11.shape[0] * self.A11.shape[1])}, " \
               f"ARR={self.ARR.shape})"

    def select(self, rest, first=None) -> "CrossProducts":
        """The cross-products of a reduced model with the same first term: ``rest`` lists, in the new
        order, the rows of the rest block kept (other terms' Z columns, X columns, and the response row
        last); ``first`` the columns of the first term kept (its intercept alone, say; None: all).
        Dropping a random term (not the first), a term's columns or fixed-effects columns is taking
        sub-blocks."""
        rest = np.asarray(rest, dtype=np.intp)
        m = self.ARR.shape[0]
        if rest.ndim != 1 or (rest.size and (rest.min() < 0 or rest.max() >= m)):
            raise ValueError(f"rest must be indices of the {m} rest rows")
        dense = self.AR1_is_dense
        AR1 = self.AR1_array[rest] if dense else self.AR1.tocsr()[rest]
        A11 = self.A11
        if first is not None:
            s = A11.shape[1]
            first = np.asarray(first, dtype=np.intp)
            if first.ndim != 1 or not first.size or first.min() < 0 or first.max() >= s:
                raise ValueError(f"first must be indices of the first term's {s} columns")
            A11 = np.ascontiguousarray(A11[:, first][:, :, first])
            cols = (np.arange(A11.shape[0])[:, None] * s + first[None, :]).ravel()
            AR1 = np.ascontiguousarray(AR1[:, cols]) if dense else AR1.tocsc()[:, cols].tocsr()
        if not dense:
            AR1.sum_duplicates()
            AR1.sort_indices()
        return CrossProducts(A11, AR1, np.ascontiguousarray(self.ARR[np.ix_(rest, rest)]))

    def __add__(self, other: "CrossProducts") -> "CrossProducts":
        if self.AR1_is_dense and other.AR1_is_dense:
            AR1 = self.AR1_array + other.AR1_array
        else:
            AR1 = (self.AR1 + other.AR1).tocsr()
        return CrossProducts(self.A11 + other.A11, AR1, self.ARR + other.ARR)

    @classmethod
    def from_rows(cls, terms: list[ReTerm], X: np.ndarray, y: np.ndarray, rows,
                  dense: bool | None = None) -> "CrossProducts":
        """The cross-products of one partition of the rows; ``dense`` forms them with dense products
        (by default when ``n * columns`` is at most :data:`~mixedmodels.fit.paths.CROSSPROD_DENSE_MAX`)."""
        t1 = terms[0]
        refs = t1.refs[rows]
        z = t1.z[rows]
        s = t1.ncols
        A11 = np.zeros((t1.nlevels, s, s))
        for a in range(s):
            for b in range(a, s):
                v = np.bincount(refs, weights=z[:, a] * z[:, b], minlength=t1.nlevels)
                A11[:, a, b] = v
                A11[:, b, a] = v
        m = sum(t.nranef for t in terms[1:]) + X.shape[1] + 1
        if dense is None:
            dense = len(refs) * (m + t1.nranef) <= paths.CROSSPROD_DENSE_MAX
        if dense:
            # small problems: dense matrices and products (scipy.sparse's overhead would dominate)
            W = np.column_stack([_dense_z(t.refs[rows], t.z[rows], t.nranef) for t in terms[1:]]
                                + [X[rows], y[rows]])
            # A_R1 stays dense: its sparse form is made only if a path asks for it
            return cls(A11, W.T @ _dense_z(refs, z, t1.nranef), W.T @ W)
        # large problems: the Z columns sparse, X and y dense (X is mostly dense: a sparse copy of it and
        # sparse products with it cost far more than BLAS on the dense columns)
        Xy = np.column_stack([X[rows], y[rows]])
        XyXy = Xy.T @ Xy
        if len(terms) == 1 and s * Xy.shape[1] <= paths.CROSSPROD_BINCOUNT_MAX:
            # one term: A_R1 = [X y]' Z1 is dense, its (level, column) sums one bincount each (no sparse
            # Z1 built, no sparse product, no sparse copy of a dense block)
            Z1Xy = np.empty((t1.nlevels, s, Xy.shape[1]))
            for a in range(s):
                for c in range(Xy.shape[1]):
                    Z1Xy[:, a, c] = np.bincount(refs, weights=z[:, a] * Xy[:, c], minlength=t1.nlevels)
            return cls(A11, np.ascontiguousarray(Z1Xy.reshape(t1.nranef, -1).T), XyXy)
        Z1 = ReTerm(t1.group, t1.levels, refs, t1.cnames, z).zmatrix()
        Z1Xy = np.asarray(Z1.T @ Xy)  # (q1, p + 1)
        if len(terms) > 1:
            Zr = sp.hstack([ReTerm(t.group, t.levels, t.refs[rows], t.cnames, t.z[rows]).zmatrix()
                            for t in terms[1:]], format="csc")
            Zrt = Zr.T.tocsr()
            ZrZ1 = (Zrt @ Z1).tocsr()
            ZrXy = np.asarray(Zrt @ Xy)
            ARR = np.block([[(Zrt @ Zr).toarray(), ZrXy], [ZrXy.T, XyXy]])
            AR1 = sp.vstack([ZrZ1, sp.csr_matrix(Z1Xy.T)], format="csr")
        else:
            ARR = XyXy
            AR1 = sp.csr_matrix(Z1Xy.T)
        return cls(A11, AR1, ARR)

    @classmethod
    def from_design(cls, terms: list[ReTerm], X: np.ndarray, y: np.ndarray,
                    chunk_rows: int | None = None, dense: bool | None = None) -> "CrossProducts":
        """Sum the cross-products over row chunks (all rows at once when ``chunk_rows`` is None);
        ``dense`` as :meth:`from_rows`."""
        n = len(y)
        if chunk_rows is None or chunk_rows >= n:
            out = cls.from_rows(terms, X, y, slice(None), dense=dense)
        else:
            out = None
            for start in range(0, n, chunk_rows):
                part = cls.from_rows(terms, X, y, slice(start, min(n, start + chunk_rows)), dense=dense)
                out = part if out is None else out + part
        if not out.AR1_is_dense:
            out.AR1.sum_duplicates()
            out.AR1.sort_indices()
        return out

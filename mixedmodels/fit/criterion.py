"""The profiled REML criterion and ML deviance as functions of theta (lme4's ``mkLmerDevfun``).

For a given theta the blocked lower Cholesky factor of

    [ Lambda'Z'Z Lambda + I   Lambda'Z'X   Lambda'Z'y ]
    [ X'Z Lambda              X'X          X'y        ]
    [ y'Z Lambda              y'X          y'y        ]

is formed from the stored cross-products (:mod:`mixedmodels.fit.crossprod`) in two parts:

* ``L11``: the factor of the first term's block, a stack of ``nlevels1`` small ``s1 x s1`` factors;
* ``C = Lambda_R' A_R1 Lambda_1 L11^-T``: the rows of the rest below it (sparse, same pattern as A_R1);
* ``LRR = chol(Lambda_R' A_RR Lambda_R + I_Zrest - C C')``: the dense factor of the rest, whose last row
  holds ``[l_yZ l_yX r]``.

Then (Bates et al. 2015, eqs. 34 and 41)

    ML deviance     d(theta)  = log|L_Z|^2 + n (1 + log(2 pi r^2 / n))
    REML criterion  dR(theta) = log|L_Z|^2 + log|R_X|^2 + (n - p)(1 + log(2 pi r^2 / (n - p)))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from . import kernels
from .crossprod import CrossProducts
from .linalg import (NotPositiveDefinite, batched_cholesky, batched_tri_inverse, block_diag_sparse,
                     dense_cholesky)
from ..frame.reterms import ReTerm

__all__ = ["ProfiledCriterion", "BlockedFactor"]

_LOG2PI = np.log(2 * np.pi)
DENSE_MAX = 400_000  # elements of A_R1 up to which the dense path is used


@dataclass
class BlockedFactor:
    """The blocked Cholesky factor at one theta (see the module docstring for the blocks)."""

    theta: np.ndarray
    lambdas: list[np.ndarray]
    L11: np.ndarray          # (l1, s1, s1)
    L11inv: np.ndarray       # (l1, s1, s1)
    C: sp.csr_matrix | np.ndarray  # (m, q1)
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


class ProfiledCriterion:
    """``theta -> d(theta)`` (ML) or ``dR(theta)`` (REML), with the factor kept for post-processing.

    The object is built once per model (cross-products computed then); each call only forms and
    factors the blocks. ``nevals`` counts calls.
    """

    def __init__(self, terms: list[ReTerm], X: np.ndarray, y: np.ndarray, reml: bool = True,
                 crossprods: CrossProducts | None = None, y_shift: float | None = None,
                 weights: np.ndarray | None = None):
        self.terms = terms
        self.n = len(y)
        self.p = X.shape[1]
        self.reml = reml
        # The response enters the cross-products centered when X has an intercept column: the penalized
        # RSS is then r^2 = (y - c)'(y - c) - (fitted part) instead of y'y - (fitted part), so no digits
        # are lost when y is large against its residual SD (a response of 310 +- 0.1, or y + 1e6); the
        # criterion is unchanged (the intercept absorbs c) and solve() adds c back to the intercept.
        # ``y_shift`` says by how much the response in given ``crossprods`` was shifted.
        ones = [j for j in range(self.p) if np.all(X[:, j] == 1.0)] if self.n else []
        self.int_col = ones[0] if ones else None
        # prior weights: the rows of [Z X y] scaled by sqrt(w) (a model with unit weights), and the
        # criterion less sum(log w) (lme4's ldW: the weights' part of log|residual covariance|)
        self.weights = None if weights is None else np.asarray(weights, dtype=float)
        self.log_w = float(np.log(self.weights).sum()) if self.weights is not None else 0.0
        if crossprods is None:
            if y_shift is None:
                y_shift = float(np.mean(y)) if self.int_col is not None and self.n else 0.0
            yc = y - y_shift if y_shift else y
            if self.weights is not None:
                sw = np.sqrt(self.weights)
                wterms = [ReTerm(t.group, t.levels, t.refs, t.cnames, t.z * sw[:, None]) for t in terms]
                crossprods = CrossProducts.from_design(wterms, X * sw[:, None], yc * sw)
            else:
                crossprods = CrossProducts.from_design(terms, X, yc)
        self.y_shift = float(y_shift or 0.0)
        if self.y_shift and self.int_col is None:
            raise ValueError("a shifted response needs an intercept column in X")
        self.cp = crossprods
        self.qrest = sum(t.nranef for t in terms[1:])
        self.m = self.qrest + self.p + 1
        sizes = [t.ntheta for t in terms]
        self.theta_slices = np.split(np.arange(sum(sizes)), np.cumsum(sizes)[:-1])
        self.rest_diag = all(t.ncols == 1 for t in terms[1:])
        self.s1 = terms[0].ncols
        self.nevals = 0
        # row / column index of each stored element of AR1 (for the scalar fast paths)
        self._ar1_rows = np.repeat(np.arange(self.cp.AR1.shape[0]), np.diff(self.cp.AR1.indptr))
        self._ar1_cols = self.cp.AR1.indices
        # for each rest row that is a Z column, the position in theta of its term's lambda[0, 0]
        self._rest_theta = np.repeat([sl[0] for sl in self.theta_slices[1:]],
                                     [t.nranef for t in terms[1:]]).astype(np.intp)
        self._lower = np.concatenate([t.lower_bounds() for t in terms])
        self._eye1 = np.eye(self.s1)  # added to each of the first term's s1 x s1 blocks
        self._diag_m = np.diag_indices(self.m)  # the diagonal of the dense rest block
        self._eye_rest = np.zeros(self.m)
        self._eye_rest[: self.qrest] = 1.0
        dense_frac = self.cp.AR1.nnz / max(1, self.cp.AR1.shape[0] * self.cp.AR1.shape[1])
        self._dense_C = dense_frac > 0.05
        # large problems with a diagonal rest scaling: the compiled level-by-level downdate
        # small problems: A_R1 dense, every product a BLAS call (scipy.sparse's per-call overhead would
        # dominate); the rest scaling as a dense block-diagonal matrix when it is not diagonal
        q1 = terms[0].nranef
        self._dense = self.m * q1 <= DENSE_MAX
        if self._dense:
            self._AR1d = self.cp.AR1.toarray().reshape(self.m, terms[0].nlevels, self.s1)
        self._tril = [t._tril() for t in terms]
        self._small = None  # the compiled small-model evaluator (smallfit), built on first use
        self._blocks = None
        if not self._dense and self.rest_diag and kernels.available():
            blocks = kernels.LevelBlocks(self.cp.AR1, terms[0].nlevels, self.s1)
            if blocks.work >= kernels.KERNEL_MIN_WORK:
                self._blocks = blocks

    # ------------------------------------------------------------------ theta helpers
    @property
    def ntheta(self) -> int:
        return len(self._lower)

    def theta_init(self) -> np.ndarray:
        return np.concatenate([t.theta_init() for t in self.terms])

    def lower_bounds(self) -> np.ndarray:
        return self._lower.copy()

    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        out = []
        for t, sl, (rows, cols) in zip(self.terms, self.theta_slices, self._tril):
            lam = np.zeros((t.ncols, t.ncols))
            lam[rows, cols] = theta[sl]
            out.append(lam)
        return out

    def _rest_scale_vector(self, theta: np.ndarray) -> np.ndarray:
        """The diagonal of blockdiag(Lambda_R, I) when every later term is scalar (``rest_diag``)."""
        d = np.ones(self.m)
        d[: self.qrest] = theta[self._rest_theta]
        return d

    def _rest_scale_matrix(self, lams: list[np.ndarray]) -> sp.csr_matrix:
        blocks = []
        for t, lam in zip(self.terms[1:], lams[1:]):
            blocks.append(block_diag_sparse(np.broadcast_to(lam, (t.nlevels,) + lam.shape).copy()))
        blocks.append(sp.identity(self.p + 1, format="csr"))
        return sp.block_diag(blocks, format="csr")

    # ------------------------------------------------------------------ the factor
    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor:
        """The blocked factor at ``theta``; ``need_C=False`` (inside the optimizer) may skip forming the
        off-diagonal block C explicitly when the compiled downdate is used."""
        theta = np.asarray(theta, dtype=float)
        lams = self.lambdas(theta)
        lam1 = lams[0]
        cp = self.cp
        s1 = self.s1
        # first term: L11 = chol(lam1' A11 lam1 + I), blockwise
        if s1 == 1:
            L11 = np.sqrt(cp.A11 * lam1[0, 0] ** 2 + 1.0)
            L11inv = 1.0 / L11
        else:
            T = lam1.T @ cp.A11 @ lam1
            T += self._eye1
            L11 = batched_cholesky(T)
            L11inv = batched_tri_inverse(L11)
        # C = LambdaR' AR1 Lambda1 L11^-T
        if self._dense:
            T = lam1 @ np.transpose(L11inv, (0, 2, 1))  # (l1, s1, s1): lambda1 L11_j^-T
            if s1 == 1:
                C = self._AR1d[:, :, 0] * T[:, 0, 0][None, :]
            else:
                C = np.einsum("mls,lst->mlt", self._AR1d, T).reshape(self.m, -1)
            if not self.qrest:  # no later terms: the rest scaling is the identity
                M = cp.ARR.copy()
            elif self.rest_diag:
                d = self._rest_scale_vector(theta)
                C *= d[:, None]
                M = cp.ARR * d[:, None]
                M *= d[None, :]
            else:
                LR = self._rest_scale_matrix(lams).toarray()
                C = LR.T @ C
                M = LR.T @ cp.ARR @ LR
            M[self._diag_m] += self._eye_rest
            M -= C @ C.T
            LRR = dense_cholesky(M)
            return BlockedFactor(theta, lams, L11, L11inv, C, LRR, self.qrest, self.p)
        if self._blocks is not None:
            d = self._rest_scale_vector(theta)
            T = lam1 @ np.transpose(L11inv, (0, 2, 1))  # (l1, s1, s1): lambda1 L11_j^-T
            M = cp.ARR * d[:, None]
            M *= d[None, :]
            M[self._diag_m] += self._eye_rest
            self._blocks.downdate(M, T, d)
            LRR = dense_cholesky(M)
            C = None
            if need_C:
                right = block_diag_sparse(T)
                C = (cp.AR1 @ right).tocsr()
                C = sp.csr_matrix((C.data * d[np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))],
                                   C.indices, C.indptr), shape=C.shape)
            return BlockedFactor(theta, lams, L11, L11inv, C, LRR, self.qrest, self.p)
        if self.rest_diag:
            d = self._rest_scale_vector(theta)
            if s1 == 1:
                data = cp.AR1.data * d[self._ar1_rows] * (lam1[0, 0] * L11inv[:, 0, 0])[self._ar1_cols]
                C = sp.csr_matrix((data, cp.AR1.indices, cp.AR1.indptr), shape=cp.AR1.shape)
            else:
                right = block_diag_sparse(lam1 @ np.transpose(L11inv, (0, 2, 1)))
                C = (cp.AR1 @ right).tocsr()
                C = sp.csr_matrix((C.data * d[np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))],
                                   C.indices, C.indptr), shape=C.shape)
            M = cp.ARR * d[:, None] * d[None, :]
        else:
            LR = self._rest_scale_matrix(lams)
            right = block_diag_sparse(lam1 @ np.transpose(L11inv, (0, 2, 1)))
            C = (LR.T @ (cp.AR1 @ right)).tocsr()
            B = (LR.T @ cp.ARR)
            M = np.asarray((LR.T @ B.T).T)
        M[self._diag_m] += self._eye_rest
        if self._dense_C:
            Cd = C.toarray()
            M -= Cd @ Cd.T
        else:
            M -= (C @ C.T).toarray()
        LRR = dense_cholesky(M)
        return BlockedFactor(theta, lams, L11, L11inv, C, LRR, self.qrest, self.p)

    def objective_from_factor(self, f: BlockedFactor, reml: bool | None = None) -> float:
        reml = self.reml if reml is None else reml
        r2 = f.pwrss
        if reml:
            nmp = self.n - self.p
            return f.logdet_L + f.logdet_RX + nmp * (1.0 + _LOG2PI + np.log(r2 / nmp)) - self.log_w
        return f.logdet_L + self.n * (1.0 + _LOG2PI + np.log(r2 / self.n)) - self.log_w

    def small_evaluator(self):
        """The compiled ``theta -> (value, gradient)`` of :mod:`mixedmodels.fit.smallfit` when the model is
        small enough for it, else None (built on first use)."""
        if self._small is None:
            from . import smallfit

            self._small = smallfit.SmallEvaluator(self) if smallfit.eligible(self) else False
        return self._small or None

    def __call__(self, theta: np.ndarray) -> float:
        self.nevals += 1
        small = self.small_evaluator()
        if small is not None:
            return small(theta, want_grad=False)[0]
        try:
            f = self.factor(theta, need_C=False)
        except NotPositiveDefinite:
            return np.inf
        val = self.objective_from_factor(f)
        return float(val) if np.isfinite(val) else np.inf

    # ------------------------------------------------------------------ solutions at a theta
    def solve(self, f: BlockedFactor) -> tuple[np.ndarray, np.ndarray]:
        """(beta, u) at the factor ``f``: back-substitution with the blocked factor (beta of the
        response as given, the centering undone)."""
        m1 = self.m - 1
        LRR = f.LRR
        upper = LRR[:m1, :m1].T
        rhs = LRR[m1, :m1]
        x = sla.solve_triangular(upper, rhs, lower=False, check_finite=False) if m1 else np.zeros(0)
        beta = x[self.qrest:]
        urest = x[: self.qrest]
        C = f.C
        cy = np.asarray(C[m1].toarray()).ravel() if sp.issparse(C) else np.asarray(C[m1]).ravel()
        Czx = C[:m1]
        w = cy - np.asarray(Czx.T @ x).ravel()
        s1 = self.s1
        wb = w.reshape(-1, s1)
        u1 = np.einsum("lji,lj->li", f.L11inv, wb).ravel()  # L11^-T w, blockwise
        if self.y_shift:
            beta = beta.copy()
            beta[self.int_col] += self.y_shift  # the response entered the cross-products centered
        return beta, np.concatenate([u1, urest])

    def vcov_unscaled(self, f: BlockedFactor) -> np.ndarray:
        """(R_X R_X')^-1: multiply by sigma^2 for Var(beta-hat)."""
        RX = f.LRR[self.qrest: self.qrest + self.p, self.qrest: self.qrest + self.p]
        RXinv = sla.solve_triangular(RX, np.eye(self.p), lower=True, check_finite=False)
        return RXinv.T @ RXinv

    def cond_var_blocks(self, f: BlockedFactor) -> list[np.ndarray]:
        """Per term, the (nlevels, s, s) diagonal blocks of Lambda (L_Z L_Z')^-1 Lambda' (lme4's condVar,
        to be multiplied by sigma^2)."""
        s1 = self.s1
        qr = self.qrest
        Lzz = f.LRR[:qr, :qr]
        out = []
        # inverse of L_Z = [[L11, 0], [C_Z, Lzz]]: blocks L11^-1 and -Lzz^-1 C_Z L11^-1, Lzz^-1
        if qr:
            Lzz_inv = sla.solve_triangular(Lzz, np.eye(qr), lower=True, check_finite=False)
            Cz = f.C[:qr]
            Cz = Cz.toarray() if sp.issparse(Cz) else np.asarray(Cz)
            L11inv_full = block_diag_sparse(f.L11inv)
            W = -(Lzz_inv @ np.asarray((L11inv_full.T @ Cz.T).T))  # (qr, q1)
        # term 1: sum over the rows of L_Z^-1 in its columns
        blocks = np.einsum("lki,lkj->lij", f.L11inv, f.L11inv)
        if qr:
            Wb = W.reshape(qr, -1, s1)
            blocks = blocks + np.einsum("rli,rlj->lij", Wb, Wb)
        lam = f.lambdas[0]
        out.append(lam @ blocks @ lam.T)
        pos = 0
        for t, lam in zip(self.terms[1:], f.lambdas[1:]):
            cols = Lzz_inv[:, pos: pos + t.nranef].reshape(qr, t.nlevels, t.ncols)
            b = np.einsum("rli,rlj->lij", cols, cols)
            out.append(lam @ b @ lam.T)
            pos += t.nranef
        return out

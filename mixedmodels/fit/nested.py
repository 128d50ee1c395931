"""The criterion and its gradient for two nested random-effects terms, in time linear in the levels.

When every level of the first term (the one with the most levels, e.g. classes) lies inside one level of
the second (schools) -- ``(1 | school/class)``, ``(1 + x | school) + (1 | school:class)`` -- the
downdate of the rest block by the first term's block touches, for class ``j``, only the ``s2`` rows of
its school ``g(j)`` and the ``p + 1`` rows of X and y. So the rest block (MATH.md section 3)

    M = Lambda_R' K Lambda_R + D,   K = A_RR - sum_j A_R1[:, j] T_j A_1R[j, :],   T_j = lambda_1 P_j lambda_1'

(``P_j = (lambda_1' A11_j lambda_1 + I)^-1``) is an *arrowhead*: ``l2`` diagonal blocks of ``s2 x s2``
(the schools) bordered by ``p + 1`` dense rows. Its Cholesky factor has the same shape (MixedModels.jl
keeps such a block "uniform block diagonal"), found by ``l2`` small factorizations and one of size
``p + 1``; the entries of ``M_S^-1`` the gradient needs (:mod:`mixedmodels.fit.gradient`: each
class's rows, each school's block) are the same blocks of the inverse, from the factor's blocks. Every
step is a batched product over the levels: an evaluation with its gradient costs ``O(l1 s^3 + l2 s (p +
1)^2 + (p + 1)^3)``, against ``O(m^2 q1)`` for the dense path (the model's rest block ``m x m`` with
``m = l2 s2 + p + 1``).

The formulas are :mod:`mixedmodels.fit.gradient`'s (the same notation), specialized to this layout.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from .linalg import NotPositiveDefinite, batched_cholesky, batched_inverse, batched_tri_inverse, dense_cholesky

__all__ = ["NestedLayout", "nested_map"]


def nested_map(crit) -> np.ndarray | None:
    """For a criterion with exactly two random-effects terms, the level ``g(j)`` of the second term that
    holds each level ``j`` of the first (read off the pattern of ``A_R1``: the cross-products of the
    first term's columns with the second's), or None where some level of the first term meets two levels
    of the second (the terms are crossed, not nested)."""
    if len(crit.terms) != 2:
        return None
    s1, l1 = crit.s1, crit.l1
    t2 = crit.terms[1]
    s2 = t2.ncols
    qr = crit.qrest
    cp = crit.cp
    # nested, each column of A_R1 has at most s2 entries in the second term's rows: crossed terms
    # (many more) are told apart without looking further
    if cp.AR1_is_dense:
        top = cp.AR1_array[:qr]
        nnz = np.count_nonzero(top)
    else:
        top = cp.AR1 if cp.AR1.format == "csr" else sp.csr_matrix(cp.AR1)
        nnz = int(top.indptr[qr])
        top = top[:qr]
    if nnz > crit.q1 * s2:
        return None
    coo = sp.coo_matrix(top)
    nz = coo.data != 0
    rows, cols = coo.row[nz], coo.col[nz]
    lev2 = rows // s2
    j = cols // s1
    lo = np.full(l1, np.iinfo(np.int64).max, dtype=np.int64)
    hi = np.full(l1, -1, dtype=np.int64)
    np.minimum.at(lo, j, lev2)
    np.maximum.at(hi, j, lev2)
    seen = hi >= 0
    if np.any(lo[seen] != hi[seen]):
        return None
    g = np.where(seen, lo, 0)
    return g.astype(np.intp)


class _State:
    """One evaluation's blocks (kept for the gradient at the same theta)."""

    __slots__ = ("theta", "lams", "L11inv", "P", "T", "KZZ", "KZx", "Fg", "BgT", "Lx", "r2", "value")


class NestedLayout:
    """The per-model blocks of two nested terms (:func:`nested_map`) and the evaluation on them:
    :meth:`evaluate` (value, state) and :meth:`gradient` (from the state)."""

    def __init__(self, crit, g: np.ndarray):
        self.crit = crit
        cp = crit.cp
        l1, s1 = crit.l1, crit.s1
        t2 = crit.terms[1]
        l2, s2 = t2.nlevels, t2.ncols
        qr, p, m = crit.qrest, crit.p, crit.m
        P1 = p + 1
        self.l1, self.s1, self.l2, self.s2, self.qr, self.p, self.P1 = l1, s1, l2, s2, qr, p, P1
        self.g = g
        # A_R1 by level j of the first term: U_j (its school's s2 rows) and W_j (the X and y rows)
        if cp.AR1_is_dense:
            A = cp.AR1_array
            W = A[qr:].reshape(P1, l1, s1)
            coo = sp.coo_matrix(A[:qr])
        else:
            A = cp.AR1 if cp.AR1.format == "csr" else sp.csr_matrix(cp.AR1)
            W = A[qr:].toarray().reshape(P1, l1, s1)
            coo = A[:qr].tocoo()
        self.W = np.ascontiguousarray(W.transpose(1, 0, 2))  # (l1, P1, s1)
        U = np.zeros((l1, s2, s1))
        r, c = coo.row, coo.col
        np.add.at(U, (c // s1, r % s2, c % s1), coo.data)
        self.U = U
        # sums over the levels j in each school: a sparse (l2 x l1) indicator
        self.S = sp.csr_matrix((np.ones(l1), (g, np.arange(l1))), shape=(l2, l1))
        ARR = cp.ARR
        blk = ARR[:qr, :qr].reshape(l2, s2, l2, s2)
        self.A0ZZ = np.ascontiguousarray(blk.diagonal(axis1=0, axis2=2).transpose(2, 0, 1))  # (l2, s2, s2)
        self.A0Zx = np.ascontiguousarray(ARR[:qr, qr:].reshape(l2, s2, P1))
        self.A0xx = np.ascontiguousarray(ARR[qr:, qr:])
        self.A11 = cp.A11
        self.eye2 = np.eye(s2)
        self.eye1 = np.eye(s1)
        self.Wflat = self.W.transpose(1, 0, 2).reshape(P1, l1 * s1)

    def _sum_by_school(self, X: np.ndarray) -> np.ndarray:
        """``sum_{j in g} X_j`` for a (l1, a, b) stack: (l2, a, b)."""
        sh = X.shape
        return np.asarray(self.S @ X.reshape(sh[0], -1)).reshape((self.l2,) + sh[1:])

    # ------------------------------------------------------------------------------------ value
    def evaluate(self, theta: np.ndarray) -> tuple[float, _State | None]:
        crit = self.crit
        st = _State()
        lams = crit.lambdas(theta)
        lam1, lam2 = lams
        st.theta, st.lams = theta, lams
        try:
            if self.s1 == 1:
                L11 = np.sqrt(self.A11 * lam1[0, 0] ** 2 + 1.0)
                L11inv = 1.0 / L11
            else:
                Tm = lam1.T @ self.A11 @ lam1
                Tm += self.eye1
                L11 = batched_cholesky(Tm)
                L11inv = batched_tri_inverse(L11)
            P = np.matmul(L11inv.transpose(0, 2, 1), L11inv)
            T = lam1 @ P @ lam1.T  # (l1, s1, s1)
            UT = self.U @ T
            WT = self.W @ T
            KZZ = self.A0ZZ - self._sum_by_school(UT @ self.U.transpose(0, 2, 1))
            KZx = self.A0Zx - self._sum_by_school(UT @ self.W.transpose(0, 2, 1))
            Kxx = self.A0xx - WT.transpose(1, 0, 2).reshape(self.P1, -1) @ self.Wflat.T
            MZZ = lam2.T @ KZZ @ lam2
            MZZ += self.eye2
            MZx = lam2.T @ KZx  # (l2, s2, P1)
            Lg = batched_cholesky(MZZ)
            Fg = batched_tri_inverse(Lg)
            BgT = Fg @ MZx  # B_g' = L_g^-1 M_Zx[g]: (l2, s2, P1)
            Bf = BgT.reshape(-1, self.P1)
            Sx = Kxx - Bf.T @ Bf
            Lx = dense_cholesky(np.array(Sx, order="F"))
        except NotPositiveDefinite:
            return np.inf, None
        p = self.p
        d1 = L11.diagonal(axis1=1, axis2=2)
        logdet_L = 2.0 * (np.log(d1).sum() + np.log(Lg.diagonal(axis1=1, axis2=2)).sum())
        logdet_RX = 2.0 * np.log(np.diagonal(Lx)[:p]).sum()
        r2 = float(Lx[p, p] ** 2)
        val = float(crit.objective_from_factor(SimpleNamespace(logdet_L=logdet_L, logdet_RX=logdet_RX, pwrss=r2)))
        if not np.isfinite(val):
            return np.inf, None
        st.L11inv, st.P, st.T, st.KZZ, st.KZx, st.Fg, st.BgT, st.Lx, st.r2 = L11inv, P, T, KZZ, KZx, Fg, BgT, Lx, r2
        st.value = val
        return val, st

    # ------------------------------------------------------------------------------------ gradient
    def gradient(self, st: _State) -> np.ndarray:
        crit = self.crit
        lam1, lam2 = st.lams
        p, P1, s1, s2, l2 = self.p, self.P1, self.s1, self.s2, self.l2
        reml = crit.reml and p > 0
        Fg, BgT, Lx = st.Fg, st.BgT, st.Lx
        g = self.g
        # ---- the blocks of M_S^-1 (S: the Z rows, and for REML the X rows)
        Mzz = Fg.transpose(0, 2, 1) @ Fg  # (l2, s2, s2)
        if reml:
            F22 = sla.solve_triangular(Lx[:p, :p], np.eye(p), lower=True, check_finite=False)
            Mxx = F22.T @ F22
            H = Fg.transpose(0, 2, 1) @ BgT[:, :, :p]  # F_g' B_gx': (l2, s2, p)
            HM = H @ Mxx
            Mzz = Mzz + HM @ H.transpose(0, 2, 1)
            Mzx = -HM  # (l2, s2, p)
        # ---- first term: Q_j = V_j' M_S^-1[R_j, R_j] V_j, V_j = [lambda2' U_j; W_j (X rows)]
        Vz = lam2.T @ self.U  # (l1, s2, s1)
        Mg = Mzz[g]
        Q = Vz.transpose(0, 2, 1) @ Mg @ Vz
        if reml:
            Vx = self.W[:, :p, :]
            cross = Vz.transpose(0, 2, 1) @ Mzx[g] @ Vx
            Q += cross + cross.transpose(0, 2, 1) + Vx.transpose(0, 2, 1) @ Mxx @ Vx
        A11 = self.A11
        PL = st.P @ lam1.T
        G = PL @ A11
        Rm = (lam1 @ lam1.T) @ A11
        Rm += self.eye1
        Rinv = 1.0 / Rm if s1 == 1 else batched_inverse(Rm)
        G -= PL @ Q @ Rinv
        Gsum = G.sum(axis=0)
        ntheta = crit.ntheta
        glog = np.zeros(ntheta)
        rows1, cols1 = crit.tril[0]
        rows2, cols2 = crit.tril[1]
        glog[crit.theta_slices[0]] = 2.0 * Gsum[cols1, rows1]
        # ---- second term: X_g = (M_S^-1 Lambda_R' K)[g, g]
        Xg = Mzz @ (lam2.T @ st.KZZ)
        if reml:
            Xg += Mzx @ st.KZx[:, :, :p].transpose(0, 2, 1)
        Xsum = Xg.sum(axis=0)
        glog[crit.theta_slices[1]] = 2.0 * Xsum[cols2, rows2]
        # ---- penalized RSS: conditional modes and Z' res (gradient.py), in blocks
        rhs = np.zeros(P1)
        rhs[p] = -Lx[p, p]
        zx = sla.solve_triangular(Lx, rhs, lower=True, trans="T", check_finite=False)
        zz = -(Fg.transpose(0, 2, 1) @ (BgT @ zx)[:, :, None])[:, :, 0]  # (l2, s2)
        zx, zz = -zx, -zz
        uR = -zz  # the second term's spherical modes
        wz = zz @ lam2.T  # lambda2 z_g
        wx = zx
        AtW = (self.U.transpose(0, 2, 1) @ wz[g][:, :, None])[:, :, 0] + (self.W.transpose(0, 2, 1) @ wx)
        u1 = (PL @ AtW[:, :, None])[:, :, 0]
        b1 = u1 @ lam1.T
        Zres1 = AtW - (A11 @ b1[:, :, None])[:, :, 0]
        Ub = (self.U @ b1[:, :, None])[:, :, 0]  # (l1, s2)
        ZresR = (self.A0ZZ @ wz[:, :, None])[:, :, 0] + self.A0Zx @ wx \
            - np.asarray(self.S @ Ub)
        dr2 = np.zeros(ntheta)
        dr2[crit.theta_slices[0]] = -2.0 * (Zres1.T @ u1)[rows1, cols1]
        dr2[crit.theta_slices[1]] = -2.0 * (ZresR.reshape(l2, s2).T @ uR.reshape(l2, s2))[rows2, cols2]
        nres = crit.n - crit.p if crit.reml else crit.n
        return glog + nres * dr2 / st.r2


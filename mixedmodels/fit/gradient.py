"""The exact gradient of the profiled criterion over theta (the quasi-Newton that uses it is in
:mod:`mixedmodels.fit.optimize`).

Notation (MATH.md sections 2-3): ``A = [Z X y]'[Z X y]``, ``Lt = blockdiag(Lambda, I_p, 1)``, ``D = I`` on
the Z block and 0 elsewhere, ``Omega = Lt' A Lt + D`` (the matrix whose blocked factor
:meth:`~mixedmodels.fit.criterion.ProfiledCriterion.factor` computes). ``S`` is a leading block of
rows: the Z columns for the ML log-determinant ``log|L_Z|^2 = log|Omega_Z|`` and the Z and X columns for
the REML one, ``log|L_Z|^2 + log|R_X|^2 = log|Omega_ZX|``.

**Log-determinant.** With ``E = d Lt / d theta_i`` (for the element ``lambda_t[a, b]`` of term t, ``E`` is
``I_l (x) e_a e_b'`` on term t's block),

    d log|Omega_S| / d theta_i = tr(Omega_S^-1 (E'A Lt + Lt'A E)_S) = 2 sum_j X[(j, b), (j, a)],
    X = Omega_S^-1 (Lt' A)_SS,

the sum running over the levels j of term t. No ``lambda^-1`` is needed anywhere, so the formula is exact
on the boundary too. With the blocked factor ``L = [[L11, 0], [C, LRR]]`` and ``Minv`` the inverse of
``LRR_S LRR_S'`` (LAPACK ``dpotri``), ``V = Lambda_R' A_R1`` (the rest rows of the first term's columns,
scaled), ``P_j = (lambda_1' A11_j lambda_1 + I)^-1`` and ``Q_j = V_j' Minv V_j``:

* first term, level j:  ``X_jj = P_j lambda_1' A11_j - P_j lambda_1' Q_j (I + lambda_1 lambda_1' A11_j)^-1``
  (from ``Omega^-1_11 = P + P lambda' V' Minv V lambda P`` and ``lambda P lambda^-1 = (I + lambda
  lambda' A)^-1``, an identity that holds for singular ``lambda`` by continuity);
* a later term: ``X_RR = Minv Lambda_R' K`` with ``K = A_RR - A_R1 Lambda_1 P Lambda_1' A_1R``, i.e.
  ``(Minv Lambda_R' A_RR)[c, c'] - (Y T A_1R)[c, c']`` with ``Y = Minv V`` and ``T_j = lambda_1 P_j
  lambda_1'``: only entries inside one level's ``s x s`` block are needed.

``Q_j`` and the diagonal of ``Y T A_1R`` are accumulated level by level (a compiled kernel on large
models, the same level-by-level layout as :mod:`mixedmodels.fit.kernels`), so nothing ``q x q`` or ``n x n``
is formed; the cost beyond an evaluation is one ``dpotri`` of the dense rest block (about twice its
``dpotrf``) and one pass over the level blocks (about twice the downdate's).

**Penalized RSS.** By the envelope theorem ``d r^2 / d theta_i = -2 res' Z (dLambda/dtheta_i) u =
-2 sum_j (Z_t' res)[(j, a)] u_t[(j, b)]``, with ``Z' res`` formed from the stored cross-products.

ML: ``grad d = grad log|Omega_Z| + n grad r^2 / r^2``; REML: ``grad dR = grad log|Omega_ZX| +
(n - p) grad r^2 / r^2``.

**Boundary.** The criterion depends on lambda only through lambda lambda', unchanged when a column of
lambda changes sign. So for a scalar term (and for any diagonal element of lambda whose column is
otherwise 0) it is an even, smooth function of ``theta_i``: ``F(theta_i^2)``. Its derivative at
``theta_i = 0`` is exactly 0 (the formulas above give exactly 0 there: ``X`` carries a factor
``theta_i``), and ``grad_i / theta_i`` tends to the finite limit ``2 F'(0)`` as ``theta_i -> 0`` with no
loss of accuracy. Whether 0 is a minimum is thus a second-order question, which
:func:`mixedmodels.fit.optimize.optimize_with_gradient` settles by probing off zero.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from . import blockdiag
from .kernels import njit
from .linalg import BlockedFactor, NotPositiveDefinite, batched_inverse

__all__ = ["gradient", "gradient_from_factor", "MODES", "SparseGradientLayout", "SPARSE_PAIRS_MAX", "PAIR_COST"]

MODES = ("dense", "blocks", "sparse")  # how the level-by-level part runs (see gradient_from_factor)
SPARSE_PAIRS_MAX = 40_000_000  # row pairs within the first term's levels up to which the sparse gradient
                               # of scalar later terms gathers them (SparseGradientLayout; ~16 bytes each)
PAIR_COST = 8  # multiply-adds of the chunked Minv V that one gathered pair costs (SparseGradientLayout)


# ------------------------------------------------------------------------------------ compiled kernel
_qh_kernel = None


def _compile():
    global _qh_kernel
    if _qh_kernel is not None:
        return _qh_kernel
    @njit(nogil=True)
    def qh(ptr, rows, vals, d, MT, T, k, qr, Q, h):  # pragma: no cover - compiled
        """Level by level: V_j = d[R_j] * vals_j (rows of S only), Y_j = Minv[R_j, R_j] V_j,
        Q_j = V_j' Y_j, and h[r] += Y_j[r] T_j vals_j[r] for the Z-rest rows r."""
        nlev = ptr.shape[0] - 1
        s = vals.shape[1]
        maxr = 0
        for j in range(nlev):
            if ptr[j + 1] - ptr[j] > maxr:
                maxr = ptr[j + 1] - ptr[j]
        V = np.empty((maxr, s))
        Y = np.empty((maxr, s))
        for j in range(nlev):
            a0 = ptr[j]
            nr = 0
            for a in range(ptr[j + 1] - a0):
                if rows[a0 + a] < k:
                    nr += 1
                else:
                    break  # rows are sorted
            for a in range(nr):
                ra = rows[a0 + a]
                for c in range(s):
                    V[a, c] = d[ra] * vals[a0 + a, c]
            for a in range(nr):
                for c in range(s):
                    Y[a, c] = 0.0
            # Y = Minv[R_j, R_j] V_j from the lower triangle of Minv (rows sorted: ra > rb for a > b),
            # read as the upper triangle of MT = Minv' (C order), along its rows
            if s == 1:
                for b in range(nr):
                    rb = rows[a0 + b]
                    vb = V[b, 0]
                    yb = MT[rb, rb] * vb
                    for a in range(b + 1, nr):
                        mab = MT[rb, rows[a0 + a]]
                        Y[a, 0] += mab * vb
                        yb += mab * V[a, 0]
                    Y[b, 0] += yb
            elif s == 2:
                for b in range(nr):
                    rb = rows[a0 + b]
                    vb0 = V[b, 0]
                    vb1 = V[b, 1]
                    mbb = MT[rb, rb]
                    yb0 = mbb * vb0
                    yb1 = mbb * vb1
                    for a in range(b + 1, nr):
                        mab = MT[rb, rows[a0 + a]]
                        Y[a, 0] += mab * vb0
                        Y[a, 1] += mab * vb1
                        yb0 += mab * V[a, 0]
                        yb1 += mab * V[a, 1]
                    Y[b, 0] += yb0
                    Y[b, 1] += yb1
            else:
                for b in range(nr):
                    rb = rows[a0 + b]
                    mbb = MT[rb, rb]
                    for c in range(s):
                        Y[b, c] += mbb * V[b, c]
                    for a in range(b + 1, nr):
                        mab = MT[rb, rows[a0 + a]]
                        for c in range(s):
                            Y[a, c] += mab * V[b, c]
                            Y[b, c] += mab * V[a, c]
            for x in range(s):
                for y in range(s):
                    acc = 0.0
                    for a in range(nr):
                        acc += V[a, x] * Y[a, y]
                    Q[j, x, y] = acc
            for a in range(nr):
                ra = rows[a0 + a]
                if ra < qr:
                    acc = 0.0
                    for x in range(s):
                        for y in range(s):
                            acc += Y[a, x] * T[j, x, y] * vals[a0 + a, y]
                    h[ra] += acc
        return Q, h

    @njit(nogil=True)
    def rest_first(Minv, ARR, d, k, qr, out):  # pragma: no cover - compiled
        """out[c] = sum_r Minv[c, r] d[r] ARR[r, c] for c < qr, from the lower triangle of Minv (Fortran
        order: walked down its columns) and the symmetric ARR (C order: walked along its rows)."""
        for r in range(k):
            for c in range(r, k):
                v = Minv[c, r] * ARR[r, c]
                if c < qr:
                    out[c] += v * d[r]
                if r < qr and c != r:
                    out[r] += v * d[c]
        return out

    _qh_kernel = (qh, rest_first)
    return _qh_kernel


# ------------------------------------------------------------------------------------------ gradient
def gradient(crit, theta, *, mode: str | None = None) -> tuple[float, np.ndarray | None]:
    """``(value, grad)`` of the criterion (REML or ML as ``crit.reml``) at ``theta``.

    Counts as one evaluation in ``crit.nevals``. Where the factor does not exist (a block not positive
    definite) returns ``(inf, None)``. By default (``mode=None``) the criterion's evaluation path
    (:mod:`mixedmodels.fit.paths`) computes both; a ``mode`` of :data:`MODES` forms the factor by the
    path and the gradient by that mode instead (to compare them).
    """
    theta = np.asarray(theta, dtype=float)
    if mode is None:
        return crit.value_and_gradient(theta)
    crit.nevals += 1
    try:
        f = crit.factor(theta, need_C=False)
    except NotPositiveDefinite:
        return np.inf, None
    val = float(crit.objective_from_factor(f))
    if not np.isfinite(val):
        return np.inf, None
    return val, gradient_from_factor(crit, f, mode=mode)


def gradient_from_factor(crit, f: BlockedFactor, *, mode: str = "dense",
                         chunk_elements: int = 2_000_000,
                         layout: "SparseGradientLayout | None | bool" = None,
                         compiled: bool = False) -> np.ndarray:
    """The gradient of ``crit`` (a :class:`~mixedmodels.fit.criterion.ProfiledCriterion`) at the factor
    ``f`` (see the module docstring for the formulas).

    ``mode`` says how the level-by-level part runs: ``"dense"`` (A_R1 dense, BLAS), ``"blocks"`` (the
    compiled level-by-level kernel; scalar later terms only, else as ``"sparse"``) or ``"sparse"``
    (sparse A_R1: with scalar later terms, the entries of ``Minv`` inside each level's rows gathered
    through ``layout``, a :class:`SparseGradientLayout` built once per model, made here when ``None`` and
    the model is small enough; otherwise, or with ``layout=False``, ``Minv V`` formed ``chunk_elements``
    at a time). All give the same gradient; the evaluation paths pass theirs. ``compiled``: the first
    term's level-by-level part by the kernels of :mod:`mixedmodels.fit.blockdiag` (a vector-valued first
    term; the paths say when).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    cp = crit.cp
    lams = f.lambdas
    lam1 = lams[0]
    l1, s1 = crit.l1, crit.s1
    qr, p, m, n = crit.qrest, crit.p, crit.m, crit.n
    k = qr + p if crit.reml else qr
    LRR = f.LRR
    m1 = m - 1
    ntheta = crit.ntheta

    # the inverse of LRR_S LRR_S' in the lower triangle; the strict upper triangle stays 0 (LRR comes
    # from dpotrf with clean=1), so Minv holds exactly the lower triangle. (Done first: with
    # multithreaded OpenBLAS, dpotri right after a level-2 BLAS call was seen to run 3x slower.)
    if k:
        Minv, info = sla.lapack.dpotri(LRR[:k, :k], lower=1)
        if info != 0:
            raise NotPositiveDefinite(f"dpotri failed (info {info})")
    if crit.rest_diag:
        dvec = crit.rest_scale_vector(f.theta)
        LR = None
    else:
        dvec = None
        LR = crit.rest_scale_matrix(f.theta)

    # ---- conditional modes and Z' res from the cross-products
    # LRR' [x; -1] = [0; -r] gives x = (u_R, beta) without copying the leading block of LRR
    rhs = np.zeros(m)
    rhs[m1] = -LRR[m1, m1]
    z, info = sla.lapack.dtrtrs(LRR, rhs, lower=1, trans=1)  # LAPACK directly: called once per gradient
    if info != 0:
        raise np.linalg.LinAlgError(f"singular triangular factor (dtrtrs info {info})")
    z = -z  # (-x, 1)
    x = -z[:m1]
    w = dvec * z if LR is None else np.asarray(LR @ z).ravel()  # (-b_R, -beta, 1)
    compiled = compiled and s1 >= 2
    AR1d = crit.AR1_dense.reshape(m, -1) if mode == "dense" else None
    AR1_mat = AR1d if AR1d is not None else crit.cp.AR1
    AtW = np.asarray(AR1_mat.T @ w).ravel().reshape(l1, s1)
    if compiled:  # u1, b1, sum_j Zres1_j u1_j' and T1 in one pass over the levels
        u1, b1, ZU, T1 = blockdiag.solution_first(lam1, f.L11inv, cp.A11, AtW,
                                                  want_T1=mode != "dense" or bool(crit.rest_pairs))
    else:
        # batched matmuls, not einsum: its unoptimized loops cost 10-30x more on these shapes
        P = np.matmul(f.L11inv.transpose(0, 2, 1), f.L11inv)  # (lambda1' A11_j lambda1 + I)^-1
        PL = P @ lam1.T  # P_j lambda1'
        u1 = np.matmul(PL, AtW[:, :, None])[:, :, 0]
        b1 = u1 @ lam1.T
        Zres1 = AtW - np.matmul(cp.A11, b1[:, :, None])[:, :, 0]
        ZU = Zres1.T @ u1
    ZresR = cp.ARR[:qr] @ w - np.asarray(AR1_mat[:qr] @ b1.ravel()).ravel()
    r2 = f.pwrss
    dr2 = np.zeros(ntheta)
    rows, cols = crit.tril[0]
    dr2[crit.theta_slices[0]] = -2.0 * ZU[rows, cols]
    uR = x[:qr]
    pos = 0
    for ti, t in enumerate(crit.terms[1:], start=1):
        ut = uR[pos: pos + t.nranef].reshape(t.nlevels, t.ncols)
        zt = ZresR[pos: pos + t.nranef].reshape(t.nlevels, t.ncols)
        rows, cols = crit.tril[ti]
        dr2[crit.theta_slices[ti]] = -2.0 * (zt.T @ ut)[rows, cols]
        pos += t.nranef

    # ---- log-determinant of Omega_S
    glog = np.zeros(ntheta)
    if not compiled:
        T1 = lam1 @ P @ lam1.T  # lambda1 P_j lambda1' (batched matmul: faster than a 3-operand einsum)
    use_kernel = mode == "blocks" and crit.rest_diag
    if k and mode == "sparse" and crit.rest_diag and layout is None:
        layout = SparseGradientLayout.for_criterion(crit)
    use_layout = k and mode == "sparse" and isinstance(layout, SparseGradientLayout)
    Q = np.zeros((l1, s1, s1))
    rest = crit.rest_pairs
    rest_x = np.zeros(len(rest))  # sum_j X[(j,b),(j,a)] for each rest theta element
    if k and use_kernel:
        blocks = crit.level_blocks
        h = np.zeros(k)
        qh, rest_first = _compile()
        qh(blocks.ptr, blocks.rows, blocks.vals, dvec, Minv.T, np.ascontiguousarray(T1), k, qr, Q, h)
        if qr:
            # (Minv Lambda_R' A_RR)[c, c] = sum_r Minv[c, r] d[r] ARR[r, c] (no BLAS level 2 on the
            # Fortran-ordered Minv: multithreaded gemv on it is slow)
            first = rest_first(Minv, cp.ARR, dvec, k, qr, np.zeros(qr))
            xdiag = first - h[:qr]
            rest_x[:] = np.bincount(crit.rest_seg, weights=xdiag[crit.rest_ci], minlength=len(rest))
    elif use_layout:
        xdiag = layout.q_and_rest_diagonal(Minv, dvec, T1, Q)
        if rest:
            rest_x[:] = np.bincount(crit.rest_seg, weights=xdiag[crit.rest_ci], minlength=len(rest))
    elif k:
        Minv = Minv + Minv.T
        Minv.flat[:: k + 1] *= 0.5  # the diagonal
        # W' = ((LR' A_RR)[:k, :k])' = (A_RR LR)[:k, :k] (A_RR symmetric), rows contiguous
        if LR is None:
            WT = cp.ARR[:k, :k] * dvec[None, :k]
        else:
            WT = crit.rest_scale_right(cp.ARR[:k].copy(), lams)[:, :k]
        rest_x[:] = _pair_sums(crit, Minv, WT, len(rest))
        if AR1d is not None:
            V = (AR1d * dvec[:, None] if LR is None else np.asarray(LR.T @ AR1d))[:k]
            Y = Minv @ V
            Yb = Y.reshape(k, l1, s1)
            if compiled:
                Q = blockdiag.q_dense(V, Y, l1, s1)
            else:
                Q[:] = np.matmul(V.reshape(k, l1, s1).transpose(1, 2, 0), Yb.transpose(1, 0, 2))
            if rest:
                YT = np.matmul(Yb.transpose(1, 0, 2), T1).transpose(1, 0, 2).reshape(k, l1 * s1)
                rest_x -= _pair_sums(crit, YT, AR1d, len(rest))
        else:
            if LR is None:
                V = sp.csc_matrix(crit.AR1_csc.multiply(dvec[:, None]))[:k]
            else:
                V = (LR.T @ crit.AR1_csc).tocsc()[:k]
            _q_and_corr_chunked(crit, V, Minv, T1, k, Q, rest_x, chunk_elements)
    # first term: X_jj = P_j lambda1' A11_j - P_j lambda1' Q_j (I + lambda1 lambda1' A11_j)^-1
    if compiled:
        Gsum = blockdiag.logdet_first(lam1, f.L11inv, cp.A11, Q if k else None)
    else:
        G = PL @ cp.A11
        if k:
            Rm = (lam1 @ lam1.T) @ cp.A11
            Rm += crit.eye1
            Rinv = 1.0 / Rm if s1 == 1 else batched_inverse(Rm)
            G -= PL @ Q @ Rinv
        Gsum = G.sum(axis=0)
    rows, cols = crit.tril[0]
    glog[crit.theta_slices[0]] = 2.0 * Gsum[cols, rows]
    if rest:
        glog[crit.rest_theta_pos] = 2.0 * rest_x
    nres = n - p if crit.reml else n
    return glog + nres * dr2 / r2


def _pair_sums(crit, A: np.ndarray, B: np.ndarray, npairs: int, max_elements: int = 65_536
               ) -> np.ndarray:
    """For each later-term theta element e: ``sum_j A[ci_j] . B[cj_j]`` over its index pairs (all pairs
    at once, slices of at most ``max_elements`` gathered elements -- cache-sized: large temporaries
    cost more in page faults than the arithmetic --, then summed per element)."""
    ci, cj, seg = crit.rest_ci, crit.rest_cj, crit.rest_seg
    width = max(1, A.shape[1])
    step = max(1, max_elements // width)
    out = np.zeros(npairs)
    for a in range(0, len(ci), step):
        b = min(len(ci), a + step)
        vals = (A[ci[a:b]] * B[cj[a:b]]).sum(axis=1)
        out += np.bincount(seg[a:b], weights=vals, minlength=npairs)
    return out


def _q_and_corr_chunked(crit, V: sp.csc_matrix, Minv: np.ndarray, T1: np.ndarray, k: int,
                        Q: np.ndarray, rest_x: np.ndarray, chunk_elements: int) -> None:
    """Q_j = V_j' Minv V_j and, for each rest theta element, subtract sum_j (Y T A_1R)[ci_j, cj_j], with
    Y = Minv V formed a block of the first term's levels at a time."""
    l1, s1 = crit.l1, crit.s1
    step = max(1, chunk_elements // max(1, k * s1))
    AR1 = crit.AR1_csc
    for l0 in range(0, l1, step):
        le = min(l1, l0 + step)
        c0, c1 = l0 * s1, le * s1
        Vc = V[:, c0:c1]
        Y = np.asarray((Vc.T @ Minv).T if sp.issparse(Vc) else Minv @ Vc)  # (k, c)
        Vd = Vc.toarray() if sp.issparse(Vc) else np.asarray(Vc)
        nl = le - l0
        Yb = Y.reshape(k, nl, s1)
        Q[l0:le] = np.matmul(Vd.reshape(k, nl, s1).transpose(1, 2, 0), Yb.transpose(1, 0, 2))
        if crit.rest_pairs:
            YT = np.matmul(Yb.transpose(1, 0, 2), T1[l0:le]).transpose(1, 0, 2).reshape(k, c1 - c0)
            Ac = AR1[:, c0:c1].tocsr()
            prod = Ac[crit.rest_cj].multiply(YT[crit.rest_ci])
            rest_x -= np.bincount(crit.rest_seg, weights=np.asarray(prod.sum(axis=1)).ravel(),
                                  minlength=len(rest_x))




class SparseGradientLayout:
    """The sparse gradient's per-model index arrays when every later term is scalar (``crit.rest_diag``):
    A_R1 level by level (the first term's level ``j``: its rows below ``k`` and their values, one column
    per column of the term) and, for each such row ``a``, every row ``b`` of the same level, with the
    position of ``Minv[a, b]`` in the lower triangle ``dpotri`` leaves (column-major).

    With these, ``Y_j = Minv[R_j, R_j] V_j`` for all levels at once is one sparse product whose values are
    a gather from ``Minv`` (the pattern is fixed), so an evaluation costs about three passes over the
    pairs (``sum_j |R_j|^2``), with no ``Minv V`` over all ``k`` rows and no per-call sparse indexing.
    Built by :meth:`for_criterion` (None where the pairs would exceed :data:`SPARSE_PAIRS_MAX`).
    """

    def __init__(self, crit):
        qr, p, s1, l1 = crit.qrest, crit.p, crit.s1, crit.l1
        k = qr + p if crit.reml else qr
        self.k, self.qr, self.l1, self.s1 = k, qr, l1, s1
        csc = crit.AR1_csc
        col = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))
        r = csc.indices.astype(np.int64)
        keep = r < k
        lev = col[keep] // s1
        key = lev.astype(np.int64) * max(k, 1) + r[keep]
        # sorted by level, then row (stable sort: the columns of a level are each already sorted)
        order = np.argsort(key, kind="stable")
        skey = key[order]
        first = np.ones(len(skey), dtype=bool)
        first[1:] = skey[1:] != skey[:-1]
        ukey = skey[first]
        inv = np.empty(len(key), dtype=np.intp)
        inv[order] = np.cumsum(first) - 1
        self.lev = (ukey // max(k, 1)).astype(np.intp)
        self.rows = (ukey % max(k, 1)).astype(np.intp)
        nnz = len(ukey)
        self.vals = np.zeros((nnz, s1))
        self.vals[inv, col[keep] % s1] = csc.data[keep]
        ptr = np.searchsorted(self.lev, np.arange(l1 + 1))
        # stored row i (position t in its level of c rows) pairs with the rows at positions t .. c-1 of
        # its level (the upper triangle of Minv[R_j, R_j] in level order; rows ascend within a level,
        # so each pair (a, b) has a <= b and Minv[b, a] is in dpotri's lower triangle)
        start = ptr[self.lev]
        rowlen = ptr[self.lev + 1] - np.arange(nnz)
        npairs = int(rowlen.sum())
        itype = np.int32 if max(nnz, npairs) < 2**31 - 1 else np.int64
        indptr = np.zeros(nnz + 1, dtype=itype)
        np.cumsum(rowlen, out=indptr[1:])
        # column of each pair: i + (its position in row i)
        indices = np.repeat((np.arange(nnz) - indptr[:-1]).astype(itype), rowlen)
        indices += np.arange(npairs, dtype=itype)
        flat = self.rows.take(indices)  # b
        flat += np.repeat(self.rows * np.intp(k), rowlen)  # + a * k: Minv[b, a], column-major
        del start
        self.flat = flat  # intp: take() converts narrower indices at every call
        self.indices = indices
        self.indptr = indptr
        self.npairs = npairs
        self.nnz = nnz
        self.hmask = self.rows < qr  # rows of later terms' columns (the rest of X's diagonal)
        self.hrows = self.rows[self.hmask]
        # the pattern of A_RR[:k, :qr] (for (Minv Lambda_R' A_RR)[c, c], c < qr)
        ARR = crit.cp.ARR
        rr, cc = np.nonzero(ARR[:k, :qr])
        self.arr_r, self.arr_c = rr.astype(np.intp), cc.astype(np.intp)
        self.arr_v = ARR[rr, cc]
        self.arr_flat = np.maximum(rr, cc) + np.minimum(rr, cc) * np.int64(k)

    @staticmethod
    def costs(crit) -> tuple[int, int]:
        """``(pairs, products)``: the row pairs per level the layout would hold (``sum_j c_j (c_j + 1) / 2``
        with ``c_j`` the rows below ``k`` of level ``j``, the largest of its columns' counts when ``s1 >
        1``) and the multiply-adds of the chunked ``Minv V`` (nonzeros of ``V`` times ``k``)."""
        k = crit.qrest + crit.p if crit.reml else crit.qrest
        csc = crit.AR1_csc
        if not k or not crit.q1:
            return 0, 0
        below = (csc.indices < k).astype(np.int64)
        per_col = np.add.reduceat(below, csc.indptr[:-1]) if len(below) else np.zeros(crit.q1, np.int64)
        per_col[np.diff(csc.indptr) == 0] = 0  # reduceat gives the next element for empty columns
        c = per_col.reshape(crit.l1, crit.s1).max(axis=1)
        return int((c * (c + 1) // 2).sum()), int(per_col.sum()) * k

    @classmethod
    def for_criterion(cls, crit) -> "SparseGradientLayout | None":
        """The layout of ``crit``, or None when it cannot be used (later terms not all scalar), would hold
        more than :data:`SPARSE_PAIRS_MAX` pairs, or would not pay: a gathered pair costs about
        :data:`PAIR_COST` multiply-adds of the chunked product (measured: ~7 ns against ~0.7 ns), which
        is the cheaper where A_R1's levels are dense in the rest rows (many fixed-effect columns)."""
        if not crit.rest_diag:
            return None
        pairs, products = cls.costs(crit)
        if pairs > SPARSE_PAIRS_MAX or pairs * PAIR_COST >= products:
            return None
        return cls(crit)

    def q_and_rest_diagonal(self, Minv: np.ndarray, d: np.ndarray, T1: np.ndarray, Q: np.ndarray
                            ) -> np.ndarray:
        """Fill ``Q_j = V_j' Minv V_j`` (``V = diag(d) A_R1`` on rows below ``k``) and return the diagonal
        of ``X_RR`` on the later terms' columns: ``(Minv Lambda_R' A_RR)[c, c] - (Y T A_1R)[c, c]``.
        ``Minv``: the lower triangle from ``dpotri`` (Fortran order)."""
        k, qr, l1, s1 = self.k, self.qr, self.l1, self.s1
        mflat = np.asfortranarray(Minv).ravel(order="F")
        e = mflat.take(self.flat)
        B = sp.csr_matrix((e, self.indices, self.indptr), shape=(self.nnz, self.nnz))
        dv = self.vals * d[self.rows][:, None]
        # Y[(j, a), x] = sum_b Minv[a, b] V[(j, b), x]: B holds the upper triangle of each level's block
        Y = B @ dv
        Y += B.T @ dv
        Y -= e[self.indptr[:-1]][:, None] * dv  # the diagonal (each row's first pair) counted twice
        if s1 == 1:
            Q[:, 0, 0] = np.bincount(self.lev, weights=dv[:, 0] * Y[:, 0], minlength=l1)
        else:
            for x in range(s1):
                for y in range(x, s1):
                    Q[:, x, y] = np.bincount(self.lev, weights=dv[:, x] * Y[:, y], minlength=l1)
                    if y != x:
                        Q[:, y, x] = Q[:, x, y]
        out = np.zeros(qr)
        if not qr:
            return out
        # (Minv Lambda_R' A_RR)[c, c] = sum_r Minv[c, r] d[r] A_RR[r, c]
        out += np.bincount(self.arr_c, weights=mflat.take(self.arr_flat) * d[self.arr_r] * self.arr_v,
                           minlength=qr)
        # minus sum_j Y_j[c] T_j vals_j[c] over the levels whose rows hold c
        m = self.hmask
        lev = self.lev[m]
        if s1 == 1:
            w = Y[m, 0] * T1[lev, 0, 0] * self.vals[m, 0]
        else:
            w = np.einsum("ix,ixy,iy->i", Y[m], T1[lev], self.vals[m])
        out -= np.bincount(self.hrows, weights=w, minlength=qr)
        return out

"""The exact gradient of the profiled criterion over theta, and a quasi-Newton optimizer that uses it.

Notation (MATH.md sections 2-3): ``A = [Z X y]'[Z X y]``, ``Lt = blockdiag(Lambda, I_p, 1)``, ``D = I`` on
the Z block and 0 elsewhere, ``Omega = Lt' A Lt + D`` (the matrix whose blocked factor
:meth:`ProfiledCriterion.factor` computes). ``S`` is a leading block of rows: the Z columns for the ML
log-determinant ``log|L_Z|^2 = log|Omega_Z|`` and the Z and X columns for the REML one,
``log|L_Z|^2 + log|R_X|^2 = log|Omega_ZX|``.

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
:func:`optimize_with_gradient` settles by probing off zero.
"""

from __future__ import annotations

import warnings
import weakref
from functools import cached_property

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..errors import warn as warn_r
from .criterion import BlockedFactor, ProfiledCriterion
from ..errors import ConvergenceWarning
from .linalg import NotPositiveDefinite, batched_inverse
from .optimize import OptSummary, optimize_theta

__all__ = ["gradient", "gradient_from_factor", "optimize_with_gradient"]

_CHUNK_ELEMENTS = 2_000_000  # size of the dense k x (columns) blocks of Minv V formed at once
_PREP: "weakref.WeakKeyDictionary[ProfiledCriterion, _Prep]" = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------------------------- set-up
class _Prep:
    """Per-criterion layout, computed once: theta positions, rest-term index pairs, A_R1 by columns."""

    def __init__(self, crit: ProfiledCriterion):
        terms = crit.terms
        self.l1 = terms[0].nlevels
        self.s1 = terms[0].ncols
        self.tril = [t._tril() for t in terms]
        self.eye1 = np.eye(self.s1)  # added to each of the first term's s1 x s1 blocks
        # rest terms: for each theta element lambda_t[a, b], the rows (j, b) and columns (j, a)
        self.rest = []  # (theta index, ci, cj)
        pos = 0
        for ti, t in enumerate(terms[1:], start=1):
            rows, cols = self.tril[ti]
            base = pos + np.arange(t.nlevels) * t.ncols
            for e, (a, b) in enumerate(zip(rows, cols)):
                self.rest.append((crit.theta_slices[ti][e], base + b, base + a))
            pos += t.nranef
        self.AR1 = crit.cp.AR1.tocsr()
        # small problems: A_R1 dense (as the criterion keeps it), every product one BLAS call
        self.AR1d = crit._AR1d.reshape(crit.m, -1) if crit._dense else None
        self.AR1_mat = self.AR1d if self.AR1d is not None else self.AR1
        self._blocks = None

    @cached_property
    def AR1_csc(self) -> sp.csc_matrix:
        """A_R1 by columns, indices sorted (for the sparse paths only: formed on first use)."""
        out = self.AR1.tocsc()
        out.sort_indices()
        return out

    def blocks(self, crit: ProfiledCriterion):
        """The level-by-level layout of A_R1 (shared with the criterion's compiled downdate)."""
        if crit._blocks is not None:
            return crit._blocks
        if self._blocks is None:
            from . import kernels

            self._blocks = kernels.LevelBlocks(crit.cp.AR1, self.l1, self.s1)
        return self._blocks


def _prep(crit: ProfiledCriterion) -> _Prep:
    p = _PREP.get(crit)
    if p is None:
        p = _Prep(crit)
        _PREP[crit] = p
    return p


# ------------------------------------------------------------------------------------ compiled kernel
_qh_kernel = None


def _compile():
    global _qh_kernel
    if _qh_kernel is not None:
        return _qh_kernel
    import numba

    @numba.njit(cache=True, nogil=True)
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

    @numba.njit(cache=True, nogil=True)
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
def gradient(crit: ProfiledCriterion, theta, *, kernel: bool | None = None
             ) -> tuple[float, np.ndarray | None]:
    """``(value, grad)`` of the criterion (REML or ML as ``crit.reml``) at ``theta``.

    Counts as one evaluation in ``crit.nevals``. Where the factor does not exist (a block not positive
    definite) returns ``(inf, None)``. ``kernel`` forces (True) or forbids (False) the compiled
    level-by-level path of large models; by default (None) small models use the compiled evaluator of
    :mod:`mixedmodels.fit.smallfit` and large ones the level-by-level path when the criterion uses its
    compiled downdate. ``kernel=False`` is the NumPy path throughout.
    """
    fun = _Counted(crit, kernel, verbose=False)
    val, f = fun.value(np.asarray(theta, dtype=float))
    if f is None:
        return np.inf, None
    return val, fun.grad(f)


def gradient_from_factor(crit: ProfiledCriterion, f: BlockedFactor, *, kernel: bool | None = None
                         ) -> np.ndarray:
    """The gradient of ``crit`` at the factor ``f`` (see the module docstring for the formulas)."""
    prep = _prep(crit)
    cp = crit.cp
    lams = f.lambdas
    lam1 = lams[0]
    l1, s1 = prep.l1, prep.s1
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
        dvec = crit._rest_scale_vector(f.theta)
        LR = None
    else:
        dvec = None
        LR = crit._rest_scale_matrix(lams)

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
    P = np.einsum("lki,lkj->lij", f.L11inv, f.L11inv)  # (lambda1' A11_j lambda1 + I)^-1
    AtW = np.asarray(prep.AR1_mat.T @ w).ravel().reshape(l1, s1)
    PL = np.einsum("lij,kj->lik", P, lam1)  # P_j lambda1'
    u1 = np.einsum("lik,lk->li", PL, AtW)
    b1 = u1 @ lam1.T
    Zres1 = AtW - np.einsum("lij,lj->li", cp.A11, b1)
    ZresR = np.einsum("ij,j->i", cp.ARR[:qr], w) - np.asarray(prep.AR1_mat[:qr] @ b1.ravel()).ravel()
    r2 = f.pwrss
    dr2 = np.zeros(ntheta)
    rows, cols = prep.tril[0]
    dr2[crit.theta_slices[0]] = -2.0 * (Zres1.T @ u1)[rows, cols]
    uR = x[:qr]
    pos = 0
    for ti, t in enumerate(crit.terms[1:], start=1):
        ut = uR[pos: pos + t.nranef].reshape(t.nlevels, t.ncols)
        zt = ZresR[pos: pos + t.nranef].reshape(t.nlevels, t.ncols)
        rows, cols = prep.tril[ti]
        dr2[crit.theta_slices[ti]] = -2.0 * (zt.T @ ut)[rows, cols]
        pos += t.nranef

    # ---- log-determinant of Omega_S
    glog = np.zeros(ntheta)
    T1 = lam1 @ P @ lam1.T  # lambda1 P_j lambda1' (batched matmul: faster than a 3-operand einsum)
    use_kernel = crit._blocks is not None if kernel is None else kernel
    use_kernel = use_kernel and crit.rest_diag
    Q = np.zeros((l1, s1, s1))
    rest_x = np.zeros(len(prep.rest))  # sum_j X[(j,b),(j,a)] for each rest theta element
    if k and use_kernel:
        blocks = prep.blocks(crit)
        h = np.zeros(k)
        qh, rest_first = _compile()
        qh(blocks.ptr, blocks.rows, blocks.vals, dvec, Minv.T, np.ascontiguousarray(T1), k, qr, Q, h)
        if qr:
            # (Minv Lambda_R' A_RR)[c, c] = sum_r Minv[c, r] d[r] ARR[r, c] (no BLAS level 2 on the
            # Fortran-ordered Minv: multithreaded gemv on it is slow)
            first = rest_first(Minv, cp.ARR, dvec, k, qr, np.zeros(qr))
            xdiag = first - h[:qr]
            for e, (i, ci, cj) in enumerate(prep.rest):
                rest_x[e] = xdiag[ci].sum()
    elif k:
        Minv = Minv + Minv.T
        Minv.flat[:: k + 1] *= 0.5  # the diagonal
        if LR is None:
            W = cp.ARR[:k, :k] * dvec[:k, None]
        else:
            W = np.asarray(LR.T @ cp.ARR)[:k, :k]
        for e, (i, ci, cj) in enumerate(prep.rest):
            rest_x[e] = np.einsum("jr,rj->", Minv[ci], W[:, cj])
        if prep.AR1d is not None:
            V = (prep.AR1d * dvec[:, None] if LR is None else np.asarray(LR.T @ prep.AR1d))[:k]
            Y = Minv @ V
            Yb = Y.reshape(k, l1, s1)
            Q[:] = np.einsum("rla,rlb->lab", V.reshape(k, l1, s1), Yb)
            if prep.rest:
                YT = np.einsum("rla,lab->rlb", Yb, T1).reshape(k, l1 * s1)
                for e, (i, ci, cj) in enumerate(prep.rest):
                    rest_x[e] -= np.einsum("ji,ji->", YT[ci], prep.AR1d[cj])
        else:
            if LR is None:
                V = sp.csc_matrix(prep.AR1_csc.multiply(dvec[:, None]))[:k]
            else:
                V = (LR.T @ prep.AR1_csc).tocsc()[:k]
            _q_and_corr_chunked(prep, V, Minv, T1, k, Q, rest_x)
    # first term: X_jj = P_j lambda1' A11_j - P_j lambda1' Q_j (I + lambda1 lambda1' A11_j)^-1
    G = PL @ cp.A11
    if k:
        Rm = (lam1 @ lam1.T) @ cp.A11
        Rm += prep.eye1
        Rinv = 1.0 / Rm if s1 == 1 else batched_inverse(Rm)
        G -= PL @ Q @ Rinv
    Gsum = G.sum(axis=0)
    rows, cols = prep.tril[0]
    glog[crit.theta_slices[0]] = 2.0 * Gsum[cols, rows]
    for e, (i, ci, cj) in enumerate(prep.rest):
        glog[i] = 2.0 * rest_x[e]
    nres = n - p if crit.reml else n
    return glog + nres * dr2 / r2


def _q_and_corr_chunked(prep: _Prep, V: sp.csc_matrix, Minv: np.ndarray, T1: np.ndarray, k: int,
                        Q: np.ndarray, rest_x: np.ndarray) -> None:
    """Q_j = V_j' Minv V_j and, for each rest theta element, subtract sum_j (Y T A_1R)[ci_j, cj_j], with
    Y = Minv V formed a block of the first term's levels at a time."""
    l1, s1 = prep.l1, prep.s1
    step = max(1, _CHUNK_ELEMENTS // max(1, k * s1))
    AR1 = prep.AR1_csc
    for l0 in range(0, l1, step):
        le = min(l1, l0 + step)
        c0, c1 = l0 * s1, le * s1
        Vc = V[:, c0:c1]
        Y = np.asarray((Vc.T @ Minv).T if sp.issparse(Vc) else Minv @ Vc)  # (k, c)
        Vd = Vc.toarray() if sp.issparse(Vc) else np.asarray(Vc)
        nl = le - l0
        Yb = Y.reshape(k, nl, s1)
        Q[l0:le] = np.einsum("rla,rlb->lab", Vd.reshape(k, nl, s1), Yb)
        if prep.rest:
            YT = np.einsum("rla,lab->rlb", Yb, T1[l0:le]).reshape(k, c1 - c0)
            Ac = AR1[:, c0:c1].tocsr()
            for e, (i, ci, cj) in enumerate(prep.rest):
                rest_x[e] -= Ac[cj].multiply(YT[ci]).sum()


# ------------------------------------------------------------------------------------------ optimizer
class _Counted:
    """The criterion split in two: value (one factorization, counted in ``crit.nevals``) and gradient
    from the same factor (counted in ``ngrad``), so line-search trials that are rejected cost no
    gradient.

    On small models (``crit.small_evaluator()``, and ``kernel`` left at None) the compiled evaluator
    returns the value and the gradient together for a few microseconds; the "factor" passed from
    :meth:`value` to :meth:`grad` is then that gradient."""

    def __init__(self, crit: ProfiledCriterion, kernel: bool | None, verbose: bool,
                 budget: int | None = None):
        self.crit = crit
        self.kernel = kernel
        self.verbose = verbose
        self.ngrad = 0
        self.small = crit.small_evaluator() if kernel is None else None
        self.budget = budget  # at most this many evaluations (the maxeval option), then _Budget
        self.start = crit.nevals
        self.best_x: np.ndarray | None = None
        self.best_f = np.inf

    def value(self, x: np.ndarray):
        crit = self.crit
        if self.budget is not None and crit.nevals - self.start >= self.budget:
            raise _Budget()
        crit.nevals += 1
        out = self._value(x)
        if out[0] < self.best_f:
            self.best_x, self.best_f = np.array(x, dtype=float), out[0]
        return out

    def _value(self, x: np.ndarray):
        crit = self.crit
        if self.small is not None:
            v, f = self.small(x)
        else:
            try:
                f = crit.factor(x, need_C=False)
            except NotPositiveDefinite:
                return np.inf, None
            v = float(crit.objective_from_factor(f))
        if self.verbose:
            print(f"    f={v:.12f} x={np.array2string(x, precision=8)}")
        return (v, f) if np.isfinite(v) else (np.inf, None)

    def grad(self, f) -> np.ndarray | None:
        self.ngrad += 1
        if isinstance(f, np.ndarray):  # the compiled evaluator's gradient
            return f if np.all(np.isfinite(f)) else None
        try:
            g = gradient_from_factor(self.crit, f, kernel=self.kernel)
        except (NotPositiveDefinite, np.linalg.LinAlgError):
            return None
        return g if np.all(np.isfinite(g)) else None


class _Budget(Exception):
    """The evaluation budget (``maxeval``) is spent."""


def _cholesky_solve(B: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``B^-1 g`` by Cholesky (what ``scipy.linalg.cho_factor``/``cho_solve`` compute, without their
    per-call overhead); LinAlgError when ``B`` is not finite or not positive definite."""
    if not np.all(np.isfinite(B)):
        raise np.linalg.LinAlgError("the matrix has non-finite entries")
    c, info = sla.lapack.dpotrf(B, lower=0, clean=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"the matrix is not positive definite (dpotrf info {info})")
    x, info = sla.lapack.dpotrs(c, g, lower=0)
    if info != 0:  # pragma: no cover - only on an illegal argument
        raise np.linalg.LinAlgError(f"dpotrs info {info}")
    return x


def _projected_bfgs(fun: _Counted, x0: np.ndarray, lower: np.ndarray, dec_tol: float, maxiter: int,
                    max_step: float = 1.0) -> tuple[np.ndarray, float, np.ndarray | None, str, bool]:
    """Projected quasi-Newton: dense damped BFGS on the free variables, Armijo backtracking along the
    projected path (steps at most ``max_step * max(1, |x|)`` per component). The first step is along
    the gradient; the Hessian approximation then starts from the per-coordinate curvature seen on it
    (theta's components have very different scales: a term with few levels is far flatter).
    Converged when the predicted decrease ``g_F' B_FF^-1 g_F / 2`` is below ``dec_tol`` or below what
    the criterion's rounding can resolve (1e-14 relative). Variables on their bound with a
    non-negative derivative are held there. Returns ``(x, f, g, message, converged)``."""
    x = np.maximum(x0, lower)
    fx, fac = fun.value(x)
    if fac is None:
        return x, fx, None, "criterion not finite at the start", False
    g = fun.grad(fac)
    if g is None:
        return x, fx, None, "gradient failed", False
    n = len(x)
    B = None
    bounded = np.isfinite(lower)
    for it in range(maxiter):
        fnoise = 1e-14 * max(1.0, abs(fx))  # what the criterion's rounding can resolve
        fixed = bounded & (x <= lower) & (g >= 0)
        free = ~fixed
        if not free.any():
            return x, fx, g, "all parameters on their bounds", True
        gF = g[free]
        dec = np.inf
        if B is None:
            d = -gF * (0.5 * max(1.0, np.abs(x).max()) / max(np.abs(gF).max(), 1e-300))
        else:
            BF = B if free.all() else B[np.ix_(free, free)]
            try:
                d = -_cholesky_solve(BF, gF)
            except np.linalg.LinAlgError:
                B = np.eye(n) * max(1e-8, np.abs(np.diag(B)).max())
                d = -gF / np.diag(B)[free]
            dec = float(-gF @ d)
            if dec <= 2.0 * max(dec_tol, fnoise):
                return x, fx, g, "predicted decrease below tolerance", True
        # Armijo backtracking along the projected path, from a step of at most max_step per component
        alpha = min(1.0, max_step * max(1.0, np.abs(x).max()) / max(np.abs(d).max(), 1e-300))
        accepted = False
        gt = None
        for trial in range(30):
            xt = x.copy()
            xt[free] += alpha * d
            xt = np.maximum(xt, lower)
            step = xt - x
            if not step.any():
                break
            slope = float(g @ step)
            # the full quasi-Newton step is tried even when the decrease it predicts is below the
            # criterion's resolution: the gradient can still judge it (below)
            newton = trial == 0 and B is not None and alpha == 1.0
            if -slope < fnoise and not newton:
                break  # the decrease this step could give is below the criterion's resolution
            ft, fact = fun.value(xt)
            if fact is not None and ft <= fx + 1e-4 * min(slope, 0.0):
                accepted = True
                break
            if newton and fact is not None and ft <= fx + 1e3 * fnoise:
                # near the optimum the criterion's rounding (~1e-13 relative: log-determinants and a
                # residual sum of squares from cross-products) hides decreases the exact gradient still
                # sees. Keep a quasi-Newton step whose change in the criterion is within that noise if
                # it halves the gradient's norm in the metric B^-1 (the predicted decrease).
                gt = fun.grad(fact)
                if gt is not None:
                    try:
                        dect = float(gt[free] @ _cholesky_solve(BF, gt[free]))
                    except np.linalg.LinAlgError:
                        dect = np.inf
                    if dect < 0.25 * dec and np.all(gt[fixed] >= 0):
                        accepted = True
                        break
                gt = None
            # safeguarded quadratic interpolation along the (unprojected) direction
            if np.isfinite(ft) and slope < 0:
                a_new = -slope * alpha / (2.0 * (ft - fx - slope))
                alpha = float(min(max(a_new, 0.1 * alpha), 0.5 * alpha))  # np.clip, on scalars
            else:
                alpha *= 0.25
        if not accepted:
            ok = B is not None and dec <= 2.0 * max(1e3 * dec_tol, 1e3 * fnoise)
            return x, fx, g, "line search made no progress", ok
        if gt is None:
            gt = fun.grad(fact)
        if gt is None:
            return xt, ft, None, "gradient failed", False
        s = xt - x
        y = gt - g
        sy = float(s @ y)
        if B is None:
            # diagonal start: the curvature seen along each coordinate that moved on the first step;
            # for the others, a curvature that would move them by about half a unit
            scal = float(y @ y) / sy if sy > 0 else max(1e-8, np.abs(gt).max())
            big = np.abs(s) >= 0.1 * np.abs(s).max()
            with np.errstate(divide="ignore", invalid="ignore"):
                diag = np.where((s * y > 0) & big, y / s, np.abs(gt) / (0.5 * max(1.0, np.abs(xt).max())))
            B = np.diag(np.clip(diag, 1e-6 * scal, scal))
        # damped BFGS (Powell): keeps B positive definite without a Wolfe line search
        Bs = B @ s
        sBs = float(s @ Bs)
        if sBs > 0:
            theta_d = 1.0 if sy >= 0.2 * sBs else 0.8 * sBs / (sBs - sy)
            r = theta_d * y + (1.0 - theta_d) * Bs
            sr = float(s @ r)
            if sr > 0:
                B = B - np.outer(Bs, Bs) / sBs + np.outer(r, r) / sr
        x, fx, g = xt, ft, gt
    return x, fx, g, "maximum number of iterations", False


def _canonical(crit: ProfiledCriterion, theta: np.ndarray) -> np.ndarray:
    """The same model with every diagonal element of every lambda non-negative: a column of lambda
    whose diagonal is negative is negated (lambda lambda' is unchanged, so is the criterion)."""
    theta = np.array(theta, dtype=float)
    for t, sl in zip(crit.terms, crit.theta_slices):
        lam = t.lambda_matrix(theta[sl])
        neg = np.diagonal(lam) < 0
        if neg.any():
            lam[:, neg] *= -1.0
            rows, cols = t._tril()
            theta[sl] = lam[rows, cols]
    return theta


def optimize_with_gradient(crit: ProfiledCriterion, theta0, lower, *, dec_tol: float = 1e-11,
                           maxiter: int = 500, boundary_tol: float = 1e-5, fallback: bool = True,
                           probes: tuple = (1e-3, 0.1), probe_zero: float = 1e-6,
                           kernel: bool | None = None, verbose: bool = False, **bobyqa_options
                           ) -> OptSummary:
    """Minimize ``crit`` over theta >= lower from ``theta0`` by quasi-Newton on the exact gradient;
    returns an :class:`~mixedmodels.fit.optimize.OptSummary`.

    With lme4's bounds (0 on the diagonal of each lambda, none elsewhere: ``crit.lower_bounds()``) the
    bounds are not needed: the criterion depends on lambda only through lambda lambda', unchanged when a
    column of lambda changes sign, so it is a smooth function of theta on the whole space, even in each
    such column. The minimization is then unconstrained and the result mapped back
    (:func:`_canonical`): no active set, and a variance that crosses zero on the way is not stuck on
    the bound. With other bounds the same quasi-Newton runs projected onto them.

    1. Damped BFGS (:func:`_projected_bfgs`), stopped when the predicted decrease ``g' B^-1 g / 2`` is
       below ``dec_tol``; line-search trials cost a factorization only, accepted points one gradient
       more.
    2. A diagonal element that ends within ``probe_zero`` of 0 with its column otherwise 0 (a scalar
       term's variance at 0) is a stationary point whatever the data say -- the derivative there is
       exactly 0 -- so it may be a saddle: the criterion is evaluated at each of ``probes``; if one is
       lower the quasi-Newton restarts from it (at most 3 times).
    3. If the quasi-Newton did not converge (or, with other bounds, ends on a bound where the
       derivative vanishes), NLopt BOBYQA (:func:`mixedmodels.fit.optimize.optimize_theta`) finishes from
       the best point (``fallback``).
    4. lme4's check.boundary: components within ``boundary_tol`` of their bound go onto it when that is
       no worse.

    ``feval`` counts factorizations (criterion evaluations, each with or without a gradient); the
    result also carries ``ngrad`` (how many of them had a gradient) and ``restarts``. Other keywords
    (``ftol_abs``, ``maxeval``, ...) go to the BOBYQA fallback.
    """
    theta0 = np.asarray(theta0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    nev0 = crit.nevals
    maxeval = bobyqa_options.get("maxeval")
    fun = _Counted(crit, kernel, verbose, budget=maxeval)
    natural = lower.shape == crit.lower_bounds().shape and np.array_equal(lower, crit.lower_bounds())
    search_lower = np.full(len(theta0), -np.inf) if natural else lower
    restarts = 0
    try:
        x, fx, g, code, converged, restarts = _search(crit, fun, theta0, lower, search_lower, natural,
                                                      dec_tol, maxiter, probes, probe_zero)
        spent = False
    except _Budget:
        spent = True
        x = fun.best_x if fun.best_x is not None else np.maximum(theta0, lower)
        fx, g, converged = fun.best_f, None, False
        code = f"maximum number of evaluations reached (maxeval = {maxeval})"
        if natural:
            x = _canonical(crit, x)
    if not spent and natural:
        x = _canonical(crit, x)
    elif not spent and converged and g is not None and np.any((x <= lower) & (g == 0)):
        # held on a bound where the derivative vanishes (a variance at 0): first order cannot tell
        # whether that is a minimum, so BOBYQA checks
        converged = False
        code += "; a component on its bound with zero derivative"
    name = "BFGS (analytic gradient)" if natural else "projected BFGS (analytic gradient)"
    if verbose:
        print(f"  {name}: {code}; {crit.nevals - nev0} evaluations, {fun.ngrad} gradients, "
              f"{restarts} restarts off zero")
    messages: list[str] = []
    if not converged and fallback and not spent:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step = np.maximum(np.abs(x), 0.1) * 1e-2
            opt = optimize_theta(crit, np.maximum(x, lower), lower,
                                 **{"boundary_tol": 0.0, "initial_step": step, **bobyqa_options})
        if opt.objective <= fx or not np.isfinite(fx):
            x, fx = opt.theta, opt.objective
        converged = opt.converged
        code = f"{code}; then {opt.return_code}"
        name += " + bobyqa (NLopt)"
    if boundary_tol > 0 and not spent:
        near = np.isfinite(lower) & (x - lower < boundary_tol) & (x != lower)
        if near.any():
            trial = x.copy()
            trial[near] = lower[near]
            fun.budget = None  # lme4's boundary check is not a search step
            ft, _ = fun.value(trial)
            if ft <= fx + 1e-12 * max(1.0, abs(fx)):  # no worse, to within rounding
                x, fx = trial, ft
    if not converged:
        messages.append(f"optimizer did not converge: {code}")
        warn_r(f"the optimizer stopped without converging ({code}); the estimates may be "
              "unreliable", ConvergenceWarning)
    out = OptSummary(theta_init=theta0, theta=np.asarray(x, dtype=float), lower=lower, objective=float(fx),
                     feval=crit.nevals - nev0, optimizer=name, converged=bool(converged), return_code=code,
                     ftol_abs=dec_tol, xtol_abs=float("nan"), messages=messages)
    out.ngrad = fun.ngrad
    out.restarts = restarts
    return out


def _search(crit, fun, theta0, lower, search_lower, natural, dec_tol, maxiter, probes, probe_zero):
    """The quasi-Newton search with its restarts off zero (steps 1 and 2 of
    :func:`optimize_with_gradient`): ``(x, fx, g, code, converged, restarts)``."""
    x, fx, g, code, converged = _projected_bfgs(fun, theta0, search_lower, dec_tol, maxiter)
    restarts = 0
    while natural and converged and restarts < 3:
        # a diagonal element at 0 whose column is otherwise 0 (e.g. a scalar term's variance) is a
        # stationary point whatever the data say: the criterion is even in it. Probe every diagonal
        # element at 0 off zero; if the criterion goes down, that was a saddle and the quasi-Newton
        # restarts from the probe.
        x = _canonical(crit, x)
        at_zero = np.flatnonzero(np.isfinite(lower) & (np.abs(x) <= probe_zero))
        start = None
        for i in at_zero:
            for delta in probes:
                trial = x.copy()
                trial[i] = delta
                ft, _ = fun.value(trial)
                if ft < fx - 1e-14 * max(1.0, abs(fx)):
                    start, fx_start = trial, ft
                    break
            if start is not None:
                break
        if start is None:
            break
        restarts += 1
        x2, f2, g2, code2, conv2 = _projected_bfgs(fun, start, search_lower, dec_tol, maxiter)
        if f2 <= fx_start:
            x, fx, g, code, converged = x2, f2, g2, code2, conv2
        else:  # pragma: no cover - the quasi-Newton never ends above its start
            x, fx = start, fx_start
    return x, fx, g, code, converged, restarts

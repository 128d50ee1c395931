"""The compiled loops of :mod:`mixedmodels.fit.smallfit` (imported only when a small model is fitted, so that
``import mixedmodels`` does not import Numba). Module-level functions, so Numba can cache them on disk."""

import numpy as np

from .kernels import njit


@njit(nogil=True)
def chol_inplace(A, n):  # pragma: no cover - compiled
    """Lower Cholesky of A[:n, :n] in place (upper triangle untouched); False if not positive
    definite."""
    for j in range(n):
        s = A[j, j]
        for t in range(j):
            s -= A[j, t] * A[j, t]
        if not s > 0.0:  # also catches NaN
            return False
        d = np.sqrt(s)
        A[j, j] = d
        for i in range(j + 1, n):
            s = A[i, j]
            for t in range(j):
                s -= A[i, t] * A[j, t]
            A[i, j] = s / d
    return True


@njit(nogil=True)
def lr_transpose_times(lam, r_term, r_b0, r_a, r_s, qr, A):  # pragma: no cover - compiled
    """``LR' A`` for LR = blockdiag(Lambda_R, I): row r < qr (column a of its term's level block starting
    at b0) is sum_i lambda[i, a] A[b0 + i]; the other rows are A's."""
    m, k = A.shape
    out = np.empty((m, k))
    for r in range(m):
        if r < qr:
            t = r_term[r]
            b0 = r_b0[r]
            a = r_a[r]
            for c in range(k):
                acc = 0.0
                for i in range(r_s[r]):
                    acc += lam[t, i, a] * A[b0 + i, c]
                out[r, c] = acc
        else:
            for c in range(k):
                out[r, c] = A[r, c]
    return out


@njit(nogil=True)
def evaluate(theta, want_grad, reml, n, p, qr, l1, s1,
             A11, AR1, ARR,
             th_term, th_row, th_col, nterms, smax,
             r_term, r_b0, r_a, r_s,
             rest_ptr, rest_theta, rest_ci, rest_cj,
             t1_theta, t1_row, t1_col,
             grad):  # pragma: no cover - compiled
    m = ARR.shape[0]
    q1 = l1 * s1
    ntheta = theta.shape[0]
    # ---- the lambdas
    lam = np.zeros((nterms, smax, smax))
    for i in range(ntheta):
        lam[th_term[i], th_row[i], th_col[i]] = theta[i]
    lam1 = lam[0]
    # ---- first term: L11_j, its inverse, T_j = lambda1 L11_j^-T
    L11 = np.zeros((l1, s1, s1))
    L11inv = np.zeros((l1, s1, s1))
    T = np.zeros((l1, s1, s1))
    tmp = np.zeros((s1, s1))
    logdet = 0.0
    for j in range(l1):
        B = L11[j]
        # B = lambda1' A11_j lambda1 + I (lower triangle)
        for x in range(s1):
            for y in range(s1):
                acc = 0.0
                for z in range(s1):
                    acc += A11[j, x, z] * lam1[z, y]
                tmp[x, y] = acc
        for x in range(s1):
            for y in range(x + 1):
                acc = 0.0
                for z in range(s1):
                    acc += lam1[z, x] * tmp[z, y]
                B[x, y] = acc
            B[x, x] += 1.0
        if not chol_inplace(B, s1):
            return np.inf
        for x in range(s1):
            logdet += 2.0 * np.log(B[x, x])
        Bi = L11inv[j]
        for x in range(s1):  # forward substitution: B Bi = I, column by column
            for y in range(x + 1):
                acc = 1.0 if x == y else 0.0
                for z in range(y, x):
                    acc -= B[x, z] * Bi[z, y]
                Bi[x, y] = acc / B[x, x]
        for x in range(s1):  # T_j = lambda1 Bi'
            for y in range(s1):
                acc = 0.0
                for z in range(s1):
                    acc += lam1[x, z] * Bi[y, z]
                T[j, x, y] = acc
    # ---- V = LR' A_R1 and C = V blockdiag(T_j)
    V = lr_transpose_times(lam, r_term, r_b0, r_a, r_s, qr, AR1)
    C = np.empty((m, q1))
    for r in range(m):
        for j in range(l1):
            for y in range(s1):
                acc = 0.0
                for x in range(s1):
                    acc += V[r, j * s1 + x] * T[j, x, y]
                C[r, j * s1 + y] = acc
    # ---- M = LR' A_RR LR + D - C C' (lower triangle), via W = LR' A_RR
    W = lr_transpose_times(lam, r_term, r_b0, r_a, r_s, qr, ARR)
    M = np.zeros((m, m))
    for r in range(m):
        for c in range(r + 1):
            if c < qr:
                t = r_term[c]
                b0 = r_b0[c]
                a = r_a[c]
                acc = 0.0
                for i in range(r_s[c]):
                    acc += W[r, b0 + i] * lam[t, i, a]
            else:
                acc = W[r, c]
            for x in range(q1):
                acc -= C[r, x] * C[c, x]
            M[r, c] = acc
        if r < qr:
            M[r, r] += 1.0
    if not chol_inplace(M, m):
        return np.inf
    for r in range(qr):
        logdet += 2.0 * np.log(M[r, r])
    if reml:
        for r in range(qr, qr + p):
            logdet += 2.0 * np.log(M[r, r])
    r2 = M[m - 1, m - 1] ** 2
    nres = n - p if reml else n
    val = logdet + nres * (1.0 + np.log(2.0 * np.pi) + np.log(r2 / nres))
    if not want_grad:
        return val
    # ================================================================= the gradient
    m1 = m - 1
    k = qr + p if reml else qr
    # Minv = (LRR_S LRR_S')^-1 (full symmetric) from the inverse of the leading k x k factor
    Linv = np.zeros((k, k))
    for x in range(k):
        for y in range(x + 1):
            acc = 1.0 if x == y else 0.0
            for z in range(y, x):
                acc -= M[x, z] * Linv[z, y]
            Linv[x, y] = acc / M[x, x]
    Minv = np.empty((k, k))
    for x in range(k):
        for y in range(x + 1):
            acc = 0.0
            for z in range(x, k):
                acc += Linv[z, x] * Linv[z, y]
            Minv[x, y] = acc
            Minv[y, x] = acc
    # z: LRR' z = [0 .. 0 -r], then negated: z = (-x, 1) with x = (u_R, beta)
    z = np.empty(m)
    z[m1] = 1.0
    for i in range(m1 - 1, -1, -1):
        acc = 0.0
        for r in range(i + 1, m):
            acc -= M[r, i] * z[r]
        z[i] = acc / M[i, i]
    # w = LR z
    w = np.empty(m)
    for r in range(m):
        if r < qr:
            t = r_term[r]
            b0 = r_b0[r]
            a = r_a[r]
            acc = 0.0
            for i in range(r_s[r]):
                acc += lam[t, a, i] * z[b0 + i]
            w[r] = acc
        else:
            w[r] = z[r]
    # first term: P_j = L11inv_j' L11inv_j, AtW_j = A_R1_j' w, u1_j = P_j lambda1' AtW_j, b1 = lambda1 u1
    P = np.zeros((l1, s1, s1))
    PL = np.zeros((l1, s1, s1))
    T1 = np.zeros((l1, s1, s1))
    u1 = np.zeros((l1, s1))
    b1 = np.zeros(q1)
    zres1 = np.zeros((l1, s1))
    atw = np.zeros(s1)
    for j in range(l1):
        Bi = L11inv[j]
        for x in range(s1):
            for y in range(s1):
                acc = 0.0
                for t in range(s1):
                    acc += Bi[t, x] * Bi[t, y]
                P[j, x, y] = acc
        for x in range(s1):
            for y in range(s1):
                acc = 0.0
                for t in range(s1):
                    acc += P[j, x, t] * lam1[y, t]
                PL[j, x, y] = acc
        for x in range(s1):  # T1_j = lambda1 P_j lambda1' = lambda1 PL_j
            for y in range(s1):
                acc = 0.0
                for t in range(s1):
                    acc += lam1[x, t] * PL[j, t, y]
                T1[j, x, y] = acc
        for x in range(s1):
            acc = 0.0
            for r in range(m):
                acc += AR1[r, j * s1 + x] * w[r]
            atw[x] = acc
        for x in range(s1):
            acc = 0.0
            for y in range(s1):
                acc += PL[j, x, y] * atw[y]
            u1[j, x] = acc
        for x in range(s1):
            acc = 0.0
            for y in range(s1):
                acc += lam1[x, y] * u1[j, y]
            b1[j * s1 + x] = acc
        for x in range(s1):
            acc = atw[x]
            for y in range(s1):
                acc -= A11[j, x, y] * b1[j * s1 + y]
            zres1[j, x] = acc
    zresR = np.zeros(qr)
    for r in range(qr):
        acc = 0.0
        for c in range(m):
            acc += ARR[r, c] * w[c]
        for c in range(q1):
            acc -= AR1[r, c] * b1[c]
        zresR[r] = acc
    for i in range(ntheta):
        grad[i] = 0.0
    dr2 = np.zeros(ntheta)
    for e in range(t1_theta.shape[0]):
        acc = 0.0
        for j in range(l1):
            acc += zres1[j, t1_row[e]] * u1[j, t1_col[e]]
        dr2[t1_theta[e]] = -2.0 * acc
    for e in range(rest_theta.shape[0]):
        acc = 0.0
        for x in range(rest_ptr[e], rest_ptr[e + 1]):
            acc += zresR[rest_cj[x]] * (-z[rest_ci[x]])
        dr2[rest_theta[e]] = -2.0 * acc
    # ---- the log-determinant's derivative
    Q = np.zeros((l1, s1, s1))
    if k > 0:
        Y = np.zeros((k, q1))  # Minv V[:k]
        for r in range(k):
            for t in range(k):
                mrt = Minv[r, t]
                for c in range(q1):
                    Y[r, c] += mrt * V[t, c]
        for j in range(l1):
            for x in range(s1):
                for y in range(s1):
                    acc = 0.0
                    for r in range(k):
                        acc += V[r, j * s1 + x] * Y[r, j * s1 + y]
                    Q[j, x, y] = acc
        for e in range(rest_theta.shape[0]):
            acc = 0.0
            for x in range(rest_ptr[e], rest_ptr[e + 1]):
                ci = rest_ci[x]
                cj = rest_cj[x]
                for r in range(k):
                    acc += Minv[ci, r] * W[r, cj]
                # - (Y T1 A_1R)[ci, cj]
                for j in range(l1):
                    for a in range(s1):
                        yt = 0.0
                        for b in range(s1):
                            yt += Y[ci, j * s1 + b] * T1[j, b, a]
                        acc -= yt * AR1[cj, j * s1 + a]
            grad[rest_theta[e]] = 2.0 * acc
    # first term: G = sum_j PL_j A11_j - PL_j Q_j (I - T1_j A11_j)
    G = np.zeros((s1, s1))
    PQ = np.zeros((s1, s1))
    R = np.zeros((s1, s1))
    for j in range(l1):
        for x in range(s1):
            for y in range(s1):
                acc = 0.0
                for t in range(s1):
                    acc += PL[j, x, t] * A11[j, t, y]
                G[x, y] += acc
        if k > 0:
            for x in range(s1):
                for y in range(s1):
                    acc = 0.0
                    for t in range(s1):
                        acc += PL[j, x, t] * Q[j, t, y]
                    PQ[x, y] = acc
            for x in range(s1):
                for y in range(s1):
                    acc = 1.0 if x == y else 0.0
                    for t in range(s1):
                        acc -= T1[j, x, t] * A11[j, t, y]
                    R[x, y] = acc
            for x in range(s1):
                for y in range(s1):
                    acc = 0.0
                    for t in range(s1):
                        acc += PQ[x, t] * R[t, y]
                    G[x, y] -= acc
    for e in range(t1_theta.shape[0]):
        grad[t1_theta[e]] = 2.0 * G[t1_col[e], t1_row[e]]
    for i in range(ntheta):
        grad[i] += nres * dr2[i] / r2
    return val

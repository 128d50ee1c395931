"""Compiled kernels (Numba) for the GLMM PIRLS step (imported on the first ``glmer`` fit only, so
``import mixedmodels`` does not import Numba). Module-level functions, so Numba caches them on disk.

The random-effects part of ``[Z Lambda, X]`` has a fixed pattern: row ``r`` has ``k`` non-zeros, at the
columns ``idx[r, :]`` (the first ``s1`` of them in the first term's block). For the working weights ``w``,
the blocks of ``M = [Z Lambda, X]' W [Z Lambda, X] + diag(1 on u)`` are one pass over the rows.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def crossprods(idx, v, X, sqrtw, l1, s1, q1, q2u, joint):
    """``M11`` (l1, s1, s1) with the identity added, ``M21`` (q2, q1) and ``M22`` (q2, q2) with the
    identity added on the u rows; ``v`` are the values of Z Lambda times sqrt(w) (n, k)."""
    n, k = v.shape
    p = X.shape[1] if joint else 0
    q2 = q2u + p
    M11 = np.zeros((l1, s1, s1))
    M21 = np.zeros((q2, q1))
    M22 = np.zeros((q2, q2))
    xw = np.empty(p)
    for r in range(n):
        lev = idx[r, 0] // s1
        for a in range(s1):
            va = v[r, a]
            for b in range(s1):
                M11[lev, a, b] += va * v[r, b]
        for i in range(s1, k):
            ri = idx[r, i] - q1
            vi = v[r, i]
            for b in range(s1):
                M21[ri, idx[r, b]] += vi * v[r, b]
            for i2 in range(s1, k):
                M22[ri, idx[r, i2] - q1] += vi * v[r, i2]
        if p:
            sw = sqrtw[r]
            for j in range(p):
                xw[j] = X[r, j] * sw
            for j in range(p):
                xj = xw[j]
                for b in range(s1):
                    M21[q2u + j, idx[r, b]] += xj * v[r, b]
                for i in range(s1, k):
                    M22[idx[r, i] - q1, q2u + j] += v[r, i] * xj
                for j2 in range(j + 1):
                    M22[q2u + j, q2u + j2] += xj * xw[j2]
    for lev in range(l1):
        for a in range(s1):
            M11[lev, a, a] += 1.0
    for i in range(q2u):
        M22[i, i] += 1.0
    for j in range(p):
        for i in range(q2u):
            M22[q2u + j, i] = M22[i, q2u + j]
        for j2 in range(j):
            M22[q2u + j2, q2u + j] = M22[q2u + j, q2u + j2]
    return M11, M21, M22


@numba.njit(cache=True, nogil=True)
def schur_scalar(M22, L21, ptr, rows, q2u):
    """``M22 - L21 L21'`` for a scalar first term: column ``j`` of ``L21`` is non-zero only in the rest
    rows ``rows[ptr[j]:ptr[j+1]]`` and the rows from ``q2u`` on (the fixed effects, when present)."""
    q2, q1 = L21.shape
    S = M22.copy()
    for j in range(q1):
        a0, a1 = ptr[j], ptr[j + 1]
        for ia in range(a0, a1):
            a = rows[ia]
            la = L21[a, j]
            for ib in range(a0, a1):
                b = rows[ib]
                S[a, b] -= la * L21[b, j]
            for b in range(q2u, q2):
                t = la * L21[b, j]
                S[a, b] -= t
                S[b, a] -= t
        for a in range(q2u, q2):
            la = L21[a, j]
            for b in range(q2u, q2):
                S[a, b] -= la * L21[b, j]
    return S


@numba.njit(cache=True, nogil=True)
def zl_times(idx, vals, u):
    """``Z Lambda u`` (vals: the (n, k) values of Z Lambda)."""
    n, k = vals.shape
    out = np.zeros(n)
    for r in range(n):
        acc = 0.0
        for i in range(k):
            acc += vals[r, i] * u[idx[r, i]]
        out[r] = acc
    return out


@numba.njit(cache=True, nogil=True)
def zlt_times(idx, vals, x, q):
    """``(Z Lambda)' x``."""
    n, k = vals.shape
    out = np.zeros(q)
    for r in range(n):
        xr = x[r]
        for i in range(k):
            out[idx[r, i]] += vals[r, i] * xr
    return out

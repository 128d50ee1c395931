"""Compiled kernels (Numba) for the GLMM PIRLS step. They are compiled (through ``kernels.njit``, cached
on disk) on the first ``glmer`` fit only (:func:`compiled`), so ``import mixedmodels`` does not import
Numba.

The random-effects part of ``[Z Lambda, X]`` has a fixed pattern: row ``r`` has ``k`` non-zeros, at the
columns ``idx[r, :]`` (the first ``s1`` of them in the first term's block). For the working weights ``w``,
the blocks of ``M = [Z Lambda, X]' W [Z Lambda, X] + diag(1 on u)`` are one pass over the rows.
"""

from __future__ import annotations

import types

import numpy as np

from .kernels import njit

__all__ = ["compiled", "jit_codes"]

# families and links the compiled PIRLS loop has built in (codes of mixedmodels.fit._glmm_jit); every
# other family / link runs the same algorithm in NumPy
_FAMILY_CODES = {"binomial": 0, "poisson": 1, "negbin": 2}
_LINK_CODES = {"binomial": {"logit": 0, "probit": 1, "cloglog": 2},
               "poisson": {"log": 3}, "negbin": {"log": 3}}


def jit_codes(kind: str, link: str):
    """``(family code, link code)`` of the compiled PIRLS loop, or None where it has no such pair."""
    if kind not in _FAMILY_CODES or link not in _LINK_CODES[kind]:
        return None
    return _FAMILY_CODES[kind], _LINK_CODES[kind][link]

_COMPILED = None


def crossprods(idx, v, Xw, l1, s1, q1, q2u):
    """``M11`` (l1, s1, s1) with the identity added, ``M12`` (q1, q2) and the u rows of ``M22`` (q2u, q2)
    with the identity added; ``v`` are the values of Z Lambda times sqrt(w) (n, k), ``Xw`` the rows of X
    times sqrt(w) (n, p; p = 0 leaves out the fixed effects). X'WX is left to BLAS."""
    n, k = v.shape
    p = Xw.shape[1]
    q2 = q2u + p
    M11 = np.zeros((l1, s1, s1))
    M12 = np.zeros((q1, q2))
    M22u = np.zeros((q2u, q2))
    for r in range(n):
        lev = idx[r, 0] // s1
        for a in range(s1):
            va = v[r, a]
            ca = idx[r, a]
            for b in range(s1):
                M11[lev, a, b] += va * v[r, b]
            for i in range(s1, k):
                M12[ca, idx[r, i] - q1] += va * v[r, i]
            for j in range(p):
                M12[ca, q2u + j] += va * Xw[r, j]
        for i in range(s1, k):
            ri = idx[r, i] - q1
            vi = v[r, i]
            for i2 in range(s1, k):
                M22u[ri, idx[r, i2] - q1] += vi * v[r, i2]
            for j in range(p):
                M22u[ri, q2u + j] += vi * Xw[r, j]
    for lev in range(l1):
        for a in range(s1):
            M11[lev, a, a] += 1.0
    for i in range(q2u):
        M22u[i, i] += 1.0
    return M11, M12, M22u


def schur_scalar(M22, L12, ptr, rows, q2u):
    """``M22 - L12' L12`` for a scalar first term: row ``j`` of ``L12`` (q1, q2) is non-zero only in the
    rest columns ``rows[ptr[j]:ptr[j+1]]`` and the columns from ``q2u`` on (the fixed effects, if any)."""
    q1, q2 = L12.shape
    S = M22.copy()
    for j in range(q1):
        a0, a1 = ptr[j], ptr[j + 1]
        for ia in range(a0, a1):
            a = rows[ia]
            la = L12[j, a]
            for ib in range(a0, a1):
                S[a, rows[ib]] -= la * L12[j, rows[ib]]
            for b in range(q2u, q2):
                t = la * L12[j, b]
                S[a, b] -= t
                S[b, a] -= t
        for a in range(q2u, q2):
            la = L12[j, a]
            for b in range(q2u, q2):
                S[a, b] -= la * L12[j, b]
    return S


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


def zlt_times(idx, vals, x, q):
    """``(Z Lambda)' x``."""
    n, k = vals.shape
    out = np.zeros(q)
    for r in range(n):
        xr = x[r]
        for i in range(k):
            out[idx[r, i]] += vals[r, i] * xr
    return out


def compiled():
    """The compiled kernels, as a namespace with ``crossprods``, ``schur_scalar``, ``zl_times``,
    ``zlt_times`` and the whole PIRLS loop ``pirls`` (:mod:`mixedmodels.fit._glmm_jit`)."""
    global _COMPILED
    if _COMPILED is None:
        from . import _glmm_jit  # Numba: imported on the first glmer fit only

        jit = njit(nogil=True)  # on-disk cache when a cache location is writable
        _COMPILED = types.SimpleNamespace(crossprods=jit(crossprods), schur_scalar=jit(schur_scalar),
                                          zl_times=jit(zl_times), zlt_times=jit(zlt_times),
                                          pirls=_glmm_jit.pirls, jit=_glmm_jit)
    return _COMPILED

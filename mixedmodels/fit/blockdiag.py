"""Compiled kernels for the first random-effects term's block-diagonal part (MixedModels.jl's
``UniformBlockDiagonal``): the level-by-level algebra on ``nlevels`` small ``s x s`` blocks that every
evaluation and every gradient does, each as one loop over the levels instead of a dozen batched NumPy
calls.

With a vector-valued first term (``s >= 2``) and many levels -- 20,000 groups with a random intercept and
two slopes, say -- NumPy's batched routines on 3 x 3 blocks (``cholesky``, ``solve``, ``inv``, ``einsum``,
``matmul``) cost 0.5-1 us per block each, tens of milliseconds an evaluation, while the arithmetic is a
few dozen multiply-adds per block. Notation of :mod:`mixedmodels.fit.criterion` and
:mod:`mixedmodels.fit.gradient`:

* :func:`factor_first`: ``L11_j = chol(lambda_1' A11_j lambda_1 + I)``, ``L11_j^-1``, ``T_j = lambda_1
  L11_j^-T`` and, for the dense path, ``C = A_R1 blockdiag(T_j)`` (before the rest scaling), or only
  ``C C' = sum_j C_j C_j'`` (inside the optimizer, where C itself is not needed);
* :func:`solution_first`: with ``AtW_j = A_R1_j' w``: ``u1_j = P_j lambda_1' AtW_j`` (``P_j = L11_j^-T
  L11_j^-1``), ``b1_j = lambda_1 u1_j``, ``sum_j Zres1_j u1_j'`` with ``Zres1_j = AtW_j - A11_j b1_j`` (the
  penalized RSS's derivative) and ``T1_j = lambda_1 P_j lambda_1'``;
* :func:`q_dense`: ``Q_j = V_j' Y_j`` for dense ``V`` and ``Y = Minv V`` (``k`` rows each);
* :func:`logdet_first`: ``sum_j P_j lambda_1' A11_j - P_j lambda_1' Q_j (I - T1_j A11_j)``, where ``I -
  T1_j A11_j = (I + lambda_1 lambda_1' A11_j)^-1`` (Woodbury: no inverse, and exact for a singular
  ``lambda_1``).

Numba is imported only when a path uses them (:func:`ready`); the machine code is cached on disk with the
other kernels (``python -m mixedmodels precompile`` compiles it). Where it is not cached yet, the paths
keep NumPy for that model and the compile runs in the background
(:func:`mixedmodels.fit.kernels.compile_in_background`), as for the level-block kernels.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .kernels import njit
from .linalg import NotPositiveDefinite

__all__ = ["ready", "loaded", "compile_kernels", "warm_up", "factor_first", "solution_first", "q_dense", "logdet_first"]

SIZES = (2, 3)  # block sizes with kernels of their own (the loops over a block unrolled by the compiler:
                # ~2x faster than the kernels for any size, which serve the others)

_kernels: dict = {}
_ready: set | bool = False


def compile_kernels(s: int = 0):
    """The four compiled kernels for ``s x s`` blocks (those of :data:`SIZES` specialized, any other
    size the general ones; Numba imported, machine code loaded from the on-disk cache or compiled on
    first call)."""
    S = s if s in SIZES else 0  # a constant of the kernels below: their block loops unroll
    if S in _kernels:
        return _kernels[S]

    @njit(nogil=True)
    def factor(lam, A11, AR1, want_C, want_gram, L11, Linv, T, C, CC):  # pragma: no cover - compiled
        l1 = A11.shape[0]
        s = S if S > 0 else A11.shape[1]
        m = AR1.shape[0]
        tmp = np.empty((s, s))
        cj = np.empty((m, s))
        if want_gram:
            for r in range(m):
                for r2 in range(m):
                    CC[r, r2] = 0.0
        for j in range(l1):
            B = L11[j]
            # B = lam' A11_j lam + I (lower triangle; the upper set to 0)
            for x in range(s):
                for y in range(s):
                    acc = 0.0
                    for z in range(s):
                        acc += A11[j, x, z] * lam[z, y]
                    tmp[x, y] = acc
            for x in range(s):
                for y in range(x + 1):
                    acc = 0.0
                    for z in range(s):
                        acc += lam[z, x] * tmp[z, y]
                    B[x, y] = acc
                for y in range(x + 1, s):
                    B[x, y] = 0.0
                B[x, x] += 1.0
            # Cholesky in place
            for c in range(s):
                acc = B[c, c]
                for t in range(c):
                    acc -= B[c, t] * B[c, t]
                if not acc > 0.0:  # also NaN
                    return j
                dc = np.sqrt(acc)
                B[c, c] = dc
                for r in range(c + 1, s):
                    acc = B[r, c]
                    for t in range(c):
                        acc -= B[r, t] * B[c, t]
                    B[r, c] = acc / dc
            # its inverse (lower), by forward substitution column by column
            Bi = Linv[j]
            for x in range(s):
                for y in range(x + 1, s):
                    Bi[x, y] = 0.0
                for y in range(x + 1):
                    acc = 1.0 if x == y else 0.0
                    for z in range(y, x):
                        acc -= B[x, z] * Bi[z, y]
                    Bi[x, y] = acc / B[x, x]
            # T_j = lam Bi'
            for x in range(s):
                for y in range(s):
                    acc = 0.0
                    for z in range(y + 1):  # Bi[y, z] = 0 for z > y
                        acc += lam[x, z] * Bi[y, z]
                    T[j, x, y] = acc
            if want_C or want_gram:
                for r in range(m):
                    for y in range(s):
                        acc = 0.0
                        for x in range(s):
                            acc += AR1[r, j * s + x] * T[j, x, y]
                        cj[r, y] = acc
                if want_C:
                    for r in range(m):
                        for y in range(s):
                            C[r, j * s + y] = cj[r, y]
                if want_gram:  # C C' (lower triangle), level by level: C itself is not kept
                    for r in range(m):
                        for r2 in range(r + 1):
                            acc = 0.0
                            for y in range(s):
                                acc += cj[r, y] * cj[r2, y]
                            CC[r, r2] += acc
        if want_gram:
            for r in range(m):
                for r2 in range(r + 1, m):
                    CC[r, r2] = CC[r2, r]
        return -1

    @njit(nogil=True)
    def solution(lam, Linv, A11, AtW, want_T1, u1, b1, ZU, T1):  # pragma: no cover - compiled
        l1 = A11.shape[0]
        s = S if S > 0 else A11.shape[1]
        P = np.empty((s, s))
        PL = np.empty((s, s))
        zres = np.empty(s)
        for x in range(s):
            for y in range(s):
                ZU[x, y] = 0.0
        for j in range(l1):
            Bi = Linv[j]
            for x in range(s):  # P = Bi' Bi (Bi lower)
                for y in range(x + 1):
                    acc = 0.0
                    for t in range(x, s):
                        acc += Bi[t, x] * Bi[t, y]
                    P[x, y] = acc
                    P[y, x] = acc
            for x in range(s):  # PL = P lam'
                for y in range(s):
                    acc = 0.0
                    for t in range(s):
                        acc += P[x, t] * lam[y, t]
                    PL[x, y] = acc
            for x in range(s):
                acc = 0.0
                for y in range(s):
                    acc += PL[x, y] * AtW[j, y]
                u1[j, x] = acc
            for x in range(s):
                acc = 0.0
                for y in range(s):
                    acc += lam[x, y] * u1[j, y]
                b1[j, x] = acc
            for x in range(s):
                acc = AtW[j, x]
                for y in range(s):
                    acc -= A11[j, x, y] * b1[j, y]
                zres[x] = acc
            for x in range(s):
                for y in range(s):
                    ZU[x, y] += zres[x] * u1[j, y]
            if want_T1:
                for x in range(s):  # T1 = lam PL
                    for y in range(s):
                        acc = 0.0
                        for t in range(s):
                            acc += lam[x, t] * PL[t, y]
                        T1[j, x, y] = acc
        return ZU

    @njit(nogil=True)
    def qdense(V, Y, Q):  # pragma: no cover - compiled
        k = V.shape[0]
        s = S if S > 0 else Q.shape[1]
        l1 = Q.shape[0]
        for j in range(l1):
            for x in range(s):
                for y in range(s):
                    Q[j, x, y] = 0.0
        for r in range(k):
            for j in range(l1):
                for x in range(s):
                    v = V[r, j * s + x]
                    for y in range(s):
                        Q[j, x, y] += v * Y[r, j * s + y]
        return Q

    @njit(nogil=True)
    def logdet(lam, Linv, A11, Q, want_Q, G):  # pragma: no cover - compiled
        l1 = A11.shape[0]
        s = S if S > 0 else A11.shape[1]
        P = np.empty((s, s))
        PL = np.empty((s, s))
        T1 = np.empty((s, s))
        R = np.empty((s, s))
        PQ = np.empty((s, s))
        for x in range(s):
            for y in range(s):
                G[x, y] = 0.0
        for j in range(l1):
            Bi = Linv[j]
            for x in range(s):
                for y in range(x + 1):
                    acc = 0.0
                    for t in range(x, s):
                        acc += Bi[t, x] * Bi[t, y]
                    P[x, y] = acc
                    P[y, x] = acc
            for x in range(s):
                for y in range(s):
                    acc = 0.0
                    for t in range(s):
                        acc += P[x, t] * lam[y, t]
                    PL[x, y] = acc
            for x in range(s):  # G += PL A11_j
                for y in range(s):
                    acc = 0.0
                    for t in range(s):
                        acc += PL[x, t] * A11[j, t, y]
                    G[x, y] += acc
            if want_Q:
                for x in range(s):  # T1 = lam PL
                    for y in range(s):
                        acc = 0.0
                        for t in range(s):
                            acc += lam[x, t] * PL[t, y]
                        T1[x, y] = acc
                for x in range(s):  # R = I - T1 A11_j
                    for y in range(s):
                        acc = 1.0 if x == y else 0.0
                        for t in range(s):
                            acc -= T1[x, t] * A11[j, t, y]
                        R[x, y] = acc
                for x in range(s):  # PQ = PL Q_j
                    for y in range(s):
                        acc = 0.0
                        for t in range(s):
                            acc += PL[x, t] * Q[j, t, y]
                        PQ[x, y] = acc
                for x in range(s):  # G -= PQ R
                    for y in range(s):
                        acc = 0.0
                        for t in range(s):
                            acc += PQ[x, t] * R[t, y]
                        G[x, y] -= acc
        return G

    _kernels[S] = (factor, solution, qdense, logdet)
    return _kernels[S]


def loaded(s: int = 0) -> bool:
    """Whether the kernels for ``s x s`` blocks have run in this process (their machine code loaded:
    using them again costs nothing extra). Never imports Numba."""
    k = _kernels.get(s if s in SIZES else 0)
    return k is not None and bool(k[0].overloads)


def ready(s: int = 0, start_compile: bool = True) -> bool:
    """Whether the kernels for ``s x s`` blocks run without compiling: compiled in this process or in
    Numba's on-disk cache (the first kernel's entry stands for all, compiled together by ``python -m
    mixedmodels precompile``). When they are not, and :data:`~mixedmodels.fit.kernels.COMPILE_IN_BACKGROUND`
    is set, starts the background compile (``start_compile``) and returns False; with it unset, True (a
    fit compiles them itself). False without Numba."""
    global _ready
    S = s if s in SIZES else 0
    if _ready is True or (_ready and S in _ready):
        return True
    if not kernels.available():
        return False
    if not kernels.COMPILE_IN_BACKGROUND:
        return True
    fn = compile_kernels(S)[0]
    if fn.overloads or kernels.on_disk(fn):
        _ready = (_ready or set()) | {S}
        return True
    if start_compile:
        kernels.compile_in_background()
    return False


def _arg(a: np.ndarray) -> np.ndarray:
    """``a`` as the kernels take it (C-contiguous, writeable float64: one machine code for every call);
    copied only when it is not."""
    a = np.ascontiguousarray(a, dtype=float)
    return a if a.flags.writeable else a.copy()


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel, on a tiny problem with the argument types
    of a fit (``python -m mixedmodels precompile``)."""
    rng = np.random.default_rng(0)
    for s in (*SIZES, 5):
        X = rng.normal(size=(3, 6, s))
        A11 = np.einsum("lri,lrj->lij", X, X)
        lam = np.tril(rng.normal(size=(s, s)))
        AR1 = rng.normal(size=(4, 3, s))
        _, Linv, _, C = factor_first(lam, A11, AR1)
        factor_first(lam, A11)
        factor_first(lam, A11, AR1, gram=True)
        solution_first(lam, Linv, A11, rng.normal(size=(3, s)), want_T1=True)
        solution_first(lam, Linv, A11, rng.normal(size=(3, s)), want_T1=False)
        Q = q_dense(C[:2], C[1:3], 3, s)
        logdet_first(lam, Linv, A11, Q)
        logdet_first(lam, Linv, A11, None)


def factor_first(lam1: np.ndarray, A11: np.ndarray, AR1: np.ndarray | None = None, gram: bool = False):
    """``(L11, L11inv, T, C)`` (see the module docstring; ``C`` None without ``AR1``, a dense ``(m, l1,
    s)`` array). With ``gram``, the last element is ``C C'`` (``m x m``, accumulated level by level)
    instead of ``C``. Raises :class:`~mixedmodels.fit.linalg.NotPositiveDefinite` where a block is not
    positive definite."""
    l1, s, _ = A11.shape
    L11 = np.empty((l1, s, s))
    Linv = np.empty((l1, s, s))
    T = np.empty((l1, s, s))
    has = AR1 is not None
    m = AR1.shape[0] if has else 0
    AR1f = AR1.reshape(m, l1 * s) if has else np.zeros((0, 0))
    want_C, want_gram = has and not gram, has and gram
    C = np.empty((m, l1 * s)) if want_C else np.zeros((0, 0))
    CC = np.empty((m, m)) if want_gram else np.zeros((0, 0))
    bad = compile_kernels(s)[0](_arg(lam1), _arg(A11), _arg(AR1f), want_C, want_gram, L11, Linv, T, C, CC)
    if bad >= 0:
        raise NotPositiveDefinite("a diagonal block is not positive definite")
    return L11, Linv, T, (CC if want_gram else C if want_C else None)


def solution_first(lam1: np.ndarray, L11inv: np.ndarray, A11: np.ndarray, AtW: np.ndarray,
                   want_T1: bool = True):
    """``(u1, b1, sum_j Zres1_j u1_j', T1)`` (``T1`` None unless ``want_T1``)."""
    l1, s, _ = A11.shape
    u1 = np.empty((l1, s))
    b1 = np.empty((l1, s))
    ZU = np.empty((s, s))
    T1 = np.empty((l1, s, s)) if want_T1 else np.zeros((0, s, s))
    compile_kernels(s)[1](_arg(lam1), _arg(L11inv), _arg(A11), _arg(AtW), want_T1, u1, b1, ZU, T1)
    return u1, b1, ZU, (T1 if want_T1 else None)


def q_dense(V: np.ndarray, Y: np.ndarray, l1: int, s: int) -> np.ndarray:
    """``Q_j = V_j' Y_j`` for ``V`` and ``Y`` dense ``(k, l1 * s)``."""
    Q = np.empty((l1, s, s))
    return compile_kernels(s)[2](_arg(V), _arg(Y), Q)


def logdet_first(lam1: np.ndarray, L11inv: np.ndarray, A11: np.ndarray, Q: np.ndarray | None) -> np.ndarray:
    """``G = sum_j P_j lambda_1' A11_j - P_j lambda_1' Q_j (I - T1_j A11_j)`` (the second part only with
    ``Q``), an ``s x s`` array."""
    s = A11.shape[1]
    G = np.empty((s, s))
    want_Q = Q is not None
    return compile_kernels(s)[3](_arg(lam1), _arg(L11inv), _arg(A11), _arg(Q) if want_Q else np.zeros((0, s, s)),
                                want_Q, G)

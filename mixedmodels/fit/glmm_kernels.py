"""Compiled kernels (Numba) for the GLMM PIRLS step. They are compiled (through ``kernels.njit``, cached
on disk) on the first ``glmer`` fit only (:func:`compiled`), so ``import mixedmodels`` does not import
Numba.

The random-effects part of ``[Z Lambda, X]`` has a fixed pattern: row ``r`` has ``k`` non-zeros, at the
columns ``idx[r, :]`` (the first ``s1`` of them in the first term's block). For the working weights ``w``,
the blocks of ``M = [Z Lambda, X]' W [Z Lambda, X] + diag(1 on u)`` are one pass over the rows
(:func:`mixedmodels.fit._glmm_jit.accumulate`, compiled, or :class:`NumpyKernels`, a few ``bincount``
calls over positions computed once).

Whether a GLMM runs compiled is the rent-or-buy rule of :data:`ACCOUNT`
(:class:`mixedmodels.fit.kernels.Account`, :func:`compiled_pays`), as for the linear models' small fits:
small GLMMs run on NumPy until the extra time they cost reaches the load cost, then the kernels are
loaded in a background thread; a model that is not small loads them at once; :func:`load_compiled` loads
them now. Uncached kernels are never compiled in a fit: the background compile fills the cache.
"""

from __future__ import annotations

import contextlib
import math
import types

import numpy as np

from . import kernels
from .kernels import njit

__all__ = ["compiled", "jit_codes", "compiled_pays", "load_compiled", "loaded", "warm_up", "NumpyKernels", "ACCOUNT",
           "GLMM_KERNELS", "NUMPY_MAX_ROWS", "NUMPY_MAX_Q2", "SEQUENCE_MAX_ROWS",
           "SEQUENCE_MAX_Q2", "sequence"]

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



_COMPILED = None

# "Small": at most NUMPY_MAX_ROWS rows and NUMPY_MAX_Q2 random effects outside the first term (the NumPy
# loop forms their Schur complement densely). A larger model is predicted to save more than the load cost
# in its own fit (rent or buy: it loads the kernels at once); a small one rents until the NumPy fits'
# extra time reaches the load cost (~0.45 s), then the kernels load in the fit that crosses it.
# Measured 2026-12-07 on the quiet 2-core machine, the first fit of a new process (with m.se), NumPy
# against loading the kernels in that fit: VerbAgg nAGQ = 0 (7,584 rows) 0.12-0.14 s against 0.54 s,
# VerbAgg Laplace 0.39-0.49 against 0.63, Contraception (1,934 rows, a vector-valued term) 0.24 against
# 0.53, grouseticks (403 rows, 181 effects outside the first term) 0.51-0.54 against 0.70; warm compiled
# fits of these take 0.05-0.14 s, so none saves the load cost in one fit. The million-row model (~40 s
# compiled) loads at once.
NUMPY_MAX_ROWS = 8_000
NUMPY_MAX_Q2 = 200
# Within :func:`sequence` (one call that fits many models: glmer_nb's search, ~10 fits) the saving of
# the whole call is what counts: "small" is then at most SEQUENCE_MAX_ROWS rows and SEQUENCE_MAX_Q2
# (measured: grouseticks_nb's first call 2.0 s renting against 1.3 s loading at once).
SEQUENCE_MAX_ROWS = 1_000
SEQUENCE_MAX_Q2 = 30
_SEQUENCE = [0]  # depth of nested sequence() blocks
# the kernels a fit calls, as Numba names their cache files: all must be cached for the rule to load
# them (the precompile compiles them together)
GLMM_KERNELS = ("_glmm_jit.pirls", "_glmm_jit.accumulate", "_glmm_jit.laplace_value", "_glmm_jit.linpred",
                "_glmm_jit.crossprod_vec", "_glmm_jit.agq_value", "_glmm_jit.start_state")


def loaded() -> bool:
    """Whether the compiled kernels are loaded in this process."""
    return _COMPILED is not None


def _cached() -> bool:
    return kernels.indexed(GLMM_KERNELS)


def _load_in_background() -> None:
    """The rule's background load: every compiled kernel's cached machine code (compiling nothing), then
    the namespace :func:`compiled` returns; only when there was code to load."""
    global _COMPILED
    from . import _glmm_jit

    ns = _namespace(_glmm_jit)
    disp = [v for v in vars(_glmm_jit).values() if hasattr(v, "overloads") and hasattr(v, "_cache")]
    kernels.load_cached([*disp, ns.schur_scalar])
    if _glmm_jit.pirls.overloads:
        _COMPILED = ns


# the GLMM kernels' rent-or-buy account (mixedmodels.fit.kernels.Account)
ACCOUNT = kernels.Account("glmm", loaded=loaded, cached=_cached, load=_load_in_background)


def compiled_pays(n: int, q2u: int) -> bool:
    """Whether a new GLMM of ``n`` rows (``q2u`` random effects outside the first term) should run the
    compiled kernels: the rent-or-buy rule of :data:`ACCOUNT` says they are loaded, or the model is not
    small (its predicted saving exceeds the load cost) and their machine code is cached (then they are
    loaded in this fit). False without Numba; False for a model whose kernels would have to be compiled
    (the background compile is started: no fit compiles them)."""
    if not kernels.available():
        return False
    if _SEQUENCE[0]:
        big = n > SEQUENCE_MAX_ROWS or q2u > SEQUENCE_MAX_Q2
    else:
        big = n > NUMPY_MAX_ROWS or q2u > NUMPY_MAX_Q2
    decision = ACCOUNT.decide(math.inf if big else 0.0)
    if decision == kernels.LOAD:
        compiled()
        return True
    return decision == kernels.COMPILED


@contextlib.contextmanager
def sequence():
    """A block that fits many GLMMs in one call (``glmer_nb``'s search over the NB shape): inside it,
    :func:`compiled_pays` predicts the saving of the whole call (the smaller :data:`SEQUENCE_MAX_ROWS` /
    :data:`SEQUENCE_MAX_Q2` bounds), so a model whose single fit would rent loads the kernels at once."""
    _SEQUENCE[0] += 1
    try:
        yield
    finally:
        _SEQUENCE[0] -= 1


def load_compiled() -> bool:
    """Load the compiled kernels now (Numba and their machine code, from the on-disk cache or compiled),
    so that every later GLMM of the process runs compiled, small or not: for a process that will fit
    many models and would rather pay the load at once. False when Numba is not installed."""
    if not kernels.available():
        return False
    compiled()
    return True


def compiled():
    """The compiled kernels, as a namespace: the whole PIRLS loop ``pirls`` and its pieces
    (:mod:`mixedmodels.fit._glmm_jit`, as ``jit``), ``schur_scalar``, and ``zl_times`` / ``zlt_times``
    (``Z Lambda u`` and ``(Z Lambda)' x``, through the loop's own ``linpred`` / ``crossprod_vec``)."""
    global _COMPILED
    if _COMPILED is None:
        from . import _glmm_jit  # Numba: imported on the first compiled glmer fit only

        _COMPILED = _namespace(_glmm_jit)
    return _COMPILED


def warm_up() -> None:
    """Compile (or read from the cache) the kernels Python calls outside a PIRLS run: ``Z Lambda u`` and
    ``(Z Lambda)' x`` (``simulate``, and the NumPy loop of a family the compiled loop has not, once the
    kernels are loaded). The glmer fits of ``python -m mixedmodels precompile`` do not reach them, and
    every kernel of :data:`GLMM_KERNELS` must be cached for the rent-or-buy rule to load them."""
    if not kernels.available():
        return
    ns = compiled()
    idx = np.zeros((2, 1), dtype=np.int64)
    vals = np.ones((2, 1))
    ns.zl_times(idx, vals, np.ones(1))
    ns.zlt_times(idx, vals, np.ones(2), 1)


def _namespace(_glmm_jit):
    """The namespace of :func:`compiled` over the module of compiled kernels."""
    def zl_times(idx, vals, u):
        out = np.empty(vals.shape[0])
        _glmm_jit.linpred(np.zeros(vals.shape[0]), idx, vals, vals, u, 0, 0, out)
        return out

    def zlt_times(idx, vals, x, q):
        out = np.empty(q)
        _glmm_jit.crossprod_vec(idx, vals, vals, x, q, 0, out)
        return out

    jit = njit(nogil=True)  # on-disk cache when a cache location is writable
    return types.SimpleNamespace(schur_scalar=jit(schur_scalar), zl_times=zl_times,
                                 zlt_times=zlt_times, pirls=_glmm_jit.pirls, jit=_glmm_jit)


class NumpyKernels:
    """The NumPy versions of the compiled pieces that :meth:`~mixedmodels.fit.pirls.GlmmProblem._factor`
    and the NumPy PIRLS loop use, for one pattern of ``Z Lambda`` (``idx``: row r's k non-zeros are at
    the columns ``idx[r]``, the first ``s1`` in the first term's block). The flat position of every
    product in the cross-product blocks is computed once here, so a factorization is a few
    ``bincount`` calls."""

    def __init__(self, idx: np.ndarray, l1: int, s1: int, q1: int, q2u: int, p: int):
        n, k = idx.shape
        self.idx, self.l1, self.s1, self.q1, self.q2u, self.p = idx, l1, s1, q1, q2u, p
        self.q = q1 + q2u
        lev = idx[:, 0] // s1
        a = np.arange(s1)
        self.pos11 = (lev[:, None, None] * s1 * s1 + a[None, :, None] * s1 + a[None, None, :]).ravel()
        rest = idx[:, s1:] - q1  # (n, k - s1): the rest columns of each row
        self.flat = idx.ravel()
        self._diag = np.arange(s1)
        self._pos = {}
        self._pairs = {}
        for joint in (False, True):
            pp = p if joint else 0
            q2 = q2u + pp
            cols = np.hstack([rest, np.broadcast_to(q2u + np.arange(pp), (n, pp))])
            self._pos[joint] = (q2, (idx[:, :s1, None] * q2 + cols[:, None, :]).ravel(),
                                (rest[:, :, None] * q2 + cols[:, None, :]).ravel())
            self._pairs[joint] = self._downdate_pairs(self._pos[joint][1], q1, q2) if s1 == 1 and q2u else None

    @staticmethod
    def _downdate_pairs(pos12: np.ndarray, q1: int, q2: int):
        """For a scalar first term: the non-zeros of ``M12`` (flat positions ``nz``) and, level by level,
        every pair of them (``pa``, ``pb``) with the flat position in ``M22`` of their product
        (``pairpos``), so that ``L12' L12`` is one ``bincount`` over the pairs instead of a dense
        ``q2 x q1 x q2`` product. None where the dense product is small or the pattern not sparse."""
        if q1 * q2 * q2 < 200_000:
            return None
        nz = np.unique(pos12)
        rows, cols = nz // q2, nz % q2
        counts = np.bincount(rows, minlength=q1)
        ce = counts[rows]
        if int(ce.sum()) > 0.1 * q1 * q2 * q2:
            return None
        ptr = np.concatenate([[0], np.cumsum(counts)])
        pa = np.repeat(np.arange(len(nz)), ce)
        pb = ptr[rows][pa] + (np.arange(len(pa)) - np.repeat(np.cumsum(ce) - ce, ce))
        return nz, pa, pb, cols[pa] * q2 + cols[pb]

    def schur_downdate(self, M22: np.ndarray, L12: np.ndarray, joint: bool) -> np.ndarray:
        """``M22 - L12' L12`` (a scalar first term's ``L12``, q1 x q2): through the pairs of its
        non-zeros where it is sparse (crossed or nested factors with many levels), else dense."""
        pairs = self._pairs[joint]
        if pairs is None:
            return M22 - L12.T @ L12
        nz, pa, pb, pairpos = pairs
        g = L12.ravel()[nz]
        q2 = M22.shape[0]
        return M22 - np.bincount(pairpos, g[pa] * g[pb], minlength=q2 * q2).reshape(q2, q2)

    def crossprods(self, vals: np.ndarray, w: np.ndarray, X: np.ndarray, joint: bool):
        """``M11`` (l1, s1, s1) with the identity added, ``M12`` (q1, q2) and ``M22`` (q2, q2, with the
        identity added on its u rows) of ``[Z Lambda, X]' W [Z Lambda, X]`` (X only when ``joint``)."""
        s1, l1, q1, q2u = self.s1, self.l1, self.q1, self.q2u
        q2, pos12, pos22 = self._pos[joint]
        v = vals * w[:, None]
        v1 = v[:, :s1]
        M11 = np.bincount(self.pos11, (v1[:, :, None] * vals[:, None, :s1]).ravel(),
                          minlength=l1 * s1 * s1).reshape(l1, s1, s1)
        M11[:, self._diag, self._diag] += 1.0
        if q2 == 0:
            return M11, np.zeros((q1, 0)), np.zeros((0, 0))
        other = np.hstack([vals[:, s1:], X]) if q2 > q2u else vals[:, s1:]
        M12 = np.bincount(pos12, (v1[:, :, None] * other[:, None, :]).ravel(),
                          minlength=q1 * q2).reshape(q1, q2)
        M22 = np.empty((q2, q2))
        if q2u:
            M22[:q2u] = np.bincount(pos22, (v[:, s1:, None] * other[:, None, :]).ravel(),
                                    minlength=q2u * q2).reshape(q2u, q2)
            M22[q2u:, :q2u] = M22[:q2u, q2u:].T
            M22[np.arange(q2u), np.arange(q2u)] += 1.0
        if q2 > q2u:
            M22[q2u:, q2u:] = (X * w[:, None]).T @ X
        return M11, M12, M22

    def zl_times(self, vals: np.ndarray, u: np.ndarray) -> np.ndarray:
        """``Z Lambda u``."""
        return np.einsum("rk,rk->r", vals, u[self.idx])

    def zlt_times(self, vals: np.ndarray, x: np.ndarray, q: int) -> np.ndarray:
        """``(Z Lambda)' x``."""
        return np.bincount(self.flat, (vals * x[:, None]).ravel(), minlength=q)

"""Evaluation paths: how the profiled criterion is computed at a theta, chosen once per criterion.

The algebra is one (:mod:`mixedmodels.fit.criterion`, :mod:`mixedmodels.fit.gradient`); how it runs
depends on the model's size. Each way is one object, a :class:`Path`, that owns the blocked factor, the
criterion's value and its gradient:

========  ==========================================================================================
name      what it is, and where :func:`choose_path` takes it
========  ==========================================================================================
small     the whole evaluation with its gradient in one compiled (Numba) call
          (:mod:`mixedmodels.fit.smallfit`): small models, where NumPy's per-call cost would dominate
dense     A_R1 dense, every product one BLAS call: models up to :data:`DENSE_MAX` elements of A_R1
blocks    the compiled level-by-level downdate and gradient (:mod:`mixedmodels.fit.kernels`): large
          models whose later terms are all scalar, with enough work (:data:`BLOCKS_MIN_WORK`); before
          the kernels are compiled (first use after installation) sparse until they are
          (:class:`WarmingPath`)
sparse    scipy.sparse products: everything else (any term layout, any size)
nested    two terms, the first nested in the second (``(1 + x | school) + (1 | school:class)``): the rest
          block is an arrowhead, factored block by block in time linear in the levels
          (:mod:`mixedmodels.fit.nested`); "auto" takes it wherever the small path does not run and
          a dense evaluation would cost at least :data:`NESTED_MIN_WORK` flops
amalga-   consecutive terms on one grouping factor (``(1 + S + P || subj)``) evaluated as one term whose
mated     lambda is block diagonal (MixedModels.jl's amalgamation): a much smaller rest block. Taken by
          "auto" where the dense path would run and the flop count drops by :data:`AMALGAMATE_GAIN`;
          the evaluations run on the amalgamated criterion's own path (small or dense), the factor for
          the results on the dense path of the model as written
========  ==========================================================================================

On the dense, sparse and blocks paths a vector-valued first term with many levels has its level-by-level
algebra compiled (:mod:`mixedmodels.fit.blockdiag`; :func:`uses_blockdiag` says when): the path's name
is unchanged, its numbers agree with the NumPy code to rounding.

Every size threshold of the fit stage lives in this module. A new path is a class with the
:class:`Path` interface, registered in :data:`PATHS`; :func:`choose_path` says when ``"auto"`` takes it.
The optimizers (:mod:`mixedmodels.fit.optimize`) only call ``evaluate`` / ``gradient_at``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import scipy.sparse as sp

from . import blockdiag, kernels
from ..errors import MixedModelsError, ModelError
from .gradient import SparseGradientLayout, _compile as _gradient_kernels, gradient_from_factor
from .linalg import (BlockedFactor, NotPositiveDefinite, batched_cholesky, batched_tri_inverse,
                     WeightedGram, block_diag_sparse, dense_cholesky)
from . import smallfit
from .smallfit import NumpySmallEvaluator, SmallEvaluator
from .nested import NestedLayout, nested_map

__all__ = ["Path", "SmallPath", "DensePath", "BlocksPath", "SparsePath", "WarmingPath", "AmalgamatedPath", "NestedPath",
           "PATHS",
           "choose_path", "NESTED_MIN_WORK", "AMALGAMATE_GAIN", "AMALGAMATE_MAX",
           "DENSE_MAX", "DENSE_HARD_MAX", "BLOCKS_ACCOUNT", "SMALL_MAX_REST", "SMALL_MAX_WORK", "BLOCKS_MIN_WORK",
           "SPARSE_DENSE_C", "GRAM_PAIRS_MAX", "GRADIENT_CHUNK_ELEMENTS", "CROSSPROD_DENSE_MAX",
           "BLOCKDIAG_MIN_LEVELS", "BLOCKDIAG_MIN_LEVELS_LOADED", "BLOCKDIAG_GRAM_MAX_ROWS", "uses_blockdiag",
           "CROSSPROD_BINCOUNT_MAX",
           "CROSS_CHECK_SINGULAR_TOL",
           "CROSS_CHECK_FEW_LEVELS", "CROSS_CHECK_DENSE_MAX_THETA"]

# ------------------------------------------------------------------------------------- thresholds
DENSE_MAX = 400_000           # elements of A_R1 (m * q1) up to which "auto" takes a dense path
DENSE_HARD_MAX = 100_000_000  # ... and up to which a dense path may be asked for at all (800 MB)
SMALL_MAX_REST = 96           # rows of the rest block (later terms' columns + p + 1) up to which ...
SMALL_MAX_WORK = 300_000      # ... and m * m * q1 multiply-adds (the C C' downdate) up to which
                              # "auto" takes the compiled small path
BLOCKS_MIN_WORK = 200_000     # pair count of the level-by-level downdate from which "auto" takes it
SPARSE_DENSE_C = 0.05         # fill of A_R1 above which the sparse path forms C C' densely
GRAM_PAIRS_MAX = 20_000_000   # row pairs of A_R1 up to which the sparse path precomputes the pattern of
                              # C C' (scalar terms only; linalg.WeightedGram, ~40 bytes a pair to build)
GRADIENT_CHUNK_ELEMENTS = 2_000_000  # size of the dense k x (columns) blocks of the sparse gradient
BLOCKDIAG_MIN_LEVELS = 8_000  # levels of a vector-valued first term from which the paths run its
                              # level-by-level algebra compiled (fit.blockdiag; NumPy's batched calls
                              # on s x s blocks cost ~1 us a block each: ~15 us a level an evaluation
                              # with its gradient, against ~0.4 s to load Numba and the kernels) ...
BLOCKDIAG_MIN_LEVELS_LOADED = 100  # ... and from which once the kernels ran in the process (then
                                   # faster from ~100 levels: 0.08 against 0.29 ms an evaluation)
BLOCKDIAG_GRAM_MAX_ROWS = 16  # rows of the rest block up to which the dense path's compiled factor
                              # accumulates C C' level by level inside the optimizer (C not stored)
CROSSPROD_DENSE_MAX = 200_000  # n * (columns) up to which the cross-products are formed densely
NESTED_MIN_WORK = 1_000_000   # flops of a dense evaluation (m^3 / 3 + m^2 q1) from which "auto" takes the
                              # nested path where it applies (below, its ~30 small NumPy calls cost more)
AMALGAMATE_GAIN = 1.5         # "auto" amalgamates terms on one factor when a dense evaluation's flops
                              # (m^3 / 3 + m^2 q1) drop by at least this factor ...
AMALGAMATE_MAX = 4_000_000    # ... and the whole cross-product has at most this many elements (it is
                              # permuted densely once, 32 MB)
CROSSPROD_BINCOUNT_MAX = 64     # with one random term and more rows, columns of Z1' [X y] up to which they
                                # are summed level by level by bincount (A_R1 dense), not a sparse product
# the BOBYQA cross-check of optimizer="auto" (mixedmodels.fit.optimize.cross_check_reason)
CROSS_CHECK_SINGULAR_TOL = 1e-4  # a fit with a variance component below this (lme4's isSingular) ...
CROSS_CHECK_FEW_LEVELS = 5       # ... or a grouping factor with at most this many levels may have a
                                 # second optimum; the cross-check runs on the small path and, with
CROSS_CHECK_DENSE_MAX_THETA = 6  # at most this many parameters, on the dense path


class Path(Protocol):
    """One way to evaluate a :class:`~mixedmodels.fit.criterion.ProfiledCriterion`.

    ``name``: the path's name. ``factor(theta, need_C=True)``: the :class:`BlockedFactor` (raises
    :class:`~mixedmodels.fit.linalg.NotPositiveDefinite` where it does not exist). ``value(theta)``:
    the criterion (``inf`` where the factor does not exist). ``value_and_gradient(theta)``: both, or
    ``(inf, None)``. ``evaluate(theta)``: ``(value, state)``, and ``gradient_at(state)`` the gradient
    at that point, so that the optimizer's rejected line-search trials cost no gradient. None of them
    counts evaluations (the criterion and the optimizers do).
    """

    name: str

    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor: ...

    def value(self, theta: np.ndarray) -> float: ...

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray | None]: ...

    def evaluate(self, theta: np.ndarray) -> tuple[float, object]: ...

    def gradient_at(self, state) -> np.ndarray | None: ...


def small_size(crit) -> bool:
    """Whether ``crit`` is small enough for the small path's algebra (:data:`DENSE_MAX`,
    :data:`SMALL_MAX_REST`, :data:`SMALL_MAX_WORK`), compiled or in NumPy."""
    return crit.m * crit.q1 <= DENSE_MAX and crit.m <= SMALL_MAX_REST \
        and crit.m * crit.m * max(crit.q1, 1) <= SMALL_MAX_WORK


def uses_blockdiag(crit) -> bool:
    """Whether the paths of ``crit`` run the first term's level-by-level algebra compiled
    (:mod:`mixedmodels.fit.blockdiag`): a vector-valued first term with at least
    :data:`BLOCKDIAG_MIN_LEVELS_LOADED` levels when the kernels already ran in this process, else at
    least :data:`BLOCKDIAG_MIN_LEVELS` levels (where the fit saves more than loading Numba and the
    kernels costs, ~0.4 s) and their machine code ready (:func:`~mixedmodels.fit.blockdiag.ready`;
    where it is not, NumPy, and the compile starts in the background)."""
    if crit.s1 < 2 or crit.l1 < BLOCKDIAG_MIN_LEVELS_LOADED:
        return False
    if blockdiag.loaded(crit.s1):
        return True
    return crit.l1 >= BLOCKDIAG_MIN_LEVELS and blockdiag.ready(crit.s1)


def _first_term(crit, lam1: np.ndarray, compiled: bool = False):
    """``L11 = chol(lambda_1' A11_j lambda_1 + I)`` blockwise, and its inverse."""
    cp = crit.cp
    if compiled:
        L11, L11inv, _, _ = blockdiag.factor_first(lam1, cp.A11)
        return L11, L11inv
    if crit.s1 == 1:
        L11 = np.sqrt(cp.A11 * lam1[0, 0] ** 2 + 1.0)
        return L11, 1.0 / L11
    T = lam1.T @ cp.A11 @ lam1
    T += crit.eye1
    L11 = batched_cholesky(T)
    return L11, batched_tri_inverse(L11)


def _first_block(crit, theta: np.ndarray, compiled: bool = False):
    """The first term's part of the factor at ``theta``, as the dense and level-block paths form it: the
    lambdas, ``L11`` and its inverse, and ``T_j = lambda_1 L11_j^-T`` (``C = LR' A_R1 blockdiag(T_j)``);
    ``compiled``: by :func:`mixedmodels.fit.blockdiag.factor_first`."""
    lams = crit.lambdas(theta)
    lam1 = lams[0]
    if compiled:
        L11, L11inv, T, _ = blockdiag.factor_first(lam1, crit.cp.A11)
        return lams, L11, L11inv, T
    L11, L11inv = _first_term(crit, lam1)
    return lams, L11, L11inv, lam1 @ np.transpose(L11inv, (0, 2, 1))


def _diag_rest_block(crit, d: np.ndarray) -> np.ndarray:
    """``diag(d) A_RR diag(d) + D`` (the identity on the later terms' rows): the rest block before the
    downdate ``- C C'``, when every later term is scalar (the rest scaling ``LR`` is ``diag(d)``)."""
    M = crit.cp.ARR * d[:, None]
    M *= d[None, :]
    M[crit.diag_m] += crit.eye_rest
    return M


class _FactorPath:
    """The shared part of the paths that form a :class:`BlockedFactor` at each evaluation."""

    name = ""
    gradient_mode = "dense"

    def __init__(self, crit, compiled: bool | None = None):
        self.crit = crit
        # the first term's level-by-level algebra compiled (None: where it pays, uses_blockdiag)
        self.compiled = uses_blockdiag(crit) if compiled is None else bool(compiled and crit.s1 >= 2)

    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor:  # pragma: no cover
        raise NotImplementedError

    def evaluate(self, theta: np.ndarray):
        try:
            f = self.factor(theta, need_C=False)
        except NotPositiveDefinite:
            return np.inf, None
        v = float(self.crit.objective_from_factor(f))
        return (v, f) if np.isfinite(v) else (np.inf, None)

    def value(self, theta: np.ndarray) -> float:
        return self.evaluate(theta)[0]

    def gradient_at(self, f: BlockedFactor) -> np.ndarray | None:
        try:
            g = gradient_from_factor(self.crit, f, mode=self.gradient_mode,
                                     chunk_elements=GRADIENT_CHUNK_ELEMENTS, compiled=self.compiled)
        except (NotPositiveDefinite, np.linalg.LinAlgError):
            return None
        return g if np.all(np.isfinite(g)) else None

    def value_and_gradient(self, theta: np.ndarray):
        v, f = self.evaluate(theta)
        if f is None:
            return np.inf, None
        return v, self.gradient_at(f)

    def __repr__(self) -> str:
        return f"<evaluation path {self.name!r}>"


class DensePath(_FactorPath):
    """A_R1 dense: every product one BLAS call (scipy.sparse's per-call overhead would dominate)."""

    name = "dense"
    gradient_mode = "dense"
    numpy_small = True  # small models: value and gradient by smallfit.NumpySmallEvaluator

    def __init__(self, crit, compiled: bool | None = None):
        super().__init__(crit, compiled)
        self.AR1 = crit.AR1_dense  # (m, l1, s1), formed once
        # a model the small path would take (a process's first small fits, before the compiled code is
        # loaded): value and gradient by the small evaluator's algebra in NumPy (smallfit.NumpySmallEvaluator),
        # a few whole-array operations instead of the blocked factor's and gradient's many small calls
        # (a path built with ``compiled`` given keeps the blocked factor's evaluation, states and all)
        self._numpy_small = NumpySmallEvaluator(crit) if compiled is None and self.numpy_small \
            and not self.compiled and small_size(crit) else None

    def evaluate(self, theta: np.ndarray):
        if self._numpy_small is not None:
            return self._numpy_small.evaluate(theta)
        return super().evaluate(theta)

    def gradient_at(self, state) -> np.ndarray | None:
        if self._numpy_small is not None:
            return self._numpy_small.gradient(state)
        return super().gradient_at(state)

    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor:
        crit = self.crit
        if self.compiled and not need_C and crit.m <= BLOCKDIAG_GRAM_MAX_ROWS:
            # L11, its inverse and C C' (C = AR1 blockdiag(lambda1 L11_j^-T)) in one compiled pass
            cp = crit.cp
            lams = crit.lambdas(theta)
            L11, L11inv, _, CC = blockdiag.factor_first(lams[0], cp.A11, self.AR1, gram=True)
            if not crit.qrest:
                M = cp.ARR - CC
            elif crit.rest_diag:
                d = crit.rest_scale_vector(theta)
                M = (cp.ARR - CC) * d[:, None]
                M *= d[None, :]
            else:
                M = cp.ARR - CC
                M = crit.rest_scale_left(crit.rest_scale_right(M, lams), lams)
            M[crit.diag_m] += crit.eye_rest
            return BlockedFactor(theta, lams, L11, L11inv, None, dense_cholesky(M), crit.qrest, crit.p)
        # C = LambdaR' AR1 Lambda1 L11^-T
        if self.compiled:  # L11, its inverse and AR1 blockdiag(lambda1 L11_j^-T) in one compiled pass
            lams = crit.lambdas(theta)
            L11, L11inv, _, C = blockdiag.factor_first(lams[0], crit.cp.A11, self.AR1)
        else:
            lams, L11, L11inv, T = _first_block(crit, theta)
            if crit.s1 == 1:
                C = self.AR1[:, :, 0] * T[:, 0, 0][None, :]
            else:
                # level by level A_R1[:, j, :] @ T_j as one batched matmul (einsum's unoptimized loop
                # costs 2-8x more on these shapes)
                C = np.matmul(self.AR1.transpose(1, 0, 2), T).transpose(1, 0, 2).reshape(crit.m, -1)
        if crit.qrest and crit.rest_diag:
            d = crit.rest_scale_vector(theta)
            C *= d[:, None]
            M = _diag_rest_block(crit, d)
        else:  # LR = blockdiag(Lambda_R, I) (the identity with no later terms): C <- LR' C, M = LR' A_RR LR
            M = crit.cp.ARR.copy()
            if crit.qrest:  # block by block
                crit.rest_scale_left(C, lams)
                crit.rest_scale_left(crit.rest_scale_right(M, lams), lams)
            M[crit.diag_m] += crit.eye_rest
        M -= C @ C.T
        LRR = dense_cholesky(M)
        return BlockedFactor(theta, lams, L11, L11inv, C, LRR, crit.qrest, crit.p)


class SmallPath(DensePath):
    """The dense path's algebra in one compiled call with the gradient (value and gradient together
    cost a few microseconds on small models); :meth:`factor` (post-processing) is the dense path's."""

    name = "small"

    numpy_small = False  # its own compiled evaluator instead

    def __init__(self, crit):
        super().__init__(crit)
        self.evaluator = SmallEvaluator(crit)

    def evaluate(self, theta: np.ndarray):
        v, g = self.evaluator(theta)
        return (v, g) if g is not None else (np.inf, None)

    def value(self, theta: np.ndarray) -> float:
        return self.evaluator(theta, want_grad=False)[0]

    def gradient_at(self, g: np.ndarray) -> np.ndarray | None:
        return g if np.isfinite(g).all() else None

    def value_and_gradient(self, theta: np.ndarray):
        v, g = self.evaluator(theta)
        if g is None:
            return np.inf, None
        return v, self.gradient_at(g)


class BlocksPath(_FactorPath):
    """Large models whose later terms are all scalar: the downdate ``M -= C C'`` level by level in one
    compiled kernel (:class:`~mixedmodels.fit.kernels.LevelBlocks`), C formed only when asked for."""

    name = "blocks"
    gradient_mode = "blocks"

    def __init__(self, crit, compiled: bool | None = None):
        super().__init__(crit, compiled)
        self.blocks = crit.level_blocks

    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor:
        crit = self.crit
        lams, L11, L11inv, T = _first_block(crit, theta, self.compiled)
        d = crit.rest_scale_vector(theta)
        M = _diag_rest_block(crit, d)
        self.blocks.downdate(M, T, d)
        LRR = dense_cholesky(M)
        C = None
        if need_C:
            C = _scaled_rows((crit.cp.AR1 @ block_diag_sparse(T)).tocsr(), d)
        return BlockedFactor(theta, lams, L11, L11inv, C, LRR, crit.qrest, crit.p)


def _scaled_rows(C: sp.csr_matrix, d: np.ndarray) -> sp.csr_matrix:
    """``diag(d) C`` for a CSR matrix, without a sparse product."""
    return sp.csr_matrix((C.data * d[np.repeat(np.arange(C.shape[0]), np.diff(C.indptr))],
                          C.indices, C.indptr), shape=C.shape)


class SparsePath(_FactorPath):
    """scipy.sparse products: any layout and size (the rest scaling filled into its precomputed
    pattern); C C' formed densely when A_R1 is more than :data:`SPARSE_DENSE_C` full."""

    name = "sparse"
    gradient_mode = "sparse"

    def __init__(self, crit, compiled: bool | None = None):
        super().__init__(crit, compiled)
        AR1 = crit.cp.AR1
        self.dense_C = AR1.nnz / max(1, AR1.shape[0] * AR1.shape[1]) > SPARSE_DENSE_C
        # scalar terms throughout: C C' = diag(d) A_R1 diag(t^2) A_R1' diag(d) on a pattern fixed per model
        self._gram = None
        if crit.rest_diag and crit.s1 == 1:
            pairs = WeightedGram.pair_count(AR1)
            # against a dense C C' (BLAS: ~40 multiply-adds in the time of one pair, measured)
            if pairs <= GRAM_PAIRS_MAX and not (self.dense_C and pairs * 40 >= crit.m * crit.m * crit.q1):
                self._gram = WeightedGram(AR1)
        self._layout = None  # the gradient's SparseGradientLayout, built at the first gradient
        self._layout_built = False

    def gradient_at(self, f: BlockedFactor) -> np.ndarray | None:
        if not self._layout_built:
            self._layout = SparseGradientLayout.for_criterion(self.crit)
            self._layout_built = True
        try:
            g = gradient_from_factor(self.crit, f, mode="sparse", chunk_elements=GRADIENT_CHUNK_ELEMENTS,
                                     layout=self._layout if self._layout is not None else False,
                                     compiled=self.compiled)
        except (NotPositiveDefinite, np.linalg.LinAlgError):
            return None
        return g if np.all(np.isfinite(g)) else None

    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor:
        crit = self.crit
        cp = crit.cp
        lams = crit.lambdas(theta)
        lam1 = lams[0]
        L11, L11inv = _first_term(crit, lam1, self.compiled)
        if self._gram is not None and not need_C:
            d = crit.rest_scale_vector(theta)
            M = _diag_rest_block(crit, d)
            t = lam1[0, 0] * L11inv[:, 0, 0]
            self._gram.subtract_from(M, t * t, d)
            return BlockedFactor(theta, lams, L11, L11inv, None, dense_cholesky(M), crit.qrest, crit.p)
        if crit.rest_diag:
            d = crit.rest_scale_vector(theta)
            if crit.s1 == 1:
                data = cp.AR1.data * d[crit.ar1_rows] * (lam1[0, 0] * L11inv[:, 0, 0])[crit.ar1_cols]
                C = sp.csr_matrix((data, cp.AR1.indices, cp.AR1.indptr), shape=cp.AR1.shape)
            else:
                right = block_diag_sparse(lam1 @ np.transpose(L11inv, (0, 2, 1)))
                C = _scaled_rows((cp.AR1 @ right).tocsr(), d)
            M = cp.ARR * d[:, None] * d[None, :]
        else:
            LR = crit.rest_scale_matrix(theta)
            right = block_diag_sparse(lam1 @ np.transpose(L11inv, (0, 2, 1)))
            C = (LR.T @ (cp.AR1 @ right)).tocsr()
            B = LR.T @ cp.ARR
            M = np.asarray((LR.T @ B.T).T)
        M[crit.diag_m] += crit.eye_rest
        if self.dense_C:
            Cd = C.toarray()
            M -= Cd @ Cd.T
        else:
            M -= (C @ C.T).toarray()
        LRR = dense_cholesky(M)
        return BlockedFactor(theta, lams, L11, L11inv, C, LRR, crit.qrest, crit.p)


class WarmingPath:
    """The ``blocks`` path of a process whose level-block kernels are not compiled yet (the first large
    fit after installation): evaluations run on the sparse path while another process compiles the
    kernels (:func:`~mixedmodels.fit.kernels.blocks_ready`), and from the first evaluation after their
    machine code is in the on-disk cache, on the compiled path. The two agree to rounding (~1e-12
    relative), so the switch mid-search is harmless; each evaluation's gradient comes from the path that
    evaluated it. ``name`` is the path in use."""

    def __init__(self, crit):
        self.crit = crit
        self._sparse = SparsePath(crit)
        self._blocks: BlocksPath | None = None

    @property
    def name(self) -> str:
        return self._current().name

    def _current(self) -> _FactorPath:
        if self._blocks is None and kernels.blocks_ready(start_compile=False):
            self._blocks = BlocksPath(self.crit)
        return self._blocks if self._blocks is not None else self._sparse

    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor:
        return self._current().factor(theta, need_C)

    def evaluate(self, theta: np.ndarray):
        path = self._current()
        v, state = path.evaluate(theta)
        return v, (None if state is None else (path, state))

    def gradient_at(self, state) -> np.ndarray | None:
        path, f = state
        return path.gradient_at(f)

    def value(self, theta: np.ndarray) -> float:
        return self._current().value(theta)

    def value_and_gradient(self, theta: np.ndarray):
        return self._current().value_and_gradient(theta)

    def __repr__(self) -> str:
        return f"<evaluation path {self.name!r} (level-block kernels compiling)>"


class AmalgamatedPath:
    """Evaluations on the amalgamated criterion (:class:`~mixedmodels.fit.criterion.Amalgamated`: the
    terms on one grouping factor as one term with a block-diagonal lambda; the same function of theta,
    with the same theta), by that criterion's own path; :meth:`factor` (the results: conditional modes,
    conditional variances in the layout of the model as written) by the dense path of the model as
    written."""

    name = "amalgamated"

    def __init__(self, crit, inner=None):
        self.crit = crit
        if crit.amalgamation is None:
            raise ModelError("path='amalgamated' needs two consecutive random-effects terms on one grouping "
                             "factor (such as (1 + x || g)); use path='auto'")
        self.inner = crit.amalgamation.criterion(crit) if inner is None else inner
        self._path = self.inner.path
        self._dense: DensePath | None = None

    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor:
        if self._dense is None:
            self._dense = DensePath(self.crit)
        return self._dense.factor(theta, need_C)

    def evaluate(self, theta: np.ndarray):
        return self._path.evaluate(theta)

    def gradient_at(self, state) -> np.ndarray | None:
        return self._path.gradient_at(state)

    def value(self, theta: np.ndarray) -> float:
        return self._path.value(theta)

    def value_and_gradient(self, theta: np.ndarray):
        return self._path.value_and_gradient(theta)

    def __repr__(self) -> str:
        return f"<evaluation path 'amalgamated' (terms on one factor as one; {self._path.name} inside)>"


class NestedPath:
    """Two nested terms (:mod:`mixedmodels.fit.nested`): value and gradient on the arrowhead rest block;
    :meth:`factor` (the results, in the model's own layout) by the sparse path."""

    name = "nested"

    def __init__(self, crit, g: np.ndarray | None = None):
        self.crit = crit
        if g is None:
            g = nested_map(crit)
        if g is None:
            raise ModelError("path='nested' needs two random-effects terms, each level of the first inside one "
                             "level of the second (such as (1 | a) + (1 | a:b)); use path='auto'")
        self.layout = NestedLayout(crit, g)
        self._full = None

    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor:
        if self._full is None:
            crit = self.crit
            self._full = SparsePath(crit)  # A_R1 is sparse here (each level meets one outer level)
        return self._full.factor(theta, need_C)

    def evaluate(self, theta: np.ndarray):
        return self.layout.evaluate(np.asarray(theta, dtype=float))

    def gradient_at(self, state) -> np.ndarray | None:
        try:
            g = self.layout.gradient(state)
        except (NotPositiveDefinite, np.linalg.LinAlgError):
            return None
        return g if np.all(np.isfinite(g)) else None

    def value(self, theta: np.ndarray) -> float:
        return self.evaluate(theta)[0]

    def value_and_gradient(self, theta: np.ndarray):
        v, st = self.evaluate(theta)
        if st is None:
            return np.inf, None
        return v, self.gradient_at(st)

    def __repr__(self) -> str:
        return "<evaluation path 'nested'>"


def _dense_flops(m: int, q1: int) -> float:
    return m ** 3 / 3.0 + float(m) * m * q1


def _amalgamated_if_it_pays(crit) -> "AmalgamatedPath | None":
    """The :class:`AmalgamatedPath` "auto" takes: where terms can be amalgamated, the whole cross-product
    has at most :data:`AMALGAMATE_MAX` elements, and either a dense evaluation's flops drop by
    :data:`AMALGAMATE_GAIN` or the amalgamated model is two nested terms (``(1 + x || school) + (1 |
    school:class)``: the nested path); else None."""
    am = crit.amalgamation
    if am is None or (crit.q1 + crit.m) ** 2 > AMALGAMATE_MAX:
        return None
    fewer = _dense_flops(crit.m, crit.q1) >= AMALGAMATE_GAIN * _dense_flops(am.m, am.q1)
    if not fewer and len(am.terms) != 2:
        return None
    inner = am.criterion(crit)
    if fewer or inner.path.name == "nested":
        return AmalgamatedPath(crit, inner)
    return None


def _blocks_cached() -> bool:
    return kernels.indexed(kernels.BLOCKS_KERNELS)


def _blocks_load() -> None:
    """The rule's background load of the level-block kernels (the downdate and the gradient's two)."""
    fns = [kernels._compile(), *_gradient_kernels()]
    kernels.load_cached(fns)
    if all(fn.overloads for fn in fns):
        kernels.mark_blocks_ready()


def _blocks_loaded() -> bool:
    return kernels.blocks_loaded()


# the level-block kernels' rent-or-buy account (mixedmodels.fit.kernels.Account)
BLOCKS_ACCOUNT = kernels.Account("blocks", loaded=_blocks_loaded, cached=_blocks_cached, load=_blocks_load)


PATHS = {"small": SmallPath, "dense": DensePath, "blocks": BlocksPath, "sparse": SparsePath,
         "amalgamated": AmalgamatedPath, "nested": NestedPath}


def choose_path(crit, requested: str = "auto") -> Path:
    """The evaluation path of ``crit`` (a :class:`~mixedmodels.fit.criterion.ProfiledCriterion`).

    ``"auto"``: ``small`` when A_R1 is at most :data:`DENSE_MAX` elements, the rest block at most
    :data:`SMALL_MAX_REST` rows and the downdate at most :data:`SMALL_MAX_WORK` multiply-adds (and Numba
    is there) and the rent-or-buy rule has the compiled evaluator loaded
    (:data:`mixedmodels.fit.smallfit.ACCOUNT`); else ``dense`` up to :data:`DENSE_MAX` (charging its
    extra time to that rule); else, when every later term is scalar and the level-by-level downdate has
    at least :data:`BLOCKS_MIN_WORK` pairs, as the rule of the level-block kernels
    (:data:`BLOCKS_ACCOUNT`, :class:`~mixedmodels.fit.kernels.Account`) says: ``blocks`` when they are
    loaded, or when this fit's predicted saving (:func:`~mixedmodels.fit.kernels.blocks_saving`)
    reaches the load cost (a :class:`WarmingPath` while another process compiles them: no fit compiles
    them), else ``sparse``, each evaluation charging its predicted extra time; else ``sparse``. Before
    the size rules, on any model the small path does not take whose dense evaluation would cost at least
    :data:`NESTED_MIN_WORK` flops: ``nested`` for two nested terms, else ``amalgamated`` where terms on
    one factor amalgamate into a cheaper model (:func:`_amalgamated_if_it_pays`).
    A path asked for by name is used if the model allows it (a :class:`~mixedmodels.errors.ModelError`
    says why not).
    """
    if not isinstance(requested, str) or requested not in ("auto", *PATHS):
        raise MixedModelsError(f"path must be 'auto', {', '.join(repr(p) for p in PATHS)}, not {requested!r}")
    numba = kernels.available()
    dense_size = crit.m * crit.q1
    if requested == "auto":
        small_shape = dense_size <= DENSE_MAX and numba and crit.m <= SMALL_MAX_REST \
            and crit.m * crit.m * max(crit.q1, 1) <= SMALL_MAX_WORK
        # the compiled evaluator once the rent-or-buy rule has it loaded (kernels.Account); before, NumPy
        small = small_shape and smallfit.compile_pays()
        worth = not small and (dense_size > DENSE_MAX or _dense_flops(crit.m, crit.q1) >= NESTED_MIN_WORK)
        g = nested_map(crit) if worth else None
        if g is not None:
            return NestedPath(crit, g)
        amalgamated = _amalgamated_if_it_pays(crit) if worth else None
        if amalgamated is not None:
            return amalgamated
        if dense_size <= DENSE_MAX:
            path = PATHS["small" if small else "dense"](crit)
            if small_shape and not small:  # renting: the NumPy evaluations' extra time is charged
                smallfit.ACCOUNT.meter(path, ("evaluate", "gradient_at"), share=kernels.SAVED_SHARE["small"])
            return path
        if crit.rest_diag and numba and crit.level_blocks.work >= BLOCKS_MIN_WORK:
            # rent or buy (kernels.Account): the compiled kernels once loaded, or loaded in this fit when
            # it alone is predicted to save more than loading them costs (WarmingPath: on the sparse path
            # until another process has compiled them, never compiling here); else the sparse path,
            # each evaluation charging its predicted extra time
            decision = BLOCKS_ACCOUNT.decide(kernels.blocks_saving(crit))
            if decision == kernels.COMPILED:
                return BlocksPath(crit)
            if decision == kernels.LOAD and kernels.blocks_ready():
                return BlocksPath(crit)
            if decision in (kernels.LOAD, kernels.WAIT):  # not compiled yet (or stale): the other process does it
                return WarmingPath(crit)
            path = SparsePath(crit)
            BLOCKS_ACCOUNT.meter(path, ("evaluate",),
                                 per_call=kernels.blocks_saving(crit, evaluations=1))
            return path
        return PATHS["sparse"](crit)
    if requested in ("small", "blocks") and not numba:  # pragma: no cover - numba is a dependency
        raise ModelError(f"path={requested!r} needs Numba, which is not installed")
    if requested == "amalgamated" and crit.amalgamation is not None \
            and (crit.q1 + crit.m) ** 2 > DENSE_HARD_MAX:
        raise ModelError(f"path='amalgamated' would hold the whole cross-product dense ({(crit.q1 + crit.m) ** 2:,} "
                         f"elements, more than {DENSE_HARD_MAX:,}); use path='sparse' or 'auto'")
    if requested in ("small", "dense") and dense_size > DENSE_HARD_MAX:
        raise ModelError(f"path={requested!r} would hold A_R1 dense ({dense_size:,} elements, more than "
                         f"{DENSE_HARD_MAX:,}); use path='sparse' or 'auto'")
    if requested == "blocks" and not crit.rest_diag:
        raise ModelError("path='blocks' needs every random-effects term after the first to have one column "
                         "(scalar terms); use path='sparse' or 'auto'")
    return PATHS[requested](crit)

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

from functools import cached_property, lru_cache

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from . import kernels
from .crossprod import CrossProducts
from .linalg import BlockedFactor, block_diag_sparse
from .paths import Path, choose_path
from ..frame.reterms import ReTerm

__all__ = ["ProfiledCriterion", "BlockedFactor", "tril_indices", "amalgamation_runs", "Amalgamated"]

_LOG2PI = np.log(2 * np.pi)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@lru_cache(maxsize=64)
def tril_indices(s: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the lower triangle of an ``s x s`` lambda in column-major order (R's
    ``lower.tri`` order: the order of a term's elements in theta). Computed once per size (read-only
    arrays, shared)."""
    cols, rows = np.triu_indices(s)  # triu of the transpose = tril column-major
    return _readonly(rows), _readonly(cols)


@lru_cache(maxsize=32)
def _layout(shape: tuple[tuple[int, int], ...], p: int, patterns: tuple | None = None) -> dict:
    """The index layout of a criterion whose random-effects terms have ``shape`` = ((nlevels, ncols), ...)
    and ``p`` fixed effects: it depends on nothing else, so models of one shape (a simulation, a
    bootstrap, the same formula on new data) share it. Read-only arrays. ``patterns``: per term, the
    (rows, cols) of lambda that theta fills, in theta's order (None: the whole lower triangle, column by
    column; an amalgamated term, :class:`Amalgamated`, fills a block-diagonal pattern)."""
    out: dict = {}
    qrest = sum(l * s for l, s in shape[1:])
    m = qrest + p + 1
    sizes = [s * (s + 1) // 2 for _, s in shape] if patterns is None else [len(r) for r, _ in patterns]
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    out["theta_slices"] = [_readonly(np.arange(starts[i], starts[i + 1])) for i in range(len(shape))]
    out["qrest"], out["m"] = qrest, m
    out["rest_diag"] = all(s == 1 for _, s in shape[1:])
    out["l1"], out["s1"] = shape[0]
    out["q1"] = shape[0][0] * shape[0][1]
    # per term, the (rows, cols) of lambda that theta fills (column-major lower triangle)
    tril = [tril_indices(s) for _, s in shape] if patterns is None else \
        [(_readonly(np.asarray(r, dtype=np.intp)), _readonly(np.asarray(c, dtype=np.intp))) for r, c in patterns]
    out["tril"] = tril
    # for each rest row that is a Z column, the position in theta of its term's lambda[0, 0]
    out["rest_theta"] = _readonly(np.repeat(starts[1:-1], [l * s for l, s in shape[1:]]).astype(np.intp))
    # later terms: for each theta element lambda_t[a, b], the rest rows (j, b) and columns (j, a)
    rest_pairs: list[tuple[int, np.ndarray, np.ndarray]] = []
    pos = 0
    for ti in range(1, len(shape)):
        l, s = shape[ti]
        rows, cols = tril[ti]
        base = pos + np.arange(l) * s
        for e, (a, b) in enumerate(zip(rows, cols)):
            rest_pairs.append((int(starts[ti] + e), _readonly(base + b), _readonly(base + a)))
        pos += l * s
    out["rest_pairs"] = rest_pairs
    # the same, flat: every (ci, cj) pair with the index of its theta element in rest_pairs
    empty = np.zeros(0, np.intp)
    out["rest_theta_pos"] = _readonly(np.array([e[0] for e in rest_pairs], dtype=np.intp))
    out["rest_ci"] = _readonly(np.concatenate([e[1] for e in rest_pairs]).astype(np.intp) if rest_pairs else empty)
    out["rest_cj"] = _readonly(np.concatenate([e[2] for e in rest_pairs]).astype(np.intp) if rest_pairs
                               else empty.copy())
    out["rest_seg"] = _readonly(np.repeat(np.arange(len(rest_pairs)), [len(e[1]) for e in rest_pairs])
                                .astype(np.intp))
    # lower bounds: 0 on the diagonal of each lambda, -inf elsewhere
    out["_lower"] = _readonly(np.concatenate([np.where(r == c, 0.0, -np.inf) for r, c in tril]))
    out["eye1"] = _readonly(np.eye(shape[0][1]))  # added to each of the first term's s1 x s1 blocks
    out["diag_m"] = tuple(_readonly(i) for i in np.diag_indices(m))  # the diagonal of the dense rest block
    eye_rest = np.zeros(m)
    eye_rest[:qrest] = 1.0
    out["eye_rest"] = _readonly(eye_rest)
    return out


def amalgamation_runs(terms: list[ReTerm]) -> list[list[int]]:
    """Consecutive terms on one grouping factor (the same levels, the same level of every row: what
    ``(1 + S + P || subj)`` expands to), as runs of term indices; a term alone is a run of one.

    Such terms can be treated as one term (MixedModels.jl's amalgamation) whose ``lambda`` is the
    block-diagonal matrix of theirs: the same model, the same theta in the same order, a smaller rest
    block."""
    runs: list[list[int]] = []
    for i, t in enumerate(terms):
        if runs:
            prev = terms[runs[-1][-1]]
            if prev.group == t.group and prev.nlevels == t.nlevels and \
                    (prev.refs is t.refs or np.array_equal(prev.refs, t.refs)) and list(prev.levels) == list(t.levels):
                runs[-1].append(i)
                continue
        runs.append([i])
    return runs


class Amalgamated:
    """The criterion's layout with each run of :func:`amalgamation_runs` as one term: the merged terms
    (their columns side by side, level by level), each one's lambda pattern (the block-diagonal
    positions its theta fills, in theta's order) and the cross-products permuted into that layout from
    the criterion's (nothing is recomputed from the data).

    ``m``, ``q1``: the amalgamated layout's rest rows and first-term columns."""

    def __init__(self, crit: "ProfiledCriterion", runs: list[list[int]]):
        terms = crit.terms
        self.runs = runs
        merged: list[ReTerm] = []
        patterns = []
        for run in runs:
            ts = [terms[i] for i in run]
            t0 = ts[0]
            z = t0.z if len(ts) == 1 else np.column_stack([t.z for t in ts])
            merged.append(ReTerm(t0.group, t0.levels, t0.refs, [c for t in ts for c in t.cnames], z,
                                 " + ".join(t.source for t in ts if t.source)))
            rows, cols, off = [], [], 0
            for t in ts:
                r, c = tril_indices(t.ncols)
                rows += (r + off).tolist()
                cols += (c + off).tolist()
                off += t.ncols
            patterns.append((tuple(rows), tuple(cols)))
        self.terms = merged
        self.patterns = tuple(patterns)
        # the full index of each column in the criterion's layout [first term, rest], in the new order
        starts = np.concatenate([[0], np.cumsum([t.nranef for t in terms])]).astype(np.intp)
        order = []
        for run in runs:
            nl = terms[run[0]].nlevels
            per_level = [starts[i] + np.arange(nl)[:, None] * terms[i].ncols + np.arange(terms[i].ncols)[None, :]
                         for i in run]
            order.append(np.concatenate(per_level, axis=1).ravel())
        q = int(starts[-1])
        self.perm = np.concatenate(order + [np.arange(q, q + crit.p + 1)]).astype(np.intp)
        self.q1 = merged[0].nranef
        self.m = len(self.perm) - self.q1

    def crossproducts(self, crit: "ProfiledCriterion") -> CrossProducts:
        """The cross-products in the amalgamated layout (a dense permutation of the full ``[Z X y]'[Z X
        y]``: for models whose whole cross-product is small, see :data:`~mixedmodels.fit.paths.AMALGAMATE_MAX`)."""
        cp = crit.cp
        q1 = crit.q1
        N = q1 + crit.m
        A = np.zeros((N, N))
        l1, s1 = crit.l1, crit.s1
        base = np.arange(l1)[:, None, None] * s1
        A[base + np.arange(s1)[None, :, None], base + np.arange(s1)[None, None, :]] = cp.A11
        AR1 = cp.AR1_array
        A[q1:, :q1] = AR1
        A[:q1, q1:] = AR1.T
        A[q1:, q1:] = cp.ARR
        A = A[np.ix_(self.perm, self.perm)]
        t1 = self.terms[0]
        n1, s = self.q1, t1.ncols
        A11n = np.ascontiguousarray(A[:n1, :n1].reshape(t1.nlevels, s, t1.nlevels, s)
                                    .diagonal(axis1=0, axis2=2).transpose(2, 0, 1))
        return CrossProducts(A11n, np.ascontiguousarray(A[n1:, :n1]), np.ascontiguousarray(A[n1:, n1:]))

    def criterion(self, crit: "ProfiledCriterion") -> "ProfiledCriterion":
        """The amalgamated criterion: the same function of theta as ``crit`` (its number of rows, fixed
        effects, intercept column, response shift and weights; on its own path, chosen by "auto")."""
        out = ProfiledCriterion.__new__(ProfiledCriterion)
        for k in ("n", "p", "reml", "int_col", "weights", "log_w", "y_shift", "_X", "_y"):
            setattr(out, k, getattr(crit, k))
        out.terms, out.patterns, out.cp = self.terms, self.patterns, self.crossproducts(crit)
        out._build_layout()
        out.nevals = 0
        out.path = choose_path(out, "auto")
        return out


class ProfiledCriterion:
    """``theta -> d(theta)`` (ML) or ``dR(theta)`` (REML), with the factor kept for post-processing.

    The object is built once per model: the cross-products and every index layout an evaluation needs
    (theta positions, the rest block's scaling pattern, the level blocks) are computed here or on first
    use, never per evaluation. How an evaluation runs -- the factor, the value and the gradient -- is
    the job of one evaluation path (:mod:`mixedmodels.fit.paths`), chosen once here: ``path="auto"``
    (by the model's size) or one of ``"small"``, ``"dense"``, ``"blocks"``, ``"sparse"``.
    ``nevals`` counts evaluations.
    """

    patterns: tuple | None = None  # per term, lambda's filled (rows, cols); None: lower triangles

    def __init__(self, terms: list[ReTerm], X: np.ndarray, y: np.ndarray, reml: bool = True,
                 crossprods: CrossProducts | None = None, y_shift: float | None = None,
                 weights: np.ndarray | None = None, path: str = "auto", patterns: tuple | None = None):
        self.terms = terms
        self.patterns = patterns
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
        self._X, self._y = X, y  # for with_path()
        self._build_layout()
        self.nevals = 0
        self.path: Path = choose_path(self, path)

    def _build_layout(self) -> None:
        """Every index array an evaluation needs, computed once per shape of the model
        (:func:`_layout`, shared and read-only)."""
        self.__dict__.update(_layout(tuple((t.nlevels, t.ncols) for t in self.terms), self.p, self.patterns))

    def with_path(self, path: str) -> "ProfiledCriterion":
        """The same criterion (the same cross-products) evaluated by another path."""
        return ProfiledCriterion(self.terms, self._X, self._y, reml=self.reml, crossprods=self.cp,
                                 y_shift=self.y_shift, weights=self.weights, path=path, patterns=self.patterns)

    # ------------------------------------------------------------------ per-model layouts (built once)
    @cached_property
    def AR1_dense(self) -> np.ndarray:
        """A_R1 as a dense (m, l1, s1) array (the dense and small paths, the dense gradient)."""
        return self.cp.AR1_array.reshape(self.m, self.l1, self.s1)

    @cached_property
    def ar1_rows(self) -> np.ndarray:
        """The row of each stored element of the sparse A_R1 (the sparse path's scalar case)."""
        AR1 = self.cp.AR1
        return np.repeat(np.arange(AR1.shape[0]), np.diff(AR1.indptr))

    @property
    def ar1_cols(self) -> np.ndarray:
        """The column of each stored element of the sparse A_R1."""
        return self.cp.AR1.indices

    @cached_property
    def AR1_csc(self) -> sp.csc_matrix:
        """A_R1 by columns, indices sorted (the sparse gradient)."""
        out = self.cp.AR1.tocsc()
        out.sort_indices()
        return out

    @cached_property
    def level_blocks(self) -> kernels.LevelBlocks:
        """A_R1 level by level (:class:`~mixedmodels.fit.kernels.LevelBlocks`), shared by the compiled
        downdate and the compiled gradient."""
        return kernels.LevelBlocks(self.cp.AR1, self.l1, self.s1)

    @cached_property
    def _rest_scale_pattern(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The sparsity pattern of ``blockdiag(Lambda_R, I_{p+1})`` in CSR order: (indptr, indices,
        rows, theta position of each stored element or -1 for the identity's ones, dense index)."""
        r_list, c_list, th_list = [], [], []
        pos = 0
        for t, sl, (rows, cols) in zip(self.terms[1:], self.theta_slices[1:], self.tril[1:]):
            base = pos + np.arange(t.nlevels)[:, None] * t.ncols
            r_list.append((base + rows[None, :]).ravel())
            c_list.append((base + cols[None, :]).ravel())
            th_list.append(np.broadcast_to(sl[None, :], (t.nlevels, len(sl))).ravel())
            pos += t.nranef
        ident = np.arange(self.qrest, self.m)
        r_list.append(ident)
        c_list.append(ident)
        th_list.append(np.full(len(ident), -1))
        r = np.concatenate(r_list).astype(np.int64)
        c = np.concatenate(c_list).astype(np.int64)
        th = np.concatenate(th_list).astype(np.int64)
        order = np.lexsort((c, r))
        r, c, th = r[order], c[order], th[order]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=self.m))]).astype(np.int64)
        return indptr, c, r, th, th < 0

    def _rest_scale_values(self, theta: np.ndarray) -> np.ndarray:
        _, _, _, th, ident = self._rest_scale_pattern
        vals = theta[np.where(ident, 0, th)]
        vals[ident] = 1.0
        return vals

    @cached_property
    def amalgamation(self) -> Amalgamated | None:
        """This criterion's terms amalgamated (:class:`Amalgamated`), or None where no two consecutive
        terms share a grouping factor (or the terms already carry lambda patterns)."""
        if self.patterns is not None or not self.terms:
            return None
        runs = amalgamation_runs(self.terms)
        if len(runs) == len(self.terms):
            return None
        return Amalgamated(self, runs)

    # ------------------------------------------------------------------ theta helpers
    @property
    def ntheta(self) -> int:
        return len(self._lower)

    def theta_init(self) -> np.ndarray:
        return np.where(self._lower == 0.0, 1.0, 0.0)  # lambda = I: each term's ReTerm.theta_init

    def lower_bounds(self) -> np.ndarray:
        return self._lower.copy()

    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        out = []
        for t, sl, (rows, cols) in zip(self.terms, self.theta_slices, self.tril):
            lam = np.zeros((t.ncols, t.ncols))
            lam[rows, cols] = theta[sl]
            out.append(lam)
        return out

    def rest_scale_vector(self, theta: np.ndarray) -> np.ndarray:
        """The diagonal of blockdiag(Lambda_R, I) when every later term is scalar (``rest_diag``)."""
        d = np.ones(self.m)
        d[: self.qrest] = theta[self.rest_theta]
        return d

    def rest_scale_matrix(self, theta: np.ndarray) -> sp.csr_matrix:
        """``blockdiag(Lambda_R, I_{p+1})`` as a sparse matrix, filled into the precomputed pattern."""
        indptr, indices, _, _, _ = self._rest_scale_pattern
        return sp.csr_matrix((self._rest_scale_values(theta), indices, indptr), shape=(self.m, self.m))

    def rest_scale_right(self, A: np.ndarray, lams: list[np.ndarray]) -> np.ndarray:
        """``A <- A @ blockdiag(Lambda_R, I_{p+1})`` in place, for a dense ``A`` with ``m`` columns, term by
        term (each level's columns times its small lambda: ``O(rows * m * s)``, not an ``m x m`` product)."""
        rows = A.shape[0]
        pos = 0
        for t, lam in zip(self.terms[1:], lams[1:]):
            cols = slice(pos, pos + t.nranef)
            if t.ncols == 1:
                A[:, cols] *= lam[0, 0]
            else:
                A[:, cols] = (A[:, cols].reshape(rows, t.nlevels, t.ncols) @ lam).reshape(rows, -1)
            pos += t.nranef
        return A

    def rest_scale_left(self, A: np.ndarray, lams: list[np.ndarray]) -> np.ndarray:
        """``A <- blockdiag(Lambda_R, I_{p+1})' @ A`` in place, for a dense ``A`` with ``m`` rows."""
        A2 = A.reshape(A.shape[0], -1)
        width = A2.shape[1]
        pos = 0
        for t, lam in zip(self.terms[1:], lams[1:]):
            rows = slice(pos, pos + t.nranef)
            if t.ncols == 1:
                A2[rows] *= lam[0, 0]
            else:
                A2[rows] = (lam.T @ A2[rows].reshape(t.nlevels, t.ncols, width)).reshape(t.nranef, width)
            pos += t.nranef
        return A

    # ------------------------------------------------------------------ the factor and the value
    def factor(self, theta: np.ndarray, need_C: bool = True) -> BlockedFactor:
        """The blocked factor at ``theta`` (by this criterion's path); ``need_C=False`` (inside the
        optimizer) lets a path skip forming the off-diagonal block C."""
        return self.path.factor(np.asarray(theta, dtype=float), need_C=need_C)

    def objective_from_factor(self, f: BlockedFactor, reml: bool | None = None) -> float:
        reml = self.reml if reml is None else reml
        r2 = f.pwrss
        if reml:
            nmp = self.n - self.p
            return f.logdet_L + f.logdet_RX + nmp * (1.0 + _LOG2PI + np.log(r2 / nmp)) - self.log_w
        return f.logdet_L + self.n * (1.0 + _LOG2PI + np.log(r2 / self.n)) - self.log_w

    def small_evaluator(self):
        """The compiled ``theta -> (value, gradient)`` of :mod:`mixedmodels.fit.smallfit` when this
        criterion's path is ``"small"``, else None."""
        return getattr(self.path, "evaluator", None)

    def __call__(self, theta: np.ndarray) -> float:
        self.nevals += 1
        return self.path.value(np.asarray(theta, dtype=float))

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray | None]:
        """``(value, gradient)`` by this criterion's path (one evaluation); ``(inf, None)`` where the
        factor does not exist."""
        self.nevals += 1
        return self.path.value_and_gradient(np.asarray(theta, dtype=float))

    # ------------------------------------------------------------------ solutions at a theta
    def solve(self, f: BlockedFactor) -> tuple[np.ndarray, np.ndarray]:
        """(beta, u) at the factor ``f``: back-substitution with the blocked factor (beta of the
        response as given, the centering undone)."""
        m1 = self.m - 1
        LRR = f.LRR
        rhs = LRR[m1, :m1]
        if m1:  # LRR[:m1, :m1]' x = rhs (LAPACK's dtrtrs, without scipy's checks and wrapping)
            x, info = sla.lapack.dtrtrs(LRR[:m1, :m1], rhs, lower=1, trans=1)
            if info != 0:
                raise np.linalg.LinAlgError(f"singular factor in solve (dtrtrs info {info})")
        else:
            x = np.zeros(0)
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

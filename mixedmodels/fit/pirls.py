"""Penalized iteratively reweighted least squares (PIRLS) and the Laplace / adaptive Gauss-Hermite
deviance of a generalized linear mixed model (lme4's ``pwrssUpdate``, ``glmerLaplace``, ``glmerAGQ``).

For fixed theta (and beta, or with beta inside for nAGQ = 0) PIRLS finds the conditional mode u of the
spherical random effects: Newton (Fisher scoring) steps on the penalized deviance
``sum(devres(y, mu)) + |u|^2`` with ``eta = X beta + Z Lambda u + offset``, step-halving while it does
not decrease. Each step factors

    M = [Z Lambda, X]' W [Z Lambda, X] + diag(1 on u, 0 on beta)

in blocks: the first random-effects term (the one with most levels) is block diagonal (one ``s x s``
block per level), so its factor costs almost nothing; the other terms and X form one dense block,
reached through the Schur complement. The weighted cross-products are recomputed each iteration from the
sparse Z Lambda (its pattern is fixed; only its values change with theta).

The Laplace deviance is ``log|L_Z|^2 + |u|^2 + aic(y, n, mu, wt, dev)`` (lme4's ``glmResp::Laplace``);
with one scalar random-effects term, ``nAGQ = k > 1`` integrates each level's effect by adaptive
Gauss-Hermite quadrature around the mode (lme4's ``glmerAGQ``, which adds ``sum(devres) + |u|^2``
instead of the ``aic`` term).
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np
from scipy import special
from scipy.linalg import LinAlgError, cholesky, solve_triangular

from ..errors import ConvergenceWarning, FamilyError, warn as warn_r
from ..frame.reterms import ReTerm
from .family import Family
from .glmm_kernels import ACCOUNT as GLMM_ACCOUNT, NumpyKernels, compiled as _kernels, compiled_pays, jit_codes
from .kernels import SAVED_SHARE
from .threads import ENV_VARS, get_threads

__all__ = ["GlmmProblem", "PirlsResult", "PirlsError", "gh_rule", "hessian_threads", "THREAD_MIN_WORK"]

_SQRT2PI = np.sqrt(2 * np.pi)
_EPS = float(np.finfo(float).eps)


class PirlsError(FamilyError):
    """PIRLS could not reduce the penalized deviance (lme4: "PIRLS step-halvings failed ...") or did not
    converge."""


def gh_rule(k: int) -> np.ndarray:
    """lme4's ``GHrule(k)``: Gauss-Hermite nodes z and weights w for the standard normal (w sums to 1)
    and log dnorm(z), as a ``k x 3`` array."""
    x, w = np.polynomial.hermite.hermgauss(k)
    z = x * np.sqrt(2.0)
    w = w / w.sum()
    z = (z - z[::-1]) / 2
    w = (w + w[::-1]) / 2
    z[np.abs(z) < 1e-15] = 0.0
    return np.column_stack([z, w, -0.5 * z * z - np.log(_SQRT2PI)])


def _tri_solve_pair(L: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``(L L')^-1 v`` for a lower-triangular ``L``: two triangular solves (SciPy's, by LAPACK), or for a
    block of a few rows two substitution loops over its rows (SciPy's call costs more than the work)."""
    m = L.shape[0]
    if m > 8:
        y = solve_triangular(L, v, lower=True, check_finite=False)
        return solve_triangular(L, y, lower=True, trans="T", check_finite=False)
    x = v.copy()
    for a in range(m):
        x[a] = (x[a] - L[a, :a] @ x[:a]) / L[a, a]
    for a in range(m - 1, -1, -1):
        x[a] = (x[a] - L[a + 1:, a] @ x[a + 1:]) / L[a, a]
    return x


class PirlsResult:
    """The state at the conditional mode. ``factor`` (the block Cholesky factor of the last PIRLS
    iteration) is formed on first use when the compiled loop produced the result (it keeps only the
    weights of that factorization)."""

    def __init__(self, u, beta, eta, mu, devres, ldL2, factor, iterations, deviance=np.nan, *,
                 l11diag=None, factor_fn=None):
        self.u, self.beta, self.eta, self.mu, self.devres = u, beta, eta, mu, devres
        self.ldL2 = ldL2
        self._factor = factor
        self._factor_fn = factor_fn
        self.iterations = iterations
        self.deviance = deviance
        self.laplace_value = np.nan
        self.l11diag = l11diag if l11diag is not None else factor.L11diag[:, 0]

    @property
    def factor(self) -> "_Factor":
        if self._factor is None:
            self._factor = self._factor_fn()
        return self._factor


class _Factor:
    """Block Cholesky factor of M (see the module docstring)."""

    def __init__(self, L11inv: np.ndarray, L11diag: np.ndarray, L21: np.ndarray, L22: np.ndarray,
                 q1: int, s1: int, q2u: int):
        self.L11inv = L11inv  # (l1, s1, s1): inverses of the lower-triangular diagonal blocks
        self.L11diag = L11diag  # (l1, s1)
        self.L21 = L21  # (q2, q1)
        self.L22 = L22  # (q2, q2)
        self.q1, self.s1, self.q2u = q1, s1, q2u

    def logdet_u(self) -> float:
        out = 2.0 * np.sum(np.log(self.L11diag))
        if self.q2u:
            out += 2.0 * np.sum(np.log(np.diag(self.L22)[: self.q2u]))
        return float(out)

    def solve(self, r: np.ndarray) -> np.ndarray:
        q1, s1 = self.q1, self.s1
        l1 = q1 // s1
        if s1 == 1:  # a scalar first term: its blocks are numbers
            d = self.L11inv[:, 0, 0]
            y1 = r[:q1] * d
            if self.L22.shape[0] == 0:
                return y1 * d
            x2 = _tri_solve_pair(self.L22, r[q1:] - self.L21 @ y1)
            return np.concatenate([(y1 - self.L21.T @ x2) * d, x2])
        r1 = r[:q1].reshape(l1, s1)
        y1 = np.einsum("jab,jb->ja", self.L11inv, r1).ravel()
        if self.L22.shape[0] == 0:
            return np.einsum("jba,jb->ja", self.L11inv, y1.reshape(l1, s1)).ravel()
        x2 = _tri_solve_pair(self.L22, r[q1:] - self.L21 @ y1)
        t = (y1 - self.L21.T @ x2).reshape(l1, s1)
        x1 = np.einsum("jba,jb->ja", self.L11inv, t).ravel()
        return np.concatenate([x1, x2])

    def inv_beta_block(self, p: int) -> np.ndarray:
        """The trailing p x p block of M^-1 (the beta block: (R_X R_X')^-1)."""
        if p == 0:
            return np.zeros((0, 0))
        Lb = self.L22[-p:, -p:]
        Li = solve_triangular(Lb, np.eye(p), lower=True, check_finite=False)
        return Li.T @ Li

    def inv_u_diag_blocks(self, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
        """Diagonal blocks of (L L')^-1 over u (u part only), one (nlevels, s, s) array per term."""
        q1, s1 = self.q1, self.s1
        l1 = q1 // s1
        q2u = self.q2u
        out = []
        A1 = np.einsum("jca,jcb->jab", self.L11inv, self.L11inv)  # L11^-T L11^-1 blocks
        if q2u:
            L22u = self.L22[:q2u, :q2u]
            L21u = self.L21[:q2u]
            L22inv = solve_triangular(L22u, np.eye(q2u), lower=True, check_finite=False)
            # W = L22^-1 L21 L11^-1
            t = L21u.reshape(q2u, l1, s1)
            t = np.einsum("rjb,jba->rja", t, self.L11inv).reshape(q2u, q1)
            W = L22inv @ t
            Wb = W.reshape(q2u, l1, s1)
            A1 = A1 + np.einsum("rja,rjb->jab", Wb, Wb)
            C = L22inv.T @ L22inv
        out.append(A1)
        pos = 0
        for nl, s in sizes[1:]:
            blk = C[pos: pos + nl * s, pos: pos + nl * s]
            bl = np.stack([blk[j * s:(j + 1) * s, j * s:(j + 1) * s] for j in range(nl)])
            out.append(bl)
            pos += nl * s
        return out


def _aic_terms(mode: int, parts: np.ndarray):
    """The sums of :func:`_aic_value` that do not depend on mu, once per problem: binomial ``(sum f lc,
    f k, f (m - k))``, Poisson ``(sum -lgamma(y + 1) wt, wt, wt y)`` (contiguous arrays)."""
    with np.errstate(invalid="ignore"):
        if mode == 2:
            f = parts[:, 3]
            return float(f @ parts[:, 2]), f * parts[:, 0], f * parts[:, 1]
        if mode == 3:
            return float(parts[:, 1].sum()), parts[:, 0].copy(), parts[:, 2].copy()
    return None


def _aic_value(mode: int, mu: np.ndarray, dr: np.ndarray, parts: np.ndarray, terms=None) -> float:
    """R's ``family$aic`` from the mu-free parts of :meth:`GlmmProblem._aic_parts`, in NumPy (the
    compiled loop's :func:`mixedmodels.fit._glmm_jit.aic_value`, term for term). Where every log is
    finite (the mean inside the family's range, as R's guards keep it) the zero-count terms are zero
    products and need no masks (``terms``: the mu-free sums of :func:`_aic_terms`, two dot products
    then); otherwise they are masked as R's ``dbinom`` / ``dpois`` do."""
    if mode == 1:
        return float(dr.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == 2:
            lm, l1m = np.log(mu), np.log1p(-mu)
            if terms is not None:
                v = -2.0 * (terms[0] + float(terms[1] @ lm) + float(terms[2] @ l1m))
            else:
                v = -2.0 * float(parts[:, 3] @ (parts[:, 2] + parts[:, 0] * lm + parts[:, 1] * l1m))
            if math.isfinite(v):
                return v
            k, mk, lc, f = parts[:, 0], parts[:, 1], parts[:, 2], parts[:, 3]
            ll = lc + np.where(k != 0, k * lm, 0.0) + np.where(mk != 0, mk * l1m, 0.0)
            return float(-2.0 * np.sum(np.where(f != 0, f * ll, 0.0)))
        if mode == 3:
            lm = np.log(mu)
            if terms is not None:
                v = -2.0 * (terms[0] - float(mu @ terms[1]) + float(terms[2] @ lm))
            else:
                v = -2.0 * float(parts[:, 1].sum() - mu @ parts[:, 0] + parts[:, 2] @ lm)
            if math.isfinite(v):
                return v
            ll = -mu * parts[:, 0] + parts[:, 1] + np.where(parts[:, 2] != 0, parts[:, 2] * lm, 0.0)
            return float(-2.0 * np.sum(ll))
        t = parts[:, 1] * np.log(mu + parts[:, 4]) + parts[:, 3] - np.where(parts[:, 2] != 0, parts[:, 2] * np.log(mu), 0.0)
        return float(2.0 * np.sum(t))


_PIRLS_MESSAGES = {
    1: "PIRLS: non-finite working weights or response (the mean reached the edge of the family's range)",
    2: "PIRLS loop resulted in NaN value",
    3: "PIRLS step-halvings failed to reduce the deviance (lme4: \"(maxstephalfit) PIRLS step-halvings "
       "failed to reduce deviance in pwrssUpdate\"): the model may be too complex for the data, or the "
       "link may not suit them",
    4: "PIRLS did not converge (lme4: \"pwrssUpdate did not converge in (maxit) iterations\")",
    5: "the weighted cross-product matrix of the random effects is not positive definite (PIRLS)",
    6: "the penalized weighted least-squares system is not positive definite: the fixed effects may be "
       "unidentifiable (complete separation, or a column without information)",
}


# the finite-difference Hessian's points run on threads from this much work per point on (rows x terms
# + the Schur block's entries; cbpp's ~60 stays serial: a thread costs more than its points)
THREAD_MIN_WORK = 2_000


def hessian_threads(npoints: int, work: int) -> int:
    """Threads for the independent PIRLS runs of a Hessian's ``npoints`` points (``work`` per point, see
    :data:`THREAD_MIN_WORK`): the number the user set (``mm.set_threads(n)``, else a thread count in
    the environment, ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``; one means
    one), else two where the machine has two cores; one for little work."""
    if npoints < 4 or work < THREAD_MIN_WORK:
        return 1
    n = get_threads()
    if n is None:
        for var in ENV_VARS:
            v = os.environ.get(var, "").strip()
            if v:
                try:
                    n = max(1, int(v))
                except ValueError:
                    n = 1
                break
    if n is None:
        n = min(2, os.cpu_count() or 1)
    return max(1, min(n, npoints // 2))


class GlmmProblem:
    """The data of a GLMM fit, and PIRLS on them.

    ``terms`` are the random-effects terms in lme4's order, ``X`` the fixed-effects matrix, ``y`` the
    response (proportions for a binomial with trials), ``weights`` the prior weights (trials for a
    binomial with ``cbind``), ``ntrials`` the binomial ``n`` of R's ``aic``.
    """

    def __init__(self, terms: list[ReTerm], X: np.ndarray, y: np.ndarray, offset: np.ndarray,
                 weights: np.ndarray, ntrials: np.ndarray, family: Family):
        self.terms = terms
        self.X = np.ascontiguousarray(X, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self.offset = np.asarray(offset, dtype=float)
        self.wt = np.asarray(weights, dtype=float)
        self.ntrials = np.asarray(ntrials, dtype=float)
        self.family = family
        self.n, self.p = self.X.shape
        self.sizes = [(t.nlevels, t.ncols) for t in terms]
        self.q = sum(t.nranef for t in terms)
        self.q1 = terms[0].nranef
        self.s1 = terms[0].ncols
        self.q2u = self.q - self.q1
        self.ntheta = sum(t.ntheta for t in terms)
        # the fixed pattern of Z Lambda: row r's k non-zeros are in the columns _indices[r] (each term's s_i)
        k = sum(t.ncols for t in terms)
        self._k = k
        cols = []
        off = 0
        for t in terms:
            cols.append(t.refs[:, None] * t.ncols + np.arange(t.ncols)[None, :] + off)
            off += t.nranef
        self._indices = np.ascontiguousarray(np.hstack(cols).astype(np.int32))
        self.theta_lower = np.concatenate([t.lower_bounds() for t in terms])
        # the columns of the other terms, row by row (one array per column of those terms)
        t1 = terms[0]
        self._rest_idx = []
        off = 0
        for t in terms[1:]:
            for a in range(t.ncols):
                self._rest_idx.append(off + t.refs * t.ncols + a)
            off += t.nranef
        # per level of a scalar first term, the rest rows its column of M21 can reach (compiled Schur step)
        self._pattern21 = None
        if t1.ncols == 1 and self.q2u:
            lev = np.repeat(t1.refs, len(self._rest_idx))
            rr = np.column_stack(self._rest_idx).ravel()
            key = np.unique(lev.astype(np.int64) * self.q2u + rr)
            if len(key) < 0.25 * self.q1 * self.q2u:  # mostly empty: compiled downdate, else BLAS
                rows = (key % self.q2u).astype(np.int64)
                ptr = np.searchsorted(key // self.q2u, np.arange(self.q1 + 1)).astype(np.int64)
                self._pattern21 = (ptr, rows)
        self._idx64 = self._indices.astype(np.int64)
        # compiled kernels (Numba) or NumPy: the rent-or-buy rule (glmm_kernels.compiled_pays); a NumPy
        # PIRLS of a family the compiled loop has charges its extra time to the rule's account
        self._use_compiled = compiled_pays(self.n, self.q2u)
        if not self._use_compiled and jit_codes(family.kind, family.link.name) is not None:
            GLMM_ACCOUNT.meter(self, ("pirls_lme4", "_laplace_batch_diag"), share=SAVED_SHARE["glmm"])
        self._np = None if self._use_compiled else NumpyKernels(self._idx64, terms[0].nlevels, self.s1,
                                                                self.q1, self.q2u, self.p)
        self._jit = jit_codes(family.kind, family.link.name) if self._use_compiled else None
        self._ptr21, self._rows21 = np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self._pos21 = np.zeros((1, 1), dtype=np.int64)
        if self._pattern21 is not None:
            self._ptr21, self._rows21 = self._pattern21
            self._sparse_layout(terms)
        self._scalar_terms = all(t.ncols == 1 and t.ntheta == 1 for t in terms)
        self._zall = None
        self._lv_args = None
        self._np_state_fn = None
        self._aic_sums_cache = None
        self._refs64 = terms[0].refs.astype(np.int64)
        self._nbt = float(family.theta) if family.theta is not None else 1.0
        self._zero_beta = np.zeros(self.p)
        self._l1 = terms[0].nlevels
        self._aic_mode, self._aic_arr = self._aic_parts() if family.kind in ("binomial", "poisson", "negbin") \
            else (0, np.zeros((0, 5)))
        self._rows_in_level_order()
        self.pirls_iterations = 0
        self.evaluations = 0

    def _sparse_layout(self, terms) -> None:
        """The compiled loop's layout of the sparse (rest terms x first term) block, built once: where
        each row's products go in the compressed pattern (``_pos21``, n x (k - 1))."""
        ptr, rows = self._ptr21, self._rows21
        q2u = self.q2u
        lev_of = np.repeat(np.arange(len(ptr) - 1, dtype=np.int64), np.diff(ptr))
        key = lev_of * q2u + rows  # sorted (levels ascending, columns ascending within a level)
        lev = terms[0].refs.astype(np.int64)
        self._pos21 = np.ascontiguousarray(np.column_stack(
            [np.searchsorted(key, lev * q2u + r) for r in self._rest_idx]).astype(np.int64))

    def _rows_in_level_order(self) -> None:
        """The compiled loop's copies of the per-row arrays (``_c``): the rows sorted by the first
        term's level, then the other terms' (``lptr``: where each level's rows start), so that a level's
        sums stay in registers and consecutive rows update different entries of the other terms'
        blocks (no chain of updates of one entry), and a large crossed model's scattered updates walk
        memory in order; ``XT`` the transpose of X (its dense products). The results come back in the
        data's order."""
        self._perm = self._inv = None
        c = {"idx": self._idx64, "X": self.X, "y": self.y, "wt": self.wt, "offset": self.offset,
             "pos21": self._pos21, "aic": self._aic_arr}
        if self._jit is not None:
            perm = np.lexsort(tuple(self._idx64[:, i] for i in range(self._k - 1, -1, -1)))
            if not np.array_equal(perm, np.arange(self.n)):
                self._perm = perm
                self._inv = np.empty_like(perm)
                self._inv[perm] = np.arange(self.n)
                c = {name: (np.ascontiguousarray(a[perm]) if a.shape[0] == self.n else a)
                     for name, a in c.items()}
            c["XT"] = np.ascontiguousarray(c["X"].T)
            c["lptr"] = np.searchsorted(c["idx"][:, 0] // self.s1, np.arange(self._l1 + 1)).astype(np.int64)
        self._c = c
        self._c_eta = (None, None)  # the last eta_start given and its reordered copy
        self._c_start = (None, None)  # the last eta_start given and its compiled start state

    def _c_eta_start(self, eta_start: np.ndarray) -> np.ndarray:
        eta_start = np.ascontiguousarray(eta_start, dtype=float)
        if self._perm is None:
            return eta_start
        if self._c_eta[0] is not eta_start:
            self._c_eta = (eta_start, np.ascontiguousarray(eta_start[self._perm]))
        return self._c_eta[1]

    def _c_state(self, eta_start: np.ndarray):
        """The compiled loop's start ``(eta, mu, d mu / d eta)`` at ``eta_start`` (in its row order), kept
        for the last ``eta_start`` given: every evaluation of an optimizer's stage starts there."""
        if self._c_start[0] is not eta_start:
            eta = self._c_eta_start(eta_start)
            mu, me = np.empty(self.n), np.empty(self.n)
            _kernels().jit.start_state(self._jit[1], eta, mu, me)
            self._c_start = (eta_start, (eta, mu, me))
        return self._c_start[1]

    @property
    def compiled(self) -> bool:
        """Whether PIRLS runs the compiled loop (binomial logit/probit/cloglog, Poisson and negative
        binomial log, with Numba installed)."""
        return self._jit is not None

    # ------------------------------------------------------------------ theta -> Z Lambda
    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        out, pos = [], 0
        for t in self.terms:
            out.append(t.lambda_matrix(theta[pos: pos + t.ntheta]))
            pos += t.ntheta
        return out

    def zlambda_values(self, theta: np.ndarray) -> list[np.ndarray]:
        """Per term, the (n, s) values of Z Lambda (row r: z_r' lambda)."""
        return [t.z @ lam for t, lam in zip(self.terms, self.lambdas(theta))]

    def _vals(self, theta: np.ndarray) -> np.ndarray:
        """The (n, k) values of Z Lambda at theta."""
        if self._scalar_terms:
            if self._zall is None:
                self._zall = np.ascontiguousarray(np.hstack([t.z for t in self.terms]), dtype=float)
            return self._zall * np.asarray(theta, dtype=float)
        return self._stack(self.zlambda_values(theta))

    # ------------------------------------------------------------------ factor
    def _stack(self, vals) -> np.ndarray:
        """The (n, k) values of Z Lambda (row r: its k non-zeros, at the columns ``self._indices[r]``)."""
        if isinstance(vals, np.ndarray):
            return vals
        return np.ascontiguousarray(np.hstack(vals))

    def _factor(self, vals, w: np.ndarray, joint: bool) -> _Factor:
        """The block factor at the weights ``w`` (the cross-products by the compiled loop's own
        :func:`~mixedmodels.fit._glmm_jit.accumulate`, or by NumPy on the first small models)."""
        vals = self._stack(vals)
        l1, s1 = self.terms[0].nlevels, self.s1
        q1, q2u = self.q1, self.q2u
        p = self.p if joint else 0
        q2 = q2u + p
        if self._use_compiled:
            M11 = np.empty((l1, s1, s1))
            M12 = np.empty((q1, q2))
            M22 = np.empty((q2, q2))
            _kernels().jit.accumulate(self._idx64, vals, np.ascontiguousarray(w, dtype=float), self.X, p, s1, q1,
                                      q2u, M11, M12, M22)
            M22 += np.tril(M22, -1).T  # accumulate fills the lower triangle
        else:
            M11, M12, M22 = self._np.crossprods(vals, w, self.X, joint)
        if s1 == 1:
            L11diag = np.sqrt(M11[:, 0, :])
            L11inv = (1.0 / L11diag)[:, :, None]
        else:
            try:
                L11 = np.linalg.cholesky(M11)
            except np.linalg.LinAlgError:
                raise PirlsError("the weighted cross-product matrix of the random effects is not positive "
                                 "definite (PIRLS)") from None
            L11inv = np.linalg.inv(L11)
            L11diag = np.diagonal(L11, axis1=1, axis2=2).copy()
        if q2:
            if s1 == 1:
                L12 = M12 * L11inv[:, 0, :]
            else:
                L12 = np.einsum("jab,jbr->jar", L11inv, M12.reshape(l1, s1, q2)).reshape(self.q1, q2)
            L21 = L12.T
            if self._pattern21 is not None and self._use_compiled:
                S = _kernels().schur_scalar(M22, L12, self._pattern21[0], self._pattern21[1], q2u)
            elif s1 == 1 and self._np is not None:
                S = self._np.schur_downdate(M22, L12, joint)
            else:
                S = M22 - L12.T @ L12
            try:
                L22 = np.linalg.cholesky(S)
            except np.linalg.LinAlgError:
                raise PirlsError("the penalized weighted least-squares system is not positive definite: "
                                 "the fixed effects may be unidentifiable (complete separation, or a "
                                 "column without information)") from None
        else:
            L21 = np.zeros((0, self.q1))
            L22 = np.zeros((0, 0))
        return _Factor(L11inv, L11diag, L21, L22, self.q1, s1, self.q2u)

    # ------------------------------------------------------------------ PIRLS
    def zl_times(self, vals, u: np.ndarray) -> np.ndarray:
        """``Z Lambda u``, ``vals`` the values of Z Lambda (:meth:`zlambda_values`)."""
        return self._zl_times(vals, u)

    def _zl_times(self, vals, u: np.ndarray) -> np.ndarray:
        u = np.ascontiguousarray(u, dtype=float)
        if self._np is not None:
            return self._np.zl_times(self._stack(vals), u)
        return _kernels().zl_times(self._idx64, self._stack(vals), u)

    def _zlt_times(self, vals, r: np.ndarray) -> np.ndarray:
        r = np.ascontiguousarray(r, dtype=float)
        if self._np is not None:
            return self._np.zlt_times(self._stack(vals), r, self.q)
        return _kernels().zlt_times(self._idx64, self._stack(vals), r, self.q)

    def _state(self, eta: np.ndarray):
        fam = self.family
        mu = fam.linkinv(eta)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            dr = fam.dev_resids(self.y, mu, self.wt)
        return mu, dr

    def pirls(self, theta: np.ndarray, beta: np.ndarray, u0: np.ndarray | None, *, joint: bool,
              tol: float = 1e-12, maxit: int = 100, eta_start: np.ndarray | None = None) -> PirlsResult:
        """The conditional mode at theta (and beta, or with beta when ``joint``).

        ``eta_start``: start as lme4's initialization does, with one full penalized weighted least-squares
        solve from the working response at that linear predictor (u0 and beta are ignored then)."""
        fam = self.family
        vals = self._stack(self.zlambda_values(theta))
        X, y, wt, off = self.X, self.y, self.wt, self.offset
        p = self.p
        if eta_start is not None:
            eta0 = eta_start
            mu0 = fam.linkinv(eta0)
            me = fam.mu_eta(eta0)
            var = fam.variance(mu0)
            with np.errstate(divide="ignore", invalid="ignore"):
                w = wt * me * me / var
                z = eta0 - off + (y - mu0) / me
            if not np.all(np.isfinite(w)) or not np.all(np.isfinite(z)):
                raise PirlsError("cannot compute the initial working weights: the starting values give an "
                                 "undefined mean; check the response and the link")
            f = self._factor(vals, w, joint=True)
            rhs = np.concatenate([self._zlt_times(vals, w * z), X.T @ (w * z)])
            sol = f.solve(rhs)
            u = sol[: self.q]
            beta = sol[self.q:] if joint else np.asarray(beta, dtype=float)
        else:
            u = np.zeros(self.q) if u0 is None else np.asarray(u0, dtype=float).copy()
            beta = np.asarray(beta, dtype=float).copy()
        eta = X @ beta + self._zl_times(vals, u) + off
        mu, dr = self._state(eta)
        pdev = float(dr.sum() + u @ u)
        if not np.isfinite(pdev):
            raise PirlsError("PIRLS: the deviance at the start is not finite (the mean left the family's "
                             "range); check the response, the link, and start=")
        it = 0
        f = None
        for it in range(1, maxit + 1):
            me = fam.mu_eta(eta)
            var = fam.variance(mu)
            with np.errstate(divide="ignore", invalid="ignore"):
                w = wt * me * me / var
                r = wt * (y - mu) * me / var
            if not (np.all(np.isfinite(w)) and np.all(np.isfinite(r))):
                raise PirlsError("PIRLS: non-finite working weights (the mean reached the edge of the "
                                 "family's range)")
            f = self._factor(vals, w, joint=joint)
            gu = self._zlt_times(vals, r) - u
            g = np.concatenate([gu, X.T @ r]) if joint else gu
            delta = f.solve(g)
            decrement = float(g @ delta)
            if decrement < tol * (1.0 + abs(pdev)):
                break
            step = 1.0
            du = delta[: self.q]
            db = delta[self.q:] if joint else None
            eta_u = self._zl_times(vals, du)
            eta_b = X @ db if joint else 0.0
            for _ in range(12):
                u_new = u + step * du
                b_new = beta + step * db if joint else beta
                eta_new = eta + step * (eta_u + eta_b)
                mu_new, dr_new = self._state(eta_new)
                pdev_new = float(dr_new.sum() + u_new @ u_new)
                if np.isfinite(pdev_new) and pdev_new <= pdev + 1e-12 * abs(pdev) and \
                        fam.validmu(mu_new):
                    break
                step /= 2
            else:
                if decrement < 1e-8 * (1.0 + abs(pdev)):
                    break  # round-off: the mode is found to working precision
                raise PirlsError("PIRLS step-halvings failed to reduce the deviance: the model may be "
                                 "too complex for the data, or the link may not suit them")
            u, beta, eta, mu, dr = u_new, b_new, eta_new, mu_new, dr_new
            done = pdev - pdev_new < tol * (1.0 + abs(pdev_new)) and decrement < 1e-6
            pdev = pdev_new
            if done:
                me = fam.mu_eta(eta)
                var = fam.variance(mu)
                with np.errstate(divide="ignore", invalid="ignore"):
                    w = wt * me * me / var
                f = self._factor(vals, w, joint=joint)
                break
        else:
            raise PirlsError(f"PIRLS did not converge in {maxit} iterations")
        self.pirls_iterations += it
        return PirlsResult(u=u, beta=beta, eta=eta, mu=mu, devres=dr, ldL2=f.logdet_u(), factor=f, iterations=it)

    def pirls_lme4(self, theta: np.ndarray, beta: np.ndarray | None, eta_start: np.ndarray, *, joint: bool,
                   tol: float = 1e-7, maxit: int = 100) -> PirlsResult:
        """PIRLS exactly as lme4's ``pwrssUpdate``: start from the mean at ``eta_start`` (lme4's ``lp0``
        plus the offset), full penalized weighted least-squares solves on the working response, halve
        steps while the penalized deviance grows, stop when it changes by less than ``tol`` relative;
        ``log|L|^2`` is from the last factorization (weights of the iterate before the last), as lme4
        reports it. This makes the deviance function lme4's to rounding, so the optimum is lme4's.

        The binomial (logit, probit, cloglog), Poisson and negative binomial (log) families run the
        compiled loop (:mod:`mixedmodels.fit._glmm_jit`), every other family the same steps in NumPy."""
        if self._jit is not None:
            return self._pirls_compiled(theta, beta, eta_start, joint=joint, tol=tol, maxit=maxit)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._pirls_numpy(theta, beta, eta_start, joint, tol, maxit)

    def _pirls_numpy(self, theta, beta, eta_start, joint: bool, tol: float, maxit: int) -> PirlsResult:
        """:meth:`pirls_lme4` in NumPy (floating-point warnings off, by the caller). The family's mean,
        d mu / d eta, variance and deviance residuals come from one fused function
        (:meth:`_numpy_state`); a model whose only random-effects term is scalar solves its diagonal
        system level by level when beta is fixed (no factor object inside the loop)."""
        vals = self._vals(theta)
        X, y, wt = self.X, self.y, self.wt
        off = self.offset if joint else self.offset + X @ beta
        state = self._numpy_state()
        eta = np.asarray(eta_start, dtype=float)
        mu, me, w, dr = state(eta)
        q = self.q
        u = np.zeros(q)
        b = np.zeros(self.p) if joint else np.asarray(beta, dtype=float)
        # one scalar random-effects term: its block of M is diagonal (with beta fixed M is; with beta
        # inside, beta comes from the p x p Schur complement and u level by level)
        diag = self.s1 == 1 and self.q2u == 0
        if diag:
            refs, nl = self._refs64, self._l1
            z1 = vals[:, 0]
            z1sq = z1 * z1
            if joint:
                p = self.p
                pos12 = (refs[:, None] * p + np.arange(p)).ravel()
        oldpdev = np.inf
        f = None
        m11 = None
        for it in range(1, maxit + 1):
            wz = w * (eta - off + (y - mu) / me)
            if not math.isfinite(wz.sum()):  # NaN or inf in the weights or the working response
                raise PirlsError("PIRLS: non-finite working weights or response (the mean reached the edge "
                                 "of the family's range)")
            if diag:
                m11 = np.bincount(refs, w * z1sq, minlength=nl) + 1.0
                r1 = np.bincount(refs, wz * z1, minlength=nl)
                if joint:
                    M12 = np.bincount(pos12, ((w * z1)[:, None] * X).ravel(), minlength=nl * p).reshape(nl, p)
                    G = M12 / m11[:, None]
                    S = (X * w[:, None]).T @ X - M12.T @ G
                    try:
                        np.linalg.cholesky(S)
                    except np.linalg.LinAlgError:
                        raise PirlsError(_PIRLS_MESSAGES[6]) from None
                    b_new = np.linalg.solve(S, X.T @ wz - G.T @ r1)
                    u_new = (r1 - M12 @ b_new) / m11
                    eta_new = off + z1 * u_new[refs] + X @ b_new
                else:
                    u_new = r1 / m11
                    b_new = b
                    eta_new = off + z1 * u_new[refs]
            else:
                f = self._factor(vals, w, joint=joint)
                rhs = self._zlt_times(vals, wz)
                if joint:
                    rhs = np.concatenate([rhs, X.T @ wz])
                sol = f.solve(rhs)
                u_new = sol[:q]
                b_new = sol[q:] if joint else b
                eta_new = off + self._zl_times(vals, u_new) + (X @ b_new if joint else 0.0)
            mu_new, me_new, w_new, dr_new = state(eta_new)
            pdev = float(dr_new.sum() + u_new @ u_new)
            if math.isfinite(pdev) and abs((oldpdev - pdev) / pdev) < tol:
                u, b, eta, mu, dr = u_new, b_new, eta_new, mu_new, dr_new
                break
            if not math.isfinite(pdev) or pdev > oldpdev:
                for _ in range(20):
                    u_new = (u + u_new) / 2
                    if joint:
                        b_new = (b + b_new) / 2
                    if diag:
                        eta_new = off + z1 * u_new[refs] + (X @ b_new if joint else 0.0)
                    else:
                        eta_new = off + self._zl_times(vals, u_new) + (X @ b_new if joint else 0.0)
                    mu_new, me_new, w_new, dr_new = state(eta_new)
                    pdev = float(dr_new.sum() + u_new @ u_new)
                    if np.isfinite(pdev) and pdev <= oldpdev:
                        break
                if not np.isfinite(pdev):
                    raise PirlsError("PIRLS loop resulted in NaN value")
                if pdev - oldpdev > tol:
                    raise PirlsError("PIRLS step-halvings failed to reduce the deviance (lme4: \"(maxstephalfit) "
                                     "PIRLS step-halvings failed to reduce deviance in pwrssUpdate\"): the "
                                     "model may be too complex for the data, or the link may not suit them")
            u, b, eta, mu, me, w, dr = u_new, b_new, eta_new, mu_new, me_new, w_new, dr_new
            oldpdev = pdev
        else:
            raise PirlsError(f"PIRLS did not converge in {maxit} iterations (lme4: \"pwrssUpdate did not "
                             "converge in (maxit) iterations\")")
        self.pirls_iterations += it
        self.evaluations += 1
        if diag:
            if not np.all(m11 > 0):
                raise PirlsError(_PIRLS_MESSAGES[5])
            l11 = np.sqrt(m11)
            w_fact = w  # the weights of the last factorization
            return PirlsResult(u=u, beta=b, eta=eta, mu=mu, devres=dr, ldL2=float(np.log(m11).sum()), factor=None,
                               iterations=it, l11diag=l11,
                               factor_fn=lambda: self._factor(vals, w_fact, joint=joint))
        return PirlsResult(u=u, beta=b, eta=eta, mu=mu, devres=dr, ldL2=f.logdet_u(), factor=f, iterations=it)

    def _numpy_state(self):
        """The NumPy loop's ``eta -> (mu, d mu / d eta, working weights, deviance residuals)`` with R's
        guards (the working weights ``wt mu_eta^2 / variance``),
        built once: fused for the binomial-logit and Poisson-log families (the parts that depend on y
        alone computed here), else the family's own functions."""
        fn = self._np_state_fn
        if fn is not None:
            return fn
        fam, y, wt = self.family, self.y, self.wt
        kind, link = fam.kind, fam.link.name
        if kind == "binomial" and link == "logit":
            with np.errstate(divide="ignore", invalid="ignore"):
                cdev = 2.0 * wt * (special.xlogy(y, y) + special.xlogy(1.0 - y, 1.0 - y))
            wy, w1y = 2.0 * wt * y, 2.0 * wt * (1.0 - y)
            eps = _EPS

            def fn(eta):
                e = np.exp(eta)
                ope = 1.0 + e
                mu = e / ope
                me = mu / ope
                if me.min() < 1e-13:  # some |eta| may exceed 30 (there me < exp(-30)): R's logit guards
                    mu = np.where(eta < -30.0, eps, np.where(eta > 30.0, 1.0 - eps, mu))
                    me = np.where(np.abs(eta) > 30.0, eps, me)
                dr = cdev - wy * np.log(mu) - w1y * np.log1p(-mu)
                return mu, me, wt * me, dr  # the logit's mu_eta is its variance: w = wt mu_eta
        elif kind == "poisson" and link == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                c0 = 2.0 * wt * (special.xlogy(y, y) - y)
            wy2, wt2 = 2.0 * wt * y, 2.0 * wt
            eps = _EPS

            def fn(eta):
                mu = np.maximum(np.exp(eta), eps)
                return mu, mu, wt * mu, c0 - wy2 * np.log(mu) + wt2 * mu
        else:
            def fn(eta):
                mu = fam.linkinv(eta)
                me = fam.mu_eta(eta)
                return mu, me, wt * me * me / fam.variance(mu), fam.dev_resids(y, mu, wt)
        self._np_state_fn = fn
        return fn

    def laplace_deviance(self, theta: np.ndarray, beta: np.ndarray | None, eta_start: np.ndarray, *,
                         joint: bool) -> float:
        """``laplace(pirls_lme4(...))``: the Laplace deviance at theta (and beta), in one compiled call when
        the family has the compiled loop and every term is scalar (the optimizer's evaluations; no
        result object is formed). Raises :class:`PirlsError` as :meth:`pirls_lme4`."""
        return self.laplace_function(eta_start, joint=joint)(theta, beta)

    def laplace_function(self, eta_start: np.ndarray, *, joint: bool):
        """The optimizer's view of :meth:`laplace_deviance` with ``eta_start`` and ``joint`` bound:
        ``f(theta, beta)`` (``beta`` None when ``joint``) returns the Laplace deviance and counts the
        evaluation, raising :class:`PirlsError` as :meth:`laplace_deviance` does. Everything but theta
        and beta is bound once (the compiled call's arguments, the start state at ``eta_start``)."""
        if self._jit is None or self._aic_mode == 0:
            def f(theta: np.ndarray, beta: np.ndarray | None = None) -> float:
                return self.laplace(self.pirls_lme4(theta, beta, eta_start, joint=joint))
            return f
        head, xs, ys, tail = self._laplace_args()
        rest = ys + self._c_state(eta_start) + (bool(joint),) + tail
        zero = self._zero_beta
        fl = float
        lin_err = np.linalg.LinAlgError
        kern = _kernels().jit.laplace_value
        if self._scalar_terms:
            values = None
        else:  # vector-valued terms: Z Lambda's values formed here, passed as Z with unit thetas (the
            # same compiled call, exact: a product by 1.0), the rest in one compiled call
            head = head[:4]
            perm = self._perm
            ones = np.ones(self._k)
            xs = (ones,) + xs

            def values(theta):
                v = self._vals(theta)
                return np.ascontiguousarray(v if perm is None else v[perm])

        def f(theta: np.ndarray, beta: np.ndarray | None = None) -> float:
            if type(theta) is not np.ndarray or theta.dtype != fl:
                theta = np.asarray(theta, dtype=float)
            if beta is None:
                beta = zero
            elif type(beta) is not np.ndarray or beta.dtype != fl:
                beta = np.asarray(beta, dtype=float)
            try:
                if values is None:
                    st, it, lap = kern(*head, theta, *xs, beta, *rest)
                else:
                    st, it, lap = kern(*head, values(theta), *xs, beta, *rest)
            except lin_err:
                st, it, lap = 6, 0, np.nan
            if st != 0:
                raise PirlsError(_PIRLS_MESSAGES[st])
            self.pirls_iterations += it
            self.evaluations += 1
            return lap
        return f

    def _laplace_args(self):
        """The compiled Laplace call's arguments other than theta, beta, the start state and joint, built
        once: (before theta, between theta and beta, after beta up to the start, after joint)."""
        args = self._lv_args
        if args is None:
            c = self._c
            z = np.ascontiguousarray(np.hstack([t.z for t in self.terms]), dtype=float)
            c["zall"] = z if self._perm is None else np.ascontiguousarray(z[self._perm])
            fcode, lcode = self._jit
            args = self._lv_args = (
                (fcode, lcode, self._nbt, c["idx"], c["zall"]), (c["X"], c["XT"]), (c["y"], c["wt"], c["offset"]),
                (1e-7, 100, self._l1, self.s1, self.q1, self.q2u, c["lptr"], self._ptr21, self._rows21,
                 self._pattern21 is not None, c["pos21"], self._aic_mode, c["aic"]))
        return args

    def laplace_deviances(self, points: np.ndarray, eta_start: np.ndarray) -> np.ndarray:
        """The Laplace deviance (beta fixed) at each row ``(theta, beta)`` of ``points``, every PIRLS
        started from ``eta_start``: :meth:`laplace_deviance` point by point, in one compiled call where
        that has the compiled loop (the finite-difference Hessian's points). Raises :class:`PirlsError`
        as :meth:`laplace_deviance`."""
        points = np.ascontiguousarray(points, dtype=float)
        nth = self.ntheta
        if self._jit is not None and self._aic_mode != 0 and len(points):
            try:
                st, its, vals = self._laplace_values_threaded(points, eta_start)
            except np.linalg.LinAlgError:
                pass  # point by point below, where the failing one raises its own error
            else:
                bad = np.flatnonzero(st != 0)
                if len(bad):
                    raise PirlsError(_PIRLS_MESSAGES[int(st[bad[0]])])
                self.pirls_iterations += int(its.sum())
                self.evaluations += len(points)
                return vals
        if self._jit is None and self.s1 == 1 and self.q2u == 0 and self._aic_mode in (1, 2, 3) and \
                self._numpy_fused() and len(points):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return self._laplace_batch_diag(points, eta_start)
        return np.array([self.laplace_deviance(x[:nth], x[nth:], eta_start, joint=False) for x in points])

    def _laplace_values_threaded(self, points: np.ndarray, eta_start: np.ndarray):
        """The compiled ``laplace_values`` over the rows of ``points`` (vector-valued terms: ``laplace_value``
        point by point, Z Lambda's values formed here), split between :func:`hessian_threads` threads
        when the work is worth a thread (the kernels release the GIL; each point is computed exactly as
        in one call, so the values are the serial ones). Returns the statuses, iterations and values."""
        nth = self.ntheta
        head, xs, ys, tail = self._laplace_args()
        start = self._c_state(eta_start)
        if self._scalar_terms:
            kern = _kernels().jit.laplace_values

            def run(P):
                return kern(*head, np.ascontiguousarray(P[:, :nth]), *xs, np.ascontiguousarray(P[:, nth:]), *ys,
                            *start, False, *tail)
        else:
            kern1 = _kernels().jit.laplace_value
            head4, ones, perm = head[:4], np.ones(self._k), self._perm

            def run(P):
                m = len(P)
                st, its, out = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64), np.empty(m)
                for i in range(m):
                    v = self._vals(P[i, :nth])
                    v = np.ascontiguousarray(v if perm is None else v[perm])
                    st[i], its[i], out[i] = kern1(*head4, v, ones, *xs, np.ascontiguousarray(P[i, nth:]), *ys,
                                                  *start, False, *tail)
                return st, its, out

        m = len(points)
        nt = hessian_threads(m, self.n * self._k + self.q2u * self.q2u)
        if nt <= 1:
            return run(points)
        bounds = np.linspace(0, m, nt + 1).astype(int)
        out: list = [None] * nt
        errors: list = []

        def part(i):
            try:
                out[i] = run(points[bounds[i]:bounds[i + 1]])
            except BaseException as exc:  # pragma: no cover - raised again in the caller's thread
                errors.append(exc)

        workers = [threading.Thread(target=part, args=(i,), daemon=True) for i in range(1, nt)]
        for t in workers:
            t.start()
        part(0)
        for t in workers:
            t.join()
        if errors:
            raise errors[0]
        return tuple(np.concatenate([o[j] for o in out]) for j in range(3))

    def _laplace_batch_diag(self, points: np.ndarray, eta_start: np.ndarray, tol: float = 1e-7,
                            maxit: int = 100) -> np.ndarray:
        """:meth:`laplace_deviances` in NumPy for one scalar random-effects term (its system diagonal):
        the PIRLS of all points at once, one row each, every row taking the steps, step-halvings and
        stopping rule of :meth:`_pirls_numpy` on its own (a row that has stopped is left as it is)."""
        m = len(points)
        refs, nl = self._refs64, self._l1
        y, X = self.y, self.X
        Z = points[:, :1] * self._vals(np.ones(1))[:, 0]  # (m, n): Z Lambda of each point
        off = self.offset + points[:, 1:] @ X.T
        state = self._numpy_state()
        eta = np.tile(np.asarray(eta_start, dtype=float), (m, 1))
        mu, me, w, dr = state(eta)
        u = np.zeros((m, nl))
        oldpdev = np.full(m, np.inf)
        active = np.ones(m, dtype=bool)
        its = np.zeros(m, dtype=np.int64)
        ld = np.zeros(m)
        flat = refs[None, :] + nl * np.arange(m)[:, None]
        for it in range(1, maxit + 1):
            A = np.flatnonzero(active)
            if not len(A):
                break
            ZA, fA = Z[A], flat[: len(A)]
            wA = w[A]
            wz = wA * (eta[A] - off[A] + (y - mu[A]) / me[A])
            if not math.isfinite(wz.sum()):
                raise PirlsError("PIRLS: non-finite working weights or response (the mean reached the edge "
                                 "of the family's range)")
            m11 = np.bincount(fA.ravel(), (wA * ZA * ZA).ravel(), minlength=len(A) * nl).reshape(len(A), nl) + 1.0
            u_new = np.bincount(fA.ravel(), (wz * ZA).ravel(), minlength=len(A) * nl).reshape(len(A), nl) / m11
            eta_new = off[A] + ZA * u_new[:, refs]
            mu_n, me_n, w_n, dr_n = state(eta_new)
            pdev = dr_n.sum(axis=1) + (u_new * u_new).sum(axis=1)
            old = oldpdev[A]
            with np.errstate(divide="ignore", invalid="ignore"):
                conv = np.isfinite(pdev) & (np.abs((old - pdev) / pdev) < tol)
            half = ~conv & (~np.isfinite(pdev) | (pdev > old))
            if half.any():
                h = np.flatnonzero(half)
                uA = u[A]
                todo = h
                for _ in range(20):
                    u_new[todo] = (uA[todo] + u_new[todo]) / 2
                    eta_new[todo] = off[A[todo]] + ZA[todo] * u_new[todo][:, refs]
                    a, b_, c, d = state(eta_new[todo])
                    mu_n[todo], me_n[todo], w_n[todo], dr_n[todo] = a, b_, c, d
                    pdev[todo] = d.sum(axis=1) + (u_new[todo] * u_new[todo]).sum(axis=1)
                    ok = np.isfinite(pdev[todo]) & (pdev[todo] <= old[todo])
                    todo = todo[~ok]
                    if not len(todo):
                        break
                if not np.all(np.isfinite(pdev[h])):
                    raise PirlsError("PIRLS loop resulted in NaN value")
                if np.any(pdev[h] - old[h] > tol):
                    raise PirlsError("PIRLS step-halvings failed to reduce the deviance (lme4: \"(maxstephalfit) "
                                     "PIRLS step-halvings failed to reduce deviance in pwrssUpdate\"): the "
                                     "model may be too complex for the data, or the link may not suit them")
            u[A], eta[A], mu[A], dr[A] = u_new, eta_new, mu_n, dr_n
            keep = ~conv  # rows going on take the new state's weights; stopped rows keep theirs
            me[A[keep]], w[A[keep]] = me_n[keep], w_n[keep]
            oldpdev[A] = pdev
            its[A] = it
            ld[A[conv]] = np.log(m11[conv]).sum(axis=1)
            active[A[conv]] = False
        if active.any():
            raise PirlsError(f"PIRLS did not converge in {maxit} iterations (lme4: \"pwrssUpdate did not "
                             "converge in (maxit) iterations\")")
        self.pirls_iterations += int(its.sum())
        self.evaluations += m
        out = ld + (u * u).sum(axis=1)
        for r in range(m):
            out[r] += _aic_value(self._aic_mode, mu[r], dr[r], self._aic_arr, self._aic_sums())
        return out

    def _aic_sums(self):
        """:func:`_aic_terms` of this problem, formed on first use."""
        t = self._aic_sums_cache
        if t is None:
            t = self._aic_sums_cache = _aic_terms(self._aic_mode, self._aic_arr)
        return t

    def _numpy_fused(self) -> bool:
        """Whether the NumPy loop's family function is a fused one (binomial-logit, Poisson-log)."""
        return (self.family.kind, self.family.link.name) in (("binomial", "logit"), ("poisson", "log"))

    def _aic_parts(self):
        """The parts of R's ``family$aic`` that do not depend on mu, for the compiled loop's Laplace
        deviance (mode and an (n, 6) array; see :func:`mixedmodels.fit._glmm_jit.aic_value`); column 5
        holds the y-only part of the deviance residuals of the binomial (``2 wt (y log y + (1 - y)
        log(1 - y))``) and Poisson (``2 wt (y log y - y)``) families, for the compiled loop's fused
        binomial-logit and Poisson-log formulas (:func:`mixedmodels.fit._glmm_jit.state`)."""
        y, n, wt, fam = self.y, self.ntrials, self.wt, self.family
        parts = np.zeros((self.n, 6))
        with np.errstate(divide="ignore", invalid="ignore"):
            if fam.kind == "binomial":
                parts[:, 5] = 2.0 * wt * (special.xlogy(y, y) + special.xlogy(1.0 - y, 1.0 - y))
            elif fam.kind == "poisson":
                parts[:, 5] = 2.0 * wt * (special.xlogy(y, y) - y)
        if fam.kind == "binomial":
            if np.all((y == 0) | (y == 1)) and np.all(n == 1) and np.all(wt == 1):
                return 1, parts
            m = n if np.any(n > 1) else wt
            k, mm_ = np.round(m * y), np.round(m)
            with np.errstate(divide="ignore", invalid="ignore"):
                if np.any(mm_ > 1):
                    parts[:, 2] = special.gammaln(mm_ + 1) - special.gammaln(k + 1) - special.gammaln(mm_ - k + 1)
                parts[:, 3] = np.where(m > 0, wt / np.where(m > 0, m, 1), 0.0)
            parts[:, 0], parts[:, 1] = k, mm_ - k
            return 2, parts
        if fam.kind == "poisson":
            parts[:, 0] = wt
            parts[:, 1] = -special.gammaln(y + 1) * wt
            parts[:, 2] = y * wt
            return 3, parts
        th = float(fam.theta)
        parts[:, 1] = (y + th) * wt
        parts[:, 2] = y * wt
        parts[:, 3] = (special.gammaln(y + 1) - th * np.log(th) + special.gammaln(th) - special.gammaln(th + y)) * wt
        parts[:, 4] = th
        return 4, parts

    def _pirls_compiled(self, theta, beta, eta_start, *, joint, tol, maxit) -> PirlsResult:
        vals = self._vals(theta)
        c = self._c
        perm = self._perm
        cvals = vals if perm is None else np.ascontiguousarray(vals[perm])
        off = c["offset"] if joint else c["offset"] + c["X"] @ beta
        fcode, lcode = self._jit
        try:
            st, it, u, b, eta, mu, dr, ld, w, l11, lap = _kernels().pirls(
                fcode, lcode, self._nbt, c["idx"], cvals, c["X"], c["XT"], c["y"], c["wt"], off,
                *self._c_state(eta_start), bool(joint), float(tol), int(maxit),
                self.terms[0].nlevels, self.s1, self.q1, self.q2u, c["lptr"], self._ptr21, self._rows21,
                self._pattern21 is not None, c["pos21"], self._aic_mode, c["aic"])
            if perm is not None:
                inv = self._inv
                eta, mu, dr, w = eta[inv], mu[inv], dr[inv], w[inv]
        except np.linalg.LinAlgError:
            st, it = 6, 0
        if st != 0:
            raise PirlsError(_PIRLS_MESSAGES[st])
        if not joint:
            b = np.asarray(beta, dtype=float)
        self.pirls_iterations += it
        self.evaluations += 1
        res = PirlsResult(u=u, beta=b, eta=eta, mu=mu, devres=dr, ldL2=ld, factor=None, iterations=it,
                          l11diag=l11, factor_fn=lambda: self._factor(vals, w, joint=joint))
        res.laplace_value = lap
        return res

    # ------------------------------------------------------------------ deviances
    def laplace(self, res: PirlsResult) -> float:
        if res.laplace_value == res.laplace_value:  # computed by the compiled loop
            return res.laplace_value
        if self._aic_mode:
            aic = _aic_value(self._aic_mode, res.mu, res.devres, self._aic_arr, self._aic_sums())
        else:
            aic = self.family.aic(self.y, self.ntrials, res.mu, self.wt, float(res.devres.sum()))
        return float(res.ldL2 + res.u @ res.u + aic)

    def agq(self, theta: np.ndarray, res: PirlsResult, rule: np.ndarray) -> float:
        """lme4's ``glmerAGQ`` at the conditional mode ``res`` (one scalar term)."""
        t = self.terms[0]
        refs = t.refs
        nl = t.nlevels
        zl = t.z[:, 0] * theta[0]
        u0 = res.u
        if self._jit is not None:
            fcode, lcode = self._jit
            return float(_kernels().jit.agq_value(
                fcode, lcode, self._nbt, self._refs64, np.ascontiguousarray(zl), res.eta, self.y, self.wt, u0,
                res.devres, res.l11diag, float(res.ldL2), np.ascontiguousarray(rule, dtype=float)))
        devc0 = u0 * u0 + np.bincount(refs, weights=res.devres, minlength=nl)
        sd = 1.0 / res.l11diag
        mult = np.zeros(nl)
        fam = self.family
        for z, w, ldn in rule:
            if z == 0:
                mult += w
                continue
            du = z * sd
            eta = res.eta + zl * du[refs]
            mu = fam.linkinv(eta)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                dr = fam.dev_resids(self.y, mu, self.wt)
            u1 = u0 + du
            devc = u1 * u1 + np.bincount(refs, weights=dr, minlength=nl)
            mult += np.exp(-0.5 * (devc - devc0) - ldn) * w / _SQRT2PI
        return float(devc0.sum() + res.ldL2 - 2 * np.sum(np.log(mult)))

    # ------------------------------------------------------------------ helpers for the fitted model
    def warn_not_converged(self, what: str) -> None:
        warn_r(what, ConvergenceWarning)

"""The criterion and its exact gradient in one compiled call, for small models.

On a model like sleepstudy (180 rows, 36 random effects) one evaluation is a few thousand floating-point
operations: the blocked factor of :class:`~mixedmodels.fit.criterion.ProfiledCriterion` and the gradient of
:mod:`mixedmodels.fit.gradient` then spend nearly all their time in the Python interpreter and in the fixed
cost of dozens of small NumPy calls (1-4 us each). :class:`SmallEvaluator` does the same algebra -- the
same blocks, the same formulas, written once more as plain loops -- in one Numba-compiled function, so
an evaluation with its gradient costs a few microseconds.

The algebra (notation of :mod:`mixedmodels.fit.criterion` and :mod:`mixedmodels.fit.gradient`):

* ``L11_j = chol(lambda_1' A11_j lambda_1 + I)``, ``T_j = lambda_1 L11_j^-T``;
* ``V = LR' A_R1`` with ``LR = blockdiag(Lambda_R, I_{p+1})``, ``C = V blockdiag(T_j)``;
* ``LRR = chol(LR' A_RR LR + D - C C')``, whose last row holds ``[l_yZ l_yX r]``;
* the gradient: ``Minv = (LRR_S LRR_S')^-1`` over the leading ``k`` rows (the Z rows for ML, Z and X
  for REML), then the first term's ``X_jj`` and the later terms' ``X_RR`` entries and the penalized
  RSS's envelope derivative, exactly as in :func:`mixedmodels.fit.gradient.gradient_from_factor`, with one
  change: ``(I + lambda_1 lambda_1' A11_j)^-1`` is formed as ``I - T1_j A11_j`` (Woodbury), no inverse.

Later terms may have any number of columns (``LR`` is applied block by block), so every lme4 model
qualifies; :func:`mixedmodels.fit.paths.choose_path` takes this path (``"small"``) for small models, where
it is fastest. Larger models keep the NumPy and sparse paths, where BLAS and the level-by-level kernels
are faster than these loops. Numba is imported on the first small fit; the compiled code is cached on disk.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np
from scipy.linalg import lapack

from . import kernels

__all__ = ["SmallEvaluator", "NumpySmallEvaluator", "load_compiled", "compiled_code_cached", "compile_pays",
           "ACCOUNT", "loaded"]

_compiled = None


def _compile():
    global _compiled
    if _compiled is None:
        from ._smallfit_jit import evaluate  # Numba: imported on the first compiled small fit only

        _compiled = evaluate
    return _compiled


def loaded() -> bool:
    """Whether the compiled evaluator is in use in this process (imported by a fit or by
    :func:`load_compiled`, or loaded by the rent-or-buy rule's background load)."""
    return _compiled is not None


def compiled_code_cached() -> bool:
    """Whether the compiled evaluator's machine code is in Numba's on-disk cache (its index file exists
    in one of Numba's cache locations), looked up without importing Numba. A stale index (the source
    changed since) counts as cached: the background load then finds nothing to load, and the rule
    (:data:`ACCOUNT`) starts the background compile instead."""
    return kernels.indexed(("_smallfit_jit.evaluate",))


def _load_in_background() -> None:
    """The rule's background load: import the evaluator's module and load its cached machine code
    (compiling nothing); marks it loaded only when there was code to load."""
    global _compiled
    from ._smallfit_jit import evaluate

    kernels.load_cached([evaluate])
    if evaluate.overloads:
        _compiled = evaluate


# the small-model evaluator's rent-or-buy account (mixedmodels.fit.kernels.Account): a small model runs
# compiled once the NumPy evaluations of the process have cost more extra time than loading it would
# (~0.35 s with Numba not imported: a few hundred sleepstudy fits; ~0.03 s when the GLMM kernels are loaded)
ACCOUNT = kernels.Account("small", loaded=loaded, cached=compiled_code_cached, load=_load_in_background)


def compile_pays() -> bool:
    """Whether the next small model should take the compiled path: the rent-or-buy rule of
    :data:`ACCOUNT` (:meth:`mixedmodels.fit.kernels.Account.decide`) says the evaluator is loaded. A
    small fit never saves more than the load cost on its own, so the rule loads it in the fit that
    finds the extra time of the NumPy fits has reached it (in a background thread with
    :data:`~mixedmodels.fit.kernels.LOAD_IN_THREAD` on), or starts the background compile when its
    machine code is not cached."""
    return ACCOUNT.decide() in (kernels.COMPILED, kernels.LOAD)  # LOAD: the small path loads it in this fit


def load_compiled() -> bool:
    """Import the compiled evaluator now (Numba and the kernel's module; its machine code is read from
    the on-disk cache, or compiled, on its first call): from then on ``path="auto"`` fits small models
    compiled. For a process that will fit many small models (a benchmark, a simulation) and would
    rather pay the ~0.3 s load at once. False when Numba is not installed."""
    if not kernels.available():
        return False
    _compile()
    return True


_LAYOUTS: "OrderedDict[tuple, tuple]" = OrderedDict()  # layout key -> the evaluator's layout arrays
_LAYOUTS_MAX = 64


def _layout_arrays(crit) -> tuple:
    """The evaluator's layout arrays for ``crit``: they depend only on the terms' shapes, ``p`` and the
    lambda patterns, so they are built once per layout and shared (the kernel only reads them)."""
    key = (tuple((t.nlevels, t.ncols) for t in crit.terms), crit.p, crit.patterns)
    try:
        out = _LAYOUTS.get(key)
    except TypeError:  # pragma: no cover - unhashable patterns
        key, out = None, None
    if out is not None:
        return out
    terms = crit.terms
    smax = max(t.ncols for t in terms)
    th_term, th_row, th_col = [], [], []
    for ti, (rows, cols) in enumerate(crit.tril):
        th_term += [ti] * len(rows)
        th_row += list(rows)
        th_col += list(cols)
    # rest rows that are Z columns: term, start of their level's block, position in it, block size
    r_term, r_b0, r_a, r_s = [], [], [], []
    pos = 0
    for ti, t in enumerate(terms[1:], start=1):
        for j in range(t.nlevels):
            for a in range(t.ncols):
                r_term.append(ti)
                r_b0.append(pos + j * t.ncols)
                r_a.append(a)
                r_s.append(t.ncols)
        pos += t.nranef
    as_int = lambda v: np.array(v, dtype=np.int64)  # noqa: E731  (a writable copy: the criterion's are read-only)
    rest_pairs = crit.rest_pairs
    rows, cols = crit.tril[0]
    out = (smax, as_int(th_term), as_int(th_row), as_int(th_col), *map(as_int, (r_term, r_b0, r_a, r_s)),
           as_int([e[0] for e in rest_pairs]),
           as_int(np.concatenate([[0], np.cumsum([len(e[1]) for e in rest_pairs])])),
           as_int(np.concatenate([e[1] for e in rest_pairs]) if rest_pairs else []),
           as_int(np.concatenate([e[2] for e in rest_pairs]) if rest_pairs else []),
           as_int(crit.theta_slices[0]), as_int(rows), as_int(cols))
    if key is not None:
        _LAYOUTS[key] = out
        while len(_LAYOUTS) > _LAYOUTS_MAX:
            _LAYOUTS.popitem(last=False)
    return out

class SmallEvaluator:
    """``theta -> (value, gradient)`` of a small :class:`~mixedmodels.fit.criterion.ProfiledCriterion` in one
    compiled call. The layout arrays (which theta element goes where, which rest rows belong to which
    term's block) are built once here; :meth:`__call__` allocates only its small work arrays.

    Returns ``value = inf`` where the factor does not exist (a block not positive definite). Agrees with
    ``crit(theta)`` and :func:`mixedmodels.fit.gradient.gradient` to rounding (tested).
    """

    def __init__(self, crit):
        self.crit = crit
        terms = crit.terms
        cp = crit.cp
        self.n, self.p, self.qr, self.reml = crit.n, crit.p, crit.qrest, bool(crit.reml)
        self.log_w = crit.log_w
        self.l1, self.s1 = terms[0].nlevels, terms[0].ncols
        self.A11 = np.ascontiguousarray(cp.A11, dtype=float)
        self.AR1 = np.ascontiguousarray(crit.AR1_dense.reshape(crit.m, -1), dtype=float)
        self.ARR = np.ascontiguousarray(cp.ARR, dtype=float)
        self.nterms = len(terms)
        (self.smax, self.th_term, self.th_row, self.th_col, self.r_term, self.r_b0, self.r_a, self.r_s,
         self.rest_theta, self.rest_ptr, self.rest_ci, self.rest_cj, self.t1_theta, self.t1_row,
         self.t1_col) = _layout_arrays(crit)
        self._fn = self._kernel()
        # the kernel's arguments between theta / want_grad and the gradient's output, gathered once
        self._layout = (self.reml, self.n, self.p, self.qr, self.l1, self.s1, self.A11, self.AR1, self.ARR,
                        self.th_term, self.th_row, self.th_col, self.nterms, self.smax,
                        self.r_term, self.r_b0, self.r_a, self.r_s,
                        self.rest_ptr, self.rest_theta, self.rest_ci, self.rest_cj,
                        self.t1_theta, self.t1_row, self.t1_col)

    def _kernel(self):
        return _compile()

    def __call__(self, theta: np.ndarray, want_grad: bool = True) -> tuple[float, np.ndarray | None]:
        theta = np.ascontiguousarray(theta, dtype=float)
        grad = np.empty(len(theta))
        val = self._fn(theta, want_grad, *self._layout, grad)
        if not math.isfinite(val):
            return np.inf, None
        # the prior weights' constant (-sum log w), as ProfiledCriterion.objective_from_factor has it
        return float(val) - self.log_w, (grad if want_grad else None)


_LOG2PI = math.log(2.0 * math.pi)


class NumpySmallEvaluator(SmallEvaluator):
    """The algebra of :class:`SmallEvaluator` in NumPy, for the small models a process fits before it
    loads the compiled evaluator (the rent-or-buy rule, :data:`ACCOUNT`): a few whole-array
    operations per evaluation instead of the blocked factor's and gradient's dozens of small calls.

    The first term's ``s1 x s1`` blocks have closed forms for ``s1 = 1`` and ``s1 = 2`` (NumPy's batched
    routines otherwise); the rest block ``LR' A_RR LR + D - C C'`` is formed with ``LR`` dense (or as a
    scaling vector when every later term is scalar) and factored by one LAPACK ``dpotrf``; the gradient
    uses ``dpotri`` for ``(LRR_S LRR_S')^-1`` and one triangular solve for ``z``.

    :meth:`evaluate` gives ``(value, state)`` and :meth:`gradient` the gradient at that state (so that
    the optimizer's rejected trial points cost no gradient); calling it gives ``(value, gradient)`` as
    :class:`SmallEvaluator` does. Agrees with the compiled evaluator and with
    :func:`mixedmodels.fit.gradient.gradient` to rounding (tested).
    """

    def __init__(self, crit):
        super().__init__(crit)
        m, l1, s1 = crit.m, self.l1, self.s1
        self.m = m
        self.AR1_3 = self.AR1.reshape(m, l1, s1)
        # the first term's lambda is lower triangular (theta fills its lower triangle)
        self.lower1 = bool(np.all(self.t1_row >= self.t1_col))
        if s1 == 1:
            self.a11 = np.ascontiguousarray(self.A11[:, 0, 0])
        elif s1 == 2:
            self.a11 = tuple(np.ascontiguousarray(self.A11[:, i, j]) for i, j in ((0, 0), (1, 0), (1, 1)))
        self.rest_diag = bool(crit.rest_diag)
        self.rest_pos = np.asarray(crit.rest_theta, dtype=np.intp)  # theta position of a scalar later term
        if not self.rest_diag:
            # the dense LR = blockdiag(Lambda_R, I_{p+1}): where each theta element goes
            indptr, cols, rows, th, ident = crit._rest_scale_pattern
            self.lr_flat = np.asarray(rows * m + cols, dtype=np.intp)[~ident]
            self.lr_theta = np.asarray(th, dtype=np.intp)[~ident]
            self.lr_ident = np.arange(self.qr, m) * (m + 1)
        self.diag_rest = np.arange(self.qr) * (m + 1)  # the identity D on the later terms' rows
        self.nres = self.n - self.p if self.reml else self.n
        self.k = self.qr + self.p if self.reml else self.qr
        self.rest_seg = np.asarray(crit.rest_seg, dtype=np.intp)
        self.rest_ci2 = np.asarray(crit.rest_ci, dtype=np.intp)
        self.rest_cj2 = np.asarray(crit.rest_cj, dtype=np.intp)
        self.rest_tpos = np.asarray(crit.rest_theta_pos, dtype=np.intp)
        self.nrest_theta = len(crit.rest_pairs)
        self.triu_k = np.triu_indices(self.k, 1)
        self.eye_s1 = np.eye(s1)

    def _kernel(self):
        return None  # no compiled code

    # ------------------------------------------------------------------ the value
    def _lam1(self, theta: np.ndarray) -> np.ndarray:
        lam1 = np.zeros((self.s1, self.s1))
        lam1[self.t1_row, self.t1_col] = theta[self.t1_theta]
        return lam1

    def _LR(self, theta: np.ndarray) -> np.ndarray:
        m = self.m
        LR = np.zeros(m * m)
        LR[self.lr_flat] = theta[self.lr_theta]
        LR[self.lr_ident] = 1.0
        return LR.reshape(m, m)

    def evaluate(self, theta: np.ndarray):
        """``(value, state)`` at ``theta``; ``(inf, None)`` where the factor does not exist."""
        theta = np.asarray(theta, dtype=float)
        if not math.isfinite(theta.sum()):
            return np.inf, None
        s1 = self.s1
        lam1 = self._lam1(theta)
        # ---- the first term: L11_j = chol(lambda1' A11_j lambda1 + I), its inverse, T_j = lambda1 L11inv_j'
        if s1 == 1:
            lv = lam1[0, 0]
            B = self.a11 * (lv * lv) + 1.0
            if not B.min() > 0.0:
                return np.inf, None
            logdet = float(np.log(B).sum())
            Li = 1.0 / np.sqrt(B)  # (l1,)
            first = Li
            tvec = lv * Li
        elif s1 == 2 and self.lower1:
            a, b, c = lam1[0, 0], lam1[1, 0], lam1[1, 1]
            p_, q_, r_ = self.a11
            pa_qb = p_ * a + q_ * b
            qa_rb = q_ * a + r_ * b
            # B_j = lambda1' A11_j lambda1 + I is at least I (A11_j is a cross-product): B00 >= 1
            B00 = a * pa_qb + b * qa_rb + 1.0
            B10 = c * qa_rb
            B11 = (c * c) * r_ + 1.0
            L00 = np.sqrt(B00)
            L10 = B10 / L00
            D = B11 - L10 * L10
            if not D.min() > 0.0:
                return np.inf, None
            logdet = float(np.log(B00 * D).sum())  # log det B_j = log(L00^2 L11^2)
            i00 = 1.0 / L00
            i11 = 1.0 / np.sqrt(D)
            i10 = -L10 * i00 * i11
            first = (i00, i10, i11)  # L11_j^-1 = [[i00, 0], [i10, i11]], formed for the gradient
            T = None  # C = V blockdiag(lambda1 L11_j^-T) in closed form below
        else:
            Bm = lam1.T @ self.A11 @ lam1
            Bm[:, np.arange(s1), np.arange(s1)] += 1.0
            try:
                L = np.linalg.cholesky(Bm)
            except np.linalg.LinAlgError:
                return np.inf, None
            dg = L.diagonal(axis1=1, axis2=2)
            if not dg.min() > 0.0:
                return np.inf, None
            logdet = 2.0 * float(np.log(dg).sum())
            Li = np.linalg.inv(L)
            first = Li
            T = lam1 @ Li.transpose(0, 2, 1)
        # ---- V = LR' A_R1, C = V blockdiag(T_j), M = LR' A_RR LR + D - C C'
        if not self.qr:  # one term: LR = I
            d = LR = None
            V, W = self.AR1, self.ARR
            M = None
        elif self.rest_diag:
            d = np.ones(self.m)
            d[: self.qr] = theta[self.rest_pos]
            LR = None
            V = self.AR1 * d[:, None]
            W = self.ARR * d[:, None]
            M = W * d[None, :]
        else:
            d = None
            LR = self._LR(theta)
            V = LR.T @ self.AR1
            W = LR.T @ self.ARR
            M = W @ LR
        if s1 == 1:
            C = V * tvec[None, :]
        else:
            if T is None:  # 2 x 2: C_j = [U_j i00, U_j i10 + c V1_j i11] with U = a V0 + b V1
                V3 = V.reshape(self.m, self.l1, 2)
                V0, V1 = V3[:, :, 0], V3[:, :, 1]
                U = a * V0 + b * V1
                C = np.empty((self.m, self.l1, 2))
                C[:, :, 0] = U * i00
                C[:, :, 1] = U * i10 + (c * V1) * i11
                C = C.reshape(self.m, -1)
            else:
                C = np.matmul(V.reshape(self.m, self.l1, s1).transpose(1, 0, 2), T).transpose(1, 0, 2) \
                    .reshape(self.m, -1)
        if M is None:
            M = self.ARR - C @ C.T
        else:
            M -= C @ C.T
            M.reshape(-1)[self.diag_rest] += 1.0
        LRR, info = lapack.dpotrf(M, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            return np.inf, None
        dg = LRR.diagonal()
        if self.k:
            logdet += 2.0 * sum(map(math.log, dg[: self.k].tolist())) if self.k <= 16 else \
                2.0 * float(np.log(dg[: self.k]).sum())
        r2 = float(dg[-1]) ** 2
        nres = self.nres
        val = logdet + nres * (1.0 + _LOG2PI + math.log(r2 / nres)) - self.log_w if r2 > 0 else np.inf
        if not math.isfinite(val):
            return np.inf, None
        return val, (theta, lam1, first, T if s1 > 1 else tvec, d, LR, V, W, LRR, r2)

    # ------------------------------------------------------------------ the gradient
    def gradient(self, state) -> np.ndarray | None:
        """The gradient at the point :meth:`evaluate` returned ``state`` for."""
        theta, lam1, Li, T, d, LR, V, W, LRR, r2 = state
        m, qr, k, s1, l1 = self.m, self.qr, self.k, self.s1, self.l1
        grad = np.zeros(len(theta))
        dr2 = np.zeros(len(theta))
        # z: LRR' z = e_m LRR[m-1, m-1], i.e. z = (-x, 1) with x = (u_R, beta); w = LR z
        e = np.zeros(m)
        e[-1] = LRR[-1, -1]
        z, info = lapack.dtrtrs(LRR, e, lower=1, trans=1)
        if info != 0:
            return None
        w = z if not qr else z * d if d is not None else LR @ z
        atw = self.AR1.T @ w  # (q1,)
        if s1 == 1:
            lv = lam1[0, 0]
            P = Li * Li
            PL = P * lv
            T1 = PL * lv
            u1 = PL * atw
            b1 = lv * u1
            zres1 = atw - self.a11 * b1
            if len(self.t1_theta):
                dr2[self.t1_theta[0]] = -2.0 * float(zres1 @ u1)
        else:
            if isinstance(Li, tuple):  # the 2 x 2 closed form's inverse factor
                i00, i10, i11 = Li
                Li = np.zeros((l1, 2, 2))
                Li[:, 0, 0] = i00
                Li[:, 1, 0] = i10
                Li[:, 1, 1] = i11
            P = np.matmul(Li.transpose(0, 2, 1), Li)
            PL = P @ lam1.T
            T1 = lam1 @ PL
            atw2 = atw.reshape(l1, s1)
            u1 = (PL @ atw2[:, :, None])[:, :, 0]
            b1 = (u1 @ lam1.T).reshape(-1)  # lambda1 u1_j
            zres1 = atw2 - (self.A11 @ b1.reshape(l1, s1, 1))[:, :, 0]
            ZU = zres1.T @ u1  # (s1, s1): sum_j zres1[j, a] u1[j, b]
            dr2[self.t1_theta] = -2.0 * ZU[self.t1_row, self.t1_col]
        if self.nrest_theta:
            zresR = self.ARR[:qr] @ w - self.AR1[:qr] @ b1
            dr2[self.rest_tpos] = 2.0 * np.bincount(self.rest_seg, zresR[self.rest_cj2] * z[self.rest_ci2],
                                                    minlength=self.nrest_theta)
        if k:
            Lk = LRR[:k, :k]
            Minv, info = lapack.dpotri(Lk, lower=1)
            if info != 0:
                return None
            Minv[self.triu_k] = Minv.T[self.triu_k]  # dpotri fills the lower triangle
            Vk = V[:k]
            Y = Minv @ Vk  # (k, q1)
            if s1 == 1:
                Q = (Vk * Y).sum(axis=0)
            else:
                Q = Vk.reshape(k, l1, s1).transpose(1, 2, 0) @ Y.reshape(k, l1, s1).transpose(1, 0, 2)
            if self.nrest_theta:
                if s1 == 1:
                    YT1 = Y * T1[None, :]
                else:
                    YT1 = np.matmul(Y.reshape(k, l1, s1).transpose(1, 0, 2), T1).transpose(1, 0, 2) \
                        .reshape(k, -1)
                H = Minv[:qr] @ W[:k] - YT1[:qr] @ self.AR1.T
                grad[self.rest_tpos] = 2.0 * np.bincount(self.rest_seg, H[self.rest_ci2, self.rest_cj2],
                                                         minlength=self.nrest_theta)
        # the first term: G = sum_j PL_j A11_j - PL_j Q_j (I - T1_j A11_j)
        if s1 == 1:
            a11 = self.a11
            G = PL * a11
            if k:
                G = G - PL * Q * (1.0 - T1 * a11)
            if len(self.t1_theta):
                grad[self.t1_theta[0]] = 2.0 * float(G.sum())
        else:
            PA = PL @ self.A11
            if k:
                R = self.eye_s1 - T1 @ self.A11
                PA = PA - (PL @ Q) @ R
            G = PA.sum(axis=0)
            grad[self.t1_theta] = 2.0 * G[self.t1_col, self.t1_row]
        grad += (self.nres / r2) * dr2
        return grad if np.isfinite(grad).all() else None

    def __call__(self, theta: np.ndarray, want_grad: bool = True) -> tuple[float, np.ndarray | None]:
        v, state = self.evaluate(theta)
        if state is None:
            return np.inf, None
        return v, (self.gradient(state) if want_grad else None)

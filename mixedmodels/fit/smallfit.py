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

import numpy as np

from . import kernels

__all__ = ["SmallEvaluator", "load_compiled", "compiled_code_cached", "compile_pays", "ACCOUNT", "loaded"]

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
# (~0.34 s with Numba not imported: ~170 sleepstudy fits; ~0.02 s when the GLMM kernels are loaded)
ACCOUNT = kernels.Account("small", loaded=loaded, cached=compiled_code_cached, load=_load_in_background)


def compile_pays() -> bool:
    """Whether the next small model should take the compiled path: the rent-or-buy rule of
    :data:`ACCOUNT` (:meth:`mixedmodels.fit.kernels.Account.decide`) says the evaluator is loaded. A
    small fit never saves more than the load cost on its own, so the rule loads it in a background
    thread once the extra time of the NumPy fits reaches it (in the fit with
    :data:`~mixedmodels.fit.kernels.LOAD_IN_THREAD` off), or starts the background compile when its
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
        self.smax = max(t.ncols for t in terms)
        th_term, th_row, th_col = [], [], []
        for ti, (t, (rows, cols)) in enumerate(zip(terms, crit.tril)):
            th_term += [ti] * len(rows)
            th_row += list(rows)
            th_col += list(cols)
        self.th_term = np.asarray(th_term, dtype=np.int64)
        self.th_row = np.asarray(th_row, dtype=np.int64)
        self.th_col = np.asarray(th_col, dtype=np.int64)
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
        self.r_term, self.r_b0, self.r_a, self.r_s = map(as_int, (r_term, r_b0, r_a, r_s))
        self.rest_theta = as_int([e[0] for e in crit.rest_pairs])
        self.rest_ptr = as_int(np.concatenate([[0], np.cumsum([len(e[1]) for e in crit.rest_pairs])]))
        self.rest_ci = as_int(np.concatenate([e[1] for e in crit.rest_pairs]) if crit.rest_pairs else [])
        self.rest_cj = as_int(np.concatenate([e[2] for e in crit.rest_pairs]) if crit.rest_pairs else [])
        rows, cols = crit.tril[0]
        self.t1_theta = as_int(crit.theta_slices[0])
        self.t1_row, self.t1_col = as_int(rows), as_int(cols)
        self._fn = _compile()
        # the kernel's arguments between theta / want_grad and the gradient's output, gathered once
        self._layout = (self.reml, self.n, self.p, self.qr, self.l1, self.s1, self.A11, self.AR1, self.ARR,
                        self.th_term, self.th_row, self.th_col, self.nterms, self.smax,
                        self.r_term, self.r_b0, self.r_a, self.r_s,
                        self.rest_ptr, self.rest_theta, self.rest_ci, self.rest_cj,
                        self.t1_theta, self.t1_row, self.t1_col)

    def __call__(self, theta: np.ndarray, want_grad: bool = True) -> tuple[float, np.ndarray | None]:
        theta = np.ascontiguousarray(theta, dtype=float)
        grad = np.empty(len(theta))
        val = self._fn(theta, want_grad, *self._layout, grad)
        if not math.isfinite(val):
            return np.inf, None
        # the prior weights' constant (-sum log w), as ProfiledCriterion.objective_from_factor has it
        return float(val) - self.log_w, (grad if want_grad else None)

"""Generalized linear mixed models: lme4's ``glmer`` and ``glmer.nb``.

    build_design (glFormula) -> GlmmProblem / PIRLS (mkGlmerDevfun) -> two-stage optimization
    (optimizeGlmer: nAGQ = 0 over theta, then Laplace or AGQ over theta and beta) -> GlmerFit (mkMerMod)

The response is read as R's ``binomial()$initialize`` reads it: 0/1, logical, a factor (first level =
failure), proportions with ``weights=`` the numbers of trials, or ``cbind(successes, failures)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.special import digamma, polygamma

from .errors import ConvergenceWarning, DataError, FamilyError, FamilyWarning, FormulaError, MixedModelsError, ModelError
from .errors import SingularFitWarning
from .errors import warn as warn_r
from .fit.glmm_kernels import sequence as fitting_sequence
from .fit.threads import limited_threads
from .fit.family import Family, get_family, initialize, negative_binomial
from .fit.optimize import bobyqa
from .fit.pirls import GlmmProblem, PirlsError, PirlsResult, gh_rule
from .formula.parse import Call, Paren, deparse, parse_formula
from .formula.transforms import Evaluator, Factor
from .frame.design import build_design, check_data, deparse_memo
from .fitted import MixedModelFit, ModelInputs, aligned_to_data
from .output.display import glmm_fit_html
from .output.summary import SINGULAR_MESSAGE

__all__ = ["GeneralizedLinearMixedModel", "GlmerFit", "GlmerOptInfo", "NbSearch", "glmer", "glmer_nb"]

BOUNDARY_TOL = 1e-5  # glmerControl(boundary.tol)
LARGE_N = 100_000  # from this many rows the optimizers' tolerance is relative to the deviance
# Stage two's optimum is certified by the finite-difference derivatives the standard errors need anyway
# (lme4's deriv12 at BOBYQA's optimum): where the Newton decrement g' H^-1 g / 2 -- the decrease a Newton
# step predicts -- is below NEWTON_CERTIFY_TOL, the point is the optimum to that much and no restart runs.
# Only on models with at most NEWTON_CERTIFY_MAX_PARAMS parameters (theta and beta): the 2k^2 + 1 points
# cost about as much as a restart's evaluations there, and are wasted only when the check fails.
NEWTON_CERTIFY_TOL = 1e-9
NEWTON_CERTIFY_MAX_PARAMS = 7


# The delegated modules that load scipy.stats (or scipy.optimize), imported on first use so that a fit
# does not pay their import (~0.3-0.5 s once a process): the fitted class's methods call them (the
# cycle "fitted class <-> modules its methods delegate to", as in model.py; one accessor, one import each)
def _summary_mod():
    from .output import glmm_summary

    return glmm_summary


def _predict_mod():
    from .post import glmm_predict

    return glmm_predict


def _profile_mod():
    from .inference import glmm_profile

    return glmm_profile


def _sopt():
    from scipy import optimize  # Nelder-Mead polish and glmer_nb's 1-D search only

    return optimize


def _numeric_arg(arg, data: pd.DataFrame, what: str) -> np.ndarray | None:
    if arg is None:
        return None
    if isinstance(arg, str):
        if arg not in data.columns:
            raise DataError(f"{what}: no column {arg!r} in the data")
        arg = data[arg]
    if isinstance(arg, pd.Series):
        arg = aligned_to_data(arg, data, what)
    vals = np.asarray(arg)
    if vals.dtype == bool or not (np.issubdtype(vals.dtype, np.number)):
        raise DataError(f"{what} must be numbers (a numeric column name or array)")
    vals = vals.astype(float)
    if vals.shape != (len(data),):
        raise DataError(f"{what} has {vals.size} values but the data have {len(data)} rows")
    return vals


class _Response:
    """The response as the family takes it: y (proportions for a binomial with trials), the trials n
    (R's ``n``, 1 unless ``cbind``) and whether it was ``cbind``."""

    def __init__(self, y, n, is_cbind, text):
        self.y, self.n, self.is_cbind, self.text = y, n, is_cbind, text


def _read_response(lhs, ev: Evaluator, family: Family, text: str) -> _Response:
    node = lhs
    while isinstance(node, Paren):
        node = node.expr
    if isinstance(node, Call) and node.func == "cbind" and not node.pkg:
        if len(node.args) != 2 or node.kwargs:
            raise FormulaError("cbind() in the response takes two columns: cbind(successes, failures)",
                               text, node.start, node.end)
        if family.kind != "binomial":
            raise FamilyError(f"a two-column cbind() response is only for the binomial family, not "
                              f"{family.name}")
        s = ev.numeric(node.args[0]).astype(float).ravel()
        f = ev.numeric(node.args[1]).astype(float).ravel()
        ok = ~(np.isnan(s) | np.isnan(f))
        if np.any((s[ok] < 0) | (f[ok] < 0)):
            raise FamilyError("cbind(successes, failures) has negative cells: both columns must be counts "
                              ">= 0 (is the second one trials - successes?)")
        n = s + f
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(n == 0, 0.0, s / np.where(n == 0, 1, n))
        if np.any(np.abs(s[ok] - np.round(s[ok])) > 1e-3):
            warn_r("non-integer counts in a binomial glm!", FamilyWarning)
        y[~ok] = np.nan
        return _Response(y, n, True, deparse_memo(lhs))
    val = ev.eval(lhs)
    if isinstance(val, Factor):
        if family.kind != "binomial":
            raise FamilyError(f"the response '{deparse(lhs)}' is a factor: only the binomial family takes "
                              "one (first level = failure)")
        y = np.where(val.codes < 0, np.nan, (val.codes != 0).astype(float))
        return _Response(y, np.ones(len(y)), False, deparse_memo(lhs))
    m = val.matrix
    if m.shape[1] != 1:
        raise DataError(f"the response '{deparse(lhs)}' must be one column (or cbind(successes, failures))")
    y = m[:, 0].astype(float)
    if family.kind in ("poisson", "negbin"):
        ok = np.isfinite(y)
        if np.any(np.abs(y[ok] - np.round(y[ok])) > 1e-8):
            # R: dpois()/dnbinom() warn "non-integer x = ..." for each such value and lme4's logLik is -Inf
            what = "poisson" if family.kind == "poisson" else "negative binomial"
            warn_r(f"non-integer counts in a {what} glm! (R warns 'non-integer x = ...' and lme4's "
                   "log-likelihood is then -Inf; here the count likelihood is extended by lgamma(y + 1)): round "
                   "the counts, or use a family for continuous responses such as Gamma", FamilyWarning)
    return _Response(y, np.ones(len(y)), False, deparse_memo(lhs))


class GeneralizedLinearMixedModel(ModelInputs):
    """A GLMM from an lme4 formula, a DataFrame and a family, not yet fitted (lme4's ``glFormula``)."""

    def __init__(self, formula: str, data: pd.DataFrame, family="binomial", *, data_name: str | None = None,
                 subset=None, weights=None, offset=None, na_action: str = "na.omit"):
        check_data(data)
        if not isinstance(formula, str):
            raise FormulaError(f"formula must be a string, not {type(formula).__name__}")
        self.formula = formula
        self.family = get_family(family)
        self.refit_args = {"weights": weights, "offset": offset, "na_action": na_action}
        w_all = _numeric_arg(weights, data, "weights")
        data, offset, mask = self._take_inputs(formula, data, data_name, subset, weights, offset, na_action)
        if mask is not None:
            w_all = None if w_all is None else w_all[mask]
        if w_all is not None and np.any(w_all[~np.isnan(w_all)] < 0):
            raise DataError("weights must not be negative")
        f = parse_formula(formula)
        if f.lhs is None:
            raise FormulaError("the formula has no response: write it as 'y ~ ...'", formula, 0, 1)
        ev = Evaluator(data, formula)
        resp = _read_response(f.lhs, ev, self.family, formula)
        # the response as the family read it (cbind, a factor, numbers; NaN where a weight is missing)
        # given to the model frame as it is: not evaluated again, no copy of the data with it as a column
        y = resp.y
        if w_all is not None and np.isnan(w_all).any():
            y = y.copy()
            y[np.isnan(w_all)] = np.nan
        design = build_design(formula, data, require_random=False, offset=offset, na_action=na_action,
                              response=y)
        if not design.terms:
            raise FormulaError("no random-effects terms in the formula: a mixed model needs at least one "
                               "'(expr | g)'; for a GLM without random effects use statsmodels' GLM",
                               formula, 0, len(formula))
        for t in design.terms:  # glmer's checks: nlevels <= n allowed (an observation-level effect)
            if t.nlevels > design.n:
                raise ModelError(f"number of levels of the grouping factor '{t.group}' ({t.nlevels}) must "
                                 f"be at most the number of observations ({design.n})")
        design.formula = f
        design.response_name = resp.text
        rows = design.rows
        prior = np.ones(design.n) if w_all is None else w_all[rows]
        self.prior_weights = prior
        ntrials = resp.n[rows]
        self.is_cbind = resp.is_cbind
        wt = prior * ntrials if resp.is_cbind else prior
        self.design = design
        self.y = design.y
        self.weights = wt
        self.ntrials = ntrials
        self.data = data.copy(deep=False)
        self.mustart = initialize(self.family, self.y, wt, ntrials)
        # stage two with half first steps, on whitened fixed effects, ending on the Hessian's certificate
        # (_certify) where it can; False: the former stage two (whole first steps on beta itself, always
        # a restart), as glmer_nb's Poisson start fit runs it
        self.fast_stage_two = True
        self.problem = GlmmProblem(design.terms, design.X, self.y, design.offset, wt, ntrials, self.family)

    @cached_property
    def _index(self) -> pd.Index:
        """The data's index of the rows used (for the fitted values' and residuals' Series)."""
        return self.data.index[self.design.rows]

    # ------------------------------------------------------------------ fitting
    def fit(self, nAGQ: int = 1, *, start=None, tol: float = 1e-10, at=None) -> "GlmerFit":
        """See :meth:`_fit`; BLAS runs with the package's thread limit (one thread unless the user asked
        for more: ``mm.set_threads`` or the environment, see :mod:`mixedmodels.fit.threads`)."""
        with limited_threads():
            fit = self._fit(nAGQ, start=start, tol=tol, at=at)
            fit._vcov_array  # the finite-difference Hessian, under the same thread limit (the table on use)
            for msg in fit.conv_messages:
                warn_r(msg, SingularFitWarning if "singular" in msg else ConvergenceWarning)
        return fit

    def _fit(self, nAGQ: int = 1, *, start=None, tol: float = 1e-10, at=None) -> "GlmerFit":
        """:meth:`_fit_stages`, with the fit's ``optinfo`` (its optimizer evaluations, stage by stage, and
        the PIRLS iterations they took)."""
        prob = self.problem
        it0, ev0 = prob.pirls_iterations, prob.evaluations
        fit = self._fit_stages(nAGQ, start=start, tol=tol, at=at)
        stages = getattr(self, "_last_feval", (0, 0))
        fit.optinfo = GlmerOptInfo(feval=fit.feval, feval_stage1=stages[0], feval_stage2=stages[1],
                                   pirls_evaluations=prob.evaluations - ev0,
                                   pirls_iterations=prob.pirls_iterations - it0,
                                   compiled=prob.compiled, optimizer="bobyqa",
                                   newton_certified=fit._derivs_given)
        return fit

    def _fit_stages(self, nAGQ: int = 1, *, start=None, tol: float = 1e-10, at=None) -> "GlmerFit":
        """lme4's two stages: nAGQ = 0 over theta (beta inside PIRLS), then (nAGQ >= 1) the Laplace or
        adaptive Gauss-Hermite deviance over (theta, beta) jointly, started from stage one.

        ``at=(theta, beta)`` skips the second optimization and evaluates the fitted model at those
        parameters (as lme4 does at its optimum: for comparing with lme4 at its own estimates);
        ``at=(theta, beta, theta_stage_one)`` also takes stage one's optimum as given (lme4's, so that
        PIRLS starts where lme4's does)."""
        if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or not 0 <= nAGQ <= 25:
            raise MixedModelsError(f"nAGQ must be an integer from 0 to 25, not {nAGQ!r}")
        nAGQ = int(nAGQ)
        prob = self.problem
        if nAGQ > 1 and (len(prob.terms) != 1 or prob.terms[0].ncols != 1):
            raise ModelError("nAGQ > 1 is only available for models with a single, scalar random-effects "
                             "term")
        nth = prob.ntheta
        theta0 = np.concatenate([t.theta_init() for t in prob.terms])
        beta_start = None
        if start is not None:
            if isinstance(start, dict):
                extra = set(start) - {"theta", "fixef", "beta"}
                if extra:
                    raise MixedModelsError(f"start: unknown entries {sorted(extra)}; use 'theta' and 'fixef'")
                if start.get("theta") is not None:
                    theta0 = np.asarray(start["theta"], dtype=float)
                fx = start.get("fixef", start.get("beta"))
                if fx is not None:
                    beta_start = np.asarray(fx, dtype=float)
            else:
                theta0 = np.asarray(start, dtype=float)
            if theta0.shape != (nth,):
                raise MixedModelsError(f"start: theta must have {nth} values, not {theta0.size}")
            if beta_start is not None and beta_start.shape != (prob.p,):
                raise MixedModelsError(f"start: fixef must have {prob.p} values, not {beta_start.size}")
        eta0 = self.family.linkfun(self.mustart)
        # lme4's initialization: one PIRLS (beta inside) at the starting theta from mustart; its linear
        # predictor is where every stage-one evaluation starts (lme4's lp0)
        init = prob.pirls_lme4(theta0, None, eta0, joint=True)
        lp0 = init.eta
        lower_t = prob.theta_lower
        # a large model's deviance (~n) carries rounding noise far above tol: stop the optimizers at a
        # change of 1e-12 of the deviance instead of wandering in that noise (below LARGE_N rows: tol)
        ftol = tol if prob.n < LARGE_N else max(tol, 1e-12 * abs(prob.laplace(init)))
        feval = [0, 0]
        self._last_feval = feval

        # the deviance at a point already evaluated is not evaluated again (BOBYQA's first point is the
        # start, its caller re-evaluates the optimum, a restart starts there): each stage keeps its values
        seen0: dict[bytes, float] = {}
        lap0 = prob.laplace_function(lp0, joint=True)

        def dev0(theta):  # once per optimizer evaluation: kept lean
            key = np.asarray(theta).tobytes()
            v = seen0.get(key)
            if v is None:
                feval[0] += 1
                try:
                    v = lap0(theta)
                except PirlsError:
                    v = math.inf
                seen0[key] = v
            return v

        if at is not None and len(at) > 2 and at[2] is not None:
            theta1 = np.asarray(at[2], dtype=float)  # stage one's optimum given (lme4's, for comparisons)
            r1 = prob.pirls_lme4(theta1, None, lp0, joint=True)
            beta1 = r1.beta
        elif nAGQ == 0 or beta_start is None:
            theta1, _, _ = bobyqa(dev0, theta0, lower_t, ftol_abs=ftol, xtol_abs=1e-9,
                                  initial_step=_init_step(theta0))
            if nAGQ == 0:
                theta1 = self._check_boundary(dev0, theta1, lower_t)
            r1 = prob.pirls_lme4(theta1, None, lp0, joint=True)
            beta1 = r1.beta
        else:
            theta1, beta1 = theta0, beta_start
            r1 = prob.pirls_lme4(theta1, beta1, lp0, joint=False)
        if nAGQ == 0:
            return GlmerFit(self, nAGQ, theta1, r1.beta, r1, feval=feval[0], lp0=lp0)
        rule = gh_rule(nAGQ) if nAGQ > 1 else None
        lp1 = r1.eta  # lme4's lp0 of stage two: the linear predictor at the end of stage one

        seen1: dict[bytes, float] = {}
        lap1 = prob.laplace_function(lp1, joint=False)

        def dev1(x):  # once per optimizer evaluation: kept lean
            key = np.asarray(x).tobytes()
            v = seen1.get(key)
            if v is None:
                feval[1] += 1
                try:
                    if rule is None:
                        v = lap1(x[:nth], x[nth:])
                    else:
                        v = prob.agq(x[:nth], prob.pirls_lme4(x[:nth], x[nth:], lp1, joint=False), rule)
                except PirlsError:
                    v = math.inf
                seen1[key] = v
            return v

        x0 = np.concatenate([theta1, beta1])
        lower = np.concatenate([lower_t, np.full(prob.p, -np.inf)])
        if at is not None:
            x = np.concatenate([np.asarray(at[0], dtype=float), np.asarray(at[1], dtype=float)])
            r = prob.pirls_lme4(x[:nth], x[nth:], lp1, joint=False)
            return GlmerFit(self, nAGQ, x[:nth], x[nth:], r, feval=0, rule=rule, lp0=lp1)
        # steps: theta on its own scale, beta on the scale of its standard errors from stage one (half of
        # each: stage one's optimum is close; on the 22 Laplace / AGQ fixture fits this takes ~5% fewer
        # evaluations than whole steps, cbpp 62 -> 55)
        V1 = r1.factor.inv_beta_block(prob.p) if beta_start is None else None
        se1 = np.sqrt(np.maximum(np.diag(V1), 0)) if V1 is not None else np.full(prob.p, 0.1)
        step = np.concatenate([np.maximum(0.1 * np.abs(theta1), 0.05), np.maximum(se1, 1e-3 * np.abs(beta1))])
        step = (0.5 if self.fast_stage_two else 1.0) * np.where(np.isfinite(step) & (step > 0), step, 0.1)
        # BOBYQA searches beta = beta1 + C z, C C' the covariance of beta at stage one (families without a
        # dispersion, where that block is the covariance): the deviance is about equally curved in every
        # direction of z, where correlated coefficients (cbpp's period effects with the intercept) make
        # BOBYQA's quadratic models slow to fit (22 fixture fits: 2,137 -> 1,684 evaluations; VerbAgg
        # 277 -> 86)
        C = _whitening(V1) if self.fast_stage_two and self.family.scale_free else None
        if C is None:
            zstep, devz = step, dev1

            def to_x(z):
                return z
        else:
            zstep = np.concatenate([step[:nth], np.full(prob.p, 0.5)])
            T = np.zeros((len(x0), len(x0)))  # x = T z + (0, beta1): one product an evaluation
            T[np.arange(nth), np.arange(nth)] = 1.0
            T[nth:, nth:] = C
            shift = np.concatenate([np.zeros(nth), beta1])

            def to_x(z):
                return T.dot(z) + shift

            def devz(z):
                return dev1(T.dot(z) + shift)

        z, fx = np.concatenate([theta1, beta1 if C is None else np.zeros(prob.p)]), dev1(x0)
        derivs = None
        certify = self.fast_stage_two and len(x0) <= NEWTON_CERTIFY_MAX_PARAMS and prob.n < LARGE_N
        for attempt in range(4):  # restart from the optimum until a restart no longer improves it
            # the first run, when the certificate can end the search, stops at a third of its tolerance
            # (its precision is then the certificate's: cbpp 55 -> 48 evaluations)
            ft = max(ftol, NEWTON_CERTIFY_TOL / 3) if attempt == 0 and certify else ftol
            zn, _, _ = bobyqa(devz, z, lower, ftol_abs=ft, xtol_abs=1e-9, initial_step=zstep)
            fn = devz(zn)
            if attempt == 0 and certify and fn <= fx:
                # the Hessian the standard errors need, taken here: a Newton decrement below
                # NEWTON_CERTIFY_TOL certifies the optimum (no restart); else it is discarded
                derivs = self._certify(to_x(zn), lower, nth, lp1, rule)
                if derivs is not None:
                    z, fx = zn, fn
                    break
            improved = fn < fx - max(1e-7, 10 * ftol)
            if fn <= fx:
                z, fx = zn, fn
            if not improved:
                break
            zstep = zstep / 4
            step = step / 4
        x = to_x(z)
        xb = self._check_boundary(dev1, x, lower, nth)
        if derivs is not None and not np.array_equal(xb, x):
            derivs = None  # moved onto the bound: the derivatives are taken there
        x = xb
        r = prob.pirls_lme4(x[:nth], x[nth:], lp1, joint=False)
        fit = GlmerFit(self, nAGQ, x[:nth], x[nth:], r, feval=feval[0] + feval[1], rule=rule, lp0=lp1,
                       derivs=derivs)
        if any(m.startswith("Model failed to converge with max|grad|") for m in fit.conv_messages):
            # a rough deviance surface (PIRLS to lme4's tolerance): polish by Nelder-Mead, lme4's own choice
            # for this stage, from the BOBYQA optimum; kept only if better
            simplex = np.vstack([x] + [x + np.eye(len(x))[i] * step[i] / 10 for i in range(len(x))])
            simplex[:, :nth] = np.maximum(simplex[:, :nth], lower_t)
            res = _sopt().minimize(dev1, x, method="Nelder-Mead", bounds=list(zip(lower, np.full(len(x), np.inf))),
                                options={"initial_simplex": simplex, "xatol": 1e-9, "fatol": 1e-11,
                                         "maxfev": 400 * len(x)})
            if res.fun < fx - 1e-9:
                x = self._check_boundary(dev1, res.x, lower, nth)
                r = prob.pirls_lme4(x[:nth], x[nth:], lp1, joint=False)
                fit = GlmerFit(self, nAGQ, x[:nth], x[nth:], r, feval=feval[0] + feval[1], rule=rule, lp0=lp1)
        return fit

    def _certify(self, x: np.ndarray, lower: np.ndarray, nth: int, lp1: np.ndarray, rule
                 ) -> tuple[np.ndarray, np.ndarray] | None:
        """lme4's ``deriv12`` (gradient and Hessian by central differences) at stage two's optimum ``x``
        when they certify it: the Hessian positive definite and the Newton decrement ``g' H^-1 g / 2``
        (the decrease a Newton step predicts; on a smooth optimum it matches what a restart gains to a few
        per cent) below :data:`NEWTON_CERTIFY_TOL`. None otherwise, and where theta is within
        ``BOUNDARY_TOL`` of its bound (the differences are one-sided there, and ``check.boundary`` may
        move it). The points are PIRLS runs of the fit (``optinfo.pirls_evaluations``), not optimizer
        evaluations (``feval``)."""
        if np.any(x[:nth] - lower[:nth] < BOUNDARY_TOL):
            return None
        prob = self.problem
        try:
            with np.errstate(all="ignore"):
                g, H = deriv12(x, lower, lambda P: _deviances_at(prob, P, lp1, rule))
                ok = np.all(np.isfinite(H)) and np.all(np.isfinite(g))
                if ok:
                    c = np.linalg.cholesky(H)
                    z = np.linalg.solve(c, g)
                    ok = bool(0.5 * float(z @ z) < NEWTON_CERTIFY_TOL)
        except (PirlsError, np.linalg.LinAlgError):
            ok = False
        return (g, H) if ok else None

    @staticmethod
    def _check_boundary(fun, x, lower, nth=None):
        """lme4's ``check.boundary``: theta components within boundary.tol of their bound are tried at the
        bound and kept there if the deviance is no worse."""
        x = np.asarray(x, dtype=float).copy()
        k = len(x) if nth is None else nth
        near = [i for i in range(k) if np.isfinite(lower[i]) and 0 < x[i] - lower[i] < BOUNDARY_TOL]
        if not near:
            return x
        f = fun(x)
        for i in near:
            y = x.copy()
            y[i] = lower[i]
            fy = fun(y)
            if fy <= f + 1e-9:  # no worse, to rounding: the bound itself
                x, f = y, fy
        return x


@dataclass(frozen=True)
class GlmerOptInfo:
    """What the optimization of a glmer fit did (as lme4's ``optinfo``): ``feval`` the deviance
    evaluations of the optimizers (lme4's ``optinfo$feval`` counts those of its last stage only),
    ``feval_stage1`` / ``feval_stage2`` per stage (nAGQ = 0 over theta; Laplace / AGQ over theta and
    beta), ``pirls_evaluations`` the PIRLS runs of the fit (the evaluations plus the initial and final
    ones and, where the fit takes it -- its convergence check, the certificate of stage two's optimum --
    the finite-difference Hessian's points) and ``pirls_iterations`` their iterations in all;
    ``compiled``: whether PIRLS ran the compiled loop; ``newton_certified``: stage two's optimum was
    certified by the Newton decrement of the finite-difference Hessian (see
    :data:`NEWTON_CERTIFY_TOL`) instead of a BOBYQA restart."""

    feval: int
    feval_stage1: int
    feval_stage2: int
    pirls_evaluations: int
    pirls_iterations: int
    compiled: bool
    optimizer: str
    # stage two's optimum certified by the Hessian's Newton decrement (no restart ran; the fit's
    # derivatives are those of the check)
    newton_certified: bool = False

    @property
    def pirls_per_evaluation(self) -> float:
        return self.pirls_iterations / max(self.pirls_evaluations, 1)


def _init_step(x0: np.ndarray) -> np.ndarray:
    return np.maximum(0.2 * np.abs(x0), 0.1)


def _whitening(V: np.ndarray | None) -> np.ndarray | None:
    """The lower Cholesky factor of a covariance ``V`` (None where there is none or it is not positive
    definite and finite)."""
    if V is None:
        return None
    try:
        C = np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        return None
    return C if np.all(np.isfinite(C)) else None


def _deviances_at(prob: GlmmProblem, points: np.ndarray, lp0: np.ndarray, rule) -> np.ndarray:
    """The stage-two deviance (Laplace; adaptive Gauss-Hermite with ``rule``) at each row (theta, beta)
    of ``points``, every PIRLS started from ``lp0``: together where the problem can (Laplace)."""
    if rule is None:
        return prob.laplace_deviances(points, lp0)
    nth = prob.ntheta
    return np.array([prob.agq(p[:nth], prob.pirls_lme4(p[:nth], p[nth:], lp0, joint=False), rule) for p in points])


def deriv12(x: np.ndarray, lower: np.ndarray, values, delta: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """lme4's ``deriv12``: gradient and Hessian of a function at ``x`` by central differences (step
    ``delta``; steps stop at ``lower``). The 1 + 2k + 2k(k - 1) points are formed first and ``values``
    (points -> their function values) evaluates them together."""
    k = len(x)
    xadd = x + delta
    xsub = np.maximum(x - delta, lower)
    ud = np.full(k, delta)
    ld = x - xsub
    # the points: x; then per j x with x_j + and x_j -; then per pair i < j (by j, then i) the four
    # corners (+ +, + -, - +, - -)
    J, I = np.tril_indices(k, -1)
    npair = len(I)
    P = np.tile(x, (1 + 2 * k + 4 * npair, 1))
    jj = np.arange(k)
    P[1 + 2 * jj, jj] = xadd
    P[2 + 2 * jj, jj] = xsub
    base = 1 + 2 * k
    r = base + 4 * np.arange(npair)
    for c, (a, b) in enumerate(((xadd, xadd), (xadd, xsub), (xsub, xadd), (xsub, xsub))):
        P[r + c, I] = a[I]
        P[r + c, J] = b[J]
    f = values(P)
    fx = f[0]
    fa, fs = f[1:base:2], f[2:base:2]
    H = np.empty((k, k))
    g = (fa - fs) / (ud + ld)
    H[jj, jj] = fa / ud ** 2 - 2 * fx / (ud * ld) + fs / ld ** 2
    c = f[base:].reshape(npair, 4)
    H[I, J] = H[J, I] = (c[:, 0] / (ud[I] + ud[J]) ** 2 - c[:, 1] / (ud[I] + ld[J]) ** 2
                         - c[:, 2] / (ld[I] + ud[J]) ** 2 + c[:, 3] / (ld[I] + ld[J]) ** 2)
    return g, H


# ====================================================================== the fitted model
class GlmerFit(MixedModelFit):
    """A fitted GLMM (lme4's ``glmerMod``)."""

    def __init__(self, model: GeneralizedLinearMixedModel, nAGQ: int, theta: np.ndarray, beta: np.ndarray,
                 res: PirlsResult, *, feval: int = 0, rule=None, lp0=None, derivs=None):
        self.model = model
        self.family = model.family
        self.nAGQ = nAGQ
        self.theta = np.asarray(theta, dtype=float)
        self._beta = np.asarray(beta, dtype=float)
        self._res = res
        self.feval = feval
        self._rule = rule
        self._lp0 = lp0
        prob = model.problem
        if nAGQ > 1:
            self.objective = prob.agq(self.theta, res, rule)
        else:
            self.objective = prob.laplace(res)
        self.pirls_iterations = prob.pirls_iterations
        self.nb_theta: float | None = None
        self.optinfo: GlmerOptInfo | None = None  # set by the fit
        self._derivs_given = derivs is not None
        if derivs is not None:  # deriv12 at this (theta, beta), taken by the fit (GeneralizedLinearMixedModel._certify)
            self.__dict__["_derivs"] = derivs

    @cached_property
    def conv_messages(self) -> list[str]:
        """lme4's convergence messages (``optinfo$conv$lme4$messages``) for this fit."""
        return self._check_conv()

    # ------------------------------------------------------------------ basic quantities
    reml = False  # a GLMM is fitted by maximum likelihood (for mm.anova)
    nb_search = None  # glmer_nb's search over the NB shape (an NbSearch), set by glmer_nb

    @property
    def use_scale(self) -> bool:
        return not self.family.scale_free

    @cached_property
    def sigma(self) -> float:
        """The dispersion's square root as lme4 reports it (1 for binomial, Poisson, negative binomial;
        else sqrt(pwrss / n) with pwrss the Pearson sum of squares plus |u|^2)."""
        if not self.use_scale:
            return 1.0
        wrss = float(np.sum(self._pearson ** 2))
        return math.sqrt((wrss + float(self._res.u @ self._res.u)) / self.nobs)

    @property
    def npar(self) -> int:
        """lme4's count: beta, theta, the dispersion where there is one, and a negative binomial's shape."""
        return self.design.p + len(self.theta) + (1 if self.use_scale else 0) + \
            (1 if self.family.kind == "negbin" else 0)

    @property
    def deviance(self) -> float:
        """lme4's ``deviance()`` of a GLMM: the sum of squared deviance residuals."""
        return float(self._res.devres.sum())

    @cached_property
    def _vcov_array(self) -> np.ndarray:
        prob = self.model.problem
        p = prob.p
        if self.nAGQ == 0:
            return self.sigma ** 2 * self._res.factor.inv_beta_block(p)
        H = self._derivs[1]
        nth = len(self.theta)
        try:
            h = np.linalg.solve(H, np.eye(len(H)))
        except np.linalg.LinAlgError:
            h = np.full(H.shape, np.nan)
        hb = h[nth:, nth:]
        return hb + hb.T

    def _dev_at(self, x: np.ndarray) -> float:
        prob = self.model.problem
        nth = len(self.theta)
        if self.nAGQ <= 1:
            return prob.laplace_deviance(x[:nth], x[nth:], self._lp0, joint=False)
        r = prob.pirls_lme4(x[:nth], x[nth:], self._lp0, joint=False)
        return prob.agq(x[:nth], r, self._rule)

    @cached_property
    def _derivs(self) -> tuple[np.ndarray, np.ndarray]:
        """lme4's ``deriv12``: gradient and Hessian of the deviance over (theta, beta) by central
        differences (:func:`deriv12`), as ``optinfo$derivs``; the points evaluated together
        (:meth:`~mixedmodels.fit.pirls.GlmmProblem.laplace_deviances`: one compiled call)."""
        x = np.concatenate([self.theta, self._beta])
        lower = np.concatenate([self.model.problem.theta_lower, np.full(len(self._beta), -np.inf)])
        return deriv12(x, lower, lambda P: _deviances_at(self.model.problem, P, self._lp0, self._rule))

    def _check_conv(self) -> list[str]:
        """lme4's ``checkConv`` on the derivatives at the optimum (gradient tol 0.002, Hessian tol 1e-6)."""
        if self.is_singular:
            return [SINGULAR_MESSAGE]
        if self.nAGQ == 0 or self.nobs >= 10_000 or len(self.theta) + len(self._beta) >= 100:
            return []
        g, H = self._derivs
        msgs = []
        if np.any(np.isnan(g)):
            return ["Gradient contains NAs"]
        try:
            R = np.linalg.cholesky(H).T
            scgrad = np.linalg.solve(R.T, g)
            ok = np.all(np.isfinite(scgrad))
        except np.linalg.LinAlgError:
            ok = False
        if not ok:
            msgs.append("unable to evaluate scaled gradient")
        else:
            mg = np.minimum(np.abs(scgrad), np.abs(g))
            if mg.max() > 0.002:
                msgs.append(f"Model failed to converge with max|grad| = {mg.max():g} (tol = 0.002, component 1)")
        tol = 1e-6
        try:
            evd = np.linalg.eigvalsh(H)[::-1]
        except np.linalg.LinAlgError:
            return msgs + ["Problem with Hessian check (infinite or missing values?)"]
        neg = int(np.sum(evd < -tol))
        if neg:
            msgs.append(f"Model failed to converge: degenerate  Hessian with {neg} negative eigenvalues")
        elif np.sum(np.abs(evd) < tol):
            msgs.append(" Hessian is numerically singular: parameters are not uniquely determined")
        else:
            if evd.max() * tol > 1:
                msgs.append("Model is nearly unidentifiable: very large eigenvalue\n - Rescale variables?")
            if evd.min() / evd.max() < tol:
                msgs.append("Model is nearly unidentifiable: large eigenvalue ratio\n - Rescale variables?")
        return msgs

    # ------------------------------------------------------------------ random effects
    @cached_property
    def _lambdas(self) -> list[np.ndarray]:
        return self.model.problem.lambdas(self.theta)

    @property
    def _u(self) -> np.ndarray:
        return self._res.u

    @property
    def _residual_sigma(self) -> float | None:
        return self.sigma if self.use_scale else None

    @cached_property
    def _condvar_blocks(self) -> list[np.ndarray]:
        prob = self.model.problem
        blocks = self._res.factor.inv_u_diag_blocks(prob.sizes)
        s2 = self.sigma ** 2
        return [s2 * np.einsum("ab,jbc,dc->jad", lam, blk, lam) for lam, blk in zip(self._lambdas, blocks)]

    @property
    def is_singular(self) -> bool:
        return self._theta_singular()

    # ------------------------------------------------------------------ fitted values and residuals
    @property
    def _eta(self) -> np.ndarray:
        return self._res.eta

    @property
    def _mu(self) -> np.ndarray:
        return self._res.mu

    @cached_property
    def _pearson(self) -> np.ndarray:
        mu = self._mu
        return (self.model.y - mu) * np.sqrt(self.model.weights) / np.sqrt(self.family.variance(mu))

    @cached_property
    def fitted(self) -> pd.Series:
        """Fitted means (response scale), as lme4's ``fitted``."""
        return pd.Series(self._mu.copy(), index=self.model._index, name="fitted")

    def residuals(self, type: str = "deviance", scaled: bool = False) -> pd.Series:
        """lme4's ``residuals(m, type=)``: ``"deviance"`` (the default), ``"pearson"``, ``"working"`` or
        ``"response"``; ``scaled=True`` divides by sigma."""
        y, mu = self.model.y, self._mu
        if type == "deviance":
            r = np.sign(y - mu) * np.sqrt(np.maximum(self._res.devres, 0))
        elif type == "pearson":
            r = self._pearson.copy()
        elif type == "working":
            r = (y - mu) / self.family.mu_eta(self._eta)
        elif type == "response":
            r = y - mu
        else:
            raise MixedModelsError(f"type must be 'deviance', 'pearson', 'working' or 'response', not {type!r}")
        if scaled:
            r = r / self.sigma
        return pd.Series(r, index=self.model._index, name="residuals")

    resid = residuals

    # ------------------------------------------------------------------ after the fit
    def predict(self, newdata=None, type: str = "link", re_form=None, allow_new_levels: bool = False):
        """lme4's ``predict.merMod``: ``type="link"`` (the default) or ``"response"``; ``re_form=None``
        (all random effects) or ``"~0"`` / ``"NA"`` (population level)."""
        return _predict_mod().predict(self, newdata=newdata, type=type, re_form=re_form, allow_new_levels=allow_new_levels)

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False):
        """Responses simulated from the fitted model (lme4's ``simulate``; new random effects unless
        ``use_u``), a DataFrame sim_1..sim_nsim."""
        return _predict_mod().simulate(self, nsim=nsim, seed=seed, use_u=use_u)

    def confint(self, method: str = "Wald", level: float = 0.95, nsim: int = 500, seed=None, **kwargs):
        """Confidence intervals as lme4's ``confint``: ``"Wald"`` (fixed effects; NA for the variance
        parameters, as lme4), ``"profile"`` (likelihood-profile intervals of every parameter, lme4's
        ``profile.merMod``: :func:`mixedmodels.inference.glmm_profile.glmm_confint_profile`; keywords
        ``parm``, ``old_names``, ``alphamax``, ...) or ``"boot"`` (parametric bootstrap percentiles,
        ``nsim`` refits)."""
        if method == "Wald":
            return _predict_mod().confint_wald(self, level=level)
        if method == "boot":
            return _predict_mod().confint_boot(self, level=level, nsim=nsim, seed=seed)
        if method == "profile":
            with limited_threads():
                return _profile_mod().glmm_confint_profile(self, level=level, **kwargs)
        raise MixedModelsError(f"method must be 'Wald', 'profile' or 'boot', not {method!r}")

    def profile(self, which=None, **kwargs):
        """lme4's ``profile()`` of the fit (a :class:`~mixedmodels.inference.profile.Profile`: the table of
        signed roots ``.zeta`` and the splines), see :func:`mixedmodels.inference.glmm_profile.glmm_profile`."""
        with limited_threads():
            return _profile_mod().glmm_profile(self, which=which, **kwargs)

    def drop1(self, test: str = "Chisq"):
        """R's ``drop1(m, test = "Chisq")``: likelihood-ratio tests of the marginal fixed-effects terms."""
        return _predict_mod().drop1(self, test=test)

    def update(self, formula: str | None = None, **kwargs) -> "GlmerFit":
        """R's ``update()``: refit with a changed formula (``". ~ . - x"``) and/or arguments."""
        return _predict_mod().update(self, formula, **kwargs)

    # ------------------------------------------------------------------ printing
    def _summary_data(self):
        return _summary_mod().glmm_summary_data(self)

    def summary(self, *, digits: int | None = None, correlation: bool | None = None,
                ranef_comp=("Variance", "Std.Dev."), signif_stars: bool = True, show_resids: bool = True):
        """The summary; ``str()`` of it is R's ``print(summary(glmer(...)))``."""
        ranef_comp = self._print_options(digits, ranef_comp, correlation)
        return _summary_mod().GlmmSummary(self._summary_data(), digits=digits, correlation=correlation,
                           ranef_comp=ranef_comp, signif_stars=bool(signif_stars),
                           show_resids=bool(show_resids))

    def format(self, *, digits: int | None = None, ranef_comp=("Std.Dev.",)) -> str:
        """R's ``print(m, digits = , ranef.comp = )`` as text (``repr(m)`` is ``print(m)``)."""
        ranef_comp = self._print_options(digits, ranef_comp)
        return _summary_mod().format_glmm_print(self._summary_data(), digits=digits, ranef_comp=ranef_comp)

    def _repr_html_(self) -> str:
        """Jupyter's view: HTML tables in lme4's ``print(m)`` layout (``str()`` gives R's exact text)."""
        return glmm_fit_html(self._summary_data())


# ====================================================================== user-facing functions
def glmer(formula: str, data: pd.DataFrame, family="binomial", *, nAGQ: int = 1, weights=None, offset=None,
          subset=None, na_action: str = "na.omit", start=None, data_name: str | None = None,
          control=None) -> GlmerFit:
    """Fit a generalized linear mixed model as R's ``lme4::glmer`` does.

    ``family``: a name (``"binomial"``, ``"poisson"``, ``"Gamma"``, ``"inverse.gaussian"``,
    ``"gaussian"``) or a family object (``mm.family.binomial(link="probit")``); ``nAGQ``: 0 (beta
    inside PIRLS), 1 (Laplace, the default) or 2..25 (adaptive Gauss-Hermite, one scalar random-effects
    term); ``weights``: prior weights (binomial: numbers of trials for a proportion response);
    ``offset``: a column name or an array; ``start``: theta, or ``{"theta": ..., "fixef": ...}``.
    """
    if control is not None:
        raise MixedModelsError("control= (glmerControl) has no equivalent here; the optimizer always runs "
                               "to a tight optimum")
    model = GeneralizedLinearMixedModel(formula, data, family, data_name=data_name, subset=subset,
                                        weights=weights, offset=offset, na_action=na_action)
    try:
        # at a boundary (a singular fit) lme4's deriv12 divides by a zero step, as R does silently
        with np.errstate(divide="ignore", invalid="ignore"):
            fit = model.fit(nAGQ=nAGQ, start=start)
    except PirlsError as exc:  # lme4's message, and what to do about it
        raise PirlsError(_pirls_advice(str(exc), model.family)) from None
    _warn_separation(fit)
    return fit


SEPARATION_EPS = 10 * np.finfo(float).eps  # R's glm.fit: fitted probabilities numerically 0 or 1


def _warn_separation(fit: "GlmerFit") -> None:
    """R's glm.fit warning "fitted probabilities numerically 0 or 1 occurred" (lme4 gives only its
    convergence messages), naming the fixed effect that spreads the linear predictor most and what to do."""
    if fit.family.kind != "binomial":
        return
    mu = fit._mu
    if not (np.any(mu < SEPARATION_EPS) or np.any(mu > 1 - SEPARATION_EPS)):
        return
    X = np.asarray(fit.design.X)
    spread = np.abs(fit._beta) * np.asarray(X.std(axis=0)).ravel()
    name = fit.fixef.index[int(np.argmax(spread))] if len(spread) else "?"
    warn_r("fitted probabilities numerically 0 or 1 occurred (R's glm.fit warns so): complete or quasi-complete "
           f"separation, the estimate of '{name}' ({fit.fixef[name]:.4g}) runs off towards infinity and its "
           "standard error and test mean nothing; remove or merge the predictor that separates the outcomes, "
           "or fit with a penalty (a weak prior) on the fixed effects", FamilyWarning)


# links that do not keep the mean inside the family's range (R's validmu / valideta can fail)
_UNBOUNDED_LINKS = {"binomial": ("log", "identity"), "poisson": ("identity", "sqrt"),
                    "Gamma": ("identity", "inverse"), "inverse.gaussian": ("1/mu^2", "inverse", "identity"),
                    "gaussian": ("log", "inverse"), "negbin": ("identity", "sqrt")}


def _pirls_advice(msg: str, family: Family) -> str:
    """A PIRLS failure's message (lme4's words) with what to do about it."""
    link = family.link.name
    if link in _UNBOUNDED_LINKS.get(family.kind, ()):
        safe = "'logit'" if family.kind == "binomial" else "'log'"
        return (f"{msg}. The {family.name} family's '{link}' link does not keep the means inside the family's "
                f"range, and here they left it (lme4 stops with the same error): use a link that does (the "
                f"{safe} link), center or rescale the covariates, or give start= values (theta and fixef) near "
                "a valid fit")
    return (f"{msg}. The model may be too complex for the data or badly scaled: center or rescale the "
            "covariates, simplify the random effects, or check the response for separation (a fixed effect "
            "that predicts it perfectly)")


def _theta_ml(y: np.ndarray, mu: np.ndarray, wt: np.ndarray, limit: int = 25, eps: float = 1e-8) -> float:
    """MASS's ``theta.ml``: the ML shape of a negative binomial with known means (Newton on the score)."""
    n = np.sum(wt)
    t0 = n / np.sum(wt * (y / mu - 1) ** 2)
    def score(th):
        return np.sum(wt * (digamma(th + y) - digamma(th) + math.log(th) + 1 - np.log(th + mu)
                            - (y + th) / (mu + th)))

    def info(th):
        return np.sum(wt * (-polygamma(1, th + y) + polygamma(1, th) - 1 / th + 2 / (mu + th)
                            - (y + th) / (mu + th) ** 2))

    t0 = max(t0, 1e-8)
    for _ in range(limit):
        t0 = abs(t0)
        d = score(t0) / info(t0)
        t0 = t0 + d
        if abs(d) <= eps:
            break
    return max(t0, 1e-8)


def _nb_beta_scale(prob: GlmmProblem, x: np.ndarray, lp: np.ndarray) -> np.ndarray:
    """A lower-triangular ``C`` with ``C C'`` the covariance of beta at nAGQ = 0 (one PIRLS with beta
    inside at ``x``'s theta, from ``lp``); the identity if that fails. The warm-started optimizer works on
    ``beta = beta0 + C z``: on those coordinates the deviance is about equally curved in every direction,
    where on raw ones a badly scaled column (grouseticks' raw HEIGHT, its coefficient 500 times smaller than
    the intercept and correlated with it) makes BOBYQA stop early or take ~10 times the evaluations."""
    try:
        r = prob.pirls_lme4(x[:prob.ntheta], None, lp, joint=True)
        C = np.linalg.cholesky(r.factor.inv_beta_block(prob.p))
        if np.all(np.isfinite(C)):
            return C
    except (PirlsError, np.linalg.LinAlgError, FloatingPointError):
        pass
    return np.eye(prob.p)


def _nb_fit_from(model: GeneralizedLinearMixedModel, nAGQ: int, x0: np.ndarray, tol: float = 1e-10
                 ) -> "GlmerFit":
    """The fit at one NB shape with stage two's optimizer started at ``x0 = (theta, beta)`` (a nearby
    shape's optimum) -- on the deviance function of a fresh fit at this shape.

    lme4's Laplace deviance of (theta, beta) depends on where PIRLS starts (its ``lp0``: the linear
    predictor at the end of stage one): PIRLS stops at a relative change of 1e-7 of the penalized
    deviance, and on a badly scaled model (grouseticks' raw HEIGHT) the value it stops at moves by up to
    1e-2 with the starting point. A fit that skips stage one and starts PIRLS from the previous optimum
    (lme4's ``refit`` with ``start=``) therefore minimizes another function than a fresh fit, one that is
    lower by 2e-5 to 1e-2, and a search over the shape on those values finds a false minimum. Here stage
    one runs as in a fresh fit (so the function is the fresh one: lme4's deviance function at this shape)
    and only BOBYQA's starting point is taken from ``x0`` (beta on the scale of its standard errors:
    :func:`_nb_beta_scale`)."""
    prob = model.problem
    nth = prob.ntheta
    x0 = np.asarray(x0, dtype=float)
    ev0, it0 = prob.evaluations, prob.pirls_iterations
    # stage one as a fresh fit; the fit it returns is evaluated at x0 from stage one's end (lp0 of stage two)
    probe = model._fit_stages(nAGQ, at=(x0[:nth], x0[nth:]))
    feval1 = model._last_feval[0]
    lp1 = probe._lp0
    seen: dict[bytes, float] = {}
    count = [0]

    def dev(x):
        key = np.asarray(x, dtype=float).tobytes()
        if key not in seen:
            count[0] += 1
            try:
                seen[key] = probe._dev_at(np.asarray(x, dtype=float))
            except PirlsError:
                seen[key] = np.inf
        return seen[key]

    lower = np.concatenate([prob.theta_lower, np.full(prob.p, -np.inf)])
    beta0 = x0[nth:]
    C = _nb_beta_scale(prob, x0, lp1)

    def to_x(z):
        z = np.asarray(z, dtype=float)
        return np.concatenate([z[:nth], beta0 + C @ z[nth:]])

    def devz(z):
        return dev(to_x(z))

    # first steps: 2% of theta (at least 0.01), 0.3 of a standard error of beta
    step = np.concatenate([np.maximum(0.02 * np.abs(x0[:nth]), 0.01), np.full(prob.p, 0.3)])
    z, fz = np.concatenate([x0[:nth], np.zeros(prob.p)]), dev(x0)
    for _ in range(4):  # restart from the optimum until a restart no longer improves it (as glmer's)
        zn, _, _ = bobyqa(devz, z, lower, ftol_abs=tol, xtol_abs=1e-9, initial_step=step)
        fn = devz(zn)
        improved = fn < fz - max(1e-7, 10 * tol)
        if fn <= fz:
            z, fz = zn, fn
        if not improved:
            break
        step = step / 4
    x = model._check_boundary(dev, to_x(z), lower, nth)
    r = prob.pirls_lme4(x[:nth], x[nth:], lp1, joint=False)
    fit = GlmerFit(model, nAGQ, x[:nth], x[nth:], r, feval=feval1 + count[0], rule=probe._rule, lp0=lp1)
    fit.optinfo = GlmerOptInfo(feval=fit.feval, feval_stage1=feval1, feval_stage2=count[0],
                               pirls_evaluations=prob.evaluations - ev0,
                               pirls_iterations=prob.pirls_iterations - it0,
                               compiled=prob.compiled, optimizer="bobyqa")
    return fit


@dataclass(frozen=True)
class NbSearch:
    """What ``glmer_nb``'s search over the NB shape did: the shapes tried (``nb_thetas``, in order), the
    -2 log L of the fit at each (``objectives``) and its optimizer evaluations (``fevals``); the number of
    fits, and the optimizer evaluations and PIRLS iterations of the whole call (the Poisson fit it starts
    from included). ``fit.optinfo`` is the returned fit's alone (as lme4's ``optinfo`` of its last refit)."""

    nb_thetas: tuple[float, ...]
    objectives: tuple[float, ...]
    fevals: tuple[int, ...]
    nfits: int
    feval: int
    pirls_iterations: int


def glmer_nb(formula: str, data: pd.DataFrame, *, nAGQ: int = 1, weights=None, offset=None, subset=None,
             na_action: str = "na.omit", data_name: str | None = None, link: str = "log",
             tol: float = 1e-6) -> GlmerFit:
    """lme4's ``glmer.nb``: a negative binomial GLMM whose shape theta is estimated.

    As lme4: a Poisson GLMM first, theta from MASS's ``theta.ml`` on its fitted means, then a 1-D
    minimization (Brent, bounded) of -2 log L over log(theta) within log(theta0) +- 3. Each value is the
    optimum of lme4's deviance function at that shape -- the function of a fresh ``glmer`` fit, which is
    the one lme4's ``devFunOnly`` gives and the one the final fit reports -- with the optimizer started
    from the nearest shape's optimum (:func:`_nb_fit_from`). ``tol`` is on log(theta) (lme4: 5e-5).
    The returned fit is the one at the chosen shape; ``fit.nb_search`` records the search."""
    kw = dict(weights=weights, offset=offset, subset=subset, na_action=na_action, data_name=data_name)
    with limited_threads(), fitting_sequence():  # ~10 fits: the compiled kernels' rule weighs the whole call
        pois_model = GeneralizedLinearMixedModel(formula, data, "poisson", **kw)
        # the Poisson fit as it was before the faster stage two: the search's answer moves within its
        # tolerance (1e-6 on log theta) with this fit's last digits, and tests/fixtures/glmm_nb_ours.json
        # holds lme4's deviance function at the estimates it gives (rerun tests/glmm/nb_estimates.py and
        # tests/r/make_glmm_nb_fixtures.R before letting it run the faster stage two)
        pois_model.fast_stage_two = False
        pois = pois_model._fit(nAGQ=nAGQ)
        th0 = _theta_ml(pois.model.y, pois._mu, pois.model.prior_weights)
        x_pois = np.concatenate([pois.theta, pois._beta])
        cache: dict[float, GlmerFit] = {}
        order: list[float] = []

        def fit_at(logth: float) -> GlmerFit:
            key = float(logth)
            if key not in cache:
                model = GeneralizedLinearMixedModel(formula, data, negative_binomial(math.exp(key), link=link),
                                                    **kw)
                if cache:  # start from the optimum at the nearest shape tried so far
                    near = min(cache, key=lambda k: abs(k - key))
                    x0 = np.concatenate([cache[near].theta, cache[near]._beta])
                else:
                    x0 = x_pois
                cache[key] = model._fit(nAGQ=0) if nAGQ == 0 else _nb_fit_from(model, nAGQ, x0)
                order.append(key)
            return cache[key]

        lo, hi = math.log(th0) - 3, math.log(th0) + 3
        _sopt().minimize_scalar(lambda lt: fit_at(lt).objective, bounds=(lo, hi), method="bounded",
                                options={"xatol": tol})
        fit = min(cache.values(), key=lambda f: f.objective)
        fit._vcov_array  # the finite-difference Hessian, under the same thread limit
    fit.nb_theta = fit.family.theta
    fit.nb_search = NbSearch(nb_thetas=tuple(math.exp(k) for k in order),
                             objectives=tuple(cache[k].objective for k in order),
                             fevals=tuple(cache[k].optinfo.feval for k in order), nfits=len(order),
                             feval=pois.optinfo.feval_stage1 + pois.optinfo.feval_stage2
                             + sum(f.optinfo.feval for f in cache.values()),
                             pirls_iterations=pois.optinfo.pirls_iterations
                             + sum(f.optinfo.pirls_iterations for f in cache.values()))
    for msg in fit.conv_messages:
        warn_r(msg, SingularFitWarning if "singular" in msg else ConvergenceWarning)
    return fit

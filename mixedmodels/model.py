"""Linear mixed models: the unfitted model and the fitted one (lme4's ``lmer`` and ``merMod``).

The pipeline mirrors lme4's, each stage callable alone:

    build_design (lFormula) -> ProfiledCriterion (mkLmerDevfun; its evaluation path chosen once)
    -> fit_theta (optimizeLmer; an OptSummary) -> LmerFit (mkMerMod)
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import pandas as pd

from .dask import is_dask_frame, lmer_dask
from .errors import warn as warn_r
from .fit.criterion import ProfiledCriterion
from .frame.design import Design, build_design, with_type_notes
from .errors import DataError, MissingRowsWarning, MixedModelsError, ModelError, SingularFitWarning
from .fit.linalg import NotPositiveDefinite, dense_cholesky
from .fit.optimize import OPTIONS, OptSummary, fit_theta
from .fit.paths import PATHS
from .fit.threads import scoped as threads_scoped
from .fitted import SINGULAR_TOL, GroupDict, MixedModelFit, frames_by_group, varcorr_frame  # noqa: F401 (re-exported)
from .fitted import ModelInputs, aligned_to_data, subset_mask  # noqa: F401 (subset_mask: re-exported)
# Modules the fitted class's methods delegate to (with interop.compare, which fitted.py imports). They
# must not import this module at import time (the ones that need the model classes at run time import
# them inside functions: the one natural cycle).
from .output.display import fit_html
from .output.summary import FIT_METHOD_NOTE, SINGULAR_MESSAGE, Summary, format_print, summary_data
from .post import predict as _predict
from .post import updating as _updating
from .rbase.rnames import make_unique  # noqa: F401 (re-exported: a public name of this module)

__all__ = ["LinearMixedModel", "LmerFit", "lmer"]

# The delegated modules that load scipy.stats, imported on first use so that ``import mixedmodels`` stays
# fast (one accessor, one import each; listed in docs/architecture.md).
def _tables():
    from .inference import tables

    return tables


def _deletions():
    from .inference import deletions

    return deletions


def _lsmeans():
    from .inference import lsmeans

    return lsmeans


def _aov():
    from .classical import aov

    return aov


class ResidualSeries(pd.Series):
    """The response residuals of a fit, a pandas Series that can also be called like lme4's
    ``residuals(m, type = ...)``; operations on it return plain Series."""

    _metadata = ["_fit"]

    @property
    def _constructor(self):
        return pd.Series

    def __call__(self, type: str = "response", scaled: bool = False) -> pd.Series:
        return self._fit.resid(type, scaled=scaled)


class LinearMixedModel(ModelInputs):
    """A linear mixed model built from an lme4 formula and a DataFrame, not yet fitted.

    Parameters
    ----------
    formula : str
        An lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : pandas.DataFrame
        The data; never modified. Rows with a missing value in any variable the formula uses are dropped.
    data_name : str, optional
        The name printed on the summary's ``Data:`` line; defaults to ``data.attrs["name"]`` (set by
        :func:`mixedmodels.datasets.load`) or ``"data"``.
    """

    def __init__(self, formula: str, data: pd.DataFrame, *, data_name: str | None = None, subset=None,
                 weights=None, offset=None, na_action: str = "na.omit"):
        if is_dask_frame(data):
            raise MixedModelsError("a Dask DataFrame is fitted by mm.lmer(formula, ddf) (or "
                                   "mixedmodels.dask.fit.DaskLinearMixedModel), partition by partition")
        self.formula = formula
        if isinstance(weights, pd.Series):
            weights = aligned_to_data(weights, data, "weights")
        data, offset, mask = self._take_inputs(formula, data, data_name, subset, weights, offset, na_action)
        if mask is not None:  # weights given per row of the full data follow the subset
            weights = weights if weights is None or isinstance(weights, str) else np.asarray(weights)[mask]
        # how to rebuild the same model frame on self.data (update(), ranova())
        self.refit_args = {"weights": weights, "offset": offset, "na_action": na_action}
        self.design: Design = build_design(formula, data, weights=weights, offset=offset, na_action=na_action)
        # kept for predictions on new data (lme4 keeps its model frame too); a shallow copy, so later
        # changes to the caller's frame do not leak in (pandas copies on write)
        self.data = data.copy(deep=False)
        self._criteria: dict[tuple[bool, str], ProfiledCriterion] = {}
        self._prebuilt = None  # (cross-products, response shift) given to from_design

    @cached_property
    def _index(self) -> pd.Index:
        """The data's index of the rows used (fitted values and residuals carry it); made on first use
        from the model's own (shallow, copy-on-write) copy of the data, whose index cannot change."""
        return self.data.index[self.design.rows]

    @classmethod
    def from_design(cls, model: "LinearMixedModel", formula: str, design: Design,
                    crossprods=None, y_shift: float | None = None) -> "LinearMixedModel":
        """A model on the same data, frame arguments and rows as ``model`` whose design is given, built
        already (a reduced design sliced from ``model``'s: :meth:`Design.reduced`), with its weighted
        cross-products ``crossprods`` (response shifted by ``y_shift``) when known: what ``step()``,
        ``drop1()`` and ``ranova()`` refit without evaluating the formula again."""
        self = cls.__new__(cls)
        self.__dict__.update(model.__dict__)  # data, its name, the frame arguments, the rows' index
        self.formula = formula
        self.design = design
        self._criteria = {}
        self._prebuilt = (crossprods, y_shift) if crossprods is not None else None
        return self

    def criterion(self, reml: bool = True, path: str = "auto") -> ProfiledCriterion:
        """The profiled criterion (REML or ML) as a function of theta (lme4's ``devfun``), evaluated by
        the given path (:mod:`mixedmodels.fit.paths`; ``"auto"`` chooses by the model's size). The
        cross-products are computed once and shared by every criterion of the model."""
        key = (bool(reml), path)
        if key not in self._criteria:
            d = self.design
            other = next(iter(self._criteria.values()), None)
            # the cross-products: another criterion's, those given with the design, or those of a
            # remembered frame (frame.design.build_design) computed by an earlier model on it
            shared = d.shared if d.shared is not None and d.weights is None else None
            cp, shift = (other.cp, other.y_shift) if other else self._prebuilt or \
                (shared.get("crossprods") if shared is not None else None) or (None, None)
            crit = self._criteria[key] = ProfiledCriterion(d.terms, d.X, d.y - d.offset, reml=reml,
                                                           crossprods=cp, y_shift=shift,
                                                           weights=d.weights, path=path)
            if shared is not None and cp is None:
                shared["crossprods"] = (crit.cp, crit.y_shift)
        return self._criteria[key]

    @threads_scoped
    def fit(self, method: str = "REML", *, theta0=None, optimizer: str = "auto", path: str = "auto",
            **optimizer_options) -> "LmerFit":
        """Fit by ``"REML"`` (default), ``"ML"`` or ``"moments"`` (method of moments from the ANOVA table's
        expected mean squares, then GLS fixed effects and BLUPs).

        ``optimizer``: ``"gradient"`` (quasi-Newton on the exact gradient of the profiled criterion,
        :mod:`mixedmodels.fit.gradient`), ``"bobyqa"`` (NLopt's BOBYQA, lme4's algorithm, finished by a
        Newton step) or ``"auto"`` (the default: the gradient method; and where a likelihood surface is
        most likely to have a second local optimum -- a singular fit, or a grouping factor with at most
        five levels -- on a model where it is cheap, BOBYQA from lme4's start as well, keeping the lower
        criterion: :func:`mixedmodels.fit.optimize.cross_check_reason`). Extra keywords go to the
        optimizer.

        ``path``: how the criterion is evaluated (:mod:`mixedmodels.fit.paths`): ``"auto"`` (by the
        model's size), ``"small"`` (one compiled call), ``"dense"``, ``"blocks"`` (compiled level by level)
        or ``"sparse"``; all give the same criterion to rounding. The fit's ``optinfo`` records which
        ran, every setting, the evaluations and the fit log.
        """
        if isinstance(method, str) and method.lower() == "moments":
            return _aov().moments_fit(self)
        if not isinstance(method, str) or method.upper() not in ("REML", "ML"):
            raise MixedModelsError(f"method must be 'REML', 'ML' or 'moments', not {method!r}")
        if optimizer not in ("auto", "gradient", "bobyqa"):
            raise MixedModelsError(f"optimizer must be 'auto', 'gradient' or 'bobyqa', not {optimizer!r}")
        if not isinstance(path, str) or path not in ("auto", *PATHS):
            raise MixedModelsError(f"path must be 'auto', {', '.join(repr(p) for p in PATHS)}, not {path!r}")
        _check_optimizer_options(optimizer, optimizer_options)
        fit_options = {"optimizer": optimizer, "path": path, **optimizer_options}  # for update()
        optimizer_options = dict(optimizer_options)
        kernel = optimizer_options.pop("kernel", None)
        if kernel is not None and path == "auto":
            # the former switch: True = the compiled level-by-level path, False = NumPy throughout
            path = "blocks" if kernel else "dense" if self._dense_fits() else "sparse"
        # with no fixed effects the REML criterion is the ML deviance, and lme4 reports the fit as ML
        reml = method.upper() == "REML" and self.design.p > 0
        crit = self.criterion(reml, path)
        if reml and self.design.n <= self.design.p:
            raise MixedModelsError(with_type_notes("REML needs more observations than fixed effects",
                                                   self.design.type_notes))
        self._check_not_perfect(crit)
        try:
            start = crit.theta_init() if theta0 is None else np.asarray(theta0, dtype=float)
        except (TypeError, ValueError):
            raise MixedModelsError(f"theta0 (start) must be numbers, not {theta0!r}") from None
        if start.shape != (crit.ntheta,):
            raise MixedModelsError(f"theta0 must have {crit.ntheta} elements, not {start.size}")
        if not np.all(np.isfinite(start)):
            raise MixedModelsError(f"theta0 (start) must be finite numbers, not {start.tolist()}")
        lower = crit.lower_bounds()
        below = np.flatnonzero(start < lower)
        if below.size:  # lme4 (nloptr) stops here too: "at least one element in x0 < lb"
            k = int(below[0])
            raise MixedModelsError(
                f"theta0 (start) element {k + 1} is {start[k]:g}, below its lower bound {lower[k]:g}: the "
                "elements of theta on the diagonal of a relative covariance factor cannot be negative"
                + (f" (elements below their bounds: {', '.join(str(int(i) + 1) for i in below)})"
                   if below.size > 1 else ""))
        opt = fit_theta(crit, start, lower, optimizer, **optimizer_options)
        try:
            return self._fitted_class()(self, reml, opt, fit_options=fit_options, path=path)
        except NotPositiveDefinite:
            raise ModelError(with_type_notes(
                "the model is degenerate at the optimum: the penalized system is singular (typically the "
                "random effects reproduce the response exactly, so no residual variance is left, or the "
                "response is one of the random-effects covariates); simplify the random-effects structure",
                self.design.type_notes)) from None

    def _fitted_class(self):
        """The class of the fitted model (a model on a Dask DataFrame returns its own)."""
        return LmerFit

    def _dense_fits(self) -> bool:
        """Whether "auto" would take a dense path (small or dense) for this model."""
        return self.criterion(True).path.name in ("small", "dense")

    def _check_not_perfect(self, crit: ProfiledCriterion) -> None:
        """lme4 fits a response that the fixed effects reproduce exactly and returns noise; we say why
        instead: with no residual variation there is nothing to attribute to random effects."""
        shared = self.design.shared  # a remembered frame: checked once for all its fits
        if shared is not None and shared.get("not_perfect"):
            return
        y = self.design.y - self.design.offset
        if np.ptp(y) == 0:
            raise DataError(f"the response '{self.design.response_name}' is constant: there is no "
                            "variation to model")
        # the penalized RSS at theta = 0 is the least-squares RSS of y on X: with no random effects the
        # blocked factor is blockdiag(I, chol([X y]'[X y])), so the trailing (p + 1) x (p + 1) block of the
        # cross-products gives it without factoring the whole system
        k = crit.qrest
        try:
            rss = float(dense_cholesky(np.array(crit.cp.ARR[k:, k:]))[-1, -1] ** 2)
        except NotPositiveDefinite:
            rss = 0.0
        ss = float(np.sum((y - y.mean()) ** 2))
        if rss <= 1e-12 * ss:
            raise DataError(with_type_notes(
                "the fixed effects reproduce the response exactly (residual sum of squares is zero): a "
                "perfect fit leaves no variance for random effects or residuals", self.design.type_notes))
        if shared is not None:
            shared["not_perfect"] = True


_OPTIONS = {name: opts | {"kernel"} for name, opts in OPTIONS.items()}  # kernel: the former path switch
OPTIMIZER_OPTIONS = frozenset().union(*_OPTIONS.values())  # every keyword some optimizer takes
LinearMixedModel.optimizer_options = OPTIMIZER_OPTIONS  # for update(), which checks its keywords first


_INT_OPTIONS = {"maxeval", "maxiter"}
_POSITIVE_OPTIONS = {"ftol_abs", "xtol_abs", "ftol_rel", "dec_tol"}
_NONNEG_OPTIONS = {"boundary_tol", "probe_zero"}
_BOOL_OPTIONS = {"fallback", "verbose", "polish"}


def _check_optimizer_options(optimizer: str, options: dict) -> None:
    """Unknown options are a TypeError, values of the wrong kind a MixedModelsError (never ignored)."""
    unknown = sorted(set(options) - _OPTIONS[optimizer])
    if unknown:
        raise TypeError(f"unknown option{'s' if len(unknown) > 1 else ''} for optimizer={optimizer!r}: "
                        f"{', '.join(unknown)} (allowed: {', '.join(sorted(_OPTIONS[optimizer]))})")
    for key, val in options.items():
        real = isinstance(val, (int, float, np.integer, np.floating)) and not isinstance(val, (bool, np.bool_)) \
            and bool(np.isfinite(float(val)))
        if key in _INT_OPTIONS and not (real and float(val).is_integer() and 1 <= val <= 10**9):
            raise MixedModelsError(f"{key} must be a whole number >= 1, not {val!r}")
        if key in _POSITIVE_OPTIONS and not (real and np.isfinite(val) and val > 0):
            raise MixedModelsError(f"{key} must be a positive number, not {val!r}")
        if key in _NONNEG_OPTIONS and not (real and np.isfinite(val) and val >= 0):
            raise MixedModelsError(f"{key} must be a number >= 0, not {val!r}")
        if key in _BOOL_OPTIONS and not isinstance(val, (bool, np.bool_)):
            raise MixedModelsError(f"{key} must be True or False, not {val!r}")
        if key == "kernel" and val is not None and not isinstance(val, (bool, np.bool_)):
            raise MixedModelsError(f"kernel must be None, True or False, not {val!r}")
        if key == "probes":
            try:
                ok = len(val) > 0 and all(np.isfinite(float(v)) and float(v) > 0 for v in val)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise MixedModelsError(f"probes must be a sequence of positive numbers, not {val!r}")
        if key == "initial_step":
            arr = np.asarray(val, dtype=object)
            try:
                ok = np.all(np.isfinite(arr.astype(float))) and np.all(arr.astype(float) > 0)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise MixedModelsError("initial_step must hold positive numbers")


def _start_theta(start):
    """lme4's ``start``: a theta vector, or a dict / list with a ``theta`` entry."""
    if start is None:
        return None
    if isinstance(start, dict):
        extra = set(start) - {"theta"}
        if extra:
            raise MixedModelsError(f"start: only 'theta' can be given (lme4's start = list(theta = ...)), "
                                   f"not {', '.join(sorted(extra))}")
        start = start.get("theta")
    try:
        return np.asarray(start, dtype=float)
    except (TypeError, ValueError):
        raise MixedModelsError(f"start must be a theta vector (numbers) or {{'theta': ...}}, not {start!r}") \
            from None


@threads_scoped
def lmer(formula: str, data: pd.DataFrame, REML: bool = True, *, subset=None, weights=None, offset=None,
         na_action: str = "na.omit", start=None, contrasts=None, control=None, data_name: str | None = None,
         optimizer: str = "auto", path: str = "auto", progress: bool = False, **optimizer_options) -> "LmerFit":
    """Fit a linear mixed model as R's ``lme4::lmer(formula, data, REML, subset, weights, offset,
    na.action, start)`` does.

    ``subset``: an R expression over the columns (``"Days >= 2"``, evaluated safely, like the formula)
    or a boolean array; ``weights``: prior weights (a column name or an array, one per row of
    ``data``; the residual variance of row i is sigma^2 / w_i); ``offset``: a column name or an array,
    added to the formula's offsets; ``na_action``: ``"na.omit"`` (drop incomplete rows, the default)
    or ``"na.fail"`` (an error if a variable the model uses is missing); ``start``: starting theta (a
    vector or ``{"theta": ...}``). R's ``contrasts`` and ``control`` have no equivalent here and are
    refused rather than ignored. ``optimizer``, ``path`` (the evaluation path) and other keywords go to
    the optimizer (see :meth:`LinearMixedModel.fit`).

    ``data`` may also be a Dask DataFrame (``pip install mixedmodels[dask]``): the model is then fitted
    partition by partition (:mod:`mixedmodels.dask`; ``weights``, ``offset`` are column names and
    ``subset`` an expression); ``progress=True`` shows the passes over the data.
    """
    if "family" in optimizer_options:
        raise MixedModelsError("lmer does not take family=; use mm.glmer for generalized models "
                               "(lme4's lmer(..., family = ) only hands the call on to glmer)")
    if not isinstance(REML, (bool, np.bool_)):
        raise MixedModelsError(f"REML must be True or False, not {REML!r}")
    if contrasts is not None:
        raise MixedModelsError("contrasts= is not supported: factors are coded by treatment contrasts "
                               "(polynomial for ordered factors), as R's defaults")
    if control is not None:
        raise MixedModelsError("control= (lmerControl) has no equivalent; optimizer settings are keywords "
                               "of lmer() (optimizer='bobyqa', ftol_abs=..., maxeval=...)")
    if is_dask_frame(data):  # partition by partition (mixedmodels.dask, the optional extra)
        return lmer_dask(formula, data, REML, subset=subset, weights=weights, offset=offset,
                         na_action=na_action, start=start, data_name=data_name, optimizer=optimizer,
                         path=path, progress=progress, **optimizer_options)
    if progress:
        raise MixedModelsError("progress=True shows the passes over a Dask DataFrame; a pandas DataFrame "
                               "is fitted in one step")
    model = LinearMixedModel(formula, data, data_name=data_name, subset=subset, weights=weights,
                             offset=offset, na_action=na_action)
    dropped = model.design.dropped_rows_message()
    if dropped:
        warn_r(dropped, MissingRowsWarning)
    return model.fit("REML" if REML else "ML", theta0=_start_theta(start), optimizer=optimizer, path=path,
                     **optimizer_options)


class LmerFit(MixedModelFit):
    """A fitted linear mixed model (lme4's ``merMod``).

    Attributes follow lme4's accessors: ``fixef``, ``vcov``, ``sigma``, ``theta``, ``objective``
    (REMLcrit for a REML fit, deviance for an ML fit), ``loglik``, ``aic``, ``bic``, ``nobs``,
    ``ngroups``, ``varcorr``, ``ranef``, ``ranef_condsd``, ``is_singular``, ``fitted``, ``residuals``.
    ``optinfo`` is the fit's record: an :class:`~mixedmodels.fit.optimize.OptSummary` (what the
    optimizer did), or for a method-of-moments fit a
    :class:`~mixedmodels.classical.aov.MomentsSummary` (no optimizer ran). ``fit_options``: the
    optimizer keywords the fit was made with (``update()`` refits with them).
    """

    def __init__(self, model: LinearMixedModel, reml: bool, opt, *,
                 sigma: float | None = None, method: str | None = None, fit_options: dict | None = None,
                 path: str = "auto"):
        self.model = model
        self.reml = reml
        self.method = method or ("REML" if reml else "ML")
        self.optinfo = opt
        self.fit_options = dict(fit_options or {})
        d = model.design
        crit = model.criterion(reml, path)
        self._crit = crit
        self._factor = crit.factor(opt.theta)
        self.objective = float(crit.objective_from_factor(self._factor))
        self.theta = opt.theta.copy()
        beta, u = crit.solve(self._factor)
        self._beta = beta
        self._u = u
        denom = d.n - d.p if reml else d.n
        # sigma is profiled out of the criterion; a method-of-moments fit passes its own estimate
        self.sigma = math.sqrt(self._factor.pwrss / denom) if sigma is None else float(sigma)
        self.nfixef = d.p
        self.npar = d.p + len(self.theta) + 1
        self.deviance = self.objective if not reml else None
        self.is_singular = self._theta_singular()
        if self.is_singular:
            warn_r(SINGULAR_MESSAGE, SingularFitWarning)

    def require_rows(self, what: str) -> None:
        """Nothing for a fit whose rows are in memory; a fit to a Dask DataFrame refuses ``what``."""

    # ------------------------------------------------------------------ what MixedModelFit reads
    @cached_property
    def _vcov_array(self) -> np.ndarray:
        return self.sigma ** 2 * self._crit.vcov_unscaled(self._factor)

    @property
    def _lambdas(self) -> list[np.ndarray]:
        return self._factor.lambdas

    @property
    def _residual_sigma(self) -> float:
        return self.sigma

    @cached_property
    def _condvar_blocks(self) -> list[np.ndarray]:
        return [self.sigma ** 2 * b for b in self._crit.cond_var_blocks(self._factor)]

    # ------------------------------------------------------------------ fixed effects
    def fixef_all(self) -> pd.Series:
        """lme4's ``fixef(m, add.dropped = TRUE)``: the fixed effects with NaN, in their place, for the
        columns dropped as aliased."""
        if not self.design.dropped:
            return self.fixef.copy()
        out = pd.Series(np.nan, index=list(self.frame_spec.column_names), name="fixef")
        out[self.fixef.index] = self.fixef.to_numpy()
        return out

    # ------------------------------------------------------------------ fitted values
    @cached_property
    def _fitted_array(self) -> np.ndarray:
        d = self.design
        eta = d.X @ self._beta + d.offset
        for t, b in zip(d.terms, self._b_blocks):
            eta = eta + np.einsum("ij,ij->i", t.z, b[t.refs])
        return eta

    @cached_property
    def fitted(self) -> pd.Series:
        return pd.Series(self._fitted_array, index=self.model._index, name="fitted")

    @cached_property
    def residuals(self) -> "ResidualSeries":
        """Response residuals (a Series). Also callable, as lme4's ``residuals(m, type=...)``:
        ``fit.residuals(type="pearson")``, ``fit.residuals(scaled=True)``."""
        out = ResidualSeries(self.design.y - self._fitted_array, index=self.model._index, name="residuals")
        out._fit = self
        return out

    # ------------------------------------------------------------------ printing
    def _summary_data(self):
        note = FIT_METHOD_NOTE if self.method == "moments" else None
        return summary_data(self, fit_method_note=note, reml=self.reml, reml_criterion=self.objective,
                            deviance=-2.0 * self.loglik, conv_messages=list(self.optinfo.messages))

    def summary(self, ddf: str | None = None, *, digits: int | None = None, correlation: bool | None = None,
                ranef_comp=("Variance", "Std.Dev."), signif_stars: bool = True, show_resids: bool = True):
        """The summary; ``str()`` of it is R's ``print(summary(lmer(...)))``.

        With ``ddf="Satterthwaite"`` or ``"Kenward-Roger"`` it is lmerTest's summary instead (df and
        p-value columns; Kenward-Roger uses the adjusted standard errors). The other keywords are R's
        print options: ``print(summary(m), digits = 3, correlation = TRUE, ranef.comp = "Variance")``
        is ``m.summary(digits=3, correlation=True, ranef_comp=("Variance",))``.
        """
        ranef_comp = self._print_options(digits, ranef_comp, correlation)
        options = {"digits": digits, "correlation": correlation, "ranef_comp": ranef_comp,
                   "signif_stars": bool(signif_stars), "show_resids": bool(show_resids)}
        data = self._summary_data()
        if ddf is not None:
            tables = _tables()
            ddf = tables.normalize_ddf(ddf)
            if ddf is not None:
                tab = tables.coef_table(self, ddf=ddf)
                data.ddf_method = ddf
                data.std_errors = tab["Std. Error"].to_numpy()
                data.df = tab["df"].to_numpy()
                data.pvalues = tab["Pr(>|t|)"].to_numpy()
                # lmerTest's fit keeps the formula as written: (Days || Subject) is not expanded
                data.formula = self.design.formula.deparse(expand_double_bars=False)
        return Summary(data, **options)

    # ------------------------------------------------------------------ after the fit (mixedmodels.post.predict)
    def predict(self, newdata=None, re_form=None, allow_new_levels: bool = False):
        """Predictions as lme4's ``predict``: ``re_form=None`` (all random effects), ``"~0"`` (population
        level) or a formula of bars; new levels need ``allow_new_levels=True`` (population prediction)."""
        return _predict.predict(self, newdata, re_form=re_form, allow_new_levels=allow_new_levels)

    def simulate(self, nsim: int = 1, seed=None, use_u: bool = False, *, newdata=None,
                 allow_new_levels: bool = False):
        """Responses simulated from the fitted model (lme4's ``simulate``), a DataFrame sim_1..sim_nsim."""
        return _predict.simulate(self, nsim, seed, use_u, newdata=newdata, allow_new_levels=allow_new_levels)

    def resid(self, type: str = "response", scaled: bool = False):
        """Residuals of a given type (``"response"`` or ``"pearson"``), as lme4's ``residuals``."""
        return _predict.residuals(self, type, scaled=scaled)

    def update(self, formula: str | None = None, **kwargs) -> "LmerFit":
        """R's ``update(m, . ~ . - x, REML = ..., data = ...)``: see :func:`mixedmodels.post.updating.update`."""
        return _updating.update(self, formula, **kwargs)

    def ranova(self, reduce_terms: bool = True):
        """lmerTest's ``ranova(m)``: likelihood-ratio tests of the random-effects terms
        (:func:`mixedmodels.inference.deletions.ranova`)."""
        return _deletions().ranova(self, reduce_terms=reduce_terms)

    def drop1(self, ddf: str = "Satterthwaite"):
        """lmerTest's ``drop1(m)``: F tests of the marginal fixed-effects terms
        (:func:`mixedmodels.inference.deletions.drop1`)."""
        return _deletions().drop1(self, ddf=ddf)

    def step(self, **kwargs):
        """lmerTest's ``step(m)``: backward elimination of random, then fixed effects
        (:func:`mixedmodels.inference.deletions.step`)."""
        return _deletions().step(self, **kwargs)

    def ls_means(self, which=None, level: float = 0.95, ddf: str = "Satterthwaite", pairwise: bool = False):
        """lmerTest's ``ls_means(m)``: least-squares means of the factor terms
        (:func:`mixedmodels.inference.lsmeans.ls_means`)."""
        return _lsmeans().ls_means(self, which=which, level=level, ddf=ddf, pairwise=pairwise)

    def difflsmeans(self, which=None, level: float = 0.95, ddf: str = "Satterthwaite"):
        """lmerTest's ``difflsmeans(m)``: pairwise differences of LS-means."""
        return _lsmeans().difflsmeans(self, which=which, level=level, ddf=ddf)

    def _repr_html_(self) -> str:
        return fit_html(self)

    # ------------------------------------------------------------------ inference (mixedmodels.inference.tables)
    def coef_table(self, ddf: str | None = "Satterthwaite"):
        """Fixed-effects table: Estimate, Std. Error, df, t value, Pr(>|t|) (lmerTest's ``coef(summary(m))``).

        ``ddf`` is ``"Satterthwaite"`` (lmerTest's default), ``"Kenward-Roger"`` (pbkrtest; adjusted
        standard errors) or ``None`` (lme4's table: Estimate, Std. Error, t value).
        """
        return _tables().coef_table(self, ddf=ddf)

    def anova(self, ddf: str = "Satterthwaite", type: int = 3):
        """lmerTest's F-test table per fixed term (``anova(m, type = 3, ddf = "Satterthwaite")``)."""
        return _tables().anova_table(self, ddf=ddf, type=type)

    def test_contrast(self, L, ddf: str = "Satterthwaite", joint: bool = True, **kwargs):
        """F test (joint) or t tests (one per row) of ``L beta = 0`` (lmerTest's ``contest``); extra
        keywords (``rhs``, ``level``, ``confint``) as :func:`mixedmodels.inference.tables.contest`."""
        return _tables().contest(self, L, ddf=ddf, joint=joint, **kwargs)

    def confint(self, method: str = "profile", level: float = 0.95, nsim: int = 500,
                seed: int | None = None, progress: bool = False, **kwargs):
        """Confidence intervals as lme4's ``confint``: ``"Wald"``, ``"profile"`` or ``"boot"``; extra
        keywords (``parm``, ``quiet``, ``old_names``: ``False`` names the variance parameters
        ``sd_(Intercept)|Subject`` instead of lme4's default ``.sig01``) as
        :func:`mixedmodels.inference.tables.confint`."""
        return _tables().confint(self, method=method, level=level, nsim=nsim, seed=seed, progress=progress, **kwargs)

    def format(self, *, digits: int | None = None, ranef_comp=("Std.Dev.",)) -> str:
        """R's ``print(m, digits = , ranef.comp = )`` as text (``repr(m)`` is ``print(m)``)."""
        ranef_comp = self._print_options(digits, ranef_comp)
        return format_print(self._summary_data(), digits=digits, ranef_comp=ranef_comp)


# public names for the fit of partitioned data (mixedmodels.dask)
check_optimizer_options = _check_optimizer_options
start_theta = _start_theta

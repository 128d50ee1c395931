"""After a GLMM fit: predictions on the link or response scale, simulation, Wald intervals, ``drop1`` and
``update`` (lme4's ``predict.merMod``, ``simulate.merMod``, ``confint(method = "Wald")``,
``drop1.merMod(test = "Chisq")`` and R's ``update`` for a ``glmerMod``).

Predictions reuse the linear model's machinery (:func:`mixedmodels.post.predict.predict`) on the linear
predictor, then apply the inverse link for ``type="response"``.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ConvergenceWarning, MixedModelsError
from ..errors import warn as warn_r
from ..fit.pirls import GlmmProblem
from ..formula.parse import deparse, parse_formula
from ..inference.tables import AnovaTable
from .predict import predict as _lmm_predict_public
from .updating import update_formula

__all__ = ["predict", "simulate", "confint_wald", "confint_boot", "drop1", "update"]


@dataclass
class _LinkView:
    """The fitted GLMM seen as the linear model's predictor (fitted = the linear predictor)."""

    design: Any
    fixef: pd.Series
    fitted: pd.Series
    model: Any
    ranef: Any
    _b_blocks: list
    frame_spec: Any = None


def predict(fit, newdata=None, type: str = "link", re_form=None, allow_new_levels: bool = False) -> pd.Series:
    if type not in ("link", "response"):
        raise MixedModelsError(f"type must be 'link' or 'response', not {type!r}")
    view = _LinkView(fit.design, fit.fixef, pd.Series(fit._eta, index=fit.model._index), fit.model, fit.ranef,
                     fit._b_blocks, fit.frame_spec)
    eta = _lmm_predict_public(view, newdata, re_form=re_form, allow_new_levels=allow_new_levels)
    if type == "response":
        eta = pd.Series(fit.family.linkinv(eta.to_numpy()), index=eta.index, name="predicted")
    return eta


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise MixedModelsError(f"seed must be a non-negative whole number, None or a numpy Generator, not {seed!r}")
    return np.random.default_rng(seed)


def simulate(fit, nsim: int = 1, seed=None, use_u: bool = False) -> pd.DataFrame:
    """Responses drawn from the fitted model: new spherical random effects u ~ N(0, I) (or the fitted
    ones with ``use_u``), then the family's distribution around ``mu``. Binomial responses are given on
    the scale of y (proportions when there are trials, as R's response with weights)."""
    if isinstance(nsim, bool) or not isinstance(nsim, (int, np.integer)) or not 1 <= nsim <= 10**6:
        raise MixedModelsError(f"nsim must be a whole number from 1 to 1e6, not {nsim!r}")
    rng = _rng(seed)
    prob = fit.model.problem
    vals = prob.zlambda_values(fit.theta)
    d = fit.design
    fam = fit.family
    wt = fit.model.weights
    out = {}
    base = d.X @ fit.fixef.to_numpy() + d.offset
    for k in range(int(nsim)):
        u = fit._res.u if use_u else rng.standard_normal(prob.q)
        eta = base + prob.zl_times(vals, u)
        mu = fam.linkinv(eta)
        kind = fam.kind
        if kind == "binomial":
            ntr = np.round(wt).astype(np.int64)
            y = np.where(ntr > 0, rng.binomial(np.maximum(ntr, 0), np.clip(mu, 0, 1)) / np.maximum(ntr, 1), 0.0)
        elif kind == "poisson":
            y = rng.poisson(mu).astype(float)
        elif kind == "negbin":
            th = fam.theta
            y = rng.negative_binomial(th, th / (th + mu)).astype(float)
        elif kind == "Gamma":
            disp = fit.sigma ** 2 / wt
            y = rng.gamma(1 / disp, mu * disp)
        elif kind == "inverse.gaussian":
            disp = fit.sigma ** 2 / wt
            y = rng.wald(mu, 1 / disp)
        else:  # gaussian
            y = mu + rng.standard_normal(len(mu)) * fit.sigma / np.sqrt(wt)
        out[f"sim_{k + 1}"] = y
    return pd.DataFrame(out, index=fit.model._index)


def confint_wald(fit, level: float = 0.95) -> pd.DataFrame:
    """lme4's ``confint(m, method = "Wald")``: NA for the covariance parameters, est +- z * se for beta."""
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise MixedModelsError(f"level must be between 0 and 1, not {level!r}")
    a = (1 - level) / 2
    lab = [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]
    z = stats.norm.ppf(1 - a)
    nth = len(fit.theta)
    nsig = nth + (1 if fit.use_scale else 0)
    sig_names = [f".sig{i + 1:02d}" for i in range(nth)] + ([".sigma"] if fit.use_scale else [])
    est, se = fit.fixef.to_numpy(), fit.se.to_numpy()
    lo = np.concatenate([np.full(nsig, np.nan), est - z * se])
    hi = np.concatenate([np.full(nsig, np.nan), est + z * se])
    return pd.DataFrame({lab[0]: lo, lab[1]: hi}, index=sig_names + list(fit.fixef.index))


def _sd_parameters(fit, theta: np.ndarray) -> np.ndarray:
    """lme4's ``.sig01, .sig02, ...`` (and ``.sigma``): per term the standard deviations, then the
    correlations, of sigma^2 lambda lambda' (lme4's order within a term: sd's and correlations as in
    ``as.data.frame(VarCorr(m))``)."""
    out, pos = [], 0
    s2 = fit.sigma ** 2
    for t in fit.design.terms:
        lam = t.lambda_matrix(theta[pos: pos + t.ntheta])
        pos += t.ntheta
        cov = s2 * lam @ lam.T
        sd = np.sqrt(np.diag(cov))
        out.extend(sd)
        for i in range(t.ncols):
            for j in range(i + 1, t.ncols):
                out.append(cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan)
    if fit.use_scale:
        out.append(fit.sigma)
    return np.asarray(out)


def confint_boot(fit, level: float = 0.95, nsim: int = 500, seed=None) -> pd.DataFrame:
    """Parametric bootstrap percentile intervals (lme4's ``confint(m, method = "boot")``): ``nsim``
    responses simulated from the fit, each refitted from the fitted estimates (as ``bootMer`` with
    ``refit``); rows ``.sig01, ...`` (standard deviations and correlations) and the fixed effects.
    Refits that fail are dropped, with a warning saying how many."""
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise MixedModelsError(f"level must be between 0 and 1, not {level!r}")
    rng = _rng(seed)
    sims = simulate(fit, nsim=nsim, seed=rng)
    model = fit.model
    prob = model.problem
    rows, failed = [], 0
    start = {"theta": fit.theta, "fixef": fit.fixef.to_numpy()}
    for col in sims.columns:
        ysim = sims[col].to_numpy()
        m = copy.copy(model)
        m.y = ysim
        m.problem = GlmmProblem(prob.terms, prob.X, ysim, prob.offset, prob.wt, prob.ntrials, prob.family)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = m._fit(nAGQ=fit.nAGQ, start=start)
        except MixedModelsError:
            failed += 1
            continue
        rows.append(np.concatenate([_sd_parameters(f, f.theta), f.fixef.to_numpy()]))
    if failed:
        warn_r(f"{failed} of {nsim} bootstrap refits failed and were dropped", ConvergenceWarning)
    if not rows:
        raise MixedModelsError("every bootstrap refit failed")
    a = (1 - level) / 2
    arr = np.vstack(rows)
    lo = np.quantile(arr, a, axis=0)
    hi = np.quantile(arr, 1 - a, axis=0)
    nsig = arr.shape[1] - len(fit.fixef)
    names = [f".sig{i + 1:02d}" for i in range(nsig - (1 if fit.use_scale else 0))] + \
        ([".sigma"] if fit.use_scale else [])
    lab = [f"{100 * a:.3g} %", f"{100 * (1 - a):.3g} %"]
    return pd.DataFrame({lab[0]: lo, lab[1]: hi}, index=names + list(fit.fixef.index))


def _marginal_terms(design) -> list[str]:
    terms = [t for t in design.fixed_terms if t.label != "(Intercept)"]
    out = []
    for t in terms:
        vs = set(t.variables)
        if not any(o is not t and vs < set(o.variables) for o in terms):
            out.append(t.label)
    return out


def drop1(fit, test: str = "Chisq") -> AnovaTable:
    """R's ``drop1(m, test = "Chisq")`` for a GLMM: each marginal fixed term dropped in turn, the model
    refitted, with npar, AIC, the likelihood-ratio statistic and its chi-square p-value. ``str()`` of the
    table is R's print ("Single term deletions", the model's formula, the table and its stars). As lme4, a
    reduced model that would use other rows (missing values only in a dropped column) is an error."""
    if test not in ("Chisq", "none"):
        raise MixedModelsError(f"test must be 'Chisq' or 'none', not {test!r}")
    rows = {"<none>": (np.nan, fit.aic, np.nan, np.nan)}
    for label in _marginal_terms(fit.design):
        m = update(fit, f". ~ . - {label}")
        if m.nobs != fit.nobs:
            raise MixedModelsError("number of rows in use has changed: remove missing values? (drop1 refits "
                                   f"without '{label}' on {m.nobs} rows, the model used {fit.nobs}; drop the "
                                   "rows with missing values from the data first)")
        df = fit.npar - m.npar
        lrt = 2 * (fit.loglik - m.loglik)
        rows[label] = (df, m.aic, lrt, stats.chi2.sf(max(lrt, 0), df))
    cols = ["npar", "AIC", "LRT", "Pr(Chi)"] if test == "Chisq" else ["npar", "AIC"]
    vals = np.array([r[:len(cols)] for r in rows.values()], dtype=float)
    out = AnovaTable(vals, index=pd.Index(list(rows)), columns=cols)
    out.heading = ["Single term deletions", "\nModel:", fit.design.formula.deparse()]
    out.hypotheses = None
    out.formulae = None
    return out


def update(fit, formula: str | None = None, *, data=None, family=None, nAGQ: int | None = None, **kwargs):
    """R's ``update(m, . ~ . - x, ...)`` for a GLMM: the same call with a changed formula, data, family,
    nAGQ or frame arguments (``weights``, ``offset``, ``subset``, ``na_action``)."""
    model = fit.model
    text = model.formula if formula is None else update_formula(model.formula, formula)
    args = dict(model.frame_args)
    unknown = set(kwargs) - set(args) - {"data_name", "start"}
    if unknown:
        raise MixedModelsError(f"update: unknown arguments {sorted(unknown)}")
    args.update(kwargs)
    start = args.pop("start", None)
    new = type(model)(text, model.data if data is None else data, model.family if family is None else family,
                      data_name=args.pop("data_name", model.data_name), **args)
    return new.fit(nAGQ=fit.nAGQ if nAGQ is None else nAGQ, start=start)

"""Likelihood profiles and profile confidence intervals of a GLMM (lme4's ``profile.merMod`` and
``confint.thpr`` for a ``glmerMod``).

lme4 1.1-31 profiles a GLMM differently from a linear model (:mod:`mixedmodels.inference.profile`):

* There is no sigma (a family with a dispersion parameter is lme4's error "can't (yet) profile GLMMs
  with non-fixed scale parameters"), and nothing is profiled out analytically: the deviance is the
  fit's own Laplace (or adaptive Gauss-Hermite) deviance over ``(theta, beta)``, each evaluation a PIRLS
  run started from the linear predictor at the end of the fit's first stage (lme4's ``devfun``).
* Every parameter -- the standard deviations and correlations ``.sig01, ...`` (``prof.scale =
  "sdcor"``) and the fixed effects alike -- is profiled the same way: held at a value while the deviance
  is minimized over all the others (bounded BOBYQA, started from the previous point's optimum), the
  first step ``1.01`` times the estimate (``0.001`` from zero), then lme4's step rule ``nextpar``.
* The signed root ``zeta = sign(x - x_hat) sqrt(dev(x) - dev_hat)`` is interpolated by a natural cubic
  spline (``interpSpline``) and inverted (``backSpline``) at ``qnorm((1 -+ level) / 2)``, as for the
  linear model (:func:`mixedmodels.inference.profile.confint_profile`, shared).

Our inner optimizations converge more tightly than lme4's default (Nelder-Mead, the optimizer of its
last stage), so the tabulated points can differ from lme4's in the digits its optimizer leaves; the
intervals agree with R's to about 1e-3 (the fixtures of ``tests/r/make_glmm_profile_fixtures.R``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import MixedModelsError
from ..fit.optimize import bobyqa
from .profile import Profile, add_splines, confint_profile, cv_to_sv, fill_profile, note_warning, par_names, \
    profile_both_ways, start_step, sv_to_cv

__all__ = ["glmm_profile", "glmm_confint_profile"]


def glmm_profile(fit, which=None, alphamax: float = 0.01, maxpts: int = 100, delta: float | None = None,
                 delta_cutoff: float = 1 / 8, devtol: float = 1e-9, maxmult: float = 10) -> Profile:
    """Port of ``lme4::profile.merMod`` for a glmer fit (``prof.scale = "sdcor"``, ``signames = FALSE``:
    the variance parameters are named ``sd_(Intercept)|herd``, ``cor_x.(Intercept)|g``).

    ``which``: parameter names, ``"theta_"`` / ``"beta_"``, or 0-based positions in
    ``[sd/cor..., fixed effects...]`` (default: all)."""
    if fit.use_scale:
        raise MixedModelsError("profile intervals are not available for a GLMM with a dispersion parameter "
                               f"(family {fit.family.name}; lme4: \"can't (yet) profile GLMMs with non-fixed "
                               "scale parameters\"); use method='Wald' or 'boot'")
    terms = fit.design.terms
    ncols = [t.ncols for t in terms]
    vnames = par_names(terms)
    fnames = list(fit.design.x_names)
    names = vnames + fnames
    nvp, p = len(vnames), len(fnames)
    nptot = nvp + p
    opt = np.concatenate([cv_to_sv(np.asarray(fit.theta, dtype=float), ncols, 1.0)[:-1],
                          np.asarray(fit._beta, dtype=float)])
    base = float(fit.objective)
    which_idx = _which(which, names, nvp, nptot)
    cutoff = math.sqrt(stats.chi2.ppf(1 - alphamax, nptot))
    if delta is None:
        delta = cutoff * delta_cutoff
    flower = fit.model.problem.theta_lower
    lower = np.concatenate([np.maximum(flower, -1.0), np.full(p, -np.inf)])
    upper = np.concatenate([np.where(flower == 0, np.inf, 1.0), np.full(p, np.inf)])
    msgs: list[str] = []

    def dd(pars: np.ndarray) -> float:
        """lme4's ``devfun2`` of a GLMM: the fit's deviance at (sd/cor..., beta)."""
        th = sv_to_cv(pars[:nvp], ncols, 1.0)
        try:
            v = fit._dev_at(np.concatenate([th, pars[nvp:]]))
        except MixedModelsError:
            return np.inf
        return v if np.isfinite(v) else np.inf

    if not math.isclose(dd(opt), base, rel_tol=1e-5):
        raise MixedModelsError("the deviance at the estimates does not reproduce the fit's: cannot profile")

    fillmat = functools.partial(fill_profile, delta=delta, maxmult=maxmult, cutoff=cutoff,
                                warn=lambda text: note_warning(msgs, text))

    res = np.tile(np.concatenate([[0.0], opt]), (maxpts, 1))
    rows_all = []
    forward: dict = {}
    backward: dict = {}
    for w in which_idx:
        pw = opt[w]
        others = np.array([k for k in range(nptot) if k != w], dtype=int)
        lo_o, hi_o = lower[others], upper[others]
        # BOBYQA's first steps: a tenth of each other parameter's scale
        scale = np.maximum(np.abs(opt[others]) * 0.1, 0.02)

        def zeta(xx, prev_row, w=w, pw=pw, others=others, lo_o=lo_o, hi_o=hi_o, scale=scale):
            start = np.clip(prev_row[1:][others], lo_o, hi_o)
            pars = np.empty(nptot)
            pars[w] = xx

            def fn(x):
                pars[others] = x
                return dd(pars)

            if len(others):
                x, _, _ = bobyqa(fn, start, lo_o, upper=hi_o, ftol_abs=1e-10, xtol_abs=1e-9,
                                 initial_step=np.minimum(scale, np.where(np.isfinite(hi_o), (hi_o - lo_o) / 4, np.inf)))
            else:
                x = start
            fval = fn(x)
            devdiff = fval - base
            out = np.empty(nptot + 1)
            if not np.isfinite(devdiff):
                note_warning(msgs, "NAs detected in profiling")
                out[:] = np.nan
                out[1 + w] = xx
                return out
            if devdiff < -devtol:
                raise MixedModelsError(f"profiling detected new, lower deviance (by {-devdiff:.3g}): the fit "
                                       "did not reach its optimum; refit (e.g. from these values) first")
            if devdiff < 0:
                note_warning(msgs, f"slightly lower deviances (diff={devdiff:g}) detected")
            devdiff = max(0.0, devdiff)
            out[0] = math.copysign(math.sqrt(devdiff), xx - pw) if xx != pw else 0.0
            out[1:] = pars
            out[1 + w] = xx
            out[1:][others] = x
            return out

        bres = profile_both_ways(res, start_step(pw, lower[w], upper[w]), lower[w], upper[w], zeta, w + 1,
                                 fillmat, downwards=pw > lower[w])
        rows_all.append((names[w], bres))
        add_splines(names[w], bres, w + 1, forward, backward, msgs)

    frames = []
    for nm, block in rows_all:
        df = pd.DataFrame(block, columns=[".zeta"] + names)
        df[".par"] = nm
        frames.append(df)
    table = (pd.concat(frames, ignore_index=True) if frames
             else pd.DataFrame(columns=[".zeta"] + names + [".par"]))
    seqnvp = [w for w in which_idx if w < nvp]
    return Profile(table=table, forward=forward, backward=backward,
                   lower={names[w]: lower[w] for w in seqnvp}, upper={names[w]: upper[w] for w in seqnvp},
                   names=[names[w] for w in which_idx], warnings=msgs)


def _which(which, names: list[str], nvp: int, nptot: int) -> list[int]:
    if which is None:
        return list(range(nptot))
    out = []
    for w in ([which] if isinstance(which, (str, int, np.integer)) else which):
        if isinstance(w, str):
            if w == "theta_":
                out.extend(range(nvp))
            elif w == "beta_":
                out.extend(range(nvp, nptot))
            elif w in names:
                out.append(names.index(w))
            elif w.startswith(".sig") and w[4:].isdigit() and 1 <= int(w[4:]) <= nvp:
                out.append(int(w[4:]) - 1)
            else:
                raise MixedModelsError(f"unknown parameter {w!r}; parameters are "
                                       f"{[f'.sig{i + 1:02d}' for i in range(nvp)] + names[nvp:]}")
        elif isinstance(w, (int, np.integer)) and not isinstance(w, bool) and 0 <= w < nptot:
            out.append(int(w))
        else:
            raise MixedModelsError(f"parm: {w!r} is not a parameter name or a position 0..{nptot - 1}")
    return sorted(set(out))


def glmm_confint_profile(fit, level: float = 0.95, parm=None, old_names: bool = True, **kwargs) -> pd.DataFrame:
    """lme4's ``confint(m, method = "profile", level = )`` of a glmer fit: rows ``.sig01, ...`` (with
    ``old_names=False``: ``sd_(Intercept)|herd``, ...) and the fixed effects. Keywords go to
    :func:`glmm_profile`; ``alphamax`` is lme4's 0.01 unless ``level`` needs a longer profile."""
    if not (isinstance(level, (float, int)) and 0 < level < 1):
        raise MixedModelsError(f"level must be between 0 and 1, not {level!r}")
    nptot = len(fit.theta) + len(fit.fixef)
    if "alphamax" not in kwargs:
        z = stats.norm.ppf((1 + level) / 2)
        kwargs["alphamax"] = 0.01 if z <= math.sqrt(stats.chi2.ppf(0.99, nptot)) else (1 - level) / 2
    prof = glmm_profile(fit, which=parm, **kwargs)
    out = confint_profile(prof, level=level)
    if old_names:
        nvp = len(par_names(fit.design.terms))
        vn = par_names(fit.design.terms)
        out.index = pd.Index([f".sig{vn.index(nm) + 1:02d}" if nm in vn[:nvp] else nm for nm in out.index])
    return out

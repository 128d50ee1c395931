"""What users do with a fitted model: predictions, simulated responses, per-group coefficients, residuals.

Ports of lme4's methods for ``merMod`` objects:

=====================================================  ===========================================
lme4 (R)                                               mixedmodels
=====================================================  ===========================================
``predict(m)``                                         ``predict(fit)``
``predict(m, newdata = nd)``                           ``predict(fit, nd)``
``predict(m, nd, re.form = NA)`` (or ``~0``)           ``predict(fit, nd, re_form="~0")`` (or "NA")
``predict(m, nd, re.form = ~(1|g))``                   ``predict(fit, nd, re_form="~(1|g)")``
``predict(m, nd, allow.new.levels = TRUE)``            ``predict(fit, nd, allow_new_levels=True)``
``simulate(m, nsim, seed, use.u = FALSE)``             ``simulate(fit, nsim, seed, use_u=False)``
``coef(m)``                                            ``coef(fit)``
``residuals(m, type = "pearson", scaled = FALSE)``     ``residuals(fit, "pearson", scaled=False)``
=====================================================  ===========================================

Random numbers come from NumPy (``numpy.random.default_rng(seed)``), not from R's generator, so
``simulate`` reproduces R's distribution, not R's draws.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from ..errors import DataError, FormulaError
from ..formula.parse import deparse, parse_formula
from ..frame.design import frame_expression
from ..frame.newdata import NewReTerm, match_levels, re_bars, term_from_fit

__all__ = ["predict", "simulate", "coef", "residuals", "check_nsim", "make_rng"]

_MAX_LEVELS_SHOWN = 10


# ------------------------------------------------------------------------------------ re_form
def _parse_re_form(re_form):
    """lme4's ``re.form``: ``None`` -> all random effects; ``NA`` / ``~0`` -> none; a formula of bars ->
    those terms only. Returns ("all" | "none" | "subset", bars)."""
    if re_form is None:
        return "all", None
    if re_form is pd.NA or (isinstance(re_form, float) and math.isnan(re_form)):
        return "none", []
    if not isinstance(re_form, str):
        raise FormulaError(f"re_form must be None, '~0' (or 'NA') or a formula string such as "
                           f"'~ (1 | g)', not {type(re_form).__name__}")
    compact = "".join(re_form.split())
    if compact in ("~0", "0", "NA", "~-1", "~NA"):
        return "none", []
    f = parse_formula(re_form if "~" in re_form else "~" + re_form)
    if f.lhs is not None:
        raise FormulaError("re_form must be a one-sided formula such as '~ (1 | g)'", re_form, 0,
                           len(re_form))
    bars = re_bars(f.text)
    if not bars:
        raise FormulaError("re_form has no random-effects terms: use '~0' (or 'NA') for population-level "
                           "predictions, or bars such as '~ (1 | g)'", re_form, 0, len(re_form))
    return "subset", (bars, f.text)


def _levels_text(levels: list[str]) -> str:
    shown = ", ".join(str(x) for x in levels[:_MAX_LEVELS_SHOWN])
    return shown + (f", ... ({len(levels)} in all)" if len(levels) > _MAX_LEVELS_SHOWN else "")


def _check_levels(nt: NewReTerm, allow_new_levels: bool) -> None:
    """lme4's checks in ``mkNewReTrms`` / ``levelfun``: missing grouping values and unseen levels are
    errors unless ``allow_new_levels``."""
    if allow_new_levels:
        return
    if np.any(nt.refs == -2):
        raise DataError(f"newdata has missing values in the grouping factor '{nt.group}': they are not "
                        "allowed unless allow_new_levels=True (then those rows get the population-level "
                        "prediction for this term)")
    new = nt.new_levels
    if new:
        raise DataError(f"new level{'s' if len(new) > 1 else ''} of the grouping factor '{nt.group}' in "
                        f"newdata, not seen in fitting: {_levels_text(new)}; pass allow_new_levels=True "
                        "to predict them at the population level for this term")


def _re_contribution(nt: NewReTerm, levels: list[str], b: np.ndarray, allow_new_levels: bool) -> np.ndarray:
    """Z b for one term on new rows: a row's level's conditional modes times its z values; rows of a new
    level (or a missing one), when allowed, get zero (lme4 gives them b = 0)."""
    match_levels(nt, levels)
    _check_levels(nt, allow_new_levels)
    out = np.zeros(len(nt.refs))
    ok = nt.refs >= 0
    out[ok] = np.einsum("ij,ij->i", nt.z[ok], b[nt.refs[ok]])
    return out


def _ranef_columns(fit, group: str, cnames: list[str], source: str):
    """The conditional modes of ``group``'s columns ``cnames`` (lme4's ``get_re`` in ``mkNewReTrms``)."""
    re = fit.ranef
    if group not in re:
        raise FormulaError(f"re_form names the grouping factor '{group}', which is not in the model "
                           f"(grouping factors: {', '.join(re)})")
    frame = re[group]
    cols = list(frame.columns)
    missing = [c for c in cnames if c not in cols]
    if missing:
        raise FormulaError(f"re_form asks for random effects ({source}) not in the model: "
                           f"{', '.join(missing)} of '{group}' (the model has: {', '.join(cols)})")
    pos = [cols.index(c) for c in cnames]
    return [str(x) for x in frame.index], frame.to_numpy()[:, pos]


# ------------------------------------------------------------------------------------ predict
def predict(fit, newdata: pd.DataFrame | None = None, re_form=None, allow_new_levels: bool = False) -> pd.Series:
    """Predictions from a fitted model (lme4's ``predict.merMod``).

    Parameters
    ----------
    fit : LmerFit
    newdata : DataFrame, optional
        Data to predict for (needs the predictors, not the response). ``None`` predicts for the rows the
        model was fitted on (with ``re_form=None`` these are the fitted values).
    re_form : None, "~0" / "NA", or a formula string of bars
        Which random effects to include: all (``None``), none (``"~0"``, ``"NA"`` or ``numpy.nan``: the
        population-level prediction X beta), or only the terms of a formula such as ``"~ (1 | Subject)"``,
        matched to the model's random effects by grouping factor and column name, as lme4 does.
    allow_new_levels : bool
        A level of a grouping factor not seen in fitting (or a missing value) is an error unless True; then
        such rows get the population-level prediction for that term (random effect zero).

    Returns
    -------
    pandas.Series indexed as ``newdata`` (or as the rows used in fitting). Rows of ``newdata`` with a missing
    predictor give NaN (R's ``na.action = na.pass``; where R's ``model.matrix`` fails on a missing factor
    value, the row gives NaN here too).

    Stateful transformations are re-evaluated with the training data's parameters (``poly(x, 2)``,
    ``scale(x)``), and factors coded with the training levels, as R's ``makepredictcall`` and ``xlev`` do.
    """
    mode, bars = _parse_re_form(re_form)
    bars_text = None
    if mode == "subset":
        bars, bars_text = bars
        groups = list(fit.ranef)
        for bar in bars:  # lme4: "grouping factors specified in re.form that were not present ..."
            if bar.group_name not in groups:
                raise FormulaError(f"re_form names the grouping factor '{bar.group_name}', which is not in "
                                   f"the model (grouping factors: {', '.join(groups)})")
    d = fit.design
    beta = np.asarray(fit.fixef, dtype=float)
    if newdata is None:
        if mode == "all":
            return pd.Series(np.asarray(fit.fitted, dtype=float), index=fit.model._index, name="predicted")
        eta = d.X @ beta + d.offset
        if mode == "subset":
            train = _training_rows(fit)
            for nt, bar in zip(fit.frame_spec.random_matrices(train, bars=bars, text=bars_text), bars):
                levels, b = _ranef_columns(fit, nt.group, nt.cnames, deparse(bar.source))
                eta = eta + _re_contribution(nt, levels, b, allow_new_levels)
        return pd.Series(eta, index=fit.model._index, name="predicted")

    spec = fit.frame_spec
    X = spec.fixed_matrix(newdata)
    with np.errstate(invalid="ignore"):
        eta = X @ beta + spec.offset(newdata) + _offset_argument(fit, newdata)
    if mode == "all":
        for nt, t, b in zip(spec.random_matrices(newdata), d.terms, fit._b_blocks):
            eta = eta + _re_contribution(nt, list(t.levels), b, allow_new_levels)
    elif mode == "subset":
        for nt, bar in zip(spec.random_matrices(newdata, bars=bars, text=bars_text), bars):
            levels, b = _ranef_columns(fit, nt.group, nt.cnames, deparse(bar.source))
            eta = eta + _re_contribution(nt, levels, b, allow_new_levels)
    return pd.Series(eta, index=newdata.index, name="predicted")


# ------------------------------------------------------------------------------------ simulate
def simulate(fit, nsim: int = 1, seed=None, use_u: bool = False, *, newdata: pd.DataFrame | None = None,
             allow_new_levels: bool = False) -> pd.DataFrame:
    """Simulate responses from the fitted model (lme4's ``simulate.merMod`` for a linear mixed model).

    With ``use_u=False`` (lme4's default, ``re.form = NA``) every simulation draws new random effects
    ``b = Lambda u``, ``u ~ N(0, sigma^2 I)``, and new residuals: ``y* = X beta + Z b + e``. With
    ``use_u=True`` the random effects are held at their conditional modes and only the residuals are new:
    ``y* = fitted + e``.

    ``seed`` seeds ``numpy.random.default_rng`` (an int, a SeedSequence or a Generator): the same seed
    gives the same simulations, but not R's numbers. ``newdata`` simulates at other covariate values
    (new levels of a grouping factor need ``allow_new_levels=True`` as in lme4; with ``use_u=False`` they
    get random effects drawn like any other level).

    Returns a DataFrame with columns ``sim_1`` ... ``sim_<nsim>`` indexed as the fitted rows (or
    ``newdata``); ``attrs["seed"]`` keeps the seed.
    """
    nsim = check_nsim(nsim)
    rng = make_rng(seed)
    d = fit.design
    re_form = None if use_u else "~0"
    eta = predict(fit, newdata, re_form=re_form, allow_new_levels=allow_new_levels)
    index = eta.index
    eta = eta.to_numpy()
    n = len(eta)
    q = 0 if use_u else max((lam.shape[0] for lam in fit._factor.lambdas), default=0)
    _check_simulation_memory(n, nsim, q)
    try:
        return _simulate(fit, d, rng, eta, index, n, nsim, seed, use_u, newdata, allow_new_levels)
    except MemoryError:
        raise DataError(f"simulate(nsim={nsim:,}) ran out of memory: the result alone is "
                        f"{_gib(8 * n * nsim)} ({n:,} rows x {nsim:,} simulations); ask for fewer "
                        "simulations at a time") from None


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**28 else f"{nbytes / 2**20:.0f} MiB"


def available_memory() -> int | None:
    """Bytes of memory available to this process now (Linux's MemAvailable; else the free pages), or
    None where the system does not say."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _check_simulation_memory(n: int, nsim: int, q: int) -> None:
    """Refuse a simulation that cannot fit in memory before allocating it: the result holds n * nsim
    numbers, and drawing the random effects needs about (1 + q) more arrays of that size."""
    need = 8 * n * nsim * (2 + q)
    avail = available_memory()
    if avail is not None and need > avail:
        fits = max(1, int(nsim * avail / need))
        raise DataError(f"simulate(nsim={nsim:,}) on {n:,} rows needs about {_gib(need)} of memory (the "
                        f"result alone is {_gib(8 * n * nsim)}) but {_gib(avail)} is available: ask for "
                        f"at most about {fits:,} simulations at a time")


def _simulate(fit, d, rng, eta, index, n, nsim, seed, use_u, newdata, allow_new_levels) -> pd.DataFrame:
    sim = np.zeros((n, nsim))
    if not use_u:
        if newdata is None:
            terms = [term_from_fit(t) for t in d.terms]
        else:
            terms = fit.frame_spec.random_matrices(newdata)
            for nt, t in zip(terms, d.terms):
                match_levels(nt, list(t.levels))
                _check_levels(nt, allow_new_levels)
        for nt, lam in zip(terms, fit._factor.lambdas):
            # the levels present in the data simulated on, each with its own draw
            codes, uniq = pd.factorize(pd.Series(nt.labels, dtype=object))
            u = rng.standard_normal((len(uniq), lam.shape[0], nsim))
            b = np.einsum("ij,ljs->lis", lam, u)  # b_l = lambda u_l
            ok = codes >= 0
            sim[ok] += np.einsum("ij,ijs->is", nt.z[ok], b[codes[ok]])
    noise = rng.standard_normal((n, nsim))
    if newdata is None and d.weights is not None:
        # the model's residual SD, sigma / sqrt(w) (lme4 1.1.31's simulate ignores the weights)
        noise /= np.sqrt(d.weights)[:, None]
    # eta + sigma * (sim + noise), in place (no third and fourth array of the result's size)
    sim += noise
    del noise
    sim *= fit.sigma
    sim += eta[:, None]
    out = pd.DataFrame(sim, index=index, columns=[f"sim_{k + 1}" for k in range(nsim)], copy=False)
    out.attrs["seed"] = seed if not isinstance(seed, np.random.Generator) else None
    return out


# ------------------------------------------------------------------------------------ coef
def coef(fit) -> dict[str, pd.DataFrame]:
    """Per-group coefficients, fixed effects plus conditional modes (lme4's ``coef.merMod``).

    One DataFrame per grouping factor, one row per level. Its columns are the fixed effects in their
    order, each plus the level's random effect where the grouping factor has one (a fixed effect without a
    random effect is the same in every row); a random-effect column with no fixed effect of that name
    comes first, with a fixed part of zero, as in R.
    """
    fef = fit.fixef
    out: dict[str, pd.DataFrame] = {}
    re = fit.ranef
    ref_names: list[str] = []
    for frame in re.values():
        for c in frame.columns:
            if c not in ref_names:
                ref_names.append(c)
    miss = [c for c in ref_names if c not in fef.index]
    columns = miss + list(fef.index)
    base = pd.concat([pd.Series(0.0, index=miss, dtype=float), fef.astype(float)]) if miss else fef.astype(float)
    for group, frame in re.items():
        val = pd.DataFrame(np.tile(base.to_numpy(), (len(frame), 1)), index=frame.index.copy(),
                           columns=columns)
        seen: set[str] = set()
        for j, c in enumerate(frame.columns):
            if c in seen:  # a column twice in one group, e.g. (1|g) + (1|g): lme4 adds the first
                continue
            seen.add(c)
            val[c] = val[c].to_numpy() + frame.iloc[:, j].to_numpy()
        out[group] = val
    return type(re)(out)  # the fit's dict of groups (its print is R's)


def _training_rows(fit) -> pd.DataFrame:
    """The rows the model was fitted on (the fit keeps its data as ``model.data``)."""
    data = getattr(fit.model, "data", None)
    if not isinstance(data, pd.DataFrame):
        raise DataError("predicting with re_form needs the data the model was fitted on, and this model "
                        "does not keep it (model.data)")
    return data.iloc[fit.design.rows]


def _offset_argument(fit, newdata: pd.DataFrame) -> np.ndarray | float:
    """lmer's ``offset=`` evaluated on new data, as lme4's predict does (it evaluates the call's offset
    in newdata): a column name is looked up there; an array given for the training rows cannot be."""
    arg = getattr(fit.model, "refit_args", {}).get("offset")
    if arg is None:
        return 0.0
    if not isinstance(arg, str):
        raise DataError("the model's offset= was given as an array for the training rows; give it as a "
                        "column name or an R expression to predict on new data")
    if arg in newdata.columns:
        try:
            return pd.to_numeric(newdata[arg]).to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"the offset column {arg!r} of newdata must be numbers") from None
    if arg in fit.model.data.columns:
        raise DataError(f"newdata has no column {arg!r}, the model's offset")
    # an R expression (offset = "log(Time)"): evaluated in newdata, as lme4's predict does
    return np.asarray(frame_expression(arg, newdata, "offset (in newdata)"), dtype=float)


# ------------------------------------------------------------------------------------ residuals
_RESID_TYPES = ("response", "pearson", "working", "deviance")


def check_nsim(nsim) -> int:
    """A whole number of simulations, at least 1 (a float like 2.7 is refused, not truncated)."""
    ok = isinstance(nsim, (int, np.integer)) and not isinstance(nsim, (bool, np.bool_)) or (
        isinstance(nsim, (float, np.floating)) and np.isfinite(nsim) and float(nsim).is_integer())
    if not ok or nsim < 1 or nsim > 10**6:
        raise DataError(f"nsim must be a whole number from 1 to 1e6, not {nsim!r}")
    return int(nsim)


def make_rng(seed) -> np.random.Generator:
    """NumPy's generator from a seed (a non-negative whole number or None) or a Generator as given."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise DataError(f"seed must be a non-negative whole number, None or a numpy Generator, not {seed!r}")
    return np.random.default_rng(seed)


def residuals(fit, type: str = "response", scaled: bool = False) -> pd.Series:
    """Residuals (lme4's ``residuals.merMod`` for a linear mixed model).

    ``type`` is ``"response"`` (y minus fitted), ``"pearson"``, ``"working"`` or ``"deviance"``. Without
    prior weights all four are the same number in lme4: its Pearson residuals are the weighted residuals
    ``sqrt(w) (y - mu)``, not divided by sigma. ``scaled=True`` divides by sigma (lme4's ``scaled = TRUE``,
    which the summary's "Scaled residuals" use).
    """
    if type not in _RESID_TYPES:
        raise DataError(f"type must be one of {', '.join(repr(t) for t in _RESID_TYPES)}, not {type!r}")
    if not isinstance(scaled, (bool, np.bool_)):
        raise DataError(f"scaled must be True or False, not {scaled!r}")
    r = np.asarray(fit.design.y - np.asarray(fit.fitted, dtype=float), dtype=float)
    w = fit.design.weights
    if w is not None and type in ("pearson", "deviance"):  # lme4: sqrt(w) (y - mu)
        r = r * np.sqrt(w)
    if scaled:
        r = r / fit.sigma
    return pd.Series(r, index=fit.model._index, name="residuals")

"""Likelihood profiles and profile confidence intervals (lme4's ``profile.merMod`` / ``confint.thpr``).

The algorithm is lme4 1.1-31's:

* The fit is refitted by maximum likelihood (``refitML``); every profile is of the ML deviance.
* Variance parameters are profiled on the standard-deviation/correlation scale (``prof.scale =
  "sdcor"``): ``(sd_..., cor_..., sigma)``. For one parameter fixed at a value, the deviance
  ``log|L_Z|^2 + r^2/sigma^2 + n log(2 pi sigma^2)`` is minimized over the other ones (bounded BOBYQA,
  the start being the previous point's optimum) -- ``devfun2``.
* A fixed effect ``beta_j`` is profiled by moving ``X_j beta_j`` into the offset and minimizing the
  profiled ML deviance of the reduced model over theta.
* The signed square root ``zeta = sign(x - x_hat) sqrt(dev(x) - dev_hat)`` is tabulated from the
  estimate outwards in both directions, with lme4's step rule (``nextpar``: steps aimed at increments
  ``delta = sqrt(qchisq(1 - alphamax, npar)) / 8`` of zeta, capped at ``maxmult`` times the previous
  step) until ``|zeta|`` exceeds the cutoff or a bound is hit.
* An interpolating natural cubic spline of zeta against the parameter (``splines::interpSpline``) is
  inverted (``splines::backSpline``) and evaluated at ``qnorm((1 -+ level) / 2)``; a value beyond the
  tabulated range becomes the parameter's bound (0 for a standard deviation, -1/1 for a correlation).
  When the inversion fails (a non-monotone profile), lme4 falls back to linear interpolation
  (``confint.thpr``) and so does this module, with the same warnings.

Because our optimizer converges more tightly than lme4's default nloptwrap settings, the tabulated
points can differ from lme4's in the last digits; on the reference models the intervals agree with R's to
1e-6 typically and 3e-5 at worst (Orthodont's sigma).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from scipy.interpolate import CubicSpline

from ..fit.criterion import ProfiledCriterion
from ..fit.crossprod import CrossProducts
from ..errors import MixedModelsError
from ..errors import warn
from ..fit.linalg import NotPositiveDefinite
from ..fit.optimize import bobyqa, optimize_theta
from ..fit.threads import scoped as threads_scoped
from ..rbase.rformat import format_num

__all__ = ["Profile", "profile", "confint_profile", "profile_alphamax", "interp_spline", "back_spline", "PolySpline",
           "par_names", "cv_to_sv", "sv_to_cv"]

_LOG2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------------ parameter scales
def par_names(terms, prefix: tuple[str, str] = ("sd", "cor")) -> list[str]:
    """lme4's ``tnames(old = FALSE, prefix = c("sd", "cor"))``: ``sd_(Intercept)|Subject``,
    ``cor_Days.(Intercept)|Subject``, ... in theta's order (lower triangle, column-major)."""
    out = []
    for t in terms:
        e = t.cnames
        s = len(e)
        for j in range(s):
            for i in range(j, s):
                if i == j:
                    out.append(f"{prefix[0]}_{e[i]}|{t.group}")
                else:
                    out.append(f"{prefix[1]}_{e[i]}.{e[j]}|{t.group}")
    return out


def _tril_pairs(s: int) -> list[tuple[int, int]]:
    return [(i, j) for j in range(s) for i in range(j, s)]


def cv_to_sv(theta: np.ndarray, ncols: list[int], sigma: float) -> np.ndarray:
    """lme4's ``Cv_to_Sv(theta, n, s = sigma)``: per term the standard deviations and correlations of
    ``sigma^2 lambda lambda'`` (lower triangle, column-major), then sigma."""
    out = []
    pos = 0
    for s in ncols:
        k = s * (s + 1) // 2
        lam = np.zeros((s, s))
        for (i, j), v in zip(_tril_pairs(s), theta[pos: pos + k]):
            lam[i, j] = v
        pos += k
        V = lam @ lam.T * sigma ** 2
        sd = np.sqrt(np.diag(V))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = V / np.outer(sd, sd)
        r[np.diag_indices(s)] = sd
        r = np.where(np.isnan(r), 0.0, r)  # lme4: "NA values in sdcor matrix converted to 0"
        out.extend(r[i, j] for i, j in _tril_pairs(s))
    out.append(sigma)
    return np.asarray(out, dtype=float)


def _safe_chol_lower(V: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (lme4's ``t(safe_chol(V))``); a zero
    pivot gives a zero column instead of failing."""
    s = V.shape[0]
    if s == 1:
        return np.sqrt(np.maximum(V, 0.0))
    if np.all(V[~np.eye(s, dtype=bool)] == 0):
        return np.diag(np.sqrt(np.maximum(np.diag(V), 0.0)))
    try:
        return np.linalg.cholesky(V)
    except np.linalg.LinAlgError:
        L = np.zeros((s, s))
        for j in range(s):
            d = V[j, j] - L[j, :j] @ L[j, :j]
            if d <= 1e-14 * max(1.0, abs(V[j, j])):
                continue
            L[j, j] = math.sqrt(d)
            for i in range(j + 1, s):
                L[i, j] = (V[i, j] - L[i, :j] @ L[j, :j]) / L[j, j]
        return L


def sv_to_cv(sv: np.ndarray, ncols: list[int], sigma: float) -> np.ndarray:
    """lme4's ``Sv_to_Cv(v, n, s = sigma)``: theta from standard deviations / correlations (``sv``
    without sigma)."""
    out = []
    pos = 0
    for s in ncols:
        k = s * (s + 1) // 2
        m = np.zeros((s, s))
        for (i, j), v in zip(_tril_pairs(s), sv[pos: pos + k]):
            m[i, j] = m[j, i] = v
        pos += k
        sd = np.diag(m).copy()
        np.fill_diagonal(m, 1.0)
        V = m * np.outer(sd, sd) / sigma ** 2
        L = _safe_chol_lower(V)
        out.extend(L[i, j] for i, j in _tril_pairs(s))
    return np.asarray(out, dtype=float)


# ------------------------------------------------------------------------------ splines
@dataclass
class PolySpline:
    """``splines``' ``polySpline``: at each knot the value and the scaled derivatives (columns:
    ``f, f', f''/2, f'''/6``); the piece to the right of knot i uses row i."""

    knots: np.ndarray
    coef: np.ndarray

    def __call__(self, x) -> np.ndarray:
        """``predict.polySpline``: NaN outside ``(knots[0], knots[-1]]`` (``knots[0]`` included)."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        k = self.knots
        out = np.full(len(x), np.nan)
        for t, xv in enumerate(x):
            if not np.isfinite(xv):
                continue
            if xv == k[0]:
                i = 0
            else:
                # cut(x, knots): interval (k[i], k[i+1]]
                i = int(np.searchsorted(k, xv, side="left")) - 1
                if i < 0 or i >= len(k) - 1:
                    continue
            c = self.coef[i]
            dx = xv - k[i]
            out[t] = ((c[3] * dx + c[2]) * dx + c[1]) * dx + c[0]
        return out


def interp_spline(x: np.ndarray, y: np.ndarray) -> PolySpline:
    """``splines::interpSpline(x, y)`` (natural cubic interpolating spline) in its ``polySpline`` form."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    o = np.argsort(x, kind="stable")
    x, y = x[o], y[o]
    if len(np.unique(x)) != len(x):
        raise ValueError("values of 'x' must be distinct")
    if len(x) < 4:
        raise ValueError("must have at least 'ord'=4 points")
    cs = CubicSpline(x, y, bc_type="natural")
    n = len(x)
    coef = np.zeros((n, 4))
    coef[:-1, 0] = y[:-1]
    coef[:-1, 1] = cs.c[2]
    coef[:-1, 2] = cs.c[1]
    coef[:-1, 3] = cs.c[0]
    coef[-1, 0] = y[-1]
    coef[-1, 1] = cs(x[-1], 1)
    coef[-1, 2] = 0.0
    coef[-1, 3] = cs.c[0, -1]
    coef[0, 2] = 0.0
    return PolySpline(x, coef)


def back_spline(sp_: PolySpline) -> PolySpline:
    """``splines::backSpline`` of a monotone cubic ``polySpline``: the inverse function."""
    knots = sp_.knots
    nk = len(knots)
    kdiff = np.diff(knots)
    if np.any(kdiff <= 0):
        raise ValueError("knot positions must be strictly increasing")
    coeff = sp_.coef
    bknots = coeff[:, 0]
    adiff = np.diff(bknots)
    if np.all(adiff < 0):
        rev = True
    elif np.all(adiff > 0):
        rev = False
    else:
        raise ValueError("spline must be monotone")
    b = np.zeros_like(coeff)
    b[:, 0] = knots
    with np.errstate(divide="ignore"):
        b[:, 1] = 1.0 / coeff[:, 1]
    for i in range(nk - 1):
        a = np.array([[adiff[i] ** 2, adiff[i] ** 3], [2 * adiff[i], 3 * adiff[i] ** 2]])
        rhs = np.array([kdiff[i] - adiff[i] * b[i, 1], b[i + 1, 1] - b[i, 1]])
        b[i, 2:4] = np.linalg.solve(a, rhs)
    b[nk - 1, 1:4] = np.nan
    if nk > 2:
        b[0, 3] = b[nk - 2, 3] = 0.0
        a = np.array([[adiff[0], adiff[0] ** 2], [1.0, 2 * adiff[0]]])
        b[0, 1:3] = np.linalg.solve(a, np.array([kdiff[0], 1.0 / coeff[1, 1]]))
        b[nk - 2, 2] = (kdiff[nk - 2] - adiff[nk - 2] * b[nk - 2, 1]) / adiff[nk - 2] ** 2
    if b[0, 2] > 0:
        b[0, 2] = 0.0
        b[0, 1] = kdiff[0] / adiff[0]
    if b[nk - 2, 2] < 0:
        b[nk - 2, 2] = 0.0
        b[nk - 2, 1] = kdiff[nk - 2] / adiff[nk - 2]
    if rev:
        return PolySpline(bknots[::-1].copy(), b[::-1].copy())
    return PolySpline(bknots.copy(), b)


# ------------------------------------------------------------------------------ bounded BOBYQA
def _bobyqa(fun, x0, lower, upper, ftol_abs=1e-10, xtol_abs=1e-9, maxeval=100_000):
    """Minimize ``fun`` over the box with NLopt's BOBYQA (lme4's ``nloptwrap``); returns (x, f)."""
    x0 = np.clip(np.asarray(x0, dtype=float), lower, upper)
    if len(x0) == 0:
        return x0, float(fun(x0))
    x, _, _ = bobyqa(fun, x0, lower, ftol_abs=ftol_abs, xtol_abs=xtol_abs, maxeval=maxeval, upper=upper)
    return x, float(fun(x))


# ------------------------------------------------------------------------------ the profile
@dataclass
class Profile:
    """A likelihood profile (lme4's ``thpr``).

    ``table`` has one row per tabulated point: ``.zeta``, every parameter, and ``.par`` (the parameter
    profiled). ``backward`` maps each parameter to the inverse spline (or the exception when the
    inversion failed); ``lower``/``upper`` are the bounds of the variance parameters.
    """

    table: pd.DataFrame
    forward: dict
    backward: dict
    lower: dict
    upper: dict
    names: list[str]
    warnings: list[str] = field(default_factory=list)


def _ml_fit(fit):
    """lme4's ``refitML``: the ML fit (the fit itself when it is ML), started at the REML theta."""
    if not fit.reml:
        return fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit.model.fit("ML", theta0=np.asarray(fit.theta, dtype=float))


def fill_profile(mat: np.ndarray, lo: float, hi: float, zetafun, cc: int, *, delta: float, maxmult: float,
                 cutoff: float, warn) -> np.ndarray:
    """lme4's ``profile.merMod`` filling one direction of one parameter's profile: from the last two
    filled rows of ``mat`` (column 0 the signed root zeta, column ``cc`` the parameter) the next value by
    lme4's ``nextpar`` rule (a step aimed at an increment ``delta`` of zeta, at least ``minstep``, at most
    ``maxmult`` times the previous step, within ``[lo, hi]``), its row from ``zetafun(value, previous
    row)``, until zeta passes ``cutoff``, the bounds are reached or the rows run out. ``warn(text)``
    reports lme4's warnings. Shared by the linear and the generalized profiles."""
    minstep = 1e-6

    def nextpar(r: int) -> float:
        pvals = mat[[r - 1, r], cc]
        zeta = mat[[r - 1, r], 0]
        num = pvals[1] - pvals[0]
        denom = zeta[1] - zeta[0]
        if not np.isfinite(denom) or denom == 0:
            warn("Last two rows have identical or NA .zeta values: using minstep")
            step = minstep
        else:
            step = delta * num / denom
            if step < 0:
                warn("unexpected decrease in profile: using minstep")
                step = minstep
            elif r > 0:
                maxstep = abs(maxmult * num)
                if abs(step) > maxstep:
                    step = math.copysign(maxstep, step)
        return min(hi, max(lo, pvals[1] + np.sign(num) * step))

    nr = mat.shape[0]
    i = 1  # 0-based row of the last filled point (lme4's i = 2)
    while (i < nr - 1 and lo < mat[i, cc] < hi
           and (np.isnan(mat[i, 0]) or abs(mat[i, 0]) <= cutoff)):
        mat[i + 1] = zetafun(nextpar(i), mat[i])
        i += 1
    return mat


def profile_both_ways(res: np.ndarray, start: float, lo: float, hi: float, zetafun, col: int, fillmat,
                      downwards: bool = True) -> np.ndarray:
    """One parameter's profile rows in both directions from the estimate (``res``: rows of the optimum,
    column ``col`` the parameter), as lme4's ``profile.merMod``: the first step to ``start``, then
    ``fillmat`` upwards and (when ``downwards``) downwards; the rows deduplicated and sorted by the
    parameter."""
    pres = res.copy()
    nres = res.copy()
    first = zetafun(start, res[0])
    pres[1] = first
    nres[0] = first
    upperf = fillmat(pres, lo, hi, zetafun, col)
    lowerf = fillmat(nres, lo, hi, zetafun, col) if downwards else nres
    bres = _unique_rows(np.vstack([upperf, lowerf]))
    return bres[np.argsort(bres[:, col], kind="stable")]


def note_warning(msgs: list[str], text: str) -> None:
    """Warn and keep the text in ``msgs`` (the profile's messages)."""
    msgs.append(text)
    warn(text, UserWarning)



def start_step(pw: float, lo: float, hi: float) -> float:
    """lme4's first profile step from the estimate ``pw`` of a variance parameter (0.001 from zero, else
    1% further); from an estimate on a bound (a correlation of -1 or 1 at a singular fit) a step into the
    interior instead of out of the parameter space, where the deviance is not defined."""
    shiftpar = 0.001 if pw == 0 else pw * 1.01
    if not lo < shiftpar < hi:
        span = min(hi, pw + 1.0) - max(lo, pw - 1.0)
        shiftpar = pw + 0.01 * span if pw <= lo else pw - 0.01 * span
    return shiftpar


def add_splines(name: str, bres: np.ndarray, col: int, forward: dict, backward: dict, msgs: list[str],
                drop_missing: bool = True) -> None:
    """The forward (parameter -> zeta) and backward interpolation splines of one profile trace (``bres``,
    column ``col`` the parameter); rows with missing values are dropped (``drop_missing``) or make the
    trace fail; a trace that cannot be interpolated keeps its exception in ``backward`` and warns."""
    try:
        if drop_missing:
            ok = ~np.isnan(bres[:, 0]) & ~np.isnan(bres[:, col])
            x, z = bres[ok, col], bres[ok, 0]
        else:
            if np.isnan(bres[:, [0, col]]).any():
                raise ValueError("missing values in the profile")
            x, z = bres[:, col], bres[:, 0]
        fwd = interp_spline(x, z)
        forward[name] = fwd
        backward[name] = back_spline(fwd)
    except (ValueError, np.linalg.LinAlgError) as exc:
        backward[name] = exc
        note_warning(msgs, f"non-monotonic profile for {name}")


@threads_scoped
def profile(fit, which=None, alphamax: float = 0.01, maxpts: int = 100, delta: float | None = None,
            delta_cutoff: float = 1 / 8, devtol: float = 1e-9, maxmult: float = 10) -> Profile:
    """Port of ``lme4::profile.merMod`` (``prof.scale = "sdcor"``, ``signames = FALSE``).

    ``which``: parameter names or 0-based indices into ``[sd/cor..., sigma, fixed effects...]``
    (default: all).
    """
    fm = _ml_fit(fit)
    d = fm.design
    terms = d.terms
    ncols = [t.ncols for t in terms]
    crit = fm.model.criterion(False)
    n, p = d.n, d.p
    base = float(fm.objective)
    thopt = np.asarray(fm.theta, dtype=float)
    sig = float(fm.sigma)
    vnames = par_names(terms) + ["sigma"]
    fnames = list(d.x_names)
    names = vnames + fnames
    opt = np.concatenate([cv_to_sv(thopt, ncols, sig), np.asarray(fm._beta, dtype=float)])
    nvp = len(vnames)
    nptot = nvp + p
    stderr = np.sqrt(np.diag(np.asarray(fm.vcov, dtype=float)))
    if which is None:
        which_idx = list(range(nptot))
    else:
        which_idx = []
        for w in ([which] if isinstance(which, (str, int)) else which):
            if isinstance(w, str):
                if w == "theta_":
                    which_idx.extend(range(nvp))
                elif w == "beta_":
                    which_idx.extend(range(nvp, nptot))
                elif w in names:
                    which_idx.append(names.index(w))
                else:
                    raise MixedModelsError(f"unknown parameter {w!r}; parameters are {names}")
            else:
                which_idx.append(int(w))
        which_idx = sorted(set(which_idx))
    cutoff = math.sqrt(stats.chi2.ppf(1 - alphamax, nptot))
    if delta is None:
        delta = cutoff * delta_cutoff
    flower = crit.lower_bounds()
    lower = np.concatenate([np.maximum(flower, -1.0), [0.0], np.full(p, -np.inf)])
    upper = np.concatenate([np.where(flower == 0, np.inf, 1.0), [np.inf], np.full(p, np.inf)])
    msgs: list[str] = []

    def dd(pars: np.ndarray) -> float:
        """lme4's ``devfun2``: ML deviance at (sd/cor..., sigma), beta profiled."""
        sigma = pars[-1]
        if not sigma > 0:
            return np.inf
        th = sv_to_cv(pars[:-1], ncols, sigma)
        try:
            f = crit.factor(th, need_C=False)
        except NotPositiveDefinite:
            return np.inf
        return f.logdet_L + f.pwrss / sigma ** 2 + n * (_LOG2PI + math.log(sigma ** 2)) - crit.log_w

    def beta_at(pars: np.ndarray) -> np.ndarray:
        th = sv_to_cv(pars[:-1], ncols, pars[-1])
        try:
            return crit.solve(crit.factor(th))[0]
        except NotPositiveDefinite:
            return np.full(p, np.nan)

    fillmat = functools.partial(fill_profile, delta=delta, maxmult=maxmult, cutoff=cutoff,
                                warn=lambda text: note_warning(msgs, text))

    res = np.tile(np.concatenate([[0.0], opt]), (maxpts, 1))
    rows_all: list[np.ndarray] = []
    forward: dict = {}
    backward: dict = {}
    seqnvp = [w for w in which_idx if w < nvp]
    for w in seqnvp:
        pw = opt[w]
        others = [k for k in range(nvp) if k != w]
        lo_o, hi_o = lower[others], upper[others]

        def zeta(xx, prev_row, w=w, pw=pw, others=others, lo_o=lo_o, hi_o=hi_o):
            start = prev_row[1:nvp + 1][others]

            def fn(x):
                pars = np.empty(nvp)
                pars[w] = xx
                pars[others] = x
                return dd(pars)

            x, fval = _bobyqa(fn, start, lo_o, hi_o)
            if np.any(np.isclose(x, lo_o, atol=1e-6) | np.isclose(x, hi_o, atol=1e-6)):
                # a parameter ended on its bound (a correlation at -1 at a singular fit): BOBYQA can stall
                # there, so also start from the optimum's values with correlations pulled inside (-1, 1)
                alt = np.clip(opt[:nvp][others], lo_o, hi_o)
                alt = np.where(np.isfinite(hi_o) & (hi_o <= 1), np.clip(alt, -0.9, 0.9), alt)
                x2, f2 = _bobyqa(fn, alt, lo_o, hi_o)
                if f2 < fval:
                    x, fval = x2, f2
            devdiff = fval - base
            if not np.isfinite(devdiff):
                note_warning(msgs, "NAs detected in profiling")
                out = np.full(nptot + 1, np.nan)
                out[1 + w] = xx
                return out
            if devdiff < -devtol:
                raise MixedModelsError("profiling detected new, lower deviance")
            if devdiff < 0:
                note_warning(msgs, f"slightly lower deviances (diff={devdiff:g}) detected")
            devdiff = max(0.0, devdiff)
            pars = np.empty(nvp)
            pars[w] = xx
            pars[others] = x
            return np.concatenate([[math.copysign(math.sqrt(devdiff), xx - pw) if xx != pw else 0.0],
                                   pars, beta_at(pars)])

        bres = profile_both_ways(res, start_step(pw, lower[w], upper[w]), lower[w], upper[w], zeta, w + 1,
                                 fillmat, downwards=pw > lower[w])
        rows_all.append((names[w], bres))
        add_splines(names[w], bres, w + 1, forward, backward, msgs)

    # fixed effects: X_j beta_j moved into the offset, theta re-optimized (ML, sigma profiled)
    fp = [w - nvp for w in which_idx if w >= nvp]
    if fp:
        aug = _AugmentedCrossProducts(fm)
    for j in fp:
        est = opt[nvp + j]
        std = stderr[j]

        def fe_zeta(fw, prev_row, j=j, est=est):
            c2 = aug.criterion(j, fw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                o = optimize_theta(c2, thopt, c2.lower_bounds())
            f = c2.factor(o.theta)
            fv = c2.objective_from_factor(f)
            sg = math.sqrt(f.pwrss / n)
            b = c2.solve(f)[0]
            beta = np.insert(b, j, fw)
            z = math.copysign(math.sqrt(max(0.0, fv - base)), fw - est) if fw != est else 0.0
            return np.concatenate([[z], cv_to_sv(o.theta, ncols, sg), beta])

        poff = nvp + 1 + j
        bres = profile_both_ways(res, est + delta * std, -np.inf, np.inf, fe_zeta, poff, fillmat)
        rows_all.append((names[nvp + j], bres))
        add_splines(names[nvp + j], bres, poff, forward, backward, msgs, drop_missing=False)

    frames = []
    for nm, block in rows_all:
        df = pd.DataFrame(block, columns=[".zeta"] + names)
        df[".par"] = nm
        frames.append(df)
    table = (pd.concat(frames, ignore_index=True) if frames
             else pd.DataFrame(columns=[".zeta"] + names + [".par"]))
    lo = {names[w]: lower[w] for w in seqnvp}
    hi = {names[w]: upper[w] for w in seqnvp}
    return Profile(table=table, forward=forward, backward=backward, lower=lo, upper=hi,
                   names=[names[w] for w in which_idx], warnings=msgs)


def _unique_rows(M: np.ndarray) -> np.ndarray:
    """R's ``unique()`` of matrix rows (first occurrence kept, NaN equal to NaN)."""
    seen = set()
    keep = []
    for i, row in enumerate(M):
        key = tuple("nan" if np.isnan(v) else float(v) for v in row)
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return M[keep]


class _AugmentedCrossProducts:
    """Cross-products of ``[Z, X_-j, y - offset - X_j b]`` for any column j and value b, derived from
    those of ``[Z, X, y - offset]`` without touching the data again."""

    def __init__(self, fm):
        crit = fm.model.criterion(False)
        self.cp = crit.cp  # its response row is y - offset - shift (centered when X has an intercept)
        self.shift = crit.y_shift
        self.int_col = crit.int_col
        self.weights = crit.weights
        self.terms = crit.terms
        self.qrest = crit.qrest
        self.p = crit.p
        d = fm.design
        self.n = d.n
        # a model whose rows stay in their partitions builds criteria from cross-products alone
        self.stats_criterion = getattr(fm.model, "criterion_from_crossproducts", None)
        self.X = d.X
        self.y = d.y - d.offset

    def criterion(self, j: int, b: float) -> ProfiledCriterion:
        """The ML criterion of ``y - offset - X_j b`` on ``X`` without column j."""
        cp = self.cp
        m = cp.ARR.shape[0]
        ix = self.qrest + j
        iy = m - 1
        # the stored response is y - shift: y - X_j b is (y - shift) - X_j (b - shift) when j is the
        # intercept, and (y - shift) - X_j b, still shifted by `shift`, otherwise
        shift = 0.0
        if self.shift:
            if j == self.int_col:
                b = b - self.shift
            else:
                shift = self.shift
        keep = [k for k in range(m - 1) if k != ix]
        AR1 = cp.AR1.tocsr()
        ynew_row = AR1[iy] - b * AR1[ix]
        AR1n = sp.vstack([AR1[keep], ynew_row], format="csr")
        AR1n.sum_duplicates()
        AR1n.sort_indices()
        A = cp.ARR
        ARRn = np.empty((m - 1, m - 1))
        ARRn[:-1, :-1] = A[np.ix_(keep, keep)]
        col = A[keep, iy] - b * A[keep, ix]
        ARRn[:-1, -1] = col
        ARRn[-1, :-1] = col
        ARRn[-1, -1] = A[iy, iy] - 2 * b * A[ix, iy] + b * b * A[ix, ix]
        cpn = CrossProducts(cp.A11, AR1n, ARRn)
        if self.stats_criterion is not None:  # a model without rows on the client (a Dask DataFrame)
            ic = self.int_col
            ic = None if ic is None or ic == j else (ic - 1 if ic > j else ic)
            return self.stats_criterion(cpn, self.p - 1, ic, shift, False)
        Xd = np.delete(self.X, j, axis=1)
        yd = self.y - b * self.X[:, j] - (self.shift if j == self.int_col else 0.0)
        return ProfiledCriterion(self.terms, Xd, yd, reml=False, crossprods=cpn, y_shift=shift,
                                 weights=self.weights)


def _approx(x: np.ndarray, y: np.ndarray, xout: np.ndarray) -> np.ndarray:
    """R's ``approxfun(x, y)(xout)`` (linear, ``rule = 1``, ties averaged, NAs dropped)."""
    ok = ~(np.isnan(x) | np.isnan(y))
    x, y = x[ok], y[ok]
    if len(x) == 0:
        return np.full(len(xout), np.nan)
    ux = np.unique(x)
    uy = np.array([y[x == v].mean() for v in ux])
    out = np.interp(xout, ux, uy)
    out[(xout < ux[0]) | (xout > ux[-1])] = np.nan
    return out


def profile_alphamax(fit, level: float) -> float:
    """The ``alphamax`` a profile needs for intervals at ``level``: lme4's 0.01 whenever its profile
    reaches ``qnorm((1 + level) / 2)`` (levels up to 0.99), else ``(1 - level) / 2``, far enough for the
    level asked (lme4's confint profiles to 0.01 whatever the level, so at level = 0.9999 its intervals
    are the parameters' bounds and NA)."""
    nptot = np.size(fit.theta) + 1 + len(fit.fixef)
    if stats.norm.ppf((1 + level) / 2) <= math.sqrt(stats.chi2.ppf(0.99, nptot)):
        return 0.01
    return (1 - level) / 2


def confint_profile(prof: Profile, level: float = 0.95, non_mono_tol: float = 1e-2) -> pd.DataFrame:
    """Port of ``lme4:::confint.thpr``: profile intervals from the inverse splines."""
    a = (1 - level) / 2
    probs = np.array([a, 1 - a])
    zeta = stats.norm.ppf(probs)
    rows = []
    msgs = prof.warnings
    for nm in prof.names:
        b = prof.backward.get(nm)
        bad = False
        pr = np.array([np.nan, np.nan])
        if b is not None and not isinstance(b, Exception):
            pr = b(zeta)
        else:
            sub = prof.table[prof.table[".par"] == nm]
            par = sub[nm].to_numpy(dtype=float)
            zz = sub[".zeta"].to_numpy(dtype=float)
            if np.all(np.isnan(zz)):
                bad = True
                note_warning(msgs, f"bad profile for {nm}")
            elif len(zz) > 1 and np.nanmin((np.diff(zz) < -non_mono_tol).astype(float)) == 1:
                bad = True
                note_warning(msgs, f"non-monotonic profile for {nm}")
            else:
                note_warning(msgs, f"bad spline fit for {nm}: falling back to linear interpolation")
                pr = _approx(zz, par, zeta)
        if not bad:
            short = []
            tab = prof.table.loc[prof.table[".par"] == nm, ".zeta"].to_numpy(dtype=float)
            for k, (side, bound) in enumerate((("lower", prof.lower), ("upper", prof.upper))):
                if np.isnan(pr[k]):
                    pr[k] = bound.get(nm, np.nan)
                    # past the tabulated profile: the bound is right when the profile reached it
                    reached = len(tab) and np.nanmin(tab) <= zeta[0] if k == 0 else \
                        len(tab) and np.nanmax(tab) >= zeta[1]
                    if not (reached or nm in bound and _profile_at_bound(prof, nm, bound[nm])):
                        short.append(side)
            if short:
                note_warning(msgs, f"the profile of {nm} does not extend to the level {level:g}: its "
                      f"{' and '.join(short)} limit{'s are' if len(short) > 1 else ' is'} "
                      f"{'the bounds' if len(short) > 1 else 'the bound'} of the parameter (or NaN); "
                      "profile with a smaller alphamax")
        rows.append(pr)
    return pd.DataFrame(np.array(rows).reshape(-1, 2), index=prof.names, columns=format_perc(probs))


def _profile_at_bound(prof: Profile, nm: str, bound: float) -> bool:
    """Whether the tabulated profile of ``nm`` reached the parameter's bound (then a limit beyond the
    profile is that bound, as lme4 gives it)."""
    vals = prof.table.loc[prof.table[".par"] == nm, nm].to_numpy(dtype=float)
    return bool(len(vals)) and np.isfinite(bound) and bool(np.any(np.abs(vals - bound) <= 1e-8 * (1 + abs(bound))))


def format_perc(probs) -> list[str]:
    """lme4's ``format.perc(probs, 3)``: ``"2.5 %"``, ``"97.5 %"``."""
    return [s.strip() + " %" for s in format_num(100 * np.asarray(probs, dtype=float), digits=3,
                                                 trim=True, scientific=False)]

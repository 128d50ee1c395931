"""glmer against lme4 1.1-31: every reference below was made by tests/r/make_glmm_fixtures.R, which fits
the R call stored in the fixture's "call" field (e.g. ``glmer(cbind(incidence, size - incidence) ~ period +
(1 | herd), data = cbpp, family = binomial)``) and a tightly converged refit of the same model
(``update(m, control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from glmm_cases import CASES, fit, fit_at_lme4, fixtures

ALL = list(CASES)
# lme4's own optimum is not reached by lme4 (convergence warnings, a separated fixed effect whose
# estimate runs off to infinity): compared on the deviance only
UNSTABLE = {"binom_separation"}
# Printed text compared line for line at lme4's estimates. Excluded, and why (each checked below to the
# digit that R's rounding allows):
#   the standard errors come from lme4's finite-difference Hessian (deriv12, step 1e-4), which carries
#   round-off of about 1e-6 relative in lme4 and here alike, so the 6th-7th printed digit can differ:
#   grouse_crossed, grouse_nested, grouse_sqrt, gamma_inverse, contra_slope, contra_agq;
#   verbagg: there the Hessian's round-off reaches 1e-4 relative in the standard errors (its entries span
#   50 to 55000; ours and lme4's Hessians agree to 1e-7 of the largest entry);
#   invgauss_log: lme4's "max|grad|" message prints that gradient (0.0358918) to 6 digits, ours differs
#   in the 4th (the same round-off); binom_separation: the estimate diverges (lme4 warns it cannot
#   evaluate the scaled gradient).
SE_ROUNDING = {"grouse_crossed", "grouse_nested", "grouse_sqrt", "gamma_inverse", "contra_slope", "contra_agq",
               "invgauss_log", "verbagg"}
PRINT_EXACT = [c for c in ALL if c not in SE_ROUNDING | UNSTABLE]


def _quiet(f, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args)


def _best_lme4(f: dict) -> float:
    return min(f["minus2loglik"], f.get("refit", {}).get("minus2loglik", np.inf))


@pytest.mark.parametrize("case", ALL)
def test_deviance_not_worse_than_lme4(case):
    """-2 log L at our optimum is lme4's or lower (lme4's default and its bobyqa refit)."""
    f = fixtures()[case]
    m = _quiet(fit, case)
    assert m.objective <= _best_lme4(f) + 1e-6
    assert m.loglik == pytest.approx(-m.objective / 2)


@pytest.mark.parametrize("case", ALL)
def test_deviance_function_is_lme4s(case):
    """At lme4's estimates our Laplace / AGQ deviance equals lme4's (the same PIRLS path: lp0 starts, the
    1e-7 relative tolerance, the last factorization), so the optimum is the same."""
    f = fixtures()[case]
    a = _quiet(fit_at_lme4, case)
    # gamma_inverse: PIRLS starts from the end of stage one (lme4's lp0), which our BOBYQA places slightly
    # differently from lme4's; with the inverse link's curvature that moves the value by up to 1e-5 (ours
    # lower); everywhere else the two agree to 1e-6 or better
    tol = 1e-5 if case == "gamma_inverse" else 1e-6
    assert a.objective == pytest.approx(f["minus2loglik"], abs=tol)
    assert a.objective <= f["minus2loglik"] + 1e-6
    assert a.aic == pytest.approx(f["aic"], abs=tol)
    assert a.bic == pytest.approx(f["bic"], abs=tol)
    assert a.df_resid == f["df_resid"]
    assert a.nobs == f["nobs"]
    assert a.deviance == pytest.approx(f["deviance"], rel=1e-7)


def _rel(a, b, floor):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), floor))


@pytest.mark.parametrize("case", [c for c in ALL if c not in UNSTABLE])
def test_estimates_match_lme4(case):
    """theta and beta to 1e-4 relative (floor: the standard error for beta, 0.01 for theta) against lme4's
    better optimum (its default or its bobyqa refit)."""
    f = fixtures()[case]
    m = _quiet(fit, case)
    ref = f
    if f.get("refit") and f["refit"]["minus2loglik"] < f["minus2loglik"] - 1e-7:
        ref = f["refit"]  # lme4's default optimizer stops early here: compare with the refit's optimum
    se = np.asarray(f["se"])
    # contra_slope / invgauss_log: lme4 warns max|grad| > 0.002 (not converged): its estimates are looser
    # contra_slope / contra_agq: lme4 reports the Hessian "nearly unidentifiable" (age^2 on another scale):
    # the optimum is flat along it, and both optimizers stop within 1e-3 of a standard error of each other
    tol = 1e-3 if case in ("contra_slope", "invgauss_log", "contra_agq") else 1e-4
    assert _rel(m.theta, ref["theta"], 0.1) < tol
    assert np.max(np.abs(m.fixef.to_numpy() - np.asarray(ref["beta"])) / np.maximum(np.abs(ref["beta"]), se)) < tol
    # standard errors: lme4's finite-difference Hessian is good to about 1e-4 relative (see SE_ROUNDING)
    assert _rel(m.se.to_numpy(), f["se"], 0) < 1e-3


@pytest.mark.parametrize("case", [c for c in ALL if c not in UNSTABLE])
def test_quantities_at_lme4_estimates(case):
    """vcov, ranef, conditional sds, fitted values and residuals of each type at lme4's estimates."""
    f = fixtures()[case]
    a = _quiet(fit_at_lme4, case)
    vc = np.asarray(f["vcov"], dtype=float)
    tol = 2e-3 if case == "verbagg" else 1e-4  # see SE_ROUNDING
    scale = np.sqrt(np.outer(np.diag(vc), np.diag(vc)))  # differences on the correlation scale
    assert np.max(np.abs(a.vcov.to_numpy() - vc) / scale) < tol
    n = len(f["fitted_head"])
    assert _rel(a.fitted.to_numpy()[:n], f["fitted_head"], 1e-8) < 1e-6
    assert _rel(a.predict(type="link").to_numpy()[:n], f["eta_head"], 1e-3) < 1e-6
    for typ in ("deviance", "pearson", "working", "response"):
        assert _rel(a.residuals(type=typ).to_numpy()[:n], f[f"resid_{typ}_head"], 1e-3) < 1e-5, typ
    assert a.sigma == pytest.approx(f["sigma"], rel=1e-6)
    assert a.is_singular == f["is_singular"]
    for gname, g in f["ranef"].items():
        ours = a.ranef[gname]
        assert list(ours.index.astype(str)) == list(g["levels"])
        assert list(ours.columns) == list(g["columns"])
        for j, col in enumerate(g["columns"]):
            assert _rel(ours[col].to_numpy(), g["values"][j], 1e-3) < 1e-4
            assert _rel(a.ranef_condsd[gname][col].to_numpy(), g["condsd"][j], 1e-6) < 1e-4


@pytest.mark.parametrize("case", PRINT_EXACT)
def test_summary_and_print_identical_at_lme4_estimates(case):
    f = fixtures()[case]
    a = _quiet(fit_at_lme4, case)
    assert str(a.summary()) == f["summary_text"]
    assert repr(a) == f["print_text"]


@pytest.mark.parametrize("case", sorted(SE_ROUNDING))
def test_summary_at_lme4_estimates_up_to_hessian_rounding(case):
    """Where lme4's finite-difference Hessian round-off shows in the last printed digits: every line is
    identical except lines of the coefficient table, its correlations and lme4's max|grad| message, whose
    numbers agree to 5e-4 relative (correlations, printed with 3 decimals, to 0.001)."""
    f = fixtures()[case]
    a = _quiet(fit_at_lme4, case)
    ours, ref = str(a.summary()).split("\n"), f["summary_text"].split("\n")
    if case == "contra_slope":  # lme4's max|grad| 0.00314 is over its 0.002 tolerance, ours (same point) is not
        ref = [x for x in ref if not x.startswith("Model failed to converge with max|grad|")]
    assert len(ours) == len(ref)
    names = set(f["beta_names"]) | {n[:11] for n in f["beta_names"]}
    for x, y in zip(ours, ref):
        if x == y:
            continue
        xs, ys = x.split(), y.split()
        assert len(xs) == len(ys) and (xs[0] in names or x.startswith("Model failed")), (x, y)
        for u, v in zip(xs, ys):
            if u != v:
                u, v = float(u.strip("(),=")), float(v.strip("(),="))
                assert abs(u - v) <= max(5e-4 * abs(v), 1.01e-3 if abs(v) < 1 else 0), (x, y)
    # print(m) has no standard errors: identical (but for contra_slope's convergence-message count)
    if case != "contra_slope":
        assert repr(a) == f["print_text"]

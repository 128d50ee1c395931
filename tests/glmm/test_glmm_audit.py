"""The issue-15 audit's checks (docs/glmm-checklist.md): the family/link pairs, arguments and response
forms that tests/glmm/test_glmm_lme4.py's fixtures do not cover, and the post-fit tables printed as R
prints them. Every reference below was made by tests/r/make_glmm_audit_fixtures.R (R 4.2.2, lme4 1.1.31),
which fits the R call stored in each fixture's "call" field, e.g. ``glmer(ycnt ~ x + (1 | g), data = aud,
family = poisson(link = "identity"))``, and a tightly converged refit
(``update(m, control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5)))``)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import FamilyError, FamilyWarning, MixedModelsError, ModelError
from mixedmodels.fit.family import negative_binomial

from audit_cases import CASES, data, extras, fit, fit_at_lme4, fixtures, model
from glmm_cases import data as glmm_data
from glmm_cases import fixtures as glmm_fixtures

# the fits with their own records (the nAGQ = 0 fits are lme4's first stage of three of them)
FITS = [c for c in CASES]
NAGQ0 = ["pois_identity_nagq0", "pois_weights_nagq0", "pois_na_nagq0"]
# pois_identity: lme4's finite-difference Hessian (deriv12, step 1e-4) of the identity-link deviance
# carries round-off of ~1e-3 relative in the intercept's standard error (ours and lme4's, at the same
# point, 0.9013-0.9015 against 0.9007); its coefficient line is compared numerically below
SE_ROUNDING = {"pois_identity"}


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


def _best(f: dict) -> float:
    return min(f["minus2loglik"], f.get("refit", {}).get("minus2loglik", np.inf))


def _rel(a, b, floor):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), floor))


# ================================================================================== fits against lme4
@pytest.mark.parametrize("case", FITS)
def test_optimum_and_estimates_match_lme4(case):
    """-2 log L at our optimum is lme4's (default or bobyqa refit) or lower; theta and beta to 1e-4
    relative (floors: 0.1 for theta, the standard error for beta); standard errors to 1e-3."""
    f = fixtures()[case]
    m = _quiet(fit, case)
    assert m.objective <= _best(f) + 1e-6
    assert m.objective >= _best(f) - 1e-5  # the same optimum, not another model
    assert _rel(m.theta, f["theta"], 0.1) < 1e-4
    se = np.asarray(f["se"])
    assert np.max(np.abs(m.fixef.to_numpy() - f["beta"]) / np.maximum(np.abs(f["beta"]), se)) < 1e-4
    assert _rel(m.se.to_numpy(), se, 0) < 1e-3
    assert list(m.fixef.index) == f["beta_names"]
    assert (m.family.name, m.family.link.name) == (f["family"], f["link"])


@pytest.mark.parametrize("case", FITS)
def test_accessors_at_lme4_estimates(case):
    """At lme4's estimates: the deviance, logLik, AIC, BIC, deviance(), df.residual, nobs, ngrps, sigma,
    isSingular, vcov, ranef with conditional SDs, fitted values (and their row names), the linear
    predictor and the four residual types are lme4's."""
    f = fixtures()[case]
    a = _quiet(fit_at_lme4, case)
    assert a.objective == pytest.approx(f["minus2loglik"], abs=1e-6)
    assert a.loglik == pytest.approx(f["loglik"], abs=1e-6)
    assert a.aic == pytest.approx(f["aic"], abs=1e-6) and a.bic == pytest.approx(f["bic"], abs=1e-6)
    assert a.deviance == pytest.approx(f["deviance"], rel=1e-7)
    assert a.df_resid == f["df_resid"] and a.nobs == f["nobs"]
    assert dict(a.ngroups) == f["ngroups"]
    assert a.sigma == pytest.approx(f["sigma"], rel=1e-6)
    assert a.is_singular == f["is_singular"]
    assert np.allclose(a.theta, f["theta"], rtol=0, atol=0) and np.allclose(a.fixef, f["beta"], rtol=0, atol=0)
    vc = np.asarray(f["vcov"], dtype=float)
    tol = 2e-3 if case in SE_ROUNDING else 1e-4
    assert np.max(np.abs(a.vcov.to_numpy() - vc) / np.sqrt(np.outer(np.diag(vc), np.diag(vc)))) < tol
    n = len(f["fitted_head"])
    assert _rel(a.fitted.to_numpy()[:n], f["fitted_head"], 1e-8) < 1e-6
    # R's names(fitted(m)): the data's row names (1-based) of the rows used
    assert [str(i + 1) for i in a.fitted.index[:n]] == f["fitted_names_head"]
    assert _rel(a.predict(type="link").to_numpy()[:n], f["eta_head"], 1e-3) < 1e-6
    for typ in ("deviance", "pearson", "working", "response"):
        assert _rel(a.residuals(type=typ).to_numpy()[:n], f[f"resid_{typ}_head"], 1e-3) < 1e-5, typ
    for gname, g in f["ranef"].items():
        ours = a.ranef[gname]
        assert list(ours.index.astype(str)) == g["levels"] and list(ours.columns) == g["columns"]
        for j, col in enumerate(g["columns"]):
            assert _rel(ours[col].to_numpy(), g["values"][j], 1e-3) < 1e-4
            assert _rel(a.ranef_condsd[gname][col].to_numpy(), g["condsd"][j], 1e-6) < 1e-4
    co = a.coef()[next(iter(f["ranef"]))]
    assert np.allclose(co["(Intercept)"], a.fixef["(Intercept)"] + a.ranef[next(iter(f["ranef"]))]["(Intercept)"])


@pytest.mark.parametrize("case", [c for c in FITS if c not in SE_ROUNDING])
def test_summary_and_print_identical_at_lme4_estimates(case):
    f = fixtures()[case]
    a = _quiet(fit_at_lme4, case)
    assert str(a.summary()) == f["summary_text"]
    assert repr(a) == f["print_text"]


def test_summary_up_to_hessian_rounding():
    """pois_identity: every line identical but the coefficient lines, whose numbers agree to 1e-3."""
    f = fixtures()["pois_identity"]
    a = _quiet(fit_at_lme4, "pois_identity")
    assert repr(a) == f["print_text"]
    ours, ref = str(a.summary()).split("\n"), f["summary_text"].split("\n")
    assert len(ours) == len(ref)
    for x, y in zip(ours, ref):
        if x != y:
            xs, ys = x.split(), y.split()
            assert xs[0] in f["beta_names"] and len(xs) == len(ys), (x, y)
            for u, v in zip(xs[1:4], ys[1:4]):
                assert float(u) == pytest.approx(float(v), rel=1e-3)


@pytest.mark.parametrize("case", FITS)
def test_hessian_and_gradient_are_lme4s_deriv12(case):
    """lme4's optinfo$derivs (deriv12 of the deviance over (theta, beta), step 1e-4) against ours at lme4's
    estimates, PIRLS started where lme4's second stage starts (its nAGQ = 0 theta where that is a
    fixture). The identity links' deviances carry round-off of ~1e-11 (a few hundred ulps of ~1800), which
    the second differences divide by 1e-8: there lme4's and our Hessians agree to 1e-3 of the largest
    entry, elsewhere to 2e-6."""
    f = fixtures()[case]
    first = fixtures().get(case + "_nagq0")
    a = _quiet(model(case).fit, nAGQ=1, at=(f["theta"], f["beta"], first["theta"] if first else None))
    g, H = a._derivs
    Hr, gr = np.asarray(f["hessian"], dtype=float), np.asarray(f["gradient"], dtype=float)
    tol = 1e-3 if f["link"] == "identity" else 2e-6
    assert np.max(np.abs(H - Hr)) / np.max(np.abs(Hr)) < tol
    assert np.max(np.abs(g - gr)) < 1e-6


@pytest.mark.parametrize("case", NAGQ0)
def test_nagq0_fits_identical(case):
    """nAGQ = 0 (beta inside PIRLS): the optimum, and the summary at it, are lme4's."""
    f = fixtures()[case]
    base = case[:-len("_nagq0")]
    m = _quiet(model(base).fit, nAGQ=0)
    assert m.objective == pytest.approx(f["minus2loglik"], abs=1e-6)
    assert m.theta == pytest.approx(f["theta"], rel=1e-5)
    assert str(m.summary()) == f["summary_text"]


def test_zvalue_column_is_not_zapped():
    """lme4 1.1-31 prints the coefficient table by printCoefmat() without zap.ind: a small |z| keeps the
    decimals it needs next to a large one (R: "58.912" and " 9.704", not "58.91" and " 9.70")."""
    text = str(_quiet(fit_at_lme4, "pois_weights").summary())
    assert "  58.912   <2e-16 ***" in text and "   9.704   <2e-16 ***" in text


# ================================================================================== arguments, responses
def test_factor_response_first_level_is_failure():
    """factor(yfac, levels = c("no", "yes")) and levels = c("yes", "no"): the second fit's fixed effects
    are the first's with the sign changed, as in lme4 (both are fixtures above)."""
    ny, yn = _quiet(fit, "binom_factor_ny"), _quiet(fit, "binom_factor_yn")
    assert yn.fixef.to_numpy() == pytest.approx(-ny.fixef.to_numpy(), rel=1e-4)
    assert yn.objective == pytest.approx(ny.objective, abs=1e-6)
    d = data("aud")
    zero_one = _quiet(mm.glmer, "ybin ~ x + (1 | g)", d, "binomial")
    assert zero_one.objective == pytest.approx(ny.objective, abs=1e-6)


def test_arguments_leave_the_data_untouched():
    d = data("aud")
    before = d.copy()
    _quiet(mm.glmer, "ycnt ~ xna + (1 | g)", d, "poisson", weights="w", subset="x > -1", start={"theta": [0.4]})
    pd.testing.assert_frame_equal(d, before)


def test_start_is_checked():
    d = data("aud")
    with pytest.raises(MixedModelsError, match="theta must have 1 values"):
        mm.glmer("ycnt ~ x + (1 | g)", d, "poisson", start={"theta": [0.5, 1.0]})
    with pytest.raises(MixedModelsError, match="unknown entries"):
        mm.glmer("ycnt ~ x + (1 | g)", d, "poisson", start={"sigma": 1})
    # theta and fixef together: stage one is skipped and the second stage starts there (lme4's
    # start = list(theta, fixef)); PIRLS then starts from that point, not from stage one's end, and the
    # Laplace deviance (PIRLS stops at a relative change of 1e-7) moves by a few 1e-6: the same optimum
    # to that resolution (see docs/glmm.md, "Which deviance each value is")
    m = _quiet(mm.glmer, "ycnt ~ x + (1 | g)", d, "poisson", start={"theta": [0.5], "fixef": [3.0, 0.1]})
    f = fixtures()["pois_start"]
    assert m.objective == pytest.approx(_best(f), abs=1e-4)
    assert m.fixef.to_numpy() == pytest.approx(f["beta"], rel=1e-4)


def test_na_action_fail_and_unknown():
    d = data("aud")
    with pytest.raises(mm.DataError, match="missing values in 12 rows"):
        mm.glmer("ycnt ~ xna + (1 | g)", d, "poisson", na_action="na.fail")
    with pytest.raises(mm.DataError, match="na_action must be"):
        mm.glmer("ycnt ~ xna + (1 | g)", d, "poisson", na_action="na.pass")


# ================================================================================== after the fit
def test_predict_newdata_matches_lme4():
    """predict(m, newdata = nd, type = "link" | "response", re.form = NA | ~0, allow.new.levels = TRUE):
    new herds (99, 100) get the population prediction; without allow.new.levels lme4 stops. (At lme4's
    estimates, so that the numbers are lme4's to rounding.)"""
    r = extras()["predict_cbpp"]
    m = _quiet(fit_at_lme4, "cbpp_cbind")
    nd = pd.DataFrame({"period": pd.Categorical(r["period"], categories=["1", "2", "3", "4"]),
                       "herd": pd.Categorical(r["herd"], categories=[str(i) for i in range(1, 16)] + ["99", "100"]),
                       "incidence": 0, "size": 1})
    rel = dict(rel=1e-9)
    assert m.predict(nd, type="link", allow_new_levels=True).to_numpy() == pytest.approx(r["link"], **rel)
    assert m.predict(nd, type="response", allow_new_levels=True).to_numpy() == pytest.approx(r["response"], **rel)
    assert m.predict(nd, re_form="NA").to_numpy() == pytest.approx(r["pop_link"], **rel)
    assert m.predict(nd, type="response", re_form="~0").to_numpy() == pytest.approx(r["pop_response"], **rel)
    with pytest.raises(MixedModelsError, match="99"):
        m.predict(nd)
    with pytest.raises(MixedModelsError, match="type"):
        m.predict(nd, type="terms")


def test_predict_with_offset_and_dispersion_family():
    r = extras()["predict_offset"]
    m = _quiet(fit_at_lme4, "pois_offset")
    d = glmm_data("glmmsim")
    nd = d.iloc[[i - 1 for i in r["rows"]]][["g", "x", "expo"]].copy()
    nd["expo"] = r["expo"]
    assert m.predict(nd).to_numpy() == pytest.approx(r["link"], rel=1e-9)
    assert m.predict(nd, type="response").to_numpy() == pytest.approx(r["response"], rel=1e-9)
    assert m.predict(nd, type="response", re_form="NA").to_numpy() == pytest.approx(r["pop_response"], rel=1e-9)
    r = extras()["predict_gamma"]
    g = _quiet(fit_at_lme4, "gamma_log")
    nd = d.iloc[[i - 1 for i in r["rows"]]][["g", "x"]]
    assert g.predict(nd, type="response").to_numpy() == pytest.approx(r["response"], rel=1e-9)
    assert g.predict(nd, re_form="NA").to_numpy() == pytest.approx(r["pop_link"], rel=1e-9)


@pytest.mark.parametrize("case", ["pois_identity", "gamma_identity", "invgauss_canonical", "gaussian_inverse",
                                  "pois_subset", "pois_na", "binom_factor_yn"])
def test_predict_on_the_data_is_fitted(case):
    """predict(m, newdata = data, type = "response") gives the fitted means on the rows used, whatever the
    link; rows outside subset= are predicted too, rows with a missing covariate are NA (lme4's na.pass:
    R gives 300 predictions, 12 of them NA, for pois_na)."""
    m = _quiet(fit, case)
    d = data(CASES[case][0])
    p = m.predict(d, type="response")
    assert len(p) == len(d)
    assert p.loc[m.fitted.index].to_numpy() == pytest.approx(m.fitted.to_numpy(), rel=1e-10)
    assert int(np.isnan(p).sum()) == (12 if case == "pois_na" else 0)
    eta = m.predict(d)
    assert m.family.linkinv(eta.dropna().to_numpy()) == pytest.approx(p.dropna().to_numpy(), rel=1e-12)


@pytest.mark.parametrize("case", ["cbpp_cbind", "gamma_log", "pois_identity"])
def test_wald_confint_matches_lme4(case):
    """confint(m, method = "Wald") (and level = 0.9): NA for .sig01 (and .sigma with a dispersion)."""
    m = _quiet(fit, case)
    for key, level in ((f"confint_wald_{case}", 0.95), (f"confint_wald90_{case}", 0.9)):
        r = extras()[key]
        ci = m.confint(level=level)
        assert list(ci.index) == r["rownames"]
        assert list(ci.columns) == r["columns"]
        for j in range(2):
            ref = np.array([np.nan if v is None else v for v in r["values"][j]], dtype=float)
            ours = ci.iloc[:, j].to_numpy()
            assert np.array_equal(np.isnan(ours), np.isnan(ref))
            tol = 1e-4 if case == "pois_identity" else 1e-5  # its intercept's SE: see SE_ROUNDING
            assert ours[~np.isnan(ours)] == pytest.approx(ref[~np.isnan(ref)], rel=tol)


def test_anova_of_two_glmer_fits_prints_as_r():
    """anova(m0, m1) of two glmer fits: the likelihood-ratio table as R prints it."""
    m0, m1 = _quiet(fit, "cbpp_null"), _quiet(fit, "cbpp_cbind")
    tab = mm.anova(m0, m1)
    assert str(tab) == extras()["anova_cbpp"]["text"]
    r = extras()["anova_cbpp"]
    chisq = r["values"][r["columns"].index("Chisq")][1]
    assert tab["Chisq"].iloc[1] == pytest.approx(chisq, rel=1e-6)


def test_drop1_prints_as_r_and_refuses_changed_rows():
    """drop1(m, test = "Chisq"): R's "Single term deletions" table; with missing values only in the
    dropped column, lme4 stops ("number of rows in use has changed") and so do we."""
    m = _quiet(fit, "cbpp_cbind")
    d1 = _quiet(m.drop1)
    assert str(d1) == extras()["drop1_cbpp"]["text"]
    r = extras()["drop1_cbpp"]
    assert d1.loc["period", "LRT"] == pytest.approx(r["values"][r["columns"].index("LRT")][1], rel=1e-6)
    assert list(_quiet(m.drop1, test="none").columns) == ["npar", "AIC"]
    with pytest.raises(MixedModelsError, match=r"number of rows in use has changed: remove missing values\?"):
        _quiet(fit("pois_na").drop1)
    assert extras()["drop1_pois_na_error"] == "number of rows in use has changed: remove missing values?"


def test_simulate_counts_and_proportions():
    """simulate(): Poisson draws are counts whose mean over many draws (use_u: the fitted random effects)
    is the fitted mean; a cbind binomial gives proportions of the trials."""
    m = _quiet(fit, "pois_offset")
    sims = m.simulate(400, seed=11, use_u=True)
    assert sims.shape == (m.nobs, 400)
    v = sims.to_numpy()
    assert np.all(v == np.round(v)) and np.all(v >= 0)
    mu = m.fitted.to_numpy()
    z = (v.mean(axis=1) - mu) / np.sqrt(mu / 400)
    assert np.abs(z).max() < 5
    b = _quiet(fit, "cbpp_cbind").simulate(2, seed=2)
    n = data("cbpp")["size"].to_numpy()
    assert np.allclose(b.to_numpy() * n[:, None], np.round(b.to_numpy() * n[:, None]))


# ================================================================================== nAGQ, bad input
def test_nagq_errors_are_lme4s():
    """nAGQ > 1 with a vector-valued term or with several terms: lme4's error message."""
    r = extras()["nagq_errors"]
    with pytest.raises(ModelError) as e1:
        mm.glmer("ycnt ~ x + (x | g)", data("aud"), "poisson", nAGQ=5)
    assert str(e1.value) == r["vector_term"]
    with pytest.raises(ModelError) as e2:
        mm.glmer("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", glmm_data("grouseticks"), "poisson", nAGQ=5)
    assert str(e2.value) == r["two_terms"]


@pytest.mark.parametrize("key,formula,family", [
    ("binomial_log", "ybin ~ x + (1 | g)", mm.family.binomial(link="log")),
    ("poisson_identity", "ypois ~ x + (1 | g)", mm.family.poisson(link="identity")),
])
def test_link_that_leaves_the_range_is_lme4s_error_with_advice(key, formula, family):
    """lme4 stops with "PIRLS loop resulted in NaN value"; ours is that message, a package error, and says
    what to do."""
    d = glmm_data("glmmsim")
    before = d.copy()
    with pytest.raises(FamilyError) as e:
        mm.glmer(formula, d, family)
    msg = str(e.value)
    assert msg.startswith(extras()["link_errors"][key])
    assert "does not keep the means inside the family's range" in msg and "start=" in msg
    pd.testing.assert_frame_equal(d, before)


def test_non_integer_poisson_counts_warn():
    """R's dpois() warns "non-integer x = ..." (and lme4's logLik is -Inf): a FamilyWarning here."""
    d = glmm_data("glmmsim").assign(yp=lambda x: x["ypois"] + 0.5)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        mm.glmer("yp ~ x + (1 | g)", d, "poisson")
    msgs = [str(x.message) for x in w if issubclass(x.category, FamilyWarning)]
    assert any(m.startswith("non-integer counts in a poisson glm!") for m in msgs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FamilyWarning)
        _quiet(fit, "pois_identity")  # integer counts: no such warning (fit cached: check a fresh one)
        mm.glmm.GeneralizedLinearMixedModel("ycnt ~ x + (1 | g)", data("aud"), "poisson")


@pytest.mark.parametrize("family,match", [("inverse.gaussian", "positive values only are allowed for the 'inverse.gaussian'"),
                                          ("Gamma", "non-positive values not allowed for the 'Gamma' family")])
def test_non_positive_continuous_responses_are_rs_errors(family, match):
    """R's Gamma()$initialize / inverse.gaussian()$initialize stop on y <= 0: the same words, a package
    error, the data untouched."""
    d = glmm_data("glmmsim").assign(yz=lambda x: x["ygam"] - x["ygam"].min())  # one zero
    before = d.copy()
    with pytest.raises(FamilyError, match=match):
        mm.glmer("yz ~ x + (1 | g)", d, family)
    pd.testing.assert_frame_equal(d, before)


def test_singular_fit_warns_only_as_lme4():
    """A singular fit (theta on its bound): lme4's "boundary (singular) fit" and R's non-integer warning
    for proportions without trials, and no NumPy RuntimeWarning from the finite-difference Hessian's zero
    step at the bound (R divides silently)."""
    cb = data("cbpp").assign(p=lambda d: d["incidence"] / d["size"])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        m = mm.glmer("p ~ period + (1 | herd)", cb, "binomial")
    assert m.is_singular
    assert [x.category.__name__ for x in w] == ["FamilyWarning", "SingularFitWarning"]
    assert str(w[0].message) == "non-integer #successes in a binomial glm!"


def test_cbind_non_integer_counts_warn_as_r():
    """R's binomial()$initialize for a two-column response: "non-integer counts in a binomial glm!"."""
    cb = data("cbpp").assign(inc=lambda d: d["incidence"] + 0.25)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        mm.glmer("cbind(inc, size - inc) ~ period + (1 | herd)", cb, "binomial")
    assert "non-integer counts in a binomial glm!" in [str(x.message) for x in w if issubclass(x.category, FamilyWarning)]


def test_separation_warns_with_what_to_do():
    """Complete separation (ysep is 1 wherever xsep is): lme4 gives only its convergence messages; we add
    R's glm.fit warning "fitted probabilities numerically 0 or 1 occurred", naming the estimate that runs
    off (xsep) and what to do."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        mm.glmer("ysep ~ x + xsep + (1 | g)", glmm_data("glmmsim"), "binomial")
    msgs = [str(x.message) for x in w if issubclass(x.category, FamilyWarning)]
    assert len(msgs) == 1 and msgs[0].startswith("fitted probabilities numerically 0 or 1 occurred")
    assert "'xsep'" in msgs[0] and "remove or merge the predictor" in msgs[0]
    with warnings.catch_warnings():  # no such warning without separation
        warnings.simplefilter("error", FamilyWarning)
        mm.glmer("ybin ~ x + (1 | g)", glmm_data("glmmsim"), "binomial")


def test_pirls_failure_with_a_canonical_link_says_what_to_do():
    """A PIRLS failure (lme4's words: step-halvings, no convergence) gets advice for the model itself when
    the link keeps the means in range."""
    from mixedmodels.glmm import _pirls_advice

    msg = _pirls_advice("PIRLS did not converge in 30 iterations", mm.family.binomial())
    assert msg.startswith("PIRLS did not converge in 30 iterations. ")
    assert "rescale the covariates" in msg and "separation" in msg
    assert "'log' link" in _pirls_advice("PIRLS loop resulted in NaN value", mm.family.Gamma(link="identity"))


# ================================================================================== glmer.nb's family line
def test_glmer_nb_family_line_is_masss():
    """glmer.nb's family line is MASS's negative.binomial(theta)$family, "Negative Binomial(2.185)":
    a fit at lme4's shape prints R's title, family, formula and data lines. (Its numbers follow lme4's
    warm-started last refit, whose PIRLS starts elsewhere: see docs/glmm.md.)"""
    f = glmm_fixtures()["negbin"]
    mdl = mm.glmm.GeneralizedLinearMixedModel("ynb ~ x + (1 | g)", glmm_data("glmmsim"),
                                              negative_binomial(f["nb_theta"]))
    a = _quiet(mdl.fit, at=(f["theta"], f["beta"]))
    assert str(a.summary()).split("\n")[:5] == f["summary_text"].split("\n")[:5]
    assert repr(a).split("\n")[:5] == f["print_text"].split("\n")[:5]
    assert " Family: Negative Binomial(2.185)  ( log )" in f["summary_text"]


# ================================================================================== the command line
def test_cli_the_issues_command(tmp_path):
    """python -m mixedmodels fit "cbind(incidence, size - incidence) ~ period + (1|herd)" cbpp.csv
    --family binomial: the summary of that fit on the CSV as R's read.csv reads it (period a number)."""
    path = tmp_path / "cbpp.csv"
    data("cbpp").to_csv(path, index=False)
    formula = "cbind(incidence, size - incidence) ~ period + (1|herd)"
    out = subprocess.run([sys.executable, "-m", "mixedmodels", "fit", formula, str(path), "--family", "binomial"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ref = _quiet(mm.glmer, formula, mm.read_csv(path), "binomial", data_name="cbpp")
    assert out.stdout.rstrip("\n") == str(ref.summary())


def test_cli_glmer_nb(tmp_path):
    path = tmp_path / "sim.csv"
    glmm_data("glmmsim").to_csv(path, index=False)
    out = subprocess.run([sys.executable, "-m", "mixedmodels", "fit", "ynb ~ x + (1|g)", str(path),
                          "--family", "negative.binomial"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    ref = _quiet(mm.glmer_nb, "ynb ~ x + (1|g)", mm.read_csv(path), data_name="sim")
    assert out.stdout.rstrip("\n") == str(ref.summary())
    assert " Family: Negative Binomial(" in out.stdout

"""The GLMM fixtures (tests/fixtures/glmm.json, written by tests/r/make_glmm_fixtures.R) as Python calls."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

import mixedmodels as mm
from mixedmodels.fit import family as fam
from mixedmodels.fit import glmm_kernels

# The GLMM tests check the compiled PIRLS loop (and the NumPy loop against it): its kernels are loaded
# before they run, as in a process past its first small GLMM (which runs on NumPy: see
# mixedmodels.fit.glmm_kernels.compiled_pays, tested in test_glmm_numpy_first.py)
glmm_kernels.load_compiled()

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@lru_cache(maxsize=1)
def fixtures() -> dict:
    return json.loads((FIXTURES / "glmm.json").read_text())["fits"]


@lru_cache(maxsize=None)
def _data(name: str) -> pd.DataFrame:
    if name == "glmmsim":
        df = pd.read_csv(FIXTURES / "glmm_sim.csv")
        df["g"] = pd.Categorical(df["g"])
        df["h"] = pd.Categorical(df["h"])
        df.attrs["name"] = "glmmsim"
        return df
    return mm.datasets.load(name)


def data(name: str) -> pd.DataFrame:
    return _data(name).copy()


CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)"
VERB = "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"
CONTRA = "use ~ age + I(age^2) + urban + livch"

# id -> (data, formula, family, keywords); each the Python spelling of the R call in the fixture
CASES = {
    "cbpp_cbind": ("cbpp", CBPP, "binomial", {}),
    "cbpp_prop": ("cbpp", "incidence/size ~ period + (1 | herd)", "binomial", {"weights": "size"}),
    "cbpp_nagq0": ("cbpp", CBPP, "binomial", {"nAGQ": 0}),
    "cbpp_nagq9": ("cbpp", CBPP, "binomial", {"nAGQ": 9}),
    "cbpp_nagq25": ("cbpp", CBPP, "binomial", {"nAGQ": 25}),
    "cbpp_probit": ("cbpp", CBPP, fam.binomial(link="probit"), {}),
    "cbpp_cloglog": ("cbpp", CBPP, fam.binomial(link="cloglog"), {}),
    "grouse_crossed": ("grouseticks", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                       "poisson", {}),
    "grouse_nested": ("grouseticks", "TICKS ~ YEAR + cHEIGHT + (1 | LOCATION/BROOD)", "poisson", {}),
    "grouse_nagq0": ("grouseticks", GROUSE, "poisson", {"nAGQ": 0}),
    "grouse_sqrt": ("grouseticks", GROUSE, fam.poisson(link="sqrt"), {}),
    "verbagg": ("VerbAgg", VERB, "binomial", {}),
    "verbagg_nagq0": ("VerbAgg", VERB, "binomial", {"nAGQ": 0}),
    "contra_slope": ("Contraception", CONTRA + " + (urban | district)", "binomial", {}),
    "contra_agq": ("Contraception", CONTRA + " + (1 | district)", "binomial", {"nAGQ": 9}),
    "pois_offset": ("glmmsim", "ypois ~ x + offset(log(expo)) + (1 | g)", "poisson", {}),
    "pois_offset_arg": ("glmmsim", "ypois ~ x + (1 | g)", "poisson", {"offset": "log(expo)"}),
    "gamma_log": ("glmmsim", "ygam ~ x + (1 | g)", fam.Gamma(link="log"), {}),
    "gamma_inverse": ("glmmsim", "ygam ~ x + (1 | g)", "Gamma", {}),
    "invgauss_log": ("glmmsim", "yinv ~ x + (1 | g)", fam.inverse_gaussian(link="log"), {}),
    "gaussian_log": ("glmmsim", "ygau ~ x + (1 | g)", fam.gaussian(link="log"), {}),
    "binom_cauchit": ("glmmsim", "ybin ~ x + (1 | g)", fam.binomial(link="cauchit"), {}),
    "binom_logical": ("glmmsim", "ylogi ~ x + (1 | g) + (1 | h)", "binomial", {}),
    "binom_trials_probit": ("glmmsim", "cbind(ysucc, ntri - ysucc) ~ x + (x | g)", fam.binomial(link="probit"), {}),
    "binom_singular": ("glmmsim", "ysing ~ x + (1 | g)", "binomial", {}),
    "binom_separation": ("glmmsim", "ysep ~ x + xsep + (1 | g)", "binomial", {}),
    "binom_nagq25": ("glmmsim", "ybin ~ x + (1 | g)", "binomial", {"nAGQ": 25}),
}


def kwargs_for(case_id: str, df: pd.DataFrame) -> dict:
    kw = dict(CASES[case_id][3])
    if kw.get("offset") == "log(expo)":
        kw["offset"] = pd.Series(np.log(df["expo"]), name="log(expo)")
    return kw


def model(case_id: str) -> mm.glmm.GeneralizedLinearMixedModel:
    dname, formula, family, _ = CASES[case_id]
    df = data(dname)
    kw = kwargs_for(case_id, df)
    kw.pop("nAGQ", None)
    return mm.glmm.GeneralizedLinearMixedModel(formula, df, family, **kw)


@lru_cache(maxsize=None)
def fit(case_id: str):
    dname, formula, family, _ = CASES[case_id]
    df = data(dname)
    return mm.glmer(formula, df, family, **kwargs_for(case_id, df))


@lru_cache(maxsize=None)
def fit_at_lme4(case_id: str):
    """Our fitted model evaluated at lme4's own estimates (for the printed text and the derived
    quantities, which then must agree with lme4's to rounding)."""
    f = fixtures()[case_id]
    nagq = CASES[case_id][3].get("nAGQ", 1)
    m = model(case_id)
    if nagq == 0:
        return m.fit(nAGQ=0)
    stage1 = STAGE_ONE.get(case_id)
    return m.fit(nAGQ=nagq, at=(f["theta"], f["beta"], fixtures()[stage1]["theta"] if stage1 else None))


# lme4's first stage (nAGQ = 0 over theta) is the nAGQ = 0 fit of the same model: where that fixture
# exists, PIRLS restarts from lme4's own linear predictor (lp0), which makes its finite-difference
# Hessian (hence the standard errors) reproducible to the last printed digit
STAGE_ONE = {"cbpp_cbind": "cbpp_nagq0", "cbpp_prop": "cbpp_nagq0", "cbpp_nagq9": "cbpp_nagq0",
             "cbpp_nagq25": "cbpp_nagq0", "verbagg": "verbagg_nagq0"}


def assert_same_pirls(prob, twin, case_id: str, eta0):
    """Run PIRLS (joint and with beta fixed at lme4's) on two problems of one model at lme4's optimum and
    check they agree: iterations, u, beta, eta, log-determinant, Laplace deviance. Returns the
    (joint, compiled result, other result) triples for further checks."""
    import pytest

    f = fixtures()[case_id]
    theta, beta = np.asarray(f["theta"], dtype=float), np.asarray(f["beta"], dtype=float)
    out = []
    for joint in (True, False):
        b = None if joint else beta
        a = prob.pirls_lme4(theta, b, eta0, joint=joint)
        c = twin.pirls_lme4(theta, b, eta0, joint=joint)
        assert a.iterations == c.iterations
        np.testing.assert_allclose(a.u, c.u, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(a.beta, c.beta, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(a.eta, c.eta, rtol=1e-9, atol=1e-10)
        assert a.ldL2 == pytest.approx(c.ldL2, rel=1e-10, abs=1e-10)
        assert prob.laplace(a) == pytest.approx(twin.laplace(c), rel=1e-12, abs=1e-9)
        out.append((joint, theta, b, a, c))
    return out


def numpy_model(case_id: str, monkeypatch) -> mm.glmm.GeneralizedLinearMixedModel:
    """The model of ``case_id`` set up on NumPy, as a process's first small GLMM is (the compiled kernels
    not loaded; here whatever its size, to check the NumPy loop on every shape)."""
    with monkeypatch.context() as mp:
        mp.setattr(glmm_kernels, "_COMPILED", None)
        mp.setattr(glmm_kernels.ACCOUNT, "excess", 0.0)
        mp.setattr(glmm_kernels, "NUMPY_MAX_ROWS", 10 ** 9)
        mp.setattr(glmm_kernels, "NUMPY_MAX_Q2", 10 ** 9)
        return model(case_id)

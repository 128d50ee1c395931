"""The audit fixtures (tests/fixtures/glmm_audit.json, written by tests/r/make_glmm_audit_fixtures.R) as
Python calls: the family/link pairs, arguments and response forms that tests/fixtures/glmm.json does not
cover."""

from __future__ import annotations

import json
from functools import lru_cache

import pandas as pd

import mixedmodels as mm
from mixedmodels.fit import family as fam

from glmm_cases import FIXTURES, data as glmm_data


@lru_cache(maxsize=1)
def audit() -> dict:
    return json.loads((FIXTURES / "glmm_audit.json").read_text())


def fixtures() -> dict:
    return audit()["fits"]


def extras() -> dict:
    return audit()["extras"]


@lru_cache(maxsize=None)
def _aud() -> pd.DataFrame:
    df = pd.read_csv(FIXTURES / "glmm_audit_sim.csv")
    df["g"] = pd.Categorical(df["g"])
    # R: factor(yfac, levels = c("no", "yes")) and factor(yfac, levels = c("yes", "no"))
    df["yfac_ny"] = pd.Categorical(df["yfac"], categories=["no", "yes"])
    df["yfac_yn"] = pd.Categorical(df["yfac"], categories=["yes", "no"])
    df.attrs["name"] = "aud"
    return df


def data(name: str) -> pd.DataFrame:
    return _aud().copy() if name == "aud" else glmm_data(name)


CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"

# id -> (data, formula, family, keywords); each the Python spelling of the R call in the fixture
CASES = {
    "binom_log": ("cbpp", CBPP, fam.binomial(link="log"), {}),
    "pois_identity": ("aud", "ycnt ~ x + (1 | g)", fam.poisson(link="identity"), {}),
    "gamma_identity": ("aud", "ygi ~ x + (1 | g)", fam.Gamma(link="identity"), {}),
    "invgauss_canonical": ("aud", "yig ~ x + (1 | g)", "inverse.gaussian", {}),
    "gaussian_inverse": ("glmmsim", "ygau ~ x + (1 | g)", fam.gaussian(link="inverse"), {}),
    "pois_weights": ("aud", "ycnt ~ x + (1 | g)", "poisson", {"weights": "w"}),
    "pois_subset": ("aud", "ycnt ~ x + (1 | g)", "poisson", {"subset": "x > 0"}),
    "pois_na": ("aud", "ycnt ~ xna + (1 | g)", "poisson", {}),
    "pois_start": ("aud", "ycnt ~ x + (1 | g)", "poisson", {"start": {"theta": [0.5]}}),
    "binom_factor_ny": ("aud", "yfac_ny ~ x + (1 | g)", "binomial", {}),
    "binom_factor_yn": ("aud", "yfac_yn ~ x + (1 | g)", "binomial", {}),
    "cbpp_cbind": ("cbpp", CBPP, "binomial", {}),
    "cbpp_null": ("cbpp", "cbind(incidence, size - incidence) ~ 1 + (1 | herd)", "binomial", {}),
    "pois_offset": ("glmmsim", "ypois ~ x + offset(log(expo)) + (1 | g)", "poisson", {}),
    "gamma_log": ("glmmsim", "ygam ~ x + (1 | g)", fam.Gamma(link="log"), {}),
}


def model(case_id: str) -> mm.glmm.GeneralizedLinearMixedModel:
    dname, formula, family, kw = CASES[case_id]
    kw = {k: v for k, v in kw.items() if k != "start"}
    return mm.glmm.GeneralizedLinearMixedModel(formula, data(dname), family, **kw)


@lru_cache(maxsize=None)
def fit(case_id: str):
    dname, formula, family, kw = CASES[case_id]
    return mm.glmer(formula, data(dname), family, **kw)


@lru_cache(maxsize=None)
def fit_at_lme4(case_id: str):
    """Our fitted model evaluated at lme4's estimates (for the printed text and derived quantities)."""
    f = fixtures()[case_id]
    return model(case_id).fit(nAGQ=1, at=(f["theta"], f["beta"]))

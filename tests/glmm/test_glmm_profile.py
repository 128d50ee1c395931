"""Profile confidence intervals of glmer fits against lme4's (tests/fixtures/glmm_profile.json, written
by tests/r/make_glmm_profile_fixtures.R)."""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.inference.profile import interp_spline

from glmm_cases import FIXTURES, data, fit

GROUSE1 = "TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)"


@lru_cache(maxsize=1)
def ref() -> dict:
    return json.loads((FIXTURES / "glmm_profile.json").read_text())


@lru_cache(maxsize=None)
def grouse_fit():
    return mm.glmer(GROUSE1, data("grouseticks"), "poisson")


def _check(ci, rec, tol=1e-3):
    assert list(ci.index) == rec["rows"]
    assert list(ci.columns) == ["2.5 %", "97.5 %"] or list(ci.columns) == ["5 %", "95 %"]
    np.testing.assert_allclose(ci.iloc[:, 0].to_numpy(), rec["lower"], rtol=0, atol=tol)
    np.testing.assert_allclose(ci.iloc[:, 1].to_numpy(), rec["upper"], rtol=0, atol=tol)


def test_cbpp_profile_intervals_match_lme4():
    r = ref()["cbpp"]
    m = fit("cbpp_cbind")
    # R: confint(profile(glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)))
    _check(m.confint("profile"), r["confint"])
    # R: confint(profile(...), level = 0.9)
    _check(m.confint("profile", level=0.9), r["confint90"])


def test_cbpp_profile_table_matches_lme4_zeta():
    """Our tabulated signed roots lie on lme4's profile: the spline through lme4's (value, zeta) points,
    at our values, gives our zeta (to lme4's optimizer resolution)."""
    r = ref()["cbpp"]["profile"]
    prof = fit("cbpp_cbind").profile()
    names = {".sig01": "sd_(Intercept)|herd"}
    pars = np.array(r["par"])
    for par in dict.fromkeys(r["par"]):
        sel = pars == par
        x, z = np.array(r["value"])[sel], np.array(r["zeta"])[sel]
        spl = interp_spline(x, z)
        ours = prof.table[prof.table[".par"] == names.get(par, par)]
        xv = ours[names.get(par, par)].to_numpy()
        inside = (xv > x.min()) & (xv < x.max())
        assert inside.sum() >= 5
        np.testing.assert_allclose(spl(xv[inside]), ours[".zeta"].to_numpy()[inside], atol=2e-3)


def test_poisson_profile_intervals_match_lme4():
    # R: confint(glmer(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), grouseticks, poisson), method = "profile")
    m = grouse_fit()
    r = ref()["grouse"]
    assert m.objective <= r["m2ll"] + 1e-6
    _check(m.confint("profile"), r["confint"])


def test_profile_names_and_selection():
    m = fit("cbpp_cbind")
    r = ref()["cbpp"]["confint"]
    ci = m.confint("profile", parm=[".sig01", "period2"], old_names=False)
    assert list(ci.index) == ["sd_(Intercept)|herd", "period2"]
    np.testing.assert_allclose(ci.to_numpy()[:, 0], [r["lower"][0], r["lower"][2]], atol=1e-3)
    with pytest.raises(MixedModelsError, match="unknown parameter"):
        m.confint("profile", parm="nope")
    with pytest.raises(MixedModelsError, match="method"):
        m.confint("likelihood")


def test_profile_needs_a_scale_free_family():
    m = fit("gamma_log")
    with pytest.raises(MixedModelsError, match="dispersion"):
        m.confint("profile")

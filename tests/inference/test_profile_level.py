"""Profile intervals at levels beyond lme4's default profile (alphamax = 0.01)."""

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.inference.profile import confint_profile, profile
from tests.conftest import load_fixture


def _r(v):
    return {"NA": np.nan, "Inf": np.inf}.get(v, v) if isinstance(v, str) else float(v)


def test_confint_profile_level_9999_extends_the_profile():
    """R 4.2.2 / lme4 1.1.31 (tests/r/make_profile_level_fixture.R), fm1 = lmer(Yield ~ 1 + (1 | Batch),
    Dyestuff): confint(fm1, level = 0.9999) gives [0, Inf], [0, Inf], [NA, NA] without a word, its
    profile stopping at alphamax = 0.01; confint(profile(fm1, alphamax = (1 - 0.9999) / 2), level =
    0.9999) gives the intervals, and so does m.confint(level=0.9999) here."""
    ref = load_fixture("profile_level.json")
    m = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the profile reaches the level
        ci = m.confint(method="profile", level=ref["level"], quiet=True)
    want = np.array([[_r(v) for v in row] for row in ref["confint_extended"]])
    np.testing.assert_allclose(ci.to_numpy(), want, rtol=1e-4, atol=1e-6)
    assert list(ci.columns) == ["0.005 %", "99.995 %"]


def test_profile_too_short_for_the_level_warns():
    """With lme4's default profile (alphamax = 0.01) the 0.9999 limits are lme4's (the bounds and NA),
    and now a warning says the profile does not reach the level."""
    ref = load_fixture("profile_level.json")
    m = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff"))
    with pytest.warns(UserWarning, match="does not extend to the level 0.9999"):
        ci = confint_profile(profile(m), level=ref["level"])
    want = np.array([[_r(v) for v in row] for row in ref["confint_default"]])
    np.testing.assert_array_equal(ci.to_numpy(), want)


def test_default_levels_keep_lme4s_profile():
    """Up to level 0.99 the profile is lme4's (alphamax = 0.01), so the usual intervals do not move."""
    from mixedmodels.inference.profile import profile_alphamax

    m = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff"))
    assert profile_alphamax(m, 0.95) == 0.01
    assert profile_alphamax(m, 0.99) == 0.01
    assert profile_alphamax(m, 0.9999) == pytest.approx(5e-5)

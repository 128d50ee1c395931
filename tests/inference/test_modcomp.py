"""pbkrtest's KRmodcomp against tests/fixtures/modcomp.json (tests/r/make_modcomp_fixtures.R: R 4.2.2,
lme4 1.1.31, pbkrtest 0.5.2; tight BOBYQA fits)."""

import numpy as np
import pytest

import mixedmodels as mm
from conftest import fitted, load_fixture
from mixedmodels.errors import MixedModelsError

CASES = load_fixture("modcomp.json")["cases"]


@pytest.mark.parametrize("ref", CASES, ids=[c["id"] for c in CASES])
def test_krmodcomp_as_pbkrtest(ref):
    large = fitted(ref["large"], ref["data"])
    small = fitted(ref["small"], ref["data"]) if "small" in ref else np.array([ref["L"]], dtype=float)
    k = mm.KRmodcomp(large, small)
    for key in ("stat", "ddf", "F_scaling", "p_value", "FstatU", "p_valueU"):
        assert getattr(k, key) == pytest.approx(ref[key], rel=2e-6), key
    assert k.ndf == ref["ndf"]
    assert str(k) == ref["text"]


def test_krmodcomp_refuses_what_it_cannot_test():
    large = fitted("Reaction ~ Days + (Days | Subject)", "sleepstudy")
    other = fitted("Reaction ~ I(Days^2) + (Days | Subject)", "sleepstudy")
    with pytest.raises(MixedModelsError, match="subspace"):
        mm.kr_modcomp(large, other)
    # ML fits are refitted by REML, as pbkrtest does
    ml = mm.kr_modcomp(fitted("Reaction ~ Days + (Days | Subject)", "sleepstudy", False), np.array([[0, 1.0]]))
    reml = mm.kr_modcomp(large, np.array([[0, 1.0]]))
    assert ml.stat == pytest.approx(reml.stat, rel=1e-6) and ml.ddf == pytest.approx(reml.ddf, rel=1e-6)
    with pytest.raises(MixedModelsError, match="columns"):
        mm.kr_modcomp(large, np.array([[0, 1.0, 0]]))
    with pytest.raises(MixedModelsError, match="nothing to test"):
        mm.kr_modcomp(large, large)


def test_pbmodcomp_lrt_as_pbkrtest_and_bootstrap_reproducible():
    """PBmodcomp: the LRT and its chi-square p-value are pbkrtest's (tests/fixtures/modcomp.json); the
    bootstrap p-value is reproducible with a seed and, for this clearly significant effect, small."""
    ref = load_fixture("modcomp.json")["pb"]
    m1, m0 = fitted(ref["large"], "sleepstudy"), fitted(ref["small"], "sleepstudy")
    a = mm.PBmodcomp(m1, m0, nsim=60, seed=3)
    assert a.LRT == pytest.approx(ref["LRT"], rel=1e-6)
    assert a.df == ref["df"]
    assert a.p_chisq == pytest.approx(ref["p_chisq"], rel=1e-5)
    b = mm.PBmodcomp(m1, m0, nsim=60, seed=3)
    assert a.p_pb == b.p_pb and a.used >= 55
    assert a.p_pb <= 2 / (a.used + 1)  # no simulated LRT reaches the observed 23.5
    assert "PBtest" in str(a) and "LRT" in str(a)
    with pytest.raises(MixedModelsError, match="nested"):
        mm.PBmodcomp(m0, m1, nsim=5)

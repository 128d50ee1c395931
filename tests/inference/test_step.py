"""lmerTest's step() against tests/fixtures/step.json (tests/r/make_step_fixtures.R: R 4.2.2, lme4
1.1.31, lmerTest 3.1.3; tight BOBYQA fits)."""

import warnings

import pytest

import mixedmodels as mm
from conftest import fitted, load_fixture
from conftest import same_up_to_last_digit

CASES = load_fixture("step.json")["cases"]


def _kwargs(call: str) -> dict:
    """step(m, keep = "x", alpha.random = 0.01) -> our keywords."""
    out = {}
    for part in call[len("step(m"):-1].split(", ")[1:]:
        key, val = part.split(" = ")
        key = {"alpha.random": "alpha_random", "alpha.fixed": "alpha_fixed"}.get(key, key)
        out[key] = val.strip('"') if val.startswith('"') else float(val)
    return out


@pytest.mark.parametrize("ref", CASES, ids=[c["id"] for c in CASES])
def test_step_as_lmertest(ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fitted(ref["formula"], ref["data"])
        s = mm.step(m, **_kwargs(ref["call"]))
    assert s.model.design.formula.deparse(cutoff=500) == ref["found"]
    ours, theirs = str(s).split("\n"), ref["text"].split("\n")
    # a last printed digit may differ on a sum of squares that sits on a rounding tie (321.75)
    assert ours == theirs or same_up_to_last_digit(ours, theirs), "\n".join(ours)


def test_step_refuses_eliminating_every_random_effect():
    d = mm.datasets.load("Dyestuff2")  # its batch variance is 0: ranova's p-value is 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Yield ~ 1 + (1 | Batch)", d)
    with pytest.raises(mm.MixedModelsError, match="lm"):
        mm.step(m)

"""lmerTest's ranova() and drop1() against tests/fixtures/deletions.json (tests/r/make_deletions_fixtures.R:
R 4.2.2, lme4 1.1.31, lmerTest 3.1.3)."""


import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from conftest import fitted, load_fixture
from mixedmodels.inference.deletions import _findbars, _lhs_terms
from mixedmodels.errors import MixedModelsError
from mixedmodels.formula.parse import parse_formula

MODELS = load_fixture("deletions.json")["models"]
IDS = [m["id"] for m in MODELS]


def _fit(ref):
    return fitted(ref["formula"], ref["data"], ref["reml"])


def _check_table(ours, ref, rtol=1e-5):
    assert list(ours.index) == ref["rows"]
    assert list(ours.columns) == ref["columns"]
    for j, col in enumerate(ref["columns"]):
        want = np.array([np.nan if v is None else v for v in ref["values"][j]], dtype=float)
        got = ours[col].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(got), np.isnan(want)), col
        ok = ~np.isnan(want)
        # p-values far in the tail are relative; everything else to lme4's optimizer tolerance
        np.testing.assert_allclose(got[ok], want[ok], rtol=rtol, atol=1e-7, err_msg=col)


@pytest.mark.parametrize("ref", MODELS, ids=IDS)
def test_ranova_as_lmertest(ref):
    """ranova(m): the same reduced models (their formulas as R's update() writes them), the same
    likelihood-ratio table, the same printed text."""
    t = mm.ranova(_fit(ref))
    r = ref["ranova"]
    assert list(t.formulae.values()) == r["formulae"]
    _check_table(t, r)
    assert str(t) == r["text"]


@pytest.mark.parametrize("ref", MODELS, ids=IDS)
def test_ranova_remove_whole_terms(ref):
    """ranova(m, reduce.terms = FALSE)."""
    t = _fit(ref).ranova(reduce_terms=False)
    r = ref["ranova_remove"]
    assert list(t.formulae.values()) == r["formulae"]
    _check_table(t, r)
    assert str(t) == r["text"]


@pytest.mark.parametrize("ref", [m for m in MODELS if "drop1" in m], ids=[m["id"] for m in MODELS if "drop1" in m])
def test_drop1_as_lmertest(ref):
    fit = _fit(ref)
    t = fit.drop1()
    _check_table(t, ref["drop1"])
    assert str(t) == ref["drop1"]["text"]
    if "drop1_kr" in ref:
        t = mm.drop1(fit, ddf="Kenward-Roger")
        _check_table(t, ref["drop1_kr"])
        assert str(t) == ref["drop1_kr"]["text"]


def test_findbars_order_is_lme4s():
    # lme4's findbars(y ~ (1|a/b) + (x||a/b) + (1|g)), R 4.2.2 / lme4 1.1.31
    rhs = parse_formula("y ~ (1|a/b) + (x||a/b) + (1|g)").rhs
    assert [f"{l} | {g}" for l, g in _findbars(rhs)] == [
        "1 | b:a", "1 | a", "1 | b:a", "1 | a", "0 + x | b:a", "0 + x | a", "1 | g"]


def test_lhs_terms_and_drop_scope():
    # attr(terms(~ A*B), "term.labels") and drop.scope(~ A*B) in R
    assert _lhs_terms("A*B") == (["A", "B", "A:B"], ["A:B"])
    assert _lhs_terms("1") == ([], [])
    assert _lhs_terms("0 + x + z") == (["x", "z"], ["x", "z"])


def test_ranova_refuses_changed_rows_and_bad_input():
    df = mm.datasets.load("sleepstudy").copy()
    df["x"] = np.where(np.arange(len(df)) % 7 == 0, np.nan, 1.0)
    # the reduced model of (x | Subject) drops x: its rows differ from the full model's
    fit = mm.lmer("Reaction ~ Days + (1 | Subject) + (0 + x | Subject)", df)
    with pytest.raises(MixedModelsError, match="number of rows"):
        mm.ranova(fit)
    with pytest.raises(MixedModelsError):
        mm.ranova("not a fit")
    with pytest.raises(MixedModelsError):
        mm.drop1(mm.lmer("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy")), ddf=None)

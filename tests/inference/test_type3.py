"""lmerTest's type III tables where X is not plain treatment coding -- ordered factors (polynomial
contrasts), a rank-deficient X -- against tests/fixtures/type3.json (tests/r/make_type3_fixtures.R: R 4.2.2,
lme4 1.1.31, lmerTest 3.1.3, pbkrtest 0.5.2; data lme4::cake and nlme::RatPupWeight)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from conftest import FIXTURES, load_fixture

REF = load_fixture("type3.json")


def _data(name):
    path = {"cake": "type3_data_cake.csv", "rat": "type3_data_ratpup.csv"}[name]
    d = pd.read_csv(FIXTURES / path)
    for col, levels in REF["ordered_levels"][name].items():
        d[col] = pd.Categorical(d[col].astype(str), categories=levels, ordered=True)
    for col, levels in REF["factor_levels"][name].items():
        d[col] = pd.Categorical(d[col].astype(str), categories=levels)
    return d


def _check(tab, ref):
    assert list(tab.index) == ref["rows"]
    for j, col in enumerate(ref["columns"]):
        want = np.array(ref["values"][j], dtype=float)
        np.testing.assert_allclose(tab[col].to_numpy(dtype=float), want, rtol=2e-5, err_msg=col)
    assert str(tab) == ref["text"]


@pytest.mark.parametrize("ref", REF["models"], ids=[m["id"] for m in REF["models"]])
def test_type3_as_lmertest(ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer(ref["formula"], _data(ref["data"]))
        _check(m.anova(), ref["type3"])
        _check(m.anova(ddf="Kenward-Roger"), ref["type3_kr"])
        _check(m.anova(type=1), ref["type1"])

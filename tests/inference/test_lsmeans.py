"""lmerTest's ls_means() and difflsmeans() against tests/fixtures/lsmeans.json
(tests/r/make_lsmeans_fixtures.R: R 4.2.2, lme4 1.1.31, lmerTest 3.1.3, pbkrtest 0.5.2)."""


import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from conftest import fitted, load_fixture
from mixedmodels.errors import MixedModelsError

MODELS = load_fixture("lsmeans.json")["models"]


def _data(name):
    """The data sets as the R script builds them (factor(nitro), factor(Days), a missing cell)."""
    if name in ("Oats", "OatsMiss"):
        df = mm.datasets.load("Oats").copy()
        df["N"] = pd.Categorical(df["nitro"].map(lambda v: f"{v:g}"), categories=["0", "0.2", "0.4", "0.6"])
        if name == "OatsMiss":
            df = df[~((df["N"] == "0.6") & (df["Variety"] == "Victory"))]
        return df
    df = mm.datasets.load(name).copy()
    if name == "sleepstudy":
        df["Dayf"] = pd.Categorical(df["Days"].astype(int).astype(str), categories=[str(d) for d in range(10)])
    return df




def _fit(ref):
    # the data sets are built as the R script builds them: cached under their own label
    return fitted(ref["formula"], f"lsmeans:{ref['data']}", data=lambda: _data(ref["data"]))


def _call(fit, call):
    """Run the R call text (``ls_means(m, which = "N", level = 0.9)``) with our function."""
    fn = mm.difflsmeans if call.startswith("difflsmeans") else mm.ls_means
    kwargs = {}
    for part in call[call.index("(") + 1: -1].split(",")[1:]:
        key, val = (s.strip() for s in part.split("="))
        kwargs[key] = float(val) if key == "level" else val.strip('"')
    return fn(fit, **kwargs)


CASES = [(m, r) for m in MODELS for r in m["results"]]


@pytest.mark.parametrize("ref,res", CASES, ids=[f"{m['id']}: {r['call']}" for m, r in CASES])
def test_lsmeans_as_lmertest(ref, res):
    t = _call(_fit(ref), res["call"])
    assert list(t.index) == res["rows"]
    assert list(t.columns) == res["columns"]
    for j, col in enumerate(res["columns"]):
        want = np.array([np.nan if v is None else v for v in res["values"][j]], dtype=float)
        got = t[col].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(got), np.isnan(want)), col
        ok = ~np.isnan(want)
        np.testing.assert_allclose(got[ok], want[ok], rtol=2e-6, atol=1e-9, err_msg=col)
    for term, h in res["hypotheses"].items():
        ours = t.hypotheses[term]
        assert list(ours.index) == h["rows"]
        want = np.array(h["values"], dtype=float)
        cols = [c for c in h["columns"]]
        np.testing.assert_allclose(ours[cols].to_numpy(), want, atol=1e-12)
    assert str(t) == res["text"]


def test_transformed_factor_works_where_lmertest_fails():
    """factor(nitro) is a factor of the model: its LS-means are those of the column N (lmerTest stops
    with "object 'nitro' not found")."""
    df = _data("Oats")
    a = mm.ls_means(mm.lmer("yield ~ factor(nitro) * Variety + (1 | Block/Variety)", df), which="factor(nitro)")
    b = mm.ls_means(mm.lmer("yield ~ N * Variety + (1 | Block/Variety)", df), which="N")
    assert list(a.index) == ["factor(nitro)0", "factor(nitro)0.2", "factor(nitro)0.4", "factor(nitro)0.6"]
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-6)


def test_bad_arguments():
    fit = mm.lmer("yield ~ N * Variety + (1 | Block/Variety)", _data("Oats"))
    with pytest.raises(MixedModelsError, match="factors only"):
        fit.ls_means(which="nitro")
    with pytest.raises(MixedModelsError):
        fit.ls_means(level=1.5)
    with pytest.raises(MixedModelsError):
        fit.ls_means(ddf=None)
    with pytest.raises(MixedModelsError):
        mm.ls_means("no fit")

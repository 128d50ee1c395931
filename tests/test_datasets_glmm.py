"""The GLMM data sets bundled with the others (exported from R by tests/r/make_glmm_fixtures.R: lme4's
cbpp, grouseticks and VerbAgg, mlmRev's Contraception), loaded as the linear models' data are."""

import json
from pathlib import Path

import pandas as pd
import pytest

import mixedmodels as mm

LEVELS = json.loads((Path(mm.datasets.path("cbpp")).parent / "levels.json").read_text())


# R: dim(lme4::cbpp), dim(lme4::grouseticks), dim(lme4::VerbAgg), dim(mlmRev::Contraception)
@pytest.mark.parametrize("name, shape", [("cbpp", (56, 4)), ("grouseticks", (403, 7)), ("VerbAgg", (7584, 9)),
                                         ("Contraception", (1934, 6))])
def test_glmm_data_sets_load_like_the_others(name, shape):
    assert name in mm.datasets.names()
    df = mm.datasets.load(name.lower())  # case-insensitive, as the others
    assert df.shape == shape and df.attrs["name"] == name
    for col, levels in LEVELS[name].items():  # R's factor columns, in R's level order
        assert isinstance(df[col].dtype, pd.CategoricalDtype)
        assert list(df[col].cat.categories) == levels
        assert not df[col].isna().any()
    assert mm.datasets.describe(name)
    # the file itself reads as R's read.csv reads it (the factors then as R reads them: numbers stay numbers)
    raw = mm.read_csv(mm.datasets.path(name))
    assert raw.shape == shape


def test_glmm_level_order_is_rs():
    # R: levels(lme4::cbpp$period); levels(lme4::VerbAgg$r2); levels(mlmRev::Contraception$livch)
    assert list(mm.datasets.load("cbpp")["period"].cat.categories) == ["1", "2", "3", "4"]
    assert list(mm.datasets.load("VerbAgg")["r2"].cat.categories) == ["N", "Y"]
    assert list(mm.datasets.load("Contraception")["livch"].cat.categories) == ["0", "1", "2", "3+"]

"""build_design builds every frame from the data it is given: nothing about the user's data is remembered
between calls (a refit of changed data sees the change; warnings and refusals come on every fit; the
user's DataFrame is never modified)."""

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import RankDeficiencyWarning
from mixedmodels.frame.design import build_design

FORMULA = "Reaction ~ Days + (Days | Subject)"


def test_two_builds_share_no_arrays():
    d = mm.datasets.load("sleepstudy")
    a = build_design(FORMULA, d)
    b = build_design(FORMULA, d)
    for x, y in [(a.X, b.X), (a.y, b.y), (a.terms[0].z, b.terms[0].z), (a.terms[0].refs, b.terms[0].refs)]:
        assert not np.shares_memory(x, y)
        assert x.flags.writeable and y.flags.writeable
        np.testing.assert_array_equal(x, y)


def test_data_changed_in_place_is_seen():
    """The user's frame modified in place after a fit: the next fit sees the new values."""
    d = mm.datasets.load("sleepstudy").copy()
    a = build_design(FORMULA, d)
    d.loc[0, "Reaction"] = 1000.0
    b = build_design(FORMULA, d)
    assert b.y[0] == 1000.0 != a.y[0]
    s = d["Subject"].to_numpy().copy()
    s[0], s[-1] = s[-1], s[0]
    d["Subject"] = pd.Categorical(s, categories=d["Subject"].cat.categories)
    c = build_design(FORMULA, d)
    assert c.terms[0].refs[0] == a.terms[0].refs[-1] and c.terms[0].refs[-1] == a.terms[0].refs[0]


@pytest.mark.parametrize("name,formula", [("sleepstudy", FORMULA),
                                          ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
                                          ("Pastes", "strength ~ 1 + (1 | batch/cask)")])
def test_the_users_data_is_never_modified_and_refits_agree(name, formula):
    d = mm.datasets.load(name)
    before = d.copy(deep=True)
    fits = [mm.lmer(formula, d), mm.lmer(formula, d.copy())]
    pd.testing.assert_frame_equal(d, before)
    assert fits[1].objective == fits[0].objective
    np.testing.assert_array_equal(fits[0].fixef.to_numpy(), fits[1].fixef.to_numpy())
    assert str(fits[0].summary()) == str(fits[1].summary())


def test_warnings_come_on_every_build():
    d = mm.datasets.load("sleepstudy").assign(Days2=lambda x: x["Days"] * 2)
    for _ in range(2):
        with pytest.warns(RankDeficiencyWarning):
            build_design("Reaction ~ Days + Days2 + (1 | Subject)", d)


def test_a_perfect_fit_is_refused_every_time():
    d = mm.datasets.load("sleepstudy").assign(y=lambda x: 2.0 * x["Days"] + 1.0)
    for _ in range(2):
        with pytest.raises(mm.errors.DataError, match="reproduce the response exactly"):
            mm.lmer("y ~ Days + (1 | Subject)", d)

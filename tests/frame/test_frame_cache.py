"""The model-frame cache of build_design: a repeated formula on unchanged data gives the frame built before
(a copy, read-only arrays), and never a stale frame when the data changed."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import RankDeficiencyWarning
from mixedmodels.frame import design as design_mod
from mixedmodels.frame.design import build_design, clear_frame_cache

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture(autouse=True)
def empty_cache():
    clear_frame_cache()
    yield
    clear_frame_cache()


def assert_same_design(a, b):
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.offset, b.offset)
    np.testing.assert_array_equal(a.rows, b.rows)
    assert a.x_names == b.x_names and a.response_name == b.response_name
    assert len(a.terms) == len(b.terms)
    for s, t in zip(a.terms, b.terms):
        assert list(s.levels) == list(t.levels) and s.cnames == t.cnames and s.group == t.group
        np.testing.assert_array_equal(s.refs, t.refs)
        np.testing.assert_array_equal(s.z, t.z)
    assert repr(a.spec) == repr(b.spec)


def fresh(formula, data, **kw):
    """The frame built without the cache."""
    clear_frame_cache()
    out = design_mod._build_design_checked(formula, data, **kw)
    clear_frame_cache()
    return out


def test_a_repeated_formula_gives_the_remembered_frame():
    d = mm.datasets.load("sleepstudy")
    a = build_design(FORMULA, d)
    assert len(design_mod._FRAME_CACHE) == 1
    b = build_design(FORMULA, d)
    assert a is not b  # a copy: setting an attribute on one does not touch the other
    assert b.X is a.X  # ... sharing the arrays, which are read-only
    assert not b.X.flags.writeable and not b.y.flags.writeable and not b.terms[0].z.flags.writeable
    assert_same_design(a, fresh(FORMULA, d))
    b.formula = None
    assert build_design(FORMULA, d).formula is not None


@pytest.mark.parametrize("change", ["numeric value", "numeric dtype", "level order", "level renamed",
                                    "codes", "missing value", "column renamed", "column added",
                                    "rows dropped", "string column"])
def test_changed_data_never_gets_a_stale_frame(change):
    d = mm.datasets.load("sleepstudy")
    build_design(FORMULA, d)
    e = d.copy()
    if change == "numeric value":
        e.loc[3, "Reaction"] = e.loc[3, "Reaction"] + 1.0
    elif change == "numeric dtype":
        e["Days"] = e["Days"].astype(float) + 0.5
    elif change == "level order":
        e["Subject"] = e["Subject"].cat.reorder_categories(list(e["Subject"].cat.categories)[::-1])
    elif change == "level renamed":
        e["Subject"] = e["Subject"].cat.rename_categories(lambda c: "s" + c)
    elif change == "codes":
        s = e["Subject"].to_numpy().copy()
        s[0], s[-1] = s[-1], s[0]
        e["Subject"] = pd.Categorical(s, categories=d["Subject"].cat.categories)
    elif change == "missing value":
        e.loc[5, "Reaction"] = np.nan
    elif change == "column renamed":
        e = e.rename(columns={"Days": "days"}).assign(Days=e["Days"] * 2)
    elif change == "column added":
        e["extra"] = 1.0
    elif change == "rows dropped":
        e = e.iloc[:-10]
    elif change == "string column":
        e["Subject"] = e["Subject"].astype(str)
    got = build_design(FORMULA, e)
    assert_same_design(got, fresh(FORMULA, e))


def test_data_changed_in_place_is_seen():
    """The user's frame modified in place after a fit: the next fit sees the new values."""
    d = mm.datasets.load("sleepstudy").copy()
    a = build_design(FORMULA, d)
    d.loc[0, "Reaction"] = 1000.0
    b = build_design(FORMULA, d)
    assert b.y[0] == 1000.0 != a.y[0]
    assert_same_design(b, fresh(FORMULA, d))


def test_the_users_data_is_never_modified():
    d = mm.datasets.load("sleepstudy")
    before = d.copy(deep=True)
    for _ in range(3):
        m = mm.lmer(FORMULA, d)
    pd.testing.assert_frame_equal(d, before)
    with pytest.raises(ValueError):
        m.design.X[0, 0] = 5.0  # the remembered frame's arrays are read-only


def test_fits_from_the_cache_equal_fits_without_it():
    for name, formula in [("sleepstudy", FORMULA), ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
                          ("Pastes", "strength ~ 1 + (1 | batch/cask)")]:
        d = mm.datasets.load(name)
        clear_frame_cache()
        a = mm.lmer(formula, d)
        b = mm.lmer(formula, d)  # its frame from the cache
        assert b.objective == a.objective
        np.testing.assert_array_equal(a.fixef.to_numpy(), b.fixef.to_numpy())
        assert str(a.summary()) == str(b.summary())


def test_warnings_are_repeated_frames_that_warn_are_not_remembered():
    d = mm.datasets.load("sleepstudy").assign(Days2=lambda x: x["Days"] * 2)
    formula = "Reaction ~ Days + Days2 + (1 | Subject)"
    for _ in range(2):
        with pytest.warns(RankDeficiencyWarning):
            build_design(formula, d)
    assert len(design_mod._FRAME_CACHE) == 0


def test_formulas_with_calls_are_not_remembered():
    d = mm.datasets.load("sleepstudy")
    build_design("Reaction ~ log(Days + 1) + (1 | Subject)", d)
    build_design("Reaction ~ Days + (1 | Subject)", d, weights="Reaction")
    assert len(design_mod._FRAME_CACHE) == 0


def test_the_cache_is_bounded():
    d = mm.datasets.load("sleepstudy")
    for k in range(design_mod.FRAME_CACHE_SIZE + 5):
        build_design("Reaction ~ Days + (1 | Subject)", d.iloc[: 100 + k])
    assert len(design_mod._FRAME_CACHE) == design_mod.FRAME_CACHE_SIZE


def test_fits_of_a_remembered_frame_share_its_cross_products_and_checks():
    d = mm.datasets.load("sleepstudy")
    a = mm.lmer(FORMULA, d)
    b = mm.lmer(FORMULA, d)
    assert b.model.criterion(True).cp is a.model.criterion(True).cp
    assert b.design.shared is a.design.shared and b.design.shared.get("not_perfect") is True
    # a reduced model (ranova, drop1, step) slices its own frame: nothing shared
    reduced = a.design.reduced(a.design.formula, [0])
    assert reduced.shared is None


def test_a_perfect_fit_is_refused_every_time():
    d = mm.datasets.load("sleepstudy").assign(y=lambda x: 2.0 * x["Days"] + 1.0)
    for _ in range(2):
        with pytest.raises(mm.errors.DataError, match="reproduce the response exactly"):
            mm.lmer("y ~ Days + (1 | Subject)", d)

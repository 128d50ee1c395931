"""The model frame on wide data, odd column types and too many terms (robustness, third round)."""

import decimal
import fractions
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import mixedmodels as mm
from mixedmodels.frame.design import MAX_RE_TERMS, build_design, check_data


@pytest.fixture(scope="module")
def sleep():
    return mm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def sleep_fit(sleep):
    return mm.lmer("Reaction ~ Days + (Days | Subject)", sleep)


def test_wide_frame_of_50000_columns(sleep, sleep_fit):
    """Columns the formula does not name cost a linear scan at most (the duplicate-name check was
    quadratic: 50,000 columns did not finish in 25 s). Same fit, same predictions, same update()."""
    k = 50_000
    wide = pd.DataFrame(np.zeros((len(sleep), k)), columns=[f"gene{i}" for i in range(k)])
    d = pd.concat([sleep, wide], axis=1)
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    assert m.objective == sleep_fit.objective
    np.testing.assert_array_equal(m.predict(d.iloc[:5]).to_numpy(), sleep_fit.predict(sleep.iloc[:5]).to_numpy())
    assert m.update(". ~ . - Days").objective == pytest.approx(sleep_fit.update(". ~ . - Days").objective)


def test_duplicate_names_still_found_in_wide_frames():
    cols = [f"c{i}" for i in range(20_000)] + ["c7", "c19999", "c7"]
    d = pd.DataFrame(np.zeros((3, len(cols))), columns=cols)
    with pytest.raises(mm.DataError, match=r"duplicate column names: 'c19999', 'c7'"):
        check_data(d)
    d = pd.DataFrame(np.zeros((3, 2)), columns=[1, "1"])  # the same name once written
    with pytest.raises(mm.DataError, match="duplicate column names: '1'"):
        check_data(d)


def _decimals(values):
    return pd.Series([decimal.Decimal(repr(float(v))) for v in values], dtype=object)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(["decimal", "fraction", "mixed"]), st.integers(0, 10_000))
def test_decimal_and_fraction_columns_are_numbers(sleep, sleep_fit, kind, seed):
    """A column of decimal.Decimal (or fractions.Fraction, or those mixed with ints) is a number in the
    fit and in predict, as a float column is (Decimal became a factor of one level per value)."""
    rng = np.random.default_rng(seed)
    days = sleep["Days"].to_numpy()
    conv = {"decimal": lambda v: decimal.Decimal(int(v)), "fraction": lambda v: fractions.Fraction(int(v)),
            "mixed": lambda v: [int(v), decimal.Decimal(int(v)), fractions.Fraction(int(v)), float(v)][rng.integers(4)]}
    d = sleep.assign(Days=pd.Series([conv[kind](v) for v in days], dtype=object))
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    assert list(m.fixef.index) == ["(Intercept)", "Days"]
    assert m.objective == pytest.approx(sleep_fit.objective, abs=1e-8)
    np.testing.assert_allclose(m.predict(d.iloc[:7]).to_numpy(), sleep_fit.predict(sleep.iloc[:7]).to_numpy(),
                               rtol=1e-10)


def test_decimal_weights_offset_and_response(sleep):
    dec = _decimals(sleep["Reaction"])
    w = pd.Series([decimal.Decimal("1.5")] * len(sleep), dtype=object)
    a = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep, weights=np.full(len(sleep), 1.5), offset=np.full(len(sleep), 1.5))
    b = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep.assign(Reaction=dec, w=w), weights="w", offset="w")
    assert b.objective == pytest.approx(a.objective, abs=1e-8)
    with pytest.raises(mm.DataError, match="infinite"):
        mm.lmer("Reaction ~ Days + (1 | Subject)",
                sleep.assign(Days=pd.Series([decimal.Decimal("Infinity")] + [decimal.Decimal(1)] * 179, dtype=object)))


@pytest.mark.parametrize("make, column, fragment", [
    (lambda s: s.assign(R2=s["Reaction"].astype(str)), "R2", "text that looks like numbers"),
    (lambda s: s.assign(R2=pd.period_range("2020-01", periods=len(s), freq="M")), "R2", "pandas Periods"),
])
@pytest.mark.parametrize("formula, reml", [("Reaction ~ R2 + (1 | Subject)", True),
                                           ("Reaction ~ R2 + (1 | Subject)", False),
                                           ("Reaction ~ Days + (1 | R2)", True)])
def test_the_column_whose_type_is_why_is_named(sleep, make, column, fragment, formula, reml):
    """A column that became a factor by its type (numeric-looking text, a pandas Period) is named when
    the model cannot be built (it gave only "REML needs more observations than fixed effects")."""
    with pytest.raises(mm.MixedModelsError, match=f"column '{column}' holds {fragment}") as info:
        mm.lmer(formula, make(sleep), REML=reml)
    assert "180 levels" in str(info.value)


def test_numeric_text_response_is_named(sleep):
    with pytest.raises(mm.DataError, match=r"not numeric; note: column 'Reaction' holds text that looks"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", sleep.assign(Reaction=sleep["Reaction"].astype(str)))


def test_text_factor_that_works_has_no_note(sleep):
    d = build_design("Reaction ~ Days + (1 | Subject)", sleep.assign(Days=sleep["Days"].astype(str)))
    assert d.X.shape[1] == 10 and len(d.type_notes) == 1  # a factor, as in R; noted, not refused


def test_too_many_random_effects_terms(sleep):
    """300 copies of (1 | g) ran for minutes; more than MAX_RE_TERMS terms are refused at once, naming
    the repeated term."""
    with pytest.raises(mm.ModelError, match=r"300 random-effects terms.*\(1 \| Subject\) appears 300 times"):
        mm.lmer("Reaction ~ Days + " + " + ".join(["(1 | Subject)"] * 300), sleep)
    many = sleep.assign(**{f"g{i}": sleep["Subject"] for i in range(MAX_RE_TERMS + 1)})
    with pytest.raises(mm.ModelError, match=f"{MAX_RE_TERMS + 1} random-effects terms, more than the"):
        mm.lmer("Reaction ~ Days + " + " + ".join(f"(1 | g{i})" for i in range(MAX_RE_TERMS + 1)), many)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Reaction ~ Days + (1 | Subject) + (1 | Subject)", sleep)  # lme4 fits two copies
    assert len(m.theta) == 2

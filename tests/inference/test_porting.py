"""The last places where an R script did not carry over line by line: confint() row names, anova() of
models lme4 compares, offset= expressions, the rows lmer drops (references from
tests/r/make_porting_fixtures.R in tests/fixtures/porting.json)."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import MissingRowsWarning, MixedModelsError

from conftest import FIXTURES, fitted, load_fixture, same_up_to_last_digit, strip_control

REF = load_fixture("porting.json")
_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?")


def _quiet(f, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kwargs)


@pytest.fixture(scope="module")
def alfalfa():
    return mm.read_csv(FIXTURES / "alfalfa.csv", name="alfalfa")


@pytest.fixture(scope="module")
def m_alf(alfalfa):
    # lmer(Yield ~ Date * Variety + (1 | Block/Variety), data = alfalfa) on read.csv("alfalfa.csv")
    return fitted("Yield ~ Date * Variety + (1 | Block/Variety)", "alfalfa (read_csv)", data=alfalfa)


def _same_layout(ours: str, theirs: str) -> bool:
    """R's print of a matrix of intervals: the same lines, widths and number formats; the numbers
    themselves (7+ significant digits, beyond the 1e-4 agreement asserted) are compared as values."""
    a, b = ours.split("\n"), theirs.split("\n")
    return len(a) == len(b) and all(len(x) == len(y) and _NUM.sub("#", x) == _NUM.sub("#", y)
                                    for x, y in zip(a, b))


def _ci_values(c):
    return np.column_stack([np.array(c["lower"], dtype=float), np.array(c["upper"], dtype=float)])


# ------------------------------------------------------------------------------------- Alfalfa
def test_alfalfa_read_as_r_keeps_every_row(alfalfa, m_alf):
    ref = REF["alfalfa"]
    assert len(alfalfa) == ref["nrow_read"] == 72
    assert m_alf.nobs == ref["nobs"]
    assert m_alf.objective <= ref["objective"] + 1e-6
    assert m_alf.objective == pytest.approx(ref["objective"], abs=1e-6)
    assert list(m_alf.fixef.index) == ref["fixef_names"]
    np.testing.assert_allclose(m_alf.fixef.to_numpy(), ref["fixef"], rtol=1e-4)
    assert same_up_to_last_digit(str(m_alf.summary()).split("\n"), strip_control(ref["summary_text"]))
    assert str(m_alf.anova()) == ref["anova_text"]


def test_alfalfa_read_by_pandas_loses_rows_with_a_warning():
    """pandas reads the level 'None' as missing: 18 rows go, and lmer now says so."""
    pdf = pd.read_csv(FIXTURES / "alfalfa.csv")
    with pytest.warns(MissingRowsWarning, match=r"18 of 72 rows dropped .* Date \(18\).*mm\.read_csv"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mm.SingularFitWarning)
            m = mm.lmer("Yield ~ Date * Variety + (1 | Block/Variety)", pdf)
    assert m.nobs == 54 != REF["alfalfa"]["nobs"]


def test_missing_rows_warning_names_every_variable():
    sl = mm.datasets.load("sleepstudy").copy()
    sl.loc[[0, 1, 2], "Reaction"] = np.nan
    sl.loc[[2, 5], "Days"] = np.nan
    with pytest.warns(MissingRowsWarning, match=r"4 of 180 rows dropped .*Reaction \(3\), Days \(2\)"):
        m = mm.lmer("Reaction ~ Days + (1 | Subject)", sl)
    assert m.nobs == 176
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingRowsWarning)  # complete data: no warning
        mm.lmer("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))


def test_levels_as_r_factor_levels(alfalfa):
    ref = REF["alfalfa"]
    # alfalfa$Date <- factor(alfalfa$Date, levels = c("None", "S1", "S20", "O7"))
    df = mm.read_csv(FIXTURES / "alfalfa.csv", levels={"Date": ["None", "S1", "S20", "O7"]})
    m = _quiet(mm.lmer, "Yield ~ Date * Variety + (1 | Block/Variety)", df)
    assert list(m.fixef.index) == ref["levels_fixef_names"]
    np.testing.assert_allclose(m.fixef.to_numpy(), ref["levels_fixef"], rtol=1e-4, atol=1e-10)
    assert m.objective == pytest.approx(ref["levels_objective"], abs=1e-6)


# ------------------------------------------------------------------------------------- confint
@pytest.mark.parametrize("key", ["confint_wald", "confint_profile", "confint_profile_newnames"])
def test_confint_alfalfa_as_r(m_alf, key):
    c = REF["alfalfa"][key]
    method = "Wald" if "wald" in key else "profile"
    ci = _quiet(m_alf.confint, method, quiet=True, old_names=not key.endswith("newnames"))
    assert list(ci.index) == c["rows"]
    assert list(ci.columns) == c["columns"]
    np.testing.assert_allclose(ci.to_numpy(), _ci_values(c), rtol=1e-4)
    assert _same_layout(str(ci), c["text"])  # R's print of the matrix


@pytest.fixture(scope="module")
def m_sleep():
    return fitted("Reaction ~ Days + (Days | Subject)", "sleepstudy")


@pytest.mark.parametrize("key", ["confint_wald", "confint_wald_newnames", "confint_profile"])
def test_confint_sleepstudy_as_r(m_sleep, key):
    c = REF["sleepstudy"][key]
    method = "Wald" if "wald" in key else "profile"
    ci = _quiet(m_sleep.confint, method, quiet=True, old_names=not key.endswith("newnames"))
    assert list(ci.index) == c["rows"]
    np.testing.assert_allclose(ci.to_numpy(), _ci_values(c), rtol=1e-4)
    assert _same_layout(str(ci), c["text"])


def test_confint_boot_rows_and_parm_by_old_name(m_sleep):
    ci = _quiet(m_sleep.confint, "boot", nsim=5, seed=1, quiet=True)
    assert list(ci.index) == REF["sleepstudy"]["confint_boot_rows"]
    sub = m_sleep.confint("Wald", parm=[".sigma", "Days"])
    assert list(sub.index) == [".sigma", "Days"]
    sub = m_sleep.confint("Wald", parm=["sigma", "Days"], old_names=False)
    assert list(sub.index) == ["sigma", "Days"]
    with pytest.raises(MixedModelsError):
        m_sleep.confint("Wald", old_names="yes")


# ------------------------------------------------------------------------------------- anova
@pytest.fixture(scope="module")
def tvbo_fits():
    tv = mm.read_csv(FIXTURES / "tvbo.csv", dtype={"Assessor": "factor", "Repeat": "factor", "Picture": "factor"},
                     name="TVbo")
    fm = fitted("Coloursaturation ~ TVset * Picture + (TVset | Assessor)", "TVbo (read_csv)", data=tv)
    fm2 = fitted("Coloursaturation ~ TVset * Picture + (1 | TVset:Assessor)", "TVbo (read_csv)", data=tv)
    return fm, fm2


@pytest.mark.parametrize("key", ["anova_norefit", "anova_refit"])
def test_anova_of_models_lme4_compares(tvbo_fits, key, capsys):
    """lmerTest's ?ranova example: (TVset | Assessor) against (1 | TVset:Assessor) -- random parts with
    different grouping factors, which lme4's anova() tests (the second is a special case of the first)."""
    fm, fm2 = tvbo_fits
    ref = REF["tvbo"][key]
    assert fm.objective <= REF["tvbo"]["objectives"][0] + 1e-6
    assert fm2.objective <= REF["tvbo"]["objectives"][1] + 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nested in fact: no warning
        tab = mm.anova(fm, fm2, refit=(key == "anova_refit"))
    assert list(tab.index) == ref["rows"]
    assert list(tab.columns) == ref["columns"]
    vals = np.column_stack([np.array(v, dtype=float) for v in ref["values"]])
    np.testing.assert_allclose(tab.to_numpy(), vals, rtol=1e-5, atol=1e-8)
    assert same_up_to_last_digit(str(tab).split("\n"), ref["text"].split("\n"))


# ------------------------------------------------------------------------------------- offset
def test_offset_expression_as_r():
    ref = REF["offset"]
    bw = mm.read_csv(FIXTURES / "bodyweight.csv", name="bw")
    # lmer(log(weight) ~ factor(Diet) * Time + (1 | Rat), data = bw, offset = log(Time + 1)/10)
    m = _quiet(mm.lmer, "log(weight) ~ factor(Diet) * Time + (1 | Rat)", bw, offset="log( Time+1 ) / 10")
    assert m.objective == pytest.approx(ref["objective"], abs=1e-6)
    np.testing.assert_allclose(m.fixef.to_numpy(), ref["fixef"], rtol=1e-4)
    assert same_up_to_last_digit(str(m.summary()).split("\n"), strip_control(ref["summary_text"]))
    assert same_up_to_last_digit(repr(m).split("\n"), strip_control(ref["print_text"]))
    np.testing.assert_allclose(m.fitted.to_numpy()[:10], ref["fitted_head"], rtol=1e-6)
    # predict() evaluates the offset expression in newdata, as lme4 does
    np.testing.assert_allclose(m.predict(bw.iloc[:10]).to_numpy(), ref["fitted_head"], rtol=1e-6)
    # the same as the offset in the formula, and as an array
    f = _quiet(mm.lmer, "log(weight) ~ factor(Diet) * Time + offset(log(Time + 1)/10) + (1 | Rat)", bw)
    a = _quiet(mm.lmer, "log(weight) ~ factor(Diet) * Time + (1 | Rat)", bw, offset=np.log(bw["Time"] + 1) / 10)
    assert f.objective == pytest.approx(m.objective, abs=1e-9) and a.objective == pytest.approx(m.objective, abs=1e-9)


def test_offset_expression_errors():
    bw = mm.read_csv(FIXTURES / "bodyweight.csv")
    with pytest.raises(mm.DataError, match="no column 'Tme'"):
        mm.lmer("weight ~ Time + (1 | Rat)", bw, offset="Tme")
    with pytest.raises(mm.DataError, match="cannot evaluate"):
        mm.lmer("weight ~ Time + (1 | Rat)", bw, offset="log(Tme)")
    with pytest.raises(mm.DataError, match="one number"):
        mm.lmer("weight ~ Time + (1 | Rat)", bw, offset="2")
    with pytest.raises(mm.DataError, match="neither a column"):
        mm.lmer("weight ~ Time + (1 | Rat)", bw, offset="log(Time")
    with pytest.raises(mm.DataError, match="cannot evaluate"):
        mm.lmer("weight ~ Time + (1 | Rat)", bw, offset="system('ls')")


# ------------------------------------------------------------------------------------- glmer calls
def test_glmer_style_calls_say_plainly_what_is_wrong():
    sl = mm.datasets.load("sleepstudy")
    with pytest.raises(MixedModelsError, match="lmer does not take family=; use mm.glmer"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", sl, family="binomial")
    with pytest.raises(mm.FormulaError, match="binomial response.*use mm.glmer"):
        mm.lmer("cbind(Reaction, Days) ~ 1 + (1 | Subject)", sl)


def test_weights_expression_like_the_offset():
    ref = REF["weights"]
    sl = mm.datasets.load("sleepstudy").assign(w=lambda d: d["Days"] % 3 + 1)
    # lmer(Reaction ~ Days + (1 | Subject), data = sleepstudy_w, weights = 1 / w)
    a = mm.lmer("Reaction ~ Days + (1 | Subject)", sl, weights="1 / w", data_name="sleepstudy_w")
    b = mm.lmer("Reaction ~ Days + (1 | Subject)", sl, weights=1 / sl["w"].to_numpy())
    assert a.objective == pytest.approx(b.objective, abs=1e-9)
    assert a.objective == pytest.approx(ref["objective"], abs=1e-6)
    assert same_up_to_last_digit(str(a.summary()).split("\n"), strip_control(ref["summary_text"]))

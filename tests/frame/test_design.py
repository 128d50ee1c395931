"""The model frame: R's column names and coding, missing values, lme4's checks, no side effects."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.frame.design import build_design


@pytest.fixture()
def toy():
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "A": pd.Categorical(["a", "b"] * 6),
        "C": pd.Categorical(["x", "y", "y"] * 4, categories=["y", "x"]),
        "x": np.arange(1, 13) + 0.5,
        "b": [True, False, False] * 4,
        "s": ["b", "a", "C", "B"] * 3,
        "g": ["g1", "g2", "g3"] * 4,
        "y": rng.normal(size=12),
    })


# colnames(model.matrix(<rhs>, d)) in R 4.2.2 for the same data (see tests/r/README.md)
R_COLUMNS = {
    "A*C": ["(Intercept)", "Ab", "Cx", "Ab:Cx"],
    "x:A": ["(Intercept)", "x:Aa", "x:Ab"],
    "A/x": ["(Intercept)", "Ab", "Aa:x", "Ab:x"],
    "0 + A": ["Aa", "Ab"],
    "C + x - 1": ["Cy", "Cx", "x"],
    "poly(x,2)*A": ["(Intercept)", "poly(x, 2)1", "poly(x, 2)2", "Ab", "poly(x, 2)1:Ab", "poly(x, 2)2:Ab"],
    "I(x^2) + log(x)": ["(Intercept)", "I(x^2)", "log(x)"],
    "b": ["(Intercept)", "bTRUE"],
    "s": ["(Intercept)", "sb", "sB", "sC"],
    "A*C*x": ["(Intercept)", "Ab", "Cx", "x", "Ab:Cx", "Ab:x", "Cx:x", "Ab:Cx:x"],
    "(A+C+x)^2": ["(Intercept)", "Ab", "Cx", "x", "Ab:Cx", "Ab:x", "Cx:x"],
    "x %in% A": ["(Intercept)", "x:Aa", "x:Ab"],
    "A + C:A": ["(Intercept)", "Ab", "Aa:Cx", "Ab:Cx"],
    "x:A + A": ["(Intercept)", "Ab", "x:Aa", "x:Ab"],
    "A:x + x": ["(Intercept)", "x", "Ab:x"],
    "A:C + C": ["(Intercept)", "Cx", "Ab:Cy", "Ab:Cx"],
    # logical variables are factors with levels FALSE, TRUE in R's model.matrix
    "I(x > 5)": ["(Intercept)", "I(x > 5)TRUE"],
    "factor(x > 5)": ["(Intercept)", "factor(x > 5)TRUE"],
    'I(A == "b")': ["(Intercept)", 'I(A == "b")TRUE'],
    "I((x > 3) & (x < 9))": ["(Intercept)", "I((x > 3) & (x < 9))TRUE"],
    "I(x * (x > 5))": ["(Intercept)", "I(x * (x > 5))"],
    "(x > 5)": ["(Intercept)", "x > 5TRUE"],
}


@pytest.mark.parametrize("rhs", list(R_COLUMNS))
def test_r_column_names_and_coding(toy, rhs):
    d = build_design(f"y ~ {rhs} + (1 | g)", toy)
    assert d.x_names == R_COLUMNS[rhs]


def test_ordered_factor_gets_polynomial_contrasts(toy):
    # R: O <- factor(c("lo","mid","hi","top"), levels = c("lo","mid","hi","top"), ordered = TRUE)
    # model.matrix(~ O)[1:4, ] has O.L = -0.6708204 -0.2236068 0.2236068 0.6708204, O.Q = 0.5 -0.5 -0.5 0.5,
    # O.C = -0.2236068 0.6708204 -0.6708204 0.2236068; colnames(model.matrix(~ O*A)) and (~ 0 + O), (~ x:O)
    levels = ["lo", "mid", "hi", "top"]
    t = toy.assign(O=pd.Categorical(levels * 3, categories=levels, ordered=True))
    d = build_design("y ~ O + (1 | g)", t)
    assert d.x_names == ["(Intercept)", "O.L", "O.Q", "O.C"]
    np.testing.assert_allclose(d.X[:4, 1], [-0.6708204, -0.2236068, 0.2236068, 0.6708204], atol=1e-7)
    np.testing.assert_allclose(d.X[:4, 2], [0.5, -0.5, -0.5, 0.5], atol=1e-12)
    np.testing.assert_allclose(d.X[:4, 3], [-0.2236068, 0.6708204, -0.6708204, 0.2236068], atol=1e-7)
    t2 = toy.assign(O=pd.Categorical(np.repeat(levels, 3), categories=levels, ordered=True))
    assert build_design("y ~ O*A + (1 | g)", t2).x_names == [
        "(Intercept)", "O.L", "O.Q", "O.C", "Ab", "O.L:Ab", "O.Q:Ab", "O.C:Ab"]
    assert build_design("y ~ 0 + O + (1 | g)", t).x_names == ["Olo", "Omid", "Ohi", "Otop"]
    assert build_design("y ~ x:O + (1 | g)", t).x_names == ["(Intercept)", "x:Olo", "x:Omid", "x:Ohi", "x:Otop"]


def test_logical_values(toy):
    d = build_design("y ~ I((x > 3) & (x < 9)) + I(x * (x > 5)) + (1 | g)", toy)
    x = toy["x"].to_numpy()
    np.testing.assert_allclose(d.X[:, 1], ((x > 3) & (x < 9)).astype(float))
    np.testing.assert_allclose(d.X[:, 2], x * (x > 5))
    with pytest.raises(mm.FormulaError, match="only be tested with == or !="):
        build_design('y ~ I(A > "a") + (1 | g)', toy)


def test_interaction_without_margins_is_rank_deficient_like_r(toy):
    # R: model.matrix(~ A:C) has (Intercept), Aa:Cy, Ab:Cy, Aa:Cx, Ab:Cx; lme4 drops the aliased last one
    with pytest.warns(mm.RankDeficiencyWarning, match="dropping 1 column"):
        d = build_design("y ~ A:C + (1 | g)", toy)
    assert d.x_names == ["(Intercept)", "Aa:Cy", "Ab:Cy", "Aa:Cx"]
    assert d.dropped == ["Ab:Cx"]


def test_column_values(toy):
    d = build_design("y ~ A*x + (1 | g)", toy)
    X = d.X
    a_b = (toy["A"] == "b").to_numpy(float)
    np.testing.assert_allclose(X[:, 1], a_b)
    np.testing.assert_allclose(X[:, 3], a_b * toy["x"].to_numpy())


def test_poly_matches_r():
    # R: poly(1:5, 2)
    d = pd.DataFrame({"x": np.arange(1.0, 6.0), "y": [1.0, 3, 2, 5, 4], "g": list("aabbc")})
    X = build_design("y ~ poly(x, 2) + (1 | g)", d).X
    np.testing.assert_allclose(X[:, 1], [-0.6324555, -0.3162278, 0, 0.3162278, 0.6324555], atol=1e-7)
    np.testing.assert_allclose(X[:, 2], [0.5345225, -0.2672612, -0.5345225, -0.2672612, 0.5345225], atol=1e-7)


def test_terms_for_anova(toy):
    d = build_design("y ~ A*C + poly(x, 2) + (1 | g)", toy)
    assert [t.label for t in d.fixed_terms] == ["(Intercept)", "A", "C", "poly(x, 2)", "A:C"]
    assert d.fixed_terms[3].columns == [3, 4]


def test_missing_rows_dropped_and_counted(toy):
    t = toy.copy()
    t.loc[0, "x"] = np.nan
    t.loc[1, "y"] = np.nan
    t.loc[2, "g"] = None
    t.loc[3, "s"] = np.nan  # s is not in the formula: row 3 is kept
    d = build_design("y ~ x + (1 | g)", t)
    assert d.n == 9
    assert list(d.rows) == [3, 4, 5, 6, 7, 8, 9, 10, 11]


def test_offset(toy):
    d = build_design("y ~ x + offset(2 * x) + offset(log(x)) + (1 | g)", toy)
    np.testing.assert_allclose(d.offset, 2 * toy["x"] + np.log(toy["x"]))
    assert d.x_names == ["(Intercept)", "x"]


def test_grouping_interaction_levels_first_factor_slowest(toy):
    d = build_design("y ~ 1 + (1 | A:C)", toy)
    # R: levels(factor(A:C)) with A's levels a, b and C's levels y, x
    assert d.terms[0].group == "A:C"
    assert d.terms[0].levels == ["a:y", "a:x", "b:y", "b:x"]


def test_terms_sorted_by_levels_as_lme4(toy):
    # lme4's mkReTrms: rev(order(nlevels)) when the levels ever increase, so ties come in reverse
    # formula order (R: lmer(Reaction ~ 1 + (1|A) + (1|Subject) + (1|C)) orders Subject, C, A)
    d = build_design("y ~ 1 + (1 | A) + (1 | s) + (1 | C)", toy)
    assert [t.group for t in d.terms] == ["s", "C", "A"]
    # never increasing: the formula order is kept
    d = build_design("y ~ 1 + (1 | s) + (1 | A) + (1 | C)", toy)
    assert [t.group for t in d.terms] == ["s", "A", "C"]


def test_random_slope_columns(toy):
    d = build_design("y ~ x + (0 + A | g) + (x || s)", toy)
    names = [(t.group, t.cnames) for t in d.terms]
    # R: lmer(Reaction ~ Days + (0 + A|C) + (Days||Subject)) has cnms Subject: Days, Subject: (Intercept), C
    assert names == [("s", ["x"]), ("s", ["(Intercept)"]), ("g", ["Aa", "Ab"])]


def test_data_not_modified(toy):
    before = toy.copy(deep=True)
    cols = list(toy.columns)
    dtypes = toy.dtypes.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm.lmer("y ~ A*C + log(x) + factor(b) + (1 | g) + (1|s)", toy)
    pd.testing.assert_frame_equal(toy, before)
    assert list(toy.columns) == cols
    assert (toy.dtypes == dtypes).all()
    assert toy.attrs == {}


@pytest.mark.parametrize("formula, exc, fragment", [
    ("y ~ Dayz + (1 | g)", mm.FormulaError, "unknown column 'Dayz'"),
    ("y ~ x + (1 | gg)", mm.FormulaError, "did you mean 'g'"),
    ("y ~ x", mm.FormulaError, "no random-effects terms"),
    ("y ~ x + (1 | A)", None, None),
    ("~ x + (1 | g)", mm.FormulaError, "no response"),
    ("A ~ x + (1 | g)", mm.DataError, "not numeric"),
    ("y ~ system(x) + (1 | g)", mm.FormulaError, "not allowed"),
    ("y ~ eval(x) + (1 | g)", mm.FormulaError, "not allowed"),
    ("y ~ x^A + (1 | g)", mm.FormulaError, "I(x^2)"),
])
def test_bad_formulas(toy, formula, exc, fragment):
    if exc is None:
        build_design(formula, toy)
        return
    with pytest.raises(exc, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("^", r"\^")):
        build_design(formula, toy)


def test_formula_power_is_crossing_as_in_r(toy):
    # R: colnames(model.matrix(~ x^2)) is "(Intercept)" "x" -- '^' in a formula crosses terms
    assert build_design("y ~ x^2 + (1 | g)", toy).x_names == ["(Intercept)", "x"]
    assert build_design("y ~ I(x^2) + (1 | g)", toy).x_names == ["(Intercept)", "I(x^2)"]


def test_one_level_and_too_many_levels(toy):
    t = toy.assign(one="k", many=[f"l{i}" for i in range(12)])
    with pytest.raises(mm.ModelError, match="only one level"):
        build_design("y ~ x + (1 | one)", t)
    with pytest.raises(mm.ModelError, match="less than the number of observations"):
        build_design("y ~ x + (1 | many)", t)
    with pytest.raises(mm.ModelError, match="random effects"):
        build_design("y ~ x + (x + I(x^2) + I(x^3) | g)", t)


def test_unusable_column_types(toy):
    with pytest.raises(mm.DataError, match="complex"):
        build_design("y ~ z + (1 | g)", toy.assign(z=toy["x"] + 1j))
    with pytest.raises(mm.FormulaError, match="dates or times"):
        build_design("y ~ t + (1 | g)", toy.assign(t=pd.date_range("2020-01-01", periods=len(toy))))


def test_data_checks():
    with pytest.raises(mm.DataError, match="DataFrame"):
        build_design("y ~ x + (1 | g)", {"y": [1, 2]})
    with pytest.raises(mm.DataError, match="no rows"):
        build_design("y ~ x + (1 | g)", pd.DataFrame({"y": [], "x": [], "g": []}))
    dup = pd.DataFrame([[1.0, 2.0, "a"]], columns=["y", "y", "g"])
    with pytest.raises(mm.DataError, match="duplicate"):
        build_design("y ~ 1 + (1 | g)", dup)


def test_no_code_execution(tmp_path, toy):
    canary = tmp_path / "canary"
    attempts = [
        f"y ~ I(open('{canary}', 'w')) + (1 | g)",
        "y ~ __import__('os').system('touch " + str(canary) + "') + (1 | g)",
        "y ~ x.__class__ + (1 | g)",
        "y ~ {x} + (1 | g)",
        "y ~ I(x)[0] + (1 | g)",
        "y ~ exec('1') + (1 | g)",
        "y ~ x$attr + (1 | g)",
        "y ~ x; import os + (1 | g)",
    ]
    for f in attempts:
        with pytest.raises(mm.FormulaError):
            build_design(f, toy)
    assert not canary.exists()

"""R's update(): update_formula against R 4.2.2's update.formula, and refitting a fit."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import FormulaError, MixedModelsError
from mixedmodels.post.updating import update_formula

# (old, new, what R prints). Each third element is R 4.2.2's `print(update(OLD, NEW))`, run as
# Rscript -e 'print(update(Reaction ~ Days + (Days | Subject), . ~ . - Days))' and so on.
R_UPDATES = [
    ("Reaction ~ Days + (Days | Subject)", ". ~ . - Days", "Reaction ~ (Days | Subject)"),
    ("Reaction ~ Days + (Days | Subject)", ". ~ . + I(Days^2)",
     "Reaction ~ Days + (Days | Subject) + I(Days^2)"),
    ("Reaction ~ Days + (Days | Subject)", "log(.) ~ .", "log(Reaction) ~ Days + (Days | Subject)"),
    ("Reaction ~ Days + (Days | Subject)", ". ~ . - (Days | Subject) + (1 | Subject)",
     "Reaction ~ Days + (1 | Subject)"),
    ("y ~ A*C + (1|block) + (1|block:A)", ". ~ . - A:C", "y ~ A + C + (1 | block) + (1 | block:A)"),
    ("y ~ A*C + (1|block) + (1|block:A)", ". ~ . - (1|block:A)", "y ~ A + C + (1 | block) + A:C"),
    ("y ~ A*C + (1|block)", "~ . + x", "y ~ A + C + (1 | block) + x + A:C"),
    ("y ~ 0 + A + (1|g)", ". ~ . + B", "y ~ A + (1 | g) + B - 1"),
    ("y ~ A + offset(z) + (1|g)", ". ~ . - A", "y ~ (1 | g) + offset(z)"),
    ("y ~ poly(x, 2) + (1|g)", ". ~ . - poly(x, 2) + x", "y ~ (1 | g) + x"),
    ("y ~ A + (1|g)", ". ~ 1 + (1|g)", "y ~ (1 | g)"),
    ("y ~ A + (1|g)", "z ~ .", "z ~ A + (1 | g)"),
    ("y ~ A + (x||g)", ". ~ . - A", "y ~ (x || g)"),
    ("y ~ A + (1|a/b)", ". ~ . - A", "y ~ (1 | a/b)"),
    ("y ~ A + B", ". ~ . - 1", "y ~ A + B - 1"),
    ("y ~ A + B", ". ~ .:C", "y ~ A:C + B:C"),
    ("y ~ A + B", ". ~ . * C", "y ~ A + B + C + A:C + B:C"),
    ("y ~ A + offset(z) + (1|g)", ". ~ . - 1", "y ~ A + (1 | g) + offset(z) - 1"),
    ("y ~ A + offset(z) + offset(w) + (1|g)", ". ~ . + B", "y ~ A + (1 | g) + B + offset(z) + offset(w)"),
    ("y ~ A + B", ". ~ . - A - B", "y ~ 1"),
    ("y ~ A + B", ". ~ . - A - B - 1", "y ~ 1 - 1"),
    ("y ~ A + B", ". ~ -1", "y ~ 1 - 1"),
    ("y ~ B + A + A:B + (1|g)", ". ~ .", "y ~ B + A + (1 | g) + B:A"),
    ("y ~ A*B*C", ". ~ . - A:B:C", "y ~ A + B + C + A:B + A:C + B:C"),
    ("y ~ A + (1|g)", "~ . + log(x, 2)", "y ~ A + (1 | g) + log(x, 2)"),
    ("y ~ x + I(x^2)", ". ~ . - I(x^2)", "y ~ x"),
    ("y ~ A %in% B", ". ~ .", "y ~ A:B"),
    ("y ~ A/B", ". ~ .", "y ~ A + A:B"),
    ("y ~ (A+B+C)^2", ". ~ .", "y ~ A + B + C + A:B + A:C + B:C"),
    ("y ~ A + (1|g)", ". ~ . - (1 | g)", "y ~ A"),
    ("y ~ A + offset(z)", ". ~ . - offset(z)", "y ~ A + offset(z)"),  # R cannot drop an offset
    ("y ~ A + (1|g)", ". ~ . + A:x", "y ~ A + (1 | g) + A:x"),
    ("y ~ A + (1|g)", ". ~ -1 + .", "y ~ A + (1 | g) - 1"),
    ("y ~ 0 + A + (1|g)", ". ~ . + 1", "y ~ A + (1 | g)"),
    ("y ~ A + (1|g)", ". ~ . + (1|g)", "y ~ A + (1 | g)"),
    ("y ~ A + B:A", ". ~ .", "y ~ A + A:B"),
    ("log(y) ~ A", "exp(.) ~ .", "exp(log(y)) ~ A"),
    # R's intercept rule: the last 0 / 1 / -1 in the sum wins, parentheses around a sum only group
    ("y ~ A - (0 + B)", ". ~ .", "y ~ A"),
    ("y ~ A + (0 + B)", ". ~ .", "y ~ A + B - 1"),
    ("y ~ A - (B - 1)", ". ~ .", "y ~ A"),
    ("y ~ A - B + B", ". ~ .", "y ~ A + B"),
    ("y ~ (A + B)*C - B:C", ". ~ .", "y ~ A + B + C + A:C"),
    ("y ~ -1 + A + (1|g)", ". ~ .", "y ~ A + (1 | g) - 1"),
]


@pytest.mark.parametrize("old,new,expected", R_UPDATES, ids=[f"{o} | {n}" for o, n, _ in R_UPDATES])
def test_update_formula_as_r(old, new, expected):
    assert update_formula(old, new) == expected


def test_update_formula_errors_are_formula_errors():
    with pytest.raises(FormulaError):
        update_formula("y ~ x + (1|g)", ". ~ . +")
    with pytest.raises(FormulaError):
        update_formula("y ~ x + (1|g)", 3)
    with pytest.raises(FormulaError):
        update_formula("~ x + (1|g)", "log(.) ~ .")


def _sleep():
    return mm.datasets.load("sleepstudy")


def test_update_refits_the_reduced_model():
    m1 = mm.lmer("Reaction ~ Days + (Days | Subject)", _sleep())
    m0 = mm.update(m1, ". ~ . - Days")
    direct = mm.lmer("Reaction ~ (Days | Subject)", _sleep())
    assert m0.model.formula == "Reaction ~ (Days | Subject)"
    assert m0.objective == pytest.approx(direct.objective, abs=1e-9)
    assert m0.reml and m0.model.data_name == m1.model.data_name == "sleepstudy"
    # the summary names the updated formula, as R's does
    assert "Formula: Reaction ~ (Days | Subject)" in str(m0.summary())
    # and the likelihood-ratio test of the two is lme4's anova(m0, m1)
    table = mm.anova(m0, m1)
    assert table.shape[0] == 2


def test_update_method_and_data_keywords():
    m1 = mm.lmer("Reaction ~ Days + (Days | Subject)", _sleep())
    ml = m1.update(REML=False)
    assert not ml.reml
    assert ml.objective == pytest.approx(mm.lmer("Reaction ~ Days + (Days | Subject)", _sleep(),
                                                 REML=False).objective, abs=1e-9)
    half = _sleep().iloc[::2]
    sub = m1.update(data=half)
    assert sub.nobs == len(half)


def test_update_refuses_what_it_cannot_refit():
    with pytest.raises(MixedModelsError):
        mm.update("not a fit", ". ~ .")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mom = mm.LinearMixedModel("Reaction ~ Days + (1 | Subject)", _sleep()).fit(method="moments")
    with pytest.raises(MixedModelsError):
        mm.update(mom, ". ~ . - Days")


def test_update_works_on_the_expanded_double_bar_formula():
    """lme4's formula(m) of a (x || g) fit is the expanded one, and R's update() works on it:
    `. ~ . - (0 + Days | Subject)` removes the slope (it used to refit the same model)."""
    m = mm.lmer("Reaction ~ Days + (Days || Subject)", _sleep())
    u = mm.update(m, ". ~ . - (0 + Days | Subject)")
    assert u.model.formula == "Reaction ~ Days + (1 | Subject)"
    assert u.objective == pytest.approx(mm.lmer("Reaction ~ Days + (1 | Subject)", _sleep()).objective, abs=1e-8)
    assert mm.update(m, ". ~ . - (1 | Subject)").model.formula == "Reaction ~ Days + (0 + Days | Subject)"


def test_refits_start_from_the_fitted_theta_of_kept_terms():
    """update() and ranova() start a refit from the fitted theta of every random-effects term that carries
    over (same grouping factor, same columns); a new term, or one fitted at the boundary, starts from
    lme4's start (identity); and the refit reaches the optimum of a fit from lme4's start."""
    from mixedmodels.post.updating import theta_start

    d = _sleep()
    m1 = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    m0 = mm.lmer("Reaction ~ 1 + (Days | Subject)", d)
    assert np.array_equal(theta_start(m1, m0.design.terms), m1.theta)
    split = mm.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", d)
    assert theta_start(m1, split.design.terms) is None  # no term carries over
    start = theta_start(split, m1.design.terms[:1] + split.design.terms[1:])
    assert start.tolist() == [1.0, 0.0, 1.0] + [float(split.theta[1])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dye = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))  # singular: theta 0
    assert dye.theta[0] < 1e-4 and theta_start(dye, dye.design.terms) is None
    reduced = mm.update(m1, ". ~ . - Days")
    assert reduced.objective == pytest.approx(m0.objective, abs=1e-8)

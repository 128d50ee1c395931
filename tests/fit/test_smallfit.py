"""The compiled small-model evaluator (mixedmodels.fit.smallfit) computes the same criterion and gradient as
the blocked NumPy factor (criterion.py) and gradient (gradient.py), on every kind of term layout."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedmodels as mm
from conftest import load_fixture
from mixedmodels.fit import kernels, smallfit
from mixedmodels.fit.gradient import gradient
from mixedmodels.fit.optimize import optimize_with_gradient
from mixedmodels.model import LinearMixedModel
from .test_gradient import FORMULAS, criterion_of, make_data, problems, random_theta

MODELS = load_fixture("lme4_models.json")["models"]


@pytest.fixture(autouse=True)
def compiled_at_once():
    """These tests check the compiled evaluator itself: loaded (compiled where its code is not cached yet)
    before they run, so "auto" takes it at once (the rent-or-buy rule, kernels.Account)."""
    assert smallfit.load_compiled()


def numpy_value_and_gradient(crit, theta):
    """The NumPy path: the blocked factor, its objective and gradient_from_factor (mode="dense")."""
    f = crit.factor(theta, need_C=False)
    return float(crit.objective_from_factor(f)), gradient(crit, theta, mode="dense")[1]


def assert_same(crit, theta):
    ev = crit.small_evaluator()
    assert ev is not None
    v, g = ev(theta)
    v0, g0 = numpy_value_and_gradient(crit, theta)
    # both are exact to the rounding of the cross-products (~1e-12 relative: y'y less its fitted part)
    assert v == pytest.approx(v0, rel=1e-11, abs=1e-10)
    np.testing.assert_allclose(g, g0, rtol=1e-8, atol=1e-8 * max(1.0, np.abs(g0).max()))
    v_only, none = ev(theta, want_grad=False)
    assert none is None and v_only == v


@settings(max_examples=60, deadline=None)
@given(problems(), st.booleans())
def test_compiled_equals_numpy_on_random_designs(problem, reml):
    df, form, seed = problem
    crit = criterion_of(df, form, reml)
    if crit is None:
        return
    rng = np.random.default_rng(seed + 3)
    assert_same(crit, random_theta(crit, rng))
    # on the boundary: every diagonal element of every lambda at 0
    theta = random_theta(crit, rng)
    theta[crit.lower_bounds() == 0] = 0.0
    assert_same(crit, theta)


@pytest.mark.parametrize("form", FORMULAS)
@pytest.mark.parametrize("reml", [True, False])
def test_compiled_equals_numpy_on_every_layout(form, reml):
    """Each layout once, deterministically: scalar and vector first terms, diagonal and non-diagonal
    later terms, nested and crossed, no intercept, a 3 x 3 lambda."""
    crit = criterion_of(make_data(11, 60, 7, 4), form, reml)
    assert_same(crit, random_theta(crit, np.random.default_rng(5)))


@pytest.mark.parametrize("ref", MODELS, ids=[m["id"] for m in MODELS])
def test_compiled_equals_numpy_at_lme4_theta(ref):
    m = LinearMixedModel(ref["formula"], mm.datasets.load(ref["dataset"]))
    crit = m.criterion(ref["REML"])
    theta = np.asarray(ref["theta"], dtype=float)
    assert_same(crit, theta)
    # and the value is lme4's criterion at lme4's theta
    assert crit(theta) == pytest.approx(ref["objective"], abs=1e-6)


def test_not_finite_theta_gives_inf_and_no_gradient():
    crit = criterion_of(make_data(2, 40, 5, 3), "y ~ x + (x | g1) + (1 | g2)", True)
    v, g = crit.small_evaluator()(np.array([np.nan, 0.0, 1.0, 1.0]))
    assert v == np.inf and g is None


def test_large_models_do_not_use_it():
    df = make_data(3, 4000, 1500, 1200)
    crit = criterion_of(df, "y ~ x + (1 | g1) + (1 | g2)", True)
    assert crit.path.name != "small"
    assert crit.small_evaluator() is None


def test_optimizer_reaches_the_same_optimum_either_way():
    """The quasi-Newton on the compiled evaluator and on the NumPy path (path="dense" forces it) reach
    the same optimum."""
    crit = criterion_of(make_data(7, 120, 12, 5), "y ~ x + (x | g1) + (1 | g2)", True)
    a = optimize_with_gradient(crit, crit.theta_init(), crit.lower_bounds())
    assert crit.path.name == "small"
    b = optimize_with_gradient(crit.with_path("dense"), crit.theta_init(), crit.lower_bounds())
    assert a.objective == pytest.approx(b.objective, abs=1e-9)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-4, atol=1e-6)

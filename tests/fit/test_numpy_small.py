"""The NumPy small-model evaluator (smallfit.NumpySmallEvaluator), which the dense path uses for the small
models a process fits before it loads the compiled evaluator: the same criterion and gradient as the
blocked factor (criterion.py) and gradient_from_factor (gradient.py), and the same optimum."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedmodels as mm
from conftest import load_fixture
from mixedmodels.fit import paths
from mixedmodels.fit.gradient import gradient
from mixedmodels.fit.optimize import optimize_with_gradient
from mixedmodels.fit.smallfit import NumpySmallEvaluator
from mixedmodels.model import LinearMixedModel
from .test_gradient import FORMULAS, criterion_of, make_data, problems, random_theta

MODELS = load_fixture("lme4_models.json")["models"]


def assert_same(crit, theta):
    ev = NumpySmallEvaluator(crit)
    v, g = ev(theta)
    f = crit.factor(theta, need_C=False)
    v0 = float(crit.objective_from_factor(f))
    g0 = gradient(crit, theta, mode="dense")[1]
    assert v == pytest.approx(v0, rel=1e-11, abs=1e-10)
    np.testing.assert_allclose(g, g0, rtol=1e-8, atol=1e-8 * max(1.0, np.abs(g0).max()))
    v_only, none = ev(theta, want_grad=False)
    assert none is None and v_only == v
    # evaluate / gradient as the optimizer calls them
    v2, state = ev.evaluate(theta)
    assert v2 == v
    np.testing.assert_array_equal(ev.gradient(state), g)


@settings(max_examples=60, deadline=None)
@given(problems(), st.booleans())
def test_numpy_small_equals_the_blocked_factor_on_random_designs(problem, reml):
    df, form, seed = problem
    crit = criterion_of(df, form, reml)
    if crit is None:
        return
    rng = np.random.default_rng(seed + 3)
    assert_same(crit, random_theta(crit, rng))
    theta = random_theta(crit, rng)
    theta[crit.lower_bounds() == 0] = 0.0  # on the boundary
    assert_same(crit, theta)


@pytest.mark.parametrize("form", FORMULAS)
@pytest.mark.parametrize("reml", [True, False])
def test_numpy_small_on_every_layout(form, reml):
    """Scalar, 2 x 2 (closed form) and 3 x 3 first terms; diagonal and non-diagonal later terms; no
    intercept; nested and crossed."""
    crit = criterion_of(make_data(11, 60, 7, 4), form, reml)
    assert_same(crit, random_theta(crit, np.random.default_rng(5)))


@pytest.mark.parametrize("ref", MODELS, ids=[m["id"] for m in MODELS])
def test_numpy_small_at_lme4_theta(ref):
    m = LinearMixedModel(ref["formula"], mm.datasets.load(ref["dataset"]))
    crit = m.criterion(ref["REML"])
    if not paths.small_size(crit):
        pytest.skip("not a small model")
    theta = np.asarray(ref["theta"], dtype=float)
    assert_same(crit, theta)
    # lme4's criterion at lme4's theta (tests/r/make_fixtures.R: lmer(formula, data, REML))
    assert NumpySmallEvaluator(crit)(theta)[0] == pytest.approx(ref["objective"], abs=1e-6)


def test_weights_enter_as_the_criterion_has_them():
    df = make_data(4, 80, 8, 3)
    df["w"] = np.random.default_rng(1).uniform(0.5, 2.0, size=len(df))
    m = LinearMixedModel("y ~ x + (x | g1) + (1 | g2)", df, weights="w")
    crit = m.criterion(True, "dense")
    assert_same(crit, random_theta(crit, np.random.default_rng(2)))


def test_not_finite_or_not_positive_definite_gives_inf():
    crit = criterion_of(make_data(2, 40, 5, 3), "y ~ x + (x | g1) + (1 | g2)", True)
    ev = NumpySmallEvaluator(crit)
    v, g = ev(np.array([np.nan, 0.0, 1.0, 1.0]))
    assert v == np.inf and g is None
    assert ev.evaluate(np.array([np.inf, 0.0, 1.0, 1.0])) == (np.inf, None)


def test_the_dense_path_of_small_models_uses_it_and_reaches_the_same_optimum():
    crit = criterion_of(make_data(7, 120, 12, 5), "y ~ x + (x | g1) + (1 | g2)", True)
    dense = crit.with_path("dense")
    assert isinstance(dense.path._numpy_small, NumpySmallEvaluator)
    assert crit.with_path("small").path._numpy_small is None  # the compiled path has its own
    a = optimize_with_gradient(dense, dense.theta_init(), dense.lower_bounds())
    b = optimize_with_gradient(crit.with_path("small"), crit.theta_init(), crit.lower_bounds())
    assert a.objective == pytest.approx(b.objective, abs=1e-9)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-4, atol=1e-6)


def test_larger_dense_models_keep_the_blocked_factor():
    df = make_data(3, 3000, 300, 120)
    crit = criterion_of(df, "y ~ x + (1 | g1) + (1 | g2)", True)
    dense = crit.with_path("dense")
    assert not paths.small_size(dense)
    assert dense.path._numpy_small is None

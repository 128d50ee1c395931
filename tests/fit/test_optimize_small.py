"""The quasi-Newton search on Python floats (optimize._bfgs_small, for a theta of a few elements) is the
NumPy search (optimize._projected_bfgs without bounds) step for step: the same points (to rounding, which
near a flat optimum grows to ~1e-6 in theta), the same number of evaluations and gradients, the same
optimum."""

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.fit import optimize
from mixedmodels.fit.optimize import Evaluations, _bfgs_small, _chol_solve_small, _projected_bfgs
from mixedmodels.model import LinearMixedModel
from .test_gradient import FORMULAS, criterion_of, make_data

DATASETS = [("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
            ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
            ("Pastes", "strength ~ 1 + (1 | batch/cask)")]


def both(crit, theta0):
    a, b = Evaluations(crit), Evaluations(crit)
    ra = _bfgs_small(a, theta0, 1e-11, 500)
    rb = _projected_bfgs(b, theta0, np.full(len(theta0), -np.inf), 1e-11, 500)
    return (a, ra), (b, rb)


def assert_same_search(crit, theta0):
    (a, ra), (b, rb) = both(crit, theta0)
    assert ra[3] == rb[3] and ra[4] == rb[4]  # message, converged
    assert a.nevals == b.nevals and a.ngrad == b.ngrad
    for (ta, va), (tb, vb) in zip(a.fitlog(), b.fitlog()):
        np.testing.assert_allclose(ta, tb, rtol=1e-5, atol=1e-6)
        assert va == pytest.approx(vb, rel=1e-9)  # rounding differences along the path
    np.testing.assert_allclose(ra[0], rb[0], rtol=1e-5, atol=1e-6)
    assert ra[1] == pytest.approx(rb[1], rel=1e-12)
    assert isinstance(ra[0], np.ndarray) and isinstance(ra[2], np.ndarray)


@pytest.mark.parametrize("name,formula", DATASETS)
@pytest.mark.parametrize("path", ["small", "dense"])
def test_same_search_on_the_bundled_data(name, formula, path):
    crit = LinearMixedModel(formula, mm.datasets.load(name)).criterion(True, path)
    assert_same_search(crit, crit.theta_init())


@pytest.mark.parametrize("form", FORMULAS)
@pytest.mark.parametrize("reml", [True, False])
def test_same_search_on_every_layout(form, reml):
    crit = criterion_of(make_data(17, 80, 8, 4), form, reml)
    assert crit.ntheta <= optimize.SMALL_BFGS_MAX
    assert_same_search(crit, crit.theta_init())


def test_fit_theta_takes_it_for_small_theta_only(monkeypatch):
    crit = LinearMixedModel(DATASETS[0][1], mm.datasets.load("sleepstudy")).criterion(True)
    calls = []
    real = optimize._bfgs_small
    monkeypatch.setattr(optimize, "_bfgs_small", lambda *a, **k: calls.append(1) or real(*a, **k))
    o1 = optimize.fit_theta(crit, crit.theta_init(), crit.lower_bounds())
    assert calls
    calls.clear()
    monkeypatch.setattr(optimize, "SMALL_BFGS_MAX", 2)  # sleepstudy has 3 parameters: the NumPy search
    o2 = optimize.fit_theta(crit, crit.theta_init(), crit.lower_bounds())
    assert not calls
    assert o1.objective == pytest.approx(o2.objective, rel=1e-13) and o1.feval == o2.feval
    np.testing.assert_allclose(o1.theta, o2.theta, rtol=1e-7)
    # other bounds than lme4's: the projected search
    lower = np.zeros(3)
    optimize.fit_theta(crit, crit.theta_init(), lower, "gradient")
    assert not calls


def test_small_cholesky_solve():
    rng = np.random.default_rng(3)
    for n in range(1, 9):
        A = rng.normal(size=(n, n))
        B = A @ A.T + n * np.eye(n)
        g = rng.normal(size=n)
        np.testing.assert_allclose(_chol_solve_small(B.tolist(), g.tolist()), np.linalg.solve(B, g), rtol=1e-10)
    with pytest.raises(np.linalg.LinAlgError):
        _chol_solve_small([[1.0, 2.0], [2.0, 1.0]], [1.0, 1.0])
    with pytest.raises(np.linalg.LinAlgError):
        _chol_solve_small([[np.nan, 0.0], [0.0, 1.0]], [1.0, 1.0])

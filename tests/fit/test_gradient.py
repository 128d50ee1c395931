"""The analytic gradient of the profiled criterion (mixedmodels.fit.gradient) and the quasi-Newton optimizer
built on it."""

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import mixedmodels as mm
from conftest import load_fixture
from mixedmodels.frame.design import build_design
from mixedmodels.fit.gradient import gradient, gradient_from_factor
from mixedmodels.fit.optimize import canonical_theta as _canonical, optimize_with_gradient
from mixedmodels.model import LinearMixedModel
from mixedmodels.fit.optimize import optimize_theta

from .conftest import criterion_of_design

MODELS = load_fixture("lme4_models.json")["models"]
IDS = [m["id"] for m in MODELS]

FORMULAS = [
    "y ~ x + (1 | g1)",
    "y ~ x + (x | g1)",
    "y ~ x + (x || g1)",
    "y ~ x + f + (1 | g1) + (1 | g2)",
    "y ~ x + (1 | g1) + (0 + x | g2)",
    "y ~ 1 + (x | g1) + (1 | g2)",
    "y ~ x + (1 | g1) + (x | g2)",          # a vector term after the first (non-diagonal rest scaling)
    "y ~ x + (x || g1) + (x | g2)",
    "y ~ x + (1 | g1) + (1 | g1:g2)",       # nested
    "y ~ x + (1 + x + z | g1)",             # a 3 x 3 lambda
    "y ~ 0 + x + (1 | g1) + (1 | g2)",
]


def central_fd(crit, theta, rel=1e-3):
    """Five-point central differences (error O(h^4) + rounding / h): the criterion is a smooth function
    of theta on the whole space (it depends on lambda lambda' only), so the stencil may cross 0."""
    g = np.zeros_like(theta)
    for i in range(len(theta)):
        h = rel * max(1.0, abs(theta[i]))
        e = np.zeros_like(theta)
        e[i] = h
        d1 = crit(theta + e) - crit(theta - e)
        d2 = crit(theta + 2 * e) - crit(theta - 2 * e)
        g[i] = (8 * d1 - d2) / (12 * h)
    return g


def assert_grad_close(g, gfd, rtol=1e-5):
    scale = max(1.0, np.abs(gfd).max())
    np.testing.assert_allclose(g, gfd, rtol=rtol, atol=rtol * 1e-2 * scale)


def make_data(seed, n, k1, k2):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x": rng.normal(size=n),
        "z": rng.normal(size=n),
        "f": rng.choice(["a", "b", "c"], size=n),
        "g1": rng.integers(0, k1, size=n).astype(str),
        "g2": rng.integers(0, k2, size=n).astype(str),
    })
    df["y"] = rng.normal(size=n) + df["x"] + rng.normal(size=k1)[rng.integers(0, k1, size=n)]
    return df


def random_theta(crit, rng, spread=1.5):
    lower = crit.lower_bounds()
    return crit.theta_init() + rng.uniform(0, spread, size=crit.ntheta) * np.where(
        np.isfinite(lower), 1.0, rng.choice([-1.0, 1.0], size=crit.ntheta))


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 10_000))
    n = draw(st.integers(20, 60))
    k1 = draw(st.integers(3, 8))
    k2 = draw(st.integers(2, 4))
    form = draw(st.sampled_from(FORMULAS))
    return make_data(seed, n, k1, k2), form, seed


def criterion_of(df, form, reml):
    try:
        design = build_design(form, df)
    except ValueError:
        return None  # a draw lme4 would refuse
    if design.n <= design.p + 2:
        return None
    return criterion_of_design(design, reml)


# ------------------------------------------------------------------------ gradient = finite differences
@settings(max_examples=60, deadline=None)
@given(problems(), st.booleans())
def test_gradient_equals_finite_differences(problem, reml):
    df, form, seed = problem
    crit = criterion_of(df, form, reml)
    if crit is None:
        return
    theta = random_theta(crit, np.random.default_rng(seed + 1))
    value, g = gradient(crit, theta)
    assert value == pytest.approx(crit(theta), rel=1e-12)
    assert_grad_close(g, central_fd(crit, theta))


@settings(max_examples=25, deadline=None)
@given(problems(), st.booleans())
def test_compiled_and_chunked_paths_equal_dense(problem, reml):
    """The level-by-level compiled kernel (large models) and the sparse chunked path give the same
    gradient as the dense path small models take."""
    df, form, seed = problem
    crit = criterion_of(df, form, reml)
    if crit is None:
        return
    theta = random_theta(crit, np.random.default_rng(seed + 2))
    _, g_dense = gradient(crit, theta, mode="dense")
    if crit.rest_diag:
        _, g_kernel = gradient(crit, theta, mode="blocks")
        np.testing.assert_allclose(g_kernel, g_dense, rtol=1e-9, atol=1e-9 * max(1, np.abs(g_dense).max()))
    f = crit.factor(theta, need_C=False)
    g_chunk = gradient_from_factor(crit, f, mode="sparse", chunk_elements=7)  # many chunks of a few levels
    np.testing.assert_allclose(g_chunk, g_dense, rtol=1e-9, atol=1e-9 * max(1, np.abs(g_dense).max()))
    # the chunked products also where the sparse path gathers Minv through its layout (scalar later terms)
    g_chunk = gradient_from_factor(crit, f, mode="sparse", chunk_elements=7, layout=False)
    np.testing.assert_allclose(g_chunk, g_dense, rtol=1e-9, atol=1e-9 * max(1, np.abs(g_dense).max()))


@pytest.mark.parametrize("ref", MODELS, ids=IDS)
def test_gradient_on_datasets(ref):
    m = LinearMixedModel(ref["formula"], mm.datasets.load(ref["dataset"]))
    crit = m.criterion(ref["REML"])
    rng = np.random.default_rng(len(ref["formula"]))
    for theta in (crit.theta_init(), np.asarray(ref["theta"]) * 1.1 + 0.05, random_theta(crit, rng)):
        _, g = gradient(crit, theta)
        assert_grad_close(g, central_fd(crit, theta))
    # at lme4's optimum the gradient (projected on the bounds) is ~0 on the criterion's scale
    theta = np.asarray(ref.get("theta_tight") or ref["theta"])
    _, g = gradient(crit, theta)
    free = ~(theta <= crit.lower_bounds() + 1e-8)
    assert np.all(np.abs(g[free]) < 1e-2 * max(1.0, np.sqrt(crit.n)))


# ------------------------------------------------------------------------------------ the boundary
@pytest.mark.parametrize("form", ["y ~ x + (1 | g1) + (1 | g2)", "y ~ x + (x | g1) + (1 | g2)",
                                  "y ~ x + (1 | g1) + (x | g2)", "y ~ x + (1 | g1) + (1 | g1:g2)"])
@pytest.mark.parametrize("reml", [True, False])
def test_gradient_on_and_near_the_boundary(form, reml):
    crit = criterion_of(make_data(11, 80, 9, 4), form, reml)
    rng = np.random.default_rng(3)
    base = random_theta(crit, rng, spread=0.8)
    diag = np.isfinite(crit.lower_bounds())
    for i in np.flatnonzero(diag):
        for t in (0.0, 1e-3, 0.05):
            theta = base.copy()
            theta[i] = t
            _, g = gradient(crit, theta)
            assert_grad_close(g, central_fd(crit, theta, rel=1e-4))
    # every diagonal element at 0: the model without random effects
    theta = np.where(diag, 0.0, base)
    _, g = gradient(crit, theta)
    assert_grad_close(g, central_fd(crit, theta, rel=1e-4))


@pytest.mark.parametrize("reml", [True, False])
def test_scalar_term_derivative_at_zero_is_zero_and_one_sided_limit_smooth(reml):
    """The criterion depends on a scalar term's theta only through theta^2, so the derivative at 0 is
    exactly 0; approaching 0, grad/theta tends to a finite limit (2 dF/d(theta^2)) with no loss of
    accuracy (the formulas never divide by theta)."""
    crit = criterion_of(make_data(5, 90, 9, 5), "y ~ x + (1 | g1) + (1 | g2)", reml)
    for i in range(2):
        ratios = []
        for t in (1e-3, 1e-5, 1e-7, 1e-9):
            theta = np.array([0.7, 0.4])
            theta[i] = t
            ratios.append(gradient(crit, theta)[1][i] / t)
        theta = np.array([0.7, 0.4])
        theta[i] = 0.0
        assert gradient(crit, theta)[1][i] == 0.0
        np.testing.assert_allclose(ratios[1:], ratios[-1], rtol=1e-6)
        np.testing.assert_allclose(ratios[0], ratios[-1], rtol=1e-3)


def test_canonical_form_is_the_same_model():
    crit = criterion_of(make_data(2, 70, 8, 4), "y ~ x + (x | g1) + (1 | g2)", True)
    theta = np.array([-0.8, 0.3, -0.4, -0.6])
    canon = _canonical(crit, theta)
    np.testing.assert_allclose(canon, [0.8, -0.3, 0.4, 0.6])
    assert crit(canon) == pytest.approx(crit(theta), rel=1e-13)


def test_not_positive_definite_reports_none():
    crit = criterion_of(make_data(2, 40, 5, 3), "y ~ x + (1 | g1)", True)
    value, g = gradient(crit, np.array([np.nan]))
    assert g is None


# ------------------------------------------------------------------------------------ the optimizer
_BOBYQA: dict = {}


def fits(ref):
    if ref["id"] not in _BOBYQA:
        m = LinearMixedModel(ref["formula"], mm.datasets.load(ref["dataset"]))
        crit = m.criterion(ref["REML"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            crit.nevals = 0
            ob = optimize_theta(crit, crit.theta_init(), crit.lower_bounds())
            crit.nevals = 0
            og = optimize_with_gradient(crit, crit.theta_init(), crit.lower_bounds())
        _BOBYQA[ref["id"]] = (crit, ob, og)
    return _BOBYQA[ref["id"]]


@pytest.mark.parametrize("ref", MODELS, ids=IDS)
def test_optimizer_reaches_lme4_optimum(ref):
    crit, ob, og = fits(ref)
    assert og.converged
    assert og.objective <= ref["objective_tight"] + 1e-6
    assert og.objective <= ob.objective + 1e-6
    assert og.objective >= ref["objective_tight"] - 1e-6
    assert np.all(og.theta >= crit.lower_bounds())
    target = ref.get("theta_tight") if ref["objective"] - ref["objective_tight"] > 1e-8 else ref["theta"]
    np.testing.assert_allclose(og.theta, target, atol=2e-4)
    assert og.feval == crit.nevals  # every factorization is counted
    assert og.optimizer.startswith("BFGS")  # no BOBYQA fallback needed on these


def test_optimizer_uses_fewer_evaluations_than_bobyqa():
    total_b = total_g = total_grad = 0
    for ref in MODELS:
        _, ob, og = fits(ref)
        total_b += ob.feval
        total_g += og.feval
        total_grad += og.ngrad
    print(f"\nfixture models: BOBYQA {total_b} evaluations; gradient optimizer {total_g} evaluations "
          f"of which {total_grad} with a gradient")
    assert total_g < total_b
    assert total_g + total_grad < total_b  # even counting each gradient as a second evaluation


def test_optimizer_boundary_fit_is_exactly_on_the_bound():
    ref = next(m for m in MODELS if m["dataset"] == "Dyestuff2")
    _, _, og = fits(ref)
    assert og.theta[0] == 0.0


def test_optimizer_with_other_bounds_is_projected():
    ref = next(m for m in MODELS if m["dataset"] == "Penicillin" and "sample +" not in m["formula"])
    crit, _, _ = fits(ref)
    lower = np.array([0.0, 4.0])  # the sample term held above its optimum (about 3.5)
    og = optimize_with_gradient(crit, np.array([1.0, 5.0]), lower)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ob = optimize_theta(crit, np.array([1.0, 5.0]), lower)
    assert og.theta[1] == 4.0
    assert og.objective <= ob.objective + 1e-6
    assert og.optimizer.startswith("projected")


def test_optimizer_falls_back_to_bobyqa():
    ref = next(m for m in MODELS if m["formula"] == "Reaction ~ Days + (Days | Subject)" and m["REML"])
    crit, ob, _ = fits(ref)
    og = optimize_with_gradient(crit, crit.theta_init(), crit.lower_bounds(), maxiter=2)
    assert "bobyqa" in og.optimizer
    assert og.objective <= ob.objective + 1e-6


# ------------------------------------------------------------------------------------ a big model
def test_insteval_counts_and_times():
    """Prints (does not assert) evaluations and time of both optimizers on InstEval (73,421 rows)."""
    cases = pytest.importorskip("benchmarks.cases")
    case = next(c for c in cases.CASES if c.name == "insteval")
    m = LinearMixedModel(case.formula, case.load())
    crit = m.criterion(True)
    theta0 = crit.theta_init()
    gradient(crit, theta0)  # compile
    t0 = time.perf_counter()
    og = optimize_with_gradient(crit, theta0, crit.lower_bounds())
    tg = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ob = optimize_theta(crit, theta0, crit.lower_bounds())
        tb = time.perf_counter() - t0
    print(f"\nInstEval: BOBYQA {ob.feval} evaluations {tb:.2f} s; gradient {og.feval} evaluations "
          f"({og.ngrad} with gradient) {tg:.2f} s; criterion difference {og.objective - ob.objective:+.2e}")
    assert og.objective <= ob.objective + 1e-6
    assert og.feval + og.ngrad < ob.feval

"""The evaluation paths that exploit the terms' structure (mixedmodels.fit.paths): ``nested`` (two nested
terms, an arrowhead rest block: mixedmodels.fit.nested) and ``amalgamated`` (consecutive terms on one
grouping factor as one term). Each is the same function of theta as the dense path (whose optimum is
checked against lme4's fixtures elsewhere), so they are checked against it: values and gradients at
interior and boundary points, REML and ML, weights, and whole fits."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import ModelError
from mixedmodels.fit import paths
from mixedmodels.model import LinearMixedModel


def _schools(seed=3, ns=30, nc=6, npup=5):
    """Pupils in classes in schools, a slope varying by school (benchmarks' nested3, smaller)."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(ns), nc * npup)
    klass = np.repeat(np.arange(ns * nc), npup)
    x = rng.normal(size=len(school))
    u = rng.multivariate_normal([0, 0], [[1.0, 0.2], [0.2, 0.3]], size=ns)
    v = rng.normal(scale=0.5, size=ns * nc)
    y = 1 + 0.5 * x + u[school, 0] + u[school, 1] * x + v[klass] + rng.normal(size=len(x))
    return pd.DataFrame({"y": y, "x": x, "w": rng.uniform(0.5, 2.0, len(x)),
                         "school": [f"s{i}" for i in school], "classroom": [f"c{i % nc}" for i in klass]})


def _kb07(seed=7, nsubj=24, nitem=16):
    """A kb07-shaped design with two-level factors S, P, L (benchmarks' kb07_zcp_factor, smaller)."""
    rng = np.random.default_rng(seed)
    subj = np.repeat(np.arange(nsubj), nitem)
    item = np.tile(np.arange(nitem), nsubj)
    cell = (subj + item) % 8
    s, p, l = ((cell >> k) & 1 for k in range(3))
    y = 7.5 + 0.3 * rng.normal(size=nsubj)[subj] + 0.2 * rng.normal(size=nitem)[item] \
        + 0.1 * (s - .5) * rng.normal(size=nsubj)[subj] + 0.1 * (p - .5) * rng.normal(size=nitem)[item] \
        + rng.normal(scale=0.5, size=len(cell))
    return pd.DataFrame({"y": y, "subj": [f"s{i:02d}" for i in subj], "item": [f"i{i:02d}" for i in item],
                         "S": np.where(s, "b", "a"), "P": np.where(p, "b", "a"), "L": np.where(l, "b", "a")})


NESTED = [
    "y ~ x + (1 + x | school) + (1 | school:classroom)",       # scalar first term, 2 x 2 second
    "y ~ x + (1 + x | school:classroom) + (1 | school)",       # 2 x 2 first term, scalar second
    "y ~ x + (1 | school/classroom)",                           # both scalar
]
ZCP = "y ~ S*P*L + (1 + S + P + L || subj) + (1 + S + P + L || item)"


def _points(crit, seed=1):
    rng = np.random.default_rng(seed)
    lower = crit.lower_bounds()
    pts = []
    for k in range(3):
        th = crit.theta_init() * rng.uniform(0.2, 1.5, crit.ntheta) + rng.normal(0, .3, crit.ntheta) * (lower < 0)
        if k == 2:  # on the boundary: every diagonal element of the first term at 0
            th[crit.theta_slices[0][lower[crit.theta_slices[0]] == 0]] = 0.0
        pts.append(th)
    return pts


def _agree(crit, name, weights=False):
    ref = crit.with_path("dense")
    assert crit.path.name == name
    for th in _points(crit):
        v1, g1 = crit.value_and_gradient(th)
        v2, g2 = ref.value_and_gradient(th)
        assert v1 == pytest.approx(v2, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(g1, g2, rtol=1e-8, atol=1e-8 * max(1.0, np.abs(g2).max()))
        assert crit(th) == pytest.approx(v2, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("formula", NESTED)
@pytest.mark.parametrize("reml", [True, False])
def test_nested_path_is_the_dense_criterion(formula, reml):
    crit = LinearMixedModel(formula, _schools()).criterion(reml, path="nested")
    _agree(crit, "nested")


def test_nested_path_with_weights():
    d = _schools()
    crit = LinearMixedModel(NESTED[0], d, weights="w").criterion(True, path="nested")
    _agree(crit, "nested")


@pytest.mark.parametrize("formula", NESTED[:2])
def test_nested_fit_is_the_dense_fit(formula):
    d = _schools()
    a = mm.lmer(formula, d, path="nested")
    b = mm.lmer(formula, d, path="dense")
    assert a.optinfo.path == "nested" and b.optinfo.path == "dense"
    assert a.objective <= b.objective + 1e-6
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-4)
    np.testing.assert_allclose(a.optinfo.theta, b.optinfo.theta, rtol=1e-3, atol=1e-4)
    # the results come from the factor in the model's own layout
    for t in a.ranef:
        np.testing.assert_allclose(np.asarray(a.ranef[t]), np.asarray(b.ranef[t]), rtol=1e-3, atol=1e-5)
    assert str(a.summary()).splitlines()[-12:] == str(b.summary()).splitlines()[-12:]


def test_auto_takes_the_nested_path_where_it_pays():
    big = LinearMixedModel(NESTED[0], _schools(ns=60, nc=10)).criterion(True)
    assert big.path.name == "nested"
    # tiny models stay on the dense (or compiled small) path: the batched steps cost more there
    tiny = LinearMixedModel("strength ~ 1 + (1 | batch/cask)", mm.datasets.load("Pastes")).criterion(True)
    assert tiny.path.name in ("small", "dense")
    # crossed terms are not nested
    assert paths.nested_map(LinearMixedModel(ZCP, _kb07()).criterion(True)) is None


def test_nested_path_refused_where_the_terms_are_crossed():
    d = _kb07()
    with pytest.raises(ModelError, match="nested"):
        LinearMixedModel("y ~ 1 + (1 | subj) + (1 | item)", d).criterion(True, path="nested")


@pytest.mark.parametrize("reml", [True, False])
def test_amalgamated_path_is_the_dense_criterion(reml):
    crit = LinearMixedModel(ZCP, _kb07()).criterion(reml, path="amalgamated")
    inner = crit.path.inner
    # eight terms as two: the first subject's seven columns together, theta in lme4's order unchanged
    assert len(crit.terms) == 8 and len(inner.terms) == 2 and inner.terms[0].ncols == 7
    assert inner.ntheta == crit.ntheta == 20
    np.testing.assert_array_equal(inner.lower_bounds(), crit.lower_bounds())
    assert inner.m < crit.m
    _agree(crit, "amalgamated")


def test_amalgamated_fit_is_the_dense_fit_and_auto_takes_it():
    d = _kb07()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = mm.lmer(ZCP, d)
        b = mm.lmer(ZCP, d, path="dense")
    assert a.optinfo.path == "amalgamated" and b.optinfo.path == "dense"
    assert a.objective <= b.objective + 1e-6
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-4)
    assert list(a.varcorr["grp"]) == list(b.varcorr["grp"])
    np.testing.assert_allclose(a.varcorr["vcov"], b.varcorr["vcov"], rtol=1e-3, atol=1e-6)


def test_amalgamated_then_nested():
    """``(1 + x || school)`` is two terms on one factor; amalgamated, the model is two nested terms."""
    d = _schools(ns=60, nc=10)
    crit = LinearMixedModel("y ~ x + (1 + x || school) + (1 | school:classroom)", d).criterion(True,
                                                                                             path="amalgamated")
    assert crit.path.inner.path.name == "nested"
    _agree(crit, "amalgamated")


def test_amalgamated_path_refused_without_terms_to_merge():
    with pytest.raises(ModelError, match="amalgamated"):
        LinearMixedModel(NESTED[0], _schools()).criterion(True, path="amalgamated")


def test_auto_amalgamates_into_nested_terms():
    """The same number of rest columns either way, but amalgamated the terms are nested: "auto" takes it."""
    d = _schools(ns=60, nc=10)
    f = "y ~ x + (1 + x || school) + (1 | school:classroom)"
    a = mm.lmer(f, d)
    b = mm.lmer(f, d, path="dense")
    assert a.optinfo.path == "amalgamated" and a.model.criterion(True).path.inner.path.name == "nested"
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    assert a.objective <= b.objective + 1e-6


@pytest.mark.parametrize("formula, data, path", [
    (NESTED[0], lambda: _schools(ns=60, nc=10), "nested"),
    (ZCP, _kb07, "amalgamated"),
])
def test_structure_paths_on_dask(formula, data, path):
    """The client's criterion over reduced cross-products (no rows) takes the same paths."""
    dd = pytest.importorskip("dask.dataframe")
    d = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = mm.lmer(formula, dd.from_pandas(d, npartitions=3))
        b = mm.lmer(formula, d, path="dense")
    assert a.optinfo.path == path
    assert a.objective == pytest.approx(b.objective, rel=1e-9)

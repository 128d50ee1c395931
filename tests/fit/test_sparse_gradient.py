"""The sparse path's gradient with scalar later terms (mixedmodels.fit.gradient.SparseGradientLayout):
the selected entries of the inverse gathered through a per-model layout give the same gradient as the
dense products, the chunked sparse products and the compiled level-by-level kernel."""

import numpy as np
import pandas as pd
import pytest

import mixedmodels.fit.gradient as grad_mod
from mixedmodels.fit.gradient import SparseGradientLayout, gradient, gradient_from_factor
from mixedmodels.fit.paths import SparsePath

from .conftest import criterion_for, wide_fixed_effects_criterion

FORMULAS = [
    "y ~ x + (1 | g1) + (1 | g2)",
    "y ~ x + f + (1 | g1) + (1 | g2) + (1 | g3)",
    "y ~ x + (1 + x | g1) + (1 | g2)",          # a vector first term (s1 = 2)
    "y ~ x + (1 + x + z | g1) + (1 | g2)",      # s1 = 3
    "y ~ x + (1 | g1) + (0 + x | g2)",          # a scalar slope term later
    "y ~ 0 + x + (1 | g1) + (1 | g2)",
    "y ~ x + (1 | g1) + (1 | g1:g2)",           # nested
]


def make_data(seed, n=400, k1=60, k2=25, k3=4):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "x": rng.normal(size=n),
        "z": rng.normal(size=n),
        "f": rng.choice(["a", "b", "c"], size=n),
        "g1": rng.integers(0, k1, size=n).astype(str),
        "g2": rng.integers(0, k2, size=n).astype(str),
        "g3": rng.integers(0, k3, size=n).astype(str),
    })
    df["y"] = (rng.normal(size=n) + df["x"] + rng.normal(size=k1)[df["g1"].astype(int)]
               + 0.5 * rng.normal(size=k2)[df["g2"].astype(int)])
    return df


def criterion(form, reml, seed=1, **kw):
    return criterion_for(form, make_data(seed, **kw), reml, path="sparse")


def thetas(crit, rng):
    """Random points, the start, and one with a later term's variance on the boundary (0)."""
    lower = crit.lower_bounds()
    out = [crit.theta_init()]
    for _ in range(2):
        out.append(crit.theta_init() + rng.uniform(0, 1.5, size=crit.ntheta) * np.where(
            np.isfinite(lower), 1.0, rng.choice([-1.0, 1.0], size=crit.ntheta)))
    t = out[-1].copy()
    t[-1] = 0.0
    out.append(t)
    return out


def assert_same(g, ref, rtol=1e-9):
    np.testing.assert_allclose(g, ref, rtol=rtol, atol=rtol * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("form", FORMULAS)
def test_layout_gradient_equals_dense_chunked_and_compiled(form, reml):
    crit = criterion(form, reml)
    assert crit.rest_diag
    layout = SparseGradientLayout(crit)  # (for_criterion may decline it on these small models: see below)
    for theta in thetas(crit, np.random.default_rng(3)):
        f = crit.factor(theta, need_C=False)
        g_layout = gradient_from_factor(crit, f, mode="sparse", layout=layout)
        g_chunk = gradient_from_factor(crit, f, mode="sparse", layout=False, chunk_elements=50)
        _, g_dense = gradient(crit, theta, mode="dense")
        _, g_blocks = gradient(crit, theta, mode="blocks")
        assert_same(g_layout, g_chunk)
        assert_same(g_layout, g_dense)
        assert_same(g_layout, g_blocks)
        assert np.all(np.isfinite(g_layout))


def test_layout_pairs_cover_each_level_upper_triangle():
    """The layout holds, per level of the first term, every pair a <= b of its rows below k: the pair
    count is sum_j c_j (c_j + 1) / 2, and each pair indexes Minv's lower triangle."""
    for reml in (True, False):
        crit = criterion("y ~ x + f + (1 | g1) + (1 | g2) + (1 | g3)", reml)
        lay = SparseGradientLayout(crit)
        k = crit.qrest + crit.p if reml else crit.qrest
        assert lay.k == k and np.all(lay.rows < k)
        counts = np.bincount(lay.lev, minlength=crit.l1)
        assert lay.npairs == int((counts * (counts + 1) // 2).sum())
        hi, lo = lay.flat % k, lay.flat // k
        assert np.all(hi >= lo)
        # the rows of each level are A_R1's nonzero rows (below k) of that level's columns
        AR1 = crit.cp.AR1.toarray()[:k]
        for j in (0, 7, crit.l1 - 1):
            np.testing.assert_array_equal(lay.rows[lay.lev == j], np.flatnonzero(AR1[:, j]))
            np.testing.assert_array_equal(lay.vals[lay.lev == j, 0], AR1[np.flatnonzero(AR1[:, j]), j])


def test_layout_not_built_for_vector_later_terms_or_too_many_pairs(monkeypatch):
    crit = criterion("y ~ x + (1 | g1) + (x | g2)", True)
    assert not crit.rest_diag
    assert SparseGradientLayout.for_criterion(crit) is None
    crit = criterion("y ~ x + (1 | g1) + (1 | g2)", True)
    theta = np.array([0.7, 1.3])
    f = crit.factor(theta, need_C=False)
    g_layout = gradient_from_factor(crit, f, mode="sparse", layout=SparseGradientLayout(crit))
    monkeypatch.setattr(grad_mod, "SPARSE_PAIRS_MAX", 10)
    assert SparseGradientLayout.for_criterion(crit) is None
    # above the limit the chunked products run, with the same result
    g_chunk = gradient_from_factor(crit, f, mode="sparse")
    assert_same(g_layout, g_chunk)


def test_sparse_path_builds_its_layout_once_and_matches_dense_path():
    crit = criterion("y ~ x + (1 + x | g1) + (1 | g2)", True, n=3000, k1=600, k2=300)
    path = crit.path
    assert isinstance(path, SparsePath)
    dense = crit.with_path("dense")
    rng = np.random.default_rng(5)
    for theta in thetas(crit, rng):
        v, g = path.value_and_gradient(theta)
        vd, gd = dense.path.value_and_gradient(theta)
        assert v == pytest.approx(vd, rel=1e-12)
        assert_same(g, gd, rtol=1e-8)
    layout = path._layout
    assert isinstance(layout, SparseGradientLayout)
    path.value_and_gradient(crit.theta_init())
    assert path._layout is layout


def test_layout_chosen_where_it_pays():
    """Sparse levels (few rest rows each, many rest rows in all): the layout; levels dense in the rest rows
    (many fixed-effect columns, few later levels): the chunked products, which cost less there."""
    crit = criterion("y ~ x + (1 | g1) + (1 | g2)", True, n=4000, k1=1000, k2=600)
    pairs, products = SparseGradientLayout.costs(crit)
    assert pairs * grad_mod.PAIR_COST < products
    assert isinstance(SparseGradientLayout.for_criterion(crit), SparseGradientLayout)
    crit = wide_fixed_effects_criterion(8)
    assert SparseGradientLayout.for_criterion(crit) is None
    theta = np.array([0.8])
    f = crit.factor(theta, need_C=False)
    assert_same(crit.path.gradient_at(f), gradient(crit, theta, mode="dense")[1])

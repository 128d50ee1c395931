"""The sparse helpers of mixedmodels.fit.linalg: WeightedGram (A diag(w) A' on a pattern fixed once) and
its use in the sparse path's factor."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mixedmodels.fit.linalg import WeightedGram
from mixedmodels.fit.paths import SparsePath
from mixedmodels.frame.design import build_design

from .conftest import criterion_of_design, wide_fixed_effects_criterion


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_gram_equals_the_dense_product(seed):
    rng = np.random.default_rng(seed)
    A = sp.random(40, 70, density=0.15, random_state=seed, format="csr")
    A = A + sp.csr_matrix((rng.normal(size=70), (np.full(70, 39), np.arange(70))), shape=A.shape)  # a dense row
    gram = WeightedGram(A)
    Ad = A.toarray()
    assert gram.npairs == WeightedGram.pair_count(A)
    for _ in range(3):
        w = rng.uniform(0, 2, size=70)
        d = rng.uniform(-1, 2, size=40)
        M0 = rng.normal(size=(40, 40))
        M0 = M0 + M0.T
        M = gram.subtract_from(M0.copy(), w, d)
        expect = M0 - (d[:, None] * Ad) @ np.diag(w) @ (Ad.T * d[None, :])
        np.testing.assert_allclose(M, expect, rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(gram.subtract_from(M0.copy(), w), M0 - Ad @ np.diag(w) @ Ad.T,
                                   rtol=1e-13, atol=1e-12)


def test_weighted_gram_of_an_empty_matrix():
    gram = WeightedGram(sp.csr_matrix((5, 3)))
    M = np.eye(5)
    np.testing.assert_array_equal(gram.subtract_from(M.copy(), np.ones(3)), M)


def test_sparse_path_factor_with_the_fixed_pattern_equals_the_sparse_products():
    rng = np.random.default_rng(4)
    n = 3000  # A_R1 2% full: the sparse path keeps C C' sparse, on the fixed pattern
    df = pd.DataFrame({"x": rng.normal(size=n), "g1": rng.integers(0, 1000, n).astype(str),
                       "g2": rng.integers(0, 400, n).astype(str), "g3": rng.integers(0, 6, n).astype(str)})
    df["y"] = df["x"] + rng.normal(size=1000)[df["g1"].astype(int)] + rng.normal(size=n)
    design = build_design("y ~ x + (1 | g1) + (1 | g2) + (1 | g3)", df)
    for reml in (True, False):
        crit = criterion_of_design(design, reml, path="sparse")
        path = crit.path
        assert isinstance(path, SparsePath) and path._gram is not None
        dense = crit.with_path("dense").path
        for theta in (crit.theta_init(), np.array([0.3, 0.0, 1.7]), np.array([2.0, 0.5, 0.1])):
            f_fast = path.factor(theta, need_C=False)   # the fixed pattern
            f_full = path.factor(theta, need_C=True)    # scipy.sparse products (C kept)
            f_dense = dense.factor(theta, need_C=False)
            np.testing.assert_allclose(f_fast.LRR, f_full.LRR, rtol=1e-11, atol=1e-11)
            np.testing.assert_allclose(f_fast.LRR, f_dense.LRR, rtol=1e-11, atol=1e-11)
            assert path.value(theta) == pytest.approx(dense.value(theta), rel=1e-12)


def test_sparse_path_keeps_the_dense_product_where_levels_fill_the_rest_rows():
    """Many fixed-effect columns: every level of A_R1 is dense in the rest rows, where BLAS's C C' costs
    less than the pairs (the fixed pattern is not built)."""
    crit = wide_fixed_effects_criterion(6)
    assert crit.path._gram is None
    theta = np.array([0.8])
    assert crit.path.value(theta) == pytest.approx(crit.with_path("dense").path.value(theta), rel=1e-12)

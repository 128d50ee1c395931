"""The criterion's per-model setup: small models keep A_R1 dense (no sparse copy unless a path asks for it),
the index layout is computed once per model shape and shared read-only, and none of it changes a value."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mixedmodels.fit.criterion import ProfiledCriterion, tril_indices
from mixedmodels.fit.crossprod import CrossProducts
from mixedmodels.frame.design import build_design


def _design(formula="y ~ x + (x | g1) + (1 | g2)", n=300, seed=5):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x": rng.normal(size=n), "g1": rng.integers(0, 25, n).astype(str),
                       "g2": rng.integers(0, 6, n).astype(str)})
    df["y"] = rng.normal(size=n) + df["x"]
    return build_design(formula, df)


def test_small_crossproducts_keep_AR1_dense_until_asked():
    d = _design()
    cp = CrossProducts.from_design(d.terms, d.X, d.y)
    assert cp.AR1_is_dense  # formed densely: no sparse copy yet
    ref = CrossProducts.from_design(d.terms, d.X, d.y, dense=False)
    assert not ref.AR1_is_dense
    np.testing.assert_allclose(cp.AR1_array, ref.AR1.toarray(), rtol=1e-12, atol=1e-10)
    sparse = cp.AR1  # made on first use, canonical CSR, kept
    assert sp.isspmatrix_csr(sparse) and sparse.has_sorted_indices and sparse.has_canonical_format
    assert cp.AR1 is sparse and not cp.AR1_is_dense
    np.testing.assert_array_equal(sparse.toarray(), cp.AR1_array)
    # the nonzero pattern is that of the sparse products (no stored zeros)
    assert sparse.nnz == np.count_nonzero(cp.AR1_array)


def test_dense_AR1_select_and_add_equal_sparse():
    d = _design()
    dense = CrossProducts.from_design(d.terms, d.X, d.y)
    sparse = CrossProducts.from_design(d.terms, d.X, d.y, dense=False)
    m = dense.ARR.shape[0]
    rest = np.r_[np.arange(6), m - 2, m - 1]
    for first in (None, [0]):
        a, b = dense.select(rest, first), sparse.select(rest, first)
        assert a.AR1_is_dense and not b.AR1_is_dense
        np.testing.assert_allclose(a.AR1_array, b.AR1.toarray(), rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(a.A11, b.A11, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(a.ARR, b.ARR, rtol=1e-12, atol=1e-10)
    both = dense + dense
    assert both.AR1_is_dense
    np.testing.assert_allclose(both.AR1_array, 2 * sparse.AR1.toarray(), rtol=1e-12, atol=1e-10)
    mixed = dense + sparse
    np.testing.assert_allclose(mixed.AR1.toarray(), 2 * sparse.AR1.toarray(), rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("path", ["dense", "sparse", "small"])
def test_criterion_same_with_dense_or_sparse_AR1(path):
    d = _design()
    y = d.y - d.offset
    shift = float(np.mean(y))
    dense = CrossProducts.from_design(d.terms, d.X, y - shift)
    sparse = CrossProducts.from_design(d.terms, d.X, y - shift, dense=False)
    a = ProfiledCriterion(d.terms, d.X, y, crossprods=dense, y_shift=shift, path=path)
    b = ProfiledCriterion(d.terms, d.X, y, crossprods=sparse, y_shift=shift, path=path)
    theta = np.array([0.8, 0.2, 0.5, 0.6])
    va, ga = a.value_and_gradient(theta)
    vb, gb = b.value_and_gradient(theta)
    assert va == pytest.approx(vb, rel=1e-12)
    np.testing.assert_allclose(ga, gb, rtol=1e-9, atol=1e-9)
    if path != "sparse":
        assert dense.AR1_is_dense  # the small and dense paths never made a sparse copy


def test_layout_shared_per_shape_and_read_only():
    d1, d2 = _design(seed=5), _design(seed=6)
    c1 = ProfiledCriterion(d1.terms, d1.X, d1.y, path="dense")
    c2 = ProfiledCriterion(d2.terms, d2.X, d2.y, path="dense")
    if [(t.nlevels, t.ncols) for t in d1.terms] != [(t.nlevels, t.ncols) for t in d2.terms]:
        pytest.skip("the two draws differ in shape")
    assert c1.rest_ci is c2.rest_ci and c1.theta_slices[0] is c2.theta_slices[0]
    for arr in (c1.rest_ci, c1.rest_cj, c1.rest_seg, c1.theta_slices[0], c1.eye_rest, c1.tril[0][0]):
        assert not arr.flags.writeable
    # the public copies stay the caller's to change
    lo = c1.lower_bounds()
    lo[:] = 7.0
    assert not np.any(c1.lower_bounds() == 7.0)
    th = c1.theta_init()
    th[:] = 7.0
    np.testing.assert_array_equal(c1.theta_init(), np.concatenate([t.theta_init() for t in d1.terms]))
    np.testing.assert_array_equal(c1.lower_bounds(), np.concatenate([t.lower_bounds() for t in d1.terms]))


@pytest.mark.parametrize("s", [1, 2, 3, 4])
def test_tril_indices_cached_and_in_theta_order(s):
    rows, cols = tril_indices(s)
    assert tril_indices(s)[0] is rows
    ref_cols, ref_rows = np.triu_indices(s)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(cols, ref_cols)
    assert not rows.flags.writeable and not cols.flags.writeable

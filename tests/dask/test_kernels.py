"""The per-partition kernels of the Dask passes against the in-memory code they replace: the
cross-products by per-level counting (``np.bincount``) against :meth:`CrossProducts.from_rows`, R's labels
of integer ids against :func:`r_level_labels`, and a crossed fit whose rest block (more than 512 columns)
travels sparse between the partitions and the client against the in-memory fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels.dask.fit import crossproducts_by_counting  # noqa: E402
from mixedmodels.fit.crossprod import CrossProducts  # noqa: E402
from mixedmodels.formula.transforms import r_level_labels  # noqa: E402
from mixedmodels.frame.partition import FrameState, global_labels  # noqa: E402
from mixedmodels.frame.reterms import ReTerm  # noqa: E402


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**16), nterms=st.integers(1, 3), n=st.integers(1, 400),
       big=st.booleans())
def test_counting_kernel_equals_the_sparse_products(seed, nterms, n, big):
    rng = np.random.default_rng(seed)
    nl = [int(rng.integers(1, 3000 if big else 30)) for _ in range(nterms)]
    ss = [int(rng.integers(1, 4)) for _ in range(nterms)]
    refs = [rng.integers(0, lv, n) for lv in nl]
    zs = [rng.normal(size=(n, s)) for s in ss]
    X = rng.normal(size=(n, int(rng.integers(1, 4))))
    y = rng.normal(size=n)
    terms = [ReTerm(f"g{k}", range(nl[k]), refs[k], [f"c{j}" for j in range(ss[k])], zs[k]) for k in range(nterms)]
    ref = CrossProducts.from_rows(terms, X, y, slice(None), dense=False)
    got = crossproducts_by_counting(refs, zs, nl, np.column_stack([X, y]))
    np.testing.assert_allclose(got.A11, ref.A11, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(got.ARR, ref.ARR, rtol=1e-13, atol=1e-12)
    assert got.AR1.shape == ref.AR1.shape
    np.testing.assert_allclose(got.AR1.toarray(), ref.AR1.toarray(), rtol=1e-13, atol=1e-12)
    assert got.AR1.has_canonical_format
    sparse = crossproducts_by_counting(refs, zs, nl, np.column_stack([X, y]), sparse_rest=True)
    np.testing.assert_array_equal(sparse.ARR.toarray(), got.ARR)
    a = got.AR1.copy()
    a.sort_indices()
    np.testing.assert_array_equal(a.indices, got.AR1.indices)  # already sorted, as claimed


def test_labels_of_integer_ids_are_r_labels():
    rng = np.random.default_rng(3)
    values = np.unique(np.concatenate([np.arange(-2000, 250_001), rng.integers(0, 10**15, 5000),
                                       10.0 ** np.arange(16), 10.0 ** np.arange(16) - 1, [0.5, 2.25, 1e20]]))
    state = FrameState("y ~ (1 | g)", categories={"g": (values.tolist(), False)}, factor_columns=["g"])
    assert global_labels(state, "g") == r_level_labels(values.astype(float))


def test_a_large_crossed_rest_block_travels_sparse():
    rng = np.random.default_rng(11)
    n = 6000
    a = rng.integers(0, 1500, n)
    b = rng.integers(0, 700, n)  # 700 + 2 + 1 rest columns > 512
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(size=1500)[a] + 0.5 * rng.normal(size=700)[b] + rng.normal(size=n)
    df = pd.DataFrame({"y": y, "x": x, "a": a, "b": b})
    f = "y ~ x + (1 | a) + (1 | b)"
    with dask.config.set(scheduler="sync"):
        fd = mm.lmer(f, dd.from_pandas(df, npartitions=3), data_name="df")
    fp = mm.lmer(f, df, data_name="df")
    assert abs(fd.objective / fp.objective - 1) <= 1e-10
    np.testing.assert_allclose(fd.fixef.to_numpy(), fp.fixef.to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(fd.theta, fp.theta, rtol=1e-8)
    assert isinstance(fd.model.cp.ARR, np.ndarray)

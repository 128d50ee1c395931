"""Stateful transformations on Dask DataFrames: ``poly(x, k)``, ``ns``/``bs`` and ``cut(x, k)`` get their
global state from extra passes (the mean and the Stieltjes sums of the orthogonal polynomials; exact
type-7 quantiles for the knots; the range for the breaks), so the fit equals the in-memory fit of the
same rows (criterion to 1e-10 relative, estimates to 1e-8, the same printed summary) for any partitioning.
The reference is mixedmodels' in-memory fit, itself checked against R in tests/frame and tests/formula.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels.errors import DataError, MixedModelsError  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def sync_scheduler():
    with dask.config.set(scheduler="sync"):
        yield


@pytest.fixture(scope="module")
def data():
    df = mm.datasets.load("sleepstudy").copy()
    rng = np.random.default_rng(7)
    df["z"] = rng.normal(size=len(df))
    df["u"] = rng.uniform(0, 10, len(df))
    return df


def from_pieces(df: pd.DataFrame, cuts) -> "dd.DataFrame":
    bounds = [0] + sorted(cuts) + [len(df)]
    pieces = [df.iloc[a:b].copy() for a, b in zip(bounds[:-1], bounds[1:])]
    return dd.from_delayed([dask.delayed(p) for p in pieces], meta=df.iloc[:0], verify_meta=False)


def assert_same_fit(fd, fp):
    assert abs(fd.objective / fp.objective - 1) <= 1e-10
    np.testing.assert_allclose(fd.fixef.to_numpy(), fp.fixef.to_numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fd.theta, fp.theta, rtol=1e-8, atol=1e-8)
    assert list(fd.fixef.index) == list(fp.fixef.index)
    assert str(fd.summary()) == str(fp.summary())


FORMULAS = [
    "Reaction ~ poly(Days, 2) + (1 | Subject)",
    "Reaction ~ poly(z, 3) + (Days | Subject)",
    "Reaction ~ poly(Days, degree = 2, raw = TRUE) + (1 | Subject)",
    "Reaction ~ ns(Days, 3) + (1 | Subject)",
    "Reaction ~ ns(u, df = 4) + (1 | Subject)",
    "Reaction ~ bs(z, df = 5) + (1 | Subject)",
    "Reaction ~ bs(u, knots = c(3, 6)) + (1 | Subject)",
    "Reaction ~ cut(z, 3) + (1 | Subject)",
    "Reaction ~ cut(Days, 4):z + (1 | Subject)",
    "Reaction ~ Days + (poly(Days, 2) | Subject)",
]


@pytest.mark.parametrize("formula", FORMULAS)
def test_stateful_variables_give_the_in_memory_fit(data, formula):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a singular fit or a boundary warning, the same on both sides
        fd = mm.lmer(formula, from_pieces(data, [40, 40, 97, 150]), data_name="df")
        fp = mm.lmer(formula, data, data_name="df")
    assert_same_fit(fd, fp)


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(cuts=st.lists(st.integers(0, 180), min_size=0, max_size=5), seed=st.integers(0, 2**16))
def test_poly_and_knots_for_any_partitioning(data, cuts, seed):
    """Random partition boundaries and row order (empty partitions, one value per partition)."""
    df = data.iloc[np.random.default_rng(seed).permutation(len(data))].reset_index(drop=True)
    f = "Reaction ~ poly(z, 2) + ns(u, 3) + cut(Days, 3) + (1 | Subject)"
    assert_same_fit(mm.lmer(f, from_pieces(df, cuts), data_name="df"), mm.lmer(f, df, data_name="df"))


def test_the_global_state_is_the_in_memory_state(data):
    """The training parameters themselves (R's predvars): alpha and norm2 of poly to 1e-10, the knots of
    ns exactly, the breaks of cut exactly."""
    f = "Reaction ~ poly(z, 3) + ns(u, df = 4) + cut(z, 3) + (1 | Subject)"
    fd = mm.lmer(f, from_pieces(data, [60, 61, 120]), data_name="df")
    fp = mm.lmer(f, data, data_name="df")
    mine = fd.model.state.stateful
    ref = fp.model.design.spec.predvars
    np.testing.assert_allclose(mine["poly(z, 3)"]["alpha"], ref["poly(z, 3)"]["alpha"], rtol=1e-10)
    np.testing.assert_allclose(mine["poly(z, 3)"]["norm2"], ref["poly(z, 3)"]["norm2"], rtol=1e-10)
    assert list(mine["ns(u, df = 4)"]["knots"]) == list(ref["ns(u, df = 4)"]["knots"])
    assert list(mine["ns(u, df = 4)"]["boundary"]) == list(ref["ns(u, df = 4)"]["boundary"])
    assert list(fd.fixef.index) == list(fp.fixef.index)  # cut's interval labels from the same breaks


def test_predictions_use_the_training_state(data):
    f = "Reaction ~ poly(Days, 2) + ns(u, 3) + (1 | Subject)"
    fd = mm.lmer(f, from_pieces(data, [90]), data_name="df")
    fp = mm.lmer(f, data, data_name="df")
    nd = data.iloc[[0, 11, 57, 140]].copy()
    nd["Days"] = [0.5, 12.0, 3.0, 9.0]  # beyond the training range too (R's extrapolation)
    got = fd.predict(dd.from_pandas(nd, npartitions=2)).compute().to_numpy()
    np.testing.assert_allclose(got, fp.predict(nd), rtol=1e-9)


def test_what_stays_refused(data):
    ddf = from_pieces(data, [90])
    bad = data.copy()
    bad.loc[5, "z"] = np.nan
    with pytest.raises(MixedModelsError, match="missing values are not allowed in 'poly'"):
        mm.lmer("Reaction ~ poly(z, 2) + (1 | Subject)", from_pieces(bad, [90]))
    with pytest.raises(MixedModelsError, match="missing values are not allowed in 'poly'"):
        mm.lmer("Reaction ~ poly(z, 2) + (1 | Subject)", bad)  # the same error in memory
    with pytest.raises(DataError, match="polym"):
        mm.lmer("Reaction ~ poly(z, u, degree = 2) + (1 | Subject)", ddf)
    with pytest.raises(DataError, match="unique points"):
        mm.lmer("Reaction ~ poly(Subject2, 3) + (1 | Subject)", from_pieces(data.assign(Subject2=(data["Days"] > 4) * 1.0), [90]))
    fit = mm.lmer("Reaction ~ cut(z, 3) + (1 | Subject)", ddf)
    with pytest.raises(DataError, match="new data"):
        fit.predict(dd.from_pandas(data.iloc[:5], npartitions=1)).compute()


def test_state_over_the_subset_with_incomplete_rows(data):
    """As in memory, the state is taken over the rows of the subset, incomplete ones included (R
    evaluates the variables before dropping rows with missing values)."""
    df = data.copy()
    df.loc[[3, 50, 120], "Reaction"] = np.nan
    for f in ("Reaction ~ poly(z, 2) + cut(Days, 3) + (1 | Subject)", "Reaction ~ ns(z, 3) + (1 | Subject)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the rows dropped for missing values, on both sides
            fd = mm.lmer(f, from_pieces(df, [30, 100]), subset="Days >= 2", data_name="df")
            fp = mm.lmer(f, df, subset="Days >= 2", data_name="df")
        assert_same_fit(fd, fp)

"""lmer on Dask DataFrames: the same fit as on the pandas DataFrame, for any partitioning.

The reference of every comparison is mixedmodels' own in-memory fit of ``ddf.compute()`` (itself checked
against lme4 in the other test modules): criterion to 1e-10 relative, estimates to 1e-8, printed summary
identical. Runs on a small distributed LocalCluster (two workers, threads in this process).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels.errors import DataError, MixedModelsError  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                           dashboard_address=None)
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def from_pieces(pieces: list[pd.DataFrame], meta: pd.DataFrame | None = None):
    """A Dask DataFrame whose partitions are exactly ``pieces`` (empty ones included)."""
    meta = pieces[0].iloc[:0] if meta is None else meta
    return dd.from_delayed([dask.delayed(p) for p in pieces], meta=meta, verify_meta=False)


def split(df: pd.DataFrame, cuts) -> list[pd.DataFrame]:
    bounds = [0] + sorted(cuts) + [len(df)]
    return [df.iloc[a:b].copy() for a, b in zip(bounds[:-1], bounds[1:])]


def assert_same_fit(fd, fp):
    """The Dask fit equals the in-memory fit (the issue's tolerances) and prints the same summary."""
    assert type(fd).__name__ == "DaskLmerFit"
    assert abs(fd.objective / fp.objective - 1) <= 1e-10
    np.testing.assert_allclose(fd.fixef.to_numpy(), fp.fixef.to_numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fd.theta, fp.theta, rtol=1e-8, atol=1e-8)
    assert fd.sigma == pytest.approx(fp.sigma, rel=1e-8)
    assert list(fd.fixef.index) == list(fp.fixef.index)
    assert fd.nobs == fp.nobs
    assert fd.ngroups == fp.ngroups
    assert str(fd.summary()) == str(fp.summary())


@pytest.fixture(scope="module")
def sleep():
    return mm.datasets.load("sleepstudy")


# ------------------------------------------------------------------------------------ correctness
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(cuts=st.lists(st.integers(0, 180), min_size=0, max_size=5), reml=st.booleans())
def test_any_partitioning_gives_the_in_memory_fit(sleep, cuts, reml):
    """Random partition boundaries (repeated cuts give empty partitions; sleepstudy is sorted by
    Subject, so some subjects live in one partition only)."""
    ddf = from_pieces(split(sleep, cuts))
    fd = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf, REML=reml, data_name="sleepstudy")
    fp = mm.lmer("Reaction ~ Days + (Days | Subject)", sleep, REML=reml)
    assert_same_fit(fd, fp)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(cuts=st.lists(st.integers(1, 179), min_size=1, max_size=4, unique=True),
       seed=st.integers(0, 2**16))
def test_categories_differing_between_partitions(sleep, cuts, seed):
    """Each partition a categorical with only its own categories, in a shuffled order: the levels are
    their union in order of appearance, as pandas gives when the partitions are concatenated."""
    rng = np.random.default_rng(seed)
    df = sleep.copy()
    df["Subject"] = df["Subject"].astype(str)
    df = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    pieces = split(df, cuts)
    for p in pieces:
        cats = list(p["Subject"].unique())
        rng.shuffle(cats)
        p["Subject"] = pd.Categorical(p["Subject"], categories=cats)
    meta = pieces[0].iloc[:0].copy()
    meta["Subject"] = meta["Subject"].cat.set_categories([])
    ddf = from_pieces(pieces, meta)
    pdf = ddf.compute()
    fd = mm.lmer("Reaction ~ Days + (Days | Subject)", ddf, data_name="pdf")
    fp = mm.lmer("Reaction ~ Days + (Days | Subject)", pdf, data_name="pdf")
    assert_same_fit(fd, fp)
    assert list(fd.ranef["Subject"].index) == list(fp.ranef["Subject"].index)


def test_factors_nesting_strings_and_numeric_groups():
    """Oats: a numeric column inside factor(), a string factor, nested grouping (1 | Block/Variety)."""
    oats = mm.datasets.load("Oats")
    df = oats.copy()
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
    ddf = from_pieces(split(df, [10, 10, 37, 50]))
    f = "yield ~ factor(nitro) * Variety + (1 | Block/Variety)"
    assert_same_fit(mm.lmer(f, ddf, data_name="df"), mm.lmer(f, df, data_name="df"))


def test_weights_offset_subset_na_and_scale(sleep):
    df = sleep.copy()
    rng = np.random.default_rng(3)
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    df["off"] = rng.normal(0, 5, len(df))
    df.loc[[3, 40, 41, 100], "Reaction"] = np.nan
    df.loc[[7, 150], "Days"] = np.nan
    ddf = from_pieces(split(df, [30, 90, 90, 140]))
    f = "Reaction ~ scale(Days) + (Days | Subject)"
    kw = dict(weights="w", offset="off", subset="Days >= 1")
    fd = mm.lmer(f, ddf, data_name="df", **kw)
    fp = mm.lmer(f, df, data_name="df", **kw)
    assert_same_fit(fd, fp)
    with pytest.raises(DataError, match="na.fail"):
        mm.lmer(f, ddf, na_action="na.fail")


def test_crossed_terms_and_a_rank_deficient_x():
    pen = mm.datasets.load("Penicillin")
    df = pen.copy()
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
    df["d2"] = (df["diameter"] > 24).astype(float)
    df["d3"] = 2 * df["d2"]  # aliased with d2: dropped with R's warning, from the partitions' R factors
    ddf = from_pieces(split(df, [20, 60, 100]))
    f = "diameter ~ d2 + d3 + (1 | plate) + (1 | sample)"
    with pytest.warns(Warning, match="rank deficient"):
        fd = mm.lmer(f, ddf, data_name="df")
    with pytest.warns(Warning, match="rank deficient"):
        fp = mm.lmer(f, df, data_name="df")
    assert_same_fit(fd, fp)


# ------------------------------------------------------------------------------------ after the fit
@pytest.fixture(scope="module")
def pair(sleep):
    ddf = from_pieces(split(sleep, [45, 45, 100]))
    return (mm.lmer("Reaction ~ Days + (Days | Subject)", ddf, data_name="sleepstudy"),
            mm.lmer("Reaction ~ Days + (Days | Subject)", sleep), ddf)


def test_inference_tables(pair):
    fd, fp, _ = pair
    a, b = fd.coef_table(ddf="Satterthwaite"), fp.coef_table(ddf="Satterthwaite")
    # p-values near 1e-17 move by ~1e-6 relative when the two optima differ in the 9th digit: an
    # absolute floor for them (every other column is far from zero)
    np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-6, atol=1e-14)
    assert str(fd.summary(ddf="Satterthwaite")) == str(fp.summary(ddf="Satterthwaite"))
    assert str(fd.anova()) == str(fp.anova())
    np.testing.assert_allclose(fd.confint(method="Wald").to_numpy(dtype=float),
                               fp.confint(method="Wald").to_numpy(dtype=float), rtol=1e-8)
    for g in ("Subject",):
        np.testing.assert_allclose(fd.ranef[g].to_numpy(), fp.ranef[g].to_numpy(), rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(fd.ranef_condsd[g].to_numpy(), fp.ranef_condsd[g].to_numpy(), rtol=1e-8)


def test_lazy_rows_and_predictions(pair, sleep):
    fd, fp, _ = pair
    fitted = fd.fitted
    assert type(fitted).__module__.startswith("dask")  # lazy: nothing computed yet
    np.testing.assert_allclose(fitted.compute().sort_index().to_numpy(), fp.fitted.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(fd.residuals.compute().sort_index().to_numpy(), fp.residuals.to_numpy(),
                               rtol=1e-7, atol=1e-8)
    sr = fd.resid("pearson", scaled=True).compute().sort_index().to_numpy()
    np.testing.assert_allclose(sr, fp.resid("pearson", scaled=True).to_numpy(), rtol=1e-7, atol=1e-9)
    nd = sleep.iloc[[0, 15, 33, 100]].copy()
    nd["Subject"] = nd["Subject"].astype(str)
    nd.loc[nd.index[1], "Subject"] = "999"
    pd_ = fd.predict(dd.from_pandas(nd, npartitions=2), allow_new_levels=True)
    assert type(pd_).__module__.startswith("dask")
    np.testing.assert_allclose(pd_.compute().to_numpy(), fp.predict(nd, allow_new_levels=True), rtol=1e-9)
    with pytest.raises(DataError, match="new levels"):
        fd.predict(dd.from_pandas(nd, npartitions=2)).compute()


def test_likelihood_ratio_test(pair):
    fd, fp, ddf = pair
    sleep = ddf.compute()
    f0 = "Reaction ~ 1 + (Days | Subject)"
    m0d = mm.lmer(f0, ddf, data_name="sleepstudy")
    m0p = mm.lmer(f0, sleep, data_name="sleepstudy")
    a = mm.anova(m0d, fd, names=["m0", "m1"])
    b = mm.anova(m0p, fp, names=["m0", "m1"])
    assert str(a) == str(b)
    other = mm.lmer("Reaction ~ Days + (1 | Subject)", ddf.assign(Days=ddf["Days"] ** 2), data_name="sleepstudy")
    with pytest.warns(Warning, match="not nested"):  # lme4 compares them all the same, with a warning
        mm.anova(m0d, other.model.fit("REML"), mm.lmer("Reaction ~ 1 + (0 + Days | Subject)", ddf,
                                                           data_name="sleepstudy"))


def test_progress_display(sleep, capsys):
    ddf = from_pieces(split(sleep, [60, 120]))
    fd = mm.lmer("Reaction ~ Days + (1 | Subject)", ddf, progress=True, data_name="sleepstudy")
    fp = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    assert_same_fit(fd, fp)


# ------------------------------------------------------------------------------------ refused, bad input
def test_what_needs_rows_is_refused(pair):
    fd, _, _ = pair
    with pytest.raises(MixedModelsError, match="Kenward-Roger"):
        fd.coef_table(ddf="Kenward-Roger")
    with pytest.raises(MixedModelsError, match="bootstrap"):
        fd.confint(method="boot")
    with pytest.raises(MixedModelsError, match="rows of the data"):
        fd.simulate()
    with pytest.raises(MixedModelsError, match="Dask"):
        fd.model.fit("moments")
    for call in (lambda: mm.ranova(fd), lambda: mm.update(fd, ". ~ . - Days"), lambda: fd.drop1(),
                 lambda: mm.KRmodcomp(fd, fd), lambda: fd.ls_means()):
        with pytest.raises(MixedModelsError, match="rows of the data"):
            call()


@pytest.mark.parametrize("formula, match", [
    ("Reaction ~ Dayz + (1 | Subject)", "no column 'Dayz'"),
    # poly, ns, bs and cut(x, k) as variables of the formula get their global state (test_stateful.py);
    # nested in another expression they are refused
    ("Reaction ~ I(2 * ns(Days, 3)) + (1 | Subject)", "quantiles"),
    ("Reaction ~ I(poly(Days, 2)^2) + (1 | Subject)", "poly"),
    ("Reaction ~ I(Days - mean(Days)) + (1 | Subject)", "mean"),
    ("Reaction ~ I(cut(Days, 3) == 'a') + (1 | Subject)", "breaks"),
    ("Reaction ~ I(scale(Days)^2) + (1 | Subject)", "scale"),
])
def test_bad_formulas_are_refused(sleep, formula, match):
    ddf = from_pieces(split(sleep, [90]))
    with pytest.raises(DataError, match=match):
        mm.lmer(formula, ddf)


def test_mixed_dtypes_between_partitions(sleep):
    a, b = split(sleep, [90])
    a = a.copy()
    b = b.copy()
    a["Days"] = a["Days"].astype(str)
    ddf = from_pieces([a, b], meta=b.iloc[:0])
    with pytest.raises(DataError, match="mixed types"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", ddf)


def test_unseen_fixed_factor_level_in_newdata():
    oats = mm.datasets.load("Oats")
    df = oats.copy()
    df["Variety"] = df["Variety"].astype(str)
    df["Block"] = df["Block"].astype(str)
    ddf = from_pieces(split(df, [36]))
    fd = mm.lmer("yield ~ Variety + (1 | Block)", ddf)
    nd = df.iloc[:3].copy()
    nd.loc[nd.index[0], "Variety"] = "Unknown"
    with pytest.raises(DataError, match="new level"):
        fd.predict(dd.from_pandas(nd, npartitions=1)).compute()


def test_a_failing_partition_leaves_nothing_fitted(sleep):
    """A partition whose task fails (a lost worker after Dask's retries, an unreadable file) fails the
    whole call: no fit object comes back."""
    def broken():
        raise OSError("partition 2 could not be read")

    a, b = split(sleep, [90])
    ddf = dd.from_delayed([dask.delayed(a), dask.delayed(broken)()], meta=a.iloc[:0], verify_meta=False)
    with pytest.raises(OSError, match="could not be read"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", ddf)


def test_array_arguments_are_refused(sleep):
    ddf = from_pieces(split(sleep, [90]))
    with pytest.raises(DataError, match="column name"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", ddf, weights=np.ones(180))


def test_profile_intervals_from_the_cross_products(sleep):
    """confint(method='profile') profiles the fixed effects on cross-products derived from the reduced
    ones (shifted responses), never on rows."""
    ddf = from_pieces(split(sleep, [70, 70, 150]))
    fd = mm.lmer("Reaction ~ Days + (1 | Subject)", ddf, data_name="sleepstudy")
    fp = mm.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    a = fd.confint(method="profile", quiet=True)
    b = fp.confint(method="profile", quiet=True)
    np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-6)


def test_anova_of_numeric_terms_and_refusal_with_factors(sleep):
    df = sleep.copy()
    df["D2"] = df["Days"] ** 2 + np.random.default_rng(1).normal(size=len(df))
    ddf = from_pieces(split(df, [50, 130]))
    f = "Reaction ~ Days * D2 + (1 | Subject)"
    fd, fp = mm.lmer(f, ddf, data_name="df"), mm.lmer(f, df, data_name="df")
    for t in (1, 2, 3):  # type III of numeric interactions: from a few rows per cell (one cell here)
        assert str(fd.anova(type=t)) == str(fp.anova(type=t))
    oats = mm.datasets.load("Oats")
    oats = oats.assign(z=np.random.default_rng(2).normal(size=len(oats)))
    # still refused: a term whose margin is not in the model (type III depends on the rows there) and
    # an ordered factor (lmerTest re-codes the rows)
    fv = mm.lmer("yield ~ Variety/z + (1 | Block)", from_pieces(split(oats, [30])))
    with pytest.raises(MixedModelsError, match="type III"):
        fv.anova(type=3)
    fo = mm.lmer("yield ~ ordered(Variety) + (1 | Block)", from_pieces(split(oats, [30])))
    with pytest.raises(MixedModelsError, match="factors"):
        fo.anova()


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**16), nparts=st.integers(1, 6), ties=st.booleans())
def test_exact_quantiles_of_a_dask_series(seed, nparts, ties):
    """R's type-7 quantiles of all values, exactly (the summary's scaled-residual line)."""
    from mixedmodels.dask.fitted import exact_quantiles

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    x = rng.normal(size=n)
    if ties:
        x = np.round(x, 1)
    s = dd.from_pandas(pd.Series(x), npartitions=nparts)
    probs = [0, 0.25, 0.5, 0.75, 1, 0.1]
    np.testing.assert_array_equal(exact_quantiles(s, probs), np.quantile(x, probs))


def test_the_pandas_model_class_points_to_lmer(sleep):
    with pytest.raises(MixedModelsError, match="mm.lmer"):
        mm.LinearMixedModel("Reaction ~ Days + (1 | Subject)", from_pieces(split(sleep, [90])))


def test_anova_with_factors_and_interactions():
    """lmerTest's type I and II hypotheses need X only through X'X and the terms' columns: the Dask fit's
    triangular factor of X gives the in-memory tables (factors, interactions of factors, a factor by a
    numeric variable). Type III reads rows; with every cell present and the terms' margins in the model
    a few rows per cell, kept by the cross-product pass, give the in-memory table."""
    oats = mm.datasets.load("Oats")
    df = oats.copy()
    df["z"] = np.random.default_rng(1).normal(size=len(df))
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
    ddf = from_pieces(split(df, [20, 20, 51]))
    for f in ("yield ~ Variety + (1 | Block)", "yield ~ factor(nitro) * Variety + (1 | Block/Variety)",
              "yield ~ Variety * z + (1 | Block)"):
        fd, fp = mm.lmer(f, ddf, data_name="df"), mm.lmer(f, df, data_name="df")
        for t in (1, 2):
            a, b = fd.anova(type=t), fp.anova(type=t)
            assert list(a.index) == list(b.index)
            # to 1e-9 (a Sum Sq of 321.75 prints 321.7 or 321.8 by its last bit, so not the text)
            np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-9, atol=1e-10)
        # type III: from a few rows per cell of the factors' coding (every cell present here)
        a, b = fd.anova(type=3), fp.anova(type=3)
        assert list(a.index) == list(b.index)
        np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), rtol=1e-8, atol=1e-10)
    fd = mm.lmer("yield ~ Variety * z + (1 | Block)", ddf, data_name="df")
    fp = mm.lmer("yield ~ Variety * z + (1 | Block)", df, data_name="df")
    assert str(fd.anova(type=2)) == str(fp.anova(type=2))
    assert str(fd.anova(type=3)) == str(fp.anova(type=3))


def test_the_frame_spec_is_the_in_memory_spec():
    """The Dask fit's frozen frame spec, built from the global state without rows, records what the
    in-memory one does and rebuilds the same X and Z on new data."""
    oats = mm.datasets.load("Oats")
    df = oats.assign(z=np.random.default_rng(4).normal(size=len(oats)))
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(str)
    f = "yield ~ factor(nitro) * Variety + poly(z, 2) + (1 | Block/Variety)"
    a = mm.lmer(f, from_pieces(split(df, [25, 25, 60])), data_name="df").frame_spec
    b = mm.lmer(f, df, data_name="df").frame_spec
    assert a.x_names == b.x_names and a.dropped == b.dropped
    assert a.xlevels == b.xlevels and a.contrasts == b.contrasts
    assert [(r.group, r.cnames, r.levels) for r in a.random] == [(r.group, r.cnames, r.levels) for r in b.random]
    np.testing.assert_allclose(a.predvars["poly(z, 2)"]["alpha"], b.predvars["poly(z, 2)"]["alpha"], rtol=1e-10)
    nd = df.iloc[[0, 7, 30, 71]]
    np.testing.assert_allclose(a.model_matrix(nd).to_numpy(), b.model_matrix(nd).to_numpy(), rtol=1e-10)
    for ra, rb in zip(a.random_matrices(nd), b.random_matrices(nd)):
        np.testing.assert_array_equal(ra.refs, rb.refs)
        np.testing.assert_allclose(ra.z, rb.z)


def test_type3_with_a_missing_cell_is_refused():
    """With a cell of the factors missing, lmerTest's type III hypotheses depend on the rows' counts per
    cell (in memory: a warning); on a Dask DataFrame they are refused, types 1 and 2 still work."""
    oats = mm.datasets.load("Oats")
    df = oats[~((oats["Variety"] == "Victory") & (oats["nitro"] == 0.6))].reset_index(drop=True)
    df = df.assign(Variety=df["Variety"].astype(str), Block=df["Block"].astype(str))
    f = "yield ~ factor(nitro) * Variety + (1 | Block)"
    with pytest.warns(Warning, match="rank deficient"):
        fd = mm.lmer(f, from_pieces(split(df, [30])), data_name="df")
    with pytest.warns(Warning, match="rank deficient"):
        fp = mm.lmer(f, df, data_name="df")
    with pytest.warns(UserWarning, match="Missing cells"):
        fp.anova(type=3)
    with pytest.raises(MixedModelsError, match="missing cells"):
        fd.anova(type=3)
    np.testing.assert_allclose(fd.anova(type=1).to_numpy(dtype=float), fp.anova(type=1).to_numpy(dtype=float),
                               rtol=1e-8, atol=1e-10)

"""The frozen frame spec: it rebuilds the model frame it was made from, codes other data with the
training state, refuses what R refuses, and is immutable and picklable."""

import dataclasses
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError
from mixedmodels.frame.design import build_design
from mixedmodels.frame.spec import FrameSpec, FrozenDict


def _toy(n=48, seed=3):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "y": rng.normal(size=n),
        "x": rng.uniform(0, 10, size=n),
        "z": rng.normal(size=n),
        "A": ["a", "b", "c"] * (n // 3),
        "B": pd.Categorical(["lo", "hi"] * (n // 2), categories=["lo", "hi"]),
        "O": pd.Categorical(["s", "m", "l", "m"] * (n // 4), categories=["s", "m", "l"], ordered=True),
        "L": [True, False, False, True] * (n // 4),
        "g": [f"g{k % 8}" for k in range(n)],
        "h": [f"h{k % 4}" for k in range(n)],
    })


FORMULAS = [
    "y ~ x + (1 | g)",
    "y ~ A * B + (x | g)",
    "y ~ 0 + A + B + (1 | g) + (1 | h)",
    "y ~ O + x:A + (1 | g)",
    "y ~ poly(x, 2) + scale(z) + (1 | g:h)",
    "y ~ splines::ns(x, 3) + bs(z, df = 4) + (0 + x | g)",
    "y ~ L + I(x^2) + log(x) + factor(A) + (1 | g)",
    "y ~ A + (x || g) + offset(z)",
    "y ~ cut(x, 3) + (1 | g/h)",
]

STATEFUL = ("poly(", "scale(", "ns(", "bs(")


def _design(formula, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_design(formula, data)


def _close(a, b, exact):
    if exact:
        return np.array_equal(a, b)
    return np.allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("formula", FORMULAS)
def test_spec_rebuilds_its_own_frame(formula):
    """On the rows used, the spec gives the fitted X (names too), the offset and every Z block: exactly,
    except that a stateful call re-evaluated with its saved parameters (R's predict.poly recurrence,
    the saved center/scale and knots) agrees to rounding, as in R."""
    data = _toy()
    d = _design(formula, data)
    spec = d.spec
    exact = not any(s in formula for s in STATEFUL)
    train = data.iloc[d.rows]
    X = spec.model_matrix(train)
    assert list(X.columns) == d.x_names == spec.x_names
    assert list(X.index) == list(train.index)
    assert _close(X.to_numpy(), d.X, exact)
    assert np.array_equal(spec.offset(train), d.offset)
    assert np.array_equal(spec.response(train), d.y)
    Z = spec.random_matrices(train)
    assert [nt.group for nt in Z] == [t.group for t in d.terms]
    for nt, t in zip(Z, d.terms):
        assert nt.cnames == list(t.cnames)
        assert _close(nt.z, t.z, exact)
        assert np.array_equal(nt.refs, t.refs)
        assert nt.new_levels == []
    assert [ft.label for ft in spec.fixed_terms] == [ft.label for ft in d.fixed_terms]
    assert [ft.columns for ft in spec.fixed_terms] == [ft.columns for ft in d.fixed_terms]
    assert [ft.indicators for ft in spec.fixed_terms] == [ft.indicators for ft in d.fixed_terms]


def test_spec_in_chunks_is_the_whole():
    """Built chunk by chunk (as a partitioned data frame would), X and Z stack to the whole, even for
    chunks that miss levels."""
    data = _toy()
    d = _design("y ~ A * B + poly(x, 2) + (x | g)", data)
    train = data.iloc[d.rows]
    chunks = [train.iloc[:5], train.iloc[5:6], train.iloc[6:]]
    X = np.vstack([d.spec.fixed_matrix(c) for c in chunks])
    assert np.allclose(X, d.X, rtol=1e-12, atol=1e-12)
    assert np.array_equal(X, d.spec.fixed_matrix(train))  # row by row, the same numbers
    refs = np.concatenate([d.spec.random_matrices(c)[0].refs for c in chunks])
    assert np.array_equal(refs, d.terms[0].refs)


def test_spec_records_levels_contrasts_state():
    data = _toy()
    d = _design("y ~ O + A + scale(z) + poly(x, 2) + (1 | g)", data.iloc[:40])
    spec = d.spec
    assert spec.xlevels == {"O": ["s", "m", "l"], "A": ["a", "b", "c"]}
    assert spec.contrasts == {"O": "contr.poly", "A": "contr.treatment"}
    z = data["z"].to_numpy()[:40]
    assert spec.predvars["scale(z)"]["center"] == pytest.approx(z.mean(), rel=1e-14)
    assert spec.predvars["scale(z)"]["scale"] == pytest.approx(z.std(ddof=1), rel=1e-14)
    assert set(spec.predvars["poly(x, 2)"]) == {"alpha", "norm2"}
    assert spec.variable("poly(x, 2)").suffixes == ("1", "2")
    assert spec.variable("poly(x, 2)").mean == pytest.approx(tuple(d.X[:, -2:].mean(axis=0)), abs=1e-12)
    assert spec.random[0].levels == tuple(d.terms[0].levels)


def test_unused_levels_are_not_levels():
    """Levels absent from the rows used (R's droplevels in the model frame) are not in the spec; on new
    data they are unseen levels."""
    data = _toy()
    data.loc[data["A"] == "c", "y"] = np.nan
    d = _design("y ~ A + (1 | g)", data)
    assert d.spec.xlevels == {"A": ["a", "b"]}
    with pytest.raises(DataError, match=r"factor 'A' has new level in newdata: c \(levels in fitting: a, b\)"):
        d.spec.model_matrix(data)


def test_new_data_uses_training_state():
    data = _toy()
    d = _design("y ~ scale(x) + A + (1 | g)", data)
    new = pd.DataFrame({"x": [0.0, 100.0], "A": ["c", "a"], "g": ["g1", "zz"]})
    X = d.spec.model_matrix(new)
    x = data["x"].to_numpy()
    assert X["scale(x)"].to_numpy() == pytest.approx((new["x"] - x.mean()) / x.std(ddof=1), rel=1e-13)
    assert X[["Ab", "Ac"]].to_numpy().tolist() == [[0.0, 1.0], [0.0, 0.0]]
    (nt,) = d.spec.random_matrices(new)
    assert nt.refs.tolist() == [d.terms[0].levels.index("g1"), -1]
    assert nt.new_levels == ["zz"]


def test_new_data_errors_and_missing_values():
    data = _toy()
    d = _design("y ~ x + A + (1 | g)", data)
    spec = d.spec
    with pytest.raises(DataError, match="factor 'A' has new levels in newdata: q, r"):
        spec.model_matrix(pd.DataFrame({"x": [1.0, 2.0, 3.0], "A": ["q", "a", "r"], "g": "g1"}))
    with pytest.raises(DataError, match="newdata has no column 'A'"):
        spec.model_matrix(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(DataError, match="'x' is numeric in the data the model was fitted on but not in newdata"):
        spec.model_matrix(pd.DataFrame({"x": ["u"], "A": ["a"]}))
    with pytest.raises(DataError, match="newdata must be a pandas DataFrame"):
        spec.model_matrix({"x": [1.0], "A": ["a"]})
    X = spec.model_matrix(pd.DataFrame({"x": [1.0, np.nan, 2.0], "A": ["a", "b", None]}))
    assert np.isnan(X.iloc[1]).tolist() == [False, True, False, False]
    assert np.isnan(X.iloc[2]).tolist() == [False, False, True, True]
    (nt,) = spec.random_matrices(pd.DataFrame({"g": ["g2", None]}))
    assert nt.refs.tolist() == [d.terms[0].levels.index("g2"), -2]


def test_spec_is_immutable():
    d = _design("y ~ poly(x, 2) + A + (1 | g)", _toy())
    spec = d.spec
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.kept = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.variables[0].levels = ("z",)
    assert isinstance(spec.variables, tuple) and isinstance(spec.fixed, tuple)
    state = spec.predvars["poly(x, 2)"]
    assert isinstance(state, FrozenDict)
    with pytest.raises(TypeError):
        state["alpha"] = 0
    with pytest.raises(ValueError):
        state["alpha"][0] = 0.0
    # what the caller gets back is a copy: changing it leaves the spec alone
    levels = spec.xlevels
    levels["A"].append("zz")
    assert spec.xlevels["A"] == ["a", "b", "c"]


def test_spec_pickles_without_data():
    data = _toy()
    d = _design("y ~ poly(x, 2) + scale(z) + O + A:B + (x | g)", data)
    blob = pickle.dumps(d.spec)
    assert len(blob) < 20_000  # a recipe, not the data
    back = pickle.loads(blob)
    assert isinstance(back, FrameSpec)
    assert back.x_names == d.spec.x_names
    assert np.array_equal(back.fixed_matrix(data), d.spec.fixed_matrix(data))
    assert not back.predvars["poly(x, 2)"]["alpha"].flags.writeable
    Zb, Za = back.random_matrices(data)[0], d.spec.random_matrices(data)[0]
    assert np.array_equal(Zb.z, Za.z) and np.array_equal(Zb.refs, Za.refs)


def test_fit_frame_spec_and_string_levels():
    """``fit.frame_spec`` is the design's; a string column keeps the training column's levels, so
    ``as.integer(A)`` means the same on a subset missing a level (R's factor columns)."""
    data = _toy()
    fit = mm.lmer("y ~ as.integer(A) + (1 | g)", data)
    assert fit.frame_spec is fit.design.spec
    sub = data[data["A"] == "c"].head(3)
    X = fit.frame_spec.model_matrix(sub)
    assert X["as.integer(A)"].tolist() == [3.0, 3.0, 3.0]


def test_without_terms_is_the_reduced_formula():
    """R's update(m, . ~ . - A) on the same frame: the other terms re-coded by R's rule."""
    data = _toy()
    full = _design("y ~ A * B + x + (1 | g)", data)
    reduced = full.spec.without_terms(["A"])
    ref = _design("y ~ A:B + B + x + (1 | g)", data)  # the same variables' order, A first
    X = reduced.model_matrix(data.iloc[full.rows])
    assert sorted(X.columns) == sorted(ref.x_names + ref.dropped)
    assert np.array_equal(X[ref.x_names].to_numpy(), ref.X)
    with pytest.raises(DataError, match="no fixed-effects term 'Q'"):
        full.spec.without_terms("Q")


def test_treatment_recoding_and_grid():
    data = _toy()
    d = _design("y ~ O * x + (1 | g)", data)
    T = d.spec.model_matrix(data.iloc[d.rows], contrasts="treatment")
    assert list(T.columns) == ["(Intercept)", "Om", "Ol", "x", "Om:x", "Ol:x"]
    O = data["O"].astype(str).to_numpy()[d.rows]
    assert T["Om"].tolist() == (O == "m").astype(float).tolist()
    G = d.spec.grid_matrix({"O": ["s", "m", "l"], "x": [1.0, 1.0, 1.0]})
    assert list(G.columns) == d.x_names
    assert np.allclose(G[["O.L", "O.Q"]].to_numpy(), d.spec.model_matrix(
        pd.DataFrame({"O": pd.Categorical(["s", "m", "l"], categories=["s", "m", "l"], ordered=True),
                      "x": [1.0, 1.0, 1.0]}))[["O.L", "O.Q"]].to_numpy())
    with pytest.raises(DataError, match="contrasts must be None"):
        d.spec.model_matrix(data, contrasts="sum")


def test_random_matrices_give_z_blocks():
    data = _toy()
    d = _design("y ~ x + (x | g) + (1 | h)", data)
    train = data.iloc[d.rows]
    for nt, t in zip(d.spec.random_matrices(train), d.terms):
        assert (nt.zmatrix(t.nlevels) != t.zmatrix()).nnz == 0
    new = pd.DataFrame({"x": [1.0, 2.0], "g": ["g3", "new"], "h": ["h1", None]})
    zg, zh = d.spec.random_matrices(new)
    Zg = zg.zmatrix(len(d.spec.random[0].levels)).toarray()
    k = list(d.spec.random[0].levels).index("g3")
    assert Zg[0, 2 * k: 2 * k + 2].tolist() == [1.0, 1.0] and Zg[0].sum() == 2.0
    assert not Zg[1].any()  # an unseen level: no column
    assert not zh.zmatrix(4).toarray()[1].any()  # a missing level

"""predict / simulate / coef / residuals against lme4 (tests/fixtures/predict.json, written by
tests/r/make_predict_fixtures.R with R 4.2.2 and lme4 1.1.31)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError, FormulaError
from mixedmodels.post.predict import coef, predict, residuals, simulate

from conftest import fitted, load_fixture

REF = {m["id"]: m for m in load_fixture("predict.json")["models"]}


def fit_of(model_id: str):
    """The Python fit of a reference model (fitted once per test session)."""
    ref = REF[model_id]
    return fitted(ref["formula"], ref["data"], ref["reml"])


def newdata(ref: dict, name: str) -> pd.DataFrame:
    cols = {}
    for col, vals in ref["newdata"][name].items():
        if any(isinstance(v, str) for v in vals):
            cols[col] = pd.Series(vals, dtype=object)
        else:
            cols[col] = pd.Series([np.nan if v is None else v for v in vals], dtype=float)
    return pd.DataFrame(cols)


def close(actual, expected, scale: float, rel: float = 2e-6):
    expected = np.array([np.nan if v is None else v for v in expected], dtype=float)
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=0, atol=rel * scale)


CASES = [(mid, k) for mid, ref in REF.items() for k in range(len(ref["predictions"]))]


@pytest.mark.parametrize("model_id,k", CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_predict_matches_lme4(model_id, k):
    ref = REF[model_id]
    p = ref["predictions"][k]
    fit = fit_of(model_id)
    nd = newdata(ref, p["newdata"]) if p["newdata"] else None
    got = predict(fit, nd, re_form=p["re_form"], allow_new_levels=p["allow_new_levels"])
    assert len(got) == len(p["values"]), p["call"]
    if nd is not None:
        assert got.index.equals(nd.index)
    close(got, p["values"], scale=np.nanmax(np.abs(fit.design.y)), rel=5e-6)


@pytest.mark.parametrize("model_id", list(REF))
def test_fitted_residuals_coef(model_id):
    ref = REF[model_id]
    fit = fit_of(model_id)
    scale = np.abs(fit.design.y).max()
    close(predict(fit), ref["fitted"], scale)
    close(residuals(fit), ref["residuals_response"], scale)
    close(residuals(fit, "pearson"), ref["residuals_pearson"], scale)
    close(residuals(fit, "pearson", scaled=True), ref["residuals_pearson_scaled"], 1.0, rel=2e-5)
    cf = coef(fit)
    assert list(cf) == list(ref["coef"])
    for group, tab in ref["coef"].items():
        ours = cf[group]
        assert list(ours.columns) == tab["columns"]
        assert [str(i) for i in ours.index] == tab["rows"]
        close(ours.to_numpy().ravel(), np.asarray(tab["values"], dtype=float).ravel(), scale, rel=5e-6)


def test_poly_scale_use_training_coefficients():
    """poly(age, 2) and scale(age) on new data are R's predict.poly / scale with the training center."""
    fit = fit_of("orthodont_poly_scale")
    data = mm.datasets.load("Orthodont")
    # predicting on the training rows through the newdata path reproduces the fitted values exactly
    np.testing.assert_allclose(predict(fit, data).to_numpy(), fit.fitted.to_numpy(), rtol=0, atol=1e-9)
    # a single new row: its poly/scale values cannot come from the row itself
    one = data.iloc[[5]].reset_index(drop=True)
    assert predict(fit, one).iloc[0] == pytest.approx(fit.fitted.iloc[5], abs=1e-9)


def test_new_levels_error_names_factor_and_levels():
    ref = REF["sleepstudy_slope"]
    fit = fit_of("sleepstudy_slope")
    assert ref["new_levels_error"] == "new levels detected in newdata: 999, 1000"
    with pytest.raises(DataError, match=r"grouping factor 'Subject'.*999, 1000"):
        predict(fit, newdata(ref, "nd_new"))
    # population-level predictions need no levels at all
    assert np.isfinite(predict(fit, newdata(ref, "nd_new"), re_form="NA")).all()
    with pytest.raises(DataError, match="missing values in the grouping factor 'Subject'"):
        predict(fit, newdata(ref, "nd_na"))


def test_new_level_of_fixed_factor_is_an_error():
    fit = fit_of("orthodont_poly_scale")
    nd = pd.DataFrame({"age": [10.0], "Sex": ["Other"], "Subject": ["F01"]})
    with pytest.raises(DataError, match="factor 'Sex' has new level in newdata: Other"):
        predict(fit, nd)


def test_re_form_spellings_and_errors():
    fit = fit_of("sleepstudy_slope")
    pop = fit.design.X @ fit.fixef.to_numpy()
    for spelling in ("~0", "~ 0", "NA", np.nan):
        np.testing.assert_allclose(predict(fit, re_form=spelling).to_numpy(), pop)
    with pytest.raises(FormulaError, match="not in the model"):
        predict(fit, re_form="~ (1 | Nobody)")
    with pytest.raises(FormulaError, match="not in the model"):
        predict(fit, re_form="~ (0 + Reaction | Subject)")
    with pytest.raises(FormulaError, match="no random-effects terms"):
        predict(fit, re_form="~ 1")
    with pytest.raises(FormulaError):
        predict(fit, re_form=3)


def test_missing_column_in_newdata():
    fit = fit_of("sleepstudy_slope")
    with pytest.raises(DataError, match="newdata has no column .Days."):
        predict(fit, pd.DataFrame({"Subject": ["308"]}))


# ------------------------------------------------------------------------------------ simulate
def test_simulate_reproducible_and_shaped():
    fit = fit_of("sleepstudy_slope")
    a = simulate(fit, nsim=3, seed=42)
    b = simulate(fit, nsim=3, seed=42)
    c = simulate(fit, nsim=3, seed=43)
    assert list(a.columns) == ["sim_1", "sim_2", "sim_3"]
    assert a.shape == (fit.nobs, 3) and a.index.equals(fit.fitted.index)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_simulate_moments_use_u_false():
    """With new random effects, Var(y_i) = z_i' Sigma_b z_i + sigma^2 and E(y) = X beta."""
    fit = fit_of("sleepstudy_slope")
    nsim = 4000
    sims = simulate(fit, nsim=nsim, seed=1).to_numpy()
    d = fit.design
    mean = d.X @ fit.fixef.to_numpy()
    t = d.terms[0]
    lam = fit._factor.lambdas[0]
    cov_b = fit.sigma ** 2 * lam @ lam.T
    var = np.einsum("ij,jk,ik->i", t.z, cov_b, t.z) + fit.sigma ** 2
    se_mean = np.sqrt(var / nsim)
    assert np.all(np.abs(sims.mean(axis=1) - mean) < 5 * se_mean)
    ratio = sims.var(axis=1, ddof=1) / var
    assert abs(ratio.mean() - 1) < 0.02  # averaged over the 180 rows
    # rows of the same subject share the random effect: covariance z_i' Sigma_b z_j
    i, j = 0, 9
    cov_ij = np.cov(sims[i], sims[j])[0, 1]
    assert cov_ij == pytest.approx(t.z[i] @ cov_b @ t.z[j], rel=0.15)
    # different subjects are independent
    assert abs(np.corrcoef(sims[0], sims[10])[0, 1]) < 0.06


def test_simulate_moments_use_u_true():
    fit = fit_of("sleepstudy_slope")
    sims = simulate(fit, nsim=3000, seed=2, use_u=True).to_numpy()
    resid = sims - fit.fitted.to_numpy()[:, None]
    assert abs(resid.mean()) < 5 * fit.sigma / np.sqrt(resid.size)
    assert resid.std() == pytest.approx(fit.sigma, rel=0.01)


def test_simulate_newdata():
    ref = REF["sleepstudy_slope"]
    fit = fit_of("sleepstudy_slope")
    nd = newdata(ref, "nd_new")
    with pytest.raises(DataError, match="999"):
        simulate(fit, nsim=2, seed=1, newdata=nd)
    s = simulate(fit, nsim=2000, seed=1, newdata=nd, allow_new_levels=True)
    assert s.shape == (4, 2000) and s.index.equals(nd.index)
    # rows 1 and 3 are the same new subject: correlated through the drawn random effect
    assert np.corrcoef(s.iloc[1], s.iloc[3])[0, 1] > 0.3
    assert abs(np.corrcoef(s.iloc[0], s.iloc[1])[0, 1]) < 0.1


# ------------------------------------------------------------------------------------ newdata path
_LME4 = load_fixture("lme4_models.json")["models"]


@pytest.mark.parametrize("ref", _LME4, ids=[m["id"] for m in _LME4])
def test_newdata_path_reproduces_fit(ref):
    """For every reference model (factors, interactions, offsets, poly/scale/log, a:b and a/b grouping,
    uncorrelated terms): predicting on the training data, in another row order, through the newdata path
    gives the fitted values, and re_form="~0" gives X beta + offset."""
    data = mm.datasets.load(ref["dataset"])
    fit = fitted(ref["id"])
    shuffled = data.sample(frac=1.0, random_state=0)
    got = predict(fit, shuffled)
    assert got.index.equals(shuffled.index)
    idx = fit.fitted.index
    np.testing.assert_allclose(got.loc[idx], fit.fitted, rtol=1e-10, atol=1e-8)
    pop = predict(fit, shuffled, re_form="~0").loc[idx]
    np.testing.assert_allclose(pop, fit.design.X @ fit.fixef.to_numpy() + fit.design.offset, rtol=1e-10,
                               atol=1e-8)


def test_residuals_attribute_is_also_callable_like_lme4():
    import mixedmodels as mm

    m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    r = m.residuals
    np.testing.assert_allclose(r.to_numpy(), m.design.y - m.fitted.to_numpy())
    # lme4: residuals(m, type = "pearson") equals the response residuals for an unweighted LMM
    np.testing.assert_allclose(m.residuals(type="pearson").to_numpy(), r.to_numpy())
    np.testing.assert_allclose(m.residuals(scaled=True).to_numpy(), r.to_numpy() / m.sigma)
    assert type(r * 2) is pd.Series


def test_predict_with_a_logical_constant_in_training():
    """A logical that is all FALSE in the fitted rows keeps both levels on new data, as in fitting (it
    used to raise an internal error)."""
    import mixedmodels as mm

    s = mm.datasets.load("sleepstudy").assign(late=lambda d: d.Days > 100)
    m = mm.lmer("Reaction ~ Days + (0 + late | Subject)", s)
    np.testing.assert_allclose(m.predict(s).to_numpy(), m.fitted.to_numpy(), rtol=1e-10)

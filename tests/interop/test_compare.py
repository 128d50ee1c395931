"""compare_statsmodels: the same model fitted by statsmodels' MixedLM agrees with ours (skipped without
statsmodels)."""

from __future__ import annotations

import builtins
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

pytest.importorskip("statsmodels")

import mixedmodels as mm  # noqa: E402
from mixedmodels.interop.compare import Comparison, compare_statsmodels, to_mixedlm  # noqa: E402
from mixedmodels.errors import MixedModelsError  # noqa: E402
from conftest import fitted  # noqa: E402


def fit(formula, name, reml=True):
    return fitted(formula, name, reml)


@pytest.mark.parametrize("reml", [True, False])
def test_sleepstudy_random_slope(reml):
    m = fit("Reaction ~ Days + (Days | Subject)", "sleepstudy", reml)
    c = compare_statsmodels(m)
    assert isinstance(c, Comparison)
    # same scale: statsmodels' likelihood at our estimates is ours (no constant offset) ...
    assert abs(c.loglik_offset) < 1e-8
    # ... and the two optima agree
    assert c.statsmodels_loglik == pytest.approx(c.mixedmodels_loglik, abs=1e-3)
    assert c.mixedmodels_loglik == m.loglik
    t = c.table
    assert list(t.columns[:3]) == ["section", "mixedmodels", "statsmodels"]
    for nm in ["(Intercept)", "Days"]:
        fe = t[(t.section == "Fixed effects")].loc[nm]
        assert fe.statsmodels == pytest.approx(fe.mixedmodels, rel=1e-6)
        se = t[(t.section == "Standard errors")].loc[nm]
        assert se.statsmodels == pytest.approx(se.mixedmodels, rel=1e-4)
    vc = t[t.section == "Variance components"]
    assert list(vc.index) == ["Subject: var((Intercept))", "Subject: var(Days)",
                              "Subject: cov((Intercept), Days)", "Residual: var"]
    np.testing.assert_allclose(vc.statsmodels, vc.mixedmodels, rtol=1e-3)
    assert vc.loc["Residual: var", "mixedmodels"] == pytest.approx(m.sigma ** 2)
    text = str(c)
    assert "mixedmodels" in text and "statsmodels" in text and "log-likelihood" in text
    assert "fit time (s)" in text and "same scale" in text
    assert c.statsmodels_code == ("smf.mixedlm('Reaction ~ Days', data, groups=data['Subject'], "
                                  f"re_formula='~Days').fit(reml={reml})")
    assert c.statsmodels_result.llf == c.statsmodels_loglik


def test_penicillin_as_variance_components():
    m = fit("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    c = compare_statsmodels(m)
    assert c.structure == "one group holding every observation; variance components: plate, sample"
    assert abs(c.loglik_offset) < 1e-8
    assert c.statsmodels_loglik == pytest.approx(m.loglik, abs=1e-3)
    vc = c.table[c.table.section == "Variance components"]
    np.testing.assert_allclose(vc.statsmodels, vc.mixedmodels, rtol=2e-3)
    assert "vc_formula={'plate': '0 + C(plate)', 'sample': '0 + C(sample)'}" in c.statsmodels_code


def test_nested_uses_outer_factor_as_groups():
    m = fit("strength ~ 1 + (1 | batch/cask)", "Pastes")
    c = compare_statsmodels(m)
    assert c.structure.startswith("groups = batch; exog_re = ")
    assert c.structure.endswith("variance components: cask:batch")
    assert c.statsmodels_loglik == pytest.approx(m.loglik, abs=1e-3)


def test_uncorrelated_slope():
    m = fit("Reaction ~ Days + (Days || Subject)", "sleepstudy")
    c = compare_statsmodels(m)
    assert "re_formula='~1', vc_formula={'Subject:Days': '0 + Days'}" in c.statsmodels_code
    assert c.statsmodels_loglik == pytest.approx(m.loglik, abs=1e-3)


def test_inexpressible_model_is_a_clear_error():
    """A correlated slope on a factor crossed with another has no MixedLM form."""
    sleep = mm.datasets.load("sleepstudy")
    sleep["Block"] = np.tile(np.repeat(["a", "b"], 5), 18)  # crossed with Subject
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Reaction ~ Days + (1 | Subject) + (Days | Block)", sleep)
    with pytest.raises(MixedModelsError, match=r"\(Days \| Block\) has 2 correlated columns"):
        compare_statsmodels(m)


def test_missing_statsmodels_message(monkeypatch):
    m = fit("Yield ~ 1 + (1 | Batch)", "Dyestuff")
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("statsmodels"):
            raise ImportError("No module named 'statsmodels'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install mixedmodels\[compare\]"):
        compare_statsmodels(m)


# ------------------------------------------------------------------ crossed factors: one all-rows group
def _crossed_data():
    """Three crossed factors, one with a random slope of its own (uncorrelated): 600 rows."""
    rng = np.random.default_rng(12)
    n = 600
    a, b, c = rng.integers(0, 30, n), rng.integers(0, 12, n), rng.integers(0, 5, n)
    x = rng.normal(size=n)
    y = (1 + 0.4 * x + rng.normal(scale=0.8, size=30)[a] + rng.normal(scale=0.5, size=12)[b]
         + rng.normal(scale=0.3, size=5)[c] + rng.normal(scale=0.3, size=12)[b] * x + rng.normal(size=n))
    return pd.DataFrame({"y": y, "x": x, "a": [f"a{i}" for i in a], "b": [f"b{i}" for i in b],
                         "c": [f"c{i}" for i in c]})


@pytest.mark.parametrize("formula, dataset, data", [
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin", None),
    ("y ~ x + (1 | a) + (1 | b) + (0 + x | b) + (1 | c)", "crossed3", _crossed_data),
])
def test_crossed_factors_translate_to_one_group_with_sparse_components(formula, dataset, data):
    """Crossed scalar terms: MixedLM with one all-rows group and one sparse variance component per term
    reaches our REML criterion (to 1e-6 relative), and its likelihood at our estimates is ours."""
    m = fitted(formula, dataset, data=data)
    tr = to_mixedlm(m)
    assert tr.structure.startswith("one group holding every observation; variance components: ")
    assert all(sparse.issparse(mats[0]) and len(mats) == 1 for mats in tr.model.exog_vc.mats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = tr.model.fit(reml=True)
    assert -2.0 * res.llf == pytest.approx(m.objective, rel=1e-6)
    c = compare_statsmodels(m)
    assert abs(c.loglik_offset) < 1e-8 * abs(m.loglik)
    vc = c.table[c.table.section == "Variance components"]
    assert len(vc) == len(m.design.terms) + 1


def test_crossed_formula_call_is_the_same_model():
    """The call the translation prints (groups all ones, ``vc_formula`` with ``0 + C(g)``) is statsmodels'
    own spelling of the same model: fitted from the formula, it reaches the same REML criterion."""
    smf = pytest.importorskip("statsmodels.formula.api")
    d = mm.datasets.load("Penicillin")
    m = fit("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = smf.mixedlm("diameter ~ 1", d, groups=np.ones(len(d)),
                          vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"}).fit(reml=True)
    assert -2.0 * res.llf == pytest.approx(m.objective, rel=1e-6)


def test_to_mixedlm_takes_an_unfitted_model_and_refuses_correlated_crossed_terms():
    model = mm.LinearMixedModel("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))
    tr = to_mixedlm(model, reml=False)
    assert tr.code.endswith(".fit(reml=False)")
    assert "groups=np.ones(len(data))" in tr.code
    kb = _crossed_data()
    with pytest.raises(MixedModelsError, match=r"\(x \| b\) has 2 correlated columns"):
        to_mixedlm(mm.LinearMixedModel("y ~ x + (1 | a) + (x | b)", kb))

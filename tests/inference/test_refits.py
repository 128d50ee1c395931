"""Refits on the full model's frame (step(), drop1(), ranova()): a reduced model whose design and
cross-products are sliced from the full model's (``reduced_model``) is the model that building the
reduced formula from the data gives -- the same design, the same criterion (to 1e-10) and the same
estimates (to 1e-8) -- and the slicing steps aside where it could not give that model."""

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.fit.crossprod import CrossProducts
from mixedmodels.inference import deletions
from mixedmodels.inference.deletions import ranova, reduced_model
from mixedmodels.post.updating import theta_start, update_formula


def _fit(formula, data, REML=True, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.lmer(formula, data, REML=REML, **kwargs)


def _sleep_weighted():
    d = mm.datasets.load("sleepstudy").copy()
    d["w"] = 1.0 + (d["Days"] % 3) / 2.0
    return d


def _penicillin_offset():
    d = mm.datasets.load("Penicillin").copy()
    d["off"] = np.linspace(-1.0, 1.0, len(d))
    d["x"] = np.cos(np.arange(len(d)))
    return d


def _sleep_drop_fixed():
    fit = _fit("Reaction ~ Days + I(Days^2) + (Days | Subject)", mm.datasets.load("sleepstudy"))
    return fit, "Reaction ~ Days + (Days | Subject)", ["I(Days^2)"]


def _oats_drop_block():  # the second term goes: the cross-products are sub-blocks
    fit = _fit("yield ~ factor(nitro) * Variety + (1 | Block/Variety)", mm.datasets.load("Oats"))
    return fit, ranova(fit).formulae["(1 | Block)"], []


def _oats_drop_first():  # the first term (most levels) goes: its cross-products are formed afresh
    fit = _fit("yield ~ factor(nitro) * Variety + (1 | Block/Variety)", mm.datasets.load("Oats"))
    return fit, ranova(fit).formulae["(1 | Variety:Block)"], []


def _oats_drop_interaction_ml():
    fit = _fit("yield ~ factor(nitro) * Variety + (1 | Block/Variety)", mm.datasets.load("Oats"), REML=False)
    return fit, "yield ~ factor(nitro) + Variety + (1 | Block/Variety)", ["factor(nitro):Variety"]


def _weights_drop_random():
    fit = _fit("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", _sleep_weighted(), weights="w")
    return fit, "Reaction ~ Days + (1 | Subject)", []


def _weights_drop_fixed():
    fit = _fit("Reaction ~ Days + I(Days^2) + (Days | Subject)", _sleep_weighted(), weights="w")
    return fit, "Reaction ~ Days + (Days | Subject)", ["I(Days^2)"]


def _offset_drop_random():
    fit = _fit("diameter ~ x + offset(off) + (1 | plate) + (1 | sample)", _penicillin_offset())
    return fit, "diameter ~ x + offset(off) + (1 | plate)", []


def _offset_arg_drop_fixed():
    d = _penicillin_offset()
    fit = _fit("diameter ~ x + (1 | plate) + (1 | sample)", d, offset=d["off"].to_numpy() * 2)
    return fit, "diameter ~ (1 | plate) + (1 | sample)", ["x"]


def _no_intercept_drop_fixed():  # no intercept: the response is not shifted in the cross-products
    fit = _fit("Reaction ~ 0 + Days + I(Days^2) + (1 | Subject)", mm.datasets.load("sleepstudy"))
    return fit, "Reaction ~ 0 + Days + (1 | Subject)", ["I(Days^2)"]


def _slope_to_intercept_first():  # ranova's (Days | Subject) -> (1 | Subject), the first term
    fit = _fit("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    return fit, ranova(fit).formulae["Days in (Days | Subject)"], []


def _slope_to_intercept_rest():  # the same on a later term, with weights
    d = _sleep_weighted()
    d["g2"] = (np.arange(len(d)) // 5).astype(str)
    fit = _fit("Reaction ~ Days + (1 | g2) + (Days | Subject)", d, weights="w")
    return fit, ranova(fit).formulae["Days in (Days | Subject)"], []


CASES = {f.__name__[1:]: f for f in (_slope_to_intercept_first, _slope_to_intercept_rest,_sleep_drop_fixed, _oats_drop_block, _oats_drop_first,
                                      _oats_drop_interaction_ml, _weights_drop_random, _weights_drop_fixed,
                                      _offset_drop_random, _offset_arg_drop_fixed, _no_intercept_drop_fixed)}


@pytest.mark.parametrize("case", list(CASES))
def test_sliced_refit_equals_fit_from_scratch(case):
    fit, formula, drop_fixed = CASES[case]()
    sliced = reduced_model(fit, formula, drop_fixed)
    assert sliced is not None, "the reduced model should be sliced from the full one"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scratch = mm.LinearMixedModel(formula, fit.model.data, **fit.model.refit_args)
    a, b = sliced.design, scratch.design
    assert a.x_names == b.x_names
    assert [t.label for t in a.fixed_terms] == [t.label for t in b.fixed_terms]
    assert [t.columns for t in a.fixed_terms] == [t.columns for t in b.fixed_terms]
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.offset, b.offset)
    assert (a.weights is None) == (b.weights is None)
    if a.weights is not None:
        np.testing.assert_array_equal(a.weights, b.weights)
    assert [(t.group, t.cnames, t.levels) for t in a.terms] == [(t.group, t.cnames, t.levels) for t in b.terms]
    for ta, tb in zip(a.terms, b.terms):
        np.testing.assert_array_equal(ta.refs, tb.refs)
        np.testing.assert_array_equal(ta.z, tb.z)
    assert a.spec.x_names == b.spec.x_names
    assert [v.label for v in a.spec.variables] == [v.label for v in b.spec.variables]
    assert a.spec.fixed == b.spec.fixed and a.spec.xlevels == b.spec.xlevels
    assert [(r.group, r.cnames, r.levels, r.terms) for r in a.spec.random] == \
        [(r.group, r.cnames, r.levels, r.terms) for r in b.spec.random]
    assert a.formula.deparse(cutoff=500) == b.formula.deparse(cutoff=500)
    assert a.has_intercept == b.has_intercept and a.scale_warning == b.scale_warning
    # the criterion (from the sliced cross-products where the first term stays) at several thetas
    ca, cb = sliced.criterion(fit.reml and a.p > 0), scratch.criterion(fit.reml and b.p > 0)
    rng = np.random.default_rng(1)
    for theta in [ca.theta_init(), ca.theta_init() * 0.3, np.abs(rng.normal(size=ca.ntheta)) + 0.05]:
        va, vb = ca(theta), cb(theta)
        assert abs(va - vb) <= 1e-10 * max(1.0, abs(vb)), (theta, va, vb)
    # the fits from the same start
    start = theta_start(fit, a.terms)
    method = "REML" if fit.reml else "ML"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fa, fb = sliced.fit(method, theta0=start), scratch.fit(method, theta0=start)
    assert abs(fa.objective - fb.objective) <= 1e-10 * max(1.0, abs(fb.objective))
    np.testing.assert_allclose(fa.theta, fb.theta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fa.fixef.to_numpy(), fb.fixef.to_numpy(), rtol=1e-8, atol=1e-10)
    assert abs(fa.sigma - fb.sigma) <= 1e-8 * fb.sigma
    assert str(fa.summary()) == str(fb.summary())
    if not isinstance(fit.model.refit_args.get("offset"), np.ndarray):  # an array offset: no new data
        new = fit.model.data.head(12)
        np.testing.assert_allclose(fa.predict(new), fb.predict(new), rtol=1e-8)
    np.testing.assert_allclose(fa.predict(), fb.predict(), rtol=1e-8)


def test_sliced_cross_products_are_the_reduced_models():
    fit = _fit("diameter ~ x + offset(off) + (1 | plate) + (1 | sample)", _penicillin_offset())
    sliced = reduced_model(fit, "diameter ~ offset(off) + (1 | plate)", ["x"])
    crit = sliced.criterion(True)
    d = sliced.design
    ref = CrossProducts.from_design(d.terms, d.X, d.y - d.offset - crit.y_shift)
    np.testing.assert_allclose(crit.cp.A11, ref.A11, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(crit.cp.AR1.toarray(), ref.AR1.toarray(), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(crit.cp.ARR, ref.ARR, rtol=1e-12, atol=1e-10)
    assert crit.cp.A11 is fit.model.criterion(True).cp.A11  # shared, not recomputed


def test_crossproducts_select_checks_its_indices():
    fit = _fit("Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))
    cp = fit.model.criterion(True).cp
    with pytest.raises(ValueError, match="rest rows"):
        cp.select([0, 5])
    with pytest.raises(ValueError, match="first term"):
        cp.select([0, 1], first=[1])  # (1 | Subject) has one column
    sub = cp.select([1, 2])  # Days and the response
    assert sub.ARR.shape == (2, 2) and sub.AR1.shape == (2, cp.AR1.shape[1])
    np.testing.assert_array_equal(sub.ARR, cp.ARR[1:, 1:])


def test_slicing_steps_aside_where_it_cannot_reproduce_the_formula():
    oats = mm.datasets.load("Oats")
    fit = _fit("yield ~ factor(nitro) * Variety + (1 | Block/Variety)", oats)
    # removing a term that is the margin of another: the interaction's coding would change
    form = update_formula(fit.frame_spec.formula.deparse(), ". ~ . - Variety")
    assert fit.design.reduced(fit.design.formula, list(range(len(fit.design.terms))), ["Variety"]) is None
    assert reduced_model(fit, form, ["Variety"]) is None
    # a random term the full model does not have
    assert reduced_model(fit, "yield ~ factor(nitro) * Variety + (1 | Variety)") is None
    # rows with missing values: a reduced model may use more rows
    na = oats.copy()
    na["z"] = np.where(np.arange(len(na)) % 7 == 0, np.nan, 1.0 + np.arange(len(na)) % 3)
    fit_na = _fit("yield ~ Variety + z + (1 | Block)", na)
    assert reduced_model(fit_na, "yield ~ Variety + (1 | Block)", ["z"]) is None
    # (x || g): several terms written as one
    sleep = mm.datasets.load("sleepstudy")
    fit_dbl = _fit("Reaction ~ Days + (Days || Subject)", sleep)
    assert reduced_model(fit_dbl, "Reaction ~ Days + (1 | Subject)") is None


def test_step_and_ranova_do_not_rebuild_designs(monkeypatch):
    """step() on a model whose reductions can all be sliced builds no design from a formula."""
    fit = _fit("yield ~ factor(nitro) * Variety + (1 | Block/Variety)", mm.datasets.load("Oats"))
    built = []
    original = mm.LinearMixedModel.__init__

    def counting(self, *args, **kwargs):
        built.append(args[0] if args else kwargs.get("formula"))
        original(self, *args, **kwargs)

    monkeypatch.setattr(mm.LinearMixedModel, "__init__", counting)
    with monkeypatch.context() as mp:
        mp.setattr(deletions, "reduced_model", lambda *args, **kwargs: None)  # every reduced model built
        expected = str(mm.step(fit))
    assert len(built) >= 3  # the ranova refits and the fixed-effects eliminations
    built.clear()
    assert str(mm.step(fit)) == expected
    assert built == []


@pytest.mark.parametrize("REML", [True, False])
def test_ranova_linear_model_row_from_the_full_design(REML):
    """A model left without random effects: its log-likelihood from the full model's X equals the one
    from its formula built afresh (weights and an offset included)."""
    d = _sleep_weighted()
    fit = _fit("Reaction ~ Days + offset(w) + (1 | Subject)", d, REML=REML, weights="w")
    from_design = deletions._lm_loglik_design(fit.design, fit.reml)
    from_formula = deletions._lm_loglik("Reaction ~ Days + offset(w)", fit.model.data, fit.reml,
                                        fit.model.refit_args)
    assert from_design[1:] == from_formula[1:]
    assert abs(from_design[0] - from_formula[0]) <= 1e-10 * abs(from_formula[0])
    assert ranova(fit).loc["(1 | Subject)", "logLik"] == pytest.approx(from_formula[0], rel=1e-12)

"""glmer's second stage ending on the Hessian's certificate, and the model frame of a response read by the
family (``build_design(response=)``).

Stage two's BOBYQA optimum is certified by lme4's ``deriv12`` at that point (the derivatives the
standard errors need anyway): where the Newton decrement ``g' H^-1 g / 2`` is below
``NEWTON_CERTIFY_TOL`` no restart runs and the fit keeps those derivatives. The references are the same
fits with the former stage two (``fast_stage_two = False``: whole first steps, always a restart) and
lme4's -2 log L from tests/fixtures/glmm.json (tests/r/make_glmm_fixtures.R:
``glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)`` and
the other calls stored in each fixture's "call")."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels import glmm
from mixedmodels.errors import DataError
from mixedmodels.frame.design import build_design

from glmm_cases import CASES, data, fixtures, model

# small models where the certificate ends the search (each checked below to do so)
CERTIFIED = ["cbpp_cbind", "cbpp_nagq9", "cbpp_probit", "grouse_crossed", "pois_offset", "binom_logical",
             "binom_trials_probit"]


def _fit(case_id: str, fast: bool = True):
    m = model(case_id)
    m.fast_stage_two = fast
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.fit(nAGQ=CASES[case_id][3].get("nAGQ", 1))


def _lme4_best(case_id: str) -> float:
    f = fixtures()[case_id]
    return min(f["minus2loglik"], f.get("refit", {}).get("minus2loglik", np.inf))


@pytest.mark.parametrize("case_id", CERTIFIED)
def test_certified_optimum_is_the_restarted_searchs(case_id):
    """The certificate ends the search with fewer evaluations at the optimum of the restarted search
    (to 1e-8 of -2 log L; estimates to 1e-4 of a standard error) and at lme4's or lower."""
    fast, full = _fit(case_id, True), _fit(case_id, False)
    assert fast.optinfo.newton_certified and not full.optinfo.newton_certified
    assert fast.optinfo.feval_stage2 < full.optinfo.feval_stage2
    assert fast.objective == pytest.approx(full.objective, abs=1e-8)
    assert fast.objective <= _lme4_best(case_id) + 1e-6
    se = full.se.to_numpy()
    assert np.max(np.abs(fast.fixef.to_numpy() - full.fixef.to_numpy()) / se) < 1e-4
    assert np.max(np.abs(fast.theta - full.theta) / np.maximum(np.abs(full.theta), 0.1)) < 1e-4
    np.testing.assert_allclose(fast.se.to_numpy(), se, rtol=1e-4)


def test_kept_derivatives_are_deriv12_at_the_optimum_and_certify_it():
    """The derivatives the fit keeps are lme4's deriv12 at its (theta, beta), as a fit computes them on
    its own, and their Newton decrement is below the tolerance."""
    fit = _fit("cbpp_cbind")
    assert fit.optinfo.newton_certified
    g, H = fit._derivs
    x = np.concatenate([fit.theta, fit._beta])
    lower = np.concatenate([fit.model.problem.theta_lower, np.full(len(fit._beta), -np.inf)])
    g2, H2 = glmm.deriv12(x, lower, lambda P: fit.model.problem.laplace_deviances(P, fit._lp0))
    np.testing.assert_array_equal(g, g2)
    np.testing.assert_array_equal(H, H2)
    assert 0.5 * g @ np.linalg.solve(H, g) < glmm.NEWTON_CERTIFY_TOL
    assert fit.conv_messages == []


def test_failed_certificate_restarts_and_counts_its_points(monkeypatch):
    """With a tolerance nothing meets, the restart runs as before, the fit computes its own derivatives
    at the restarted optimum, and the failed check's points are counted among the fit's PIRLS runs (the
    evaluations, the initial and final runs, the Hessian of the convergence check and the check's)."""
    ref = _fit("cbpp_cbind")  # certified
    monkeypatch.setattr(glmm, "NEWTON_CERTIFY_TOL", 0.0)
    fit = _fit("cbpp_cbind")
    assert not fit.optinfo.newton_certified and not fit._derivs_given
    assert fit.optinfo.feval_stage2 > ref.optinfo.feval_stage2
    assert fit.objective == pytest.approx(ref.objective, abs=1e-8)
    k = len(fit.theta) + len(fit._beta)
    hessian = 1 + 2 * k + 2 * k * (k - 1)
    assert ref.optinfo.pirls_evaluations == ref.optinfo.feval + 3 + hessian
    assert fit.optinfo.pirls_evaluations == fit.optinfo.feval + 3 + 2 * hessian


def test_no_certificate_on_larger_models_or_near_a_bound(monkeypatch):
    """Models with more than NEWTON_CERTIFY_MAX_PARAMS parameters restart as before; so does a theta
    within the boundary tolerance of its bound (one-sided differences; check.boundary may move it)."""
    monkeypatch.setattr(glmm, "NEWTON_CERTIFY_MAX_PARAMS", 4)
    assert not _fit("cbpp_cbind").optinfo.newton_certified  # 5 parameters
    monkeypatch.undo()
    sing = _fit("binom_singular")
    assert not sing.optinfo.newton_certified
    assert sing.objective <= _lme4_best("binom_singular") + 1e-6


def test_glmer_nb_start_fit_keeps_the_former_stage_two(monkeypatch):
    """glmer_nb's Poisson start fit runs the former stage two (its shape search's fixtures hold lme4's
    deviance function at the estimates that start gives)."""
    seen = []
    orig = glmm.GeneralizedLinearMixedModel._fit

    def spy(self, *a, **k):
        seen.append((self.family.name, self.fast_stage_two))
        return orig(self, *a, **k)

    monkeypatch.setattr(glmm.GeneralizedLinearMixedModel, "_fit", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm.glmer_nb("ynb ~ x + (1 | g)", data("glmmsim"))
    assert seen[0] == ("poisson", False)


def test_response_given_to_the_model_frame_is_the_evaluated_one():
    """build_design(response=) gives the frame the formula's left side evaluates to, the caller's data
    unread for it (no column added), rows with a missing response dropped."""
    df = data("cbpp")
    y = np.array(df["incidence"] / df["size"], dtype=float)
    y[[2, 7]] = np.nan
    df2 = df.assign(prop=y)
    a = build_design("prop ~ period + (1 | herd)", df2, require_random=False)
    b = build_design("cbind(incidence, size - incidence) ~ period + (1 | herd)", df, require_random=False,
                     response=y)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.x_names == b.x_names and len(b.y) == len(df) - 2
    assert b.response_name == "cbind(incidence, size - incidence)"
    assert list(df.columns) == ["herd", "incidence", "size", "period"]
    with pytest.raises(DataError, match="has 3 values but the data have 56 rows"):
        build_design("y ~ period + (1 | herd)", df, response=np.ones(3))


def test_glmer_responses_read_once_give_the_same_fit():
    """A cbind response, the proportion with weights and a numeric 0/1 response reach the same
    model frame as before (the fixture's lme4 -2 log L, reached or bettered)."""
    a, b = _fit("cbpp_cbind"), _fit("cbpp_prop")
    assert a.objective == pytest.approx(b.objective, abs=1e-9)
    np.testing.assert_allclose(a.model.y, b.model.y)
    np.testing.assert_allclose(a.model.weights, b.model.weights)
    c = _fit("binom_logical")
    assert c.objective <= _lme4_best("binom_logical") + 1e-6


@pytest.mark.parametrize("case_id", ["verbagg", "contra_slope"])
def test_whitened_search_on_larger_models(case_id):
    """Models past the certificate's size restart as before, but on whitened fixed effects (beta = beta1
    + C z): far fewer evaluations than the former stage two, at its optimum or lower and at lme4's or
    lower (VerbAgg: (1 | id) + (1 | item), 7,584 rows; Contraception: (urban | district))."""
    fast, full = _fit(case_id, True), _fit(case_id, False)
    assert not fast.optinfo.newton_certified
    assert fast.optinfo.feval_stage2 < 0.8 * full.optinfo.feval_stage2
    assert fast.objective <= full.objective + 1e-8
    assert fast.objective <= _lme4_best(case_id) + 1e-6
    se = full.se.to_numpy()
    assert np.max(np.abs(fast.fixef.to_numpy() - full.fixef.to_numpy()) / se) < 1e-3


def test_whitening_needs_a_covariance():
    """The whitening factor is the lower Cholesky factor of stage one's covariance of beta; none where
    there is none, or it is not positive definite (the search then runs on beta itself)."""
    V = np.array([[4.0, 1.0], [1.0, 2.0]])
    C = glmm._whitening(V)
    np.testing.assert_allclose(C @ C.T, V)
    assert np.allclose(C, np.tril(C))
    assert glmm._whitening(None) is None
    assert glmm._whitening(np.array([[1.0, 2.0], [2.0, 1.0]])) is None
    assert glmm._whitening(np.array([[np.nan, 0.0], [0.0, 1.0]])) is None

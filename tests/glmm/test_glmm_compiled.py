"""The compiled PIRLS loop (mixedmodels.fit._glmm_jit) against the NumPy loop it replaces, and the fit's
optimizer record (evaluations, PIRLS iterations)."""

from __future__ import annotations

import numpy as np
import pytest

from mixedmodels.fit import pirls as pirls_module
from mixedmodels.fit.pirls import PirlsError, gh_rule

import mixedmodels as mm

from glmm_cases import CASES, assert_same_pirls, data, fixtures, model

# families / links the compiled loop has built in, with scalar and vector-valued terms, crossed and
# nested factors, trials and offsets
COMPILED = ["cbpp_cbind", "cbpp_prop", "cbpp_probit", "cbpp_cloglog", "grouse_crossed", "grouse_nested",
            "verbagg", "contra_slope", "pois_offset", "binom_logical", "binom_trials_probit"]


def _numpy_twin(prob):
    """The same problem on the NumPy loop (the compiled switch off)."""
    prob._jit = None
    return prob


@pytest.mark.parametrize("case_id", COMPILED)
def test_compiled_pirls_matches_numpy(case_id):
    prob = model(case_id).problem
    assert prob.compiled
    twin = _numpy_twin(model(case_id).problem)
    eta0 = prob.family.linkfun(model(case_id).mustart)
    for joint, theta, b, a, c in assert_same_pirls(prob, twin, case_id, eta0):
        assert prob.laplace_deviance(theta, b, eta0, joint=joint) == pytest.approx(prob.laplace(a), rel=1e-13)
        # the factor formed afterwards from the last weights is the NumPy loop's
        np.testing.assert_allclose(a.factor.inv_beta_block(prob.p if joint else 0),
                                   c.factor.inv_beta_block(prob.p if joint else 0), rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(a.l11diag, c.factor.L11diag[:, 0], rtol=1e-10)


def test_compiled_pirls_reports_failure_as_package_error():
    prob = model("cbpp_cbind").problem
    eta = np.full(prob.n, np.nan)
    with pytest.raises(PirlsError):
        prob.pirls_lme4(np.array([1.0]), None, eta, joint=True)
    with pytest.raises(PirlsError):
        prob.laplace_deviance(np.array([1.0]), None, eta, joint=True)


def test_other_families_keep_the_numpy_loop():
    assert not model("gamma_log").problem.compiled
    assert not model("binom_cauchit").problem.compiled


@pytest.mark.parametrize("case_id", ["cbpp_cbind", "verbagg"])
def test_optinfo_counts_evaluations_and_pirls_iterations(case_id):
    fit = model(case_id).fit()
    info = fit.optinfo
    assert info.compiled
    assert info.feval == info.feval_stage1 + info.feval_stage2 == fit.feval
    assert info.feval_stage1 > 0 and info.feval_stage2 > 0
    assert info.pirls_evaluations >= info.feval
    assert info.pirls_iterations >= 2 * info.pirls_evaluations  # lme4's loop: at least two per run
    assert 2 <= info.pirls_per_evaluation < 5


@pytest.mark.parametrize("case_id", ["grouse_crossed", "grouse_nested"])
def test_rows_sorted_by_level_give_the_same_pirls(case_id, monkeypatch):
    """The compiled loop takes the rows sorted by the first term's level (then the others'): the
    results come back in the data's order, equal to the NumPy loop's to rounding (here on the data
    in shuffled row order, so the sort is not the identity)."""
    dname, formula, family, _ = CASES[case_id]
    df = data(dname).sample(frac=1.0, random_state=7)

    def build():
        return mm.glmm.GeneralizedLinearMixedModel(formula, df, family)

    m = build()
    prob = m.problem
    assert prob._perm is not None and not np.all(prob._perm == np.arange(prob.n))
    twin = _numpy_twin(build().problem)
    f = fixtures()[case_id]
    theta, beta = np.asarray(f["theta"], dtype=float), np.asarray(f["beta"], dtype=float)
    eta0 = prob.family.linkfun(m.mustart)
    for joint in (True, False):
        b = None if joint else beta
        a = prob.pirls_lme4(theta, b, eta0, joint=joint)
        c = twin.pirls_lme4(theta, b, eta0, joint=joint)
        np.testing.assert_allclose(a.eta, c.eta, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(a.mu, c.mu, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a.u, c.u, rtol=1e-9, atol=1e-10)
        assert prob.laplace(a) == pytest.approx(twin.laplace(c), rel=1e-12)
        assert prob.laplace_deviance(theta, b, eta0, joint=joint) == pytest.approx(twin.laplace(c), rel=1e-12)
        np.testing.assert_allclose(a.factor.inv_beta_block(prob.p if joint else 0),
                                   c.factor.inv_beta_block(prob.p if joint else 0), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("case_id", ["cbpp_nagq9", "cbpp_nagq25", "binom_nagq25"])
def test_compiled_agq_matches_numpy(case_id):
    nagq = CASES[case_id][3]["nAGQ"]
    prob = model(case_id).problem
    twin = _numpy_twin(model(case_id).problem)
    f = fixtures()[case_id]
    theta, beta = np.asarray(f["theta"], dtype=float), np.asarray(f["beta"], dtype=float)
    eta0 = prob.family.linkfun(model(case_id).mustart)
    rule = gh_rule(nagq)
    a = prob.pirls_lme4(theta, beta, eta0, joint=False)
    c = twin.pirls_lme4(theta, beta, eta0, joint=False)
    assert prob.agq(theta, a, rule) == pytest.approx(twin.agq(theta, c, rule), rel=1e-12)

"""The compiled PIRLS kernels (mixedmodels.fit._glmm_jit: rows in level order, the fused weights and
state, the dense fixed-effects products, the start state once per stage) against the NumPy loop
(``GlmmProblem.pirls_lme4`` on NumPy) away from the optimum too: the Laplace deviance to 1e-10
relative on every family, link and shape the compiled loop has (binomial logit / probit / cloglog,
Poisson, negative binomial, prior weights, trials, offsets, crossed, nested, random slopes, the sparse
layout of the first term's block); and the Hessian's points on threads equal to the serial ones.

The reference values are the NumPy loop's on the same data (no fixture: both sides are computed here);
the optimum each case starts from is lme4's (tests/fixtures/glmm.json, tests/r/make_glmm_fixtures.R)."""

from __future__ import annotations

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.fit import family as fam
from mixedmodels.fit import pirls as pirls_module
from mixedmodels.fit import threads

from glmm_cases import data, fixtures, model

# case id -> which layout of the first term's block the compiled loop takes ("dense": L12 as a dense
# q1 x q2 block; "sparse": its compressed pattern; "blocks": a vector-valued first term)
LAYOUT = {"cbpp_cbind": "dense", "cbpp_prop": "dense", "cbpp_probit": "dense", "cbpp_cloglog": "dense",
          "grouse_crossed": "sparse", "grouse_nested": "sparse", "verbagg": "dense",
          "contra_slope": "blocks", "pois_offset": "dense", "binom_logical": "dense",
          "binom_trials_probit": "blocks"}


def _twin(prob):
    prob._jit = None  # the same problem on the NumPy loop
    return prob


def _points(case_id: str, prob):
    """lme4's optimum and two points around it (theta scaled by 0.8 and 1.15, beta moved by 0.05)."""
    f = fixtures()[case_id]
    theta, beta = np.asarray(f["theta"], dtype=float), np.asarray(f["beta"], dtype=float)
    lower = prob.theta_lower
    out = [(theta, beta)]
    for s, db in ((0.8, 0.05), (1.15, -0.05)):
        th = np.where(lower == 0, np.maximum(theta * s, 0.05), theta * s)
        out.append((th, beta + db))
    return out


@pytest.mark.parametrize("case_id", sorted(LAYOUT))
def test_compiled_laplace_matches_numpy_loop(case_id):
    m = model(case_id)
    prob = m.problem
    assert prob.compiled
    layout = "blocks" if prob.s1 > 1 else ("sparse" if prob._pattern21 is not None else "dense")
    assert layout == LAYOUT[case_id]
    twin = _twin(model(case_id).problem)
    eta0 = prob.family.linkfun(m.mustart)
    for theta, beta in _points(case_id, prob):
        for joint in (True, False):
            b = None if joint else beta
            a = prob.pirls_lme4(theta, b, eta0, joint=joint)
            c = twin.pirls_lme4(theta, b, eta0, joint=joint)
            ref = twin.laplace(c)
            assert prob.laplace(a) == pytest.approx(ref, rel=1e-10)
            assert prob.laplace_deviance(theta, b, eta0, joint=joint) == pytest.approx(ref, rel=1e-10)
            np.testing.assert_allclose(a.eta, c.eta, rtol=1e-8, atol=1e-9)
            np.testing.assert_allclose(a.mu, c.mu, rtol=1e-8, atol=1e-12)
            np.testing.assert_allclose(a.devres, c.devres, rtol=1e-7, atol=1e-11)
            assert a.ldL2 == pytest.approx(c.ldL2, rel=1e-10, abs=1e-10)


def test_negative_binomial_compiled_matches_numpy_loop():
    df = data("glmmsim")

    def build():
        return mm.glmm.GeneralizedLinearMixedModel("ynb ~ x + (1 | g)", df, fam.negative_binomial(1.7))

    m = build()
    prob = m.problem
    assert prob.compiled and prob.family.kind == "negbin"
    twin = _twin(build().problem)
    eta0 = prob.family.linkfun(m.mustart)
    beta0 = twin.pirls_lme4(np.array([0.6]), None, eta0, joint=True).beta
    for theta, beta in ((np.array([0.6]), beta0), (np.array([0.3]), beta0 + 0.1), (np.array([1.1]), beta0 - 0.1)):
        for joint in (True, False):
            b = None if joint else beta
            ref = twin.laplace(twin.pirls_lme4(theta, b, eta0, joint=joint))
            assert prob.laplace_deviance(theta, b, eta0, joint=joint) == pytest.approx(ref, rel=1e-10)


def test_start_state_is_per_eta_start():
    """The compiled start state is kept for the last ``eta_start`` given: another start gives its own
    value (the NumPy loop's there), the first start again its first value."""
    m = model("verbagg")
    prob = m.problem
    twin = _twin(model("verbagg").problem)
    f = fixtures()["verbagg"]
    theta, beta = np.asarray(f["theta"], dtype=float), np.asarray(f["beta"], dtype=float)
    e1 = prob.family.linkfun(m.mustart)
    e2 = e1 + 0.3
    v1 = prob.laplace_deviance(theta, beta, e1, joint=False)
    v2 = prob.laplace_deviance(theta, beta, e2, joint=False)
    assert v2 == pytest.approx(twin.laplace(twin.pirls_lme4(theta, beta, e2, joint=False)), rel=1e-10)
    assert prob.laplace_deviance(theta, beta, e1, joint=False) == v1
    f1 = prob.laplace_function(e1, joint=False)
    assert f1(theta, beta) == v1
    assert f1(list(theta), list(beta)) == v1  # sequences are taken as arrays


@pytest.mark.parametrize("case_id", ["verbagg", "grouse_crossed", "contra_slope"])
def test_hessian_points_on_threads_equal_serial(case_id, monkeypatch):
    prob = model(case_id).problem
    f = fixtures()[case_id]
    x = np.concatenate([f["theta"], f["beta"]])
    rng = np.random.default_rng(3)
    P = x + 1e-4 * rng.standard_normal((17, len(x)))
    P[:, :prob.ntheta] = np.abs(P[:, :prob.ntheta])
    eta0 = prob.family.linkfun(model(case_id).mustart)
    monkeypatch.setattr(pirls_module, "hessian_threads", lambda npoints, work: 1)
    serial = prob.laplace_deviances(P, eta0)
    monkeypatch.setattr(pirls_module, "hessian_threads", lambda npoints, work: 3)
    threaded = prob.laplace_deviances(P, eta0)
    np.testing.assert_array_equal(threaded, serial)
    one_by_one = np.array([prob.laplace_deviance(p[:prob.ntheta], p[prob.ntheta:], eta0, joint=False) for p in P])
    np.testing.assert_array_equal(one_by_one, serial)


def test_hessian_threads_follow_the_users_setting(monkeypatch):
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    big = pirls_module.THREAD_MIN_WORK
    monkeypatch.setattr(pirls_module.os, "cpu_count", lambda: 2)
    assert pirls_module.hessian_threads(129, big) == 2
    assert pirls_module.hessian_threads(129, big - 1) == 1  # too little work per point
    assert pirls_module.hessian_threads(3, big) == 1
    monkeypatch.setattr(pirls_module.os, "cpu_count", lambda: 1)
    assert pirls_module.hessian_threads(129, big) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(pirls_module.os, "cpu_count", lambda: 8)
    assert pirls_module.hessian_threads(129, big) == 1  # the environment asked for one
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    assert pirls_module.hessian_threads(129, big) == 4
    try:
        mm.set_threads(1)
        assert pirls_module.hessian_threads(129, big) == 1
        mm.set_threads(3)
        assert pirls_module.hessian_threads(129, big) == 3
    finally:
        mm.set_threads(None)

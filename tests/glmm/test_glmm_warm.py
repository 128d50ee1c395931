"""The warm glmer path: the finite-difference Hessian's points evaluated together (one compiled call, or
one NumPy PIRLS over all points), the NumPy loop's one-scalar-term solve, and the model frame of a plain
numeric response."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.fit import glmm_kernels

from glmm_cases import CASES, data, fixtures, kwargs_for, model, numpy_model



def _points(case_id, prob):
    """lme4's optimum of the fixture and points around it (theta kept >= 0), as the Hessian's."""
    f = fixtures()[case_id]
    x = np.concatenate([f["theta"], f["beta"]])
    rng = np.random.default_rng(7)
    P = x + rng.normal(0, 0.05, (9, len(x)))
    P[:, : prob.ntheta] = np.abs(P[:, : prob.ntheta])
    P[0] = x
    return P


@pytest.mark.parametrize("case_id", ["cbpp_cbind", "pois_offset", "grouse_crossed", "binom_logical"])
@pytest.mark.parametrize("numpy", [False, True])
def test_laplace_deviances_is_laplace_deviance_point_by_point(case_id, numpy, monkeypatch):
    m = numpy_model(case_id, monkeypatch) if numpy else model(case_id)
    prob = m.problem
    assert prob.compiled is not numpy
    eta0 = prob.family.linkfun(m.mustart)
    P = _points(case_id, prob)
    nth = prob.ntheta
    it0, ev0 = prob.pirls_iterations, prob.evaluations
    one = np.array([prob.laplace_deviance(p[:nth], p[nth:], eta0, joint=False) for p in P])
    its_one = prob.pirls_iterations - it0
    it0, ev0 = prob.pirls_iterations, prob.evaluations
    together = prob.laplace_deviances(P, eta0)
    # the same PIRLS runs: the same iterations, the deviances to rounding (identical when compiled)
    assert prob.pirls_iterations - it0 == its_one and prob.evaluations - ev0 == len(P)
    if numpy:
        np.testing.assert_allclose(together, one, rtol=1e-13)
    else:
        np.testing.assert_array_equal(together, one)


def test_numpy_batch_raises_as_pirls_does(monkeypatch):
    prob = numpy_model("cbpp_cbind", monkeypatch).problem
    P = _points("cbpp_cbind", prob)
    with pytest.raises(mm.glmm.PirlsError):
        prob.laplace_deviances(P, np.full(prob.n, np.nan))


def test_hessian_from_points_together_is_lme4s_deriv12():
    """The Hessian and gradient formed from the points evaluated together equal lme4's deriv12 written
    out point by point (the loop this replaced)."""
    fit = model("cbpp_cbind").fit()
    g, H = fit._derivs
    x = np.concatenate([fit.theta, fit._beta])
    lower = np.concatenate([fit.model.problem.theta_lower, np.full(len(fit._beta), -np.inf)])
    delta, k = 1e-4, len(x)
    xadd, xsub = x + delta, np.maximum(x - delta, lower)
    ud, ld = np.full(k, delta), x - np.maximum(x - delta, lower)

    def at(pairs):
        y = x.copy()
        for i, v in pairs:
            y[i] = v
        return fit._dev_at(y)

    fx = fit._dev_at(x)
    for j in range(k):
        fa, fs = at([(j, xadd[j])]), at([(j, xsub[j])])
        assert H[j, j] == pytest.approx(fa / ud[j] ** 2 - 2 * fx / (ud[j] * ld[j]) + fs / ld[j] ** 2, rel=1e-12)
        assert g[j] == pytest.approx((fa - fs) / (ud[j] + ld[j]), rel=1e-12, abs=1e-12)
        for i in range(j):
            h = (at([(i, xadd[i]), (j, xadd[j])]) / (ud[i] + ud[j]) ** 2
                 - at([(i, xadd[i]), (j, xsub[j])]) / (ud[i] + ld[j]) ** 2
                 - at([(i, xsub[i]), (j, xadd[j])]) / (ld[i] + ud[j]) ** 2
                 + at([(i, xsub[i]), (j, xsub[j])]) / (ld[i] + ld[j]) ** 2)
            assert H[i, j] == H[j, i] == pytest.approx(h, rel=1e-12)


@pytest.mark.parametrize("case_id", ["cbpp_cbind", "pois_offset"])
def test_numpy_one_scalar_term_reaches_the_compiled_fit(case_id, monkeypatch):
    """The NumPy loop's one-scalar-term solve (u level by level, beta from the Schur complement) and
    its Hessian over all points at once give the compiled fit's optimum and standard errors."""
    dname, formula, family, _ = CASES[case_id]
    df = data(dname)
    with monkeypatch.context() as mp:
        mp.setattr(glmm_kernels, "_COMPILED", None)
        mp.setattr(glmm_kernels.ACCOUNT, "excess", 0.0)
        a = mm.glmer(formula, df, family, **kwargs_for(case_id, df))
    b = mm.glmer(formula, df, family, **kwargs_for(case_id, df))
    assert not a.optinfo.compiled and b.optinfo.compiled
    assert a.objective == pytest.approx(b.objective, abs=1e-7)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-4)
    # lme4's -2 log L of the fixture (glmer in tests/r/make_glmm_fixtures.R), reached or bettered
    assert a.objective <= fixtures()[case_id]["minus2loglik"] + 1e-6


def test_plain_response_frame_keeps_the_data_and_its_index():
    df = data("grouseticks").iloc[::-1].copy()
    df.index = [f"r{i}" for i in range(len(df))]
    df.loc[df.index[3], "TICKS"] = np.nan
    before = df.copy()
    m = mm.glmer("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)", df, "poisson")
    pd.testing.assert_frame_equal(df, before)  # the caller's data untouched
    assert list(df.columns) == list(m.model.data.columns)
    assert m.nobs == len(df) - 1
    expect = df.index[df["TICKS"].notna()]
    assert list(m.fitted.index) == list(expect)
    assert list(m.residuals().index) == list(expect)
    assert m.model.design.response_name == "TICKS"

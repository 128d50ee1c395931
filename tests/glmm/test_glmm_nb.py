"""glmer_nb's search over the NB shape against lme4's own deviance function.

References: tests/fixtures/glmm_nb.json, written by tests/r/make_glmm_nb_fixtures.R (R 4.2.2, lme4 1.1.31).
For each case it holds ``glmer.nb(f, data)`` as reported (``reported``), lme4's deviance function of a fresh
``glmer(f, family = MASS::negative.binomial(th))`` -- ``update(..., devFunOnly = TRUE)`` -- at glmer.nb's
shape and estimates (``devfun_at_lme4``), that fresh glmer's optimum (``fresh_at_lme4``), and the same
function at our shape and estimates (``devfun_at_ours``; our estimates as written by
tests/glmm/nb_estimates.py into tests/fixtures/glmm_nb_ours.json)."""

from __future__ import annotations

import json
import math
import warnings
from functools import lru_cache

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.fit.family import negative_binomial
from mixedmodels.glmm import GeneralizedLinearMixedModel, NbSearch, _nb_fit_from

from glmm_cases import FIXTURES, data

GROUSE_NB = "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)"
CASES = {"grouse_nb": (GROUSE_NB, "grouseticks"), "negbin_sim": ("ynb ~ x + (1 | g)", "glmmsim")}


@lru_cache(maxsize=1)
def nb_fixtures() -> dict:
    return json.loads((FIXTURES / "glmm_nb.json").read_text())["fits"]


@lru_cache(maxsize=None)
def nb_fit(cid: str):
    formula, dname = CASES[cid]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mm.glmer_nb(formula, data(dname))


@pytest.mark.parametrize("cid", sorted(CASES))
def test_glmer_nb_reaches_lme4s_deviance_function_optimum(cid):
    """glmer.nb(f, data); lme4's deviance function at its shape and estimates:
    update(glmer(f, data, family = negative.binomial(th)), devFunOnly = TRUE)(c(theta, beta)).
    Our -2 log L is at or below it, and the shape is lme4's to 1e-4 (the optimum is common)."""
    f = nb_fixtures()[cid]
    m = nb_fit(cid)
    assert f["formula"] == CASES[cid][0]
    assert m.objective <= f["devfun_at_lme4"] + 1e-6
    assert m.objective <= f["fresh_at_lme4"]["minus2loglik"] + 1e-6  # a fresh glmer at lme4's shape
    assert m.nb_theta == pytest.approx(f["reported"]["nb_theta"], rel=1e-4)
    assert m.fixef.to_numpy() == pytest.approx(f["reported"]["beta"], rel=1e-3)
    assert m.theta == pytest.approx(f["reported"]["theta"], rel=1e-2)
    assert list(m.fixef.index) == f["reported"]["beta_names"]


@pytest.mark.parametrize("cid", sorted(CASES))
def test_our_objective_is_lme4s_deviance_function_at_our_estimates(cid):
    """lme4's deviance function at our NB shape (a fresh glmer(f, family = negative.binomial(th_ours)),
    update(..., devFunOnly = TRUE)) evaluated at our (theta, beta): our -2 log L is that number, and it is
    no higher than the same function's value at glmer.nb's estimates (lme4 agrees ours is no worse)."""
    f = nb_fixtures()[cid]
    m = nb_fit(cid)
    ours = f["ours"]  # the estimates the R script evaluated (tests/glmm/nb_estimates.py): this fit's
    assert m.nb_theta == pytest.approx(ours["nb_theta"], rel=1e-6)
    assert m.fixef.to_numpy() == pytest.approx(ours["beta"], rel=1e-5)
    assert m.objective == pytest.approx(f["devfun_at_ours"], abs=1e-6)
    assert f["devfun_at_ours"] <= f["devfun_at_lme4"] + 1e-6
    assert f["devfun_at_ours"] <= f["fresh_at_ours"]["minus2loglik"] + 1e-6  # lme4's fresh glmer there


def test_lme4s_reported_deviance_is_not_its_deviance_function():
    """glmer.nb's reported -2 log L comes from its last refit, which started PIRLS from the previous fit:
    lme4's Laplace deviance depends on where PIRLS starts (it stops at a relative change of 1e-7), so that
    number is not lme4's deviance function at the same estimates. On grouseticks with raw HEIGHT it is
    2.8e-3 lower (so ours, on the deviance function, is "higher" than the reported number while lower
    than the function at lme4's estimates); on the simulated case it is 1.9e-4 higher, and ours is below
    both: there lme4's search stops early (its optimize() on the warm-started values, tol 5e-5)."""
    g, s = nb_fixtures()["grouse_nb"], nb_fixtures()["negbin_sim"]
    assert g["devfun_at_lme4"] - g["reported"]["minus2loglik"] > 1e-3
    assert s["reported"]["minus2loglik"] - s["devfun_at_lme4"] > 1e-4
    # at glmer.nb's own shape, a fresh glmer reaches a lower deviance than glmer.nb's estimates there
    assert s["fresh_at_lme4"]["minus2loglik"] < s["devfun_at_lme4"] - 1e-5
    m = nb_fit("negbin_sim")
    assert m.objective < s["reported"]["minus2loglik"] - 1e-4
    assert m.objective < s["devfun_at_lme4"] - 1e-5


def test_laplace_deviance_depends_on_where_pirls_starts():
    """Why a warm-started refit reports a lower deviance (the reporter's finding): at the same NB shape and
    the same (theta, beta), PIRLS started from stage one's end (a fresh fit: lme4's devfun) and PIRLS
    started from a nearby optimum stop at Laplace deviances 1e-3 apart on grouseticks' raw HEIGHT model.
    A fit that skips stage one (start = fixef) minimizes the second function, so a search over the shape
    on such values compares numbers of different functions."""
    th = nb_fixtures()["grouse_nb"]["reported"]["nb_theta"]
    model = GeneralizedLinearMixedModel(GROUSE_NB, data("grouseticks"), negative_binomial(th))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = model._fit()
        near = GeneralizedLinearMixedModel(GROUSE_NB, data("grouseticks"), negative_binomial(1.02 * th))._fit()
    prob = model.problem
    x = (fresh.theta, fresh._beta)
    lp_fresh = fresh._lp0  # stage one's end
    lp_warm = prob.pirls_lme4(near.theta, near._beta, lp_fresh, joint=False).eta  # where a warm refit starts
    v_fresh = prob.laplace_deviance(*x, lp_fresh, joint=False)
    v_warm = prob.laplace_deviance(*x, lp_warm, joint=False)
    assert v_fresh == pytest.approx(fresh.objective, abs=1e-9)
    assert abs(v_fresh - v_warm) > 1e-3


def test_warm_started_optimizer_minimizes_the_fresh_function():
    """_nb_fit_from starts stage two's optimizer at another shape's optimum but keeps the fresh fit's
    deviance function (stage one run as in a fresh fit): it reaches the fresh fit's optimum (1e-7 or
    lower) with fewer evaluations, and its objective is that function at its estimates."""
    th = nb_fixtures()["grouse_nb"]["reported"]["nb_theta"]
    model = GeneralizedLinearMixedModel(GROUSE_NB, data("grouseticks"), negative_binomial(th))
    other = GeneralizedLinearMixedModel(GROUSE_NB, data("grouseticks"), negative_binomial(0.9 * th))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh = model._fit()
        x0 = other._fit()
        warm = _nb_fit_from(model, 1, np.concatenate([x0.theta, x0._beta]))
    assert warm.objective <= fresh.objective + 1e-7
    assert warm.objective == pytest.approx(fresh._dev_at(np.concatenate([warm.theta, warm._beta])), abs=1e-9)
    assert warm.theta == pytest.approx(fresh.theta, rel=1e-3)
    assert warm.optinfo.feval < fresh.optinfo.feval_stage1 + fresh.optinfo.feval_stage2


@pytest.mark.parametrize("cid", sorted(CASES))
def test_nb_search_record(cid):
    """fit.nb_search: the shapes tried, each fit's -2 log L and evaluations; the fit returned is the best
    of them, at the reported shape; its own evaluations (optinfo, as lme4's optinfo$feval of its last
    refit) are no more than lme4's last refit's."""
    m = nb_fit(cid)
    s = m.nb_search
    assert isinstance(s, NbSearch)
    assert s.nfits == len(s.nb_thetas) == len(s.objectives) == len(s.fevals) >= 3
    assert m.objective == min(s.objectives)
    assert m.nb_theta == s.nb_thetas[int(np.argmin(s.objectives))]
    assert m.family.theta == m.nb_theta
    assert s.feval > sum(s.fevals) >= m.feval == m.optinfo.feval
    assert m.feval <= nb_fixtures()[cid]["reported"]["feval"]
    assert all(math.isfinite(v) for v in s.objectives)


def test_glmer_nb_nagq0_is_fresh_fits():
    """nAGQ = 0: each value of the search is a fresh nAGQ = 0 fit (beta inside PIRLS), so the returned fit
    is what a fresh glmer at its shape gives."""
    d = data("glmmsim")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.glmer_nb("ynb ~ x + (1 | g)", d, nAGQ=0)
        fresh = mm.glmer("ynb ~ x + (1 | g)", d, negative_binomial(m.nb_theta), nAGQ=0)
    assert m.nAGQ == 0 and m.nb_search.nfits >= 3
    assert m.objective == pytest.approx(fresh.objective, abs=1e-9)
    assert m.fixef.to_numpy() == pytest.approx(fresh.fixef.to_numpy(), rel=1e-8)
    assert m.objective == min(m.nb_search.objectives)

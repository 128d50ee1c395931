"""The first small GLMMs of a process run on NumPy (no Numba, no scipy.stats): the NumPy loop against
the compiled one, and the switch (mixedmodels.fit.glmm_kernels.compiled_pays, the rent-or-buy rule of
mixedmodels.fit.kernels.Account) in fresh processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.fit import glmm_kernels, kernels

from glmm_cases import CASES, assert_same_pirls, data, fixtures, kwargs_for, model, numpy_model

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])



# scalar and vector-valued first terms, crossed and nested factors, a family without the compiled loop
CASES_NP = ["cbpp_cbind", "cbpp_probit", "grouse_crossed", "grouse_nested", "contra_slope", "pois_offset",
            "binom_logical", "binom_trials_probit", "gamma_log"]


@pytest.mark.parametrize("case_id", CASES_NP)
def test_numpy_pirls_matches_compiled(case_id, monkeypatch):
    prob = model(case_id).problem
    twin_model = numpy_model(case_id, monkeypatch)
    twin = twin_model.problem
    assert prob._use_compiled and not twin._use_compiled and not twin.compiled
    eta0 = prob.family.linkfun(twin_model.mustart)
    for joint, theta, b, a, c in assert_same_pirls(prob, twin, case_id, eta0):
        assert twin.laplace_deviance(theta, b, eta0, joint=joint) == pytest.approx(prob.laplace(a), rel=1e-12)
        p = prob.p if joint else 0
        fa, fc = a.factor, c.factor
        np.testing.assert_allclose(fa.inv_beta_block(p), fc.inv_beta_block(p), rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(fa.L11diag, fc.L11diag, rtol=1e-10)
        np.testing.assert_allclose(fa.L22, fc.L22, rtol=1e-8, atol=1e-10)
        assert fa.logdet_u() == pytest.approx(fc.logdet_u(), rel=1e-10)


def test_numpy_fit_reaches_the_compiled_optimum(monkeypatch):
    dname, formula, family, _ = CASES["cbpp_cbind"]
    df = data(dname)
    with monkeypatch.context() as mp:
        mp.setattr(glmm_kernels, "_COMPILED", None)
        mp.setattr(glmm_kernels.ACCOUNT, "excess", 0.0)
        a = mm.glmer(formula, df, family, **kwargs_for("cbpp_cbind", df))
    b = mm.glmer(formula, df, family, **kwargs_for("cbpp_cbind", df))
    assert not a.optinfo.compiled and b.optinfo.compiled
    assert a.objective == pytest.approx(b.objective, abs=1e-7)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-5)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-4)
    assert a.objective <= fixtures()["cbpp_cbind"]["minus2loglik"] + 1e-6  # lme4 glmer(cbind(...) ~ period + (1 | herd), cbpp, binomial)


def test_compiled_pays_rules(monkeypatch):
    """The rule with injected costs: large models load the kernels at once (a single fit saves more than
    the load costs), small ones rent until their charged extra time reaches the load cost, then the
    kernels load in a background thread (here a stand-in that records the call)."""
    acc = glmm_kernels.ACCOUNT
    monkeypatch.setattr(kernels, "LOAD_IN_THREAD", True)  # first the opt-in background load
    loads = []
    monkeypatch.setattr(glmm_kernels, "_COMPILED", None)
    monkeypatch.setattr(acc, "excess", 0.0)
    monkeypatch.setattr(acc, "_thread", None)
    monkeypatch.setattr(acc, "cached", lambda: True)
    monkeypatch.setattr(acc, "load_cost", lambda: 0.1)
    monkeypatch.setattr(acc, "_load", lambda: loads.append(1))
    monkeypatch.setattr(glmm_kernels, "compiled", lambda: loads.append("sync"))
    # large models run compiled at once (loaded in their fit; no charge to the account)
    assert glmm_kernels.compiled_pays(glmm_kernels.NUMPY_MAX_ROWS + 1, 0)
    assert glmm_kernels.compiled_pays(100, glmm_kernels.NUMPY_MAX_Q2 + 1)
    assert loads == ["sync", "sync"] and acc.excess == 0.0
    decisions = []
    for _ in range(3):  # two small fits each charged 0.05 s of extra time, then the load starts
        decisions.append(glmm_kernels.compiled_pays(100, 0))
        acc.charge(0.05)
    acc.wait()
    assert decisions == [False, False, False] and loads == ["sync", "sync", 1]
    monkeypatch.setattr(glmm_kernels, "_COMPILED", object())  # loaded: always compiled
    assert glmm_kernels.compiled_pays(100, 0)
    # the default: the fit that buys loads the kernels itself (no thread)
    monkeypatch.setattr(kernels, "LOAD_IN_THREAD", False)
    monkeypatch.setattr(glmm_kernels, "_COMPILED", None)
    monkeypatch.setattr(acc, "excess", 0.0)
    monkeypatch.setattr(acc, "_failed", False)  # the stand-in load above loaded nothing
    del loads[:]
    decisions = []
    for _ in range(3):
        decisions.append(glmm_kernels.compiled_pays(100, 0))
        acc.charge(0.05)
    assert decisions == [False, False, True] and loads == ["sync"]


def _glmm_code_cached() -> None:
    """Make sure the GLMM kernels are in Numba's on-disk cache (compiled here once in a fresh clone)."""
    _fresh("import json, warnings, mixedmodels as mm\n"
           "from mixedmodels.fit import glmm_kernels\n"
           "warnings.simplefilter('ignore')\n"
           "glmm_kernels.load_compiled()\n"
           "d = mm.datasets.load('cbpp')\n"
           "for k in (1, 9):\n"
           "    mm.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', d, 'binomial', nAGQ=k)\n"
           "print(json.dumps(glmm_kernels._cached()))")


def test_first_small_glmer_of_a_process_needs_neither_numba_nor_scipy_stats():
    """A process's first small glmer fit runs on NumPy (no Numba import, no scipy.stats, no
    scipy.optimize), and so does the second; once the rule has loaded the kernels the next ones run
    compiled; both at the same optimum."""
    _glmm_code_cached()
    code = (
        "import sys, json, warnings, mixedmodels as mm\n"
        "from mixedmodels.fit import glmm_kernels\n"
        "warnings.simplefilter('ignore')\n"
        "d = mm.datasets.load('cbpp')\n"
        "f = 'cbind(incidence, size - incidence) ~ period + (1 | herd)'\n"
        "m = mm.glmer(f, d, 'binomial'); se = list(m.se)\n"
        "first = {'obj': m.objective, 'compiled': m.optinfo.compiled, 'numba': 'numba' in sys.modules,\n"
        "         'stats': 'scipy.stats' in sys.modules, 'optimize': 'scipy.optimize' in sys.modules}\n"
        "second = mm.glmer(f, d, 'binomial').optinfo.compiled\n"
        "for _ in range(2000):  # until the rule has loaded the kernels (in a background thread)\n"
        "    last = mm.glmer(f, d, 'binomial')\n"
        "    if last.optinfo.compiled:\n"
        "        break\n"
        "    glmm_kernels.ACCOUNT.wait(0.001)\n"
        "print(json.dumps({'first': first, 'se': se, 'last': last.objective, 'last_se': list(last.se),\n"
        "                  'last_compiled': last.optinfo.compiled, 'second': second}))\n")
    res = _fresh(code)
    assert res["second"] is False  # the second fit does not pay the load either (it did before the rule)
    assert res["first"]["compiled"] is False
    assert res["first"]["numba"] is False and res["first"]["stats"] is False and res["first"]["optimize"] is False
    assert res["last_compiled"] is True
    assert res["first"]["obj"] == pytest.approx(res["last"], abs=1e-7)
    np.testing.assert_allclose(res["se"], res["last_se"], rtol=1e-4)


def test_load_compiled_switches_at_once():
    code = (
        "import sys, json, warnings, mixedmodels as mm\n"
        "from mixedmodels.fit import glmm_kernels\n"
        "warnings.simplefilter('ignore')\n"
        "ok = glmm_kernels.load_compiled()\n"
        "m = mm.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', mm.datasets.load('cbpp'),\n"
        "             'binomial')\n"
        "print(json.dumps({'ok': ok, 'compiled': m.optinfo.compiled}))\n")
    assert _fresh(code) == {"ok": True, "compiled": True}


def test_a_sequence_of_fits_weighs_the_whole_call(monkeypatch):
    """Inside ``glmm_kernels.sequence()`` (a call that fits many models) a model whose single fit would
    rent loads the kernels at once: the smaller bounds SEQUENCE_MAX_ROWS / SEQUENCE_MAX_Q2 apply."""
    acc = glmm_kernels.ACCOUNT
    loads = []
    monkeypatch.setattr(kernels, "LOAD_IN_THREAD", False)
    monkeypatch.setattr(glmm_kernels, "_COMPILED", None)
    monkeypatch.setattr(acc, "excess", 0.0)
    monkeypatch.setattr(acc, "_thread", None)
    monkeypatch.setattr(acc, "_failed", False)
    monkeypatch.setattr(acc, "cached", lambda: True)
    monkeypatch.setattr(acc, "load_cost", lambda: 0.1)
    monkeypatch.setattr(glmm_kernels, "compiled", lambda: loads.append("sync"))
    n = glmm_kernels.SEQUENCE_MAX_ROWS + 1
    q2 = glmm_kernels.SEQUENCE_MAX_Q2 + 1
    assert n <= glmm_kernels.NUMPY_MAX_ROWS and q2 <= glmm_kernels.NUMPY_MAX_Q2
    assert not glmm_kernels.compiled_pays(n, 0) and not glmm_kernels.compiled_pays(100, q2)  # one fit: rent
    with glmm_kernels.sequence():
        assert glmm_kernels.compiled_pays(n, 0) and glmm_kernels.compiled_pays(100, q2)  # the call: load
        assert not glmm_kernels.compiled_pays(100, 0)  # a small model still rents
    assert not glmm_kernels.compiled_pays(n, 0)  # the block has ended
    assert loads == ["sync", "sync"]


def test_glmer_nb_is_a_sequence_and_glmer_is_not(monkeypatch):
    """Every GLMM of ``glmer_nb``'s search decides inside ``sequence()``; a single ``glmer`` outside it."""
    from mixedmodels.fit import pirls

    depths = []
    real = pirls.compiled_pays

    def spy(n, q2u):
        depths.append(glmm_kernels._SEQUENCE[0])
        return real(n, q2u)

    monkeypatch.setattr(pirls, "compiled_pays", spy)
    g = data("grouseticks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm.glmer("TICKS ~ YEAR + (1 | BROOD)", g, "poisson")
        assert depths == [0]
        mm.glmer_nb("TICKS ~ YEAR + (1 | BROOD)", g)
    assert len(depths) > 3 and all(d == 1 for d in depths[1:])
    assert glmm_kernels._SEQUENCE[0] == 0

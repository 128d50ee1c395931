"""No warm-up tax: the one rent-or-buy rule (mixedmodels.fit.kernels.Account) that decides when a process
loads the compiled kernels of the small-model evaluator, the level-block kernels and the GLMM kernels.

Decisions are tested with injected costs and clocks (no timing is asserted); the paths it picks reach the
same optimum; and no fit compiles kernels in the foreground where a NumPy path exists."""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mixedmodels as mm
from mixedmodels.fit import glmm_kernels, kernels, paths, pirls, smallfit
from mixedmodels.model import LinearMixedModel

from .test_paths import _crossed

ROOT = Path(__file__).resolve().parents[2]
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
SLEEP = "Reaction ~ Days + (Days | Subject)"


class FakeClock:
    """A clock that advances by ``step`` seconds at each reading."""

    def __init__(self, step: float):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def _account(monkeypatch, *, cached=True, cost=1.0, clock=None):
    """A fresh account of a made-up group, its load a stand-in that records the call and marks it loaded."""
    state = {"loaded": False, "loads": 0}

    def load():
        state["loads"] += 1
        state["loaded"] = True

    monkeypatch.setattr(kernels, "_ACCOUNTS", dict(kernels._ACCOUNTS))  # the new group goes away after the test
    acc = kernels.Account("test-group", loaded=lambda: state["loaded"], cached=lambda: cached, load=load,
                          **({"clock": clock} if clock else {}))
    monkeypatch.setattr(acc, "load_cost", lambda: cost)
    return acc, state


@pytest.fixture
def no_compile(monkeypatch):
    """compile_in_background replaced by a recorder (a real one would outlive the test)."""
    started = []
    monkeypatch.setattr(kernels, "compile_in_background", lambda: started.append(1))
    monkeypatch.setattr(kernels, "COMPILE_IN_BACKGROUND", True)
    return started


# ------------------------------------------------------------------------------------ the decisions
def test_rent_until_the_excess_reaches_the_load_cost_then_buy_in_a_thread(monkeypatch, no_compile):
    monkeypatch.setattr(kernels, "LOAD_IN_THREAD", True)  # the opt-in background load
    monkeypatch.setattr(kernels, "THREAD_BUY_AT", 1.0)  # the classic rule: buy at the full load cost
    acc, state = _account(monkeypatch, cost=1.0)
    decisions = []
    for _ in range(5):
        decisions.append(acc.decide())
        acc.charge(0.3)  # the fit's extra time on the NumPy path
    # after 4 charges (1.2 >= 1.0) the fifth decision starts the load; that fit still rents
    assert decisions == ["rent"] * 5
    assert acc.wait(5) and state["loads"] == 1
    assert acc.decide() == "compiled" and state["loads"] == 1 and no_compile == []
    assert [d for d, _, _ in acc.log] == ["rent"] * 5
    assert [e < c for _, e, c in acc.log] == [True, True, True, True, False]


def test_the_thread_starts_at_its_share_of_the_load_cost(monkeypatch, no_compile):
    """The background load starts at THREAD_BUY_AT of the cost (the fits keep renting while it runs)."""
    monkeypatch.setattr(kernels, "LOAD_IN_THREAD", True)
    monkeypatch.setattr(kernels, "THREAD_BUY_AT", 0.5)
    acc, state = _account(monkeypatch, cost=1.0)
    acc.charge(0.45)
    assert acc.decide() == "rent" and not acc.loading() and state["loads"] == 0
    acc.charge(0.1)
    assert acc.decide() == "rent" and acc.wait(5) and state["loads"] == 1
    assert acc.decide() == "compiled"
    # uncached, the compile is asked for only at the full cost (it is not a load the fits wait on)
    acc2, _ = _account(monkeypatch, cost=1.0, cached=False)
    acc2.charge(0.6)
    assert acc2.decide() == "rent" and no_compile == []


def test_a_fit_predicted_to_save_more_than_the_load_loads_at_once(monkeypatch, no_compile):
    acc, state = _account(monkeypatch, cost=1.0)
    assert acc.decide(saving=0.99) == "rent"
    assert acc.decide(saving=1.0) == "load" and state["loads"] == 0  # loaded by the caller, in its fit
    acc2, _ = _account(monkeypatch, cost=1.0, cached=False)
    assert acc2.decide(saving=5.0) == "wait" and no_compile == [1]  # not cached: the other process compiles


def test_uncached_code_is_compiled_in_the_background_never_loaded_in_a_fit(monkeypatch, no_compile):
    acc, state = _account(monkeypatch, cost=1.0, cached=False)
    acc.charge(0.9)
    assert acc.decide() == "rent" and no_compile == []
    acc.charge(0.2)
    assert acc.decide() == "rent" and no_compile == [1] and state["loads"] == 0
    assert not acc.loading()


def test_the_rule_loads_in_the_fit_when_threads_are_off(monkeypatch, no_compile):
    monkeypatch.setattr(kernels, "LOAD_IN_THREAD", False)
    acc, state = _account(monkeypatch, cost=1.0)
    acc.charge(1.0)
    assert acc.decide() == "load" and state["loads"] == 0


def test_with_threads_off_the_buying_small_fit_loads_the_evaluator(monkeypatch, no_compile):
    monkeypatch.setattr(kernels, "LOAD_IN_THREAD", False)
    acc = smallfit.ACCOUNT
    monkeypatch.setattr(acc, "loaded", lambda: False)
    monkeypatch.setattr(acc, "cached", lambda: True)
    monkeypatch.setattr(acc, "load_cost", lambda: 0.5)
    monkeypatch.setattr(acc, "excess", 0.0)
    d = mm.datasets.load("sleepstudy")
    assert mm.lmer(SLEEP, d).optinfo.path == "dense"
    acc.charge(0.5)
    assert mm.lmer(SLEEP, d).optinfo.path == "small"


def test_the_load_cost_counts_only_what_is_not_loaded_yet(monkeypatch):
    acc = smallfit.ACCOUNT
    others = [a for a in kernels._ACCOUNTS.values() if a is not acc]
    for a in others:
        monkeypatch.setattr(a, "loaded", lambda: False)
    monkeypatch.delitem(sys.modules, "numba", raising=False)
    full = acc.load_cost()
    assert full == pytest.approx(kernels.LOAD_IMPORT + kernels.LOAD_CONTEXT + kernels.LOAD_GROUP["small"])
    monkeypatch.setitem(sys.modules, "numba", object())  # Numba imported by something else
    assert acc.load_cost() == pytest.approx(full - kernels.LOAD_IMPORT)
    monkeypatch.setattr(others[0], "loaded", lambda: True)  # and its contexts built by another group
    assert acc.load_cost() == pytest.approx(kernels.LOAD_GROUP["small"])


def test_the_meter_charges_a_share_of_the_measured_time(monkeypatch):
    acc, _ = _account(monkeypatch, clock=FakeClock(0.01))

    class Work:
        def evaluate(self, x):
            return x + 1

    w = Work()
    acc.meter(w, ("evaluate",), share=0.5)
    assert [w.evaluate(i) for i in range(4)] == [1, 2, 3, 4]
    assert acc.excess == pytest.approx(4 * 0.5 * 0.01) and acc.fits == 1
    w2 = Work()
    acc.meter(w2, ("evaluate",), per_call=0.25)
    w2.evaluate(0)
    assert acc.excess == pytest.approx(0.02 + 0.25)


# ----------------------------------------------------------------------- what the paths do with it
def test_a_renting_small_model_runs_numpy_charges_its_time_and_reaches_the_compiled_optimum(monkeypatch):
    d = mm.datasets.load("sleepstudy")
    compiled = mm.lmer(SLEEP, d, path="small")
    acc = smallfit.ACCOUNT
    monkeypatch.setattr(acc, "loaded", lambda: False)
    monkeypatch.setattr(acc, "excess", 0.0)
    monkeypatch.setattr(acc, "load_cost", lambda: 1e9)  # never buys here
    m = mm.lmer(SLEEP, d)
    assert m.optinfo.path == "dense" and acc.excess > 0
    assert m.objective == pytest.approx(compiled.objective, abs=1e-8)
    np.testing.assert_allclose(m.theta, compiled.theta, rtol=1e-5)
    monkeypatch.setattr(acc, "loaded", lambda: True)
    assert mm.lmer(SLEEP, d).optinfo.path == "small"


def test_a_large_fit_rents_the_sparse_path_until_the_kernels_pay(monkeypatch, no_compile):
    d = _crossed(1, 60_000, 4000, 300)
    acc = paths.BLOCKS_ACCOUNT
    monkeypatch.setattr(acc, "loaded", lambda: False)
    monkeypatch.setattr(acc, "excess", 0.0)
    monkeypatch.setattr(acc, "_thread", None)
    monkeypatch.setattr(acc, "load_cost", lambda: 1e9)
    m = mm.lmer("y ~ x + (1 | g1) + (1 | g2)", d)
    assert m.optinfo.path == "sparse" and no_compile == []
    crit = m.model.criterion(True)
    per_eval = kernels.blocks_saving(crit, evaluations=1)
    assert per_eval > 0 and acc.excess == pytest.approx(per_eval * m.optinfo.feval, rel=0.5)
    b = mm.lmer("y ~ x + (1 | g1) + (1 | g2)", d, path="blocks")
    assert m.objective == pytest.approx(b.objective, rel=1e-9)
    monkeypatch.setattr(acc, "loaded", lambda: True)
    assert mm.lmer("y ~ x + (1 | g1) + (1 | g2)", d).optinfo.path == "blocks"


def test_the_predicted_saving_grows_with_the_level_work():
    small = LinearMixedModel("y ~ x + (1 | g1) + (1 | g2)", _crossed(1, 20_000, 1000, 100)).criterion(True)
    big = LinearMixedModel("y ~ x + (1 | g1) + (1 | g2)", _crossed(1, 60_000, 4000, 300)).criterion(True)
    assert 0 < kernels.blocks_saving(small) < kernels.blocks_saving(big)
    assert kernels.blocks_saving(big, evaluations=2) == pytest.approx(2 * kernels.blocks_saving(big, evaluations=1))


def test_no_fit_compiles_in_the_foreground_where_a_numpy_path_exists(monkeypatch, no_compile):
    """Nothing loaded, nothing cached, and every account past its load cost: small and large linear
    fits and small and large GLMMs run on their NumPy/SciPy paths; the compile is only asked of the
    background process."""

    def forbidden(*a, **k):
        raise AssertionError("compiled in the fit")

    for acc in kernels._ACCOUNTS.values():
        monkeypatch.setattr(acc, "loaded", lambda: False)
        monkeypatch.setattr(acc, "cached", lambda: False)
        monkeypatch.setattr(acc, "excess", 1e9)
        monkeypatch.setattr(acc, "_thread", None)
    monkeypatch.setattr(smallfit, "_compile", forbidden)
    monkeypatch.setattr(glmm_kernels, "compiled", forbidden)
    monkeypatch.setattr(pirls, "_kernels", forbidden)  # the PIRLS module's own reference to it
    monkeypatch.setattr(kernels, "_compile", forbidden)
    monkeypatch.setattr(kernels, "_blocks_ready", False)
    monkeypatch.setattr(kernels, "indexed", lambda names: False)  # a cold on-disk cache
    # ... and no background compile of an earlier test that has just ended (blocks_ready would then read
    # the cache, as it should in real use; this test is about a cache that is not there)
    monkeypatch.setattr(kernels, "_background_finished", lambda: False)
    monkeypatch.setattr(kernels, "BLOCKS_SAVED_PER_PAIR", 1.0)  # the large fit "saves" more than the load
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert mm.lmer(SLEEP, mm.datasets.load("sleepstudy")).optinfo.path == "dense"
        big = mm.lmer("y ~ x + (1 | g1) + (1 | g2)", _crossed(1, 60_000, 4000, 300))
        assert big.optinfo.path == "sparse"
        cbpp = mm.datasets.load("cbpp")
        assert mm.glmer(CBPP, cbpp, "binomial").optinfo.compiled is False
        monkeypatch.setattr(glmm_kernels, "NUMPY_MAX_ROWS", 5)  # a "large" GLMM: predicted to pay at once
        assert mm.glmer(CBPP, cbpp, "binomial").optinfo.compiled is False
    assert no_compile  # asked for, in the background


def test_background_load_reads_the_cache_and_compiles_nothing():
    """In a new process with the machine code cached, the rule's background load of the small evaluator
    and of the GLMM kernels reads every kernel from the cache (no compile), after which fits run
    compiled with no further load."""
    subprocess.run([sys.executable, "-m", "mixedmodels", "precompile"], capture_output=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=900, check=True)
    code = (
        "import json, sys, warnings, mixedmodels as mm\n"
        "from mixedmodels.fit import glmm_kernels, smallfit, _smallfit_jit\n"
        "warnings.simplefilter('ignore')\n"
        "from mixedmodels.fit import kernels\n"
        "kernels.LOAD_IN_THREAD = True\n"
        "for acc in (smallfit.ACCOUNT, glmm_kernels.ACCOUNT):\n"
        "    acc.charge(1e9)\n"
        "    assert acc.decide() == 'rent' and acc.loading()\n"
        "    acc.wait()\n"
        "from mixedmodels.fit import _glmm_jit\n"
        "ev = _smallfit_jit.evaluate\n"
        "res = {'small': smallfit.loaded(), 'glmm': glmm_kernels.loaded(),\n"
        "       'misses': ev.stats.cache_misses.copy() if hasattr(ev.stats, 'cache_misses') else {},\n"
        "       'pirls_misses': dict(_glmm_jit.pirls.stats.cache_misses)}\n"
        "res['lmer'] = mm.lmer('Reaction ~ Days + (Days | Subject)', mm.datasets.load('sleepstudy')).optinfo.path\n"
        "res['glmer'] = mm.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)',\n"
        "                        mm.datasets.load('cbpp'), 'binomial').optinfo.compiled\n"
        "print(json.dumps({k: (v if not isinstance(v, dict) else sum(v.values())) for k, v in res.items()}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res == {"small": True, "glmm": True, "misses": 0, "pirls_misses": 0, "lmer": "small", "glmer": True}


def test_blocks_saving_counts_pairs_or_levels_whichever_is_more():
    """The level-block kernels' predicted saving: per pair of the downdate, or per level of the first term
    (a first factor with very many levels, where the pair count alone predicts too little), per evaluation."""
    from types import SimpleNamespace as NS
    many_levels = NS(ntheta=2, level_blocks=NS(work=10, nlevels=30_000))
    assert kernels.blocks_saving(many_levels, evaluations=1) == pytest.approx(
        kernels.BLOCKS_SAVED_PER_LEVEL * 30_000)
    assert kernels.blocks_saving(many_levels) == pytest.approx(kernels.BLOCKS_SAVED_PER_LEVEL * 30_000 * 20)
    many_pairs = NS(ntheta=3, level_blocks=NS(work=10**9, nlevels=100))
    assert kernels.blocks_saving(many_pairs, evaluations=1) == pytest.approx(kernels.BLOCKS_SAVED_PER_PAIR * 1e9)

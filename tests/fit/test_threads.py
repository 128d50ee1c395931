"""Thread pools inside the fit (mixedmodels.fit.threads) and the warm-up rules of the compiled kernels
(mixedmodels.fit.kernels): one BLAS thread by default, the user's setting respected, limits scoped to the
call; ``import mixedmodels`` light; the first small fits of a process on the NumPy path."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.fit import kernels, threads

ROOT = Path(__file__).resolve().parents[2]


def blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@threads.scoped
def probe():
    """What the pools say inside a scoped call."""
    return blas_threads()


@pytest.fixture
def clean_env(monkeypatch):
    for v in threads.ENV_VARS:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setattr(threads, "_setting", None)


def test_default_is_one_thread_inside_and_restored_after(clean_env):
    before = blas_threads()
    assert before  # numpy's and scipy's BLAS are loaded
    assert probe() == [1] * len(before)
    assert blas_threads() == before


def test_explicit_threads_and_set_threads(clean_env):
    assert probe(threads=2) == [2] * len(blas_threads())
    mm.set_threads(2)
    try:
        assert mm.get_threads() == 2
        assert probe() == [2] * len(blas_threads())
        assert probe(threads=1) == [1] * len(blas_threads())  # the call's own argument wins
    finally:
        mm.set_threads(None)
    assert mm.get_threads() is None
    assert threads.effective_threads() == threads.DEFAULT_THREADS


def test_environment_setting_is_left_alone(clean_env, monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    before = blas_threads()
    assert threads.effective_threads() is None
    assert probe() == before  # untouched
    assert probe(threads=1) == [1] * len(before)  # unless the call says otherwise


def test_nested_calls_keep_the_outer_limit(clean_env):
    @threads.scoped
    def outer():
        return probe()
    assert outer(threads=2) == [2] * len(blas_threads())


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_are_refused(bad, clean_env):
    with pytest.raises(MixedModelsError, match="whole number"):
        mm.set_threads(bad)
    with pytest.raises(MixedModelsError, match="whole number"):
        mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"), threads=bad)
    assert mm.get_threads() is None


def test_fit_with_threads_gives_the_same_fit(clean_env):
    d = mm.datasets.load("sleepstudy")
    a = mm.lmer("Reaction ~ Days + (Days | Subject)", d)
    b = mm.lmer("Reaction ~ Days + (Days | Subject)", d, threads=2)
    assert a.objective == pytest.approx(b.objective, abs=1e-9)
    np.testing.assert_allclose(a.fixef.to_numpy(), b.fixef.to_numpy(), rtol=1e-8)


def test_njit_without_a_writable_cache_compiles_in_memory(monkeypatch):
    """A read-only install with no writable cache directory: Numba refuses cache=True at decoration
    time; kernels.njit then compiles without the on-disk cache instead of failing."""
    numba = pytest.importorskip("numba")
    real = numba.njit

    def refusing(*args, **kw):
        if kw.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'x.py'")
        return real(*args, **kw)
    monkeypatch.setattr(numba, "njit", refusing)

    @kernels.njit(nogil=True)
    def twice(x):
        return 2.0 * x
    assert twice(3.0) == 6.0


def _fresh(code: str, **env) -> dict:
    full = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    for v in threads.ENV_VARS:
        full.pop(v, None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=full,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_loads_neither_pandas_nor_scipy_nor_numba():
    res = _fresh("import sys, json, mixedmodels as mm\n"
                 "print(json.dumps({m: m in sys.modules for m in ('pandas', 'scipy', 'numba', 'mixedmodels.model')}))")
    assert res == {"pandas": False, "scipy": False, "numba": False, "mixedmodels.model": False}


def test_first_small_fit_loads_only_what_the_fit_needs():
    """A process's first small lmer imports none of scipy.stats, scipy.optimize, scipy.sparse.linalg,
    statsmodels, matplotlib, Numba or the inference modules."""
    res = _fresh("import sys, json, mixedmodels as mm\n"
                 "m = mm.lmer('Reaction ~ Days + (Days | Subject)', mm.datasets.load('sleepstudy'))\n"
                 "print(json.dumps({'before': sorted(sys.modules)}))")
    heavy = ("scipy.stats", "scipy.optimize", "scipy.sparse.linalg", "statsmodels", "matplotlib", "numba",
             "mixedmodels.inference", "mixedmodels.classical")
    assert not [m for m in res["before"] if m.startswith(heavy)]


def _small_code_cached() -> None:
    """Make sure the compiled small-model evaluator is in Numba's on-disk cache (a fresh clone compiles it
    here once; it usually is already, from the compiled-path tests)."""
    _fresh("import json\n"
           "from mixedmodels.fit import smallfit\n"
           "if not smallfit.compiled_code_cached():\n"
           "    import mixedmodels as mm\n"
           "    mm.lmer('Reaction ~ Days + (Days | Subject)', mm.datasets.load('sleepstudy'), path='small')\n"
           "print(json.dumps(smallfit.compiled_code_cached()))")


def test_first_small_fits_run_without_numba_then_compiled():
    """Small models take the NumPy path (no Numba import) until the extra time they cost reaches the cost
    of loading the compiled evaluator (rent or buy, kernels.Account); then it is loaded (its code cached
    on disk) and the next ones run compiled; both reach the same optimum."""
    _small_code_cached()
    code = (
        "import sys, json, mixedmodels as mm\n"
        "from mixedmodels.fit import kernels, smallfit\n"
        "d = mm.datasets.load('sleepstudy')\n"
        "f = 'Reaction ~ Days + (Days | Subject)'\n"
        "first = mm.lmer(f, d).objective\n"
        "numba_after_first = 'numba' in sys.modules\n"
        "acc = smallfit.ACCOUNT\n"
        "cost = acc.load_cost()\n"
        "paths = []\n"
        "for _ in range(5000):\n"
        "    m = mm.lmer(f, d)\n"
        "    paths.append(m.optinfo.path)\n"
        "    if paths[-1] == 'small':\n"
        "        break\n"
        "    acc.wait(0.001)  # let a started load finish sooner (no effect on the rule)\n"
        "print(json.dumps({'first': first, 'last': m.objective, 'numba_after_first': numba_after_first,\n"
        "                  'numba_at_end': 'numba' in sys.modules, 'paths': paths, 'excess': acc.excess,\n"
        "                  'cost': cost, 'log': acc.log}))\n")
    res = _fresh(code)
    assert res["numba_after_first"] is False
    assert res["numba_at_end"] is True
    assert res["first"] == pytest.approx(res["last"], abs=1e-9)
    assert res["paths"][-1] == "small" and set(res["paths"][:-1]) == {"dense"}
    # nothing was loaded before the NumPy fits had cost the background load's share of the load cost
    # (kernels.THREAD_BUY_AT): the first decision past it started the load, the fits before it rented
    share = kernels.THREAD_BUY_AT if kernels.LOAD_IN_THREAD else 1.0
    before = [dec for dec, e, c in res["log"] if e < share * c]
    assert len(before) >= 2 and set(before) == {"rent"}
    assert res["excess"] >= share * res["cost"]


def test_small_fits_stay_on_numpy_while_compiling_would_not_pay(tmp_path):
    """With the compiled evaluator not in the on-disk cache (an empty NUMBA_CACHE_DIR), a process never
    compiles it in a fit: small models stay on the NumPy path, and once their extra time reaches the
    load cost (rent or buy) the background compile is asked for, once per fit past that point (the
    real one starts a single process); with the code cached the rule loads it (above)."""
    code = (
        "import sys, json, mixedmodels as mm\n"
        "from mixedmodels.fit import kernels, smallfit\n"
        "d = mm.datasets.load('sleepstudy')\n"
        "f = 'Reaction ~ Days + (Days | Subject)'\n"
        "started = []\n"
        "acc = smallfit.ACCOUNT\n"
        "kernels.compile_in_background = lambda: started.append(acc.excess)  # not here: it would outlive the test\n"
        "cached = smallfit.compiled_code_cached()\n"
        "paths = []\n"
        "for _ in range(5000):\n"
        "    paths.append(mm.lmer(f, d).optinfo.path)\n"
        "    if started:\n"
        "        break\n"
        "print(json.dumps({'cached': cached, 'paths': sorted(set(paths)), 'numba': 'numba' in sys.modules,\n"
        "                  'fits': len(paths), 'cost': acc.load_cost(), 'started': started}))\n")
    res = _fresh(code, NUMBA_CACHE_DIR=str(tmp_path))
    assert res["cached"] is False
    assert res["paths"] == ["dense"] and res["numba"] is False
    assert res["fits"] > 20  # many more NumPy fits than the former fixed 20 before anything happens
    assert len(res["started"]) == 1 and res["started"][0] >= res["cost"]


def test_lazy_attributes_resolve():
    assert callable(mm.lmer) and mm.LinearMixedModel.__name__ == "LinearMixedModel"
    assert mm.model.lmer is mm.lmer
    assert "lmer" in dir(mm)
    with pytest.raises(AttributeError):
        mm.no_such_name  # noqa: B018


def test_concurrent_fits_keep_the_limit_until_the_last_returns(clean_env):
    """Two Python threads in scoped calls: the first to return must not restore the pools under the
    other; the last to return restores them."""
    import threading

    before = blas_threads()
    inside_a, release_a, seen = threading.Event(), threading.Event(), {}

    @threads.scoped
    def slow():
        inside_a.set()
        release_a.wait(30)

    t = threading.Thread(target=slow)
    t.start()
    inside_a.wait(30)

    @threads.scoped
    def quick():
        return threads._active
    seen["quick"] = quick()           # enters and returns while `slow` is still inside
    seen["after_quick"] = (threads._depth, threads._active)
    release_a.set()
    t.join(30)
    # (OpenBLAS 0.3.30/31 does not report a limit set from a non-main thread back to other threads, so
    # across threads the bookkeeping is what is checked; the pools are checked in the main thread)
    assert seen["quick"] == 1
    assert seen["after_quick"] == (1, 1)  # still limited: `slow` has not returned
    assert (threads._depth, threads._active) == (0, None)
    assert blas_threads() == before

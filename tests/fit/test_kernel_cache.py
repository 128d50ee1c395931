"""How a process tells that the compiled level-block kernels are in Numba's on-disk cache, and the one
background compile that fills it (mixedmodels.fit.kernels)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mixedmodels as mm
from mixedmodels.fit import gradient, kernels

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **env), timeout=600)


def test_the_cache_file_names_cover_every_level_block_kernel():
    """Every kernel the blocks path runs has its index file among BLOCKS_KERNELS' names: a kernel added
    or renamed without updating the list would make a fit compile it in the middle of a search."""
    d = mm.datasets.load("Penicillin")
    mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", d, path="blocks")  # compiled or loaded
    dispatchers = [kernels._compile(), *gradient._compile()]
    for fn in dispatchers:
        index = os.path.basename(fn._cache._cache_file._index_path)
        assert any(index.startswith(name + "-") for name in kernels.BLOCKS_KERNELS), index
        if fn._cache._cache_file._load_index():  # on disk here (not compiled in memory only)
            assert os.path.dirname(fn._cache._cache_file._index_path) == kernels.cache_dir()
    assert len(kernels.BLOCKS_KERNELS) == len(dispatchers)
    assert kernels.indexed(kernels.BLOCKS_KERNELS) == all(kernels._on_disk(fn) for fn in dispatchers)


def test_a_cold_cache_is_told_without_importing_numba(tmp_path):
    code = ("import json, sys\n"
            "from mixedmodels.fit import kernels\n"
            "started = []\n"
            "kernels.compile_in_background = lambda: started.append(1)\n"
            "ready = kernels.blocks_ready()\n"
            "print(json.dumps({'ready': ready, 'numba': 'numba' in sys.modules, 'started': len(started),\n"
            "                  'dir': kernels.cache_dir()}))\n")
    out = _fresh(code, NUMBA_CACHE_DIR=str(tmp_path))
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res == {"ready": False, "numba": False, "started": 1, "dir": res["dir"]}
    assert res["dir"].startswith(str(tmp_path))


def test_one_background_compile_at_a_time(monkeypatch, tmp_path):
    """A process holding the compile lock keeps others from starting a second compile; a lock whose
    process has ended is taken over."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                           text=True, check=True).stdout.strip()  # the id of a process that has ended
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    calls = []
    monkeypatch.setattr(kernels.subprocess, "Popen", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.setattr(kernels, "_background", None)
    lock = Path(kernels.cache_dir()) / kernels.LOCK_NAME
    with kernels.compile_lock() as mine:
        assert mine and lock.read_text() == str(os.getpid())
        assert not kernels.compiling_elsewhere()  # our own lock
    assert not lock.exists()

    lock.write_text(str(os.getppid()))  # a running process compiles
    assert kernels.compiling_elsewhere()
    with kernels.compile_lock() as mine:
        assert mine is False
    kernels.compile_in_background()
    assert calls == [] and kernels._background is None and lock.read_text() == str(os.getppid())

    lock.write_text(ended)  # left over by a process that has ended
    assert not kernels.compiling_elsewhere()
    with kernels.compile_lock() as mine:
        assert mine and lock.read_text() == str(os.getpid())
    kernels.compile_in_background()
    assert len(calls) == 1 and calls[0][-2:] == ["precompile", "--background"]


def test_background_precompile_leaves_when_another_process_compiles(tmp_path):
    env = {"NUMBA_CACHE_DIR": str(tmp_path)}
    where = _fresh("from mixedmodels.fit import kernels; print(kernels.cache_dir())", **env).stdout.strip()
    Path(where).mkdir(parents=True)
    (Path(where) / kernels.LOCK_NAME).write_text(str(os.getpid()))  # this test's process "compiles"
    out = subprocess.run([sys.executable, "-m", "mixedmodels", "precompile", "--background"], capture_output=True,
                         text=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), **env), timeout=600)
    assert out.returncode == 3, out.stderr
    assert "another process is compiling" in out.stdout
    assert not list(Path(where).glob("*.nbi"))  # nothing compiled


@pytest.mark.parametrize("names, expected", [((), True), (("no_such.kernel",), False)])
def test_indexed_edge_cases(names, expected):
    assert kernels.indexed(names) is expected


def test_the_precompile_caches_every_glmm_kernel_the_rule_looks_for(tmp_path):
    """In an empty cache, the precompile's GLMM part leaves an index file for every name of
    ``GLMM_KERNELS``: otherwise the rent-or-buy rule never finds the kernels cached and keeps restarting
    the background compile (a clean clone's CI found ``linpred`` / ``crossprod_vec`` missing once the
    PIRLS loop stopped calling them)."""
    code = ("import json, warnings\n"
            "warnings.simplefilter('ignore')\n"
            "from mixedmodels import cli\n"
            "from mixedmodels.fit import glmm_kernels, kernels\n"
            "cli.compile_glmm_kernels()\n"
            "print(json.dumps({n: kernels.indexed((n,)) for n in glmm_kernels.GLMM_KERNELS}))\n")
    out = _fresh(code, NUMBA_CACHE_DIR=str(tmp_path))
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res and all(res.values()), res

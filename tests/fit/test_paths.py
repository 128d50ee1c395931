"""The evaluation paths (mixedmodels.fit.paths), chosen by a public argument, and the fit record
(mixedmodels.fit.optimize.OptSummary)."""

import dataclasses
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.classical.aov import MomentsSummary
from mixedmodels.errors import MixedModelsError, ModelError
from mixedmodels.fit import kernels, paths
from mixedmodels.fit.crossprod import CrossProducts
from mixedmodels.fit.gradient import gradient
from mixedmodels.fit.optimize import (Evaluations, OptSummary, check_boundary, cross_check_reason,
                                      optimize_theta, optimize_with_gradient)
from mixedmodels.frame.design import build_design
from mixedmodels.model import LinearMixedModel


ROOT = Path(__file__).resolve().parents[2]


def _sleep():
    return mm.datasets.load("sleepstudy")


def _crossed(seed=3, n=400, k1=40, k2=12):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x": rng.normal(size=n), "g1": rng.integers(0, k1, n).astype(str),
                       "g2": rng.integers(0, k2, n).astype(str)})
    df["y"] = (df["x"] + rng.normal(size=k1)[df["g1"].astype(int)] + rng.normal(size=k2)[df["g2"].astype(int)]
               + rng.normal(size=n))
    return df


# ------------------------------------------------------------------------------ every path, one answer
@pytest.mark.parametrize("formula, names", [
    ("Reaction ~ Days + (Days | Subject)", ["small", "dense", "sparse"]),
    ("y ~ x + (x | g1) + (x | g2)", ["small", "dense", "sparse"]),     # a vector-valued later term
    ("y ~ x + (x | g1) + (1 | g2)", ["small", "dense", "sparse", "blocks"]),  # scalar later terms
])
def test_every_path_gives_the_same_fit(formula, names):
    data = _sleep() if formula.startswith("Reaction") else _crossed()
    fits = {}
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[name] = mm.lmer(formula, data, path=name)
        assert fits[name].optinfo.path == name
        assert fits[name].fit_options["path"] == name
    ref = fits[names[0]]
    for name, f in fits.items():
        assert f.objective == pytest.approx(ref.objective, abs=1e-7), name
        np.testing.assert_allclose(f.theta, ref.theta, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(f.fixef, ref.fixef, rtol=1e-6)


@pytest.mark.parametrize("reml", [True, False])
def test_paths_agree_on_value_gradient_and_solution(reml):
    model = LinearMixedModel("y ~ x + (x | g1) + (x | g2)", _crossed(5))
    theta = np.array([0.8, 0.2, 0.5, 0.6, -0.3, 0.4])
    crit = model.criterion(reml)
    values, grads, sols = {}, {}, {}
    for name in ("small", "dense", "sparse"):
        c = crit.with_path(name)
        assert c.path.name == name and c.cp is crit.cp  # the cross-products are shared
        values[name], grads[name] = c.value_and_gradient(theta)
        sols[name] = c.solve(c.factor(theta))
    for name in values:
        assert values[name] == pytest.approx(values["small"], rel=1e-11)
        np.testing.assert_allclose(grads[name], grads["small"], rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(sols[name][0], sols["small"][0], rtol=1e-9)
        np.testing.assert_allclose(sols[name][1], sols["small"][1], rtol=1e-7, atol=1e-10)


def test_auto_picks_by_size(monkeypatch):
    monkeypatch.setattr(kernels, "COMPILE_IN_BACKGROUND", False)  # compiled or not yet: the kernels' path
    small = LinearMixedModel("Reaction ~ Days + (Days | Subject)", _sleep()).criterion(True)
    assert small.path.name == "small"
    big = LinearMixedModel("y ~ x + (1 | g1) + (1 | g2)", _crossed(1, 60_000, 4000, 300)).criterion(True)
    assert big.path.name == "blocks"
    assert big.m * big.q1 > paths.DENSE_MAX


class _Uncompiled:
    overloads: dict = {}


def test_first_large_fit_before_the_kernels_are_compiled_takes_the_sparse_path(monkeypatch):
    """Kernels neither compiled in the process nor in the on-disk cache: "auto" evaluates on the sparse
    path and starts the compile in the background, once; from the first evaluation after the machine
    code is ready it evaluates on the compiled path, and later criteria start there."""
    started = []
    ready = {"on_disk": False}
    monkeypatch.setattr(kernels, "_blocks_ready", False)
    monkeypatch.setattr(kernels, "_compile", lambda: _Uncompiled())
    monkeypatch.setattr(kernels, "_on_disk", lambda fn: ready["on_disk"])
    monkeypatch.setattr(kernels, "compile_in_background", lambda: started.append(1))
    # not loaded, not cached, and a fit predicted to save more than loading costs (rent or buy: buy now)
    monkeypatch.setattr(paths.BLOCKS_ACCOUNT, "loaded", lambda: False)
    monkeypatch.setattr(paths.BLOCKS_ACCOUNT, "cached", lambda: False)
    monkeypatch.setattr(kernels, "BLOCKS_SAVED_PER_PAIR", 1.0)
    model = LinearMixedModel("y ~ x + (1 | g1) + (1 | g2)", _crossed(1, 60_000, 4000, 300))
    crit = model.criterion(True)
    assert isinstance(crit.path, paths.WarmingPath) and crit.path.name == "sparse" and started == [1]
    theta = crit.theta_init() * 0.7 + 0.05
    v_sparse, state = crit.path.evaluate(theta)
    assert state[0].name == "sparse"
    monkeypatch.setattr(kernels, "COMPILE_IN_BACKGROUND", False)  # the old rule: compile in the fit
    assert paths.choose_path(crit).name == "blocks"
    monkeypatch.setattr(kernels, "COMPILE_IN_BACKGROUND", True)
    # however large the model (the former WARMING_MAX_SIZE compiled above 8M elements in the fit): the
    # sparse path while the other process compiles, never a compile here
    monkeypatch.setattr(kernels, "BLOCKS_SAVED_PER_PAIR", 1e6)
    assert isinstance(paths.choose_path(crit), paths.WarmingPath) and len(started) == 2
    monkeypatch.undo()  # the real kernels (compiled or loaded from the cache) ...
    monkeypatch.setattr(kernels, "_blocks_ready", True)  # ... now ready: the next evaluation switches
    v_blocks, state_b = crit.path.evaluate(theta)
    assert crit.path.name == "blocks" and state_b[0].name == "blocks"
    assert v_blocks == pytest.approx(v_sparse, rel=1e-11)
    g_sparse, g_blocks = crit.path.gradient_at(state), crit.path.gradient_at(state_b)  # each by its own path
    np.testing.assert_allclose(g_blocks, g_sparse, rtol=1e-7, atol=1e-8)
    assert paths.choose_path(crit).name == "blocks" and started == [1, 1]  # no further compile asked for


def test_cold_numba_cache_first_large_fit_runs_sparse(tmp_path):
    """In a new process with an empty Numba cache (the first fit after installation), a large crossed fit
    runs on the sparse path without compiling (and, saving less than loading the kernels would cost,
    without starting the background compile) and reaches the compiled path's optimum."""
    code = (
        "import json, sys, warnings; warnings.simplefilter('ignore')\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_paths import _crossed\n"
        "import mixedmodels as mm\n"
        "from mixedmodels.fit import kernels\n"
        "kernels.compile_in_background = lambda: print('background compile started')\n"
        "m = mm.lmer('y ~ x + (1 | g1) + (1 | g2)', _crossed(1, 60_000, 4000, 300))\n"
        "numba_in_fit = 'numba' in sys.modules\n"
        "print(json.dumps({'path': m.optinfo.path, 'objective': m.objective, 'numba_in_fit': numba_in_fit,\n"
        "                  'compiled': len(kernels._compile().overloads)}))\n")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    out = subprocess.run([sys.executable, "-c", code],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    # one fit predicted to save less than loading the kernels costs (rent or buy: rent): no compile yet
    assert "background compile started" not in lines
    res = json.loads(lines[-1])
    assert res["path"] == "sparse" and res["compiled"] == 0
    assert res["numba_in_fit"] is False  # a cold cache is told by its files: Numba's import (~0.4 s) waits
    warm = mm.lmer("y ~ x + (1 | g1) + (1 | g2)", _crossed(1, 60_000, 4000, 300), path="blocks")
    assert res["objective"] == pytest.approx(warm.objective, rel=1e-9)


def test_bad_path_is_a_clear_error():
    with pytest.raises(MixedModelsError, match="path must be"):
        mm.lmer("Reaction ~ Days + (Days | Subject)", _sleep(), path="fast")
    with pytest.raises(ModelError, match="scalar"):
        mm.lmer("y ~ x + (x | g1) + (x | g2)", _crossed(), path="blocks")


def test_kernel_option_still_maps_to_a_path():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = mm.lmer("y ~ x + (x | g1) + (1 | g2)", _crossed(), kernel=True)
        b = mm.lmer("y ~ x + (x | g1) + (1 | g2)", _crossed(), kernel=False)
    assert a.optinfo.path == "blocks" and b.optinfo.path == "dense"
    assert a.objective == pytest.approx(b.objective, abs=1e-8)


def test_crossproducts_keep_x_dense_with_one_term():
    """The large-model branch (dense=False) with a single random term equals the dense products."""
    df = _crossed(2)
    d = build_design("y ~ x + (x | g1)", df)
    dense = CrossProducts.from_design(d.terms, d.X, d.y)
    sparse = CrossProducts.from_design(d.terms, d.X, d.y, dense=False)
    np.testing.assert_allclose(dense.ARR, sparse.ARR, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(dense.AR1.toarray(), sparse.AR1.toarray(), rtol=1e-12, atol=1e-10)


# -------------------------------------------------------------------------------------- the fit record
def test_fit_record_is_complete_and_frozen():
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", _sleep())
    o = m.optinfo
    assert isinstance(o, OptSummary)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.feval = 0
    assert len(o.fitlog) == o.feval > 0
    assert 0 < o.ngrad <= o.feval
    values = np.array([v for _, v in o.fitlog])
    assert o.objective == pytest.approx(values.min(), abs=1e-10)  # the optimum is the best evaluation
    np.testing.assert_allclose(o.fitlog[0][0], o.theta_init)  # the log starts at the start
    assert o.fitlog_table.shape == (o.feval, len(o.theta) + 1)
    assert o.settings["dec_tol"] == 1e-11 and o.settings["boundary_tol"] == 1e-5
    assert o.path == "small" and o.converged and o.messages == ()
    with pytest.raises(TypeError):
        o.settings["dec_tol"] = 1.0  # read-only
    assert m.fit_options == {"optimizer": "auto", "path": "auto"}


def test_bobyqa_record_counts_every_evaluation():
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", _sleep(), optimizer="bobyqa", ftol_abs=1e-9)
    o = m.optinfo
    assert o.optimizer.startswith("bobyqa") and o.ngrad == 0
    assert len(o.fitlog) == o.feval and o.settings["ftol_abs"] == 1e-9
    assert m.fit_options == {"optimizer": "bobyqa", "path": "auto", "ftol_abs": 1e-9}


def test_cross_check_runs_where_it_can_pay_and_is_recorded():
    """Dyestuff2's fit is singular on the small path: the BOBYQA cross-check runs, and its evaluations
    are part of the record."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    o = m.optinfo
    names = [c.name for c in o.checks]
    assert "bobyqa cross-check" in names
    cc = o.checks[names.index("bobyqa cross-check")]
    assert cc.feval > 0 and cc.reason == o.settings["cross_check"]
    assert len(o.fitlog) == o.feval >= cc.feval


def test_cross_check_skipped_on_large_dense_models():
    """A maximal model with 20 parameters on the dense path: the cross-check is not worth its
    evaluations (on a kb07-shaped model it cost 600 and never ended lower), so it does not run."""
    rng = np.random.default_rng(7)
    subj, item = np.repeat(np.arange(56), 32), np.tile(np.arange(32), 56)
    df = pd.DataFrame({"s": rng.choice([-.5, .5], 1792), "p": rng.choice([-.5, .5], 1792),
                       "l": rng.choice([-.5, .5], 1792), "subj": subj.astype(str), "item": item.astype(str)})
    df["y"] = rng.normal(size=1792)
    crit = LinearMixedModel("y ~ s*p*l + (1 + s + p + l | subj) + (1 + s + p + l | item)",
                            df).criterion(True)
    assert crit.path.name == "dense" and crit.ntheta == 20
    theta = crit.theta_init() * 0.0  # singular: where the cross-check would otherwise run
    assert cross_check_reason(crit, theta, crit.lower_bounds()) is None
    assert cross_check_reason(crit.with_path("small"), theta, crit.lower_bounds()) == "singular fit"


def test_moments_fit_has_its_own_record():
    model = LinearMixedModel("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff"))
    fit = model.fit("moments")
    rec = fit.optinfo
    assert isinstance(rec, MomentsSummary) and not isinstance(rec, OptSummary)
    assert rec.feval == 0 and rec.fitlog == () and rec.optimizer == "method of moments"
    assert rec.varcomp["Batch"] > 0 and rec.truncated == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.theta = None


def test_one_boundary_check_for_both_optimizers():
    """A criterion whose optimum is 1e-7 above the bound and no better than the bound to rounding:
    check_boundary moves it onto the bound, for either optimizer."""
    f = lambda x: float((x[0] - 1e-7) ** 2 * 1e-6 + (x[1] - 2.0) ** 2)  # noqa: E731
    theta, fval, check = check_boundary(f, np.array([1e-7, 2.0]), f(np.array([1e-7, 2.0])),
                                        np.array([0.0, -np.inf]), 1e-5)
    assert theta[0] == 0.0 and check.kept and check.name == "boundary"
    # too far from the bound: nothing tried
    theta, fval, check = check_boundary(f, np.array([1e-3, 2.0]), 0.0, np.array([0.0, -np.inf]), 1e-5)
    assert check is None and theta[0] == 1e-3
    o = optimize_theta(f, np.array([1.0, 1.0]), np.array([0.0, -np.inf]))
    assert o.theta[0] == 0.0 and [c.name for c in o.checks] == ["boundary"]
    assert len(o.fitlog) == o.feval  # a plain callable is logged too


def test_evaluations_budget_and_log():
    crit = LinearMixedModel("Reaction ~ Days + (Days | Subject)", _sleep()).criterion(True)
    before = crit.nevals
    rec = Evaluations(crit)
    v, state = rec.evaluate(crit.theta_init())
    g = rec.gradient_at(state)
    assert rec.nevals == 1 and rec.ngrad == 1 and crit.nevals == before + 1
    v2, g2 = gradient(crit, crit.theta_init())
    assert v == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(g, g2, rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        o = optimize_with_gradient(crit, crit.theta_init(), crit.lower_bounds(), maxeval=4)
    assert o.feval <= 5 and not o.converged and len(o.fitlog) == o.feval


def test_fit_is_not_changed_after_construction():
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", _sleep())
    before = {k: v for k, v in vars(m).items()}
    str(m.summary())
    m.update()
    for k, v in before.items():
        assert vars(m)[k] is v


def test_no_import_circle_inside_fit():
    """The fit stage's modules import each other one way only (module-level imports, read from the
    source): the graph has no cycle, and nothing imports the criterion or the optimizer back."""
    import ast
    import pathlib

    import mixedmodels.fit as fitpkg

    folder = pathlib.Path(fitpkg.__file__).parent
    graph = {}
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    deps.add(node.module.split(".")[0])
                else:
                    deps.update(a.name for a in node.names)
        graph[path.stem] = deps & {p.stem for p in folder.glob("*.py")}
    state = {}

    def visit(name, stack):
        assert state.get(name) != "open", f"import circle: {' -> '.join(stack + [name])}"
        if state.get(name) == "done":
            return
        state[name] = "open"
        for dep in graph[name]:
            visit(dep, stack + [name])
        state[name] = "done"

    for name in graph:
        visit(name, [])
    assert not any("criterion" in deps or "optimize" in deps for deps in graph.values())
    assert "paths" in graph["criterion"] and "paths" in graph["optimize"]


def test_background_compile_starts_once_and_imports_this_package(monkeypatch):
    calls = []

    class FakePopen:
        def __init__(self, cmd, **kw):
            calls.append((cmd, kw))

    monkeypatch.setattr(kernels, "_background", None)
    monkeypatch.setattr(kernels.subprocess, "Popen", FakePopen)
    kernels.compile_in_background()
    kernels.compile_in_background()
    assert len(calls) == 1
    cmd, kw = calls[0]
    assert cmd[1:] == ["-m", "mixedmodels", "precompile", "--background"]
    assert kw["env"]["PYTHONPATH"].split(os.pathsep)[0] == str(Path(mm.__file__).resolve().parents[1])
    assert kw["stdout"] is subprocess.DEVNULL and kw["start_new_session"]

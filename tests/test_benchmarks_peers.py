"""The benchmarks' peers: mixedlm's formula translation (benchmarks/translate.py), its sweep cell and
footnotes, the in-process thread ratio (benchmarks/sweep.py, benchmarks/sweep_worker.py) and the GLMM
peers' table (benchmarks/glmm.py). Made-up reports, no R, no mixedlm needed; the translation is checked
by fitting both spellings with our own package."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: benchmarks/ is no package of ours

import mixedmodels as mm
from benchmarks.glmm import NB, STATSMODELS_NB, nb_table, peers_table, simulate_nb
from benchmarks.shapes import BY_NAME
from benchmarks.sweep import _partial, markdown, thread_check
from benchmarks.sweep_worker import one_thread, paired_threads
from benchmarks.translate import expand_double_verts, expand_powers, mixedlm_formula

from tests.test_benchmarks_sweep import report


@pytest.mark.parametrize("formula, expected", [
    ("y ~ (a + b + c)^2 + (1 | g)", "y ~ a + b + c + a:b + a:c + b:c + (1 | g)"),
    ("y ~ (a + b)^3", "y ~ a + b + a:b"),
    ("y ~ (a + b + c)^3", "y ~ a + b + c + a:b + a:c + b:c + a:b:c"),
    ("y ~ (log(a) + b)^2", "y ~ (log(a) + b)^2"),      # not a plain list of variables: left as written
    ("y ~ x + (1 | g)", "y ~ x + (1 | g)"),
])
def test_expand_powers(formula, expected):
    assert expand_powers(formula) == expected


@pytest.mark.parametrize("formula, expected", [
    ("y ~ x + (1 + S + P || subj)", "y ~ x + (1 | subj) + (0 + S | subj) + (0 + P | subj)"),
    ("y ~ x + (x || g)", "y ~ x + (1 | g) + (0 + x | g)"),
    ("y ~ x + (0 + x + z || g)", "y ~ x + (0 + x | g) + (0 + z | g)"),
    ("y ~ x + (x | g)", "y ~ x + (x | g)"),
])
def test_expand_double_verts(formula, expected):
    assert expand_double_verts(formula) == expected


def test_mixedlm_formula_says_what_it_rewrote():
    f, changed = mixedlm_formula(BY_NAME["verbagg_lmm"].formula)
    assert "^" not in f and changed == ["`^` written out as explicit terms"]
    f, changed = mixedlm_formula(BY_NAME["kb07_zcp_factor"].formula)
    assert "||" not in f and changed == ["`||` written out as lme4 expands it"]
    assert mixedlm_formula(BY_NAME["ham"].formula) == (BY_NAME["ham"].formula, [])


@pytest.mark.parametrize("shape", ["verbagg_lmm", "kb07_zcp_factor"])
def test_the_rewritten_formula_is_the_same_model(shape):
    """Our own fits of both spellings: same criterion, same number of variance parameters."""
    s = BY_NAME[shape]
    data = s.load()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = mm.lmer(s.formula, data)
        b = mm.lmer(mixedlm_formula(s.formula)[0], data)
    assert len(a.theta) == len(b.theta)
    assert len(a.fixef) == len(b.fixef)
    assert b.objective == pytest.approx(a.objective, abs=1e-6)


def _with_mixedlm(rep, ml_idle):
    rep["results"][0]["mixedlm"] = ml_idle
    rep["results"][0]["default"]["ntheta"] = 20
    rep["results"][0]["default"]["cpu"] = 0.05
    return rep


def test_mixedlm_cell_ratio_criterion_gap_and_footnote_on_another_model():
    ml = {"time": 0.5, "cpu": 0.1, "objective": 100.0 + 7.19, "ntheta": 20, "feval": 1561,
          "formula": "y ~ S + (1 | g) + (0 + S | g)", "rewritten": ["`||` written out as lme4 expands it"],
          "native": {"objective": 100.0 + 7.19, "ntheta": 8, "feval": 24}}
    md = markdown(_with_mixedlm(report(), ml))
    assert "| mixedlm |" in md.splitlines()[md.splitlines().index("#### idle") + 2]
    assert "500 ms (x10), CPU x2; crit. +7.2 [m1]" in md
    note = next(ln for ln in md.splitlines() if ln.startswith("[m1] mixedlm:"))
    assert "8 variance parameters (ours and lme4: 20)" in note and "+7.19 against ours" in note
    assert "one contrast column per factor" in note
    assert "8 / 22 / 1561" in md


def test_mixedlm_cell_without_a_gap_another_parameter_count_errors_and_the_budget():
    ml = {"time": 0.05, "cpu": 0.05, "objective": 100.0 + 1e-9, "ntheta": 8, "rewritten": []}
    md = markdown(_with_mixedlm(report(), ml))
    assert "50 ms (x1), CPU x1 [m1]" in md               # same optimum: no "crit."
    assert "[m1] mixedlm: mixedlm fits 8 variance parameters where ours fits 20" in md
    md = markdown(_with_mixedlm(report(), {"error": "ValueError: Unexpected character '^'"}))
    assert "cannot fit: ValueError: Unexpected character '^'" in md
    over = dict(_partial('noise\n{"partial": true, "formula": "f2", "rewritten": ["`^` written out as explicit '
                         'terms"], "native": {"error": "ValueError: no"}}\n'), over=40.0)
    md = markdown(_with_mixedlm(report(), over))
    assert "> 40 s [m1]" in md and "as written it is refused (ValueError: no)" in md
    assert _partial(b"") == {} and _partial(None) == {}


def test_thread_check_prefers_the_in_process_ratio():
    rows = [{"shape": "a", "default": {"time": 0.009, "cpu": 0.005, "paired": {"ratio_cpu": 1.02, "rounds": 5}},
             "one": {"time": 0.005, "cpu": 0.004}},
            {"shape": "b", "default": {"time": 0.30, "cpu": 0.33, "paired": {"ratio_cpu": 0.97, "rounds": 3}},
             "one": {"time": 0.31, "cpu": 0.30}}]
    line = thread_check(rows)
    assert line.startswith("Defaults against one thread, in the same process (alternating fits, best CPU "
                           "time of each, 3-5 rounds): at most x1.02 (on a)")
    assert "best of the processes): at most x1.25 (on a)." in line   # the between-process ratio, kept


def test_paired_threads_alternates_and_restores_the_environment(monkeypatch):
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    seen = []

    def fit_once():
        import os
        seen.append(os.environ.get("OPENBLAS_NUM_THREADS"))
    res = paired_threads(fit_once, 3, budget=100.0)
    assert seen == [None, "1", "1", None, None, "1"]
    assert res["rounds"] == 3 and res["ratio_cpu"] is not None and res["default_cpu"] >= 0
    import os
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    with one_thread():
        assert os.environ["OMP_NUM_THREADS"] == "1"


def test_glmm_peers_table_on_equal_terms():
    rows = [{"case": "cbpp", "ours": {"time": 0.01, "cpu": 0.01, "m2ll": 184.0531},
             "mixedlm": {"time": 0.1, "cpu": 0.05, "m2ll": 184.0526, "m2ll_lme4_at": 184.05311},
             "statsmodels": {"vb": {"time": 0.5, "cpu": 0.5, "m2ll_lme4_at": 185.0},
                             "map": {"error": "boom"}}},
            {"case": "contraception", "ours": {"time": 0.1, "cpu": 0.1, "m2ll": 10.0},
             "mixedlm": {"error": "ValueError: x"}, "statsmodels": {"not_expressible": True}},
            {"case": "grouseticks", "ours": {"time": 0.1, "cpu": 0.1, "m2ll": 10.0},
             "statsmodels": {"vb": {"time": 1.0, "cpu": 1.0, "m2ll_lme4_at": None, "diverged": 2e38},
                             "map": {"time": 1.0, "cpu": 1.0, "m2ll_lme4_at": 10.5}}}]
    t = peers_table(rows)
    cbpp = next(ln for ln in t.splitlines() if ln.startswith("| cbpp"))
    assert "0.100 (x10; CPU x5)" in cbpp and "-5.00e-04" in cbpp and "+1.00e-05" in cbpp
    assert "+9.47e-01" in cbpp and "failed: boom" in cbpp
    assert "cannot fit: ValueError: x" in t and "not expressible" in t
    assert "diverged" in t and "+5.00e-01" in t
    assert "not the same estimator" in t


def test_glmm_theta_mapping_follows_our_term_order():
    from benchmarks.glmm import _theta_in_our_order

    d = mm.datasets.load("grouseticks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", d, "poisson")
    groups = [t.group for t in m.model.problem.terms]
    given = {g: [float(k)] for k, g in enumerate(["BROOD", "INDEX", "LOCATION"])}
    theta = _theta_in_our_order(m, given)
    assert list(theta) == [given[g][0] for g in groups]
    assert np.isfinite(theta).all()


# --------------------------------------------------------------------- negative binomial (glmer.nb) peers
def _nb_row(**mixedlm_nb):
    return {"case": "nbsim", "ours": {"time": 2.0, "cpu": 2.0, "m2ll": 100.0, "nb_theta": 1.4762},
            "lme4": {"time": 20.0, "m2ll": 100.0 + 2.8e-3, "nb_theta": 1.47619, "m2ll_devfun": 100.0 + 5e-5},
            "mixedlm_nb": mixedlm_nb}


def test_nb_table_labels_another_model_a_worse_optimum_and_stopped_fits():
    fixed = {"time": 12.0, "cpu": 6.0, "m2ll": 180.0, "nb_theta": 1.0, "fits": 1, "m2ll_lme4_at": 180.0}
    search = {"time": 90.0, "cpu": 50.0, "m2ll": 100.0 - 2e-4, "nb_theta": 1.4762, "fits": 12,
              "m2ll_lme4_at": 100.0 + 4.6e-5}
    t = nb_table([_nb_row(fixed=fixed, search=search)])
    row = next(ln for ln in t.splitlines() if ln.startswith("| nbsim"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "1.4762 / 1.4762"
    assert cells[2] == "+2.80e-03" and cells[3] == "+5.00e-05"          # lme4 reported, lme4's devfun
    assert cells[4] == "12.000 (x6; CPU x3)" and cells[5] == "1 (fixed: another model)"
    assert cells[6] == cells[7] == "+8.00e+01"
    assert cells[8] == "90.000 (x45; CPU x25)" and cells[9] == "1.4762 (12)"
    assert cells[10] == "-2.00e-04" and cells[11] == "+4.60e-05 (a worse optimum)"
    assert STATSMODELS_NB in t and "takes theta as given" in t
    # at our optimum or a better one: no label; a fit stopped by the budget; one that failed
    better = dict(search, m2ll_lme4_at=100.0 - 1e-3)
    t = nb_table([_nb_row(fixed={"over": 300.0}, search=better)])
    assert "> 300 s (stopped)" in t and "-1.00e-03 |" in t and "worse optimum" not in t
    t = nb_table([dict(_nb_row(fixed={"error": "ValueError: x"}, search={"over": 5.0}), lme4=None)])
    assert "cannot fit: ValueError: x" in t and "1.4762 / - | - | - |" in t


def test_simulated_nb_data_are_reproducible_and_overdispersed():
    a, b = simulate_nb(n=400, ng=20), simulate_nb(n=400, ng=20)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["y", "x", "f", "g"] and a["g"].nunique() == 20 and a["f"].nunique() == 3
    assert (a["y"] >= 0).all() and (a["y"] == a["y"].round()).all()
    assert a["y"].var() > 2 * a["y"].mean()                             # overdispersed counts


def test_mixedlm_glmer_nb_as_called_fits_another_model(monkeypatch):
    """mixedlm's glmer_nb keeps the NB shape at its default 1 (not estimated): on lme4's criterion (ours)
    its estimates are far from the estimated-shape optimum; its theta comes back in our term order."""
    pytest.importorskip("mixedlm")
    import benchmarks.glmm as bg

    monkeypatch.setitem(bg.SIMULATED, "tiny_nb", lambda: simulate_nb(seed=3, n=200, ng=20))
    monkeypatch.setitem(bg.CASES, "tiny_nb", ("tiny_nb", "y ~ x + (1 | g)", NB, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = mm.glmer_nb("y ~ x + (1 | g)", bg.load_data("tiny_nb"))
    out = bg.mixedlm_nb_one("tiny_nb", "fixed", 1)
    assert "error" not in out, out
    assert out["nb_theta"] == 1.0 and out["fits"] == 1
    assert len(out["theta"]) == 1 and len(out["beta"]) == 2 and np.isfinite(out["theta"]).all()
    assert abs(ours.nb_theta - 1.0) > 0.1                                # the data's shape is not 1
    assert out["m2ll_lme4_at"] > ours.objective + 1.0                   # another model: worse on lme4's
    assert out["m2ll"] == pytest.approx(out["m2ll_lme4_at"], abs=0.05)  # same NB model at theta = 1

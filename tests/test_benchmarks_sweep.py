"""The benchmark sweep's reporting (benchmarks/sweep.py) and its statsmodels translation
(benchmarks/sweep_worker.py), on a made-up report: no fits, no R."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: benchmarks/ is no package of ours

from benchmarks.shapes import SHAPES
from benchmarks.sweep import BEGIN, END, _best_of, markdown, thread_check, write_section
from benchmarks.sweep_worker import fixed_part


def report():
    ours = {"time": 0.05, "first": 0.06, "n": 648, "feval": 8, "objective": 100.0, "path": "dense NumPy",
            "singular": False}
    row = {"shape": "ham", "what": "ham", "formula": "f", "default": ours,
           "one": dict(ours, time=0.04), "all": dict(ours, time=5.0),
           "lme4": {"time": 0.1, "feval": 22, "objective": 100.5}, "statsmodels": {"over": 40.0}}
    busy = dict(row, condition="busy", all={"over": 40.0, "skipped": True})
    busy.pop("statsmodels")
    return {"date": "2026-12-06 18:00 UTC", "minutes": 1.0, "budget_s": 40.0, "quick": True, "notes": [],
            "machine": {"cores": 2, "cpu": "cpu", "python": "3.11", "versions": {"numpy": "2"},
                        "loadavg_at_start": [0.5, 0.5, 0.5]},
            "startup": {"idle": {"import_s": 0.003, "model_load_s": 0.3, "first_fit_s": 0.01, "warm_fit_s": 0.005,
                                 "cli_s": 0.8, "rscript_s": 2.0}},
            "results": [dict(row, condition="idle"), busy]}


def test_markdown_has_both_conditions_ratios_gaps_and_caps():
    md = markdown(report())
    assert "#### idle" in md and "#### busy" in md and "#### Start-up" in md
    assert "5.00 s (x1e+02)" in md        # all threads against ours
    assert "100 ms (x2)" in md             # lme4 against ours
    assert "-5.0e-01" in md                # our criterion minus lme4's
    assert "> 40 s" in md and "> 40 s (idle; not rerun)" in md
    assert "not expressible" in md         # the busy row has no statsmodels entry
    assert "8 / 22" in md


def test_write_section_replaces_only_between_markers(tmp_path):
    p = tmp_path / "README.md"
    p.write_text(f"head\n{BEGIN}\nold\n{END}\ntail\n")
    write_section(p, "new\n")
    assert p.read_text() == f"head\n{BEGIN}\nnew\n{END}\ntail\n"
    q = tmp_path / "other.md"
    q.write_text("text\n")
    write_section(q, "new\n")
    assert q.read_text().startswith("text\n\n## The sweep\n\n" + BEGIN)


@pytest.mark.parametrize("formula, expected", [
    ("y ~ x + (1 + x | g)", ("y", "x")),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", ("diameter", "1")),
    ("y ~ x + z + (1 + x + z | g)", ("y", "x + z")),
    ("y ~ (1 | g)", ("y", "1")),
])
def test_fixed_part(formula, expected):
    assert fixed_part(formula) == expected


def test_at_least_twelve_shapes_with_unique_names():
    names = [s.name for s in SHAPES]
    assert len(names) >= 12 and len(set(names)) == len(names)


def test_statsmodels_cell_shows_criterion_notes_and_inexpressible_models():
    rep = report()
    idle = rep["results"][0]
    idle["statsmodels"] = {"time": 0.2, "objective": 100.000001, "note": "MixedLM reported that its optimizer did "
                           "not converge"}
    rep["results"][1]["statsmodels"] = {"not_expressible": "a correlated term on crossed factors"}
    md = markdown(rep)
    assert "200 ms (x4); crit. +1.0e-06 [1]" in md
    assert "[1] statsmodels: MixedLM reported that its optimizer did not converge" in md
    busy_row = [ln for ln in md.splitlines() if ln.startswith("| ham") and "not expressible" in ln]
    assert len(busy_row) == 1


def test_thread_check_uses_cpu_time_when_both_runs_have_it():
    rows = [{"shape": "a", "default": {"time": 0.009, "cpu": 0.005}, "one": {"time": 0.005, "cpu": 0.005}},
            {"shape": "b", "default": {"time": 0.30, "cpu": 0.33}, "one": {"time": 0.31, "cpu": 0.30}}]
    assert thread_check(rows) == ("Defaults against one thread (CPU time, best of the processes): at most "
                                  "x1.10 (on b).")
    assert thread_check([{"shape": "c", "default": {"time": 2.0}, "one": {"time": 1.0}}]).endswith(
        "wall time, best of the processes): at most x2.00 (on c).")
    assert thread_check([{"shape": "d", "default": {"over": 40}}]) == ""


def test_best_of_keeps_the_faster_process_and_every_run():
    a = {"time": 0.010, "cpu": 0.006, "first": 0.02}
    b = {"time": 0.008, "cpu": 0.007, "first": 0.03}
    best = _best_of(_best_of(None, a), b)
    assert best["time"] == 0.008 and best["first"] == 0.03 and best["cpu"] == 0.006
    assert best["runs"] == [0.010, 0.008]
    failed = _best_of(best, {"error": "boom"})
    assert failed["time"] == 0.008 and failed["runs"] == [0.010, 0.008]


def test_run_worker_reads_the_last_json_line_or_the_error():
    """The one process helper of both runners (benchmarks/procs.py)."""
    from benchmarks.procs import rss_kb, run_worker, worker_env

    ok = run_worker([sys.executable, "-c", "print('noise'); print('{\"time\": 0.5}')"], env=worker_env())
    assert ok == {"time": 0.5}
    bad = run_worker([sys.executable, "-c", "import sys; sys.exit('worker failed: no data')"])
    assert bad == {"error": "worker failed: no data"}
    env = worker_env({"X_EXTRA": "1"}, drop=("X_EXTRA_GONE",))
    assert env["X_EXTRA"] == "1" and "X_EXTRA_GONE" not in env and env["PYTHONPATH"]
    assert rss_kb("NoSuchField") == 0

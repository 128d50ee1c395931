"""The GLMM benchmark harness (benchmarks/glmm.py) and what it shares with the sweep (benchmarks/procs.py):
conditions (idle, busy beside neighbour processes), a worker timed in its own process (wall and CPU, also
when stopped), the tables of a two-condition report and of the first fits of new processes. Made-up
reports; the only fit is cbpp's first fit, run in this process."""

import json
import os
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: benchmarks/ is no package of ours

import benchmarks.glmm as bg
from benchmarks.procs import (CONDITIONS, condition, last_json, parse_conditions, run_timed, worker_result,
                              write_marked)


# ------------------------------------------------------------------------------------------- procs.py
def test_parse_conditions_keeps_order_lists_each_once_and_names_unknown_ones():
    assert parse_conditions("idle") == ["idle"]
    assert parse_conditions("busy, idle,busy") == ["busy", "idle"]
    assert CONDITIONS == ("idle", "busy")
    with pytest.raises(ValueError, match="unknown condition 'loaded'"):
        parse_conditions("idle,loaded")
    with pytest.raises(ValueError, match="no condition"):
        parse_conditions(" , ")


def test_busy_condition_starts_neighbours_and_stops_them_even_on_error():
    with condition("idle") as none:
        assert none is None
    with pytest.raises(RuntimeError):
        with condition("busy", n=1) as burners:
            procs = list(burners.procs)
            assert len(procs) == 1 and procs[0].poll() is None      # running beside us
            raise RuntimeError("a failed measurement")
    assert all(p.poll() is not None for p in procs)                 # stopped by the context


def test_run_timed_gives_wall_and_cpu_of_a_stopped_worker_with_its_last_partial_line():
    code = ("import json, time\n"
            "print(json.dumps({'partial': True, 'fits': 1}), flush=True)\n"
            "print(json.dumps({'partial': True, 'fits': 2}), flush=True)\n"
            "t = time.process_time()\n"
            "while time.process_time() - t < 30: pass\n")
    res = run_timed([sys.executable, "-c", code], timeout=1.0)
    assert res["timed_out"] and res["returncode"] is None and res["wall"] >= 1.0
    assert 0 < res["cpu"] <= res["wall"] + 0.5                      # the busy loop's CPU time, from wait4
    out = worker_result(res)
    assert out["over"] == 1.0 and out["partial"] == {"fits": 2}
    assert out["process_cpu"] == res["cpu"] and out["process_wall"] == res["wall"]


def test_run_timed_result_error_and_nice():
    ok = worker_result(run_timed([sys.executable, "-c", "print('noise'); print('{\"time\": 1.5}')"]))
    assert ok["time"] == 1.5 and ok["process_wall"] > 0 and "process_cpu" in ok
    bad = worker_result(run_timed([sys.executable, "-c", "import sys; sys.exit('went wrong')"]))
    assert bad["error"] == "went wrong"
    silent = worker_result(run_timed([sys.executable, "-c", "print('no json')"]))
    assert silent["error"] == "no JSON output"
    res = run_timed([sys.executable, "-c", "import os; print(os.nice(0))"], nice=3)
    assert int(res["stdout"].strip()) == min(19, os.nice(0) + 3)   # the child runs at lower priority


def test_last_json():
    text = 'x\n{"partial": true, "k": 1}\n{"k": 2}\nnot json\n'
    assert last_json(text) == {"k": 2}
    assert last_json(text, partial=True) == {"k": 1}
    assert last_json("nothing") is None


def test_write_marked_replaces_between_markers_or_appends(tmp_path):
    p = tmp_path / "README.md"
    p.write_text(f"head\n{bg.BEGIN}\nold\n{bg.END}\ntail\n")
    write_marked(p, "new\n", bg.BEGIN, bg.END, "## GLMM")
    assert p.read_text() == f"head\n{bg.BEGIN}\nnew\n{bg.END}\ntail\n"
    q = tmp_path / "other.md"
    q.write_text("text\n")
    write_marked(q, "new\n", bg.BEGIN, bg.END, "## GLMM")
    assert q.read_text() == f"text\n\n## GLMM\n\n{bg.BEGIN}\nnew\n{bg.END}\n"


# -------------------------------------------------------------------------------- a two-condition report
def _ours(t, cpu):
    return {"time": t, "cpu": cpu, "feval": 113, "pirls_per_eval": 2.2, "m2ll": 184.0}


def report():
    rows = [
        {"case": "cbpp", "condition": "idle", "ours": _ours(0.005, 0.005),
         "lme4": {"time": 0.060, "cpu": 0.055, "feval": 285, "m2ll": 184.0 + 4e-9},
         "mixedlm": {"time": 0.1, "cpu": 0.1, "m2ll": 183.9994, "m2ll_lme4_at": 184.00001},
         "statsmodels": {"vb": {"time": 0.12, "cpu": 0.12, "m2ll_lme4_at": 184.07},
                         "map": {"over": 60.0}}},
        {"case": "cbpp", "condition": "busy", "ours": _ours(0.010, 0.006),
         "lme4": {"time": 0.20, "cpu": 0.06, "feval": 285, "m2ll": 184.0 + 4e-9},
         "mixedlm": {"time": 0.4, "cpu": 0.12, "m2ll": 183.9994, "m2ll_lme4_at": 184.00001},
         "statsmodels": {"vb": {"time": 0.5, "cpu": 0.13, "m2ll_lme4_at": 184.07},
                         "map": {"over": 60.0, "skipped": True}}},
        {"case": "grouseticks_nb", "condition": "idle",
         "ours": dict(_ours(0.6, 0.6), m2ll=1777.0, nb_theta=3.3036),
         "lme4": {"time": 3.7, "cpu": 3.6, "feval": 262, "m2ll": 1777.0 - 2.8e-3, "nb_theta": 3.3034,
                  "m2ll_devfun": 1777.0 + 7.6e-6},
         "mixedlm_nb": {"fixed": {"time": 70.0, "cpu": 51.0, "m2ll": 1832.9, "nb_theta": 1.0, "fits": 1,
                                  "m2ll_lme4_at": 1832.9, "nice": 5},
                        "search": {"over": 3600.0, "nice": 5,
                                   "partial": {"fits": 9, "cpu": 812.4, "nb_theta": 3.3, "m2ll": 1776.9}}}},
    ]
    first = [{"case": "cbpp", "condition": "idle",
              "ours": {"load_s": 0.30, "fit_s": 0.03, "total_s": 0.71, "runs": 3},
              "lme4": {"library_s": 0.95, "fit_s": 0.10, "total_s": 1.16, "runs": 3}},
             {"case": "cbpp", "condition": "busy",
              "ours": {"error": "boom"}, "lme4": None}]
    return {"date": "2026-12-07 04:00 UTC", "minutes": 2.0, "conditions": ["idle", "busy"],
            "command": "python -m benchmarks.glmm --busy", "precompile": {"wall": 3.6, "ok": True},
            "machine": {"cores": 2, "cpu": "cpu", "python": "3.11", "versions": {"numpy": "2"},
                        "loadavg_at_start": [0.5, 0.5, 0.5]},
            "rows": rows, "first_fit": first}


def _row(md, start, after=None):
    text = md if after is None else md[md.index(after):]
    return next(ln for ln in text.splitlines() if ln.startswith(start))


def test_main_table_has_both_conditions_and_ratios_per_condition():
    md = bg.main_table(report()["rows"], ["idle", "busy"])
    head = md.splitlines()[0]
    assert "ours, idle (s)" in head and "ours, busy (s)" in head and "lme4 / ours, busy: wall; CPU" in head
    cells = [c.strip() for c in _row(md, "| cbpp").strip("|").split("|")]
    assert cells[1:5] == ["0.005", "0.005", "0.060", "x12; x11"]         # idle: lme4 / ours, wall; CPU
    assert cells[5:9] == ["0.010", "0.006", "0.200", "x20; x10"]         # busy, against ours busy
    assert cells[9:] == ["113 / 285", "2.2", "-4.00e-09"]


def test_first_fit_table_fresh_processes_against_rscript():
    rep = report()
    md = bg.first_fit_table(rep["first_fit"], rep["rows"])
    cells = [c.strip() for c in _row(md, "| cbpp | idle").strip("|").split("|")]
    assert cells == ["cbpp", "idle", "0.300", "0.030", "0.710", "0.005", "0.950", "0.100", "1.160", "x3.3; x1.6"]
    busy = [c.strip() for c in _row(md, "| cbpp | busy").strip("|").split("|")]
    assert busy[2] == "-" and busy[3] == "error: boom" and busy[5] == "0.010" and busy[6:] == ["-", "-", "-", "-"]


def test_markdown_writes_every_table_per_condition():
    md = bg.markdown(report())
    assert md.index("#### Ours against lme4") < md.index("#### The first fit of a new process")
    assert "#### Python peers, idle" in md and "#### Python peers, busy" in md
    assert "#### Negative binomial, idle" in md and "#### Negative binomial, busy" not in md
    assert "best of 3" in md and "it took 3.6 s here" in md
    assert "`python -m benchmarks.glmm --busy`" in md and "load average when it started 0.5" in md
    # the peers' ratios are against ours in the same condition
    assert "0.100 (x20; CPU x20)" in _row(md, "| cbpp", "#### Python peers, idle")
    assert "0.400 (x40; CPU x20)" in _row(md, "| cbpp", "#### Python peers, busy")
    assert "> 60 s (stopped) (idle; not rerun)" in _row(md, "| cbpp", "#### Python peers, busy")


def test_nb_table_reports_nice_and_a_stopped_search_with_its_progress():
    md = bg.markdown(report())
    row = _row(md, "| grouseticks_nb", "#### Negative binomial, idle")
    assert "70.000 (x1.2e+02; CPU x85) at nice 5" in row
    assert "> 3600 s (stopped); 9 `glmer_nb` fits done in 812 s CPU; at nice 5" in row


def test_load_report_reads_old_lists_as_idle_rows(tmp_path):
    p = tmp_path / "old.json"
    p.write_text(json.dumps([{"case": "cbpp", "ours": _ours(0.005, 0.005), "lme4": None}]))
    rep = bg.load_report(p)
    assert rep["conditions"] == ["idle"] and rep["rows"][0]["condition"] == "idle" and rep["first_fit"] == []
    assert "| cbpp | 0.005 | 0.005 | - | - |" in bg.markdown(rep)
    q = tmp_path / "new.json"
    q.write_text(json.dumps(report()))
    assert bg.load_report(q)["conditions"] == ["idle", "busy"]


def test_report_mode_regenerates_the_section_without_fitting(tmp_path, capsys):
    src = tmp_path / "glmm.json"
    src.write_text(json.dumps(report()))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{bg.BEGIN}\nold tables\n{bg.END}\nrest\n")
    assert bg.main(["--report", str(src), "--out", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old tables" not in text
    assert "#### Python peers, busy" in text and "#### Python peers, busy" in capsys.readouterr().out


def test_best_process_keeps_each_minimum_and_the_run_count():
    runs = [{"fit_s": 0.5, "total_s": 0.9, "m2ll": 1.0, "numba_loaded": False},
            {"error": "crashed"},
            {"fit_s": 0.4, "total_s": 1.1, "m2ll": 1.0, "numba_loaded": False}]
    best = bg._best_process(runs)
    assert best["fit_s"] == 0.4 and best["total_s"] == 0.9 and best["runs"] == 2
    assert best["fit_s_all"] == [0.5, 0.4] and best["numba_loaded"] is False
    assert bg._best_process([{"error": "x"}]) == {"error": "x"}


def test_busy_rows_skip_peers_stopped_idle():
    idle = {"vb": {"time": 1.0}, "map": {"over": 60.0}}
    assert bg._skip_if_stopped_idle(idle, ("vb", "map")) == {"map": {"over": 60.0, "skipped": True}}
    assert bg._skip_if_stopped_idle(None, ("vb",)) == {}


@pytest.mark.parametrize("argv, message", [
    (["--conditions", "idle,loaded"], "unknown condition"),
    (["--cases", "cbpp,nosuch"], "unknown case"),
    (["--nb-modes", "fixed,other"], "--nb-modes"),
])
def test_bad_arguments_are_refused_before_any_fit(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        bg.main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_first_fit_worker_times_import_data_and_fit():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = bg.first_fit_one("cbpp")
    assert out["fit_s"] > 0 and out["fit_cpu"] > 0 and out["import_s"] >= 0 and out["read_s"] >= 0
    assert out["load_s"] >= 0
    assert out["total_s"] >= out["fit_s"] + out["import_s"] + out["load_s"]
    # lme4's -2 log L, from tests/r/make_glmm_fixtures.R's
    # glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)
    ref = json.loads((Path(__file__).parent / "fixtures" / "glmm.json").read_text())["fits"]["cbpp_cbind"]
    assert out["m2ll"] <= ref["minus2loglik"] + 1e-6

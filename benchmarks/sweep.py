"""The sweep: every shape of benchmarks/shapes.py, idle and beside busy neighbours, ours at the default
threads, at one thread and at every BLAS thread, against lme4, mixedlm (PyPI, Rust backend) and
statsmodels' MixedLM.

    python -m benchmarks sweep --out benchmarks/README.md            # full (<= 25 min on 2 idle cores)
    python -m benchmarks sweep --quick                               # four shapes, to check the harness

Each (tool, shape, variant, condition) runs in a new process (benchmarks/sweep_worker.py; lme4 through
``Rscript benchmarks/lme4_sweep_worker.R``; mixedlm on the formula as lme4 expands it,
:func:`benchmarks.translate.mixedlm_formula`). "busy" runs ``nproc`` busy-loop processes beside the fits
(one per core, started before and stopped after that condition). Peers get ``--budget`` seconds per
shape and condition (and so does ours at all BLAS threads, the old default, which can take minutes): a
run that needs more is stopped and reported as "> N s". Results go to
``benchmarks/results/sweep.json`` and, with ``--out``, into the sweep section of that Markdown file
(between ``<!-- sweep:begin -->`` and ``<!-- sweep:end -->``, appended when absent).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.procs import (ROOT, condition, have, have_lme4, last_json, machine_info, run_worker,
                              worker_env, write_marked)
from benchmarks.shapes import SHAPES
BEGIN, END = "<!-- sweep:begin -->", "<!-- sweep:end -->"
VARIANTS = {  # ours: name -> (label, environment)
    "default": ("ours", {}),
    "one": ("ours, 1 thread", {v: "1" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}),
    "all": ("ours, all BLAS threads", {}),
}
QUICK = ["sleepstudy", "ham", "kb07_max", "verbagg_lmm"]
SLEEP_FORMULA = "Reaction ~ Days + (Days | Subject)"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _env(extra: dict) -> dict:
    return worker_env(extra, drop=tuple(VARIANTS["one"][1]))


def _python(tool: str, shape, variant: str, repeats: int, budget: float, timeout: float) -> dict:
    env = _env(VARIANTS[variant][1] if tool == "mixedmodels" else {})
    cmd = [sys.executable, "-m", "benchmarks.sweep_worker", tool, shape.name, variant, str(repeats), str(budget)]
    try:
        res = run_worker(cmd, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        over = {"tool": tool, "variant": variant, "over": budget if timeout <= 2 * budget + 20 else timeout}
        return dict(_partial(exc.stdout), **over)
    if "error" in res:
        res.update(tool=tool, variant=variant)
    return res


def _partial(out) -> dict:
    """The last ``partial`` JSON line a worker printed before it was stopped (mixedlm's fit of the formula
    as written), else {}."""
    text = out.decode(errors="replace") if isinstance(out, bytes) else (out or "")
    return last_json(text, partial=True) or {}


def _r_data(shape, cache: Path) -> tuple[Path, Path]:
    csv, lev = cache / f"{shape.name}.csv", cache / f"{shape.name}.levels.json"
    if not csv.exists():
        data = shape.load()
        levels = {c: [str(v) for v in data[c].cat.categories] for c in data.columns
                  if str(data[c].dtype) == "category"}
        data.to_csv(csv, index=False)
        lev.write_text(json.dumps(levels))
    return csv, lev


def _lme4(shape, cache: Path, repeats: int, budget: float) -> dict:
    csv, lev = _r_data(shape, cache)
    cmd = ["Rscript", str(ROOT / "benchmarks" / "lme4_sweep_worker.R"), str(csv), str(lev), shape.formula,
           str(repeats), str(budget)]
    try:
        res = run_worker(cmd, timeout=budget + 20, cwd=None)
    except subprocess.TimeoutExpired:
        return {"tool": "lme4", "over": budget}
    if "error" in res:
        res["tool"] = "lme4"
    return res


def _wall(cmd: list[str], env: dict | None = None, k: int = 3) -> float | None:
    best = None
    for _ in range(k):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        dt = time.perf_counter() - t0
        if proc.returncode != 0:
            return None
        best = dt if best is None else min(best, dt)
    return best


def _startup(cache: Path, lme4: bool, k: int = 3) -> dict:
    """import time, loading the model, the first fit against a warm one, the CLI against Rscript."""
    env = _env({})
    out = {}
    best = None
    for _ in range(k):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mixedmodels"],
                              capture_output=True, text=True, cwd=ROOT, env=env)
        m = re.search(r"\|\s*(\d+) \| mixedmodels\s*$", proc.stderr, re.M)
        if m:
            us = int(m.group(1))
            best = us if best is None else min(best, us)
    out["import_s"] = None if best is None else best / 1e6
    code = ("import time, json, warnings; warnings.simplefilter('ignore'); import pandas\n"
            "import mixedmodels as mm; d = mm.datasets.load('sleepstudy')\n"
            "t0 = time.perf_counter(); lmer = mm.lmer; load = time.perf_counter() - t0\n"
            f"ts = []\nfor _ in range(6):\n    t0 = time.perf_counter(); lmer({SLEEP_FORMULA!r}, d); "
            "ts.append(time.perf_counter() - t0)\n"
            "print(json.dumps({'load': load, 'first': ts[0], 'warm': min(ts[1:])}))")
    runs = []
    for _ in range(k):
        res = run_worker([sys.executable, "-c", code], env=env)
        if "error" not in res:
            runs.append(res)
    if runs:
        out["model_load_s"] = min(r["load"] for r in runs)
        out["first_fit_s"] = min(r["first"] for r in runs)
        out["warm_fit_s"] = min(r["warm"] for r in runs)
    csv = cache / "sleepstudy_cli.csv"
    if not csv.exists():
        from benchmarks.shapes import BY_NAME

        BY_NAME["sleepstudy"].load().to_csv(csv, index=False)
    out["cli_s"] = _wall([sys.executable, "-m", "mixedmodels", "fit", SLEEP_FORMULA, str(csv)], env, k)
    if lme4:
        out["rscript_s"] = _wall(["Rscript", "-e", f"suppressMessages(library(lme4)); d <- read.csv('{csv}'); "
                                  f"print(summary(lmer({SLEEP_FORMULA}, d)))"], None, k)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks sweep")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}; fewer repeats")
    ap.add_argument("--shapes", help="comma-separated shape names (default: all)")
    ap.add_argument("--conditions", default="idle,busy")
    ap.add_argument("--tools", default="mixedmodels,lme4,mixedlm,statsmodels")
    ap.add_argument("--variants", default="default,one,all", help="ours: default, one (thread), all (threads)")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds per peer fit (40; quick 20); also caps ours at all BLAS threads")
    ap.add_argument("--repeats", type=int, default=None, help="warm fits timed (5, big shapes 2; quick 3/1)")
    ap.add_argument("--runs", type=int, default=2,
                    help="processes for ours at the defaults and at one thread, alternating (best kept)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "sweep.json"))
    ap.add_argument("--out", help="Markdown file whose sweep section is rewritten (benchmarks/README.md)")
    args = ap.parse_args(argv)
    shapes = [s for s in SHAPES if (not args.shapes or s.name in args.shapes.split(","))
              and (not args.quick or args.shapes or s.name in QUICK)]
    budget = args.budget or (20.0 if args.quick else 40.0)
    tools = args.tools.split(",")
    have_tool = {"mixedmodels": True, "lme4": "lme4" in tools and have_lme4(),
                 "mixedlm": "mixedlm" in tools and have("mixedlm"),
                 "statsmodels": "statsmodels" in tools and have("statsmodels")}
    notes = [f"{t}: not available here, skipped" for t in tools if not have_tool.get(t)]
    machine = machine_info()
    started = time.time()
    results, startup = [], {}
    over_idle: dict[str, dict] = {}  # ours at all threads, idle: what stopped at the budget is not rerun busy
    cache = Path(tempfile.mkdtemp(prefix="mm-sweep-"))
    try:
        for cond in args.conditions.split(","):
            with condition(cond):  # busy: a busy-loop process per core, started now, stopped after
                _log(f"[{cond}] startup")
                startup[cond] = _startup(cache, have_tool["lme4"], 1 if args.quick else 3)
                for shape in shapes:
                    repeats = args.repeats or ((1 if shape.big else 3) if args.quick or cond == "busy"
                                               else (2 if shape.big else 5))
                    row = {"shape": shape.name, "condition": cond, "formula": shape.formula, "what": shape.what}
                    ours = [v for v in args.variants.split(",") if v != "all"]
                    # ours at the defaults and at one thread: --runs processes each, in alternating order
                    # (default, one, one, default, ...), the best kept: the two are compared within noise
                    for run in range(max(1, args.runs)):
                        for variant in (ours if run % 2 == 0 else ours[::-1]):
                            t0 = time.time()
                            res = _python("mixedmodels", shape, variant, repeats, budget, timeout=3600)
                            row[variant] = _best_of(row.get(variant), res)
                            _log(f"[{cond}] {shape.name:<16} ours/{variant:<8} {_fmt(res)} "
                                 f"({time.time() - t0:.0f} s)")
                    for variant in [v for v in args.variants.split(",") if v == "all"]:
                        t0 = time.time()
                        if "over" in over_idle.get(shape.name, {}):
                            row[variant] = dict(over_idle[shape.name], skipped=True)  # not run again busy
                        else:  # the old default: capped like a peer (it can take minutes)
                            row[variant] = _python("mixedmodels", shape, variant, 1, budget,
                                                   timeout=2 * budget + 20)
                            if cond == "idle":
                                over_idle[shape.name] = row[variant]
                        _log(f"[{cond}] {shape.name:<16} ours/{variant:<8} {_fmt(row[variant])} "
                             f"({time.time() - t0:.0f} s)")
                    if have_tool["lme4"]:
                        t0 = time.time()
                        row["lme4"] = _lme4(shape, cache, repeats, budget)
                        _log(f"[{cond}] {shape.name:<16} lme4          {_fmt(row['lme4'])} ({time.time() - t0:.0f} s)")
                    if have_tool["mixedlm"]:
                        t0 = time.time()
                        row["mixedlm"] = _python("mixedlm", shape, "default", repeats, budget,
                                                 timeout=2 * budget + 20)
                        _log(f"[{cond}] {shape.name:<16} mixedlm       {_fmt(row['mixedlm'])} "
                             f"({time.time() - t0:.0f} s)")
                    if have_tool["statsmodels"]:
                        t0 = time.time()
                        row["statsmodels"] = _python("statsmodels", shape, "default", repeats, budget,
                                                     timeout=budget + 20)
                        _log(f"[{cond}] {shape.name:<16} statsmodels   {_fmt(row['statsmodels'])} "
                             f"({time.time() - t0:.0f} s)")
                    results.append(row)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), "machine": machine,
              "minutes": (time.time() - started) / 60, "budget_s": budget, "quick": args.quick,
              "startup": startup, "results": results, "notes": notes}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    md = markdown(report)
    print(md)
    if args.out:
        write_section(Path(args.out), md)
        _log(f"wrote {args.out}")
    _log(f"wrote {out} ({report['minutes']:.1f} min)")
    return 0


def _best_of(old: dict | None, new: dict) -> dict:
    """The better of two runs of one variant (the lower best wall time; a run with a time beats one
    without), its CPU time the lower of the two, every run's best wall time kept in ``runs``."""
    runs = (old or {}).get("runs", []) + ([new["time"]] if "time" in new else [])
    take_new = old is None or ("time" in new and ("time" not in old or new["time"] < old["time"]))
    best = dict(new if take_new else old)
    cpus = [r["cpu"] for r in (old or {}, new) if "cpu" in r]
    if cpus:
        best["cpu"] = min(cpus)
    best["runs"] = runs
    return best


# ------------------------------------------------------------------------------------------ reporting
def _fmt(r: dict | None) -> str:
    if r is None:
        return "-"
    if "over" in r:
        return f"> {r['over']:.0f} s" + (" (idle; not rerun)" if r.get("skipped") else "")
    if "error" in r:
        return "error: " + r["error"][:50]
    if r.get("not_expressible"):
        return "not expressible"
    return _sec(r.get("time"))


def _sec(t: float | None) -> str:
    if t is None:
        return "-"
    if t < 0.01:
        return f"{t * 1000:.2f} ms"
    if t < 1:
        return f"{t * 1000:.0f} ms"
    return f"{t:.2f} s"


def _cell(r: dict | None, ours: dict | None) -> str:
    s = _fmt(r)
    if r and "time" in r and ours and "time" in ours and ours["time"] > 0 and r is not ours:
        s += f" (x{r['time'] / ours['time']:.2g})"
    return s


def _crit_gap(ours: dict, peer: dict | None) -> str:
    if not peer or peer.get("objective") is None or ours.get("objective") is None:
        return "-"
    gap = ours["objective"] - peer["objective"]
    return f"{gap:+.1e}"


def _sm_cell(sm: dict | None, ours: dict, notes: list[str]) -> str:
    """statsmodels' time (ratio to ours) and its REML criterion minus ours; "not expressible" when the
    model has no MixedLM form; a footnote when the translation fits a different model."""
    if not sm or sm.get("not_expressible"):
        return "not expressible"
    s = _cell(sm, ours)
    if "time" in sm and sm.get("objective") is not None and ours.get("objective") is not None:
        s += f"; crit. {sm['objective'] - ours['objective']:+.1e}"
    if sm.get("note"):
        if sm["note"] not in notes:
            notes.append(sm["note"])
        s += " [" + str(notes.index(sm["note"]) + 1) + "]"
    return s


def _ml_cell(ml: dict | None, ours: dict, notes: list[str]) -> str:
    """mixedlm's time (ratio to ours, wall; then CPU), "crit. +x" when its criterion differs from ours by
    more than 1e-6 (positive: its optimum is worse), footnotes for a rewritten formula, another number of
    variance parameters, no convergence."""
    if not ml:
        return "-"
    if "error" in ml:
        return "cannot fit: " + ml["error"][:60]
    s = _cell(ml, ours)
    if "over" in ml:  # stopped at the budget: only the footnotes on the written form
        for n in _ml_notes(ml, ours):
            if n not in notes:
                notes.append(n)
            s += " [m" + str(notes.index(n) + 1) + "]"
        return s
    if "cpu" in ml and "cpu" in ours and ours["cpu"] > 0:
        s += f", CPU x{ml['cpu'] / ours['cpu']:.2g}"
    if ml.get("objective") is not None and ours.get("objective") is not None:
        gap = ml["objective"] - ours["objective"]
        if abs(gap) > 1e-6:
            s += f"; crit. {gap:+.2g}"
    for n in _ml_notes(ml, ours):
        if n not in notes:
            notes.append(n)
        s += " [m" + str(notes.index(n) + 1) + "]"
    return s


def _ml_notes(ml: dict, ours: dict) -> list[str]:
    out = []
    nt, ont = ml.get("ntheta"), ours.get("ntheta")
    if ml.get("rewritten"):
        what = "; ".join(ml["rewritten"])
        nat = ml.get("native") or {}
        s = f"fitted as `{ml['formula']}` ({what})"
        if "error" in nat:
            s += f"; as written it is refused ({nat['error'][:80]})"
        elif nat.get("objective") is not None:
            s += (f"; as written mixedlm fits {nat['ntheta']} variance parameters"
                  + (f" (ours and lme4: {ont})" if ont else "")
                  + f" and reaches criterion {nat['objective']:.4f}"
                  + (f" ({nat['objective'] - ours['objective']:+.2f} against ours)" if ours.get("objective") else "")
                  + (f" in {nat['feval']} evaluations" if nat.get("feval") else ""))
            if "`||`" in what and ont and nat["ntheta"] < ont:
                s += (": it reads `(1 + S || g)` over a factor S as one contrast column per factor, "
                      "uncorrelated, instead of lme4's `(0 + S | g)` block with its own covariance: a "
                      "smaller model, not an optimizer stopping early")
        out.append(s)
    if nt is not None and ont is not None and nt != ont:
        out.append(f"mixedlm fits {nt} variance parameters where ours fits {ont}: not the same model")
    if ml.get("converged") is False:
        out.append("mixedlm reported that it did not converge")
    return out


def thread_check(rows: list[dict]) -> str:
    """The worst ratio of ours at the defaults over ours at one thread, the issue-12 criterion "never
    slower than one thread beyond noise": measured within one process (``paired``: alternating fits, best
    CPU time of each; see :func:`benchmarks.sweep_worker.paired_threads`) where the runs recorded it, and
    between the processes of the two variants (noisier) as before."""
    paired = [(r["default"]["paired"]["ratio_cpu"], r["shape"], r["default"]["paired"]["rounds"])
              for r in rows if (r.get("default") or {}).get("paired", {}).get("ratio_cpu")]
    line = ""
    if paired:
        w = max(paired)
        line = (f"Defaults against one thread, in the same process (alternating fits, best CPU time of each, "
                f"{min(p[2] for p in paired)}-{max(p[2] for p in paired)} rounds): at most x{w[0]:.2f} "
                f"(on {w[1]}); median x{sorted(p[0] for p in paired)[len(paired) // 2]:.2f}. ")
    worst = None
    for r in rows:
        d, o = r.get("default") or {}, r.get("one") or {}
        key = "cpu" if "cpu" in d and "cpu" in o else "time"
        if key in d and key in o and o[key] > 0:
            ratio = d[key] / o[key]
            if worst is None or ratio > worst[0]:
                worst = (ratio, r["shape"], key)
    if worst is None:
        return line.strip()
    what = "CPU time" if worst[2] == "cpu" else "wall time"
    return line + (f"Defaults against one thread ({what}, best of the processes): at most x{worst[0]:.2f} "
                   f"(on {worst[1]}).") + (" (Between processes: includes process-to-process noise.)" if line else "")


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"Machine: {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
             + f". Date: {report['date']}; the run took {report['minutes']:.1f} min"
             + (" (`--quick`)" if report["quick"] else "")
             + (f"; load average when it started {m['loadavg_at_start'][0]:.1f}" if m.get("loadavg_at_start") else "")
             + ".",
             "",
             "Conditions: **idle** (nothing else started by the sweep) and **busy** (one busy-loop process per "
             "core beside every fit). Times: best warm fit of the process; \"first fit\" is the first fit "
             "of a new process once the package is loaded; a ratio in parentheses is that time over ours "
             "(default settings). \"ours, all BLAS threads\" is every BLAS pool at the library default "
             "(`mm.set_threads(cores)`), how the package ran before it limited the pools. lme4 and "
             "statsmodels run at their own defaults; a peer that needed more than "
             f"{report['budget_s']:.0f} s was stopped (\"> N s\"). \"evals\": criterion evaluations (ours: "
             "factorizations, most with a gradient). \"crit. - lme4\": our REML criterion minus lme4's "
             "(negative: ours is lower); \"path\": the evaluation path our fit took. Ours at the defaults and at "
             "one thread: the best of alternating processes (`--runs`). statsmodels: its time, then its REML "
             "criterion minus ours (\"crit.\"); on crossed shapes MixedLM runs one group holding every row "
             "with a variance component per factor, built from our model matrices (sparse). mixedlm "
             "(PyPI, Rust backend) runs `mixedlm.lmer` on the formula as lme4 expands it (`^` and `||` "
             "written out where needed: footnotes), timed as ours (first fit, best warm fit); its cell: wall "
             "time (ratio to ours), CPU-time ratio, \"crit. +x\" when its REML criterion is above ours by "
             "more than 1e-6 (its optimum is worse; negative: better), a footnote when it fits another "
             "number of variance parameters.", ""]
    variants = [v for v in VARIANTS if any(v in r for r in report["results"])]
    sm_notes: list[str] = []
    ml_notes: list[str] = []
    for cond in dict.fromkeys(r["condition"] for r in report["results"]):
        lines += [f"#### {cond}", ""]
        head = ["shape", "rows"] + [VARIANTS[v][0] for v in variants] + \
            ["first fit", "lme4", "mixedlm", "statsmodels", "evals ours / lme4 / mixedlm", "crit. - lme4", "path"]
        lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for r in (x for x in report["results"] if x["condition"] == cond):
            ours = r.get("default") or next((r[v] for v in variants if v in r), {})
            lme4 = r.get("lme4")
            sm = r.get("statsmodels")
            ml = r.get("mixedlm")
            cells = [f"{r['shape']}: {r['what']}", f"{ours.get('n', ''):,}" if ours.get("n") else ""]
            cells += [_cell(r.get(v), ours) for v in variants]
            cells.append(_sec(ours.get("first")) if "first" in ours else "-")
            cells.append(_cell(lme4, ours) if lme4 else "-")
            cells.append(_ml_cell(ml, ours, ml_notes))
            cells.append(_sm_cell(sm, ours, sm_notes))
            ev_l = lme4.get("feval") if lme4 and "feval" in lme4 else "-"
            ev_m = ml.get("feval") if ml and ml.get("feval") is not None else "-"
            cells.append(f"{ours.get('feval', '-')} / {ev_l} / {ev_m}")
            cells.append(_crit_gap(ours, lme4))
            cells.append(ours.get("path", "-") + (" (singular)" if ours.get("singular") else ""))
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        lines.append("")
        check = thread_check([x for x in report["results"] if x["condition"] == cond])
        if check:
            lines += [check, ""]
    lines += ["#### Start-up", "",
              "| condition | `import mixedmodels` | loading the model (`mm.lmer`, numpy, scipy, pandas) | "
              "first fit of sleepstudy in a new process | warm fit | CLI on sleepstudy | `Rscript` with lme4 |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for cond, s in report["startup"].items():
        lines.append(f"| {cond} | {_sec(s.get('import_s'))} | {_sec(s.get('model_load_s'))} | "
                     f"{_sec(s.get('first_fit_s'))} | {_sec(s.get('warm_fit_s'))} | {_sec(s.get('cli_s'))} | "
                     f"{_sec(s.get('rscript_s'))} |")
    lines.append("")
    for k, n in enumerate(ml_notes, 1):
        lines.append(f"[m{k}] mixedlm: {n}")
    if ml_notes:
        lines.append("")
    for k, n in enumerate(sm_notes, 1):
        lines.append(f"[{k}] statsmodels: {n}")
    if sm_notes:
        lines.append("")
    for n in report["notes"]:
        lines.append(f"Note: {n}")
    return "\n".join(lines).rstrip() + "\n"


def write_section(path: Path, md: str) -> None:
    write_marked(path, md, BEGIN, END, "## The sweep")


if __name__ == "__main__":
    sys.exit(main())

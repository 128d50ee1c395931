"""Run the benchmark suite: ``python -m benchmarks [--quick] [--cases a,b] [--tools x,y] [--out FILE]``.

Each (tool, case) runs in its own process (benchmarks/worker.py, or Rscript benchmarks/lme4_worker.R for
lme4) so peak memory is per fit. Prints a table and the ratios to mixedmodels, and writes JSON.
Tools that are not installed, and models a tool cannot express, are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.cases import CASES
from benchmarks.procs import ROOT, cpu_name, have, have_lme4, run_worker, worker_env


def _python_worker(tool: str, case: str, repeats: int, timeout: float) -> dict:
    res = run_worker([sys.executable, "-m", "benchmarks.worker", tool, case, str(repeats)], env=worker_env(),
                     timeout=timeout)
    if "error" in res:
        res.update(tool=tool, case=case)
    return res


def _lme4_worker(case, repeats: int, timeout: float) -> dict:
    data = case.load()
    levels = {c: [str(v) for v in data[c].cat.categories] for c in data.columns
              if str(data[c].dtype) == "category"}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        lev = Path(tmp) / "levels.json"
        data.to_csv(csv, index=False)
        lev.write_text(json.dumps(levels))
        proc = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "lme4_worker.R"), str(csv), str(lev),
                               case.formula, str(repeats)], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        return {"tool": "lme4", "case": case.name, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["case"] = case.name
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks")
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--tools", default="mixedmodels,lme4,mixedlm,statsmodels")
    ap.add_argument("--quick", action="store_true", help="skip the 1M-row case")
    ap.add_argument("--repeats", type=int, default=0, help="fits timed per case (default 5 small, 2 big)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per (tool, case)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "latest.json"))
    args = ap.parse_args(argv)
    cases = [c for c in CASES if not args.cases or c.name in args.cases.split(",")]
    if args.quick:
        cases = [c for c in cases if c.name != "sim1M"]
    tools = args.tools.split(",")
    notes = []
    available = {"mixedmodels": True, "lme4": have_lme4(), "mixedlm": have("mixedlm"),
                 "statsmodels": have("statsmodels")}
    for t in tools:
        if not available.get(t, False):
            notes.append(f"{t}: not installed here, skipped")
    results = []
    for case in cases:
        repeats = args.repeats or (2 if case.big else 5)
        for tool in tools:
            if not available.get(tool, False):
                continue
            if tool == "statsmodels" and case.statsmodels is None:
                notes.append(f"statsmodels: {case.name} not expressible (crossed/large random effects), skipped")
                continue
            t0 = time.time()
            try:
                res = _lme4_worker(case, repeats, args.timeout) if tool == "lme4" else \
                    _python_worker(tool, case.name, repeats, args.timeout)
            except subprocess.TimeoutExpired:
                res = {"tool": tool, "case": case.name, "error": f"timed out after {args.timeout:.0f} s"}
            res.setdefault("case", case.name)
            res["formula"] = case.formula
            results.append(res)
            msg = res.get("error") or f"{res['time']:.4f} s"
            print(f"  {case.name:<11} {tool:<12} {msg}   ({time.time() - t0:.0f} s wall)", file=sys.stderr)
    table = _table(results)
    print(table)
    for n in notes:
        print("note:", n)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "machine": _machine(),
                               "results": results, "notes": notes}, indent=1))
    print(f"\nwrote {out}")
    return 0


def _machine() -> dict:
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def _table(results: list[dict]) -> str:
    by_case: dict[str, dict[str, dict]] = {}
    for r in results:
        by_case.setdefault(r["case"], {})[r["tool"]] = r
    lines = [f"{'case':<11} {'tool':<12} {'n':>8} {'time (s)':>10} {'evals':>6} {'ms/eval':>8} "
             f"{'objective':>18} {'peak MB':>8} {'x ours':>7}"]
    for case, tools in by_case.items():
        ours = tools.get("mixedmodels", {}).get("time")
        best = min((r["objective"] for r in tools.values() if r.get("objective") is not None), default=None)
        for tool, r in tools.items():
            if "error" in r:
                lines.append(f"{case:<11} {tool:<12} {'':>8} error: {r['error'][:60]}")
                continue
            fe = r.get("feval")
            per = f"{1000 * r['time'] / fe:8.2f}" if fe else f"{'':>8}"
            ratio = f"{r['time'] / ours:7.2f}" if ours else ""
            obj = r.get("objective")
            objs = f"{obj:18.6f}" if obj is not None else f"{'':>18}"
            lines.append(f"{case:<11} {tool:<12} {r.get('n', ''):>8} {r['time']:10.4f} {fe or '':>6} {per} "
                         f"{objs} {r.get('peak_mb', 0):8.0f} {ratio}")
        early = tools.get("mixedmodels", {}).get("early_time")
        if early is not None:
            r = tools["mixedmodels"]
            lines.append(f"{'':<11} mixedmodels before the compiled small-model evaluator is loaded (a "
                         f"process's first 20 small fits, path {r.get('early_path')}): {early:.4f} s; "
                         f"the process's first fit {r.get('first', float('nan')):.4f} s")
        if best is not None and "mixedmodels" in tools and tools["mixedmodels"].get("objective") is not None:
            gap = tools["mixedmodels"]["objective"] - best
            lines.append(f"{'':<11} mixedmodels objective minus the best reached: {gap:+.2e}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

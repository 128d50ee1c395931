"""GLMM timings: ``python -m benchmarks.glmm [--cases cbpp,verbagg,...] [--repeats 3] [--no-lme4]``.

Times ``mm.glmer`` against lme4's ``glmer`` (through ``Rscript``, when R and lme4 are installed) on the
bundled GLMM data, from the DataFrame to the fitted model with its standard errors (lme4 computes its
finite-difference Hessian inside ``glmer`` too), warm (one warm-up fit, then the best of ``--repeats``).
Also reports the criterion evaluations of each (ours: optimizer evaluations of the deviance, excluding
the Hessian's; lme4: ``optinfo$feval``), our PIRLS iterations per evaluation, and -2 log L of both.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    "cbpp": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", 1),
    "cbpp_agq9": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial", 9),
    "grouseticks": ("grouseticks", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                    "poisson", 1),
    "contraception": ("Contraception", "use ~ age + I(age^2) + urban + livch + (urban | district)", "binomial", 1),
    "verbagg": ("VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial", 1),
    "verbagg_nagq0": ("VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "binomial", 0),
}

R_WORKER = r"""
suppressMessages(library(lme4)); source(file.path("tests", "r", "json_helpers.R"))
args <- commandArgs(TRUE); d <- read_dataset(args[1]); f <- as.formula(args[2])
fam <- get(args[3]); nagq <- as.integer(args[4]); reps <- as.integer(args[5])
m <- glmer(f, data = d, family = fam, nAGQ = nagq)
best <- Inf
for (i in seq_len(reps)) best <- min(best, system.time(m <- glmer(f, data = d, family = fam, nAGQ = nagq))[["elapsed"]])
cat(jsonlite::toJSON(list(time = best, feval = m@optinfo$feval, m2ll = -2 * as.numeric(logLik(m))),
                     auto_unbox = TRUE, digits = NA))
"""


def ours(case: str, repeats: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import mixedmodels as mm

    dname, formula, family, nagq = CASES[case]
    df = mm.datasets.load(dname)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm.glmer(formula, df, family, nAGQ=nagq)
        best, m = float("inf"), None
        for _ in range(repeats):
            t = time.perf_counter()
            m = mm.glmer(formula, df, family, nAGQ=nagq)
            m.se  # noqa: B018  (standard errors, as lme4's fit computes its Hessian)
            best = min(best, time.perf_counter() - t)
    prob = m.model.problem
    return {"time": best, "feval": m.feval, "pirls_per_eval": prob.pirls_iterations / max(prob.evaluations, 1),
            "m2ll": m.objective}


def lme4(case: str, repeats: int) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    dname, formula, family, nagq = CASES[case]
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_WORKER)
    r = subprocess.run(["Rscript", fh.name, dname, formula, family, str(nagq), str(repeats)], cwd=ROOT,
                       capture_output=True, text=True)
    Path(fh.name).unlink()
    if r.returncode != 0:
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-lme4", action="store_true")
    a = ap.parse_args(argv)
    print("| case | mixedmodels (s) | lme4 (s) | ratio | evals ours / lme4 | PIRLS its/eval | -2logL ours - lme4 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for case in a.cases.split(","):
        o = ours(case, a.repeats)
        r = None if a.no_lme4 else lme4(case, a.repeats)
        if r is None:
            print(f"| {case} | {o['time']:.3f} | - | - | {o['feval']} / - | {o['pirls_per_eval']:.1f} | - |")
        else:
            print(f"| {case} | {o['time']:.3f} | {r['time']:.3f} | x{r['time'] / o['time']:.1f} | "
                  f"{o['feval']} / {r['feval']} | {o['pirls_per_eval']:.1f} | {o['m2ll'] - r['m2ll']:+.2e} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

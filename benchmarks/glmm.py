"""GLMM timings: ``python -m benchmarks.glmm [--cases cbpp,verbagg,...] [--repeats 3] [--no-lme4]``;
the simulated million-row model: ``python -m benchmarks.glmm --large [--lme4-large]``.

Times ``mm.glmer`` against lme4's ``glmer`` (through ``Rscript``, when R and lme4 are installed) on the
bundled GLMM data, from the DataFrame to the fitted model with its standard errors (lme4 computes its
finite-difference Hessian inside ``glmer`` too), warm (one warm-up fit, then the best of ``--repeats``).
Also reports the criterion evaluations of each (ours: optimizer evaluations of the deviance, excluding
the Hessian's; lme4: ``optinfo$feval``), our PIRLS iterations per evaluation, and -2 log L of both.

``--large``: a simulated logistic model with 1,000,000 rows and two crossed random intercepts
(10,000 x 1,000 levels; :func:`simulate_large`, from a seed), fitted in a fresh process (its peak
resident memory from ``resource.getrusage`` is the fit's, data included), cold (compiled code loaded
from the on-disk cache, as a user's first fit after the first ever); ``--lme4-large`` also fits it with
lme4 (once; minutes) and compares -2 log L.
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


LARGE_FORMULA = "y ~ x + (1 | g1) + (1 | g2)"


def simulate_large(seed: int = 20261206, n: int = 1_000_000, n1: int = 10_000, n2: int = 1_000):
    """The million-row benchmark data: ``x`` standard normal, ``g1`` (n1 levels) and ``g2`` (n2 levels)
    drawn uniformly and crossed, random intercepts with SDs 0.8 and 0.5, ``y`` Bernoulli with
    ``logit P(y = 1) = -0.5 + 0.6 x + b1[g1] + b2[g2]``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    g1 = rng.integers(0, n1, n)
    g2 = rng.integers(0, n2, n)
    x = rng.standard_normal(n)
    b1 = rng.normal(0, 0.8, n1)
    b2 = rng.normal(0, 0.5, n2)
    eta = -0.5 + 0.6 * x + b1[g1] + b2[g2]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "g1": pd.Categorical(g1), "g2": pd.Categorical(g2)})


_LARGE_WORKER = r"""
import json, resource, sys, time, warnings
sys.path.insert(0, sys.argv[1])
import mixedmodels as mm
from benchmarks.glmm import LARGE_FORMULA, simulate_large
df = simulate_large()
t = time.perf_counter(); c = time.process_time()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    m = mm.glmer(LARGE_FORMULA, df, "binomial")
    se = m.se
wall, cpu = time.perf_counter() - t, time.process_time() - c
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
print(json.dumps({"wall": wall, "cpu": cpu, "peak_rss_gb": rss, "m2ll": m.objective, "feval": m.feval,
                  "feval_stages": [m.optinfo.feval_stage1, m.optinfo.feval_stage2],
                  "pirls_evaluations": m.optinfo.pirls_evaluations,
                  "pirls_iterations": m.optinfo.pirls_iterations,
                  "theta": list(m.theta), "fixef": list(m.fixef), "se": list(se)}))
"""

_LARGE_R = r"""
suppressMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1]); d$g1 <- factor(d$g1); d$g2 <- factor(d$g2)
tm <- system.time(m <- glmer(y ~ x + (1 | g1) + (1 | g2), data = d, family = binomial))[["elapsed"]]
cat(jsonlite::toJSON(list(time = tm, feval = m@optinfo$feval, m2ll = -2 * as.numeric(logLik(m)),
                          theta = getME(m, "theta"), fixef = fixef(m)), auto_unbox = TRUE, digits = NA))
"""


def large(with_lme4: bool = False) -> int:
    r = subprocess.run([sys.executable, "-c", _LARGE_WORKER, str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        print(r.stderr)
        return 1
    o = json.loads(r.stdout.strip().splitlines()[-1])
    print(f"mixedmodels: {o['wall']:.1f} s wall, {o['cpu']:.1f} s CPU, peak RSS {o['peak_rss_gb']:.2f} GB, "
          f"-2logL {o['m2ll']:.4f}, {o['feval']} evaluations (stages {o['feval_stages']}), {o['pirls_iterations']} PIRLS iterations in "
          f"{o['pirls_evaluations']} runs; theta {o['theta']}, fixef {o['fixef']}")
    if with_lme4 and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "large.csv"
            simulate_large().to_csv(csv, index=False)
            rs = Path(tmp) / "large.R"
            rs.write_text(_LARGE_R)
            rr = subprocess.run(["Rscript", str(rs), str(csv)], capture_output=True, text=True)
        if rr.returncode == 0:
            lr = json.loads(rr.stdout.strip().splitlines()[-1])
            print(f"lme4: {lr['time']:.1f} s, -2logL {lr['m2ll']:.4f} (ours - lme4: {o['m2ll'] - lr['m2ll']:+.2e}), "
                  f"feval {lr['feval']}; theta {lr['theta']}, fixef {lr['fixef']}")
        else:
            print("lme4 failed:", rr.stderr[-2000:])
    return 0


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
    return {"time": best, "feval": m.feval, "pirls_per_eval": m.optinfo.pirls_per_evaluation,
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
    ap.add_argument("--large", action="store_true", help="the simulated 1,000,000-row model only")
    ap.add_argument("--lme4-large", action="store_true", help="with --large: also fit it with lme4 (slow)")
    a = ap.parse_args(argv)
    if a.large:
        return large(a.lme4_large)
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

"""GLMM timings: ``python -m benchmarks.glmm [--cases cbpp,verbagg,...] [--repeats 3] [--busy | --conditions
idle,busy] [--first-runs 3] [--no-first-fit] [--no-lme4] [--no-mixedlm] [--no-bayes] [--nb-budget 900]
[--nb-nice 5] [--json FILE] [--out benchmarks/README.md]``; the tables of a saved run: ``python -m
benchmarks.glmm --report FILE [--out benchmarks/README.md]``; the simulated million-row model: ``python -m
benchmarks.glmm --large [--lme4-large]``; why mixedlm's -2 log L is lower than lme4's: ``python -m
benchmarks.glmm --explain``.

Times ``mm.glmer`` against lme4's ``glmer`` (through ``Rscript``, when R and lme4 are installed) on the
bundled GLMM data, from the DataFrame to the fitted model with its standard errors (lme4 computes its
finite-difference Hessian inside ``glmer`` too), warm (one warm-up fit, then the best of ``--repeats``),
wall and CPU time. Also reports the criterion evaluations of each (ours: optimizer evaluations of the
deviance, excluding the Hessian's; lme4: ``optinfo$feval``), our PIRLS iterations per evaluation, and
-2 log L of both.

Conditions (``--conditions``, default ``idle``; ``--busy`` is ``idle,busy``): "idle" runs nothing beside
the fits; "busy" starts a busy-loop process per core (``benchmarks.procs.condition``, the sweep's) before
its first measurement and stops it after its last, and every tool (ours, lme4, the Python peers, the
first fits) is measured beside it. Both conditions go into one JSON (``--json``: rows with their
``condition``) and one set of tables, the ratios to ours taken within each condition. A peer stopped at
its budget in the idle condition is not rerun busy ("idle; not rerun").

The first fit of a new process (unless ``--no-first-fit``): once per run, ``python -m mixedmodels
precompile`` fills Numba's disk cache (the state of a user's machine after the first use); then per case
and condition, ``--first-runs`` fresh Python processes each ``import mixedmodels``, read the data and fit
once with ``m.se`` (:func:`first_fit_one`: the fit alone, and import + data + fit), and as many fresh
``Rscript`` processes each ``library(lme4)``, read the data and call ``glmer`` once (:data:`R_FIRST`); the
best of each number is kept. The in-process "early" times (``ours.early``: the first fits of the harness's
process, after other cases) stay in the JSON only.

The Python peers (each warm, best of ``--repeats``, wall and CPU time):

* mixedlm's ``glmer`` (PyPI, Rust backend), on the same models written as it reads them (no ``cbind``:
  cbpp as the proportion ``incidence / size`` with ``weights = size``; 0/1 responses as numbers;
  Contraception's ``I(age^2)`` as a precomputed column). Its -2 log L is the Laplace approximation at the
  exact conditional mode (PIRLS run to convergence, log-determinant at the mode's weights), a little
  lower than lme4's, whose deviance function stops PIRLS at a relative change of 1e-7 and takes the
  log-determinant from the weights of the iterate before the last (ours follows lme4's, by design).
  So its number is compared on equal terms: "lme4's deviance at mixedlm's estimates" is our (= lme4's)
  deviance function evaluated at its (theta, beta), minus ours at our optimum (positive: its estimates are
  worse on lme4's criterion). ``--explain`` prints the numbers behind this, with lme4's own deviance
  function (``update(m, devFunOnly = TRUE)`` via ``Rscript benchmarks/glmm_devfun.R``) at both vectors.
* statsmodels' ``BinomialBayesMixedGLM`` / ``PoissonBayesMixedGLM`` (Bayesian: ``fit_vb()`` variational
  and ``fit_map()`` posterior mode, independent random effects as variance components; not the same
  estimator, no likelihood): cbpp expanded to one 0/1 row per animal. Its estimates (posterior means or
  modes of the fixed effects, ``exp`` of the log-SD parameters as theta) go through lme4's deviance
  function too, so "lme4's deviance at its estimates - ours" says how far they are from the ML optimum.
  A model with correlated random effects (Contraception's ``(urban | district)``) is not expressible.

Negative binomial cases (``grouseticks_nb``, ``nbsim``: family ``negative_binomial``) time
``mm.glmer_nb`` against lme4's ``glmer.nb`` (its NB shape theta estimated by both) and report both shapes.
lme4's -2 log L of a ``glmer.nb`` fit is the one its last refit stored; the R worker also evaluates lme4's
own deviance function (``update(glmer(..., family = negative.binomial(theta)), devFunOnly = TRUE)``) at
``glmer.nb``'s estimates, the number on equal terms with ours. The Python peer is mixedlm's ``glmer_nb``,
which does not estimate the shape: it fits a negative binomial GLMM at a given theta (1 by default). So it
runs twice (``--nb-modes``), each in its own process (at ``--nb-nice``) stopped after ``--nb-budget``
seconds, timed once (no warm-up: one fit takes seconds; the JSON has the fits' wall and CPU time and the
whole process's, from ``wait4``, also for a stopped process, and a stopped search's last progress line):
as called (``mixedlm.glmer_nb(formula, data)``, theta fixed at 1: another model, labelled) and with the
shape estimated around it as ``glmer.nb`` does (:func:`mixedlm_nb_search`: a Poisson fit, MASS's
``theta.ml`` on its fitted means, then a 1-D search of -2 log L over log(theta), each value a
``mixedlm.glmer_nb`` fit). For each, lme4's deviance function at its (NB theta, theta, beta) minus ours at
our optimum. statsmodels has no mixed model that estimates a negative binomial shape (see
:data:`STATSMODELS_NB`).

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
    # negative binomial, NB shape estimated (mm.glmer_nb / lme4's glmer.nb)
    "grouseticks_nb": ("grouseticks", "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)",
                       "negative_binomial", 1),
    "nbsim": ("nbsim", "y ~ x + f + (1 | g)", "negative_binomial", 1),
}
NB = "negative_binomial"

R_WORKER = r"""
suppressMessages(library(lme4)); source(file.path("tests", "r", "json_helpers.R"))
args <- commandArgs(TRUE); f <- as.formula(args[2])
d <- if (grepl("[.]csv$", args[1])) read.csv(args[1], stringsAsFactors = TRUE) else read_dataset(args[1])
nagq <- as.integer(args[4]); reps <- as.integer(args[5]); nb <- args[3] == "negative_binomial"
fit <- if (nb) function() glmer.nb(f, data = d, nAGQ = nagq) else
  function() glmer(f, data = d, family = get(args[3]), nAGQ = nagq)
m <- fit()
best <- Inf; best_cpu <- Inf
for (i in seq_len(reps)) {
  st <- system.time(m <- fit())
  best <- min(best, st[["elapsed"]]); best_cpu <- min(best_cpu, st[["user.self"]] + st[["sys.self"]])
}
out <- list(time = best, cpu = best_cpu, feval = m@optinfo$feval, m2ll = -2 * as.numeric(logLik(m)))
if (nb) {
  ## glmer.nb's shape, and lme4's own deviance function (at that shape) at glmer.nb's estimates
  th <- getME(m, "glmer.nb.theta")
  g <- glmer(f, data = d, family = MASS::negative.binomial(th), nAGQ = nagq)
  dd <- update(g, devFunOnly = TRUE)
  out$nb_theta <- th
  out$m2ll_devfun <- dd(c(getME(m, "theta"), fixef(m)))
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def simulate_nb(seed: int = 20261207, n: int = 4000, ng: int = 100):
    """The simulated negative binomial case: ``x`` standard normal, ``f`` a 3-level factor, ``g``
    (``ng`` levels, ``n / ng`` rows each) with random intercepts of SD 0.6, ``y`` negative binomial with
    shape 1.5 and ``log mu = 0.5 + 0.4 x + (0, 0.3, -0.4)[f] + b[g]``."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(ng), n // ng)
    x = np.round(rng.standard_normal(g.size), 4)
    f = rng.integers(0, 3, g.size)
    b = rng.normal(0, 0.6, ng)
    mu = np.exp(0.5 + 0.4 * x + np.array([0.0, 0.3, -0.4])[f] + b[g])
    shape = 1.5
    y = rng.negative_binomial(shape, shape / (shape + mu)).astype(float)
    return pd.DataFrame({"y": y, "x": x, "f": pd.Categorical([f"f{k}" for k in f]),
                         "g": pd.Categorical([f"g{k:03d}" for k in g])})


SIMULATED = {"nbsim": simulate_nb}  # data sets made here, not bundled (R reads them from a CSV)


def load_data(dname: str):
    """A case's data: the bundled data set ``dname`` or one simulated here (:data:`SIMULATED`)."""
    if dname in SIMULATED:
        return SIMULATED[dname]()
    sys.path.insert(0, str(ROOT))
    import mixedmodels as mm

    return mm.datasets.load(dname)


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


def _best_of(fit_once, repeats: int, warmup: bool = True):
    """One warm-up call (unless ``warmup`` is false), then the best wall and CPU time of ``repeats`` calls,
    and the last result."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fit_once() if warmup else None
        wall, cpu = float("inf"), float("inf")
        for _ in range(max(1, repeats)):
            c, t = time.process_time(), time.perf_counter()
            res = fit_once()
            wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return wall, cpu, res


def _ours_model(case: str):
    sys.path.insert(0, str(ROOT))
    import mixedmodels as mm

    dname, formula, family, nagq = CASES[case]
    df = load_data(dname)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family == NB:
            return mm.glmer_nb(formula, df, nAGQ=nagq), df
        return mm.glmer(formula, df, family, nAGQ=nagq), df


def ours(case: str, repeats: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import mixedmodels as mm

    dname, formula, family, nagq = CASES[case]
    df = load_data(dname)

    def fit_once():
        if family == NB:  # the NB shape estimated as lme4's glmer.nb does
            m = mm.glmer_nb(formula, df, nAGQ=nagq)
        else:
            m = mm.glmer(formula, df, family, nAGQ=nagq)
        m.se  # noqa: B018  (standard errors, as lme4's fit computes its Hessian)
        return m
    # the fits as this process meets them: small models run on NumPy until the rent-or-buy rule loads
    # the compiled kernels (fit/kernels.py); then the warm fit with the compiled kernels loaded
    early, early_cpu, _ = _best_of(fit_once, repeats)
    from mixedmodels.fit import glmm_kernels
    glmm_kernels.load_compiled()
    best, cpu, m = _best_of(fit_once, repeats)
    out = {"time": best, "cpu": cpu, "early": early, "early_cpu": early_cpu, "feval": m.feval,
           "pirls_per_eval": m.optinfo.pirls_per_evaluation, "m2ll": m.objective, "fit": m}
    if family == NB:
        out.update(nb_theta=float(m.nb_theta), theta=list(map(float, m.theta)), beta=list(map(float, m.fixef)))
    return out


# ------------------------------------------------------------------------------------- Python peers
MIXEDLM = {  # case -> (formula as mixedlm reads it, how the data are prepared, weights column)
    "cbpp": ("prop ~ period + (1 | herd)", "cbpp_prop", "size"),
    "cbpp_agq9": ("prop ~ period + (1 | herd)", "cbpp_prop", "size"),
    "grouseticks": (CASES["grouseticks"][1], None, None),
    "contraception": ("use01 ~ age + age2 + urban + livch + (urban | district)", "contraception", None),
    "verbagg": ("r2_01 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "verbagg", None),
    "verbagg_nagq0": ("r2_01 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", "verbagg", None),
}


def _prepare(df, how: str | None):
    """The data as mixedlm (and statsmodels) read them: proportions, 0/1 numbers, a precomputed age^2."""
    if how == "cbpp_prop":
        return df.assign(prop=df["incidence"] / df["size"])
    if how == "contraception":
        return df.assign(use01=(df["use"] == "Y").astype(float), age2=df["age"] ** 2)
    if how == "verbagg":
        return df.assign(r2_01=(df["r2"] == "Y").astype(float))
    return df


def _theta_in_our_order(fit, blocks: dict) -> "np.ndarray":
    """A peer's theta given per grouping factor (``{group: values}``) in our (lme4's) term order."""
    import numpy as np

    return np.concatenate([np.asarray(blocks[t.group], dtype=float) for t in fit.model.problem.terms])


def _lme4_dev_at(fit, theta, beta) -> float:
    """lme4's (= our) deviance function at (theta, beta): Laplace (AGQ for nAGQ > 1); for nAGQ = 0 the
    criterion that fit minimizes, a function of theta alone (beta from PIRLS jointly with u), so ``beta``
    is not used there."""
    import numpy as np

    try:
        if fit.nAGQ == 0:
            return float(fit.model.problem.laplace_deviance(np.asarray(theta, float), None, fit._lp0, joint=True))
        return float(fit._dev_at(np.concatenate([np.asarray(theta, float), np.asarray(beta, float)])))
    except (ArithmeticError, ValueError) as exc:  # PIRLS fails there (PirlsError is a ValueError)
        print(f"  (lme4's deviance undefined at theta={list(theta)}, beta={list(beta)}: {exc})", file=sys.stderr)
        return None


def run_mixedlm(case: str, repeats: int, fit) -> dict:
    """mixedlm's glmer on ``case``: times, its reported -2 log L, its (theta, beta) in our order and lme4's
    deviance there (``m2ll_lme4_at``)."""
    import mixedlm
    import numpy as np

    dname, _, family, nagq = CASES[case]
    formula, how, weights = MIXEDLM[case]

    df = _prepare(load_data(dname), how)
    fam = {"binomial": mixedlm.families.Binomial, "poisson": mixedlm.families.Poisson}[family]

    def fit_once():
        return mixedlm.glmer(formula, df, family=fam(), nAGQ=nagq, weights=weights)
    try:
        best, cpu, r = _best_of(fit_once, repeats)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:120]}
    theta, beta = _mixedlm_params(r, fit)
    out = {"time": best, "cpu": cpu, "m2ll": -2.0 * float(r.logLik().value), "theta": theta.tolist(),
           "beta": beta.tolist(), "feval": getattr(r, "function_evals", None)}
    out["m2ll_lme4_at"] = _lme4_dev_at(fit, theta, beta)
    return out


def _mixedlm_params(r, fit):
    """A mixedlm fit's (theta, beta), theta in our (lme4's) term order (``fit``: ours, for the order)."""
    import numpy as np

    th = np.asarray(r.getME("theta"), dtype=float)
    blocks, k = {}, 0
    for s in r.matrices.random_structures:
        n = s.n_terms * (s.n_terms + 1) // 2 if s.correlated else s.n_terms
        blocks[s.grouping_factor] = th[k:k + n]
        k += n
    return _theta_in_our_order(fit, blocks), np.asarray(r.getME("beta"), dtype=float)


# ------------------------------------------------------------------ negative binomial: mixedlm's glmer_nb
#: what statsmodels 0.15 offers for negative binomial counts, none of it a mixed model that estimates the
#: NB shape: ``PoissonBayesMixedGLM`` / ``BinomialBayesMixedGLM`` only (no NB family among the Bayesian
#: mixed GLMs); ``MixedLM`` is linear; ``discrete.NegativeBinomial`` estimates the shape (alpha = 1/theta)
#: without random effects; ``GLM`` and ``GEE`` take ``families.NegativeBinomial(alpha)`` with alpha fixed,
#: and GEE is a marginal model (no random effects, no likelihood).
STATSMODELS_NB = ("no NB mixed model: its Bayesian mixed GLMs are binomial and Poisson only; "
                  "discrete.NegativeBinomial estimates the shape without random effects; GLM/GEE take a "
                  "fixed NB alpha (GEE: marginal, no random effects)")
NB_SEARCH_TOL = 1e-6  # on log(theta), as mm.glmer_nb's default tol (lme4's glmer.nb: 5e-5)


def mixedlm_nb_search(formula: str, df, nagq: int = 1, tol: float = NB_SEARCH_TOL, progress=None):
    """The NB shape estimated around ``mixedlm.glmer_nb`` (which takes it as given) as lme4's ``glmer.nb``
    and ``mm.glmer_nb`` do: a Poisson GLMM, MASS's ``theta.ml`` on its fitted means, then a bounded 1-D
    minimization of -2 log L over log(theta) within log(theta0) +- 3, each value a ``glmer_nb`` fit.
    Returns the best fit, its NB theta and the number of ``glmer_nb`` fits. ``progress`` (optional) is
    called after each ``glmer_nb`` fit with (number of fits, NB theta, its -2 log L)."""
    import math

    import mixedlm
    import numpy as np
    from scipy.optimize import minimize_scalar

    from mixedmodels.glmm import _theta_ml  # MASS's theta.ml, as mm.glmer_nb starts from

    pois = mixedlm.glmer(formula, df, family=mixedlm.families.Poisson(), nAGQ=nagq)
    y = np.asarray(df[formula.split("~")[0].strip()], dtype=float)
    th0 = _theta_ml(y, np.asarray(pois.fitted(), dtype=float), np.ones_like(y))
    cache = {}

    def m2ll(logth: float) -> float:
        if logth not in cache:
            cache[logth] = mixedlm.glmer_nb(formula, df, nAGQ=nagq, theta=math.exp(logth))
            if progress is not None:
                progress(len(cache), math.exp(logth), -2.0 * float(cache[logth].logLik().value))
        return -2.0 * float(cache[logth].logLik().value)
    lo, hi = math.log(th0) - 3, math.log(th0) + 3
    minimize_scalar(m2ll, bounds=(lo, hi), method="bounded", options={"xatol": tol})
    best = min(cache, key=m2ll)
    return cache[best], math.exp(best), len(cache)


def mixedlm_nb_one(case: str, mode: str, repeats: int) -> dict:
    """mixedlm's ``glmer_nb`` on ``case`` (``mode``: ``"fixed"``, as called, its theta at the default 1;
    ``"search"``, :func:`mixedlm_nb_search`), timed without a warm-up: times, its -2 log L, NB theta,
    (theta, beta) in our order and lme4's deviance function there (at its NB theta), ``m2ll_lme4_at``."""
    import mixedlm

    import mixedmodels as mm

    dname, formula, _, nagq = CASES[case]
    df = load_data(dname)
    c0, t0 = time.process_time(), time.perf_counter()

    def progress(fits: int, nb_theta: float, m2ll: float) -> None:
        """One line per ``glmer_nb`` fit of the search (the parent keeps the last if it stops the run)."""
        print(json.dumps({"partial": True, "fits": fits, "nb_theta": nb_theta, "m2ll": m2ll,
                          "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}), flush=True)

    def fit_once():
        if mode == "fixed":
            r = mixedlm.glmer_nb(formula, df, nAGQ=nagq)
            return r, float(r.get_family().theta), 1
        return mixedlm_nb_search(formula, df, nagq, progress=progress)
    try:
        best, cpu, (r, nb_theta, nfits) = _best_of(fit_once, repeats, warmup=False)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:120]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at = mm.glmer(formula, df, mm.family.negative_binomial(nb_theta), nAGQ=nagq)  # lme4's function there
    theta, beta = _mixedlm_params(r, at)
    return {"time": best, "cpu": cpu, "m2ll": -2.0 * float(r.logLik().value), "nb_theta": nb_theta,
            "fits": nfits, "theta": theta.tolist(), "beta": beta.tolist(),
            "m2ll_lme4_at": _lme4_dev_at(at, theta, beta)}


def run_mixedlm_nb(case: str, repeats: int, budget: float, nice: int = 0,
                   modes: list[str] | tuple[str, ...] = ("fixed", "search")) -> dict:
    """:func:`mixedlm_nb_one` in each of ``modes``, each in its own process (at ``nice``) stopped after
    ``budget`` seconds. Each result has the process's wall and CPU time (``process_wall``,
    ``process_cpu``: with the import and the data, also for a stopped process) beside the fits' own
    (``time``, ``cpu``); a stopped search keeps its last progress line (``partial``: the ``glmer_nb`` fits
    done, the last NB theta and -2 log L, their wall and CPU time)."""
    from benchmarks.procs import run_timed, worker_env, worker_result

    out = {}
    for mode in modes:
        cmd = [sys.executable, "-m", "benchmarks.glmm", "--mixedlm-nb-worker", case, mode, str(repeats)]
        out[mode] = worker_result(run_timed(cmd, env=worker_env(), timeout=budget, nice=nice))
        if nice:
            out[mode]["nice"] = nice
    return out


def _binary_rows(df, how: str | None, response: str):
    """statsmodels' data: cbpp with one 0/1 row per animal (``incidence`` ones, ``size - incidence`` zeros)."""
    import numpy as np
    import pandas as pd

    if how != "cbpp_prop":
        return df
    reps = df["size"].to_numpy().astype(int)
    rows = df.loc[df.index.repeat(reps)].copy()
    pos = np.concatenate([np.arange(n) for n in reps])
    rows[response] = (pos < np.repeat(df["incidence"].to_numpy(), reps)).astype(float)
    return rows.reset_index(drop=True).pipe(pd.DataFrame)


BAYES = {  # case -> (formula for the fixed part, variance components, data preparation, response)
    "cbpp": ("y01 ~ period", ["herd"], "cbpp_prop", "y01"),
    "grouseticks": ("TICKS ~ YEAR + cHEIGHT", ["BROOD", "INDEX", "LOCATION"], None, "TICKS"),
    "verbagg": ("r2_01 ~ Anger + Gender + btype + situ", ["id", "item"], "verbagg", "r2_01"),
}


def run_bayes(case: str, repeats: int, budget: float = 60.0,
              methods: list[str] | tuple[str, ...] = ("vb", "map")) -> dict:
    """statsmodels' Bayesian mixed GLM, ``fit_vb()`` and ``fit_map()`` (``methods``), each in its own process
    stopped after ``budget`` seconds (``{"over": budget}``): see :func:`bayes_one`."""
    from benchmarks.procs import run_worker, worker_env

    if case not in BAYES:
        return {"not_expressible": True}
    out = {}
    for method in methods:
        cmd = [sys.executable, "-m", "benchmarks.glmm", "--bayes-worker", case, method, str(repeats)]
        try:
            out[method] = run_worker(cmd, env=worker_env(), timeout=budget)
        except subprocess.TimeoutExpired:
            out[method] = {"over": budget}
    return out


def bayes_one(case: str, method: str, repeats: int) -> dict:
    """One of statsmodels' Bayesian fits (``vb``: ``fit_vb()``, ``map``: ``fit_map()``) of ``case``: its
    times, its estimates and lme4's deviance there (theta = exp of the log-SD parameters, beta = the fixed
    effects' posterior mean or mode); ``diverged`` (the largest |beta|) when they ran off to infinity."""
    import numpy as np
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM, PoissonBayesMixedGLM

    import mixedmodels as mm

    fit, _ = _ours_model(case)
    dname, _, family, nagq = CASES[case]
    formula, vcs, how, response = BAYES[case]
    df = _binary_rows(_prepare(load_data(dname), how), how, response)
    cls = {"binomial": BinomialBayesMixedGLM, "poisson": PoissonBayesMixedGLM}[family]
    vc = {g: f"0 + C({g})" for g in vcs}

    def fit_once():
        model = cls.from_formula(formula, vc, df)
        return model, (model.fit_vb() if method == "vb" else model.fit_map())
    try:
        best, cpu, (model, res) = _best_of(fit_once, repeats)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:120]}
    sd = dict(zip(model.vcp_names, np.exp(np.asarray(res.vcp_mean, dtype=float))))
    theta = _theta_in_our_order(fit, {g: [sd[g]] for g in vcs})
    beta = np.asarray(res.fe_mean, dtype=float)
    out = {"time": best, "cpu": cpu, "theta": theta.tolist(), "beta": beta.tolist()}
    big = float(np.max(np.abs(beta))) if beta.size else 0.0
    if not np.isfinite(big) or big > 1e6:
        out.update(diverged=big, m2ll_lme4_at=None)
    else:
        out["m2ll_lme4_at"] = _lme4_dev_at(fit, theta, beta)
    return out


def lme4(case: str, repeats: int) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    dname, formula, family, nagq = CASES[case]
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "glmm_worker.R"
        script.write_text(R_WORKER)
        data = dname
        if dname in SIMULATED:  # R reads the simulated data from a CSV
            data = str(Path(tmp) / f"{dname}.csv")
            load_data(dname).to_csv(data, index=False)
        r = subprocess.run(["Rscript", str(script), data, formula, family, str(nagq), str(repeats)], cwd=ROOT,
                           capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


BEGIN, END = "<!-- glmm:begin -->", "<!-- glmm:end -->"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the first fit of a new process
def first_fit_one(case: str) -> dict:
    """In a fresh process (``--first-fit-worker CASE``): ``import mixedmodels``, read the case's data, one
    fit with its standard errors. ``import_s``, ``read_s`` (loading numpy, pandas and the data: the package
    loads its modules on first use), ``load_s`` (``mm.glmer``'s modules, as ``library(lme4)`` loads lme4's
    code), ``fit_s`` / ``fit_cpu`` (the fit and ``m.se`` alone) and ``total_s`` /
    ``total_cpu`` (import + data + fit), whether Numba was loaded, the fit's -2 log L."""
    t0, c0 = time.perf_counter(), time.process_time()
    sys.path.insert(0, str(ROOT))
    import mixedmodels as mm

    t_import = time.perf_counter() - t0
    dname, formula, family, nagq = CASES[case]
    df = load_data(dname)
    tl = time.perf_counter()
    # the model's code (``mm.glmer`` imports its modules on first use, scipy's among them): the
    # counterpart of ``library(lme4)``, which R pays before its first call
    fit_fn = mm.glmer_nb if family == NB else mm.glmer
    t1, c1 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fit_fn(formula, df, nAGQ=nagq) if family == NB else fit_fn(formula, df, family, nAGQ=nagq)
        m.se  # noqa: B018
    t2, c2 = time.perf_counter(), time.process_time()
    return {"import_s": t_import, "read_s": tl - t0 - t_import, "load_s": t1 - tl, "fit_s": t2 - t1,
            "fit_cpu": c2 - c1, "total_s": t2 - t0, "total_cpu": c2 - c0, "numba_loaded": "numba" in sys.modules,
            "m2ll": float(m.objective)}


R_FIRST = r"""
t0 <- proc.time()
suppressMessages(library(lme4))
t1 <- proc.time()
source(file.path("tests", "r", "json_helpers.R"))
args <- commandArgs(TRUE); f <- as.formula(args[2])
d <- if (grepl("[.]csv$", args[1])) read.csv(args[1], stringsAsFactors = TRUE) else read_dataset(args[1])
nagq <- as.integer(args[4])
t2 <- proc.time()
m <- if (args[3] == "negative_binomial") glmer.nb(f, data = d, nAGQ = nagq) else
  glmer(f, data = d, family = get(args[3]), nAGQ = nagq)
t3 <- proc.time()
cpu <- function(p) p[["user.self"]] + p[["sys.self"]]
cat(jsonlite::toJSON(list(library_s = (t1 - t0)[["elapsed"]], read_s = (t2 - t1)[["elapsed"]],
                          fit_s = (t3 - t2)[["elapsed"]], fit_cpu = cpu(t3 - t2),
                          total_s = (t3 - t0)[["elapsed"]], total_cpu = cpu(t3 - t0),
                          m2ll = -2 * as.numeric(logLik(m))), auto_unbox = TRUE, digits = NA))
"""


def _best_process(runs: list[dict]) -> dict:
    """The best of several fresh-process runs: each number its minimum over the runs that succeeded (an
    error when none did), ``runs`` the number of them, ``fit_s_all`` every run's fit time."""
    ok = [r for r in runs if "error" not in r and "over" not in r]
    if not ok:
        return runs[-1] if runs else {"error": "not run"}
    out = dict(ok[0])
    for k, v in ok[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "m2ll":
            out[k] = min(r[k] for r in ok)
    out["runs"] = len(ok)
    out["fit_s_all"] = [r["fit_s"] for r in ok]
    return out


def first_fit_ours(case: str, runs: int, timeout: float = 600.0) -> dict:
    """:func:`first_fit_one` in ``runs`` fresh processes (Numba's disk cache warm: :func:`precompile` ran
    first), the best of each number (:func:`_best_process`)."""
    from benchmarks.procs import run_timed, worker_env, worker_result

    out = []
    for _ in range(max(1, runs)):
        res = run_timed([sys.executable, "-m", "benchmarks.glmm", "--first-fit-worker", case],
                        env=worker_env(), timeout=timeout)
        out.append(worker_result(res))
    return _best_process(out)


def first_fit_lme4(case: str, runs: int, timeout: float = 600.0) -> dict | None:
    """lme4's first fit in ``runs`` fresh ``Rscript`` processes (:data:`R_FIRST`: the ``glmer`` /
    ``glmer.nb`` call timed after ``library(lme4)`` and reading the data), the best of each number."""
    if shutil.which("Rscript") is None:
        return None
    from benchmarks.procs import run_timed, worker_result

    dname, formula, family, nagq = CASES[case]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "glmm_first.R"
        script.write_text(R_FIRST)
        data = dname
        if dname in SIMULATED:
            data = str(Path(tmp) / f"{dname}.csv")
            load_data(dname).to_csv(data, index=False)
        for _ in range(max(1, runs)):
            res = run_timed(["Rscript", str(script), data, formula, family, str(nagq)], timeout=timeout)
            out.append(worker_result(res))
    return _best_process(out)


def precompile() -> dict:
    """``python -m mixedmodels precompile`` in a new process: the compiled kernels' machine code in Numba's
    disk cache (compiled once, or found there), the state of a user's machine after the first use, before
    the first fits of new processes are timed. Its wall and CPU time and whether it succeeded."""
    from benchmarks.procs import run_timed, worker_env

    res = run_timed([sys.executable, "-m", "mixedmodels", "precompile"], env=worker_env(), timeout=900)
    return {"ok": res["returncode"] == 0, "wall": res["wall"], "cpu": res["cpu"],
            "output": (res["stdout"].strip().splitlines() or [""])[-1]}


# ------------------------------------------------------------------------------------------- the run
def _skip_if_stopped_idle(idle: dict | None, keys: tuple[str, ...]) -> dict:
    """For the busy condition: the parts of an idle peer result (``keys``) that were stopped at their
    budget, marked ``skipped`` (not rerun: beside a busy neighbour they would be stopped again)."""
    if not idle:
        return {}
    return {k: dict(idle[k], skipped=True) for k in keys if isinstance(idle.get(k), dict) and "over" in idle[k]}


def measure_case(case: str, cond: str, a, use_ml: bool, use_bayes: bool, idle_row: dict | None = None) -> dict:
    """One row of the run: ours (in this process), lme4 (a new ``Rscript``), the Python peers, in the current
    condition. ``idle_row``: the same case's idle row (peers stopped there are not rerun busy)."""
    o = ours(case, a.repeats)
    r = None if a.no_lme4 else lme4(case, a.repeats)
    row = {"case": case, "condition": cond, "ours": {k: v for k, v in o.items() if k != "fit"}, "lme4": r}
    _log(f"[{cond}] {case:<15} ours {o['time']:.3f} s (CPU {o['cpu']:.3f})"
         + ("" if r is None else f", lme4 {r['time']:.3f} s (x{r['time'] / o['time']:.1f})"))
    if CASES[case][2] == NB:
        if use_ml:
            modes = a.nb_modes.split(",")
            done = _skip_if_stopped_idle((idle_row or {}).get("mixedlm_nb"), tuple(modes))
            row["mixedlm_nb"] = dict(run_mixedlm_nb(case, a.nb_repeats, a.nb_budget, nice=a.nb_nice,
                                                    modes=[m for m in modes if m not in done]), **done)
            _log(f"[{cond}] {case:<15} mixedlm glmer_nb "
                 + ", ".join(f"{k}: {_short(v)}" for k, v in row["mixedlm_nb"].items()))
        return row
    if use_ml:
        row["mixedlm"] = run_mixedlm(case, a.repeats, o["fit"])
        _log(f"[{cond}] {case:<15} mixedlm {_short(row['mixedlm'])}")
    if use_bayes:
        sm_idle = (idle_row or {}).get("statsmodels") or {}
        done = _skip_if_stopped_idle(sm_idle, ("vb", "map"))
        row["statsmodels"] = dict(run_bayes(case, a.repeats, a.bayes_budget,
                                            methods=[m for m in ("vb", "map") if m not in done]), **done)
        _log(f"[{cond}] {case:<15} statsmodels " + (
            "not expressible" if row["statsmodels"].get("not_expressible") else
            ", ".join(f"{k}: {_short(v)}" for k, v in row["statsmodels"].items())))
    return row


def _short(r: dict) -> str:
    if "over" in r:
        return f"> {r['over']:.0f} s" + (" (idle; not rerun)" if r.get("skipped") else "")
    if "error" in r:
        return "error: " + str(r["error"])[:60]
    return f"{r['time']:.3f} s"


def load_report(path) -> dict:
    """A JSON written by ``--json``; an older one (a list of idle rows) as a report of one condition."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, list):
        data = {"rows": data}
    for row in data.get("rows", []):
        row.setdefault("condition", "idle")
    data.setdefault("conditions", list(dict.fromkeys(r["condition"] for r in data.get("rows", []))) or ["idle"])
    data.setdefault("first_fit", [])
    return data


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--conditions", default="idle",
                    help="idle, busy (beside a busy-loop process per core) or both: idle,busy")
    ap.add_argument("--busy", action="store_true", help="both conditions: --conditions idle,busy")
    ap.add_argument("--first-runs", type=int, default=3,
                    help="fresh processes for the first fit of each case (ours and lme4), best kept")
    ap.add_argument("--no-first-fit", action="store_true", help="without the first fits of new processes")
    ap.add_argument("--no-lme4", action="store_true")
    ap.add_argument("--large", action="store_true", help="the simulated 1,000,000-row model only")
    ap.add_argument("--lme4-large", action="store_true", help="with --large: also fit it with lme4 (slow)")
    ap.add_argument("--no-mixedlm", action="store_true", help="without mixedlm's glmer")
    ap.add_argument("--no-bayes", action="store_true", help="without statsmodels' Bayesian mixed GLMs")
    ap.add_argument("--explain", action="store_true",
                    help="mixedlm's -2 log L against lme4's deviance function, at both parameter vectors")
    ap.add_argument("--json", help="write every result (with parameter vectors) to this file")
    ap.add_argument("--out", help="Markdown file whose GLMM section (between <!-- glmm:begin --> and "
                                  "<!-- glmm:end -->) is rewritten with the tables")
    ap.add_argument("--report", metavar="JSON", help="no fits: the tables of a JSON written by --json")
    ap.add_argument("--bayes-budget", type=float, default=60.0,
                    help="seconds for each statsmodels Bayesian fit process (stopped after: \"> N s\")")
    ap.add_argument("--nb-budget", type=float, default=900.0,
                    help="seconds for each mixedlm glmer_nb process of a negative binomial case (as called; "
                         "with the 1-D search over its theta), stopped after: \"> N s\"")
    ap.add_argument("--nb-repeats", type=int, default=1,
                    help="timed fits of each mixedlm glmer_nb process (no warm-up)")
    ap.add_argument("--nb-modes", default="fixed,search",
                    help="mixedlm glmer_nb runs: fixed (as called, NB theta 1), search (theta estimated)")
    ap.add_argument("--nb-nice", type=int, default=0,
                    help="run the mixedlm glmer_nb processes at this much lower priority (nice)")
    ap.add_argument("--bayes-worker", nargs=3, metavar=("CASE", "METHOD", "REPEATS"), help=argparse.SUPPRESS)
    ap.add_argument("--mixedlm-nb-worker", nargs=3, metavar=("CASE", "MODE", "REPEATS"), help=argparse.SUPPRESS)
    ap.add_argument("--first-fit-worker", metavar="CASE", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.first_fit_worker:
        print(json.dumps(first_fit_one(a.first_fit_worker)))
        return 0
    if a.bayes_worker:
        case, method, reps = a.bayes_worker
        print(json.dumps(bayes_one(case, method, int(reps)), default=float))
        return 0
    if a.mixedlm_nb_worker:
        case, mode, reps = a.mixedlm_nb_worker
        print(json.dumps(mixedlm_nb_one(case, mode, int(reps)), default=float))
        return 0
    if a.large:
        return large(a.lme4_large)
    if a.explain:
        return explain([c for c in a.cases.split(",") if c in ("cbpp", "grouseticks", "verbagg", "contraception")])
    if a.report:
        md = markdown(load_report(a.report))
        print(md)
        if a.out:
            from benchmarks.procs import write_marked

            write_marked(Path(a.out), md, BEGIN, END, "## Generalized models: tables")
        return 0
    from benchmarks.procs import condition, machine_info, parse_conditions

    try:
        conds = parse_conditions("idle,busy" if a.busy else a.conditions)
    except ValueError as exc:
        ap.error(str(exc))
    cases = a.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}: use {', '.join(CASES)}")
    modes = [m for m in a.nb_modes.split(",") if m]
    if not modes or set(modes) - {"fixed", "search"}:
        ap.error("--nb-modes: fixed, search or both")
    from benchmarks.procs import have

    use_ml = not a.no_mixedlm and have("mixedlm")
    use_bayes = not a.no_bayes and have("statsmodels")
    started = time.time()
    report = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)), "machine": machine_info(),
              "command": "python -m benchmarks.glmm " + " ".join(sys.argv[1:] if argv is None else argv),
              "conditions": conds, "repeats": a.repeats, "nb_budget": a.nb_budget, "nb_nice": a.nb_nice,
              "bayes_budget": a.bayes_budget, "rows": [], "first_fit": []}
    if not a.no_first_fit:
        _log("precompile (Numba's disk cache warm before the first fits of new processes)")
        report["precompile"] = precompile()
    for cond in conds:
        with condition(cond):  # busy: a busy-loop process per core, started now, stopped after
            for case in cases:
                idle_row = next((r for r in report["rows"] if r["case"] == case and r["condition"] == "idle"), None)
                report["rows"].append(measure_case(case, cond, a, use_ml, use_bayes, idle_row))
            if not a.no_first_fit:
                for case in cases:
                    entry = {"case": case, "condition": cond, "ours": first_fit_ours(case, a.first_runs),
                             "lme4": None if a.no_lme4 else first_fit_lme4(case, a.first_runs)}
                    report["first_fit"].append(entry)
                    _log(f"[{cond}] {case:<15} first fit: ours {_first_short(entry['ours'])}, lme4 "
                         f"{_first_short(entry['lme4'])}")
    report["minutes"] = (time.time() - started) / 60
    md = markdown(report)
    print(md)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(report, indent=1, default=float))
    if a.out:
        from benchmarks.procs import write_marked

        write_marked(Path(a.out), md, BEGIN, END, "## Generalized models: tables")
    return 0


def _first_short(r: dict | None) -> str:
    if r is None:
        return "-"
    if "error" in r or "over" in r:
        return _short(r)
    return f"{r['fit_s']:.3f} s (all {r['total_s']:.3f} s)"


# ------------------------------------------------------------------------------------------ reporting
def _ratio(num: float | None, den: float | None) -> str:
    return "-" if not num or not den else f"x{num / den:.2g}"


def main_table(rows: list[dict], conditions: list[str]) -> str:
    """ours against lme4, warm, one column group per condition: our wall and CPU time, lme4's wall time,
    lme4 / ours in wall and CPU time; then (from the first condition) evaluations, PIRLS iterations per
    evaluation, -2 log L ours - lme4."""
    head = ["case"]
    for c in conditions:
        head += [f"ours, {c} (s)", f"CPU, {c} (s)", f"lme4, {c} (s)", f"lme4 / ours, {c}: wall; CPU"]
    head += ["evals ours / lme4", "PIRLS its/eval", "-2logL ours - lme4"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for case in dict.fromkeys(r["case"] for r in rows):
        by = {r["condition"]: r for r in rows if r["case"] == case}
        cells = [case]
        for c in conditions:
            row = by.get(c)
            if row is None:
                cells += ["-"] * 4
                continue
            o, r = row["ours"], row.get("lme4")
            cells += [f"{o['time']:.3f}", f"{o['cpu']:.3f}", "-" if r is None else f"{r['time']:.3f}",
                      "-" if r is None else f"{_ratio(r['time'], o['time'])}; "
                                            f"{_ratio(r.get('cpu'), o['cpu'])}"]
        first = by.get(conditions[0]) or next(iter(by.values()))
        o, r = first["ours"], first.get("lme4")
        cells += [f"{o['feval']} / {'-' if r is None else r['feval']}", f"{o['pirls_per_eval']:.1f}",
                  "-" if r is None else f"{o['m2ll'] - r['m2ll']:+.2e}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def first_fit_table(entries: list[dict], rows: list[dict]) -> str:
    """The first fit of a new process, per case and condition: ours (``import mixedmodels``, the data, one
    fit with ``m.se``: loading ``mm.glmer``'s modules, the fit alone, and import + data + load + fit), our
    warm fit of the same condition (from ``rows``), lme4's ``glmer`` in a new ``Rscript``
    (``library(lme4)``, the call alone, and ``library(lme4)`` + data + call),
    and lme4 / ours for both."""
    head = ["case", "condition", "ours: load `mm.glmer` (s)", "ours: first fit (s)",
            "ours: import + data + load + fit (s)", "ours: warm (s)", "lme4: `library(lme4)` (s)",
            "lme4: first `glmer` (s)", "lme4: `library(lme4)` + data + `glmer` (s)", "lme4 / ours: fit; all"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for e in entries:
        o, r = e.get("ours") or {}, e.get("lme4")
        warm = next((x["ours"].get("time") for x in rows
                     if x["case"] == e["case"] and x["condition"] == e["condition"]), None)
        cells = [e["case"], e["condition"]]
        if "fit_s" in o:
            load = o.get("load_s")
            cells += ["-" if load is None else f"{load:.3f}", f"{o['fit_s']:.3f}", f"{o['total_s']:.3f}"]
        else:
            cells += ["-", _short(o) if o else "-", "-"]
        cells.append("-" if warm is None else f"{warm:.3f}")
        if r and "fit_s" in r:
            lib = r.get("library_s")
            cells += ["-" if lib is None else f"{lib:.3f}", f"{r['fit_s']:.3f}", f"{r['total_s']:.3f}"]
            cells.append(f"{_ratio(r['fit_s'], o.get('fit_s'))}; {_ratio(r['total_s'], o.get('total_s'))}")
        else:
            cells += ["-", "-" if not r else _short(r), "-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """The GLMM section's tables from a report (:func:`main`'s JSON): the machine line, ours against lme4
    per condition, the first fits of new processes, and per condition the Python peers and the negative
    binomial cases."""
    conds = report.get("conditions") or ["idle"]
    rows = report.get("rows", [])
    lines = []
    m = report.get("machine")
    if m:
        load = m.get("loadavg_at_start")
        lines += [f"Machine: {m.get('cores')} cores ({m.get('cpu')}), Python {m.get('python')}, "
                  + ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
                  + f". Date: {report.get('date')}"
                  + (f"; the run took {report['minutes']:.1f} min" if report.get("minutes") else "")
                  + (f"; load average when it started {load[0]:.1f}" if load else "") + ".", ""]
    if report.get("command"):
        lines += [f"`{report['command']}`", ""]
    lines += ["Conditions: **idle** (nothing started beside the fits) and **busy** (a busy-loop process per core "
              "started before the condition's first fit and stopped after its last; every tool measured "
              "beside it). Times: warm, best of the repeats, from the DataFrame to the fit with its standard "
              "errors, default threads.", ""]
    glmer_rows = [r for r in rows if CASES.get(r["case"], ("", "", ""))[2] != NB]
    nb_rows = [r for r in rows if CASES.get(r["case"], ("", "", ""))[2] == NB]
    lines += ["#### Ours against lme4", "", main_table(rows, [c for c in conds if any(r["condition"] == c
                                                                                      for r in rows)]), ""]
    if report.get("first_fit"):
        pre = report.get("precompile") or {}
        lines += ["#### The first fit of a new process", "",
                  "Each in a fresh process, best of "
                  + f"{max((e.get('ours') or {}).get('runs', 1) for e in report['first_fit'])}: ours "
                  "`import mixedmodels`, the data, one fit with `m.se`, after `python -m mixedmodels "
                  "precompile` (Numba's disk cache warm, as after a user's first use"
                  + (f"; it took {pre['wall']:.1f} s here" if pre.get("wall") is not None else "")
                  + "); lme4 in a fresh `Rscript`: `library(lme4)`, the data, one `glmer` (its Hessian "
                  "included, as our `m.se`).", "", first_fit_table(report["first_fit"], rows), ""]
    for c in conds:
        g = [r for r in glmer_rows if r["condition"] == c and ("mixedlm" in r or "statsmodels" in r)]
        if g:
            lines += [f"#### Python peers, {c}", "", peers_table(g), ""]
    for c in conds:
        n = [r for r in nb_rows if r["condition"] == c]
        if n:
            lines += [f"#### Negative binomial, {c}", "", nb_table(n), ""]
    return "\n".join(lines).rstrip() + "\n"


def _t(r: dict, ours: dict) -> str:
    return f"{r['time']:.3f} (x{r['time'] / ours['time']:.2g}; CPU x{r['cpu'] / ours['cpu']:.2g})"


def _stopped(r: dict) -> str:
    """A run stopped at its budget: "> N s (stopped)", with what it had done (``partial``: its fits, their
    CPU time) when it said, or "(idle; not rerun)" for a busy run skipped after an idle one was stopped."""
    s = f"> {r['over']:.0f} s (stopped)"
    if r.get("skipped"):
        s += " (idle; not rerun)"
    part = r.get("partial")
    if part:
        s += f"; {part.get('fits', '?')} `glmer_nb` fits done in {part.get('cpu', float('nan')):.0f} s CPU"
    if r.get("nice"):
        s += f"; at nice {r['nice']}"
    return s


def _gap(dev: float | None, ours: dict) -> str:
    return "undefined (PIRLS fails there)" if dev is None else f"{dev - ours['m2ll']:+.2e}"


def peers_table(rows: list[dict]) -> str:
    """The Python peers against ours: time in seconds (ratio to ours, wall, then CPU), mixedlm's -2 log L as
    it reports it minus ours, and for every peer lme4's deviance at the peer's estimates minus ours at
    our optimum (the equal-terms comparison: positive means the peer's estimates are worse on lme4's
    criterion)."""
    lines = ["| case | mixedlm glmer (s) | mixedlm -2logL (reported) - ours | lme4's deviance at mixedlm's "
             "estimates - ours | statsmodels Bayesian, variational `fit_vb` (s) | its estimates: lme4's deviance "
             "- ours | statsmodels Bayesian, MAP `fit_map` (s) | its estimates: lme4's deviance - ours |",
             "|" + " --- |" * 8]
    for row in rows:
        o = row["ours"]
        cells = [row["case"]]
        ml = row.get("mixedlm")
        if ml is None:
            cells += ["-", "-", "-"]
        elif "error" in ml:
            cells += ["cannot fit: " + ml["error"], "-", "-"]
        else:
            cells += [_t(ml, o), f"{ml['m2ll'] - o['m2ll']:+.2e}", _gap(ml["m2ll_lme4_at"], o)]
        sm = row.get("statsmodels")
        for method in ("vb", "map"):
            if sm is None:
                cells += ["-", "-"]
            elif sm.get("not_expressible"):
                cells += ["not expressible", "-"]
            elif "error" in sm[method]:
                cells += ["failed: " + sm[method]["error"], "-"]
            elif "over" in sm[method]:
                cells += [_stopped(sm[method]), "-"]
            else:
                r = sm[method]
                gap = f"diverged (fixed effects up to {r['diverged']:.1e})" if r.get("diverged") else \
                    _gap(r["m2ll_lme4_at"], o)
                cells += [_t(r, o), gap]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "statsmodels' Bayesian mixed GLMs are Bayesian (variational / MAP), not the same estimator: "
              "priors on the fixed effects and log-SDs, independent random effects, no likelihood; their "
              "column says how far their estimates are from the maximum-likelihood optimum on lme4's "
              "criterion. Contraception's correlated `(urban | district)` cannot be written there; nAGQ "
              "variants have no counterpart. mixedlm's reported -2 log L is the Laplace approximation at the "
              "exact conditional mode (lme4's stops PIRLS at a relative change of 1e-7 and takes the "
              "log-determinant one iterate behind: `--explain`), and with nAGQ > 1 it includes the binomial "
              "coefficients' constant that lme4's AGQ deviance leaves out; the column after it compares on "
              "lme4's criterion (for nAGQ = 0: lme4's nAGQ = 0 criterion at its theta)."]
    return "\n".join(lines)


def nb_table(rows: list[dict]) -> str:
    """The negative binomial cases: the NB shape (ours, lme4's ``glmer.nb``, mixedlm's), lme4's reported
    -2 log L and its deviance function at its own estimates against ours, and mixedlm's ``glmer_nb`` as
    called (NB theta fixed at 1: another model) and with the 1-D search over its theta: time (ratio to
    ours, wall, then CPU), its reported -2 log L minus ours, and lme4's deviance function at its (NB theta,
    theta, beta) minus ours at our optimum (positive: a worse point of lme4's criterion)."""
    lines = ["| case | NB theta: ours / lme4 | lme4's reported -2logL - ours | lme4's deviance function at "
             "its estimates - ours | mixedlm `glmer_nb` as called (s) | its NB theta | its -2logL - ours | "
             "lme4's deviance at its estimates - ours | mixedlm `glmer_nb` + 1-D search over theta (s) | its NB "
             "theta (`glmer_nb` fits) | its -2logL - ours | lme4's deviance at its estimates - ours |",
             "|" + " --- |" * 12]
    for row in rows:
        o, r = row["ours"], row.get("lme4")
        cells = [row["case"]]
        if r is None:
            cells += [f"{o['nb_theta']:.5g} / -", "-", "-"]
        else:
            dev = r.get("m2ll_devfun")
            cells += [f"{o['nb_theta']:.5g} / {r['nb_theta']:.5g}", f"{r['m2ll'] - o['m2ll']:+.2e}",
                      "-" if dev is None else f"{dev - o['m2ll']:+.2e}"]
        ml = row.get("mixedlm_nb")
        for mode in ("fixed", "search"):
            m = None if ml is None else ml.get(mode)
            if m is None:
                cells += ["-", "-", "-", "-"]
            elif "error" in m:
                cells += ["cannot fit: " + m["error"], "-", "-", "-"]
            elif "over" in m:
                cells += [_stopped(m), "-", "-", "-"]
            else:
                label = " (fixed: another model)" if mode == "fixed" else f" ({m['fits']})"
                worse = "" if m["m2ll_lme4_at"] is None or m["m2ll_lme4_at"] - o["m2ll"] <= 1e-6 \
                    else " (a worse optimum)" if mode == "search" else ""
                at = f" at nice {m['nice']}" if m.get("nice") else ""
                cells += [_t(m, o) + at, f"{m['nb_theta']:.5g}{label}", f"{m['m2ll'] - o['m2ll']:+.2e}",
                          _gap(m["m2ll_lme4_at"], o) + worse]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Ours and lme4's `glmer.nb` estimate the NB shape theta (a 1-D search over log(theta), each "
              "value a GLMM fit); lme4's reported -2 log L is the one its last refit stored, the next column "
              "lme4's own deviance function (`update(glmer(..., family = negative.binomial(theta)), "
              "devFunOnly = TRUE)`) at `glmer.nb`'s estimates, the comparison on equal terms. mixedlm's "
              "`glmer_nb` takes theta as given (default 1, not estimated): as called it fits another model; "
              "the search column estimates theta around it as `glmer.nb` does (Poisson fit, MASS's `theta.ml`, "
              "bounded 1-D search, tolerance 1e-6 on log(theta) as ours), timed once, each in its own "
              "process. Its -2 log L is the Laplace approximation at the exact conditional mode (see above); "
              "the last column puts its estimates through lme4's deviance function. statsmodels: "
              + STATSMODELS_NB + "."]
    return "\n".join(lines)


def _exact_laplace(fit, theta, beta) -> float:
    """The Laplace deviance at the exact conditional mode (PIRLS run to convergence from lme4's stopping
    point, log-determinant at the mode's own weights): the number mixedlm reports."""
    import numpy as np

    prob = fit.model.problem
    r0 = prob.pirls_lme4(np.asarray(theta, float), np.asarray(beta, float), fit._lp0, joint=False)
    res = prob.pirls(np.asarray(theta, float), np.asarray(beta, float), r0.u, joint=False, tol=1e-14)
    res.laplace_value = np.nan  # computed from the parts, not by the compiled loop
    return float(prob.laplace(res))


def explain(cases: list[str]) -> int:
    """Why mixedlm's -2 log L is lower than ours (= lme4's): both deviance functions at both optima, and
    lme4's own deviance function in R (``benchmarks/glmm_devfun.R``) at both, when R is installed."""
    spec, res = {}, {}
    for case in cases:
        fit, _ = _ours_model(case)
        ml = run_mixedlm(case, 0, fit)
        if "error" in ml:
            print(f"{case}: mixedlm cannot fit it: {ml['error']}")
            continue
        at = {"ours": {"theta": list(map(float, fit.theta)), "beta": list(map(float, fit.fixef))},
              "mixedlm": {"theta": ml["theta"], "beta": ml["beta"]}}
        dname, formula, family, _ = CASES[case]
        spec[case] = {"data": dname, "formula": formula, "family": family, "at": at}
        res[case] = {"ours_optimum": float(fit.objective), "mixedlm_reported": ml["m2ll"],
                     "lme4way_at_mixedlm": ml["m2ll_lme4_at"],
                     "exact_at_ours": _exact_laplace(fit, at["ours"]["theta"], at["ours"]["beta"]),
                     "exact_at_mixedlm": _exact_laplace(fit, ml["theta"], ml["beta"])}
    r_out = {}
    if spec and shutil.which("Rscript"):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(spec, fh)
        rr = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "glmm_devfun.R"), fh.name], cwd=ROOT,
                            capture_output=True, text=True)
        Path(fh.name).unlink()
        if rr.returncode == 0:
            r_out = json.loads(rr.stdout.strip().splitlines()[-1])
        else:
            print("Rscript failed:", rr.stderr[-500:])
    print("| case | ours (lme4's deviance function) at our optimum | mixedlm's -2 log L as reported | lme4's "
          "function at mixedlm's estimates: ours / in R | exact-mode Laplace at our optimum | exact-mode "
          "Laplace at mixedlm's estimates |")
    print("|" + " --- |" * 6)
    for case, v in res.items():
        r = r_out.get(case, {})
        in_r = f"{r['devfun_at_mixedlm']:.7f}" if "devfun_at_mixedlm" in r else "-"
        print(f"| {case} | {v['ours_optimum']:.7f} | {v['mixedlm_reported']:.7f} | "
              f"{v['lme4way_at_mixedlm']:.7f} / {in_r} | {v['exact_at_ours']:.7f} | {v['exact_at_mixedlm']:.7f} |")
    print()
    for case, v in res.items():
        print(f"{case}: theta, beta (ours) {spec[case]['at']['ours']}; (mixedlm) {spec[case]['at']['mixedlm']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

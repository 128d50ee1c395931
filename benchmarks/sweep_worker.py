"""One tool on one shape, in a new process: ``python -m benchmarks.sweep_worker TOOL SHAPE VARIANT REPEATS BUDGET``.

TOOL is ``mixedmodels``, ``mixedlm`` or ``statsmodels``. VARIANT (mixedmodels only) is ``default`` (the
package's defaults), ``one`` (the parent sets OPENBLAS/OMP/MKL_NUM_THREADS=1) or ``all``
(``mm.set_threads(cores)``: every BLAS pool at the library default, as before the package limited them).
Prints one JSON line: the first fit of the process (after the package is loaded: ``load_s``), then the best
of up to REPEATS warm fits (fewer when they would exceed BUDGET / 2 seconds), wall and CPU time,
evaluations, the criterion reached (REML), the number of variance parameters (``ntheta``), the evaluation
path the fit took, and the process's peak resident memory.

``default`` also measures the thread ratio within the process (``paired``): fits at the defaults and fits
at one thread (the environment's ``OPENBLAS/OMP/MKL_NUM_THREADS=1`` as the package reads it, and every
pool at one thread through a ``threadpoolctl`` scope) alternate, the best CPU and wall time of each is
kept, so that what differs between processes (memory layout, a neighbour's load) cancels.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import warnings
from contextlib import contextmanager

from benchmarks.procs import rss_kb


def evaluation_path(fit) -> str:
    """Which evaluation path the fit ran: asked of the fit when it records it, else read off its
    criterion (compiled small-model evaluator, level-by-level kernel, dense or sparse NumPy blocks)."""
    for holder in (getattr(fit, "optsummary", None), getattr(fit, "optinfo", None)):
        for attr in ("path", "evaluator", "evaluation_path"):
            v = getattr(holder, attr, None)
            if isinstance(v, str):
                return v
    crit = fit.model.criterion(fit.reml)
    if getattr(crit, "_small", None):
        return "compiled small"
    if getattr(crit, "_blocks", None) is not None:
        return "level kernel"
    if getattr(crit, "_dense", False):
        return "dense NumPy"
    return "sparse"


def fixed_part(formula: str) -> tuple[str, str]:
    """(response, fixed-effects right-hand side) of an lme4 formula: the ``(... | g)`` terms removed."""
    lhs, rhs = formula.split("~", 1)
    fixed = re.sub(r"\+?\s*\([^()]*\|[^()]*\)", "", rhs).strip().strip("+").strip() or "1"
    return lhs.strip(), fixed


def _timed(fit_once, repeats: int, budget: float, cpu: list | None = None):
    """Up to ``repeats`` fits (fewer past ``budget / 2`` seconds): their wall times, the last result; the
    process's CPU time of each fit (all its threads) goes to ``cpu`` when given."""
    times = []
    info = None
    spent = 0.0
    for _ in range(max(1, repeats)):
        c0 = time.process_time()
        t0 = time.perf_counter()
        info = fit_once()
        dt = time.perf_counter() - t0
        if cpu is not None:
            cpu.append(time.process_time() - c0)
        times.append(dt)
        spent += dt
        if spent > budget / 2:
            break
    return times, info


THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def one_thread():
    """Inside: the environment says one thread (the package then leaves the pools as they are) and every
    BLAS/OpenMP pool is at one thread (``threadpoolctl``); both restored on exit."""
    from threadpoolctl import threadpool_limits

    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    os.environ.update({v: "1" for v in THREAD_VARS})
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old


def paired_threads(fit_once, pairs: int, budget: float) -> dict:
    """Fits at the defaults and at one thread (:func:`one_thread`), alternating (default, one, one,
    default, ...) for ``pairs`` rounds (fewer past ``budget / 2`` seconds): the best CPU and wall time of
    each and their ratio (defaults over one thread)."""
    best = {"default": [float("inf"), float("inf")], "one": [float("inf"), float("inf")]}
    spent = 0.0
    for k in range(max(1, pairs)):
        for which in (("default", "one") if k % 2 == 0 else ("one", "default")):
            c0, t0 = time.process_time(), time.perf_counter()
            if which == "one":
                with one_thread():
                    fit_once()
            else:
                fit_once()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            best[which] = [min(best[which][0], dc), min(best[which][1], dt)]
            spent += dt
        if spent > budget / 2:
            break
    (dc, dw), (oc, ow) = best["default"], best["one"]
    return {"default_cpu": dc, "one_cpu": oc, "default_wall": dw, "one_wall": ow, "rounds": k + 1,
            "ratio_cpu": dc / oc if oc > 0 else None, "ratio_wall": dw / ow if ow > 0 else None}


def run_mixedmodels(shape, data, variant: str, repeats: int, budget: float) -> dict:
    t0 = time.perf_counter()
    import mixedmodels as mm

    lmer = mm.lmer  # loads the model's modules (numpy, scipy, the package)
    load_s = time.perf_counter() - t0
    if variant == "all":
        mm.set_threads(os.cpu_count() or 1)
    out = {}

    def fit_once():
        m = lmer(shape.formula, data)
        out["fit"] = m
        return m
    cpu: list[float] = []
    c0 = time.process_time()
    t0 = time.perf_counter()
    m = fit_once()
    first = time.perf_counter() - t0
    if first > budget / 2:  # a slow shape: the first fit is the measurement (no Numba on this path)
        times = [first]
        cpu = [time.process_time() - c0]
    else:
        times, m = _timed(fit_once, repeats, budget, cpu)
    opt = m.optinfo
    res = {"time": min(times), "times": times, "cpu": min(cpu), "first": first, "load_s": load_s,
           "feval": int(opt.feval), "ntheta": int(len(m.theta)),
           "objective": float(m.objective), "optimizer": opt.optimizer, "path": evaluation_path(m),
           "singular": bool(m.is_singular), "numba_loaded": "numba" in sys.modules}
    if variant == "default" and first <= budget / 4:
        res["paired"] = paired_threads(fit_once, max(2, repeats), budget)
    return res


def run_mixedlm(shape, data, variant: str, repeats: int, budget: float) -> dict:
    """mixedlm (PyPI, Rust backend): ``mixedlm.lmer`` on the shape's formula written as lme4 expands it
    (:func:`benchmarks.translate.mixedlm_formula`), timed as ours (first fit, then the best of up to
    ``repeats`` warm fits, wall and CPU), its ``REMLcrit()`` (the scale of ours) and its number of variance
    parameters. When the formula had to be rewritten, mixedlm first fits it as written once (``native``:
    its criterion and parameter count, or the error), to show what the written form gives; that is printed
    at once as a ``partial`` JSON line (kept by the parent if the timed fits run past the budget)."""
    t0 = time.perf_counter()
    import mixedlm

    from benchmarks.translate import mixedlm_formula

    load_s = time.perf_counter() - t0
    formula, changed = mixedlm_formula(shape.formula)
    res = {"formula": formula, "rewritten": changed}
    if changed:  # first, and printed at once: the parent keeps it if the timed fits run out of time
        try:
            c0, t0 = time.process_time(), time.perf_counter()
            nat = mixedlm.lmer(shape.formula, data)
            res["native"] = {"objective": float(nat.REMLcrit()), "ntheta": int(len(nat.getME("theta"))),
                             "feval": getattr(nat, "function_evals", None),
                             "time": time.perf_counter() - t0, "cpu": time.process_time() - c0}
        except Exception as exc:  # the written form is refused (e.g. ``^``): say so
            res["native"] = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(dict(res, partial=True)), flush=True)

    def fit_once():
        return mixedlm.lmer(formula, data)
    cpu: list[float] = []
    c0, t0 = time.process_time(), time.perf_counter()
    m = fit_once()
    first = time.perf_counter() - t0
    if first > budget / 2:
        times, cpu = [first], [time.process_time() - c0]
    else:
        times, m = _timed(fit_once, repeats, budget, cpu)
    feval = getattr(m, "function_evals", None)
    res.update({"time": min(times), "times": times, "cpu": min(cpu), "first": first, "load_s": load_s,
                "feval": int(feval) if feval is not None else None, "objective": float(m.REMLcrit()),
                "ntheta": int(len(m.getME("theta"))), "converged": bool(getattr(m, "converged", True))})
    return res


def run_statsmodels(shape, data, variant: str, repeats: int, budget: float) -> dict:
    """statsmodels' MixedLM: from the shape's own ``smf.mixedlm`` spelling when it has one, else (crossed
    factors) from the package's translation (``mixedmodels.interop.compare.to_mixedlm``: one group holding
    every row, a sparse variance component per term, built on our model matrices; building that MixedLM
    is timed, our model frame is not). A shape MixedLM cannot express gives ``not_expressible``."""
    spec = shape.statsmodels
    if spec is None:
        import mixedmodels as mm
        from mixedmodels.errors import MixedModelsError
        from mixedmodels.interop.compare import to_mixedlm

        ours = mm.LinearMixedModel(shape.formula, data)
        try:
            tr = to_mixedlm(ours)
        except MixedModelsError as exc:
            return {"not_expressible": str(exc)}

        def fit_once():
            return to_mixedlm(ours).model.fit(reml=True)
        how = tr.structure
    else:
        import statsmodels.formula.api as smf

        lhs, fixed = fixed_part(shape.formula)
        d = data.assign(_one=1) if spec.get("groups") is None else data
        groups = spec.get("groups") or "_one"
        re_formula = spec.get("re_formula", "1") if spec.get("groups") else "0"

        def fit_once():
            model = smf.mixedlm(f"{lhs} ~ {fixed}", d, groups=groups, re_formula=re_formula,
                                vc_formula=spec.get("vc"))
            return model.fit(reml=True)
        how = "formula"
    t0 = time.perf_counter()
    res = fit_once()
    first = time.perf_counter() - t0
    times, res = ([first], res) if first > budget / 2 else _timed(fit_once, repeats, budget)
    converged = bool(getattr(res, "converged", True))
    out = {"time": min(times), "times": times, "first": first, "feval": None,
           "objective": -2.0 * float(res.llf), "converged": converged, "how": how}
    if not converged:
        out["note"] = "MixedLM reported that its optimizer did not converge"
    return out


def main() -> None:
    from benchmarks.shapes import BY_NAME

    tool, name, variant, repeats, budget = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), \
        float(sys.argv[5])
    shape = BY_NAME[name]
    data = shape.load()
    run = {"mixedmodels": run_mixedmodels, "mixedlm": run_mixedlm, "statsmodels": run_statsmodels}[tool]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(shape, data, variant, repeats, budget)
    res.update({"tool": tool, "shape": name, "variant": variant, "n": len(data),
                "peak_mb": rss_kb("VmHWM") / 1024})
    print(json.dumps(res))


if __name__ == "__main__":
    main()

"""One tool on one case, in its own process: ``python -m benchmarks.worker TOOL CASE REPEATS``.

Prints one JSON line: warm time per fit (best of REPEATS after one warm-up fit), all times, objective
evaluations, objective reached (REML criterion), peak resident memory of the process (VmHWM) and the
resident memory before the data were loaded, so the fit's own footprint can be told apart.

For mixedmodels "warm" is the steady state of a process that fits many models: a process fits its first
twenty small models on the NumPy path and loads the compiled small-model evaluator (~0.3 s, once) at the
twenty-first, so the worker times REPEATS fits after the warm-up as they come (``early_time``, the NumPy
path on small models: what a script fitting a few models sees, with ``first``, the process's first fit),
then loads the compiled evaluator (:func:`mixedmodels.fit.smallfit.load_compiled`), fits once more and
times REPEATS fits (``time``).
"""

from __future__ import annotations

import json
import sys
import time
import warnings


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_mixedmodels(case, data):
    import mixedmodels as mm

    lmer = mm.lmer  # loads the model's modules (the package's import is lazy): not part of a fit

    def fit():
        m = lmer(case.formula, data)
        return {"objective": m.objective, "feval": m.optinfo.feval, "path": m.optinfo.path}
    return fit


def settle_mixedmodels():
    """The steady state of a process that fits many models: the compiled small-model evaluator loaded
    (a process loads it at its 21st small fit; the first twenty take the NumPy path)."""
    from mixedmodels.fit.smallfit import load_compiled

    load_compiled()


SETTLE = {"mixedmodels": settle_mixedmodels}


def run_mixedlm(case, data):
    import mixedlm

    from benchmarks.translate import mixedlm_formula

    formula, _ = mixedlm_formula(case.formula)  # `^` and `||` written out as lme4 expands them

    def fit():
        m = mixedlm.lmer(formula, data)
        feval = getattr(m, "function_evals", None)
        return {"objective": float(m.REMLcrit()) if callable(getattr(m, "REMLcrit", None)) else None,
                "feval": int(feval) if feval is not None else None}
    return fit


def run_statsmodels(case, data):
    import statsmodels.formula.api as smf

    spec = case.statsmodels
    lhs, rhs = case.formula.split("~", 1)
    fixed = "+".join(t for t in rhs.split("+") if "|" not in t) or "1"
    fixed = fixed.strip() or "1"

    def fit():
        kw = {}
        d = data
        if spec.get("groups") is None:
            d = data.assign(_one=1)
            groups = "_one"
        else:
            groups = spec["groups"]
        if spec.get("vc"):
            kw["vc_formula"] = {v: f"0 + C({v})" for v in spec["vc"]}
        re_formula = spec.get("re_formula")
        if spec.get("groups") is None:
            re_formula = "0"
        model = smf.mixedlm(f"{lhs.strip()} ~ {fixed}", d, groups=groups, re_formula=re_formula, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = model.fit(reml=True)
        return {"objective": -2.0 * float(res.llf), "feval": None}
    return fit


TOOLS = {"mixedmodels": run_mixedmodels, "mixedlm": run_mixedlm, "statsmodels": run_statsmodels}


def main() -> None:
    from benchmarks.cases import CASES

    tool, case_name, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    case = next(c for c in CASES if c.name == case_name)
    base = _rss_kb("VmRSS")
    data = case.load()
    fit = TOOLS[tool](case, data)
    extra = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        info = fit()  # warm-up (imports, JIT caches)
        first = time.perf_counter() - t0
        settle = SETTLE.get(tool)
        if settle is not None:
            # what a short script sees (before the one-time loads a long-running process makes), then
            # the steady state: the loads made and one more warm-up fit
            early = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                early_info = fit()
                early.append(time.perf_counter() - t0)
            if early_info.get("path") == "dense":  # a model the compiled small path may take
                settle()
            info = fit()
            extra = {"first": first, "early_time": min(early), "early_path": early_info.get("path")}
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            info = fit()
            times.append(time.perf_counter() - t0)
    print(json.dumps({"tool": tool, "case": case_name, "time": min(times), "times": times,
                      "feval": info["feval"], "objective": info["objective"], "path": info.get("path"),
                      **extra, "peak_mb": _rss_kb("VmHWM") / 1024, "base_mb": base / 1024, "n": len(data)}))


if __name__ == "__main__":
    main()

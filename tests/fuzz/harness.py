"""Fuzzing harness of the robustness rounds: random formulas, data frames of odd types, calls after the
fit and command lines, each run under a time limit; anything but a result or a package error
(``mixedmodels.MixedModelsError``, ``TypeError`` for a wrong keyword) is a finding.

Run from the repository root (not collected by pytest)::

    python -m tests.fuzz.harness --budget 60            # seconds of fuzzing, then a summary
    python -m tests.fuzz.harness --budget 600 --seed 7 --out findings.jsonl

Each finding is printed (and written to ``--out``) with the input that provoked it, so it can be replayed
and turned into a test. A case running longer than ``--case-timeout`` seconds is a finding too (bounded
work). Known-slow families can be skipped with ``--skip cli``.
"""

from __future__ import annotations

import argparse
import decimal
import fractions
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import mixedmodels as mm

# -------------------------------------------------------------------------------------------- formulas
NAMES = ["y", "x", "z", "g", "h", "f", "b", "`x`", "Days", "nope"]
FUNCS = ["log", "exp", "sqrt", "abs", "I", "factor", "poly", "ns", "bs", "cut", "scale", "offset", "pmin",
         "interaction", "relevel", "splines::ns", "stats::poly", "as.integer", "is.na", "mean", "round"]
NUMS = ["0", "1", "2", "-1", "1e6", "1e308", "Inf", "NaN", "NA", "0.5", "3L", "1e-320", "TRUE"]
OPS = [" + ", " - ", " * ", " / ", ":", " %in% ", "^", " | ", " || ", " == ", " > ", " & "]


def random_expr(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 3 or r < 0.35:
        return rng.choice(NAMES + NUMS)
    if r < 0.6:
        args = [random_expr(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.3:
            args.append(rng.choice(["df = ", "degree = ", "breaks = ", "levels = ", "ref = "])
                        + random_expr(rng, depth + 1))
        return f"{rng.choice(FUNCS)}({', '.join(args)})"
    if r < 0.85:
        return random_expr(rng, depth + 1) + rng.choice(OPS) + random_expr(rng, depth + 1)
    return "(" + random_expr(rng, depth + 1) + rng.choice(["", " | g", " || g", " | g/h"]) + ")"


def random_formula(rng: random.Random) -> str:
    text = f"{rng.choice(['y', 'log(y)', 'x', ''])} ~ {random_expr(rng)} + (1 | g)"
    if rng.random() < 0.2:  # cut short or mangled anywhere
        k = rng.randrange(len(text))
        text = text[:k] if rng.random() < 0.5 else text[:k] + rng.choice("()|,~`\"'$;[") + text[k:]
    if rng.random() < 0.05:  # long or deep
        text = rng.choice([f"y ~ {' + '.join(['x'] * rng.randint(100, 5000))} + (1 | g)",
                           "y ~ " + "(" * rng.randint(50, 3000) + "x" + ")" * rng.randint(50, 3000) + " + (1|g)",
                           "y ~ x + " + " + ".join(["(1 | g)"] * rng.randint(2, 400))])
    return text


# ------------------------------------------------------------------------------------------ data frames
def base_frame(rng: random.Random, n: int | None = None) -> pd.DataFrame:
    n = n or rng.choice([4, 12, 60, 200])
    g = np.arange(n) % max(2, n // rng.choice([2, 3, 6]))
    nr = np.random.default_rng(rng.randrange(2**32))
    x = nr.normal(size=n)
    return pd.DataFrame({"y": 1 + x + nr.normal(size=g.max() + 1)[g] + nr.normal(size=n), "x": x,
                         "z": nr.uniform(1, 5, n), "g": [f"g{k}" for k in g], "h": [f"h{k % 3}" for k in range(n)],
                         "f": nr.choice(["a", "b", "c"], n), "b": nr.random(n) > 0.5,
                         "Days": np.arange(n) % 10})


ODD_COLUMNS = {
    "decimal": lambda s: pd.Series([decimal.Decimal(repr(float(v))) for v in s], dtype=object),
    "fraction": lambda s: pd.Series([fractions.Fraction(float(v)).limit_denominator(1000) for v in s], dtype=object),
    "text": lambda s: s.astype(str),
    "category": lambda s: s.astype("category"),
    "period": lambda s: pd.Series(pd.period_range("2000-01", periods=len(s), freq="M")),
    "datetime": lambda s: pd.Series(pd.date_range("2000-01-01", periods=len(s))),
    "nullable": lambda s: pd.array(s.round().astype(int), dtype="Int64") if pd.api.types.is_numeric_dtype(s) else s,
    "nan": lambda s: s.where(np.arange(len(s)) % 3 != 0),
    "inf": lambda s: s.where(np.arange(len(s)) != 1, np.inf) if s.dtype != object else s,
    "huge": lambda s: s * 1e200 if s.dtype != object else s,
    "complex": lambda s: s + 0j if s.dtype != object else s,
    "mixed": lambda s: pd.Series([v if k % 2 else str(v) for k, v in enumerate(s)], dtype=object),
    "bytes": lambda s: pd.Series([str(v).encode() for v in s], dtype=object),
    "none": lambda s: pd.Series([None] * len(s), dtype=object),
}


def odd_frame(rng: random.Random) -> tuple[pd.DataFrame, str]:
    d = base_frame(rng)
    what = []
    for _ in range(rng.randint(1, 2)):
        col, kind = rng.choice(["y", "x", "z", "g", "Days"]), rng.choice(list(ODD_COLUMNS))
        try:
            d[col] = ODD_COLUMNS[kind](d[col])
        except (TypeError, ValueError, OverflowError):
            continue
        what.append(f"{col}:{kind}")
    if rng.random() < 0.1:
        d = pd.concat([d, pd.DataFrame(np.zeros((len(d), rng.choice([1000, 20000]))))
                      .rename(columns=lambda c: f"w{c}")], axis=1)
        what.append("wide")
    return d, ",".join(what)


# --------------------------------------------------------------------------------------------- the cases
FORMULAS_OK = ["y ~ x + (1 | g)", "y ~ x + f + (x | g)", "y ~ Days + (1 | g) + (1 | h)", "y ~ z + (x || g)"]


def case_formula(rng):
    text = random_formula(rng)
    return {"family": "formula", "formula": text}, lambda: mm.lmer(text, base_frame(rng, 60))


def case_data(rng):
    d, what = odd_frame(rng)
    formula = rng.choice(FORMULAS_OK)
    reml = rng.random() < 0.7

    def run():
        m = mm.lmer(formula, d, REML=reml)
        m.summary()
        m.predict(d.iloc[: rng.randint(0, 5)])
        return m
    return {"family": "data", "formula": formula, "columns": what, "REML": reml}, run


AFTER = [
    ("predict", lambda m, d, r: m.predict(d.assign(g=[f"new{k}" for k in range(len(d))]), allow_new_levels=r.random() < .5)),
    ("predict-odd", lambda m, d, r: m.predict(odd_frame(r)[0])),
    ("simulate", lambda m, d, r: m.simulate(nsim=r.choice([1, 2, 10**4, 10**7, 2.5, -1, "3"]), seed=r.choice([None, 1, -1, 2**70]))),
    ("update", lambda m, d, r: m.update(r.choice([". ~ . - x", ". ~ . + z", "~ .", "y ~ log(", ". ~ . + (1|h)"]),
                                       **r.choice([{}, {"REML": False}, {"bogus": 1}, {"maxiter": 0}]))),
    ("confint", lambda m, d, r: m.confint(method=r.choice(["Wald", "profile"]), level=r.choice([0.5, 0.95, 0.9999, 1.0, -1]), quiet=True)),
    ("start", lambda m, d, r: mm.lmer("y ~ x + (1 | g)", d, start=[r.choice([-1.0, 0.0, 1e300, np.nan, 5.0])],
                                      optimizer=r.choice(["auto", "gradient", "bobyqa"]))),
    ("anova", lambda m, d, r: m.anova(type=r.choice([1, 2, 3, 4]), ddf=r.choice(["Satterthwaite", "Kenward-Roger", "lme4", "x"]))),
    ("ranef", lambda m, d, r: m.ranef[r.choice(["g", "G", 0, None])]),
]


def case_after(rng):
    d = base_frame(rng, rng.choice([30, 60, 200]))
    formula = rng.choice(FORMULAS_OK[:2])
    name, call = rng.choice(AFTER)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = mm.lmer(formula, d)
        return call(m, d, rng)
    return {"family": "after", "formula": formula, "call": name}, run


def case_cli(rng):
    d = base_frame(rng, 60)
    kind = rng.choice(["ok", "semicolon", "tab-as-csv", "long-line", "many-fields", "empty", "binary", "bom",
                       "header-only", "latin1"])
    tmp = Path(tempfile.mkdtemp()) / "data.csv"
    if kind == "semicolon":
        d.to_csv(tmp, sep=";", index=False)
    elif kind == "tab-as-csv":
        d.to_csv(tmp, sep="\t", index=False)
    elif kind == "long-line":
        tmp.write_bytes(b"y,x,g\n1," + b"7" * rng.choice([10**5, 3 * 10**6]) + b",a\n")
    elif kind == "many-fields":
        tmp.write_bytes(b"y,x,g\n1,2,a" + b"," * rng.choice([10**3, 10**5]) + b"\n")
    elif kind == "empty":
        tmp.write_bytes(b"")
    elif kind == "binary":
        tmp.write_bytes(bytes(rng.randrange(256) for _ in range(5000)))
    elif kind == "bom":
        tmp.write_bytes(b"\xef\xbb\xbf" + d.to_csv(index=False).encode())
    elif kind == "header-only":
        tmp.write_text("y,x,g\n")
    elif kind == "latin1":
        tmp.write_bytes(d.assign(g=d["g"] + "\xe9").to_csv(index=False).encode("latin-1"))
    else:
        d.to_csv(tmp, index=False)
    formula = rng.choice([FORMULAS_OK[0], random_formula(rng)])

    def run():
        p = subprocess.run([sys.executable, "-m", "mixedmodels", "fit", formula, str(tmp)], capture_output=True,
                           text=True, timeout=60)
        if p.returncode not in (0, 2) or "Traceback" in p.stderr or (p.returncode == 2 and len(p.stderr.strip().splitlines()) != 1):
            raise AssertionError(f"exit {p.returncode}: {p.stderr.strip()[-500:]}")
        return p.returncode
    return {"family": "cli", "file": kind, "formula": formula}, run


FAMILIES = {"formula": case_formula, "data": case_data, "after": case_after, "cli": case_cli}


class CaseTimeout(BaseException):
    pass


def _alarm(signum, frame):
    raise CaseTimeout


def run_case(make, rng, timeout: float):
    desc, fn = make(rng)
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
        outcome = "ok"
    except CaseTimeout:
        outcome = f"TIMEOUT after {timeout:g} s"
    except (mm.MixedModelsError, TypeError) as exc:
        is_raw_type_error = type(exc) is TypeError and "unexpected keyword" not in str(exc) and \
            "unknown option" not in str(exc)
        outcome = f"FINDING raw TypeError: {exc}" if is_raw_type_error else "refused"
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - everything else is a finding
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        outcome = f"FINDING {type(exc).__name__}: {str(exc)[:300]} (at {Path(tb.filename).name}:{tb.lineno})"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    desc["seconds"] = round(time.perf_counter() - t0, 3)
    return desc, outcome


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.harness", description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=60, help="seconds of fuzzing (default 60)")
    ap.add_argument("--seed", type=int, default=None, help="the random seed (default: from the clock)")
    ap.add_argument("--case-timeout", type=float, default=20, help="seconds one case may take (default 20)")
    ap.add_argument("--skip", nargs="*", default=[], choices=list(FAMILIES), help="families to leave out")
    ap.add_argument("--out", help="write findings as JSON lines to this file")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    families = [f for f in FAMILIES if f not in args.skip]
    weights = {"formula": 4, "data": 3, "after": 3, "cli": 1}
    counts: dict[str, int] = {}
    findings = []
    stop = time.monotonic() + args.budget
    print(f"fuzzing for {args.budget:g} s, seed {seed}", flush=True)
    while time.monotonic() < stop:
        fam = rng.choices(families, [weights[f] for f in families])[0]
        case_seed = rng.randrange(2**32)
        desc, outcome = run_case(FAMILIES[fam], random.Random(case_seed), args.case_timeout)
        desc["case_seed"] = case_seed
        key = outcome.split(" ")[0]
        counts[key] = counts.get(key, 0) + 1
        if key in ("FINDING", "TIMEOUT"):
            findings.append({**desc, "outcome": outcome})
            shown = {k: (f"{v[:150]}... ({len(v):,} characters)" if isinstance(v, str) and len(v) > 200 else v)
                     for k, v in findings[-1].items()}
            print(json.dumps(shown, default=str), flush=True)
    print(f"{sum(counts.values())} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.out:
        with open(args.out, "w") as fh:
            for f in findings:
                fh.write(json.dumps(f, default=str) + "\n")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

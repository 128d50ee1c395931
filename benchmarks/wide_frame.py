"""Timing ``lmer`` on a wide frame: sleepstudy plus 50,000 columns the formula does not name.

    python -m benchmarks.wide_frame [--columns 50000] [--repeat 5]

Prints the best-of-``repeat`` time of the fit (model frame included) on the narrow frame and on the wide
one, and of ``predict`` and ``update`` on the wide one. Before the third robustness round the duplicate-
name check was quadratic in the number of columns: 8,000 columns took 1.6 s and 50,000 did not finish in
25 s; the cost of the unused columns is now one linear scan of their names.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import mixedmodels as mm

FORMULA = "Reaction ~ Days + (Days | Subject)"


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--columns", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    sleep = mm.datasets.load("sleepstudy")
    rng = np.random.default_rng(0)
    extra = pd.DataFrame(rng.normal(size=(len(sleep), args.columns)),
                         columns=[f"gene{i}" for i in range(args.columns)])
    wide = pd.concat([sleep, extra], axis=1)
    mm.lmer(FORMULA, sleep)  # warm-up (compiled kernels)
    narrow_t = best_of(lambda: mm.lmer(FORMULA, sleep), args.repeat)
    wide_t = best_of(lambda: mm.lmer(FORMULA, wide), args.repeat)
    m = mm.lmer(FORMULA, wide)
    pred_t = best_of(lambda: m.predict(wide.iloc[:10]), args.repeat)
    upd_t = best_of(lambda: m.update(". ~ . - Days"), args.repeat)
    print(f"| frame | columns | lmer (s) | predict 10 rows (s) | update (s) |")
    print(f"| --- | --- | --- | --- | --- |")
    print(f"| sleepstudy | {sleep.shape[1]} | {narrow_t:.4f} | | |")
    print(f"| sleepstudy + {args.columns:,} unused | {wide.shape[1]:,} | {wide_t:.4f} | {pred_t:.4f} | {upd_t:.4f} |")


if __name__ == "__main__":
    main()

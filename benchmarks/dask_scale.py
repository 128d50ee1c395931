"""Scale benchmark for ``mm.lmer`` on Dask DataFrames (issue 16).

    python -m benchmarks.dask_scale --rows 10_000_000 --users 100_000 --sites 500 --compare
    python -m benchmarks.dask_scale --rows 100_000_000 --users 1_000_000 --sites 500
    python -m benchmarks.dask_scale --crossed --rows 20_000_000 --users 200_000 --sites 5_000 --parquet crossed_parquet

The model is ``y ~ x1 + x2 + (1 + x1 | user) + (1 | site)`` (or, with ``--crossed``,
``y ~ x1 + (1 | a) + (1 | b)`` with two large crossed factors). The data are generated partition by
partition from a seed inside the workers (``dd.from_map``), never materialized in one process, unless
``--compare`` asks for the in-memory fit too (then the partitions are concatenated on the client, which
needs the memory of the whole frame). Prints one JSON line per run: times of the passes and of the
optimizer, peak resident memory of the client and of each worker, bytes of the reduced statistics.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import resource
import time

import numpy as np
import pandas as pd

ROWS_PER_PART = 1_000_000


@functools.lru_cache(maxsize=4)
def _effects(seed: int, users: int, sites: int, crossed: bool) -> tuple:
    """The random effects of every level, from a generator seeded by ``seed`` alone, so that they are the
    same in every partition without being stored anywhere (cached per worker process: every pass
    rebuilds the partitions)."""
    eff = np.random.default_rng([seed, 10**9])
    if crossed:
        return eff.normal(0, 1.0, users), eff.normal(0, 0.5, sites)
    return eff.normal(0, 1.0, users), eff.normal(0, 0.3, users), eff.normal(0, 0.5, sites)


def make_partition(k: int, rows: int, users: int, sites: int, seed: int, crossed: bool) -> pd.DataFrame:
    """Partition ``k``: its own generator seeded from (seed, k), so any partition can be rebuilt alone."""
    rng = np.random.default_rng([seed, k])
    if crossed:
        a = rng.integers(0, users, rows)
        b = rng.integers(0, sites, rows)
        ua, ub = _effects(seed, users, sites, True)
        x1 = rng.normal(size=rows)
        y = 1 + 0.5 * x1 + ua[a] + ub[b] + rng.normal(size=rows)
        return pd.DataFrame({"y": y, "x1": x1, "a": a, "b": b})
    user = rng.integers(0, users, rows)
    site = user % sites
    u0, u1, s0 = _effects(seed, users, sites, False)
    x1 = rng.normal(size=rows)
    x2 = rng.uniform(size=rows)
    y = 2 + 0.5 * x1 - 0.3 * x2 + u0[user] + u1[user] * x1 + s0[site] + rng.normal(size=rows)
    return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "user": user, "site": site})


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None) -> None:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import mixedmodels as mm
    from mixedmodels.dask.fit import DaskLinearMixedModel

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--sites", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="3GB")
    ap.add_argument("--compare", action="store_true", help="also fit in memory (needs the whole frame)")
    ap.add_argument("--crossed", action="store_true")
    ap.add_argument("--parquet", default=None, help="write the data to this folder, then fit from it")
    args = ap.parse_args(argv)

    nparts = max(1, -(-args.rows // ROWS_PER_PART))
    sizes = [ROWS_PER_PART] * (nparts - 1) + [args.rows - ROWS_PER_PART * (nparts - 1)]
    formula = "y ~ x1 + (1 | a) + (1 | b)" if args.crossed else "y ~ x1 + x2 + (1 + x1 | user) + (1 | site)"
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
           "rows": args.rows, "users": args.users, "sites": args.sites, "partitions": nparts,
           "workers": args.workers, "formula": formula}
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      memory_limit=args.memory_limit) as cluster, Client(cluster) as client:
        ddf = dd.from_map(make_partition, range(nparts), sizes, [args.users] * nparts, [args.sites] * nparts,
                          [args.seed] * nparts, [args.crossed] * nparts)
        if args.parquet:
            t = time.perf_counter()
            ddf.to_parquet(args.parquet, write_index=False, overwrite=True)
            out["parquet_write_s"] = round(time.perf_counter() - t, 1)
            ddf = dd.read_parquet(args.parquet)
        t = time.perf_counter()
        model = DaskLinearMixedModel(formula, ddf)
        out["passes_s"] = round(time.perf_counter() - t, 1)
        out["pass_s"] = {k: round(v, 1) for k, v in model.pass_seconds.items()}
        t = time.perf_counter()
        fit = model.fit("REML")
        out["optimizer_s"] = round(time.perf_counter() - t, 1)
        out["dask_total_s"] = round(out["passes_s"] + out["optimizer_s"], 1)
        cp = model.cp
        out["stats_bytes"] = int(cp.A11.nbytes + cp.AR1.data.nbytes + cp.AR1.indices.nbytes
                                 + cp.AR1.indptr.nbytes + cp.ARR.nbytes)
        out["AR1_nnz"] = int(cp.AR1.nnz)
        out["objective"] = fit.objective
        out["theta"] = fit.theta.round(6).tolist()
        out["fixef"] = fit.fixef.round(6).tolist()
        t = time.perf_counter()
        fit.summary()  # the pass after the fit: exact quantiles of the scaled residuals (two passes)
        out["summary_s"] = round(time.perf_counter() - t, 1)
        out["worker_peak_mb"] = sorted(round(v, 0) for v in client.run(_rss_mb).values())
        if args.compare:
            t = time.perf_counter()
            pdf = ddf.compute()
            out["collect_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            m0 = mm.lmer(formula, pdf)
            out["memory_fit_s"] = round(time.perf_counter() - t, 1)
            out["memory_objective"] = m0.objective
            out["objective_rel_diff"] = abs(fit.objective / m0.objective - 1)
            out["fixef_max_rel_diff"] = float(np.max(np.abs(fit.fixef.to_numpy() / m0.fixef.to_numpy() - 1)))
    out["client_peak_mb"] = round(_rss_mb(), 0)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

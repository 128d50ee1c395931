"""The benchmark cases: bundled data sets and simulated designs (deterministic seeds)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

HERE = Path(__file__).parent


@dataclass
class Case:
    name: str
    formula: str
    load: Callable[[], pd.DataFrame]
    statsmodels: dict | None = None  # how to express it in statsmodels MixedLM, when it can be
    big: bool = False


def insteval() -> pd.DataFrame:
    """lme4's InstEval (73,421 course evaluations), bundled compressed."""
    levels = json.loads((HERE.parent / "mixedmodels" / "datasets" / "data" / "levels.json").read_text())["InstEval"]
    d = pd.read_csv(HERE / "data" / "InstEval.csv.gz")
    for col, lev in levels.items():
        d[col] = pd.Categorical(d[col].astype(str), categories=lev)
    d.attrs["name"] = "InstEval"
    return d


def sim_slopes(n: int = 200_000, g1: int = 5_000, g2: int = 300, seed: int = 1) -> pd.DataFrame:
    """y ~ x + (1 + x | g1) + (1 | g2): correlated random slopes on g1, a crossed intercept on g2."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, g1, n)
    b = rng.integers(0, g2, n)
    x = rng.normal(size=n)
    cov = np.array([[1.0, 0.3], [0.3, 0.5]])
    u = rng.multivariate_normal([0, 0], cov, size=g1)
    v = rng.normal(scale=0.7, size=g2)
    y = 2.0 + 0.5 * x + u[a, 0] + u[a, 1] * x + v[b] + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x": x, "g1": pd.Categorical.from_codes(a, [f"a{i}" for i in range(g1)]),
                      "g2": pd.Categorical.from_codes(b, [f"b{i}" for i in range(g2)])})
    d.attrs["name"] = "sim200k"
    return d


def sim_crossed(n: int = 1_000_000, users: int = 6_000, items: int = 4_000, seed: int = 2) -> pd.DataFrame:
    """A MovieLens-1M-like design: two crossed random intercepts, skewed activity and popularity."""
    rng = np.random.default_rng(seed)
    pu = rng.gamma(0.8, size=users)
    pi = rng.gamma(0.6, size=items)
    u = rng.choice(users, size=n, p=pu / pu.sum())
    i = rng.choice(items, size=n, p=pi / pi.sum())
    pairs = np.unique(u.astype(np.int64) * items + i)
    u, i = pairs // items, pairs % items
    m = len(pairs)
    y = 3.5 + rng.normal(scale=0.5, size=users)[u] + rng.normal(scale=0.4, size=items)[i] + rng.normal(size=m)
    d = pd.DataFrame({"y": y, "user": pd.Categorical.from_codes(u, [f"u{k}" for k in range(users)]),
                      "item": pd.Categorical.from_codes(i, [f"i{k}" for k in range(items)])})
    d.attrs["name"] = "sim1M"
    return d


def _dataset(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import mixedmodels as mm

        return mm.datasets.load(name)
    return load


CASES = [
    Case("sleepstudy", "Reaction ~ Days + (Days | Subject)", _dataset("sleepstudy"),
         {"groups": "Subject", "re_formula": "~Days"}),
    Case("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", _dataset("Penicillin"),
         {"groups": None, "vc": ["plate", "sample"]}),
    Case("pastes", "strength ~ 1 + (1 | batch/cask)", _dataset("Pastes"),
         {"groups": "batch", "re_formula": "1", "vc": ["cask"]}),
    Case("insteval", "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)", insteval, None, big=True),
    Case("sim200k", "y ~ x + (1 + x | g1) + (1 | g2)", sim_slopes, None, big=True),
    Case("sim1M", "y ~ 1 + (1 | user) + (1 | item)", sim_crossed, None, big=True),
]

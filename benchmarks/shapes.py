"""The model shapes of the sweep (``python -m benchmarks sweep``): what users fit, from 60 rows to 1M.

Each shape is a formula and a deterministic data generator (a bundled or exported data set, or a
simulation with a fixed seed). ``statsmodels`` says how to write the model in statsmodels' MixedLM
(one grouping factor, optionally with variance components nested in it), or None where it cannot be
written there (crossed factors).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from benchmarks.cases import insteval as _insteval

HERE = Path(__file__).parent
DATA = HERE / "data"


@dataclass
class Shape:
    name: str
    what: str                      # one line for the table
    formula: str
    load: Callable[[], pd.DataFrame]
    statsmodels: dict | None = None
    quick: bool = False            # part of --quick
    big: bool = False              # fewer timed repeats
    notes: list[str] = field(default_factory=list)


def _factor(codes: np.ndarray, prefix: str, n: int) -> pd.Categorical:
    return pd.Categorical.from_codes(codes, [f"{prefix}{i}" for i in range(n)])


def _r_levels(name: str, d: pd.DataFrame) -> pd.DataFrame:
    """Factor columns with the levels (and their order) R has for them (benchmarks/data/levels_r.json)."""
    levels = json.loads((DATA / "levels_r.json").read_text())[name]
    for col, lev in levels.items():
        d[col] = pd.Categorical(d[col].astype(str), categories=lev)
    d.attrs["name"] = name
    return d


def bundled(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import mixedmodels as mm

        return mm.datasets.load(name)
    return load


def ham() -> pd.DataFrame:
    """lmerTest's ham (81 consumers x 4 products x 2 information conditions; Informed.liking renamed
    liking), exported by benchmarks/data/export_r_data.R."""
    return _r_levels("ham", pd.read_csv(DATA / "ham.csv.gz"))


def verbagg() -> pd.DataFrame:
    """lme4's VerbAgg with y = (r2 == "Y") as a number (fitted as a linear model)."""
    return _r_levels("VerbAgg", pd.read_csv(DATA / "VerbAgg.csv.gz"))


def kb07(factor_valued: bool = False, seed: int = 7) -> pd.DataFrame:
    """A kb07-shaped design: 56 subjects x 32 items, every subject sees every item once, in one of the
    8 cells of a 2x2x2 design (Latin square); correlated random intercepts and slopes for both."""
    rng = np.random.default_rng(seed)
    nsubj, nitem = 56, 32
    subj = np.repeat(np.arange(nsubj), nitem)
    item = np.tile(np.arange(nitem), nsubj)
    cell = (subj + item) % 8
    s, p, l = ((cell >> k) & 1 for k in range(3))
    X = np.column_stack([np.ones(len(cell)), s - 0.5, p - 0.5, l - 0.5])

    def re(ngroups, sds, rho):
        cor = np.full((4, 4), rho)
        np.fill_diagonal(cor, 1.0)
        cov = np.outer(sds, sds) * cor
        return rng.multivariate_normal(np.zeros(4), cov, size=ngroups)
    bs = re(nsubj, np.array([0.30, 0.08, 0.05, 0.03]), 0.3)
    bi = re(nitem, np.array([0.20, 0.05, 0.10, 0.02]), -0.2)
    beta = np.array([7.5, 0.07, -0.05, 0.02])
    y = X @ beta + np.einsum("ij,ij->i", X, bs[subj]) + np.einsum("ij,ij->i", X, bi[item]) \
        + rng.normal(scale=0.5, size=len(cell))
    d = pd.DataFrame({"y": y, "subj": _factor(subj, "s", nsubj), "item": _factor(item, "i", nitem)})
    if factor_valued:
        for name, v in (("S", s), ("P", p), ("L", l)):
            d[name] = pd.Categorical.from_codes(v, ["a", "b"])
    else:
        d["s"], d["p"], d["l"] = X[:, 1], X[:, 2], X[:, 3]
    d.attrs["name"] = "kb07like"
    return d


def nested3(seed: int = 3) -> pd.DataFrame:
    """Pupils in classes in schools: 100 schools x 10 classes x 10 pupils, a slope varying by school."""
    rng = np.random.default_rng(seed)
    ns, nc, npup = 100, 10, 10
    school = np.repeat(np.arange(ns), nc * npup)
    klass = np.repeat(np.arange(ns * nc), npup)
    x = rng.normal(size=len(school))
    u = rng.multivariate_normal([0, 0], [[1.0, 0.2], [0.2, 0.3]], size=ns)
    v = rng.normal(scale=0.5, size=ns * nc)
    y = 1 + 0.5 * x + u[school, 0] + u[school, 1] * x + v[klass] + rng.normal(size=len(x))
    d = pd.DataFrame({"y": y, "x": x, "school": _factor(school, "s", ns),
                      "classroom": _factor(klass % nc, "c", nc)})
    d.attrs["name"] = "nested3"
    return d


def slopes20k(seed: int = 4) -> pd.DataFrame:
    """20,000 groups x 5 rows, correlated random intercept and two slopes."""
    rng = np.random.default_rng(seed)
    ng, per = 20_000, 5
    g = np.repeat(np.arange(ng), per)
    x, z = rng.normal(size=(2, len(g)))
    cov = np.array([[1.0, 0.3, -0.2], [0.3, 0.5, 0.1], [-0.2, 0.1, 0.4]])
    u = rng.multivariate_normal(np.zeros(3), cov, size=ng)
    y = 2 + 0.5 * x - 0.3 * z + u[g, 0] + u[g, 1] * x + u[g, 2] * z + rng.normal(size=len(g))
    d = pd.DataFrame({"y": y, "x": x, "z": z, "g": _factor(g, "g", ng)})
    d.attrs["name"] = "slopes20k"
    return d


def levels100k(seed: int = 5) -> pd.DataFrame:
    """One grouping factor with 100,000 levels, 10 rows each (1M rows)."""
    rng = np.random.default_rng(seed)
    ng, per = 100_000, 10
    g = np.repeat(np.arange(ng), per)
    x = rng.normal(size=len(g))
    y = 1 + 0.5 * x + rng.normal(scale=0.8, size=ng)[g] + rng.normal(size=len(g))
    d = pd.DataFrame({"y": y, "x": x, "g": _factor(g, "g", ng)})
    d.attrs["name"] = "levels100k"
    return d


def crossed30k(seed: int = 6) -> pd.DataFrame:
    """One huge factor (30,000 levels) crossed with a 500-level one, 300,000 rows."""
    rng = np.random.default_rng(seed)
    n, n1, n2 = 300_000, 30_000, 500
    a = rng.integers(0, n1, n)
    b = rng.integers(0, n2, n)
    x = rng.normal(size=n)
    y = 1 + 0.3 * x + rng.normal(scale=0.7, size=n1)[a] + rng.normal(scale=0.4, size=n2)[b] + rng.normal(size=n)
    d = pd.DataFrame({"y": y, "x": x, "g1": _factor(a, "a", n1), "g2": _factor(b, "b", n2)})
    d.attrs["name"] = "crossed30k"
    return d


def boundary(seed: int = 8) -> pd.DataFrame:
    """60 groups x 15 rows where the slope does not vary between groups: the fit is singular."""
    rng = np.random.default_rng(seed)
    ng, per = 60, 15
    g = np.repeat(np.arange(ng), per)
    x = rng.normal(size=len(g))
    y = 1 + 0.5 * x + rng.normal(scale=0.6, size=ng)[g] + rng.normal(size=len(g))
    d = pd.DataFrame({"y": y, "x": x, "g": _factor(g, "g", ng)})
    d.attrs["name"] = "boundary"
    return d


WIDE_P = 100


def wide100(seed: int = 9) -> pd.DataFrame:
    """100 numeric fixed-effect columns, 50,000 rows, a 500-level random intercept."""
    rng = np.random.default_rng(seed)
    n, ng = 50_000, 500
    X = rng.normal(size=(n, WIDE_P))
    g = rng.integers(0, ng, n)
    y = X @ rng.normal(scale=0.2, size=WIDE_P) + rng.normal(size=ng)[g] + rng.normal(size=n)
    d = pd.DataFrame(X, columns=[f"x{k}" for k in range(1, WIDE_P + 1)])
    d["y"] = y
    d["g"] = _factor(g, "g", ng)
    d.attrs["name"] = "wide100"
    return d


WIDE_FORMULA = "y ~ " + " + ".join(f"x{k}" for k in range(1, WIDE_P + 1)) + " + (1 | g)"

SHAPES = [
    Shape("sleepstudy", "sleepstudy, correlated slope", "Reaction ~ Days + (Days | Subject)",
          bundled("sleepstudy"), {"groups": "Subject", "re_formula": "~Days"}, quick=True),
    Shape("penicillin", "Penicillin, two crossed intercepts", "diameter ~ 1 + (1 | plate) + (1 | sample)",
          bundled("Penicillin"), {"groups": None, "vc": {"plate": "0 + C(plate)", "sample": "0 + C(sample)"}}),
    Shape("pastes", "Pastes, nested intercepts", "strength ~ 1 + (1 | batch/cask)", bundled("Pastes"),
          {"groups": "batch", "re_formula": "1", "vc": {"cask": "0 + C(cask)"}}),
    Shape("ham", "lmerTest's ham: mid-size crossed intercepts (405 levels, 648 rows)",
          "liking ~ Product*Information + (1 | Consumer) + (1 | Product:Consumer)", ham,
          {"groups": "Consumer", "re_formula": "1", "vc": {"pc": "0 + C(Product)"}}, quick=True),
    Shape("kb07_max", "kb07-shaped maximal model, 56 x 32 crossed, 4x4 covariances",
          "y ~ s*p*l + (1 + s + p + l | subj) + (1 + s + p + l | item)", kb07, None, quick=True),
    Shape("kb07_zcp_factor", "kb07-shaped, `||` over two-level factors (20 variance parameters)",
          "y ~ S*P*L + (1 + S + P + L || subj) + (1 + S + P + L || item)", lambda: kb07(True), None),
    Shape("nested3", "three-level nesting with a slope, 10,000 rows",
          "y ~ x + (1 + x | school) + (1 | school:classroom)", nested3,
          {"groups": "school", "re_formula": "~x", "vc": {"classroom": "0 + C(classroom)"}}),
    Shape("slopes20k", "20,000 groups x 5 rows, (1 + x + z | g)", "y ~ x + z + (1 + x + z | g)", slopes20k,
          {"groups": "g", "re_formula": "~x + z"}, big=True),
    Shape("levels100k", "one factor with 100,000 levels, 1M rows", "y ~ x + (1 | g)", levels100k,
          {"groups": "g", "re_formula": "1"}, big=True),
    Shape("crossed30k", "a 30,000-level factor crossed with a 500-level one, 300k rows",
          "y ~ x + (1 | g1) + (1 | g2)", crossed30k, None, big=True),
    Shape("boundary", "boundary (singular) fit: a slope with no variance, 900 rows",
          "y ~ x + (1 + x | g)", boundary, {"groups": "g", "re_formula": "~x"}),
    Shape("wide100", "100 fixed-effect columns, 50,000 rows, (1 | g)", WIDE_FORMULA, wide100,
          {"groups": "g", "re_formula": "1"}, big=True),
    Shape("insteval", "InstEval, three crossed intercepts, 73,421 rows",
          "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept)", _insteval, None, big=True),
    Shape("verbagg_lmm", "VerbAgg as a linear model, 7,584 rows, crossed",
          "y ~ (Anger + Gender + btype + situ)^2 + (1 | id) + (1 | item)", verbagg, None, quick=True),
]

BY_NAME = {s.name: s for s in SHAPES}

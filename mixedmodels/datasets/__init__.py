"""Classic data sets bundled with mixedmodels, exported from R by ``tests/r/make_fixtures.R``.

``load(name)`` returns a new DataFrame each call, with factor columns as pandas Categoricals in R's level
order (recorded in ``data/levels.json``) and ``df.attrs["name"]`` set, so a summary prints
``Data: sleepstudy`` as R does.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import pandas as pd

from ..errors import DataError

__all__ = ["load", "names", "path"]

_DESCRIPTIONS = {
    "sleepstudy": "lme4: reaction times (ms) in a sleep-deprivation study, 18 subjects x 10 days",
    "Dyestuff": "lme4: yield of dyestuff from 6 batches of an intermediate product, 5 preparations each",
    "Dyestuff2": "lme4: simulated data like Dyestuff, for which the batch variance estimate is zero",
    "Penicillin": "lme4: penicillin assay, 24 plates x 6 samples (crossed random effects)",
    "Pastes": "lme4: paste strength, 10 batches x 3 casks (nested random effects)",
    "Oats": "nlme: split-plot oats field trial, 6 blocks x 3 varieties x 4 nitrogen levels",
    "Orthodont": "nlme: orthodontic growth, 27 children measured at ages 8, 10, 12 and 14",
    "cbpp": "lme4: contagious bovine pleuropneumonia, new cases per herd (15 herds) in 4 periods",
    "grouseticks": "lme4: ticks counted on red grouse chicks, by brood, location and year",
    "VerbAgg": "lme4: verbal aggression item responses, 316 persons x 24 items",
    "Contraception": "mlmRev: contraceptive use of 1934 women in 60 districts of Bangladesh (1988)",
}


@lru_cache(maxsize=1)
def _levels() -> dict:
    text = resources.files(__package__).joinpath("data", "levels.json").read_text()
    return json.loads(text)


def names() -> list[str]:
    """Names of the bundled data sets."""
    return sorted(_DESCRIPTIONS)


def describe(name: str) -> str:
    """One line about a bundled data set."""
    return _DESCRIPTIONS[_resolve(name)]


def _resolve(name: str) -> str:
    lookup = {n.lower(): n for n in _DESCRIPTIONS}
    if not isinstance(name, str) or name.lower() not in lookup:
        raise DataError(f"no bundled data set named {name!r}; available: {', '.join(names())}")
    return lookup[name.lower()]


def path(name: str) -> str:
    """The file of a bundled data set (a CSV written by R's ``write.csv``), e.g. to read it as R reads
    it: ``mm.read_csv(mm.datasets.path("sleepstudy"))``."""
    return str(resources.files(__package__).joinpath("data", f"{_resolve(name)}.csv"))


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set by name (case-insensitive), e.g. ``load("sleepstudy")``."""
    key = _resolve(name)
    with resources.files(__package__).joinpath("data", f"{key}.csv").open("r") as fh:
        df = pd.read_csv(fh)
    for col, levels in _levels().get(key, {}).items():
        if col in df.columns:
            df[col] = pd.Categorical(df[col].astype(str), categories=levels)
    df.attrs["name"] = key
    return df

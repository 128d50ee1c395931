import json
import os
import re
import warnings
from pathlib import Path

import pytest
from hypothesis import settings

import mixedmodels as mm

# Property-based tests explore the same examples on every run (CI must not depend on luck); set
# HYPOTHESIS_PROFILE=explore to search afresh.
settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict:
    with open(FIXTURES / name, encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def lme4_models() -> dict:
    """Reference fits written by tests/r/make_fixtures.R (R 4.2.2, lme4 1.1.31)."""
    return load_fixture("lme4_models.json")


# One cache of fitted models for the whole test session (as MixedModels.jl's test model cache): every
# module that needs lmer(formula, data, REML) asks `fitted` and gets the same fit.

_FITTED: dict = {}
_LME4_IDS: dict | None = None


def fitted(model: str, dataset: str | None = None, REML: bool = True, *, data=None, **lmer_kwargs):
    """``mm.lmer(model, data, REML=REML, **lmer_kwargs)``, fitted once per test session and shared.

    ``model`` is a formula, or with no ``dataset`` the id of a reference model of lme4_models.json
    (``fitted("sleepstudy_slope_reml")``). ``dataset`` names a bundled data set (``mm.datasets.load``)
    or, with ``data`` (a DataFrame, or a function returning one, called on the first request only), is
    the label under which that data is cached: one label, one data set. The fit's warnings are not
    shown (a test of warnings fits its own model), and the fit is shared: a test must not modify it.
    """
    global _LME4_IDS
    if dataset is None:
        if _LME4_IDS is None:
            _LME4_IDS = {m["id"]: m for m in load_fixture("lme4_models.json")["models"]}
        spec = _LME4_IDS[model]
        model, dataset, REML = spec["formula"], spec["dataset"], spec["REML"]
    key = (model, dataset, bool(REML), tuple(sorted(lmer_kwargs.items())))
    if key not in _FITTED:
        frame = data() if callable(data) else data
        if frame is None:
            frame = mm.datasets.load(dataset)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITTED[key] = mm.lmer(model, frame, REML=bool(REML), **lmer_kwargs)
    return _FITTED[key]


# Text comparison helpers shared by the printing tests.

_NUM = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?")

def strip_control(text: str) -> list[str]:
    out, skip = [], False
    for line in text.split("\n"):
        if line.startswith("Control: "):
            skip = True
            continue
        if skip and line.startswith("    "):
            continue
        skip = False
        out.append(line)
    return out


def _same_lines(a: list[str], b: list[str], numbers_ok) -> bool:
    """Line by line equality, where two lines that differ only in numbers pass when ``numbers_ok(x, y,
    unit)`` accepts every differing pair of printed numbers (``unit``: one in x's last printed digit)."""
    if len(a) != len(b):
        return False
    for la, lb in zip(a, b):
        if la == lb:
            continue
        if _NUM.sub("#", la) != _NUM.sub("#", lb):
            return False
        for x, y in zip(_NUM.findall(la), _NUM.findall(lb)):
            if x == y:
                continue
            decimals = len(x.split(".")[1]) if "." in x else 0
            if len(x) != len(y) or "e" in x or not numbers_ok(float(x), float(y), 10.0 ** -decimals):
                return False
    return True


def same_up_to_last_digit(a: list[str], b: list[str], units: float = 1.0) -> bool:
    return _same_lines(a, b, lambda x, y, unit: abs(x - y) <= (units + 0.01) * unit)


def same_up_to_ties(a: list[str], b: list[str], values) -> bool:
    """Line by line equality, except that a printed number may differ by one unit of its last digit where
    one of ``values`` (the unrounded numbers behind the text) lies on the rounding tie between the two
    printings to 1e-12 relative: balanced designs give exact ties (Orthodont's intercept 16.340625), whose
    last binary digit, and so R's printing, depends on the BLAS's summation order."""
    import numpy as np

    vals = [abs(float(v)) for v in np.ravel(np.asarray(values, dtype=float)) if np.isfinite(v)]

    def at_tie(x, y, unit):
        mid = abs(x + y) / 2
        return (abs(abs(x - y) - unit) <= 1e-9 * unit
                and any(abs(v - mid) <= 1e-12 * mid for v in vals))

    return _same_lines(a, b, at_tie)

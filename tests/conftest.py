import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import settings

# Property-based tests explore the same examples on every run (CI must not depend on luck); set
# HYPOTHESIS_PROFILE=explore to search afresh.
settings.register_profile("deterministic", derandomize=True, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict:
    with open(FIXTURES / name) as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def lme4_models() -> dict:
    """Reference fits written by tests/r/make_fixtures.R (R 4.2.2, lme4 1.1.31)."""
    return load_fixture("lme4_models.json")


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


def same_up_to_last_digit(a: list[str], b: list[str], units: float = 1.0) -> bool:
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
            if len(x) != len(y) or "e" in x or abs(float(x) - float(y)) > (units + 0.01) * 10 ** -decimals:
                return False
    return True


def same_up_to_ties(a: list[str], b: list[str], values) -> bool:
    """Line by line equality, except that a printed number may differ by one unit of its last digit where
    one of ``values`` (the unrounded numbers behind the text) lies on the rounding tie between the two
    printings to 1e-12 relative: balanced designs give exact ties (Orthodont's intercept 16.340625), whose
    last binary digit, and so R's printing, depends on the BLAS's summation order."""
    import numpy as np

    vals = [abs(float(v)) for v in np.ravel(np.asarray(values, dtype=float)) if np.isfinite(v)]
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
            unit = 10.0 ** -decimals
            if len(x) != len(y) or "e" in x or abs(abs(float(x) - float(y)) - unit) > 1e-9 * unit:
                return False
            mid = abs(float(x) + float(y)) / 2
            if not any(abs(v - mid) <= 1e-12 * mid for v in vals):
                return False
    return True

import json
import os
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

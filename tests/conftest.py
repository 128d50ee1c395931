import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict:
    with open(FIXTURES / name) as fh:
        return json.load(fh)


@pytest.fixture(scope="session")
def lme4_models() -> dict:
    """Reference fits written by tests/r/make_fixtures.R (R 4.2.2, lme4 1.1.31)."""
    return load_fixture("lme4_models.json")

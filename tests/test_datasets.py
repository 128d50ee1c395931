import pandas as pd
import pytest

import mixedmodels as mm


@pytest.mark.parametrize("name, nrow", [("sleepstudy", 180), ("Dyestuff", 30), ("Dyestuff2", 30),
                                        ("Penicillin", 144), ("Pastes", 60), ("Oats", 72), ("Orthodont", 108)])
def test_load(name, nrow):
    df = mm.datasets.load(name)
    assert len(df) == nrow
    assert df.attrs["name"] == name
    assert name in mm.datasets.names()


def test_r_level_order():
    oats = mm.datasets.load("oats")  # case-insensitive
    # levels(nlme::Oats$Block) in R
    assert list(oats["Block"].cat.categories) == ["VI", "V", "III", "IV", "II", "I"]
    assert isinstance(oats["Variety"].dtype, pd.CategoricalDtype)


def test_each_load_is_a_fresh_copy():
    a = mm.datasets.load("sleepstudy")
    a["Reaction"] = 0.0
    assert mm.datasets.load("sleepstudy")["Reaction"].iloc[0] != 0.0


def test_unknown():
    with pytest.raises(mm.DataError, match="available"):
        mm.datasets.load("nope")

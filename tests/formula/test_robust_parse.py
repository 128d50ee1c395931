"""The parser on formulas cut short or very long (robustness, third round)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import mixedmodels as mm
from mixedmodels.formula.parse import deparse, deparse_lines, parse_formula

COMPLETE = ["y ~ log(x) + (1 | g)", "y ~ I(x^2) + poly(x, degree = 2) + (x || g)",
            "y ~ splines::ns(x, df = 3) + pmin(x, 2, na.rm = TRUE) + (1 | g/h)",
            "y ~ factor(f, levels = c(\"a\", \"b\")) * x - 1 + offset(log(x + 1))"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(COMPLETE), st.data())
def test_every_prefix_of_a_formula_is_parsed_or_a_formula_error(text, data):
    """A formula cut anywhere (as 'y ~ log(' or 'y ~ log(x,', found by random generation) is parsed or
    refused with a FormulaError; never a raw IndexError."""
    cut = data.draw(st.integers(1, len(text)))
    try:
        parse_formula(text[:cut])
    except mm.FormulaError:
        pass


@pytest.mark.parametrize("text", ["y ~ log(", "y ~ log(x,", "y ~ I(", "y ~ f(a = 1,", "y ~ splines::ns("])
def test_formula_ending_inside_a_call(text):
    with pytest.raises(mm.FormulaError, match="ends inside the call"):
        parse_formula(text)


def test_long_sums_are_not_too_deep():
    """A flat sum of 2,500 terms is a formula like any other (it was refused as "nested too deeply"),
    and is deparsed as R deparses the left-nested sum."""
    text = "y ~ " + " + ".join(f"x{i}" for i in range(2500)) + " + (1 | g)"
    f = parse_formula(text)
    assert deparse(f.rhs) == text[4:]
    short = parse_formula("y ~ " + " + ".join(f"x{i}" for i in range(100)) + " - 1")
    lines = deparse_lines(short.rhs)
    # R 4.2.2: deparse(quote(x0 + x1 + ... + x99 - 1)) breaks after 60 characters, indenting by 4
    assert lines[0] == "x0 + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + x11 + "
    assert lines[1].startswith("    x12 + x13") and lines[-1].endswith("x99 - 1")
    assert "".join(line.strip() + " " for line in lines).split() == \
        " ".join(f"x{i} +" for i in range(100)).replace("x99 +", "x99 - 1").split()


def test_long_sum_fits():
    d = mm.datasets.load("sleepstudy")
    a = mm.lmer("Reaction ~ Days + (1 | Subject)", d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = mm.lmer("Reaction ~ " + " + ".join(["Days"] * 2500) + " + (1 | Subject)", d)
    assert list(b.fixef.index) == ["(Intercept)", "Days"]
    assert b.objective == pytest.approx(a.objective, abs=1e-8)


def test_deep_nesting_is_still_refused():
    with pytest.raises(mm.FormulaError, match="nested too deeply"):
        parse_formula("y ~ " + "(" * 5000 + "x" + ")" * 5000)


def test_cut_limit_message_is_true():
    """cut(x, 1e6) was refused with "beyond ... (at most 1,000,000)"; the message states the limit that
    applies (100 intervals per row)."""
    d = mm.datasets.load("sleepstudy")
    with pytest.raises(mm.FormulaError, match=r"at most 18,000 intervals .*180 rows"):
        mm.lmer("Reaction ~ cut(Days, 1e6) + (1 | Subject)", d)
    m = mm.lmer("Reaction ~ cut(Days, 3) + (1 | Subject)", d)
    assert "cut(Days, 3)(3,6]" in m.fixef.index

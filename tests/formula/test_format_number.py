"""R's ``as.character`` / ``deparse`` of a double (:func:`mixedmodels.formula.parse.format_r_number`), which
is R's ``formatReal`` with 15 significant digits, the one port in :mod:`mixedmodels.rbase.rformat`."""

import math

import pytest

from mixedmodels.formula.parse import format_r_number
from mixedmodels.rbase.rformat import format_num

# R 4.2.2: x <- c(-6402433659084887, 123456789012345678, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 1/3,
#   1e-15, 123456.7, 1e5, 1e15, -2.5, 0.2, 1234567.1, 1e-5, 0.0001); as.character(x)
#   (deparse(x) writes the same numbers)
X = [-6402433659084887.0, 123456789012345678.0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 1 / 3, 1e-15,
     123456.7, 1e5, 1e15, -2.5, 0.2, 1234567.1, 1e-5, 0.0001]
R_TEXT = ["-6402433659084887", "123456789012345680", "4.94065645841247e-324", "1.79769313486232e+308",
          "0.3", "0.333333333333333", "1e-15", "123456.7", "1e+05", "1e+15", "-2.5", "0.2", "1234567.1",
          "1e-05", "1e-04"]


@pytest.mark.parametrize("x, text", list(zip(X, R_TEXT)))
def test_as_character_of_a_double(x, text):
    assert format_r_number(x) == text
    assert format_r_number(x) == format_num([x], digits=15)[0]  # one port


def test_special_values():
    # R: as.character(c(NaN, Inf, -Inf, 0, -0)) -> "NaN" "Inf" "-Inf" "0" "0"
    assert [format_r_number(v) for v in (math.nan, math.inf, -math.inf, 0.0, -0.0)] == \
        ["NaN", "Inf", "-Inf", "0", "0"]

"""R's reserved words, written once (mixedmodels.rbase.rnames.R_RESERVED): make.names and the formula
deparser read the same list."""

from mixedmodels.formula.parse import parse_formula
from mixedmodels.rbase.rnames import R_RESERVED, R_RESERVED_CONSTANTS, make_names


def test_make_names_appends_a_dot_to_every_reserved_word():
    # R 4.2.2: make.names(c("NA_real_", "in", "NA", "x")) is "NA_real_." "in." "NA." "x"
    assert make_names(["NA_real_", "in", "NA", "x"]) == ["NA_real_.", "in.", "NA.", "x"]
    assert all(n.endswith(".") for n in make_names(sorted(R_RESERVED)))


def test_deparse_backquotes_reserved_symbols_and_writes_constants_bare():
    # R 4.2.2: deparse(y ~ NA_real_ + `NA_real_` + `NA` + NA + `in` + `x y`)
    f = parse_formula("y ~ NA_real_ + `NA_real_` + `NA` + NA + `in` + `x y`")
    assert f.deparse() == "y ~ NA_real_ + `NA_real_` + `NA` + NA + `in` + `x y`"
    assert R_RESERVED_CONSTANTS < R_RESERVED and "in" not in R_RESERVED_CONSTANTS

"""R's term algebra (formula/terms.py) against R 4.2.2's terms.formula.

Each expected value is R's ``attr(terms(~ RHS), "term.labels")`` and ``attr(terms(~ RHS), "intercept")``,
run as ``Rscript -e 't <- terms(~ (a+b+c)^2 - a:b); attr(t, "term.labels"); attr(t, "intercept")'``
and so on.
"""

import pytest

from mixedmodels.errors import FormulaError
from mixedmodels.formula.parse import parse_formula
from mixedmodels.formula.terms import expand_terms, term_labels

R_TERMS = [
    ("(a+b+c)^2 - a:b", ["a", "b", "c", "a:c", "b:c"], 1),
    ("a/b/c", ["a", "a:b", "a:b:c"], 1),
    ("(a+b)/c", ["a", "b", "a:b:c"], 1),
    ("a/(b+c)", ["a", "a:b", "a:c"], 1),
    ("a*b - 1", ["a", "b", "a:b"], 0),
    ("-1 + a*b", ["a", "b", "a:b"], 0),
    ("a - 1 + 1", ["a"], 1),
    ("a*b*c - a:b:c + 0", ["a", "b", "c", "a:b", "a:c", "b:c"], 0),
    ("(a+b)*(c+d)", ["a", "b", "c", "d", "a:c", "a:d", "b:c", "b:d"], 1),
    ("(a + b):(c + d)", ["a:c", "a:d", "b:c", "b:d"], 1),
    ("(a*b)^2", ["a", "b", "a:b"], 1),
    ("b + a:b", ["b", "b:a"], 1),
    ("c:a + b*a", ["b", "a", "c:a", "a:b"], 1),
    ("(a+b+c+d)^3 - (a+b)^2", ["c", "d", "a:c", "a:d", "b:c", "b:d", "c:d", "a:b:c", "a:b:d", "a:c:d", "b:c:d"], 1),
    ("a %in% (b+c)", ["a:b:c"], 1),
    ("(a+b) %in% c", ["a:c", "b:c"], 1),
    ("a*b %in% c", ["a", "b:c", "a:b:c"], 1),
    ("a:b %in% c * d", ["d", "a:b:c", "a:b:c:d"], 1),
]


@pytest.mark.parametrize("rhs,labels,intercept", R_TERMS, ids=[c[0] for c in R_TERMS])
def test_terms_as_r(rhs, labels, intercept):
    assert term_labels(parse_formula("~" + rhs).rhs) == (labels, bool(intercept))


def test_expand_terms_keys():
    assert expand_terms("1 + XqZ0Q * XqZ1Q") == [(), (0,), (1,), (0, 1)]
    assert expand_terms("0 + XqZ1Q : XqZ0Q + XqZ2Q") == [(2,), (0, 1)]
    assert expand_terms("(XqZ0Q + XqZ1Q + XqZ2Q) ** 2 - 1") == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]


@pytest.mark.parametrize("rhs", ["1 + XqZ0Q * -1", "1 + (-XqZ0Q) / XqZ0Q", "1 + 1 : XqZ0Q", "1 + (XqZ0Q",
                                 "1 + XqZ0Q ** XqZ1Q", "1 + XqZ0Q ; XqZ1Q"])
def test_expand_terms_refuses(rhs):
    with pytest.raises(FormulaError):
        expand_terms(rhs)


def test_last_intercept_literal_wins():
    """R: attr(terms(y ~ 0 + x + 1), "intercept") is 1, attr(terms(y ~ 1 + x + 0), "intercept") is 0."""
    assert expand_terms("0 + XqZ0Q + 1") == [(), (0,)]
    assert expand_terms("1 + XqZ0Q + 0") == [(0,)]

"""The formula parser, R's deparser and lme4's bar expansions."""

import pytest

from mixedmodels.errors import FormulaError
from mixedmodels.formula.parse import deparse, expand_bars, format_r_number, parse_formula, split_formula


@pytest.mark.parametrize("text, expected", [
    # deparse(<formula>) in R 4.2.2
    ("yield ~ factor(nitro)*Variety + (1|Block) + (1|Block:Variety)",
     "yield ~ factor(nitro) * Variety + (1 | Block) + (1 | Block:Variety)"),
    # lme4 prints (x || g) as expandDoubleVerts stores it
    ("Reaction ~ Days + (Days||Subject)", "Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))"),
    ("y ~ x + `weird name` + log(x, base = 2) + exp(x) - 0",
     "y ~ x + `weird name` + log(x, base = 2) + exp(x) - 0"),
    ("y~ 0.5*x + 1e-5 + 100000 + 1e5 + 123456789012", "y ~ 0.5 * x + 1e-05 + 1e+05 + 1e+05 + 123456789012"),
    ("distance ~ age*Sex + (age|Subject)", "distance ~ age * Sex + (age | Subject)"),
    ("~ x", "~x"),
    ("y ~ I(x>5) + I((x > 3)&(x < 9))", "y ~ I(x > 5) + I((x > 3) & (x < 9))"),
])
def test_deparse_like_r(text, expected):
    assert parse_formula(text).deparse() == expected


def test_deparse_line_breaks_like_r():
    # R: deparse(y ~ a/b + c*d - 1 + I(x^2) + (x||g) + poly(x, 2) + x %in% a + log(x, 2) + -1)
    # gives two lines: "y ~ a/b + c * d - 1 + I(x^2) + (x || g) + poly(x, 2) + x %in% " and
    # "    a + log(x, 2) + -1"; lme4's cat() joins them with one space.
    f = parse_formula("y ~ a/b + c*d - 1 + I(x^2) + (x||g) + poly(x, 2) + x %in% a + log(x, 2) + -1")
    assert f.deparse(expand_double_bars=False) == (
        "y ~ a/b + c * d - 1 + I(x^2) + (x || g) + poly(x, 2) + x %in% " + " " + "    a + log(x, 2) + -1")


@pytest.mark.parametrize("x, text", [(1.0, "1"), (0.2, "0.2"), (1e5, "1e+05"), (1e-5, "1e-05"),
                                     (123456789012.0, "123456789012"), (-2.5, "-2.5"), (1 / 3, "0.333333333333333")])
def test_format_r_number(x, text):
    assert format_r_number(x) == text


def test_precedence_matches_r():
    f = parse_formula("y ~ -1 + a:b^2")
    # unary minus binds looser than ^ and tighter than +; ':' looser than '^'
    assert deparse(f.rhs) == "-1 + a:b^2"
    rhs = f.rhs
    assert rhs.op == "+" and rhs.right.op == ":" and rhs.right.right.op == "^"


def bars_of(text):
    f = parse_formula(text)
    _, _, bars = split_formula(f)
    return [(deparse(b.expr), b.group_name) for b in expand_bars(bars, text)]


def test_bars_expansions():
    assert bars_of("y ~ x + (x | g)") == [("x", "g")]
    assert bars_of("y ~ (x || g)") == [("1", "g"), ("0 + x", "g")]
    assert bars_of("y ~ (0 + x + z || g)") == [("0 + x", "g"), ("0 + z", "g")]
    assert bars_of("y ~ (1 | a/b)") == [("1", "a"), ("1", "b:a")]
    # lme4 names the innermost factor c:(b:a) (its expandSlash nests the interaction)
    assert bars_of("y ~ (1 | a/b/c)") == [("1", "a"), ("1", "b:a"), ("1", "c:(b:a)")]
    assert bars_of("y ~ (1 | a:b) + (1 | c)") == [("1", "a:b"), ("1", "c")]


@pytest.mark.parametrize("text, fragment, caret_at", [
    ("y x", "missing an operator", 2),
    ("y ~ (x", "unbalanced", None),
    ("y ~ x)", "unbalanced", 5),
    ("y ~ (1|)", "empty random-effects term", 6),
    ("y ~ {x}", "unexpected character '{'", 4),
    ("y ~ x$a", "unexpected character '$'", 5),
    ("y ~ x.__class__", None, None),
    ("y ~ x + ", "ends after", None),
    ("y ~ x ~ z", "more than one", None),
    ("y + x", "needs a '~'", 0),
    ("", "empty", None),
])
def test_parse_errors(text, fragment, caret_at):
    if fragment is None:
        parse_formula(text)  # a legal R name (dots allowed); it fails later as an unknown column
        return
    with pytest.raises(FormulaError) as info:
        parse_formula(text)
    assert fragment in str(info.value)
    if caret_at is not None:
        assert info.value.start == caret_at
        caret_line = str(info.value).splitlines()[-1]
        assert caret_line.index("^") - 2 == caret_at


def test_bar_must_be_parenthesised_and_top_level():
    with pytest.raises(FormulaError, match="parentheses"):
        split_formula(parse_formula("y ~ x + (1 | g) + z | h"))
    # y ~ x + 1 | g is R's y ~ (x + 1 | g): accepted, with a warning saying how it is read
    with pytest.warns(SyntaxWarning, match="one random-effects term"):
        _, fixed, bars = split_formula(parse_formula("y ~ x + 1 | g"))
    assert fixed == [] and len(bars) == 1
    with pytest.raises(FormulaError, match="whole term"):
        split_formula(parse_formula("y ~ x * (1 | g)"))


def test_not_a_string():
    with pytest.raises(FormulaError):
        parse_formula(None)


def test_whole_right_hand_side_bar_and_comments():
    """lme4 fits `Yield ~ 1 | Batch` (the ?Dyestuff example): R's precedence makes the whole right-hand
    side one bar. `#` starts a comment, as in R code pasted with its comments."""
    import mixedmodels as mm
    from mixedmodels.post.updating import update_formula

    d = mm.datasets.load("Dyestuff")
    a = mm.lmer("Yield ~ 1 | Batch", d)
    b = mm.lmer("Yield ~ 1 + (1 | Batch)", d)
    assert a.objective == pytest.approx(b.objective, abs=1e-10)
    assert "Formula: Yield ~ 1 | Batch" in str(a.summary())
    c = mm.lmer("Yield ~ 1 +   # the grand mean\n  (1 | Batch)  # and batches", d)
    assert c.objective == pytest.approx(b.objective, abs=1e-10)
    assert update_formula("Yield ~ 1 | Batch", ". ~ . + x") == "Yield ~ (1 | Batch) + x"

"""R's term algebra on formula syntax trees: a right-hand side rewritten with one placeholder per variable
(:func:`compile_term`, :func:`compile_fixed_part`), expanded into R's terms (:func:`expand_terms`:
``*``, ``/``, ``^``, ``%in%``, ``-``; terms ordered by degree as R's ``terms.formula``), and
:class:`TermAlgebra`, the algebra on deparsed labels alone that R's ``update.formula`` and ``drop.scope``
use.

A *variable table* is any object with ``add(node) -> int`` (the index of the variable, by its deparsed
text): the model frame's table evaluates the variable on the data
(:mod:`mixedmodels.frame.design`), :class:`TermAlgebra` only numbers the labels. A table with
``bars_are_variables = True`` takes a random-effects term ``(x | g)`` as one more variable.
"""

from __future__ import annotations

import math
import re

from ..errors import FormulaError
from .parse import BinOp, Call, Node, Num, Paren, UnaryOp, deparse

__all__ = ["PLACEHOLDER", "MAX_TERMS", "compile_term", "compile_fixed_part", "expand_terms", "TermAlgebra",
           "term_labels"]

PLACEHOLDER = "XqZ{}Q"  # placeholder variable names handed to formulaic's term algebra (never user-visible)
_PH = PLACEHOLDER
_PH_RE = re.compile(r"XqZ(\d+)Q")


def compile_term(node: Node, vt, used: set[int], text: str) -> str:
    """Rewrite a fixed-effects expression for formulaic's term algebra, each variable by a placeholder.
    A table with ``bars_are_variables`` (R's update(): :class:`TermAlgebra`) takes a
    random-effects term ``(x | g)`` as one more variable."""
    if getattr(vt, "bars_are_variables", False):
        inner = node.expr if isinstance(node, Paren) else node
        if isinstance(inner, BinOp) and inner.op in ("|", "||"):
            i = vt.add(Paren(expr=inner))
            used.add(i)
            return _PH.format(i)
    if isinstance(node, Paren):
        return "(" + compile_term(node.expr, vt, used, text) + ")"
    if isinstance(node, Num):
        if node.value in (0.0, 1.0):
            return str(int(node.value))
        raise FormulaError("a number other than 0 or 1 cannot be a term; wrap arithmetic in I()",
                           text, node.start, node.end)
    if isinstance(node, UnaryOp):
        if node.op == "-":
            return "-" + compile_term(node.operand, vt, used, text)
        if node.op == "+":
            return compile_term(node.operand, vt, used, text)
        if node.op == "!":  # a logical variable, as in R ('!b' is the term, 'y ~ !b' a column '!bTRUE')
            i = vt.add(node)
            used.add(i)
            return _PH.format(i)
        raise FormulaError(f"unexpected {node.op!r}", text, node.start, node.end)
    if isinstance(node, BinOp):
        if node.op in ("+", "-", "*", "/", ":"):
            return (compile_term(node.left, vt, used, text) + f" {node.op} "
                    + compile_term(node.right, vt, used, text))
        if node.op == "%in%":
            return (compile_term(node.left, vt, used, text) + " : "
                    + compile_term(node.right, vt, used, text))
        if node.op in ("==", "!=", "<", ">", "<=", ">=", "&"):  # a logical variable, as in R
            i = vt.add(node)
            used.add(i)
            return _PH.format(i)
        if node.op == "^":
            right = node.right
            while isinstance(right, Paren):
                right = right.expr
            if not isinstance(right, Num) or right.value != int(right.value) or right.value < 1:
                raise FormulaError("in a formula, '^' needs a positive whole number on its right "
                                   "(for powers of a variable write I(x^2))", text, node.start, node.end)
            left = compile_term(node.left, vt, used, text)
            return f"({left}) ** {_capped_power(left, int(right.value), text, node)}"
        raise FormulaError(f"the operator {node.op!r} is not a formula operator here", text,
                           node.start, node.end)
    if isinstance(node, Call) and node.func == "offset":
        raise FormulaError("offset() must be a term of its own, e.g. 'y ~ x + offset(z)'", text,
                           node.start, node.end)
    i = vt.add(node)
    used.add(i)
    return _PH.format(i)


MAX_TERMS = 4_096  # far beyond any model a mixed-model fit can use


def _capped_power(left: str, k: int, text: str, node) -> int:
    """``(a + b + c)^k``: beyond the number of variables every k gives the full interaction, so k is
    capped there; an expansion beyond MAX_TERMS terms is refused (it would exhaust memory)."""
    count = max(1, len(set(_PH_RE.findall(left))))
    k = min(k, count)
    if sum(math.comb(count, i) for i in range(1, k + 1)) > MAX_TERMS:
        raise FormulaError(f"this power expands to more than {MAX_TERMS:,} terms", text, node.start, node.end)
    return k


def compile_fixed_part(fixed: list[Node], vt, text: str, used: set[int] | None = None
                       ) -> tuple[str, list[Call]]:
    """The fixed-effects summands (from :func:`mixedmodels.formula.parse.split_formula`) as a right-hand side
    for formulaic's term algebra, each variable through ``vt``; and the ``offset(...)`` calls apart, each
    distinct one once (R: the same offset twice is one variable of the model frame)."""
    used = set() if used is None else used
    pieces: list[str] = []
    offsets: list[Call] = []
    seen: set[str] = set()
    for node in fixed:
        inner = node.operand if isinstance(node, UnaryOp) and node.op == "-" else node
        if isinstance(inner, Call) and inner.func == "offset":
            if inner is not node:
                raise FormulaError("an offset cannot be subtracted", text, node.start, node.end)
            if len(inner.args) != 1 or inner.kwargs:
                raise FormulaError("offset() takes one argument", text, inner.start, inner.end)
            if deparse(inner) not in seen:
                seen.add(deparse(inner))
                offsets.append(inner)
            continue
        pieces.append(compile_term(node, vt, used, text))
    return (" + ".join(pieces) if pieces else "1").replace("+ -", "-"), offsets




def expand_terms(rhs: str) -> list[tuple[int, ...]]:
    """R's terms of a right-hand side: formulaic expands the algebra (``*``, ``/``, ``^``, ``-``); each
    term's variables are put in R's order (first appearance), duplicates removed; ``()`` is the
    intercept. Terms come ordered by degree, in order of appearance within a degree (R's ``terms``)."""
    simple = _simple_terms(rhs)
    if simple is not None:
        return simple
    from formulaic import Formula

    out: list[tuple[int, ...]] = []
    try:
        expanded = list(Formula(rhs))
    except RecursionError:
        raise FormulaError("the formula is nested too deeply to expand") from None
    except Exception as exc:  # formulaic's own errors on algebra R would reject too
        reason = _PH_RE.sub("x", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise FormulaError(f"cannot expand the terms of the formula ({reason})") from None
    for term in expanded:
        names = [str(f) for f in term.factors]
        if names == ["1"]:
            key: tuple[int, ...] = ()
        else:
            matches = [_PH_RE.fullmatch(nm) for nm in names]
            if not all(matches):
                raise FormulaError("a number inside an interaction (such as '1:x') is not a term R's "
                                   "formulas can have")
            key = tuple(sorted(int(m.group(1)) for m in matches))
        if key not in out:
            out.append(key)
    intercept = [t for t in out if t == ()]
    rest = sorted((t for t in out if t != ()), key=len)  # stable: appearance order within a degree
    return intercept + rest


_SIMPLE_PIECE = re.compile(r"^(?:0|1|XqZ\d+Q)$")


def _simple_terms(rhs: str) -> list[tuple[int, ...]] | None:
    """The terms of a plain sum of main effects (``1 + a + b``, ``0 + a``) without formulaic's parser;
    ``None`` for anything with an operator other than ``+`` (formulaic then does the algebra)."""
    pieces = [p.strip() for p in rhs.split(" + ")]
    if not all(_SIMPLE_PIECE.match(p) for p in pieces):
        return None
    intercept = "0" not in pieces
    out: list[tuple[int, ...]] = [()] if intercept else []
    for p in pieces:
        if p.startswith("XqZ"):
            key = (int(p[3:-1]),)
            if key not in out:
                out.append(key)
    return out



class TermAlgebra:
    """Rewrites a right-hand side (without offsets) for the term algebra: each variable (a name, a call,
    a random-effects term) becomes a placeholder, numbered in order of first appearance (``atoms`` holds
    their deparsed labels)."""

    # random-effects terms are variables of this algebra (in a model formula they never reach it)
    bars_are_variables = True

    def __init__(self, text: str):
        self.text = text
        self.atoms: list[str] = []
        self.intercept = True

    def atom(self, label: str) -> str:
        if label not in self.atoms:
            self.atoms.append(label)
        return _PH.format(self.atoms.index(label))

    def add(self, node: Node) -> int:
        """The variable-table interface of :func:`compile_term`: a variable's index, by its deparsed text."""
        self.atom(deparse(node))
        return self.atoms.index(deparse(node))

    def compile(self, node: Node) -> str:
        """The right-hand side as a formulaic expression with an explicit intercept (``1 + ...`` or
        ``0 + ...``). The intercept is decided as R decides it -- the last ``1``, ``+1``, ``0`` or ``-1``
        added or subtracted anywhere in the sum wins, parentheses around a sum being only grouping --
        because formulaic's rule differs (any ``0`` removes it)."""
        self.intercept = True
        pieces: list[tuple[int, str]] = []
        self._sum(node, 1, pieces)
        out = "1" if self.intercept else "0"
        for sign, text in pieces:
            out += (" + " if sign > 0 else " - ") + text
        return out

    def _sum(self, node: Node, sign: int, pieces: list) -> None:
        if isinstance(node, Paren) and not (isinstance(node.expr, BinOp) and node.expr.op in ("|", "||")):
            self._sum(node.expr, sign, pieces)
        elif isinstance(node, BinOp) and node.op in ("+", "-"):
            self._sum(node.left, sign, pieces)
            self._sum(node.right, sign if node.op == "+" else -sign, pieces)
        elif isinstance(node, UnaryOp) and node.op in ("+", "-"):
            self._sum(node.operand, sign if node.op == "+" else -sign, pieces)
        elif isinstance(node, Num) and node.value in (0.0, 1.0):
            self.intercept = (node.value == 1.0) == (sign > 0)
        else:
            pieces.append((sign, compile_term(node, self, set(), self.text)))


def term_labels(node: Node, text: str = "") -> tuple[list[str], bool]:
    """R's ``attr(terms(~ rhs), "term.labels")`` of a right-hand side (without offsets) and whether it
    has an intercept."""
    alg = TermAlgebra(text)
    keys = expand_terms(alg.compile(node))
    return [":".join(alg.atoms[i] for i in k) for k in keys if k != ()], () in keys

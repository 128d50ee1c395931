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

PLACEHOLDER = "XqZ{}Q"  # placeholder variable names in a compiled right-hand side (never user-visible)
_PH = PLACEHOLDER
_PH_RE = re.compile(r"XqZ(\d+)Q")


def compile_term(node: Node, vt, used: set[int], text: str) -> str:
    """Rewrite a fixed-effects expression for the term algebra (:func:`expand_terms`), each variable by a
    placeholder.
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
            return (compile_term(node.left, vt, used, text) + " %in% "
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
    for the term algebra, each variable through ``vt``; and the ``offset(...)`` calls apart, each
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
    """R's terms of a right-hand side compiled by :func:`compile_term` (placeholders, ``0``/``1``,
    ``+ - * / : **`` and parentheses): the term algebra expanded as R's ``terms.formula`` does it
    (:func:`_encode`, a port of ``EncodeVars`` in R's model.c), each term's variables in R's order (first
    appearance), duplicates removed, ``()`` the intercept first; the other terms ordered by degree, in
    order of appearance within a degree."""
    simple = _simple_terms(rhs)
    if simple is not None:
        return simple
    try:
        tokens = _tokenize(rhs)
        parser = _TermParser(tokens)
        tree = parser.sum()
        if parser.pos != len(tokens):
            raise FormulaError("cannot expand the terms of the formula (unexpected "
                               f"{_PH_RE.sub('x', str(tokens[parser.pos][1]))!r})")
        state = {"intercept": True}
        terms = _encode(tree, True, state)
    except RecursionError:
        raise FormulaError("the formula is nested too deeply to expand") from None
    keys = [tuple(sorted(t)) for t in terms]
    out = [()] if state["intercept"] else []
    return out + sorted(keys, key=len)  # stable: appearance order within a degree


_TOKEN_RE = re.compile(r"\s*(?:XqZ(\d+)Q|(\d+)|(\*\*|%in%|[-+*/:()]))")


def _tokenize(rhs: str) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    pos = 0
    rhs = rhs.rstrip()
    while pos < len(rhs):
        m = _TOKEN_RE.match(rhs, pos)
        if m is None:
            raise FormulaError(f"cannot expand the terms of the formula (unexpected {rhs[pos:pos + 10]!r})")
        if m.group(1) is not None:
            out.append(("var", int(m.group(1))))
        elif m.group(2) is not None:
            out.append(("num", int(m.group(2))))
        else:
            out.append(("op", m.group(3)))
        pos = m.end()
    return out


class _TermParser:
    """Recursive descent over the compiled right-hand side with R's precedence: ``**`` (R's ``^``), then
    unary ``-``/``+``, then ``:``, then ``%in%``, then ``*`` and ``/``, then binary ``+`` and ``-``
    (left-associative)."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def _peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", None)

    def _take(self):
        tok = self._peek()
        self.pos += 1
        return tok

    def _binary(self, ops, operand):
        left = operand()
        while self._peek()[0] == "op" and self._peek()[1] in ops:
            op = self._take()[1]
            left = (op, left, operand())
        return left

    def sum(self):
        return self._binary(("+", "-"), self.product)

    def product(self):
        return self._binary(("*", "/"), self.within)

    def within(self):
        return self._binary(("%in%",), self.interaction)

    def interaction(self):
        return self._binary((":",), self.unary)

    def unary(self):
        tok = self._peek()
        if tok == ("op", "-") or tok == ("op", "+"):
            self._take()
            return ("neg" if tok[1] == "-" else "pos", self.unary())
        return self.power()

    def power(self):
        base = self.atom()
        if self._peek() == ("op", "**"):
            self._take()
            tok = self._take()
            if tok[0] != "num":
                raise FormulaError("in a formula, '^' needs a positive whole number on its right")
            return ("**", base, tok[1])
        return base

    def atom(self):
        tok = self._take()
        if tok[0] in ("var", "num"):
            return tok
        if tok == ("op", "("):
            inner = self.sum()
            if self._take() != ("op", ")"):
                raise FormulaError("cannot expand the terms of the formula (unbalanced parentheses)")
            return inner
        raise FormulaError(f"cannot expand the terms of the formula (unexpected {tok[1]!r})")


def _trim(terms: list[frozenset]) -> list[frozenset]:
    """R's ``TrimRepeats``: duplicates removed (the first kept), and empty terms."""
    out: list[frozenset] = []
    seen: set[frozenset] = set()
    for t in terms:
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _no_number(node) -> None:
    """Refuse a number or a subtracted term as an operand of ``:``, ``*``, ``/``, ``%in%`` or ``^``
    (``1:x``, ``x * -1``): R reads them as a change of the intercept, which is surely not what was
    meant."""
    if node[0] == "num":
        raise FormulaError("a number inside an interaction (such as '1:x') is not a term R's formulas can have")
    if node[0] == "neg":
        raise FormulaError("a subtracted term inside an interaction, nesting or power (such as 'x * -1') is "
                           "not a term: write the terms to remove after the others (x - 1)")


def _encode(node, parity: bool, state: dict) -> list[frozenset]:
    """R's ``EncodeVars``: the terms of ``node`` as sets of variable indices, in R's order; a ``1`` or
    ``0`` sets the intercept (``parity`` is False on the right of a ``-``, where ``- 1`` removes it)."""
    kind = node[0]
    if kind == "var":
        return [frozenset((node[1],))]
    if kind == "num":
        if node[1] not in (0, 1):  # pragma: no cover - compile_term allows only 0 and 1
            raise FormulaError("a number other than 0 or 1 cannot be a term; wrap arithmetic in I()")
        state["intercept"] = (node[1] == 1) == parity
        return []
    if kind == "pos":
        return _encode(node[1], parity, state)
    if kind == "neg":  # R: DeleteTerms(NULL, x): only the intercept can change
        _encode(node[1], not parity, state)
        return []
    op, left, right = node
    if op == "+":
        return _trim(_encode(left, parity, state) + _encode(right, parity, state))
    if op == "-":
        lt = _encode(left, parity, state)
        rt = set(_encode(right, not parity, state))
        return [t for t in lt if t not in rt]
    if op == "**":
        _no_number(left)
        base = _encode(left, parity, state)
        result = base
        for _ in range(1, right):
            result = _trim([a | b for a in base for b in result])
        return result
    _no_number(left)
    _no_number(right)
    lt = _encode(left, parity, state)
    rt = _encode(right, parity, state)
    if op == ":":
        return _trim([a | b for a in lt for b in rt])
    if op == "*":
        return _trim(lt + rt + [a | b for a in lt for b in rt])
    if op == "%in%":  # R's InTerms: every left term within every variable of the right
        inner = frozenset().union(*rt) if rt else frozenset()
        return _trim([t | inner for t in lt])
    if op == "/":  # R's NestTerms: the right terms within every variable of the left
        outer = frozenset().union(*lt) if lt else frozenset()
        return _trim(lt + [outer | t for t in rt])
    raise FormulaError(f"cannot expand the terms of the formula (operator {op!r})")  # pragma: no cover


_SIMPLE_PIECE = re.compile(r"^(?:0|1|XqZ\d+Q)$")


def _simple_terms(rhs: str) -> list[tuple[int, ...]] | None:
    """The terms of a plain sum of main effects (``1 + a + b``, ``0 + a``) without the parser; ``None``
    for anything with an operator other than ``+``."""
    pieces = [p.strip() for p in rhs.split(" + ")]
    if not all(_SIMPLE_PIECE.match(p) for p in pieces):
        return None
    intercept = True
    out: list[tuple[int, ...]] = []
    for p in pieces:
        if p.startswith("XqZ"):
            key = (int(p[3:-1]),)
            if key not in out:
                out.append(key)
        else:
            intercept = p == "1"  # R: the last 0 or 1 wins
    return ([()] if intercept else []) + out



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
        """The right-hand side as a compiled expression with an explicit intercept (``1 + ...`` or
        ``0 + ...``). The intercept is decided as R decides it -- the last ``1``, ``+1``, ``0`` or ``-1``
        added or subtracted anywhere in the sum wins, parentheses around a sum being only grouping --
        whatever the rules of other tools."""
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

"""R model formulas: tokenizer, parser, R-style deparser and lme4's random-effects bars.

A formula string is parsed into a small immutable syntax tree (:class:`Name`, :class:`Num`, :class:`Str`,
:class:`Call`, :class:`BinOp`, :class:`UnaryOp`, :class:`Paren`). Nothing is ever evaluated here, so a
formula string cannot run code: only R identifiers, numbers, strings, the operators of R formulas and
arithmetic, parentheses and function calls are accepted, and which functions may be *evaluated* is decided
later by a whitelist (:mod:`mixedmodels.formula.transforms`). Every node keeps its character span, so errors point
at the offending token with a caret.

The operator precedence is R's (``?Syntax``): ``^`` > unary ``- +`` > ``:`` > ``%any%`` > ``* /`` >
binary ``+ -`` > ``|`` ``||`` > ``~``.

:func:`deparse` writes a tree back exactly as R's ``deparse()`` does (spaces around ``+ - * | || ~ %in%``,
none around ``/ : ^``, line breaks after a binary operator once a line passes 60 characters), which is what
lme4 prints on its ``Formula:`` line.

:func:`split_formula` separates the response, the fixed-effects part and the random-effects bars
``(expr | g)``; :func:`expand_bars` applies lme4's expansions: ``(x || g)`` into uncorrelated terms and
``(1 | a/b)`` into ``(1 | a) + (1 | b:a)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import warn as warn_r
from ..errors import FormulaError
from ..rbase.rformat import format_num
from ..rbase.rnames import R_RESERVED, R_RESERVED_CONSTANTS

__all__ = [
    "Node", "Name", "Num", "Str", "Call", "BinOp", "UnaryOp", "Paren",
    "Formula", "parse_formula", "deparse", "Bar", "split_formula", "expand_bars", "format_r_number",
    "r_string",
]


# --------------------------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class Node:
    """Base of the syntax tree; ``start``/``end`` are character offsets into the formula text."""

    start: int = field(default=0, compare=False, repr=False)
    end: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Name(Node):
    """An R identifier (a column name), possibly written with backticks (``quoted``)."""

    id: str = ""
    quoted: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Num(Node):
    """A numeric literal; ``integer`` for R's integer literals (``2L``), which R deparses with their ``L``."""

    value: float = 0.0
    integer: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Str(Node):
    """A string literal (only allowed as a function argument, e.g. ``scale(x, center = TRUE)``)."""

    value: str = ""


@dataclass(frozen=True)
class Call(Node):
    """A function call ``func(args..., name = value...)``, or ``pkg::func(...)`` when ``pkg`` is set."""

    func: str = ""
    args: tuple = ()
    kwargs: tuple = ()  # tuple of (name, Node)
    pkg: str = ""  # the namespace of splines::ns(x, 3); which pairs may be called is the evaluator's whitelist

    @property
    def qualname(self) -> str:
        """The function as written: ``ns`` or ``splines::ns``."""
        return f"{self.pkg}::{self.func}" if self.pkg else self.func


@dataclass(frozen=True)
class BinOp(Node):
    """A binary operator: one of ``~ | || + - * / : ^ %in%`` (and other ``%op%``)."""

    op: str = ""
    left: Node | None = None
    right: Node | None = None


@dataclass(frozen=True)
class UnaryOp(Node):
    """Unary ``-``, ``+`` or ``!`` (logical not); also a one-sided ``~ rhs``."""

    op: str = ""
    operand: Node | None = None


@dataclass(frozen=True)
class Paren(Node):
    """Explicit parentheses (kept: R keeps them, and the deparsed text shows them)."""

    expr: Node | None = None


@dataclass(frozen=True)
class Formula:
    """A parsed formula ``lhs ~ rhs``; ``lhs`` is ``None`` for a one-sided formula."""

    lhs: Node | None
    rhs: Node
    text: str

    def deparse(self, expand_double_bars: bool = True, cutoff: int = 60) -> str:
        """The formula as lme4 prints it: R's ``deparse()`` lines joined by one space (as ``cat`` does),
        with ``(x || g)`` shown as lme4 stores it, ``((1 | g) + (0 + x | g))``. ``cutoff=500`` is
        lmerTest's ``deparse2`` (one line)."""
        rhs = _expand_double_bar_nodes(self.rhs) if expand_double_bars else self.rhs
        tree = BinOp(op="~", left=self.lhs, right=rhs) if self.lhs is not None \
            else UnaryOp(op="~", operand=rhs)
        return " ".join(deparse_lines(tree, cutoff=cutoff))


# --------------------------------------------------------------------------------------------- tokens
_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<name>(?:[^\W\d_]|\.(?![0-9]))[\w.]*)
  | (?P<bq>`[^`]*`)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<pct>%[^%\s]*%)
  | (?P<op>\|\||\||~|\+|-|\*|/|:::|::|:|\^|\(|\)|,|==|!=|!|<=|>=|<|>|&|=)
""", re.VERBOSE)


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, name, str, op, end
    text: str
    start: int
    end: int


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "`": "`"}


def _unescape(body: str, text: str, start: int) -> str:
    """The value of an R string literal's body: R's escapes ``\\n \\t \\r \\\\ \\" \\'`` (others are refused)."""
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            esc = body[i + 1]
            if esc not in _ESCAPES:
                pos = start + 1 + i
                raise FormulaError(f"unsupported escape '\\{esc}' in a string", text, pos, pos + 2)
            out.append(_ESCAPES[esc])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            hint = ""
            if ch in "{}[]$@;":
                hint = " (formulas hold column names, numbers, operators and function calls only)"
            elif ch == "\"" or ch == "'":
                hint = " (unterminated string)"
            elif ch == "_":
                hint = " (R names cannot start with '_'; quote odd column names with backticks)"
            raise FormulaError(f"unexpected character {ch!r} in formula{hint}", text, pos, pos + 1)
        kind = m.lastgroup
        if kind != "ws":
            tok = m.group()
            if kind == "bq":
                toks.append(_Tok("qname", tok[1:-1], m.start(), m.end()))
            elif kind == "str":
                toks.append(_Tok("str", _unescape(tok[1:-1], text, m.start()), m.start(), m.end()))
            elif kind == "pct":
                toks.append(_Tok("op", tok, m.start(), m.end()))
            else:
                toks.append(_Tok(kind, tok, m.start(), m.end()))
        pos = m.end()
    toks.append(_Tok("end", "", len(text), len(text)))
    return toks


# --------------------------------------------------------------------------------------------- parser
# binding powers (left, right); higher binds tighter
_BINARY = {
    "~": (10, 11),
    "|": (20, 21), "||": (20, 21),
    "&": (25, 26),
    "==": (30, 31), "!=": (30, 31), "<": (30, 31), ">": (30, 31), "<=": (30, 31), ">=": (30, 31),
    "+": (40, 41), "-": (40, 41),
    "*": (50, 51), "/": (50, 51),
    "%": (60, 61),  # any %op%
    ":": (70, 71),
    "^": (91, 90),  # right associative
}
_UNARY_BP = 80
_NOT_BP = 27  # R: '!' binds looser than comparisons and arithmetic, tighter than '&' and '|': !x > 2 is !(x > 2)
_TILDE_UNARY_BP = 11


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, msg: str, tok: _Tok) -> FormulaError:
        return FormulaError(msg, self.text, tok.start, max(tok.end, tok.start + 1))

    def expect(self, text: str) -> _Tok:
        tok = self.next()
        if tok.text != text or tok.kind not in ("op",):
            if tok.kind == "end":
                raise self.error(f"expected {text!r} but the formula ended (unbalanced parentheses?)", tok)
            raise self.error(f"expected {text!r}, found {tok.text!r}", tok)
        return tok

    def parse(self, min_bp: int = 0) -> Node:
        left = self.prefix()
        run: list[Node] = []  # the operands of a run of '+' after `left` (folded by _sum_tree)
        while True:
            tok = self.peek()
            if tok.kind != "op":
                if tok.kind == "end":
                    break
                raise self.error(f"unexpected {tok.text!r}: missing an operator before it?", tok)
            key = "%" if tok.text.startswith("%") else tok.text
            if key not in _BINARY:
                break
            lbp, rbp = _BINARY[key]
            if lbp < min_bp:
                break
            self.next()
            nxt = self.peek()
            if nxt.kind == "end":
                raise self.error(f"the formula ends after the operator {tok.text!r}", tok)
            if nxt.kind == "op" and nxt.text in (")", ","):
                if tok.text in ("|", "||"):
                    raise self.error(f"an empty random-effects term: '{tok.text}' needs a grouping "
                                     "factor after it, e.g. '(1 | g)'", tok)
                raise self.error(f"nothing after the operator {tok.text!r}", tok)
            right = self.parse(rbp)
            if tok.text == "+":
                run.append(right)
                continue
            if run:
                left, run = _sum_tree([left, *run]), []
            left = BinOp(start=left.start, end=right.end, op=tok.text, left=left, right=right)
        return _sum_tree([left, *run]) if run else left

    def prefix(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            integer = tok.text.endswith("L")
            txt = tok.text[:-1] if integer else tok.text
            return Num(start=tok.start, end=tok.end, value=float(txt), integer=integer)
        if tok.kind == "str":
            return Str(start=tok.start, end=tok.end, value=tok.text)
        if tok.kind in ("name", "qname"):
            if self.peek().kind == "op" and self.peek().text in ("::", ":::"):
                return self.namespaced(tok)
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(tok)
            return Name(start=tok.start, end=tok.end, id=tok.text, quoted=tok.kind == "qname")
        if tok.kind == "op":
            if tok.text == "(":
                if self.peek().kind == "op" and self.peek().text == ")":
                    raise self.error("empty parentheses", self.peek())
                inner = self.parse(0)
                close = self.expect(")")
                return Paren(start=tok.start, end=close.end, expr=inner)
            if tok.text in ("-", "+", "!"):
                nxt = self.peek()
                if nxt.kind == "end" or (nxt.kind == "op" and nxt.text in (")", ",")):
                    raise self.error(f"nothing after the operator {tok.text!r}", tok)
                operand = self.parse(_NOT_BP if tok.text == "!" else _UNARY_BP)
                return UnaryOp(start=tok.start, end=operand.end, op=tok.text, operand=operand)
            if tok.text == "~":
                operand = self.parse(_TILDE_UNARY_BP)
                return UnaryOp(start=tok.start, end=operand.end, op="~", operand=operand)
            if tok.text == ")":
                raise self.error("unbalanced parentheses: ')' without a matching '('", tok)
            raise self.error(f"unexpected {tok.text!r}", tok)
        raise self.error("the formula ended unexpectedly", tok)

    def namespaced(self, pkg_tok: _Tok) -> Call:
        """``pkg::fun(...)``: a call of a function named with its package (R's ``::``); whether the pair
        may be called is decided by the evaluator's whitelist."""
        op = self.next()
        if op.text == ":::":
            raise self.error("':::' (a package's internal functions) cannot be used in a formula; "
                             "write pkg::fun(...)", op)
        fun = self.next()
        if fun.kind not in ("name", "qname"):
            raise self.error("a function name is expected after '::'", fun)
        if not (self.peek().kind == "op" and self.peek().text == "("):
            raise FormulaError(f"'{pkg_tok.text}::{fun.text}' must be called: only functions, as in "
                               "splines::ns(x, 3), can be named with their package", self.text,
                               pkg_tok.start, fun.end)
        call = self.call(fun)
        return Call(start=pkg_tok.start, end=call.end, func=call.func, args=call.args, kwargs=call.kwargs,
                    pkg=pkg_tok.text)

    def call(self, name_tok: _Tok) -> Call:
        self.expect("(")
        args: list[Node] = []
        kwargs: list[tuple[str, Node]] = []
        if self.peek().kind == "op" and self.peek().text == ")":
            close = self.next()
            return Call(start=name_tok.start, end=close.end, func=name_tok.text, args=(), kwargs=())
        while True:
            tok = self.peek()
            if tok.kind == "end":  # 'log(' or 'log(x,': the formula ends inside the call
                raise self.error(f"unbalanced parentheses: the formula ends inside the call to "
                                 f"{name_tok.text}()", tok)
            nxt = self.toks[self.i + 1]
            if tok.kind in ("name", "qname") and nxt.kind == "op" and nxt.text == "=":
                self.next()
                self.next()
                kwargs.append((tok.text, self.parse(0)))
            else:
                if kwargs:
                    raise self.error("positional argument after a named one", tok)
                args.append(self.parse(0))
            tok = self.next()
            if tok.kind == "op" and tok.text == ")":
                return Call(start=name_tok.start, end=tok.end, func=name_tok.text,
                            args=tuple(args), kwargs=tuple(kwargs))
            if not (tok.kind == "op" and tok.text == ","):
                if tok.kind == "end":
                    raise self.error(f"unbalanced parentheses in the call to {name_tok.text}()", name_tok)
                raise self.error(f"expected ',' or ')', found {tok.text!r}", tok)


def parse_formula(text: str) -> Formula:
    """Parse an R model formula ``lhs ~ rhs`` (or ``~ rhs``).

    Raises :class:`FormulaError` (with a caret under the offending token) for anything that is not an R
    formula: no ``~``, unbalanced parentheses, characters that R formulas do not have, and so on.
    """
    if not isinstance(text, str):
        raise FormulaError(f"the formula must be a string, not {type(text).__name__}")
    if not text.strip():
        raise FormulaError("the formula is empty")
    parser = _Parser(text)
    try:
        tree = parser.parse(0)
    except RecursionError:
        raise FormulaError("the formula is nested too deeply", text) from None
    end = parser.peek()
    if end.kind != "end":
        if end.text == ")":
            raise parser.error("unbalanced parentheses: ')' without a matching '('", end)
        raise parser.error(f"unexpected {end.text!r}", end)
    if isinstance(tree, BinOp) and tree.op == "~":
        lhs, rhs = tree.left, tree.right
        if _contains_tilde(lhs) or _contains_tilde(rhs):
            raise FormulaError("more than one '~' in the formula", text)
        return Formula(lhs=lhs, rhs=rhs, text=text)
    if isinstance(tree, UnaryOp) and tree.op == "~":
        if _contains_tilde(tree.operand):
            raise FormulaError("more than one '~' in the formula", text)
        return Formula(lhs=None, rhs=tree.operand, text=text)
    raise FormulaError("a model formula needs a '~' between the response and the terms, "
                       "e.g. 'y ~ x + (1 | g)'", text, 0, len(text))


def _contains_tilde(node: Node | None) -> bool:
    if node is None:
        return False
    if isinstance(node, (BinOp,)):
        return node.op == "~" or _contains_tilde(node.left) or _contains_tilde(node.right)
    if isinstance(node, UnaryOp):
        return node.op == "~" or _contains_tilde(node.operand)
    if isinstance(node, Paren):
        return _contains_tilde(node.expr)
    if isinstance(node, Call):
        return any(_contains_tilde(a) for a in node.args) or any(_contains_tilde(v) for _, v in node.kwargs)
    return False


# --------------------------------------------------------------------------------------------- deparse
# R's PP_BINARY: printed with spaces, may break a line
_SPACED = {"~", "|", "||", "&", "+", "-", "*", "==", "!=", "<", ">", "<=", ">="}
_NAME_RE = re.compile(r"^(?:[^\W\d_]|\.(?![0-9]))[\w.]*$")  # R's names: letters of any script


def format_r_number(x: float) -> str:
    """Format a double as R's ``deparse``/``as.character`` do: R's ``formatReal`` with 15 significant
    digits (:func:`mixedmodels.rbase.rformat.format_num`), fixed or scientific notation, whichever is
    narrower; ``NaN``, ``Inf``, ``-Inf`` and ``0`` as R writes them."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    return format_num([x], digits=15)[0]


_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def r_string(value: str) -> str:
    """A string as R's ``deparse`` writes it: in double quotes, with ``\\ " \\n \\t \\r`` escaped."""
    return '"' + "".join(_STRING_ESCAPES.get(ch, ch) for ch in value) + '"'


class _Deparser:
    """A port of the parts of R's deparse.c that formulas use (cutoff 60, indent of four spaces)."""

    def __init__(self, cutoff: int = 60):
        self.cutoff = cutoff
        self.lines: list[str] = []
        self.buf: list[str] = []
        self.len = 0
        self.indent = 0
        self.startline = True

    def put(self, s: str) -> None:
        if self.startline:
            self.startline = False
            for i in range(1, self.indent + 1):
                tab = "    " if i <= 4 else "  "
                self.buf.append(tab)
                self.len += len(tab)
        self.buf.append(s)
        self.len += len(s)

    def writeline(self) -> None:
        self.lines.append("".join(self.buf))
        self.buf = []
        self.len = 0
        self.startline = True

    def node(self, n: Node) -> None:
        if isinstance(n, Name):
            # a reserved word is backquoted, unless it is a constant written bare (TRUE, NA, NA_real_, ...)
            bare = _NAME_RE.match(n.id) and (n.id not in R_RESERVED
                                             or (n.id in R_RESERVED_CONSTANTS and not n.quoted))
            self.put(n.id if bare else f"`{n.id}`")
        elif isinstance(n, Num):
            self.put(f"{int(n.value)}L" if n.integer and n.value == int(n.value) else format_r_number(n.value))
        elif isinstance(n, Str):
            self.put(r_string(n.value))
        elif isinstance(n, Paren):
            self.put("(")
            self.node(n.expr)
            self.put(")")
        elif isinstance(n, UnaryOp):
            self.put(n.op)
            self.node(n.operand)
        elif isinstance(n, Call):
            self.put(n.qualname + "(")
            items = list(n.args) + [kv for kv in n.kwargs]
            lbreak = False
            for k, item in enumerate(items):
                if isinstance(item, tuple):
                    self.put(f"{item[0]} = ")
                    self.node(item[1])
                else:
                    self.node(item)
                if k < len(items) - 1:
                    self.put(", ")
                    lbreak = self.linebreak(lbreak)
            if lbreak:
                self.indent -= 1
            self.put(")")
        elif isinstance(n, BinOp) and n.op in ("+", "-"):
            # a chain of '+' and '-' as R deparses the left-nested call: each operator, a line break
            # past the cutoff (indented for the operand after it), the operand (see _sum_tree)
            first, rest = _sum_chain(n)
            self.node(first)
            for op, operand in rest:
                self.put(f" {op} ")
                lookahead = False
                if self.len > self.cutoff:
                    lookahead = True
                    self.indent += 1
                    self.writeline()
                self.node(operand)
                if lookahead:
                    self.indent -= 1
        elif isinstance(n, BinOp):
            if n.op in _SPACED or (n.op.startswith("%") and n.op not in ("%%", "%/%")):
                self.node(n.left)
                self.put(f" {n.op} ")
                lookahead = False
                if self.len > self.cutoff:
                    lookahead = True
                    self.indent += 1
                    self.writeline()
                self.node(n.right)
                if lookahead:
                    self.indent -= 1
            else:
                self.node(n.left)
                self.put(n.op)
                self.node(n.right)
        else:  # pragma: no cover - all node types handled above
            raise TypeError(f"cannot deparse {n!r}")

    def linebreak(self, lbreak: bool) -> bool:
        """R's ``linebreak`` between a call's arguments: past the cutoff, a new line, indented one more
        level from the first break of this call on (``args2buff``)."""
        if self.len > self.cutoff:
            if not lbreak:
                lbreak = True
                self.indent += 1
            self.writeline()
        return lbreak

    def result(self) -> list[str]:
        if self.buf or not self.lines:
            self.writeline()
        return self.lines


def _sum_chain(n: BinOp) -> tuple[Node, list[tuple[str, Node]]]:
    """The operands of a chain of '+'/'-' in order: the first one, then (operator, operand) pairs. The
    chain follows left operands that are '+'/'-' and right operands of a '+' that are '+' (a balanced
    sum, see _sum_tree), without recursion."""
    out: list[tuple[str, Node]] = []
    stack: list[tuple[str, Node, bool]] = [("", n, True)]  # (operator before it, node, part of the chain)
    while stack:
        op, m, chain = stack.pop()
        if chain and isinstance(m, BinOp) and m.op in ("+", "-"):
            right_chain = m.op == "+" and isinstance(m.right, BinOp) and m.right.op == "+"
            stack.append((m.op, m.right, right_chain))
            stack.append((op, m.left, True))
        else:
            out.append((op, m))
    return out[0][1], out[1:]


def deparse_lines(node: Node, cutoff: int = 60) -> list[str]:
    """R's ``deparse(expr)``: a list of lines."""
    d = _Deparser(cutoff)
    d.node(node)
    return d.result()


def deparse(node: Node) -> str:
    """R's ``deparse(expr)`` on one line (for short expressions such as a term label)."""
    return "".join(deparse_lines(node, cutoff=10**9))


# --------------------------------------------------------------------------------------------- bars
@dataclass(frozen=True)
class Bar:
    """One random-effects term ``(expr | group)`` after lme4's expansions.

    ``expr`` is the model-matrix expression of the term (``1``, ``Days``, ``1 + Days``, ``0 + Days``),
    ``group`` the grouping-factor expression (``Subject``, ``Block:Variety``), ``source`` the node written
    by the user (for error carets).
    """

    expr: Node
    group: Node
    source: Node

    @property
    def group_name(self) -> str:
        return deparse(self.group)


def _strip_parens(n: Node) -> Node:
    while isinstance(n, Paren):
        n = n.expr
    return n


def split_formula(f: Formula) -> tuple[Node | None, list[Node], list[Node]]:
    """Split a formula into its response, its fixed-effects summands and its bar summands.

    Random-effects bars are the summands ``(expr | g)`` / ``(expr || g)`` of the right-hand side (at top
    level, as lme4's ``findbars`` requires). The fixed summands keep their sign: a ``- x`` summand is
    returned as ``UnaryOp('-', x)``.
    """
    fixed: list[Node] = []
    bars: list[Node] = []

    def walk(n: Node, sign: str) -> None:
        if isinstance(n, BinOp) and n.op in ("+", "-"):
            walk(n.left, sign)
            walk(n.right, "-" if n.op == "-" else "+")
            return
        inner = _strip_parens(n)
        if isinstance(inner, BinOp) and inner.op in ("|", "||"):
            if not isinstance(n, Paren):
                raise FormulaError("a random-effects term must be in parentheses, e.g. '(1 | g)'",
                                   f.text, n.start, n.end)
            if sign == "-":
                raise FormulaError("a random-effects term cannot be subtracted", f.text, n.start, n.end)
            bars.append(inner)
            return
        if _has_bar(n):
            bad = _find_bar(n)
            if isinstance(n, UnaryOp) and n.op == "!":
                raise FormulaError("'!' applies to everything after it up to the next '&', '|' or '~' (R's "
                                   "precedence), here including a random-effects term; write (!b) or I(!b)",
                                   f.text, n.start, n.start + 1)
            raise FormulaError("a random-effects bar '|' must be a whole term of the formula, "
                               "e.g. 'y ~ x + (1 | g)'", f.text, bad.start, bad.end)
        fixed.append(n if sign == "+" else UnaryOp(start=n.start, end=n.end, op="-", operand=n))

    if isinstance(f.rhs, BinOp) and f.rhs.op in ("|", "||") and not (_has_bar(f.rhs.left)
                                                                      or _has_bar(f.rhs.right)):
        # y ~ 1 | g: R's precedence makes the whole right-hand side one bar (lme4 fits it; the fixed
        # part is the intercept). With more than an intercept on the left that is rarely what was meant.
        if len(_summands(f.rhs.left)) > 1:
            warn_r(f"'{deparse(f.rhs)}' is read as R reads it, one random-effects term "
                  f"({deparse(f.rhs)}) and no fixed effects but the intercept; for fixed effects "
                  "write e.g. 'y ~ x + (1 | g)'", SyntaxWarning)
        return f.lhs, [], [f.rhs]
    walk(f.rhs, "+")
    return f.lhs, fixed, bars


def _has_bar(n: Node) -> bool:
    return _find_bar(n) is not None


def _find_bar(n: Node) -> Node | None:
    if isinstance(n, BinOp):
        if n.op in ("|", "||"):
            return n
        return _find_bar(n.left) or _find_bar(n.right)
    if isinstance(n, UnaryOp):
        return _find_bar(n.operand)
    if isinstance(n, Paren):
        return _find_bar(n.expr)
    if isinstance(n, Call):
        for a in list(n.args) + [v for _, v in n.kwargs]:
            b = _find_bar(a)
            if b is not None:
                return b
    return None


def _summands(n: Node) -> list[tuple[str, Node]]:
    """The signed summands of a ``+``/``-`` chain."""
    out: list[tuple[str, Node]] = []

    def walk(m: Node, sign: str) -> None:
        if isinstance(m, BinOp) and m.op in ("+", "-"):
            walk(m.left, sign)
            walk(m.right, "-" if m.op == "-" else "+")
        elif isinstance(m, UnaryOp) and m.op == "-":
            walk(m.operand, "-" if sign == "+" else "+")
        elif isinstance(m, Paren) and isinstance(_strip_parens(m), BinOp) and _strip_parens(m).op in ("+", "-"):
            walk(_strip_parens(m), sign)
        else:
            out.append((sign, m))

    walk(n, "+")
    return out


def _is_intercept_literal(n: Node, value: float) -> bool:
    n = _strip_parens(n)
    return isinstance(n, Num) and n.value == value


def _join_plus(nodes: list[Node]) -> Node:
    return _sum_tree(list(nodes))


_FLAT_SUM = 32  # a sum of more terms is held as a balanced tree


def _sum_tree(nodes: list[Node]) -> Node:
    """``nodes[0] + nodes[1] + ...``: left-nested as R parses it; a sum of more than ``_FLAT_SUM`` terms
    as a balanced tree of '+' (the same terms in the same order, for '+' of formulas is associative), so
    that a formula of thousands of terms is not thousands of levels deep for the functions that walk
    it. The deparser writes both shapes alike (R's layout of the left-nested sum)."""
    if len(nodes) <= _FLAT_SUM:
        out = nodes[0]
        for n in nodes[1:]:
            out = BinOp(start=out.start, end=n.end, op="+", left=out, right=n)
        return out
    half = len(nodes) // 2
    left, right = _sum_tree(nodes[:half]), _sum_tree(nodes[half:])
    return BinOp(start=left.start, end=right.end, op="+", left=left, right=right)


def _expand_double_bar_nodes(n: Node) -> Node:
    """lme4's ``expandDoubleVerts`` on the syntax tree: ``(x || g)`` -> ``((1 | g) + (0 + x | g))``."""
    if isinstance(n, Paren):
        inner = n.expr
        if isinstance(inner, BinOp) and inner.op == "||":
            # split the terms of the left side only; the grouping stays as written ((x || a/b) gives
            # ((1 | a/b) + (0 + x | a/b)), as lme4's expandDoubleVerts writes it)
            one_group = BinOp(op="||", left=inner.left, right=Name(id="g"))
            parts = [Paren(expr=BinOp(op="|", left=b.expr, right=inner.right))
                     for b in expand_bars([one_group], "")]
            return Paren(expr=_join_plus(parts))
        return Paren(expr=_expand_double_bar_nodes(inner))
    if isinstance(n, BinOp) and n.op in ("+", "-"):
        return BinOp(start=n.start, end=n.end, op=n.op, left=_expand_double_bar_nodes(n.left),
                     right=_expand_double_bar_nodes(n.right))
    return n


def _expand_slash(g: Node, text: str) -> list[Node]:
    """lme4's expandSlash: ``a/b`` -> ``[a, b:a]``; ``a/b/c`` -> ``[a, b:a, c:b:a]``."""
    g0 = _strip_parens(g)
    if isinstance(g0, BinOp) and g0.op == "/":
        outer = _expand_slash(g0.left, text)
        right = _strip_parens(g0.right)
        if isinstance(right, BinOp) and right.op == "/":
            raise FormulaError("unsupported nesting in a grouping factor", text, g.start, g.end)
        top = outer[-1]
        if isinstance(_strip_parens(top), BinOp):  # lme4 names c within b within a 'c:(b:a)'
            top = Paren(start=top.start, end=top.end, expr=top)
        inter = BinOp(start=g0.start, end=g0.end, op=":", left=right, right=top)
        return outer + [inter]
    return [g]


def expand_bars(bars: list[Node], text: str) -> list[Bar]:
    """Apply lme4's expansions to the bars written in the formula.

    * ``(e | a/b)`` becomes ``(e | a)`` and ``(e | b:a)`` (lme4 names the inner factor ``b:a``);
    * ``(e || g)`` becomes one uncorrelated term per summand of ``e``: ``(1 | g)``, ``(0 + x | g)``, ...
    """
    out: list[Bar] = []
    for bar in bars:
        assert isinstance(bar, BinOp)
        if bar.left is None or bar.right is None:
            raise FormulaError("an empty random-effects term", text, bar.start, bar.end)
        groups = _expand_slash(bar.right, text)
        if bar.op == "|":
            for g in groups:
                out.append(Bar(expr=bar.left, group=g, source=bar))
            continue
        # double bar: split the expression into its terms
        parts = _summands(bar.left)
        has_int = True
        terms: list[Node] = []
        for sign, p in parts:
            if _is_intercept_literal(p, 0) or (sign == "-" and _is_intercept_literal(p, 1)):
                has_int = False
            elif _is_intercept_literal(p, 1):
                continue
            elif sign == "-":
                raise FormulaError("cannot remove a term inside '||'", text, p.start, p.end)
            else:
                terms.append(p)
        for g in groups:
            if has_int:
                out.append(Bar(expr=Num(start=bar.start, end=bar.start, value=1.0), group=g, source=bar))
            for t in terms:
                zero = Num(start=t.start, end=t.start, value=0.0)
                out.append(Bar(expr=BinOp(start=t.start, end=t.end, op="+", left=zero, right=t),
                               group=g, source=bar))
    return out


# public names of the helpers other stages use (lmerTest's findbars-style walks in inference/)
summands = _summands
is_intercept_literal = _is_intercept_literal
expand_slash = _expand_slash
__all__ += ["summands", "is_intercept_literal", "expand_slash"]


# A parsed formula is immutable, so the same text is parsed once (refits such as update(), ranova() and
# step() parse the same formulas again and again); errors are raised afresh, never cached.
_parse_formula_uncached = parse_formula


@lru_cache(maxsize=512)
def _parse_formula_cached(text: str) -> Formula:
    return _parse_formula_uncached(text)


def parse_formula(text: str) -> Formula:  # noqa: F811 - the cached front of the parser above
    if isinstance(text, str):
        return _parse_formula_cached(text)
    return _parse_formula_uncached(text)


parse_formula.__doc__ = _parse_formula_uncached.__doc__

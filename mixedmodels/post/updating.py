"""R's ``update()``: a new formula from an old one (``. ~ . - Days``), and a fit refitted with it.

:func:`update_formula` is R's ``update.formula``: each ``.`` on the new left-hand side stands for the old
response, each ``.`` on the right for the old right-hand side; the result is then simplified as R's
``terms.formula(simplify = TRUE)`` does -- the term algebra (``*``, ``/``, ``^``, ``%in%``, ``-``) expanded,
terms ordered by degree (in order of appearance within a degree), the variables of an interaction in
order of first appearance, offsets after the terms and ``- 1`` last. A random-effects term ``(x | g)``,
a call such as ``log(x)`` or ``I(x^2)`` is one variable of that algebra, matched by its deparsed text, so
``. ~ . - (1|g)`` removes ``(1 | g)``.

:func:`update` refits a model with a new formula (and optionally new data or estimation method), as
``update(m, . ~ . - Days)`` does in R.
"""

from __future__ import annotations

import numpy as np

from ..errors import FormulaError, MixedModelsError
from ..formula.parse import BinOp, Call, Formula, Name, Node, Paren, UnaryOp, deparse, parse_formula
from ..formula.terms import TermAlgebra, expand_terms

__all__ = ["update_formula", "update", "theta_start"]

def _substitute_dot(node: Node | None, by: Node) -> Node | None:
    """``node`` with every name ``.`` replaced by ``by``."""
    if node is None:
        return None
    if isinstance(node, Name):
        return by if node.id == "." else node
    if isinstance(node, BinOp):
        return BinOp(start=node.start, end=node.end, op=node.op, left=_substitute_dot(node.left, by),
                     right=_substitute_dot(node.right, by))
    if isinstance(node, UnaryOp):
        return UnaryOp(start=node.start, end=node.end, op=node.op, operand=_substitute_dot(node.operand, by))
    if isinstance(node, Paren):
        return Paren(start=node.start, end=node.end, expr=_substitute_dot(node.expr, by))
    if isinstance(node, Call):
        return Call(start=node.start, end=node.end, func=node.func,
                    args=tuple(_substitute_dot(a, by) for a in node.args),
                    kwargs=tuple((k, _substitute_dot(v, by)) for k, v in node.kwargs), pkg=node.pkg)
    return node


def _is_offset(node: Node | None) -> bool:
    return isinstance(node, Call) and node.func == "offset"


def _split_offsets(node: Node | None, offsets: list[str]) -> Node | None:
    """``node`` without its offset terms (None when nothing is left), the offsets' text appended to
    ``offsets`` in order. A subtracted offset stays an offset, as in R (its terms cannot drop one)."""
    if node is None:
        return None
    if _is_offset(node):
        label = deparse(node)
        if label not in offsets:
            offsets.append(label)
        return None
    if isinstance(node, UnaryOp) and node.op in ("-", "+") and _is_offset(node.operand):
        return _split_offsets(node.operand, offsets)
    if isinstance(node, BinOp) and node.op in ("+", "-"):
        left = _split_offsets(node.left, offsets)
        right = _split_offsets(node.right, offsets)
        if right is None:
            return left
        if left is None:
            return right if node.op == "+" else UnaryOp(op="-", operand=right)
        return BinOp(op=node.op, left=left, right=right)
    if isinstance(node, Paren):
        inner = _split_offsets(node.expr, offsets)
        return None if inner is None else Paren(expr=inner)
    return node


def _simplify(lhs: Node | None, rhs: Node, text: str) -> str:
    """R's ``formula(terms(f, simplify = TRUE))`` as text."""
    offsets: list[str] = []
    body = _split_offsets(rhs, offsets)
    alg = TermAlgebra(text)
    compiled = alg.compile(body) if body is not None else "1"
    try:
        terms = expand_terms(compiled)
    except Exception as exc:  # the term algebra's own parse errors
        raise FormulaError(f"cannot expand the updated formula: {exc}", text) from None
    intercept = () in terms
    labels = [":".join(alg.atoms[i] for i in t) for t in terms if t != ()]
    pieces = labels + offsets
    if not pieces:
        out_rhs = "1" if intercept else "1 - 1"  # R's update(y ~ x, . ~ -1) writes y ~ 1 - 1
    else:
        out_rhs = " + ".join(pieces) + ("" if intercept else " - 1")
    return (deparse(lhs) + " ~ " if lhs is not None else "~") + out_rhs


def update_formula(old: str | Formula, new: str) -> str:
    """R's ``update.formula(old, new)`` (see the module docstring).

    >>> update_formula("Reaction ~ Days + (Days | Subject)", ". ~ . - Days")
    'Reaction ~ (Days | Subject)'
    >>> update_formula("y ~ A*C + (1|block) + (1|block:A)", ". ~ . - A:C")
    'y ~ A + C + (1 | block) + (1 | block:A)'
    """
    old_f = old if isinstance(old, Formula) else parse_formula(old)
    if not isinstance(new, str):
        raise FormulaError(f"the new formula must be a string such as '. ~ . - x', not {type(new).__name__}")
    new_f = parse_formula(new)
    if new_f.lhs is None:
        lhs = old_f.lhs
    else:
        lhs = _substitute_dot(new_f.lhs, old_f.lhs) if old_f.lhs is not None else new_f.lhs
        if old_f.lhs is None and _mentions_dot(new_f.lhs):
            raise FormulaError("'.' on the left-hand side, but the old formula has no response", new)
    rhs = _substitute_dot(new_f.rhs, Paren(expr=old_f.rhs))
    return _simplify(lhs, rhs, new)


def _mentions_dot(node: Node | None) -> bool:
    if node is None:
        return False
    if isinstance(node, Name):
        return node.id == "."
    if isinstance(node, BinOp):
        return _mentions_dot(node.left) or _mentions_dot(node.right)
    if isinstance(node, UnaryOp):
        return _mentions_dot(node.operand)
    if isinstance(node, Paren):
        return _mentions_dot(node.expr)
    if isinstance(node, Call):
        return any(_mentions_dot(a) for a in node.args) or any(_mentions_dot(v) for _, v in node.kwargs)
    return False


def update(fit, formula: str | None = None, *, data=None, REML: bool | None = None, **fit_kwargs):
    """Refit ``fit`` (an :class:`~mixedmodels.model.LmerFit`) as R's ``update(m, formula, data = ...,
    REML = ...)``: the formula updated by :func:`update_formula` (``". ~ . - Days"``), on the same data
    unless ``data`` is given, by the same method (REML or ML) unless ``REML`` is given.

    >>> m0 = update(m1, ". ~ . - Days")             # doctest: +SKIP
    >>> mm.anova(m0, m1)                             # doctest: +SKIP
    """
    if not all(hasattr(type(fit), a) for a in ("frame_spec", "fixef", "design")):  # an LmerFit
        raise MixedModelsError(f"update() needs a fitted model, not {type(fit).__name__}")
    fit.require_rows("update() (it refits on the data)")
    if "method" in fit_kwargs:
        raise MixedModelsError("update(): say REML=True or REML=False (as R's update), not method=")
    if fit.method == "moments":
        raise MixedModelsError("update() refits by REML or ML; a method-of-moments fit has no criterion "
                               "to refit (fit the new model with fit(method='moments'))")
    old = fit.frame_spec.formula.deparse()  # R: formula(m), where lme4 has expanded (x || g)
    new_formula = old if formula is None else update_formula(old, formula)
    same_data = data is None
    df = fit.model.data if same_data else data
    name = fit.model.data_name if same_data else None
    if REML is not None and not isinstance(REML, (bool, np.bool_)):
        raise MixedModelsError(f"REML must be True or False, not {REML!r}")
    reml = fit.reml if REML is None else bool(REML)
    options = getattr(type(fit.model), "optimizer_options", frozenset())  # every optimizer's keywords
    unknown = sorted(set(fit_kwargs) - options - {"optimizer", "theta0"})
    if unknown:  # before they reach the optimizer, whose message would be about optimizer options
        raise MixedModelsError(
            f"update(): unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            "update() takes a formula, data=, REML= and the optimizer's options "
            f"(optimizer=, {', '.join(sorted(options))})")
    fit_kwargs = {**getattr(fit, "fit_options", {}), **fit_kwargs}  # the same optimizer and options
    frame = dict(fit.model.refit_args)
    if not same_data:
        arrays = [k for k in ("weights", "offset") if frame.get(k) is not None and not isinstance(frame[k], str)]
        if arrays:
            raise MixedModelsError(f"update(data=...): the model's {' and '.join(arrays)} were given as arrays "
                                   "for the old data; give them as column names to refit on new data")
        if fit.model.frame_args.get("subset") is not None:
            frame_subset = fit.model.frame_args["subset"]
            if isinstance(frame_subset, str):
                frame["subset"] = frame_subset
            else:
                raise MixedModelsError("update(data=...): the model's subset was a boolean array for the old "
                                       "data; give it as an expression string to refit on new data")
    model = type(fit.model)(new_formula, df, data_name=name, **frame)
    if "theta0" not in fit_kwargs:
        fit_kwargs["theta0"] = theta_start(fit, model.design.terms)
    return model.fit("REML" if reml else "ML", **fit_kwargs)


_SINGULAR_START = 1e-4  # a term fitted at (or next to) the boundary starts afresh


def theta_start(fit, terms) -> np.ndarray | None:
    """Where a refit with the random-effects ``terms`` starts: for each term, the fitted theta of the
    term of ``fit`` with the same grouping factor and columns (so dropping a fixed effect or another
    random term starts next to the new optimum), lme4's start (identity) for the others and for a term
    fitted at the boundary. None (lme4's start for every term) when no term carries over."""
    old: dict[tuple, np.ndarray] = {}
    pos = 0
    theta = np.asarray(fit.theta, dtype=float)
    for t in fit.design.terms:
        piece = theta[pos: pos + t.ntheta]
        pos += t.ntheta
        if np.all(piece[t.theta_diagonal()] > _SINGULAR_START):
            old.setdefault((t.group, tuple(t.cnames)), piece)
    out, carried = [], False
    for t in terms:
        piece = old.get((t.group, tuple(t.cnames)))
        carried |= piece is not None
        out.append(piece if piece is not None else t.theta_init())
    return np.concatenate(out) if carried and out else None

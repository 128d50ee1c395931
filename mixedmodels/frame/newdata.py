"""The model frame on new data, for prediction and simulation: thin helpers over the frozen frame spec.

The rules (R's ``predict.merMod`` / ``mkNewReTrms`` with ``model.frame(terms, newdata, xlev = ...)``:
training levels, the training parameters of stateful calls, ``na.pass``) live in
:class:`mixedmodels.frame.spec.FrameSpec`, which every design carries (``design.spec``); this module adds
the random-effects bars of an ``re_form`` and the fitted terms in the same shape as terms on new data.
"""

from __future__ import annotations

from ..formula.parse import expand_bars, parse_formula, split_formula
from .reterms import ReTerm
from .spec import NewReTerm, match_levels

__all__ = ["NewReTerm", "match_levels", "re_bars", "term_from_fit"]


def re_bars(formula_text: str):
    """The random-effects bars of a formula (lme4's ``findbars`` after ``expandSlash`` and ``||``)."""
    f = parse_formula(formula_text)
    _, _, bar_nodes = split_formula(f)
    return expand_bars(bar_nodes, f.text)


def term_from_fit(t: ReTerm) -> NewReTerm:
    """A fitted term as a :class:`NewReTerm` over the training rows (every level seen)."""
    labels = [t.levels[r] for r in t.refs]
    return NewReTerm(group=t.group, cnames=list(t.cnames), z=t.z, labels=labels, refs=t.refs.copy())

"""Formulas for the peers: the same model written so that another package parses it as lme4 does.

mixedlm (PyPI) rejects R's ``(a + b + c)^2`` and reads ``(1 + S || g)`` over a factor ``S`` as one contrast
column per factor (a smaller model than lme4's). :func:`mixedlm_formula` writes both out as lme4 expands
them: ``^k`` as every main effect and every interaction of at most ``k`` of the terms, ``||`` as lme4's
``expandDoubleVerts`` (``(1 | g) + (0 + S | g) + ...``). Only plain term lists are expanded; anything else
is left as written.
"""

from __future__ import annotations

import itertools
import re

_POWER = re.compile(r"\(([^()]*)\)\s*\^\s*(\d+)")
_DOUBLE = re.compile(r"\(([^()|]*)\|\|([^()|]*)\)")


def _split_terms(text: str) -> list[str]:
    return [t.strip() for t in text.split("+") if t.strip()]


def expand_powers(formula: str) -> str:
    """``(a + b + c)^2`` -> ``a + b + c + a:b + a:c + b:c`` (R's crossing to degree k, in R's order:
    main effects, then two-way, ... interactions)."""
    def repl(m: re.Match) -> str:
        terms = _split_terms(m.group(1))
        k = int(m.group(2))
        if any(not re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*", t) for t in terms):
            return m.group(0)  # not a plain list of variables: leave it
        out = []
        for order in range(1, min(k, len(terms)) + 1):
            out += [":".join(c) for c in itertools.combinations(terms, order)]
        return " + ".join(out)
    return _POWER.sub(repl, formula)


def expand_double_verts(formula: str) -> str:
    """lme4's ``expandDoubleVerts``: ``(1 + x + S || g)`` -> ``(1 | g) + (0 + x | g) + (0 + S | g)`` (a term
    without an intercept, ``(0 + x || g)``, gives no ``(1 | g)``)."""
    def repl(m: re.Match) -> str:
        lhs, g = m.group(1).strip(), m.group(2).strip()
        terms = _split_terms(lhs)
        intercept = not any(t in ("0", "-1") for t in terms)
        parts = ["(1 | " + g + ")"] if intercept else []
        parts += [f"(0 + {t} | {g})" for t in terms if t not in ("0", "1", "-1")]
        return " + ".join(parts)
    return _DOUBLE.sub(repl, formula)


def mixedlm_formula(formula: str) -> tuple[str, list[str]]:
    """The formula mixedlm fits as lme4 fits ``formula``, and what was rewritten (empty: unchanged)."""
    changed = []
    out = expand_powers(formula)
    if out != formula:
        changed.append("`^` written out as explicit terms")
    out2 = expand_double_verts(out)
    if out2 != out:
        changed.append("`||` written out as lme4 expands it")
    return out2, changed

"""Ports of base R's name routines (one port each): ``make.unique`` and ``make.names`` (used by
:func:`mixedmodels.interop.rio.read_csv` for a header, and for the names of repeated grouping factors in
the variance components, as lme4's ``VarCorr`` names them)."""

from __future__ import annotations

__all__ = ["make_unique", "make_names", "R_RESERVED", "R_RESERVED_CONSTANTS"]

#: R's reserved words (``?Reserved``; ``...`` and ``..1`` etc. aside): never a syntactic name, so
#: ``make.names`` appends a dot and ``deparse`` backquotes them as symbols.
R_RESERVED = frozenset({"if", "else", "repeat", "while", "function", "for", "next", "break", "in", "TRUE",
                        "FALSE", "NULL", "Inf", "NaN", "NA", "NA_integer_", "NA_real_", "NA_character_",
                        "NA_complex_"})
#: the reserved words that are constants (R's parser reads them as values): ``deparse`` writes them bare.
R_RESERVED_CONSTANTS = R_RESERVED - {"if", "else", "repeat", "while", "function", "for", "next", "break", "in"}


def make_unique(names: list[str], sep: str = ".") -> list[str]:
    """R's ``make.unique``: the second ``a`` becomes ``a.1``, the third ``a.2`` (skipping names taken)."""
    taken = set(names)
    seen: set[str] = set()
    counter: dict[str, int] = {}
    out = []
    for nm in names:
        if nm not in seen:
            seen.add(nm)
            out.append(nm)
            continue
        k = counter.get(nm, 1)
        while f"{nm}{sep}{k}" in taken:
            k += 1
        new = f"{nm}{sep}{k}"
        counter[nm] = k + 1
        taken.add(new)
        out.append(new)
    return out


def _make_name(name: str) -> str:
    ok_first = name[:1].isalpha() or name[:1] == "."
    if not ok_first or (name[:1] == "." and name[1:2].isdigit()):
        name = "X" + name
    name = "".join(ch if (ch.isalnum() or ch in "._") else "." for ch in name)
    if name in R_RESERVED:
        name += "."
    return name


def make_names(names, unique: bool = False) -> list[str]:
    """R's ``make.names``: syntactically valid names (invalid characters become ``.``; ``X`` in front of
    a name that does not start with a letter, or starts with a dot and a digit; a reserved word gets a
    trailing dot); with ``unique=True`` repeated names are numbered by :func:`make_unique`, the names that
    were already valid keeping theirs."""
    names = [str(n) for n in names]
    out = [_make_name(n) for n in names]
    if unique:
        order = sorted(range(len(names)), key=lambda i: names[i] != out[i])  # R: order(names != names2)
        uniq = make_unique([out[i] for i in order])
        for i, u in zip(order, uniq):
            out[i] = u
    return out

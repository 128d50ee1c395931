"""Least-squares means, as lmerTest's ``ls_means(m)`` and ``difflsmeans(m)``.

For a fixed-effects term made of factors only (``Variety``, ``N:Variety``), the LS-mean of each level
(cell) is the model's prediction averaged over a balanced reference grid: every combination of the
levels of all factors in the fixed part, numeric variables at their mean over the rows used. So each
row of the contrast matrix is the average of the grid's model-matrix rows in that cell (lmerTest's
``lsmeans_contrasts``), and each LS-mean is a one-degree-of-freedom contrast ``L beta`` tested with
Satterthwaite's or Kenward-Roger's degrees of freedom, with a confidence interval (``contest1D``).
A contrast that is not estimable (a rank-deficient model: a missing cell) gives a row of NA.

One difference from lmerTest, where lmerTest fails: the grid is built from the model's variables as
they enter the model, so a transformed variable (``factor(nitro)``, ``log(x)``, ``poly(x, 2)``) works
-- ``factor(nitro)`` is a factor with its levels, ``log(x)`` is held at the mean of ``log(x)``.
lmerTest rebuilds the model matrix from the grid by name and stops with "object 'nitro' not found".
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..errors import MixedModelsError
from ..rbase import rformat as rf
from ..rbase.rmath import r_round
from .tables import RDataFrame, _contest1d, is_fit, normalize_ddf, SATTERTHWAITE, KENWARD_ROGER

__all__ = ["ls_means", "difflsmeans", "LsMeansTable"]

_COLUMNS = ["Estimate", "Std. Error", "df", "t value", "lower", "upper", "Pr(>|t|)"]


class LsMeansTable(RDataFrame):
    """The table of :func:`ls_means` / :func:`difflsmeans`; ``str()`` is lmerTest's ``print.ls_means``.
    ``hypotheses`` maps each term to its contrast matrix (a DataFrame over the model-matrix columns,
    aliased ones included)."""

    _metadata = ["hypotheses", "level", "ddf", "response"]

    def to_r_string(self) -> str:
        x = pd.DataFrame(self).to_numpy(dtype=float, na_value=np.nan).copy()
        lines = ["Least Squares Means table:", ""]
        if len(x):
            x[:, 2] = r_round(x[:, 2], 1)  # lmerTest: x[, "df"] <- round(x[, "df"], 1)
            lines += rf.print_coefmat(x, [str(i) for i in self.index], list(self.columns),
                                      digits=max(rf.R_DIGITS - 2, 3), has_pvalue=True,
                                      cs_ind=[0, 1, 4, 5], tst_ind=[3])
        else:
            lines += ["     " + " ".join(self.columns)]  # printCoefmat of no rows: the header only
        level = rf.format_num([100 * self.level], digits=2)[0].strip()
        lines += ["", f"  Confidence level: {level}%", f"  Degrees of freedom method: {self.ddf} "]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------ reference grid
def _grid(spec, used: list[int]):
    """expand.grid over the factors (first fastest; the levels present in the rows used), numeric
    variables at their mean over the rows used: the grid's values by variable label, per factor
    variable its grid codes and levels, and the grid's size."""
    factors = [i for i in used if spec.variables[i].is_factor]
    levels = {i: list(spec.variables[i].levels) for i in factors}
    sizes = [len(levels[i]) for i in factors]
    G = int(np.prod(sizes)) if sizes else 1
    combos = np.array(list(itertools.product(*[range(s) for s in reversed(sizes)])), dtype=np.int64)
    combos = combos[:, ::-1] if sizes else np.zeros((1, 0), dtype=np.int64)  # first factor fastest
    values = {}
    codes = {}
    for k, i in enumerate(factors):
        codes[i] = combos[:, k]
        values[spec.variables[i].label] = np.asarray(levels[i], dtype=object)[combos[:, k]]
    for i in used:
        v = spec.variables[i]
        if not v.is_factor:
            mean = np.asarray(v.mean) if v.suffixes is not None else v.mean[0]
            values[v.label] = np.broadcast_to(mean, (G,) + np.shape(mean)).copy()
    return values, codes, levels, G


def _nullspace(A: np.ndarray) -> np.ndarray:
    """lmerTest's ``nullspace``: the right null space of A by SVD (relative tolerance 1e-8)."""
    if A.size == 0:
        return np.zeros((A.shape[1], 0))
    _, d, vt = np.linalg.svd(A, full_matrices=True)
    rank = int(np.sum(d > max(1e-8 * d[0], 0))) if d.size else 0
    return vt[rank:].T


def _contrasts(fit, which):
    spec = fit.frame_spec
    names = list(spec.column_names)
    terms = {t.label: list(t.variables) for t in spec.fixed if t.variables}
    factor_terms = [lab for lab, idx in terms.items() if all(spec.variables[i].is_factor for i in idx)]
    if which is None:
        which = factor_terms
    elif isinstance(which, str):
        which = [which]
    if not all(isinstance(w, str) for w in which):
        raise MixedModelsError(f"which must name terms (strings), not {which!r}")
    bad = [w for w in which if w not in factor_terms]
    if bad:
        raise MixedModelsError(f"no LS-means for {', '.join(repr(b) for b in bad)}: 'which' names terms "
                               f"made of factors only ({', '.join(factor_terms) or 'none in this model'})")
    used = sorted({i for idx in terms.values() for i in idx})
    values, codes, levels, G = _grid(spec, used)
    uX = spec.grid_matrix(values, keep_aliased=True).to_numpy() if used else np.ones((1, len(names)))
    out = {}
    for lab in which:
        idx = terms[lab]
        cell = np.zeros(G, dtype=np.int64)
        mult = 1
        for i in idx:  # cell number, first variable fastest
            cell += codes[i] * mult
            mult *= len(levels[i])
        labels = [":".join(f"{spec.variables[i].label}{levels[i][c]}" for i, c in zip(idx, combo[::-1]))
                  for combo in itertools.product(*[range(len(levels[i])) for i in reversed(idx)])]
        Lt = np.zeros((G, mult))
        Lt[np.arange(G), cell] = 1.0
        L = (Lt / Lt.sum(axis=0)).T @ uX
        out[lab] = (labels, L)
    return out, names, _nullspace(_full_matrix(fit))


def _full_matrix(fit) -> np.ndarray:
    """The fitted X with the columns dropped as aliased put back (they matter for estimability)."""
    if not fit.design.dropped:
        return np.asarray(fit.design.X, dtype=float)
    return fit.frame_spec.fixed_matrix(fit.model.data.iloc[fit.design.rows], keep_aliased=True)


def _pairs(labels: list[str], L: np.ndarray) -> tuple[list[str], np.ndarray]:
    """lmerTest's ``get_pairs``: every difference level i - level j, i < j, in ``combn`` order."""
    names, rows = [], []
    for i, j in itertools.combinations(range(len(labels)), 2):
        names.append(f"{labels[i]} - {labels[j]}")
        rows.append(L[i] - L[j])
    return names, np.array(rows).reshape(len(rows), L.shape[1])


def ls_means(fit, which=None, level: float = 0.95, ddf: str = "Satterthwaite",
             pairwise: bool = False) -> LsMeansTable:
    """lmerTest's ``ls_means(m, which = NULL, level = 0.95, ddf = "Satterthwaite", pairwise = FALSE)``:
    the LS-means of every factor term (or those named in ``which``), with standard errors, degrees of
    freedom, t tests and ``level`` confidence intervals; ``pairwise=True`` gives all pairwise
    differences instead (:func:`difflsmeans`). See the module docstring for the reference grid."""
    if not is_fit(fit):
        raise MixedModelsError(f"ls_means() needs a fitted model, not {type(fit).__name__}")
    method = normalize_ddf(ddf)
    if method is None:
        raise MixedModelsError("ls_means() needs ddf='Satterthwaite' or 'Kenward-Roger'")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise MixedModelsError(f"level must be a number between 0 and 1, not {level!r}")
    llist, names, N = _contrasts(fit, which)
    keep = [names.index(nm) for nm in fit.design.x_names]
    rows, index, hyp = [], [], {}
    for lab, (labels, L) in llist.items():
        if pairwise:
            labels, L = _pairs(labels, L)
        hyp[lab] = pd.DataFrame(L, index=labels, columns=names)  # aliased columns included, as in R
        estimable = np.abs((L @ N).sum(axis=1)) < np.sqrt(np.finfo(float).eps) if N.shape[1] else \
            np.ones(len(L), dtype=bool)
        for name, l_full, ok in zip(labels, L, estimable):
            rows.append(_contest1d(fit, l_full[keep], method, level=level) if ok else [np.nan] * 7)
            index.append(name)
    out = LsMeansTable(np.array(rows, dtype=float).reshape(len(index), 7), index=pd.Index(index),
                       columns=_COLUMNS)
    out.hypotheses = hyp
    out.level = float(level)
    out.ddf = {SATTERTHWAITE: "Satterthwaite", KENWARD_ROGER: "Kenward-Roger"}[method]
    out.response = fit.design.response_name
    return out


def difflsmeans(fit, which=None, level: float = 0.95, ddf: str = "Satterthwaite") -> LsMeansTable:
    """lmerTest's ``difflsmeans(m)``: all pairwise differences of the LS-means of each factor term."""
    return ls_means(fit, which=which, level=level, ddf=ddf, pairwise=True)

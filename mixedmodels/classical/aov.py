"""Classical ANOVA of a mixed model: expected mean squares, F tests and the method of moments.

The lecture's split-plot table (MATH.md section 7), derived for any design, balanced or not:

>>> import mixedmodels as mm
>>> oats = mm.datasets.load("Oats")
>>> res = aov("yield ~ factor(nitro)*Variety + (1|Block) + (1|Block:Variety)", oats)
>>> print(res)                          # doctest: +SKIP
>>> res.varcomp                         # moment estimates, negatives set to 0      # doctest: +SKIP

The random terms of the lme4 formula (intercept-only, ``(1 | g)``) mark the random factors.

**Order of the sources.** Sums of squares are sequential (type I). The random terms are ordered so that a
term comes after every random term it contains (``Block`` before ``Block:Variety``), ties in formula order;
these are the error strata. Each fixed term goes to the first stratum whose grouping factor is constant
wherever the term is (``Variety`` varies only between whole plots, so it belongs to ``Block:Variety``), or to
the residual stratum when there is none, never before a term it is marginal to. The table lists each
stratum's fixed terms, then its random term: for the split plot ``Block, Variety, Block:Variety,
factor(nitro), factor(nitro):Variety, Residual``, the lecture's layout and R's ``aov(... + Error(...))``
strata.

**Expected mean squares** come from Hartley's synthesis (:mod:`mixedmodels.classical.ems`): ``tr(Z_k' Q_j Z_k)`` is
the source-``j`` sum of squares of the columns of ``Z_k`` pushed through the same sequential fit. A source's
fixed-effects part ``b' X' Q_j X b`` is printed as ``Q(terms)``, listing the fixed terms that enter it (on
unbalanced data a random source can pick up a later fixed term; the table says so).

**F tests.** The denominator of a source is the source whose EMS is the tested source's EMS without its own
variance component (random source) or without its fixed part (fixed source), among the sources whose EMS has
no fixed part; when none matches exactly, the linear combination of mean squares with that expectation,
with Satterthwaite's degrees of freedom (reported as ``synth: ...`` in the "Error term" column).

**Moments.** The random sources' and the residual's mean squares are equated to their EMS and solved. When
the data are unbalanced such that a random source's EMS has a fixed part, those equations would be biased;
the moment equations then use Henderson's method III instead (the same sequential fit with all fixed terms
first, so that every random sum of squares is free of fixed effects). A negative solution is reported in
``varcomp_raw`` and set to 0 in ``varcomp`` with a :class:`NegativeVarianceWarning`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import warn as warn_r
from ..rbase import rformat as rf
from ..output.summary import FIT_METHOD_NOTE
from ..frame.design import Design, build_design
from .ems import ErrorTerm, SequentialAnova, error_term
from ..errors import MixedModelsError, ModelError
from ..frame.reterms import ReTerm
from ..formula.parse import expand_bars, split_formula

__all__ = ["aov", "AovResult", "moments_fit", "compare_methods", "MethodComparison",
           "NegativeVarianceWarning", "FIT_METHOD_NOTE"]

RESIDUAL = "Residual"
_SPAN_TOL = 1e-8
_COEF_TOL = 1e-10


class NegativeVarianceWarning(UserWarning):
    """A method-of-moments variance estimate was negative and has been set to 0."""


# ----------------------------------------------------------------------------------------- the sources
@dataclass
class _Source:
    name: str
    kind: str  # "fixed" or "random"
    columns: np.ndarray  # (n, k): X's columns of a fixed term, the indicator matrix of a random term
    term: ReTerm | None = None


def _split_label(term) -> frozenset[str]:
    """The variables of a fixed term (``factor(nitro):Variety`` -> {factor(nitro), Variety})."""
    return frozenset(term.variables)


def _indicator(term: ReTerm) -> np.ndarray:
    Z = np.zeros((len(term.refs), term.nlevels))
    Z[np.arange(len(term.refs)), term.refs] = 1.0
    return Z


def _within_groups(M: np.ndarray, term: ReTerm) -> bool:
    """True when every column of ``M`` is constant within the levels of ``term`` (lies in its span)."""
    M = M.reshape(len(term.refs), -1)
    counts = np.bincount(term.refs, minlength=term.nlevels).astype(float)
    sums = np.zeros((term.nlevels, M.shape[1]))
    np.add.at(sums, term.refs, M)
    means = sums / np.maximum(counts, 1.0)[:, None]
    resid = M - means[term.refs]
    return bool(np.linalg.norm(resid) <= _SPAN_TOL * max(np.linalg.norm(M), 1e-300))


def _check_intercept_only(design: Design, what: str) -> None:
    """Refuse random terms other than ``(1 | g)``: only those have ANOVA expected mean squares here."""
    for t in design.terms:
        if t.cnames != ["(Intercept)"] or not np.all(t.z == 1.0):
            cols = ", ".join(t.cnames)
            raise MixedModelsError(
                f"{what} needs intercept-only random terms such as (1 | {t.group}), but the term "
                f"({t.source}) has the column(s) {cols}; fit models with random slopes by REML or ML")


def _formula_order(design: Design) -> list[ReTerm]:
    """The random terms in the order the formula writes them (design.terms is in lme4's order)."""
    bars = expand_bars(split_formula(design.formula)[2], design.formula.text)
    names = [b.group_name for b in bars]
    by_name: dict[str, ReTerm] = {}
    for t in design.terms:
        if t.group in by_name:
            raise ModelError(f"the grouping factor '{t.group}' appears in two random terms: each random "
                             "factor can have one variance component in an ANOVA")
        by_name[t.group] = t
    ordered = [by_name[nm] for nm in dict.fromkeys(names) if nm in by_name]
    return ordered + [t for t in design.terms if t not in ordered]


def _order_sources(design: Design) -> list[_Source]:
    """Fixed and random sources in the lecture's sequential order (see the module docstring)."""
    rand = _formula_order(design)
    # random terms: a term after every term it contains (whose levels are unions of its own)
    nested = {(i, j): _within_groups(_indicator(rand[i]), rand[j]) for i in range(len(rand))
              for j in range(len(rand)) if i != j}
    strata: list[int] = []
    left = list(range(len(rand)))
    while left:
        for i in left:
            if not any(nested[(k, i)] and not nested[(i, k)] for k in left if k != i):
                strata.append(i)
                left.remove(i)
                break
    strata_terms = [rand[i] for i in strata]
    # fixed terms: the first stratum in which they are constant, never before a marginal term
    fixed = [ft for ft in design.fixed_terms if ft.label != "(Intercept)" and ft.columns]
    increments = dict(_fixed_increments(design, [ft.label for ft in fixed]))
    where: dict[str, int] = {}
    columns: dict[str, np.ndarray] = {}
    nstrata = len(strata_terms)
    for ft in fixed:
        cols = design.X[:, ft.columns]
        s = next((k for k, t in enumerate(strata_terms) if _within_groups(cols, t)), nstrata)
        vars_ = _split_label(ft)
        for other in fixed:
            if other.label in where and _split_label(other) < vars_:
                s = max(s, where[other.label])
        columns[ft.label] = cols
        # a term confounded with a random factor (npk's N:P:K with blocks): what it adds to its margins
        # is constant within that factor's groups although its columns are not; it is then tested in
        # that stratum, by its increment, as R's aov(... + Error(block)) does
        inc = increments.get(ft.label)
        if inc is not None and s > 0:
            s_inc = next((k for k, t in enumerate(strata_terms) if _within_groups(inc, t)), nstrata)
            if s_inc < s:
                s = s_inc
                columns[ft.label] = inc
        where[ft.label] = s
    out: list[_Source] = []
    for k in range(len(strata_terms) + 1):
        for ft in fixed:
            if where[ft.label] == k:
                out.append(_Source(ft.label, "fixed", columns[ft.label]))
        if k < len(strata_terms):
            t = strata_terms[k]
            out.append(_Source(t.group, "random", _indicator(t), t))
    return out


def _fixed_increments(design: Design, labels: list[str]) -> list[tuple[str, np.ndarray]]:
    """What each fixed term adds to the terms it is marginal to, as an orthonormal basis.

    The fixed part of a source's EMS is ``b' X' Q_j X b``; which fixed *terms* it involves is read off these
    increments: a main effect centred, an interaction with its main effects (the terms whose variables are
    a subset of its own) partialled out. This does not depend on the contrasts used to code X.
    """
    terms = [ft for ft in design.fixed_terms if ft.label != "(Intercept)" and ft.columns]
    head = _intercept_block(design)
    out = []
    for ft in terms:
        if ft.label not in labels:
            continue
        vars_ = _split_label(ft)
        marginal = [c for other in terms if _split_label(other) < vars_ for c in other.columns]
        base = head + ([("marginal", design.X[:, marginal])] if marginal else [])
        seq = SequentialAnova(design.n, base + [(ft.label, design.X[:, ft.columns])])
        if seq.bases[-1].shape[1]:
            out.append((ft.label, seq.bases[-1]))
    return out


def _formula_text(design: Design) -> str:
    return " ".join(part.strip() for part in design.formula.deparse().split("\n"))


def _intercept_block(design: Design) -> list[tuple[str, np.ndarray]]:
    for ft in design.fixed_terms:
        if ft.label == "(Intercept)":
            return [("(Intercept)", design.X[:, ft.columns])]
    return []


# ------------------------------------------------------------------------------------- the decomposition
@dataclass
class _Fit:
    """One sequential decomposition and everything derived from it."""

    names: list[str]
    kinds: list[str]
    df: np.ndarray
    ss: np.ndarray
    coef: np.ndarray  # (sources + residual, components): EMS coefficients, residual column last
    fixed_part: list[list[str]]


def _decompose(design: Design, sources: list[_Source], components: list[_Source],
               fixed_terms: list[tuple[str, np.ndarray]]) -> _Fit:
    y = design.y - design.offset
    n = design.n
    head = _intercept_block(design)
    seq = SequentialAnova(n, head + [(s.name, s.columns) for s in sources])
    skip = len(head)
    df = np.append(seq.df[skip:], seq.residual_df)
    ss_src, ss_res = seq.ss(y)
    ss = np.append(ss_src[skip:], ss_res)
    ncomp = len(components) + 1
    coef = np.zeros((len(sources) + 1, ncomp))
    with np.errstate(invalid="ignore", divide="ignore"):
        for k, comp in enumerate(components):
            tr_src, tr_res = seq.ss(comp.columns)  # Hartley: each column of Z_k analysed as the response
            coef[:, k] = np.append(tr_src[skip:], tr_res) / df
        coef[:, -1] = 1.0
    coef[df == 0] = np.nan
    coef[np.abs(coef) < _COEF_TOL] = 0.0
    fixed_part: list[list[str]] = [[] for _ in range(len(sources) + 1)]
    for label, cols in fixed_terms:
        q_src, _ = seq.ss(cols)
        q = q_src[skip:]
        size = float(np.sum(cols ** 2))  # = rank of the increment: its columns are orthonormal
        for j in range(len(sources)):
            if q[j] > 1e-9 * size:
                fixed_part[j].append(label)
    return _Fit([s.name for s in sources] + [RESIDUAL], [s.kind for s in sources] + ["residual"], df, ss,
                coef, fixed_part)


# ------------------------------------------------------------------------------------------- formatting
def _coef_text(c: float) -> str:
    if abs(c - round(c)) <= 1e-8 * max(1.0, abs(c)):
        c = round(c)
        return "" if c == 1 else f"{int(c)}"
    return f"{c:.4g}"


def ems_text(coefs: dict[str, float], fixed: list[str]) -> str:
    """``σ²ε + 4σ²(Block:Variety) + 12σ²(Block) + Q(Variety)`` from EMS coefficients.

    ``coefs`` maps component names (the residual as "Residual") to coefficients; components are written
    residual first, then in the reverse of the given order (innermost stratum first, as the lecture does).
    """
    parts = []
    if coefs.get(RESIDUAL, 0.0):
        parts.append(f"{_coef_text(coefs[RESIDUAL])}σ²ε")
    for name in reversed([k for k in coefs if k != RESIDUAL]):
        c = coefs[name]
        if c and np.isfinite(c):
            parts.append(f"{_coef_text(c)}σ²({name})")
    if fixed:
        parts.append(f"Q({', '.join(fixed)})")
    return " + ".join(parts) if parts else "0"


def _fmt_numbers(values, digits: int) -> list[str]:
    vals = [float(v) for v in values]
    ok = [v for v in vals if np.isfinite(v)]
    if not ok:
        return ["" for _ in vals]
    fmt = iter(rf.format_num(ok, digits=digits))
    return [next(fmt).strip() if np.isfinite(v) else "" for v in vals]


def _fmt_table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = []
    for r in [header] + rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    return lines


# ------------------------------------------------------------------------------------------- the result
@dataclass(eq=False)
class AovResult:
    """The ANOVA table with expected mean squares and the moment estimates of the variance components.

    Attributes
    ----------
    table : DataFrame
        Index: the sources in sequential order (random terms by grouping name, fixed terms by R's label,
        ``"Residual"``). Columns: ``Df``, ``Sum Sq``, ``Mean Sq``, ``EMS`` (text), ``F value``, ``Pr(>F)``,
        ``Error term`` (a source name, ``"synth: ..."`` for a synthesized denominator, ``"none"`` when no
        test is possible, ``""`` for the residual).
    ems : DataFrame
        EMS coefficients: rows the sources, columns the variance components (random terms in table order,
        then ``"Residual"``).
    fixed_part : dict
        For each source, the fixed terms whose effects enter its expected mean square (``Q(...)``).
    error_terms : dict
        For each tested source, its :class:`~mixedmodels.classical.ems.ErrorTerm` (weights, MS, df).
    den_df : Series
        Denominator degrees of freedom of each F test (Satterthwaite's for a synthesized one).
    varcomp_raw : Series
        Moment estimates by grouping name and ``"Residual"``; may be negative.
    varcomp : Series
        The same with negative values set to 0.
    moment_method : str
        ``"ANOVA table"`` or ``"Henderson's method III"`` (see the module docstring).
    moment_ems : DataFrame
        The EMS coefficients of the moment equations actually solved.
    """

    formula: str
    nobs: int
    table: pd.DataFrame
    ems: pd.DataFrame
    fixed_part: dict[str, list[str]]
    error_terms: dict[str, ErrorTerm]
    den_df: pd.Series
    varcomp_raw: pd.Series
    varcomp: pd.Series
    moment_method: str
    moment_ems: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> list[str]:
        """Components whose moment estimate was negative (and set to 0)."""
        return [k for k, v in self.varcomp_raw.items() if v < 0]

    def __str__(self) -> str:
        t = self.table
        header = ["Source", "Df", "Sum Sq", "Mean Sq", "EMS", "F value", "Pr(>F)", "Error term"]
        ss = _fmt_numbers(t["Sum Sq"], 5)
        ms = _fmt_numbers(t["Mean Sq"], 5)
        fv = _fmt_numbers(t["F value"], 4)
        pv = [rf.format_pval([p], digits=4)[0] if np.isfinite(p) else "" for p in t["Pr(>F)"]]
        rows = []
        for i, name in enumerate(t.index):
            rows.append([str(name), str(int(t["Df"].iloc[i])), ss[i], ms[i], str(t["EMS"].iloc[i]), fv[i],
                         pv[i], str(t["Error term"].iloc[i])])
        lines = ["Analysis of variance with expected mean squares (sequential sums of squares)",
                 f"Formula: {self.formula}    n = {self.nobs}", ""]
        lines += _fmt_table(header, rows, right={1, 2, 3, 5, 6})
        lines.append("σ²ε: residual variance;  σ²(g): variance of the random factor g;  Q(terms): fixed "
                     "effects' contribution")
        if len(self.varcomp) > 1:
            lines += ["", f"Variance components by the method of moments ({self.moment_method}):"]
            var = _fmt_numbers(self.varcomp, 6)
            sd = _fmt_numbers(np.sqrt(self.varcomp.to_numpy(dtype=float)), 6)
            vrows = []
            for i, (name, raw) in enumerate(self.varcomp_raw.items()):
                note = f"raw estimate {raw:.6g} < 0, set to 0" if raw < 0 else ""
                vrows.append([str(name), var[i], sd[i], note])
            lines += _fmt_table(["Component", "Variance", "Std.Dev.", ""], vrows, right={1, 2})
        for note in self.notes:
            lines.append(f"Note: {note}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def _analyse(design: Design, formula: str) -> AovResult:
    _check_intercept_only(design, "the ANOVA / method-of-moments analysis")
    sources = _order_sources(design)
    randoms = [s for s in sources if s.kind == "random"]
    fixed_terms = _fixed_increments(design, [s.name for s in sources if s.kind == "fixed"])
    fit = _decompose(design, sources, randoms, fixed_terms)
    comp_names = [s.name for s in randoms] + [RESIDUAL]
    notes: list[str] = []

    if fit.df[-1] <= 0:
        raise ModelError("no residual degrees of freedom are left after the fixed and random terms: the "
                         "residual variance cannot be estimated (is there one observation per cell?)")
    for j, s in enumerate(sources):
        if fit.df[j] == 0 and s.kind == "random":
            raise ModelError(f"the random term '{s.name}' adds no degrees of freedom to the terms before it "
                             "in the ANOVA: its variance cannot be separated from theirs (is it confounded "
                             "with another term?)")
    keep = [j for j in range(len(fit.names)) if fit.df[j] > 0]
    for j in range(len(sources)):
        if j not in keep:
            notes.append(f"the fixed term '{fit.names[j]}' adds no degrees of freedom and is left out")

    ms = fit.ss / np.where(fit.df > 0, fit.df, np.nan)
    ems_df = pd.DataFrame(fit.coef, index=fit.names, columns=comp_names).iloc[keep]
    fixed_part = {fit.names[j]: fit.fixed_part[j] for j in keep}

    # F tests
    clean = [j for j in keep if fit.kinds[j] != "fixed" and not fit.fixed_part[j]]
    fvals, pvals, labels, dens = [], [], [], []
    error_terms: dict[str, ErrorTerm] = {}
    for j in keep:
        name, kind = fit.names[j], fit.kinds[j]
        if kind == "residual":
            fvals.append(np.nan), pvals.append(np.nan), labels.append(""), dens.append(np.nan)
            continue
        target = fit.coef[j].copy()
        if kind == "random":
            target[comp_names.index(name)] = 0.0
        cands = [(fit.names[i], fit.coef[i], ms[i], fit.df[i]) for i in clean if i != j]
        et = error_term(target, cands) if not (kind == "random" and fit.fixed_part[j]) else ErrorTerm()
        error_terms[name] = et
        if et.found and et.ms > 0:
            F = ms[j] / et.ms
            fvals.append(F)
            pvals.append(float(stats.f.sf(F, fit.df[j], et.df)))
        else:
            fvals.append(np.nan)
            pvals.append(np.nan)
        labels.append(et.label)
        dens.append(et.df)

    untested = [fit.names[j] for j, lab in zip(keep, labels) if lab == "none"]
    if untested:
        notes.append(f"no F test for {', '.join(untested)}: no mean square, or combination of mean squares, "
                     "free of fixed effects has the needed expectation (unbalanced data); use the REML "
                     "fit's tests instead (LmerFit.anova(), Satterthwaite or Kenward-Roger)")
    negative = [name for name, et in error_terms.items() if et.found and not et.ms > 0]
    if negative:
        notes.append(f"the synthesized error mean square of {', '.join(negative)} is not positive: no F value")
    names = [fit.names[j] for j in keep]
    table = pd.DataFrame({
        "Df": fit.df[keep].astype(int),
        "Sum Sq": fit.ss[keep],
        "Mean Sq": ms[keep],
        "EMS": [ems_text(dict(zip(comp_names, fit.coef[j])), fit.fixed_part[j]) for j in keep],
        "F value": fvals,
        "Pr(>F)": pvals,
        "Error term": labels,
    }, index=pd.Index(names, name="Source"))
    den_df = pd.Series(dens, index=table.index, name="den_df")

    # method of moments
    rand_rows = [fit.names.index(c) for c in comp_names]
    if all(not fit.fixed_part[j] for j in rand_rows):
        method = "ANOVA table"
        K, m = fit.coef[rand_rows], ms[rand_rows]
    else:
        method = "Henderson's method III"
        contaminated = [fit.names[j] for j in rand_rows if fit.fixed_part[j]]
        notes.append(f"the EMS of {', '.join(contaminated)} include fixed effects (unbalanced data): the "
                     "moment equations use Henderson's method III (all fixed terms fitted first)")
        order = [s for s in sources if s.kind == "fixed"] + randoms
        h = _decompose(design, order, randoms, [])
        rows = [h.names.index(c) for c in comp_names]
        K = h.coef[rows]
        m = h.ss[rows] / h.df[rows]
    moment_ems = pd.DataFrame(K, index=comp_names, columns=comp_names)
    if not np.all(np.isfinite(K)) or np.linalg.matrix_rank(K) < len(comp_names):
        raise ModelError("the moment equations are singular: the variance components cannot all be "
                         "separated by the ANOVA mean squares")
    est = np.linalg.solve(K, m)
    raw = pd.Series(est, index=comp_names, name="variance")
    trunc = raw.clip(lower=0.0)
    for name, v in raw.items():
        if v < 0:
            warn_r(f"the method-of-moments estimate of the variance of '{name}' is negative "
                  f"({v:.6g}); it is set to 0", NegativeVarianceWarning)
    return AovResult(formula=formula, nobs=design.n, table=table, ems=ems_df, fixed_part=fixed_part,
                     error_terms=error_terms, den_df=den_df, varcomp_raw=raw, varcomp=trunc,
                     moment_method=method, moment_ems=moment_ems, notes=notes)


def aov(formula: str, data: pd.DataFrame) -> AovResult:
    """ANOVA table with expected mean squares, F tests and moment estimates of the variance components.

    Parameters
    ----------
    formula : str
        An lme4 formula whose random terms, all of the form ``(1 | g)``, mark the random factors:
        ``"yield ~ factor(nitro)*Variety + (1|Block) + (1|Block:Variety)"``. Nested terms ``(1 | a/b)``
        work; a formula without random terms gives the fixed-effects ANOVA.
    data : pandas.DataFrame

    Returns
    -------
    AovResult
        ``print()`` it for the lecture's table (Source, Df, SS, MS, EMS, F, p, error term).
    """
    design = build_design(formula, data, require_random=False)
    return _analyse(design, _formula_text(design))


# --------------------------------------------------------------------------------------- moments fit
@dataclass(frozen=True, eq=False)
class MomentsSummary:
    """The record of a method-of-moments fit (its ``optinfo``): no optimizer ran, theta comes from the
    moment equations in closed form.

    ``theta``: ``sqrt(s2_k / s2_e)`` per term; ``objective``: the REML criterion at that theta (for
    comparison with a REML fit); ``varcomp``: the moment estimates of the variance components (negative
    ones set to 0) and ``varcomp_raw`` before that; ``truncated``: the components set to 0. The fields
    an optimizer's :class:`~mixedmodels.fit.optimize.OptSummary` has that apply here say so: no
    evaluations (``feval = 0``, ``ngrad = 0``), ``converged`` (the equations have one solution),
    ``optimizer = "method of moments"``, no messages, an empty fit log.
    """

    theta: np.ndarray
    objective: float
    varcomp: pd.Series
    varcomp_raw: pd.Series
    truncated: tuple[str, ...] = ()
    optimizer: str = "method of moments"
    return_code: str = "closed form (moment equations)"
    converged: bool = True
    feval: int = 0
    ngrad: int = 0
    restarts: int = 0
    messages: tuple[str, ...] = ()
    checks: tuple = ()
    fitlog: tuple = ()
    path: str = ""


def moments_fit(model):
    """Fit a :class:`~mixedmodels.model.LinearMixedModel` by the method of moments.

    The variance components are the ANOVA moment estimates (negative ones set to 0), ``theta_k =
    sqrt(s2_k / s2_e)`` and ``sigma = sqrt(s2_e)``. The fixed effects (BLUEs, by generalized least squares)
    and the conditional modes (BLUPs) are those of the mixed-model equations at that theta. Only scalar
    random-intercept terms ``(1 | g)`` are supported. The fit's record is a :class:`MomentsSummary`
    (no optimizer ran); its objective is the REML criterion at that theta.
    """
    if model.design.weights is not None:
        raise MixedModelsError("the method of moments is not available with prior weights")
    from ..model import LmerFit

    design = model.design
    _check_intercept_only(design, "the method of moments")
    res = _analyse(design, _formula_text(design))
    s2e = float(res.varcomp[RESIDUAL])
    if not s2e > 0:
        raise ModelError("the moment estimate of the residual variance is 0: the model fits the data "
                         "exactly, so the variance ratios are undefined")
    theta = np.array([math.sqrt(float(res.varcomp[t.group]) / s2e) for t in design.terms])
    crit = model.criterion(True)
    raw = res.varcomp_raw
    truncated = tuple(str(g) for g in raw.index if float(raw[g]) < 0)
    record = MomentsSummary(theta=theta, objective=float(crit(theta)), varcomp=res.varcomp.copy(),
                            varcomp_raw=raw.copy(), truncated=truncated)
    return LmerFit(model, True, record, sigma=math.sqrt(s2e), method="moments")


# ---------------------------------------------------------------------------------- method comparison
@dataclass(eq=False)
class MethodComparison:
    """Variance components and fixed effects by ML, REML and the method of moments, side by side.

    Attributes: ``varcomp``, ``fixef``, ``se`` (DataFrames with columns ``"ML"``, ``"REML"``,
    ``"Moments"``), ``varcomp_raw_moments`` (before truncation), ``fits`` (the three fits), ``aov``.
    """

    formula: str
    varcomp: pd.DataFrame
    fixef: pd.DataFrame
    se: pd.DataFrame
    varcomp_raw_moments: pd.Series
    fits: dict
    aov: AovResult
    nobs: int
    nfixef: int

    def notes(self) -> list[str]:
        v = self.varcomp
        out = []
        below = [g for g in v.index if v.loc[g, "REML"] > 0 and v.loc[g, "ML"] < v.loc[g, "REML"] * (1 - 1e-4)]
        if below:
            ratios = ", ".join(f"{g} {v.loc[g, 'ML'] / v.loc[g, 'REML']:.3f}" for g in below)
            out.append(f"ML estimates are smaller than REML's (ML does not account for the {self.nfixef} "
                       f"fixed-effect degrees of freedom; n = {self.nobs}); ML/REML: {ratios}")
        ok = v["REML"].abs() > 0
        rel = ((v["REML"] - v["Moments"]).abs() / v["REML"].abs().where(ok, 1.0)).max()
        trunc = [g for g, x in self.varcomp_raw_moments.items() if x < 0]
        if trunc:
            out.append(f"moment estimates set to 0: {', '.join(trunc)} (raw "
                       + ", ".join(f"{self.varcomp_raw_moments[g]:.4g}" for g in trunc) + ")")
        if rel < 1e-5:
            out.append(f"REML and moments agree (max relative difference {rel:.1e}), as they do on "
                       "balanced data when no moment estimate is truncated")
        else:
            why = "an estimate was truncated at 0" if trunc else "the data are unbalanced"
            out.append(f"REML and moments differ (max relative difference {rel:.2g}): {why}")
        return out

    def __str__(self) -> str:
        lines = [f"Estimation methods compared: {self.formula}", "",
                 "Variance components:"]
        lines += self.varcomp.to_string(float_format=lambda x: f"{x:.6g}").splitlines()
        lines += ["", "Fixed effects (BLUEs):"]
        lines += self.fixef.to_string(float_format=lambda x: f"{x:.6g}").splitlines()
        lines += ["", "Standard errors of the fixed effects:"]
        lines += self.se.to_string(float_format=lambda x: f"{x:.6g}").splitlines()
        lines.append("")
        lines += [f"* {n}" for n in self.notes()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def compare_methods(formula: str, data: pd.DataFrame) -> MethodComparison:
    """Fit ``formula`` by ML, REML and the method of moments and put the estimates side by side."""
    from ..model import LinearMixedModel

    model = LinearMixedModel(formula, data)
    fits = {"ML": model.fit("ML"), "REML": model.fit("REML"), "Moments": moments_fit(model)}
    comps = [t.group for t in model.design.terms] + [RESIDUAL]

    def vc(f):
        vals = [float(f.sigma ** 2 * f.theta[k] ** 2) for k in range(len(model.design.terms))]
        return vals + [float(f.sigma ** 2)]

    varcomp = pd.DataFrame({k: vc(f) for k, f in fits.items()}, index=pd.Index(comps, name="Component"))
    fixef = pd.DataFrame({k: f.fixef for k, f in fits.items()})
    se = pd.DataFrame({k: f.se for k, f in fits.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeVarianceWarning)
        res = _analyse(model.design, _formula_text(model.design))
    return MethodComparison(formula=_formula_text(model.design), varcomp=varcomp,
                            fixef=fixef, se=se, varcomp_raw_moments=res.varcomp_raw.reindex(comps), fits=fits,
                            aov=res, nobs=model.design.n, nfixef=model.design.p)

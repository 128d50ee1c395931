"""Single-term deletions, as lmerTest prints them: ``ranova(m)`` for the random effects (likelihood-ratio
tests of reduced random-effects structures) and ``drop1(m)`` for the fixed effects (F tests of the
marginal terms with Satterthwaite's or Kenward-Roger's denominator degrees of freedom).

``ranova`` follows lmerTest's rules for each random-effects term (lme4's ``findbars`` expansion of the
formula, so ``(1 | a/b)`` is the two terms ``(1 | b:a)`` and ``(1 | a)``):

* ``(1 | g)`` is removed;
* ``(f1 + f2 | g)`` is reduced to ``(f2 | g)`` and to ``(f1 | g)`` (each droppable term of the left-hand
  side in turn, R's ``drop.scope``), ``(f1 | g)`` and ``(0 + f1 | g)`` to ``(1 | g)``;
* with ``reduce_terms=False`` every term is removed whole.

The reduced models are refitted by the same method (REML or ML); a model left without random effects is
a linear model whose (REML) log-likelihood is R's ``logLik(lm(...), REML = ...)``. The table has R's
columns ``npar``, ``logLik``, ``AIC``, ``LRT``, ``Df``, ``Pr(>Chisq)`` and prints as lmerTest prints it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from ..errors import MixedModelsError
from ..formula.parse import (BinOp, Formula, Node, Num, deparse, expand_bars, expand_slash, is_intercept_literal,
                             parse_formula, split_formula, summands)
from ..formula.terms import TermAlgebra, expand_terms
from ..frame.design import build_design, lme4_term_order
from ..post.updating import theta_start, update_formula
from ..rbase.rformat import zapsmall
from .tables import _anova_frame, _contest_md, _F_COLUMNS, _FixedStructure, is_fit, normalize_ddf, \
    SATTERTHWAITE, KENWARD_ROGER

__all__ = ["ranova", "drop1", "reduced_model"]


# ------------------------------------------------------------------------- refits on the full frame
def _bar_keys(formula: Formula) -> list[tuple[str, str]]:
    """(grouping factor, expression) of each random-effects term of a formula, in formula order."""
    return [(b.group_name, deparse(b.expr)) for b in expand_bars(split_formula(formula)[2], formula.text)]


def reduced_model(fit, formula: str, drop_fixed=()):
    """The unfitted model of ``formula`` -- ``fit``'s formula with the fixed-effects terms ``drop_fixed``
    removed, or random-effects terms removed or replaced by terms ``fit`` has -- on ``fit``'s model
    frame, sliced from ``fit``'s design and cross-products rather than built again from the data (no
    formula evaluation, no model matrices, no products over the rows). None where slicing cannot
    reproduce what building the formula gives (then the caller builds it): rows with missing values
    (the reduced model may use more rows), aliased columns, a term whose coding changes, a new term."""
    d = fit.design
    if len(d.rows) != len(fit.model.data) or d.spec is None:
        return None
    new_f = parse_formula(formula)
    # the full model's terms in formula order: match the written bars to the design's terms
    full_bars = expand_bars(split_formula(d.formula)[2], d.formula.text)
    src = [(b.group_name, deparse(b.source)) for b in full_bars]
    if len(set(src)) != len(src) or len(src) != len(d.terms):
        return None  # (x || g) writes several terms with one source: not told apart here
    where = {(t.group, t.source): k for k, t in enumerate(d.terms)}
    if any(key not in where for key in src):
        return None
    by_key = {(b.group_name, deparse(b.expr)): where[key] for b, key in zip(full_bars, src)}
    keep: list = []
    for b in expand_bars(split_formula(new_f)[2], new_f.text):
        key = (b.group_name, deparse(b.expr))
        if key in by_key:
            keep.append(by_key[key])
            continue
        # lmerTest's reduction of (x | g) to (1 | g): the intercept column of the one term on g
        on_g = [k for (g, _), k in by_key.items() if g == key[0]]
        if key[1] != "1" or len(on_g) != 1:
            return None  # a term the full model does not have
        keep.append((on_g[0], deparse(b.source)))
    index = [k if isinstance(k, int) else k[0] for k in keep]
    if not keep or len(set(index)) != len(index):
        return None
    order = lme4_term_order([d.terms[k].nlevels for k in index])
    keep, index = [keep[k] for k in order], [index[k] for k in order]
    design = d.reduced(new_f, keep, drop_fixed)
    if design is None:
        return None
    crit = fit._crit
    cp = shift = None
    x_keep = [d.x_names.index(nm) for nm in design.x_names]
    if index[0] == 0 and (not crit.y_shift or crit.int_col in x_keep):
        offsets = np.concatenate([[0], np.cumsum([t.nranef for t in d.terms[1:]])]).astype(int)
        rest = []
        for k, entry in zip(index[1:], keep[1:]):
            t = d.terms[k]
            block = offsets[k - 1] + np.arange(t.nranef)
            rest.append(block if isinstance(entry, int) else block[:: t.ncols])  # the intercept: column 0
        rest += [crit.qrest + np.asarray(x_keep, dtype=int), [crit.m - 1]]
        first = None if isinstance(keep[0], int) else [0]
        cp, shift = crit.cp.select(np.concatenate(rest), first), crit.y_shift
    return type(fit.model).from_design(fit.model, formula, design, crossprods=cp, y_shift=shift)


# ------------------------------------------------------------------------------------------- ranova
def _findbars(rhs: Node) -> list[tuple[str, str]]:
    """lme4's ``findbars`` on a right-hand side, as ``(lhs, group)`` texts in lme4's order: ``(e | a/b)``
    gives ``(e | b:a)`` then ``(e | a)``; ``(x || g)`` gives ``(1 | g)`` then ``(0 + x | g)``."""
    out: list[tuple[str, str]] = []
    for bar in split_formula_bars(rhs):
        groups = [deparse(g) for g in reversed(expand_slash(bar.right, ""))]
        if bar.op == "|":
            out += [(deparse(bar.left), g) for g in groups]
            continue
        has_int = True
        parts = []
        for sign, p in summands(bar.left):
            if is_intercept_literal(p, 0) or (sign == "-" and is_intercept_literal(p, 1)):
                has_int = False
            elif not is_intercept_literal(p, 1):
                parts.append(deparse(BinOp(op="+", left=Num(value=0.0), right=p)))
        lhs = (["1"] if has_int else []) + parts
        out += [(e, g) for e in lhs for g in groups]
    return out


def split_formula_bars(rhs: Node) -> list[BinOp]:
    _, _, bars = split_formula(Formula(lhs=None, rhs=rhs, text=""))
    return bars


def _lhs_terms(lhs: str) -> tuple[list[str], list[str]]:
    """R's ``attr(terms(~ lhs), "term.labels")`` and ``drop.scope(~ lhs)`` of a random-effects
    term's left-hand side."""
    alg = TermAlgebra(lhs)
    keys = [k for k in expand_terms(alg.compile(parse_formula("~" + lhs).rhs)) if k != ()]
    labels = [":".join(alg.atoms[i] for i in k) for k in keys]
    scope = [lab for k, lab in zip(keys, labels)
             if not any(set(k) < set(other) for other in keys)]
    return labels, scope


def _reduced_formulas(full: str, bars: list[tuple[str, str]], reduce_terms: bool) -> list[tuple[str, str]]:
    """lmerTest's ``get_newforms`` / ``rm_complete_terms``: (row name, reduced formula) pairs."""
    out = []
    for lhs, group in bars:
        form = f"{lhs} | {group}"
        labels, scope = _lhs_terms(lhs)
        if not reduce_terms or not labels or not scope:
            out.append((f"({form})", update_formula(full, f"~ . - ({form})")))
            continue
        for scp in scope:
            if set(labels) == {scp}:
                new_lhs = "1"
            else:
                new_lhs = update_formula("~" + lhs, f"~ . - {scp}")[1:]
            out.append((f"{scp} in ({form})",
                        update_formula(full, f"~ . - ({form}) + ({new_lhs} | {group})")))
    return out


def _lm_loglik(formula: str, data, reml: bool, frame_args: dict) -> tuple[float, int, int]:
    """R's ``logLik(lm(formula, data, weights), REML = reml)``: (value, df = p + 1, nobs)."""
    return _lm_loglik_design(build_design(formula, data, require_random=False, **frame_args), reml)


def _lm_loglik_design(d, reml: bool) -> tuple[float, int, int]:
    """:func:`_lm_loglik` on a built design (its X, response, offset and weights)."""
    X = np.asarray(d.X, dtype=float)
    y = np.asarray(d.y - d.offset, dtype=float)
    w = d.weights
    if w is not None:
        X, y = X * np.sqrt(w)[:, None], y * np.sqrt(w)
    n, p = X.shape
    if p:
        q, r = np.linalg.qr(X)
        res = y - q @ (q.T @ y)
        logdiag = float(np.sum(np.log(np.abs(np.diag(r)))))
    else:
        res, logdiag = y, 0.0
    N = n - p if reml else n
    logw = float(np.log(w).sum()) if w is not None else 0.0
    val = 0.5 * (logw - N * (math.log(2 * math.pi) + 1 - math.log(N) + math.log(float(res @ res))))
    if reml:
        val -= logdiag
    return val, p + 1, n


def ranova(fit, reduce_terms: bool = True):
    """lmerTest's ``ranova(m, reduce.terms = TRUE)``: an ANOVA-like table of likelihood-ratio tests of
    the random-effects terms (see the module docstring). REML fits give REML likelihood-ratio tests.

    Returns an :class:`~mixedmodels.inference.tables.AnovaTable` (``str()`` is lmerTest's print) whose
    ``formulae`` attribute maps each row to its reduced model's formula.
    """
    if not is_fit(fit) or fit.method == "moments":
        raise MixedModelsError("ranova() needs a model fitted by REML or ML")
    if not isinstance(reduce_terms, (bool, np.bool_)):
        raise MixedModelsError(f"reduce_terms must be True or False, not {reduce_terms!r}")
    return _ranova(fit, reduce_terms)[0]


def _ranova(fit, reduce_terms: bool = True):
    """:func:`ranova`'s table and the reduced models' fits by row name (step() goes on with one)."""
    f = parse_formula(fit.model.formula)
    bars = _findbars(f.rhs)
    _, fixed, _ = split_formula(f)
    fe_rhs = " + ".join(deparse(n) for n in fixed) if fixed else "1"
    fe_rhs = fe_rhs.replace("+ -", "- ")
    full_rhs = " + ".join([fe_rhs] + [f"({lhs} | {g})" for lhs, g in bars])
    full = update_formula(fit.model.formula, f". ~ {full_rhs}")
    rows = [(fit.npar, fit.loglik)]
    names = ["<none>"]
    formulae, fits = {}, {}
    data, data_name = fit.model.data, fit.model.data_name
    for name, form in _reduced_formulas(full, bars, reduce_terms):
        if "|" in form:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = reduced_model(fit, form) or \
                    type(fit.model)(form, data, data_name=data_name, **fit.model.refit_args)
                m = model.fit("REML" if fit.reml else "ML",
                              **{"theta0": theta_start(fit, model.design.terms), **fit.fit_options})
            ll, npar, nobs = m.loglik, m.npar, m.nobs
            fits[name] = m
        else:
            if len(fit.design.rows) == len(data):  # the same rows and fixed part: the full model's X
                ll, npar, nobs = _lm_loglik_design(fit.design, fit.reml)
            else:
                ll, npar, nobs = _lm_loglik(form, data, fit.reml, fit.model.refit_args)
        if nobs != fit.nobs:
            raise MixedModelsError("number of rows in use has changed: remove missing values?")
        rows.append((npar, ll))
        names.append(name)
        formulae[name] = form
    npar = np.array([r[0] for r in rows], dtype=float)
    ll = np.array([r[1] for r in rows])
    lrt = np.concatenate([[np.nan], 2 * (ll[0] - ll[1:])])
    df = np.concatenate([[np.nan], npar[0] - npar[1:]])
    with np.errstate(invalid="ignore"):
        pv = np.where(df > 0, stats.chi2.sf(lrt, np.where(df > 0, df, 1)), np.nan)
    pv[0] = np.nan
    vals = np.column_stack([npar, ll, -2 * ll + 2 * npar, lrt, df, pv])
    heading = ["ANOVA-like table for random-effects: Single term deletions", "\nModel:", full]
    out = _anova_frame(vals, names, ["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"], heading)
    out.formulae = formulae
    return out, fits


# -------------------------------------------------------------------------------------------- drop1
def _diff_contrast(fit, label: str) -> np.ndarray | None:
    """lmerTest's ``get_Ldiffmat2`` for a rank-deficient X: the hypothesis that removing ``label`` makes
    no difference, ``L = orth(X' R)'`` with ``R`` the part of X that the model matrix without the term
    (on the same rows) does not explain; None when removing the term changes nothing. One difference,
    on purpose: the rank of L is that of X'R (see below)."""
    X = np.asarray(fit.design.X, dtype=float)
    reduced = fit.frame_spec.without_terms([label])  # R's update(m, . ~ . - label), same model frame
    X0 = reduced.fixed_matrix(fit.model.data.iloc[fit.design.rows], keep_aliased=True)
    R = X - X0 @ np.linalg.lstsq(X0, X, rcond=None)[0] if X0.shape[1] else X.copy()
    R = R[:, np.abs(R).sum(axis=0) > 1e-8]
    if R.shape[1] == 0:
        return None
    # an orthonormal basis of the span of X'R. lmerTest takes qr.Q of X'R, which has one column per
    # column of R even when they are dependent (factor(x) + x: three residual columns spanning two
    # directions), so its test then has a spurious, numerically arbitrary extra direction; here only the
    # directions removing the term takes away are tested
    U, sv, _ = np.linalg.svd(X.T @ R, full_matrices=False)
    rank = int(np.sum(sv > 1e-8 * max(sv[0], 1e-300))) if sv.size else 0
    return zapsmall(U[:, :rank]).T


def drop1(fit, ddf: str = "Satterthwaite"):
    """lmerTest's ``drop1(m, ddf = ...)``: an F test (Satterthwaite's or Kenward-Roger's denominator
    degrees of freedom) for each marginal fixed-effects term -- a term contained in no other term, so it
    can be dropped while keeping the model hierarchical -- printed as lmerTest prints it."""
    if not is_fit(fit):
        raise MixedModelsError(f"drop1() needs a fitted model, not {type(fit).__name__}")
    method = normalize_ddf(ddf)
    if method is None:
        raise MixedModelsError("drop1() tests with 'Satterthwaite' or 'Kenward-Roger' degrees of freedom")
    fs = _FixedStructure(fit.design)
    # R's drop.scope: terms whose variables are not all in another term
    vs = {lab: set(fs.vars[lab]) for lab in fs.labels}
    marginal = [a for a in fs.labels if not any(vs[a] < vs[b] for b in fs.labels)]
    p = fs.X.shape[1]
    rows, index = [], []
    for lab in marginal:
        cols = fs.cols[lab]
        if fit.design.dropped:
            L = _diff_contrast(fit, lab)  # lmerTest's route for a rank-deficient X
        else:
            L = np.eye(p)[cols, :] if cols else None
        if L is None or L.shape[0] == 0:
            rows.append([np.nan] * 6)
        else:
            r = _contest_md(fit, L, method)
            rows.append(r if r is not None else [np.nan] * 6)
        index.append(lab)
    meth = {SATTERTHWAITE: "Satterthwaite's", KENWARD_ROGER: "Kenward-Roger's"}[method]
    heading = [f"Single term deletions using {meth} method:", "\nModel:",
               fit.design.formula.deparse(cutoff=500)]  # lmerTest's deparse2: one line
    return _anova_frame(np.array(rows, dtype=float).reshape(len(index), 6), index, _F_COLUMNS, heading)


# --------------------------------------------------------------------------------------------- step
class StepResult:
    """lmerTest's ``step(m)``: the backward-reduction tables of the random and the fixed effects and the
    final model (``model``); ``str()`` is lmerTest's print."""

    def __init__(self, random, fixed, model):
        self.random = random
        self.fixed = fixed
        self.model = model

    def __str__(self) -> str:
        return "\n".join([str(self.random), "", str(self.fixed), "", "Model found:",
                          self.model.design.formula.deparse(cutoff=500)])

    __repr__ = __str__


def _with_eliminated(rows: list, eliminated: list, columns: list, heading: list):
    vals = [[e] + list(r) for e, r in zip(eliminated, [r[1] for r in rows])]
    return _anova_frame(np.array(vals, dtype=float).reshape(len(rows), len(columns) + 1),
                        [r[0] for r in rows], ["Eliminated"] + columns, heading)


def _update(fit, formula: str, drop_fixed=()):
    """``update(fit, formula)`` (same method and optimizer settings, started from ``fit``'s theta) on a
    design sliced from ``fit``'s where possible (:func:`reduced_model`)."""
    model = reduced_model(fit, formula, drop_fixed)
    if model is None:
        return fit.update(formula)
    return model.fit("REML" if fit.reml else "ML",
                     **{"theta0": theta_start(fit, model.design.terms), **getattr(fit, "fit_options", {})})


def step(fit, ddf: str = "Satterthwaite", alpha_random: float = 0.1, alpha_fixed: float = 0.05,
         reduce_fixed: bool = True, reduce_random: bool = True, keep=()) -> StepResult:
    """lmerTest's ``step(m, ddf, alpha.random = 0.1, alpha.fixed = 0.05, reduce.fixed, reduce.random,
    keep)``: backward elimination, first of the random-effects terms (by :func:`ranova`, the largest
    p-value above ``alpha_random`` removed or reduced at each step, refitting), then of the marginal
    fixed-effects terms (by :func:`drop1`, above ``alpha_fixed``, except those in ``keep``).

    Raises :class:`~mixedmodels.errors.MixedModelsError` if the elimination would remove every random
    effect (lmerTest then goes on with an ``lm`` fit, which is not done here).
    """
    if not is_fit(fit) or fit.method == "moments":
        raise MixedModelsError("step() needs a model fitted by REML or ML")
    for name, a in (("alpha_random", alpha_random), ("alpha_fixed", alpha_fixed)):
        if not isinstance(a, (int, float)) or not 0 <= a <= 1:
            raise MixedModelsError(f"{name} must be a number between 0 and 1, not {a!r}")
    keep = [keep] if isinstance(keep, str) else list(keep)
    if not reduce_random:
        alpha_random = 1.0
    if not reduce_fixed:
        alpha_fixed = 1.0
    ran_cols = ["npar", "logLik", "AIC", "LRT", "Df", "Pr(>Chisq)"]
    # ---- random effects
    model = fit
    table, fits = _ranova(model)
    reduced = [("<none>", table.iloc[0].to_numpy())]
    while True:
        pv = table["Pr(>Chisq)"].to_numpy()[1:]
        above = ~np.isnan(pv) & (pv > alpha_random)
        if not above.any():
            break
        k = int(np.nanargmax(np.where(above, pv, -np.inf)))
        name = table.index[1 + k]
        reduced.append((name, table.iloc[1 + k].to_numpy()))
        form = table.formulae[name]
        if "|" not in form:
            raise MixedModelsError("step(): the elimination removes every random effect; lmerTest then "
                                   "continues with a linear model (lm), which is not supported here")
        # ranova() has fitted it already, as update() would (same method and settings, same start)
        model = fits[name]
        table, fits = _ranova(model)
    rest = [(table.index[i], table.iloc[i].to_numpy()) for i in range(1, len(table))]
    random = _with_eliminated(reduced + rest,
                              [np.nan] + list(range(1, len(reduced))) + [0] * len(rest), ran_cols,
                              ["Backward reduced random-effect table:\n"])
    # ---- fixed effects
    aov = drop1(model, ddf=ddf)
    removed = []
    while True:
        consider = [t for t in aov.index if t not in keep]
        pv = aov.loc[consider, "Pr(>F)"].to_numpy() if consider else np.zeros(0)
        above = ~np.isnan(pv) & (pv > alpha_fixed)
        if not above.any():
            break
        k = int(np.nanargmax(np.where(above, pv, -np.inf)))
        term = consider[k]
        removed.append((term, aov.loc[term].to_numpy()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = _update(model, update_formula(model.frame_spec.formula.deparse(), f". ~ . - {term}"), [term])
        aov = drop1(model, ddf=ddf)
    rest = [(aov.index[i], aov.iloc[i].to_numpy()) for i in range(len(aov))]
    meth = "Satterthwaite" if normalize_ddf(ddf) == SATTERTHWAITE else "Kenward-Roger"
    fixed = _with_eliminated(removed + rest, list(range(1, len(removed) + 1)) + [0] * len(rest), _F_COLUMNS,
                             ["Backward reduced fixed-effect table:", f"Degrees of freedom method: {meth} \n"])
    return StepResult(random, fixed, model)

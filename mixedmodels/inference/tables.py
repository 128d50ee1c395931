"""Inference for fitted linear mixed models: what lmerTest, pbkrtest and lme4 add on top of a fit.

=====================================  ================================================================
function                               R counterpart
=====================================  ================================================================
:func:`coef_table`                     ``coef(summary(m, ddf = ...))`` (lmerTest ``get_coefmat``)
:func:`anova_table`                    ``anova(m, type = ..., ddf = ...)`` (lmerTest ``single_anova``;
                                       ``ddf = "lme4"``: ``lme4:::anova.merMod`` for one model)
:func:`contest`                        ``lmerTest::contest(m, L, joint = ..., ddf = ...)``
:func:`lrt` (exported as ``anova``)    ``anova(m0, m1, ...)`` (lme4's likelihood-ratio table)
:func:`confint`                        ``confint(m, method = "Wald" | "profile" | "boot",
                                       oldNames = FALSE)``
=====================================  ================================================================

Satterthwaite's method is in :mod:`mixedmodels.inference.satterthwaite`, Kenward-Roger's in
:mod:`mixedmodels.inference.kenward_roger`, likelihood profiles in :mod:`mixedmodels.inference.profile` and the parametric
bootstrap in :mod:`mixedmodels.inference.bootstrap`. Tables are pandas DataFrames; those R prints with a heading
(``anova``) are :class:`AnovaTable`, whose ``str()`` is R's printed text.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import warn as warn_r
from ..errors import MixedModelsError
from ..frame.design import independent_columns
from ..output.summary import format_anova_table
from ..rbase import rformat as rf
from ..rbase.rformat import zapsmall
from .bootstrap import confint_boot
from .kenward_roger import kr_adjust, lb_ddf, vcov_adj
from .profile import confint_profile, format_perc, par_names, profile, profile_alphamax
from .satterthwaite import satterthwaite_1d, satterthwaite_md, varpar_info

__all__ = ["normalize_ddf", "coef_table", "anova_table", "contest", "lrt", "anova", "confint",
           "AnovaTable", "RDataFrame", "wald_confint"]

SATTERTHWAITE = "Satterthwaite"
KENWARD_ROGER = "Kenward-Roger"
_DDF_ALIASES = {"satterthwaite": SATTERTHWAITE, "kr": KENWARD_ROGER, "kenward-roger": KENWARD_ROGER,
                "kenward_roger": KENWARD_ROGER, "kenwardroger": KENWARD_ROGER, "lme4": None}


def normalize_ddf(ddf) -> str | None:
    """The canonical name of a denominator-df method: ``"Satterthwaite"``, ``"Kenward-Roger"``, or
    ``None`` (lme4: no df, no p-values).

    Accepted (case-insensitive): ``"Satterthwaite"``, ``"KR"``, ``"Kenward-Roger"``, ``"lme4"`` and
    ``None``; anything else raises :class:`~mixedmodels.errors.MixedModelsError`.
    """
    if ddf is None:
        return None
    if isinstance(ddf, str) and ddf.strip().lower() in _DDF_ALIASES:
        return _DDF_ALIASES[ddf.strip().lower()]
    raise MixedModelsError(f"unknown ddf method {ddf!r}: use 'Satterthwaite', 'Kenward-Roger' (or 'KR'), "
                           "or None / 'lme4' for none")


def is_fit(obj) -> bool:
    """Whether ``obj`` is a fitted linear mixed model (an :class:`~mixedmodels.model.LmerFit`), told by
    what the tables read from it (so this module need not import the fitted class)."""
    return all(hasattr(type(obj), a) for a in ("frame_spec", "fixef", "vcov", "design"))


# ======================================================================================= printing
class RDataFrame(pd.DataFrame):
    """A DataFrame whose ``str()`` is what R's ``print.data.frame`` shows (7 significant digits per
    column, right-aligned). Operations on it return plain DataFrames."""

    _metadata: list[str] = []

    @property
    def _constructor(self):
        return pd.DataFrame

    def to_r_string(self) -> str:
        cols = [str(c) for c in self.columns]
        cells_by_col = []
        for c in self.columns:
            v = pd.to_numeric(self[c], errors="coerce").to_numpy(dtype=float)
            cells_by_col.append(rf.format_num(v, digits=rf.R_DIGITS))
        nr = len(self)
        cells = [[cells_by_col[j][i] for j in range(len(cols))] for i in range(nr)]
        if nr == 0:
            return "[1] " + " ".join(cols) + "\n<0 rows> (or 0-length row.names)"
        lines = rf.print_matrix(cells, [str(i) for i in self.index], cols, right=True)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_r_string()

    def __repr__(self) -> str:
        return self.to_r_string()

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        import html

        return "<pre>" + html.escape(self.to_r_string()) + "</pre>"


class AnovaTable(RDataFrame):
    """An ANOVA-type table (R class ``anova``): ``str()`` is R's ``print.anova`` (heading, table,
    significance stars). ``heading`` is a list of lines; ``hypotheses`` (lmerTest tables) maps each term
    to its hypothesis matrix L (a DataFrame, columns = fixed effects); ``formulae`` (``ranova``) maps each
    row to the formula of its reduced model."""

    _metadata = ["heading", "hypotheses", "formulae"]

    def to_r_string(self) -> str:
        heading = getattr(self, "heading", None)
        return format_anova_table(pd.DataFrame(self), heading)


def _anova_frame(values, index, columns, heading, hypotheses=None) -> AnovaTable:
    out = AnovaTable(np.asarray(values, dtype=float).reshape(len(index), len(columns)),
                     index=pd.Index([str(i) for i in index]), columns=columns)
    out.heading = heading
    out.hypotheses = hypotheses
    return out


# ======================================================================================= t tests
def _pt2(t: float, df: float) -> float:
    """``2 * pt(abs(t), df, lower.tail = FALSE)``."""
    if not np.isfinite(t) or not np.isfinite(df) or df <= 0:
        return np.nan
    return float(2 * stats.t.sf(abs(t), df))


def _contest1d(fit, L: np.ndarray, ddf: str, rhs: float = 0.0, level: float | None = None) -> list[float]:
    """``contest1D.lmerModLmerTest``: Estimate, Std. Error, df, t value, [lower, upper,] Pr(>|t|)."""
    L = np.asarray(L, dtype=float)
    est = float(L @ fit._beta)
    if ddf == KENWARD_ROGER:
        info = vcov_adj(fit)
        var_con = float(L @ info.phi_a @ L)
        df = lb_ddf(L, info)
    else:
        var_con, df = satterthwaite_1d(varpar_info(fit), L)
    se = math.sqrt(var_con) if var_con >= 0 else np.nan
    t = (est - rhs) / se if se > 0 else np.nan
    row = [est, se, df, t]
    if level is not None:
        fac = stats.t.isf((1 - level) / 2, df) if np.isfinite(df) and df > 0 else np.nan
        row += [est - se * fac, est + se * fac]
    row.append(_pt2(t, df))
    return row


def coef_table(fit, ddf: str | None = SATTERTHWAITE) -> pd.DataFrame:
    """The fixed-effects table of ``summary(m, ddf = ddf)`` (lmerTest's ``get_coefmat``).

    Columns ``Estimate``, ``Std. Error``, ``df``, ``t value``, ``Pr(>|t|)``; with ``ddf=None`` lme4's
    three columns ``Estimate``, ``Std. Error``, ``t value``. Kenward-Roger uses pbkrtest's adjusted
    standard errors (as lmerTest does).
    """
    ddf = normalize_ddf(ddf)
    names = list(fit.design.x_names)
    beta = np.asarray(fit._beta, dtype=float)
    if ddf is None:
        se = np.sqrt(np.diag(np.asarray(fit.vcov, dtype=float)))
        with np.errstate(divide="ignore", invalid="ignore"):
            return pd.DataFrame({"Estimate": beta, "Std. Error": se, "t value": beta / se}, index=names)
    p = len(names)
    rows = [_contest1d(fit, np.eye(p)[i], ddf) for i in range(p)]
    return pd.DataFrame(np.array(rows).reshape(p, 5), index=names,
                        columns=["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])


# ======================================================================================= F tests
_F_COLUMNS = ["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"]


def _contest_md(fit, L: np.ndarray, ddf: str, rhs=None) -> list[float] | None:
    """``contestMD.lmerModLmerTest``: Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F); None for an empty
    (rank 0) hypothesis."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    if L.shape[0] == 0:
        return None
    sigma = float(fit.sigma)
    if ddf == KENWARD_ROGER:
        if not fit.reml:
            raise MixedModelsError("Kenward-Roger's method is only available for REML model fits")
        rhs_v = np.zeros(L.shape[0]) if rhs is None else np.broadcast_to(np.asarray(rhs, float),
                                                                          (L.shape[0],))
        betaH = 0.0 if np.all(rhs_v == 0) else np.linalg.pinv(L) @ rhs_v
        x = kr_adjust(vcov_adj(fit), L, fit._beta, betaH)
        ms = x["FstatU"] * sigma ** 2
        F = x["FstatU"] * x["F_scaling"]
        ndf, dendf = x["ndf"], x["ddf"]
    else:
        res = satterthwaite_md(varpar_info(fit), fit._beta, L, rhs)
        if res is None:
            return None
        F, ndf, dendf = res
        ms = F * sigma ** 2
    pval = float(stats.f.sf(F, ndf, dendf)) if np.isfinite(dendf) and dendf > 0 else np.nan
    return [ms * ndf, ms, ndf, dendf, F, pval]


def _as_contrast_matrix(fit, L) -> tuple[np.ndarray, list[str] | None]:
    names = list(fit.design.x_names)
    rownames = None
    if isinstance(L, pd.Series):
        L = L.to_frame().T
    if isinstance(L, pd.DataFrame):
        cols = [str(c) for c in L.columns]
        if all(isinstance(c, str) for c in L.columns):
            # columns named: matched to the fixed effects by name (a missing one counts 0), never by position
            unknown = [c for c in cols if c not in names]
            if unknown:
                raise MixedModelsError(f"L has columns that are not fixed effects: {', '.join(unknown)} "
                                       f"(the fixed effects are {', '.join(names)})")
            L = L.reindex(columns=names, fill_value=0.0)
        elif len(cols) != len(names):
            raise MixedModelsError(f"L has {len(cols)} columns; the model has {len(names)} fixed effects "
                                   f"({', '.join(names)})")
        if not isinstance(L.index, pd.RangeIndex):
            rownames = [str(i) for i in L.index]
    try:
        M = L.to_numpy(dtype=float) if isinstance(L, pd.DataFrame) else np.asarray(L, dtype=float)
    except (TypeError, ValueError):
        raise MixedModelsError("L must be a numeric vector or matrix") from None
    if not np.all(np.isfinite(M)):
        raise MixedModelsError("L must hold finite numbers")
    if M.ndim == 1:
        M = M[None, :]
    if M.ndim != 2 or M.shape[1] != len(names):
        raise MixedModelsError(f"L must have {len(names)} columns (one per fixed effect: "
                               f"{', '.join(names)}), not {M.shape[-1] if M.ndim else 0}")
    return M, rownames


def contest(fit, L, ddf: str = SATTERTHWAITE, joint: bool = True, rhs=0.0, confint: bool = True,
            level: float = 0.95) -> RDataFrame:
    """Tests of ``L beta = rhs`` (lmerTest's ``contest``).

    ``joint=True``: one F test of all rows (columns ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``,
    ``F value``, ``Pr(>F)``). ``joint=False``: one t test per row (``Estimate``, ``Std. Error``, ``df``,
    ``t value``, ``lower``, ``upper``, ``Pr(>|t|)``; the interval at ``level``). L is a vector, a
    matrix with one column per fixed effect, or a DataFrame whose columns are the fixed-effect names.
    """
    method = normalize_ddf(ddf)
    if method is None:
        raise MixedModelsError("contest needs ddf='Satterthwaite' or 'Kenward-Roger'")
    if not isinstance(joint, (bool, np.bool_)) or not isinstance(confint, (bool, np.bool_)):
        raise MixedModelsError("joint and confint must be True or False")
    if not (isinstance(level, (int, float, np.floating)) and 0 < level < 1):
        raise MixedModelsError(f"level must be a number between 0 and 1, not {level!r}")
    M, rownames = _as_contrast_matrix(fit, L)
    if not np.all(np.isfinite(M)):
        raise MixedModelsError("L has missing or infinite values")
    if joint:
        row = _contest_md(fit, M, method, rhs)
        if row is None:
            return RDataFrame(np.zeros((0, 6)), columns=_F_COLUMNS)
        return RDataFrame([row], index=["1"], columns=_F_COLUMNS)
    rhs_arr = np.broadcast_to(np.asarray(rhs, dtype=float), (M.shape[0],))
    if method == KENWARD_ROGER and not fit.reml:
        raise MixedModelsError("Kenward-Roger's method is only available for REML model fits")
    rows = [_contest1d(fit, M[i], method, rhs=float(rhs_arr[i]), level=level if confint else None)
            for i in range(M.shape[0])]
    cols = (["Estimate", "Std. Error", "df", "t value"] + (["lower", "upper"] if confint else [])
            + ["Pr(>|t|)"])
    index = rownames or [str(i + 1) for i in range(M.shape[0])]
    return RDataFrame(rows, index=index, columns=cols)


# ======================================================================================= hypotheses
def doolittle(x: np.ndarray, eps: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """``lmerTest:::doolittle``: the LU (Doolittle) decomposition of a square matrix, with lmerTest's
    zeroing of entries below ``eps``."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0]
    L = np.eye(n)
    U = np.zeros((n, n))
    for i in range(n):
        U[i, :] = x[i, :] - L[i, :i] @ U[:i, :]
        if i + 1 < n:
            col = x[i + 1:, i] - L[i + 1:, :i] @ U[:i, i]
            L[i + 1:, i] = 0.0 if abs(U[i, i]) < eps else col / U[i, i]
    L[np.abs(L) < eps] = 0.0
    U[np.abs(U) < eps] = 0.0
    return L, U


_MATRIX_FUNS = ("scale(", "poly(", "ns(", "bs(", "cbind(", "matrix(")


def _split_label(label: str) -> list[str]:
    """The variables of a term label (``"age:Sex"`` -> ``["age", "Sex"]``), splitting on ``:`` outside
    brackets and quotes."""
    out, depth, cur, quote = [], 0, "", None
    for ch in label:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == ":" and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    out.append(cur)
    return out


class _FixedStructure:
    """The fixed-effects term structure lmerTest reads from ``terms(model)`` and the model frame: the
    terms (without the intercept) with their columns of X, their variables, which variables are plain
    numeric (R's dataClass ``"numeric"``) and, per variable, its full coding (all factor levels) as
    recovered from X."""

    def __init__(self, design):
        self.X = np.asarray(design.X, dtype=float)
        self.names = list(design.x_names)
        self.has_intercept = "(Intercept)" in self.names
        self.terms = [t for t in design.fixed_terms if t.label != "(Intercept)"]
        self._terms_all = list(design.fixed_terms)
        self.labels = [t.label for t in self.terms]
        self.cols = {t.label: list(t.columns) for t in self.terms}
        self.vars = {t.label: _split_label(t.label) for t in self.terms}
        self.intercept_cols = [t.columns for t in design.fixed_terms if t.label == "(Intercept)"]
        self._varsets = {frozenset(self.vars[lab]) for lab in self.labels}
        # terms whose columns were all dropped as aliased: an empty hypothesis (an NA row, as in R)
        self.empty = {lab for lab in self.labels if not self.cols[lab]}
        self._coding: dict[str, tuple[str, np.ndarray] | None] = {}
        for t in self.terms:
            if t.label in self.empty:
                continue
            for v in self.vars[t.label]:
                if v not in self._coding:
                    self._coding[v] = self._recover(v)
        for _ in range(len(self._coding)):  # variables without a main effect: from their interactions
            missing = [v for v, c in self._coding.items() if c is None]
            if not missing:
                break
            for v in missing:
                self._coding[v] = self._recover_from_interaction(v)

    def _contrast_coded(self, var: str, term_vars: list[str]) -> bool:
        """How the design coded ``var`` in the term of ``term_vars``: treatment contrasts, or indicators of
        all levels (R's rule, recorded per term by :func:`mixedmodels.frame.columns.build_columns`)."""
        key = frozenset(term_vars)
        for t in self._terms_all:
            if frozenset(_split_label(t.label)) == key and t.label != "(Intercept)":
                return var not in t.indicators
        margin = frozenset(u for u in term_vars if u != var)
        return True if not margin else margin in self._varsets

    def _recover(self, v: str):
        """('factor'|'numeric'|'nmatrix', full coding n x k) from v's main effect, or None without one."""
        if v not in self.cols:
            return None
        cols = self.cols[v]
        if not cols:
            return None
        C = self.X[:, cols]
        names = [self.names[c] for c in cols]
        if len(cols) == 1 and names[0] == v:
            kind = "nmatrix" if v.startswith(_MATRIX_FUNS) else "numeric"
            return kind, C
        binary = np.all((C == 0) | (C == 1)) and np.all(C.sum(axis=1) <= 1)
        if binary and all(nm.startswith(v) and len(nm) > len(v) for nm in names):
            s = C.sum(axis=1)
            if self._contrast_coded(v, [v]) and not np.all(s == 1):
                return "factor", np.column_stack([1.0 - s, C])
            return "factor", C
        return "nmatrix", C

    def _recover_from_interaction(self, v: str):
        """v's coding from a term ``v:w...`` whose other variables are known factors coded there by
        indicators of all their levels (as in ``a/b`` = ``a + a:b``): summing over their levels leaves
        v's own columns."""
        n = self.X.shape[0]
        for lab in sorted(self.labels, key=lambda lab: len(self.vars[lab])):
            tv = self.vars[lab]
            if v not in tv or len(tv) < 2:
                continue
            others = [w for w in tv if w != v]
            if any(self._coding.get(w) is None or self._coding[w][0] != "factor"
                   or self._contrast_coded(w, tv) for w in others):
                continue
            cols = self.cols[lab]
            prod = int(np.prod([self._coding[w][1].shape[1] for w in others]))
            if not cols or len(cols) % prod:
                continue
            dims = [self._coding[w][1].shape[1] if w != v else len(cols) // prod for w in tv]
            arr = self.X[:, cols].reshape([n] + dims[::-1])  # first variable varies fastest
            axes = tuple(1 + len(tv) - 1 - j for j, w in enumerate(tv) if w != v)
            C = arr.sum(axis=axes).reshape(n, -1)
            piece = _split_label(self.names[cols[0]])[tv.index(v)] if len(_split_label(
                self.names[cols[0]])) == len(tv) else v
            if piece == v:
                return ("nmatrix" if v.startswith(_MATRIX_FUNS) or C.shape[1] > 1 else "numeric"), C
            s = C.sum(axis=1)
            if not (np.all((C == 0) | (C == 1)) and np.all(s <= 1)):
                return None
            if self._contrast_coded(v, tv) and not np.all(s == 1):
                return "factor", np.column_stack([1.0 - s, C])
            return "factor", C
        return None

    def factor_code_one(self, label: str) -> list[str]:
        """The variables with code 1 in the term's column of R's ``attr(terms, "factors")``: those whose
        margin (the term without them) is in the model -- always so for a main effect. A variable whose
        margin is absent has code 2 (and R codes it by indicators, as in ``a/b`` = ``a + a:b``)."""
        tv = self.vars[label]
        return [w for w in tv if len(tv) == 1 or frozenset(u for u in tv if u != w) in self._varsets]

    def numeric_vars(self, label: str) -> set[str]:
        out = set()
        for v in self.factor_code_one(label):
            info = self._coding.get(v)
            if info is None:
                raise MixedModelsError(
                    f"type II/III hypotheses need the class of '{v}' (term '{label}'), which mixedmodels "
                    f"recovers from the main effect '{v}'; it is not in the model. Use type=1.")
            if info[0] == "numeric":
                out.add(v)
        return out

    def containment(self) -> dict[str, list[str]]:
        """``lmerTest:::containment`` / ``term_contain``: for each term, the terms that contain it. As in
        lmerTest, a term's variables are those with code 1 in R's factors matrix, and the plain numeric
        ones among them must be the same in both terms."""
        out = {}
        labels = [lab for lab in self.labels if lab not in self.empty]
        vs = {lab: set(self.factor_code_one(lab)) for lab in labels}
        numerics = {lab: self.numeric_vars(lab) for lab in labels}
        for a in self.labels:
            out[a] = [] if a in self.empty else [
                b for b in labels if vs[a] <= vs[b] and len(vs[b] - vs[a]) > 0 and numerics[a] == numerics[b]]
        return out

    def full_coding(self, label: str) -> np.ndarray:
        """``model.matrix(~ 0 + term)``: the product of the variables' full codings, first variable
        fastest."""
        parts = np.ones((self.X.shape[0], 1))
        for v in self.vars[label]:
            info = self._coding.get(v)
            if info is None:
                raise MixedModelsError(
                    f"type III hypotheses need the coding of '{v}' (term '{label}'), which mixedmodels "
                    f"recovers from the main effect '{v}'; it is not in the model. Use type=1 or 2.")
            C = info[1]
            parts = np.einsum("ni,nj->nji", parts, C).reshape(len(C), -1)
        return parts


def _l_type1(X: np.ndarray) -> np.ndarray:
    p = X.shape[1]
    return np.ones((1, 1)) if p == 1 else doolittle(X.T @ X)[0].T


def _hypotheses_type1(fs: _FixedStructure) -> dict[str, np.ndarray] | list[np.ndarray]:
    """``lmerTest:::get_contrasts_type1``."""
    p = fs.X.shape[1]
    if p == 0:
        return [np.zeros((0, 0))]
    if p == 1 and fs.has_intercept:
        return [np.zeros((0, 1))]
    L = _l_type1(fs.X)
    return {lab: L[fs.cols[lab], :] for lab in fs.labels}


def _hypotheses_marginal(fs: _FixedStructure, which: list[str]) -> dict[str, np.ndarray]:
    """``lmerTest:::get_contrasts_marginal``."""
    p = fs.X.shape[1]
    eye = np.eye(p)
    return {lab: eye[fs.cols[lab], :] for lab in which}


def _hypotheses_type2(fs: _FixedStructure):
    """``lmerTest:::get_contrasts_type2_unfolded``."""
    p = fs.X.shape[1]
    if p <= 1 or len(fs.labels) <= 1:
        return _hypotheses_type1(fs)
    contained = fs.containment()
    marginal = [lab for lab in fs.labels if not contained[lab]]
    out = _hypotheses_marginal(fs, marginal)
    col_term = [None] * p
    for lab in fs.labels:
        for c in fs.cols[lab]:
            col_term[c] = lab
    for lab in fs.labels:
        if lab in marginal:
            continue
        cols_term = [c for t in [lab] + contained[lab] for c in fs.cols[t]]
        rest = [c for c in range(p) if c not in cols_term]
        order = rest + cols_term
        Xnew = fs.X[:, order]
        Lc = doolittle(Xnew.T @ Xnew)[0].T
        rows = [k for k, c in enumerate(order) if col_term[c] == lab]
        inv = np.argsort(order)  # back to X's column order
        out[lab] = Lc[np.ix_(rows, inv)]
    return {lab: out[lab] for lab in fs.labels}


def _residuals(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``resid(lm.fit(x, y))``: y minus its projection on the column space of x."""
    if x.shape[1] == 0:
        return y
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return y - x @ coef


def _hypotheses_type3(fs: _FixedStructure):
    """``lmerTest:::get_contrasts_type3`` / ``extract_contrasts_type3`` (treatment contrasts)."""
    p = fs.X.shape[1]
    if p <= 1 or len(fs.labels) <= 1:
        return _hypotheses_type1(fs)
    X = fs.X
    blocks = [fs.full_coding(lab) for lab in fs.labels if lab not in fs.empty]
    rdX = np.column_stack(([np.ones((X.shape[0], 1))] if fs.has_intercept else []) + blocks)
    zero = np.all(rdX == 0, axis=0)
    if zero.any():
        warn_r(f"Missing cells for {int(zero.sum())} level combination(s) of the fixed-effects terms. "
              "\nInterpret type III hypotheses with care.", UserWarning)
    L = zapsmall((np.linalg.pinv(X) @ rdX).T)
    contained = fs.containment()
    order_of = {lab: len(fs.vars[lab]) for lab in fs.labels}
    orthog = sorted(fs.labels, key=lambda lab: -order_of[lab])  # stable, decreasing order
    for lab in orthog:
        if contained[lab]:
            xcols = [c for t in contained[lab] for c in fs.cols[t]]
            L[:, fs.cols[lab]] = zapsmall(_residuals(L[:, fs.cols[lab]], L[:, xcols]))
    # L[colnames(X), ]: the rows of rdX's columns that are columns of X (matched by value)
    rows = []
    for j in range(p):
        hit = np.flatnonzero(np.all(np.isclose(rdX, X[:, [j]], rtol=1e-12, atol=0), axis=0))
        if len(hit) == 0:
            raise MixedModelsError(f"cannot build type III hypotheses: column '{fs.names[j]}' of X is not "
                                   "a cell of its term's full coding")
        rows.append(hit[0])
    L = L[rows, :]
    out = {}
    for lab in fs.labels:
        if lab in fs.empty:
            out[lab] = np.zeros((0, p))
            continue
        Lt = L[:, fs.cols[lab]].T
        out[lab] = Lt[np.abs(Lt).sum(axis=1) > 1e-8, :]
    return out


class _TreatmentDesign:
    """The fixed part of a fit re-coded with treatment contrasts for every factor (ordered ones too), its
    aliased columns dropped: lmerTest's ``get_model_matrix(model, "remake", contrasts =
    "contr.treatment")`` followed by ``ensure_full_rank``, built by the fit's frame spec on the rows
    used. Just what :class:`_FixedStructure` reads."""

    def __init__(self, fit):
        spec = fit.frame_spec
        X = spec.model_matrix(fit.model.data.iloc[fit.design.rows], contrasts="treatment")
        keep = independent_columns(X.to_numpy())
        self.X = X.to_numpy()[:, keep]
        self.x_names = [X.columns[j] for j in keep]
        self.fixed_terms = spec.fixed_terms_at(keep)


def _hypotheses_type3_mapped(fit, fs: "_FixedStructure"):
    """lmerTest's type III contrasts when the model does not use treatment contrasts throughout (an
    ordered factor): built for the treatment-coded model matrix X_t, then mapped to the model's
    coefficients by ``zapsmall(ginv(X_t) X)``."""
    trt = _TreatmentDesign(fit)
    hyp_t = _hypotheses_type3(_FixedStructure(trt))
    mapping = zapsmall(np.linalg.pinv(trt.X) @ fs.X)
    out = {}
    for lab in fs.labels:
        L = hyp_t.get(lab) if isinstance(hyp_t, dict) else None
        out[lab] = np.zeros((0, fs.X.shape[1])) if L is None or L.shape[0] == 0 else L @ mapping
    return out


def _type_number(type_) -> int:
    key = str(type_).strip().upper()
    table = {"1": 1, "I": 1, "2": 2, "II": 2, "3": 3, "III": 3}
    if key not in table:
        raise MixedModelsError(f"type must be 1, 2 or 3 (or 'I', 'II', 'III'), not {type_!r}")
    return table[key]


def anova_table(fit, ddf: str | None = SATTERTHWAITE, type=3) -> AnovaTable:
    """lmerTest's ``anova(m, type = type, ddf = ddf)``: one F test per fixed-effects term.

    Columns ``Sum Sq``, ``Mean Sq``, ``NumDF``, ``DenDF``, ``F value``, ``Pr(>F)``, indexed by term
    label; ``str()`` prints it as R does, under the heading ``"Type III Analysis of Variance Table with
    Satterthwaite's method"`` (etc.). The hypothesis matrices are in ``.hypotheses``.
    With ``ddf=None`` (or ``"lme4"``): lme4's sequential table (``npar``, ``Sum Sq``, ``Mean Sq``,
    ``F value``).
    """
    method = normalize_ddf(ddf)
    if method is None:
        return _anova_lme4(fit)
    tnum = _type_number(type)
    fs = _FixedStructure(fit.design)
    hyp = None
    if tnum == 3 and fs.X.shape[1] > 1 and len(fs.labels) > 1:
        spec = fit.frame_spec
        fixed_vars = {i for t in spec.fixed for i in t.variables}
        if any(spec.variables[i].ordered for i in fixed_vars):  # an ordered factor: lmerTest's remake
            hyp = _hypotheses_type3_mapped(fit, fs)
    if hyp is None:
        hyp = {1: _hypotheses_type1, 2: _hypotheses_type2, 3: _hypotheses_type3}[tnum](fs)
    names = list(fit.design.x_names)
    items = list(hyp.items()) if isinstance(hyp, dict) else [(None, L) for L in hyp]
    rows, index = [], []
    for lab, L in items:
        r = _contest_md(fit, L, method)
        if r is not None and lab is not None:
            rows.append(r)
            index.append(lab)
    missing = [lab for lab, _ in items if lab is not None and lab not in index]
    for lab in missing:
        rows.append([np.nan] * 6)
        index.append(lab)
    roman = {1: "I", 2: "II", 3: "III"}[tnum]
    meth = {SATTERTHWAITE: "Satterthwaite's", KENWARD_ROGER: "Kenward-Roger's"}[method]
    heading = [f"Type {roman} Analysis of Variance Table with {meth} method"]
    hypotheses = {(lab if lab is not None else str(k + 1)): pd.DataFrame(L, columns=names,
                                                                         index=_hyp_rows(fit, lab, L))
                  for k, (lab, L) in enumerate(items)}
    return _anova_frame(np.array(rows).reshape(len(index), 6), index, _F_COLUMNS, heading, hypotheses)


def _hyp_rows(fit, lab, L):
    if lab is None:
        return None
    cols = {t.label: t.columns for t in fit.design.fixed_terms}.get(lab, [])
    names = [fit.design.x_names[c] for c in cols]
    return names if len(names) == L.shape[0] else None


def _anova_lme4(fit) -> AnovaTable:
    """``lme4:::anova.merMod`` for a single model: sequential sums of squares ``(R_X' beta)^2`` per term,
    ``F = MS / sigma^2``."""
    d = fit.design
    f = fit._factor
    qr = fit._crit.qrest
    p = d.p
    RX = f.LRR[qr: qr + p, qr: qr + p]  # lower: R_X R_X' = X'V^-1 X / sigma^2; lme4's RX is its transpose
    ss = (RX.T @ fit._beta) ** 2
    rows, index = [], []
    for t in d.fixed_terms:
        if t.label == "(Intercept)" or not t.columns:
            continue
        s = float(ss[t.columns].sum())
        k = len(t.columns)
        rows.append([k, s, s / k, s / k / fit.sigma ** 2])
        index.append(t.label)
    return _anova_frame(np.array(rows).reshape(len(index), 4), index,
                        ["npar", "Sum Sq", "Mean Sq", "F value"], ["Analysis of Variance Table"])


# ======================================================================================= LRT
def _caller_names(fits, depth: int = 2) -> list[str] | None:
    """The variable names the caller used for the fits (R deparses the call's arguments)."""
    try:
        frame = sys._getframe(depth)
    except ValueError:  # pragma: no cover
        return None
    names = []
    for i, m in enumerate(fits):
        found = [k for k, v in frame.f_locals.items() if v is m and not k.startswith("_")]
        if not found:
            found = [k for k, v in frame.f_globals.items() if v is m and not k.startswith("_")]
        # a fit passed as an expression (no variable holds it) gets R's fallback name for that row only
        names.append(found[0] if len(found) == 1 else f"MODEL{i + 1}")
    return names


def _span_contains(big: np.ndarray, small: np.ndarray, tol: float = 1e-7) -> bool:
    if small.shape[1] == 0:
        return True
    if big.shape[1] == 0:
        return False
    coef, *_ = np.linalg.lstsq(big, small, rcond=None)
    r = small - big @ coef
    return bool(np.all(np.linalg.norm(r, axis=0) <= tol * np.maximum(1.0, np.linalg.norm(small, axis=0))))


def _within_groups(t, u, max_levels: int = 5000) -> bool:
    """The covariance of random-effects term ``t`` is one that term ``u`` can take: ``t``'s grouping
    factor lies within ``u``'s (each level of ``t`` inside one level of ``u``, e.g. ``TVset:Assessor``
    within ``Assessor``) and, inside each level of ``u``, every column of ``t`` restricted to one of its
    levels is in the span of ``u``'s columns (``1`` of ``(1 | TVset:Assessor)`` is an indicator of the
    TVset within the Assessor, which ``(TVset | Assessor)`` spans). Undecided (too many levels to check):
    True."""
    pairs = np.unique(np.column_stack([t.refs, u.refs]), axis=0)
    if len(pairs) != len(np.unique(t.refs)):
        return False
    if u.nlevels > max_levels:
        return True
    order = np.argsort(u.refs, kind="stable")
    bounds = np.searchsorted(u.refs[order], np.arange(u.nlevels + 1))
    for g in range(u.nlevels):
        rows = order[bounds[g]: bounds[g + 1]]
        if len(rows) == 0:
            continue
        sub = t.refs[rows]
        cols = [t.z[rows, c] * (sub == j) for j in np.unique(sub) for c in range(t.ncols)]
        if not _span_contains(u.z[rows], np.column_stack(cols)):
            return False
    return True


def _nested(small, large) -> bool:
    """The smaller model's fixed effects span and random-effect terms are within the larger model's."""
    ds, dl = small.design, large.design
    if not _span_contains(dl.X, ds.X):
        return False
    for t in ds.terms:
        same = [u for u in dl.terms if u.nlevels == t.nlevels and np.array_equal(u.refs, t.refs)]
        if same and _span_contains(np.column_stack([u.z for u in same]), t.z):
            continue
        if not any(_within_groups(t, u) for u in dl.terms):
            return False
    return True


def lrt(*fits, names: list[str] | None = None, refit: bool = True) -> AnovaTable:
    """Likelihood-ratio tests between models: lme4's ``anova(m0, m1, ...)``.

    REML fits are refitted by maximum likelihood first (the message "refitting model(s) with ML
    (instead of REML)" goes to stderr, as R's ``message()`` does). Rows come in increasing number of
    parameters with columns ``npar``, ``AIC``, ``BIC``, ``logLik``, ``deviance``, ``Chisq``, ``Df``,
    ``Pr(>Chisq)``; ``str()`` prints R's table with its ``Data:`` and ``Models:`` heading. Row names are
    ``names``, else the caller's variable names for the fits, else ``MODEL1``, ``MODEL2``, ...

    Raises :class:`~mixedmodels.errors.MixedModelsError` unless there are at least two fits, all on
    the same data (same data name, number of observations and response). Like lme4, models whose
    random parts have different grouping factors are compared (``(1 | TVset:Assessor)`` is a special
    case of ``(TVset | Assessor)``); models that are not nested are compared as lme4 compares them,
    with a warning.
    """
    if len(fits) == 1 and isinstance(fits[0], (list, tuple)):
        fits = tuple(fits[0])
    if len(fits) < 2:
        raise MixedModelsError("a likelihood-ratio test needs at least two fitted models")
    for m in fits:
        if not hasattr(m, "design") or not hasattr(m, "loglik"):
            raise MixedModelsError(f"not a fitted model: {type(m).__name__}")
    if names is None:
        names = _caller_names(fits)
        if names is None or len(set(names)) != len(names):
            names = [f"MODEL{i + 1}" for i in range(len(fits))]
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise MixedModelsError(f"names must be a list of model names, not {names!r}")
    names = [str(n) for n in names]
    if len(names) != len(fits):
        raise MixedModelsError("model names vector and model list have different lengths")
    nobs = {m.nobs for m in fits}
    if len(nobs) > 1:
        raise MixedModelsError("models were not all fitted to the same size of dataset")
    if len({m.model.data_name for m in fits}) > 1:
        raise MixedModelsError("all models must be fit to the same data object")
    y0 = fits[0].design.y
    if any(not np.array_equal(m.design.y, y0) for m in fits[1:]):
        raise MixedModelsError("the models have different responses (or rows): a likelihood-ratio test "
                               "compares models of the same data")
    mods = list(fits)
    order = np.argsort([m.npar for m in mods], kind="stable")
    for a, b in zip([mods[i] for i in order[:-1]], [mods[i] for i in order[1:]]):
        if not _nested(a, b):  # lme4 tests them all the same (by their numbers of parameters)
            warn_r(f"the models are not nested: '{a.design.formula.deparse()}' is not a special case of "
                   f"'{b.design.formula.deparse()}'; the chi-square test (computed as lme4's anova() does) "
                   "assumes it is", UserWarning)
    if refit:
        reml = [m.reml for m in mods]
        if any(reml):
            print("refitting model(s) with ML (instead of REML)", file=sys.stderr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mods = [m.model.fit("ML", theta0=np.asarray(m.theta)) if m.reml else m for m in mods]
    elif len({m.reml for m in mods}) > 1:
        warn_r("some models fit with REML = TRUE, some not", UserWarning)
    npar = np.array([m.npar for m in mods], dtype=float)
    order = np.argsort(npar, kind="stable")
    mods = [mods[i] for i in order]
    names = [names[i] for i in order]
    npar = npar[order]
    llk = np.array([m.loglik for m in mods])
    chisq = np.concatenate([[np.nan], 2 * np.maximum(0, np.diff(llk))])
    dfc = np.concatenate([[np.nan], np.diff(npar)])
    with np.errstate(invalid="ignore"):
        pv = np.where(dfc == 0, np.nan, stats.chi2.sf(chisq, dfc))
    pv[0] = np.nan
    vals = np.column_stack([npar, [m.aic for m in mods], [m.bic for m in mods], llk, -2 * llk, chisq, dfc,
                            pv])
    heading = [f"Data: {mods[0].model.data_name}"]
    subset = dict(mods[0].model.call_lines()).get(" Subset:")
    if subset is not None:  # lme4's anova prints the first model's subset
        heading.append(f"Subset: {subset}")
    heading.append("Models:")
    heading += [f"{nm}: {m.design.formula.deparse()}" for nm, m in zip(names, mods)]
    return _anova_frame(vals, names,
                        ["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)"], heading)


anova = lrt


# ======================================================================================= confint
def _vnames(fit) -> list[str]:
    return par_names(fit.design.terms) + ["sigma"]


def wald_confint(fit, level: float = 0.95) -> pd.DataFrame:
    """``confint(m, method = "Wald")``: NaN for the variance parameters, ``beta +- z se`` for the fixed
    effects."""
    a = (1 - level) / 2
    probs = np.array([a, 1 - a])
    vn = _vnames(fit)
    se = np.sqrt(np.diag(np.asarray(fit.vcov, dtype=float)))
    fixed = np.asarray(fit._beta, dtype=float)[:, None] + se[:, None] * stats.norm.ppf(probs)[None, :]
    vals = np.vstack([np.full((len(vn), 2), np.nan), fixed])
    return pd.DataFrame(vals, index=vn + list(fit.design.x_names), columns=format_perc(probs))


def old_vnames(fit) -> list[str]:
    """lme4's default (``oldNames = TRUE``) names of the variance parameters: ``.sig01``, ``.sig02``,
    ..., ``.sigma`` (in the order of :func:`_vnames`)."""
    k = len(_vnames(fit)) - 1
    return [f".sig{j + 1:02d}" for j in range(k)] + [".sigma"]


def confint(fit, method: str = "profile", level: float = 0.95, nsim: int = 500, seed: int | None = None,
            progress: bool = False, parm=None, quiet: bool = False, old_names: bool = True) -> pd.DataFrame:
    """Confidence intervals as lme4's ``confint(m, method = ..., oldNames = old_names)``.

    Rows: the variance parameters, named as lme4 names them by default (``.sig01``, ``.sig02``, ...,
    ``.sigma``), or with ``old_names=False`` ``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|Subject``,
    ..., ``sigma``; then the fixed effects. Columns ``"2.5 %"``, ``"97.5 %"`` (for ``level=0.95``);
    ``str()`` of the table is R's print of the matrix.

    * ``"Wald"``: ``beta +- qnorm * se`` for the fixed effects, NaN for the variance parameters;
    * ``"profile"``: likelihood-profile intervals (:mod:`mixedmodels.inference.profile`, lme4's
      ``profile.merMod``; the profile is of the ML deviance);
    * ``"boot"``: parametric-bootstrap percentile intervals from ``nsim`` simulations
      (:mod:`mixedmodels.inference.bootstrap`, lme4's ``bootMer``); ``seed`` seeds numpy's generator and
      ``progress=True`` draws a text progress bar on stderr.

    ``parm`` selects rows by name (or ``"theta_"`` / ``"beta_"``). Like R, the profile and bootstrap
    methods announce themselves on stderr unless ``quiet``.
    """
    if not isinstance(method, str) or method.lower() not in ("wald", "profile", "boot"):
        raise MixedModelsError(f"method must be 'Wald', 'profile' or 'boot', not {method!r}")
    if not isinstance(old_names, (bool, np.bool_)):
        raise MixedModelsError(f"old_names must be True or False, not {old_names!r}")
    new_vn, old_vn = _vnames(fit), old_vnames(fit)
    if parm is not None and old_names:  # names as the caller sees them -> the internal (new) names
        to_new = dict(zip(old_vn, new_vn))
        parm = to_new.get(parm, parm) if isinstance(parm, str) else \
            [to_new.get(w, w) if isinstance(w, str) else w for w in parm] if isinstance(parm, (list, tuple)) \
            else parm
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise MixedModelsError(f"level must be a number between 0 and 1, not {level!r}")
    method = method.lower()
    if method == "wald":
        out = wald_confint(fit, level)
    elif method == "profile":
        if not quiet:
            print("Computing profile confidence intervals ...", file=sys.stderr)
        out = confint_profile(profile(fit, which=parm, alphamax=profile_alphamax(fit, level)), level=level)
        parm = None
    else:
        if not isinstance(nsim, (int, np.integer)) or nsim < 1:
            raise MixedModelsError(f"nsim must be a positive integer, not {nsim!r}")
        if not quiet:
            print("Computing bootstrap confidence intervals ...", file=sys.stderr)
        out = confint_boot(fit, nsim=int(nsim), level=level, seed=seed, progress=progress)
    if parm is not None:
        out = out.loc[_select(out.index, parm, len(_vnames(fit)))]
    out = RDataFrame(out)
    if old_names:
        to_old = dict(zip(new_vn, old_vn))
        rows = []
        for nm in out.index:  # the variance parameters come first: a fixed effect named "sigma" stays
            rows.append(to_old.pop(nm, nm))
        out.index = pd.Index(rows)
    return out


def _select(index, parm, nvp: int) -> list[str]:
    idx = list(index)
    sel: list[str] = []
    for w in ([parm] if isinstance(parm, (str, int)) else parm):
        if w == "theta_":
            sel += idx[:nvp]
        elif w == "beta_":
            sel += idx[nvp:]
        elif isinstance(w, str):
            if w not in idx:
                raise MixedModelsError(f"unknown parameter {w!r}; parameters are {idx}")
            sel.append(w)
        else:
            ok = isinstance(w, (int, np.integer)) and not isinstance(w, bool) and -len(idx) <= w < len(idx)
            if not ok:
                raise MixedModelsError(f"parm: {w!r} is not a parameter name or a position 0..{len(idx) - 1} "
                                       f"(0-based, Python's convention; R counts from 1) of {idx}")
            sel.append(idx[int(w)])
    return list(dict.fromkeys(sel))

"""Summary objects for linear mixed models, printed exactly like R's lme4/lmerTest.

The text produced here reproduces, character for character (including R's
trailing blanks), what R 4.2.2 with lme4 1.1-31 / lmerTest 3.1-3 prints for

* ``print(summary(m))`` of an ``lmerMod`` (``lme4:::print.summary.merMod``)
  -> :func:`format_summary`;
* the lmerTest variant (``summary(m, ddf = "Satterthwaite" | "Kenward-Roger")``)
  -> :func:`format_summary` with ``ddf_method`` set;
* ``print(m)`` (``lme4:::print.merMod``) -> :func:`format_print`;
* the "Random effects:" block (``lme4:::.prt.VC`` / ``lme4:::formatVC``)
  -> :func:`format_varcorr`;
* ``print(anova(...))`` (``stats:::print.anova``) -> :func:`format_anova_table`.

The strings equal ``paste(capture.output(print(...)), collapse = "\\n")`` in a
default R session (``digits = 7``, ``width = 80``, UTF-8 locale).  Messages
that R sends to stderr with ``message()`` (the "Correlation matrix not shown
by default" note for more than 12 fixed effects) are not part of
``capture.output()`` and are therefore only added on request.

The formatting primitives (R's ``format``, ``round``, ``printCoefmat``, ...)
live in :mod:`mixedmodels.rbase.rformat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..formula.parse import BinOp, UnaryOp, deparse, deparse_lines, parse_formula
from ..frame.design import SCALE_MESSAGE
from ..rbase import rformat as rf
from ..rbase.rnames import make_names
from .display import SINGULAR_MESSAGE, summary_html  # SINGULAR_MESSAGE: re-exported (written once, there)
from ..rbase.rmath import quantile7, r_round

__all__ = [
    "VarCorrGroup",
    "SummaryData",
    "Summary",
    "SummaryBase",
    "format_summary",
    "format_print",
    "format_varcorr",
    "format_anova_table",
    "SINGULAR_MESSAGE",
    "COR_MAX",
    "FIT_METHOD_NOTE",
    "group_labels",
    "varcorr_groups",
    "fixef_se_and_correlation",
    "fit_warnings",
    "call_lines",
    "summary_data",
]

#: ``getOption("lme4.summary.cor.max")``.
COR_MAX = 12
#: what a summary's "Fit method:" line says about a fit by the method of moments (fits one 80-column line)
FIT_METHOD_NOTE = "method of moments (ANOVA expected mean squares, negatives set to 0)"


@dataclass
class VarCorrGroup:
    """One random-effects term as in ``VarCorr(m)``.

    ``name`` is lme4's group label (``"Subject"``, ``"Subject.1"`` for the
    second term of ``(Days || Subject)``, ``"cask:batch"``), ``terms`` the
    column names (``["(Intercept)", "Days"]``).  ``corr`` is ``None`` for a
    single term.
    """

    name: str
    terms: list[str]
    variances: np.ndarray
    stddevs: np.ndarray
    corr: np.ndarray | None


@dataclass
class SummaryData:
    """Everything :func:`format_summary` / :func:`format_print` need.

    The fields after ``fit_method_note`` are optional extensions for rarer
    output of lme4 (fit warnings about a rank-deficient X, the optimizer's
    own convergence message/warnings).
    """

    reml: bool
    formula: str  # deparsed R-style; "\n" separates deparse() chunks (see _formula_items)
    data_name: str | None
    reml_criterion: float
    aic: float
    bic: float
    loglik: float
    deviance: float
    df_resid: int
    scaled_residuals: np.ndarray
    groups: list[VarCorrGroup]
    sigma: float
    nobs: int
    ngroups: list[tuple[str, int]]
    coef_names: list[str]
    estimates: np.ndarray
    std_errors: np.ndarray
    vcov_corr: np.ndarray
    singular: bool
    conv_messages: list[str]
    optimizer: str = "nloptwrap"
    conv_code: int = 0
    # lmerTest additions (None for a plain lme4 summary)
    ddf_method: str | None = None  # "Satterthwaite" or "Kenward-Roger"
    df: np.ndarray | None = None
    pvalues: np.ndarray | None = None
    fit_method_note: str | None = None
    # optional extensions
    fit_warnings: list[str] = field(default_factory=list)  # lme4's "fit warnings:"
    call_lines: list[tuple[str, str]] = field(default_factory=list)  # ("Weights:", "w"), (" Offset:", ..)
    optimizer_message: str | None = None  # optinfo$message, shown when conv_code != 0
    optimizer_warnings: list[str] = field(default_factory=list)  # optinfo$warnings


def _default_digits() -> int:
    # digits = max(3, getOption("digits") - 3)
    return max(3, rf.R_DIGITS - 3)


def _cat(items: Sequence[str], sep: str = " ", width: int = rf.R_WIDTH) -> str:
    """``cat(..., fill = TRUE)`` (lme4's ``cat.f``)."""
    return rf.cat_fill(list(items), sep=sep, fill=width)


def _cat_number(x: float) -> str:
    """How ``cat()`` renders one double: ``formatReal`` with 7 digits."""
    return rf.format_num([x], digits=rf.R_DIGITS)[0]


def _lines(lines: Sequence[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _meth_title(d: SummaryData) -> str:
    """``lme4:::methTitle`` (LMM): note the trailing blank after "likelihood"."""
    # paste("maximum likelihood", NULL) == "maximum likelihood "
    if d.fit_method_note:  # not a likelihood fit (method of moments): say so in the title
        return "Linear mixed model fit by the method of moments"
    return "Linear mixed model fit by " + ("REML" if d.reml else "maximum likelihood ")


def _prt_meth_tit(mtit: str, cls: str, width: int) -> str:
    """``lme4:::.prt.methTit``."""
    if len(mtit) + 5 + len(cls) > width:
        wrapped = rf.strwrap(mtit, width=width - 2, exdent=2)
        return rf.cat_fill(wrapped + [" [", cls, "]"], sep="", fill=width)
    return f"{mtit} ['{cls}']\n"


_DEPARSE_CUTOFF = 60  # deparse()'s default width.cutoff


def _formula_items(formula: str) -> list[str]:
    """The elements of ``deparse(formula)`` that ``cat()`` prints.

    ``"\n"`` separates deparse chunks.  A one-line formula longer than the
    deparse cutoff (e.g. chunks joined by blanks) is re-deparsed with
    :mod:`mixedmodels.formula.parse` so that it wraps where R's does.
    """
    if "\n" in formula:
        return formula.split("\n")
    if len(formula) <= _DEPARSE_CUTOFF:
        return [formula]
    try:
        f = parse_formula(formula)
        tree = (BinOp(op="~", left=f.lhs, right=f.rhs) if f.lhs is not None
                else UnaryOp(op="~", operand=f.rhs))
        lines = deparse_lines(tree, cutoff=_DEPARSE_CUTOFF)
    except Exception:  # any parse problem: print the string as given
        return [formula]
    return lines if len(lines) > 1 else [formula]


def _prt_call(d: SummaryData, width: int) -> str:
    """``lme4:::.prt.call`` for the formula and data lines."""
    out = _cat(["Formula:"] + _formula_items(d.formula), width=width)
    if d.data_name is not None:
        out += _cat(["   Data:", d.data_name], width=width)
    for label, value in d.call_lines:  # lme4's Weights:, Offset: and Subset: lines
        out += _cat([label, value], width=width)
    return out


def _prt_aictab(d: SummaryData, digits: int, width: int) -> str:
    """``lme4:::.prt.aictab`` (REML criterion, or the AIC/BIC/... table)."""
    if d.reml and d.fit_method_note:
        return _cat(["REML criterion at the estimates:",
                     _cat_number(r_round(d.reml_criterion, digits))], width=width)
    if d.reml:
        return _cat(["REML criterion at convergence:",
                     _cat_number(r_round(d.reml_criterion, digits))], width=width)
    t4 = r_round(np.array([d.aic, d.bic, d.loglik, d.deviance, float(d.df_resid)]), digits)
    t4f = rf.format_num(t4)
    t4f[4] = rf.format_num([t4[4]])[0]
    return _lines(rf.print_named_vector(t4f, ["AIC", "BIC", "logLik", "deviance", "df.resid"],
                                        width=width))


def _prt_resids(resids: np.ndarray, digits: int, width: int) -> str:
    """``lme4:::.prt.resids``: zapsmall'ed type-7 quantiles of the scaled residuals."""
    rq = rf.zapsmall(quantile7(resids), digits + 1)
    out = "Scaled residuals: \n"
    out += _lines(rf.print_named_real(rq, ["Min", "1Q", "Median", "3Q", "Max"],
                                      digits=digits, width=width))
    return out + "\n"


def _prt_grps(d: SummaryData, width: int) -> str:
    """``lme4:::.prt.grps``: the "Number of obs" line."""
    grps = "; ".join(f"{name}, {int(n)}" for name, n in d.ngroups)
    return _cat([f"Number of obs: {int(d.nobs)}, groups: ", grps], width=width)


def _conv_message(d: SummaryData) -> str:
    m = "(OK)" if d.conv_code == 0 else (
        f"({d.optimizer_message})" if d.optimizer_message is not None else "")
    return f"optimizer ({d.optimizer}) convergence code: {int(d.conv_code)} {m}"


def _lme4_messages(d: SummaryData) -> list[str]:
    msgs = [m for m in d.conv_messages]
    if d.singular and not any("singular" in m for m in msgs):
        msgs.append(SINGULAR_MESSAGE)
    return msgs


def _prt_warn(d: SummaryData, summary: bool) -> str:
    """``lme4:::.prt.warn``: convergence code and lme4 convergence messages."""
    msgs = _lme4_messages(d)
    warns = list(d.optimizer_warnings)
    if not (d.conv_code > 0 or msgs or warns):
        return ""
    conv = _conv_message(d)
    if summary:
        return f"{conv} ; {len(warns)} optimizer warnings; {len(msgs)} lme4 warnings \n"
    return "\n".join([conv] + msgs + warns) + "\n" + "\n"


def _fit_msgs(d: SummaryData) -> str:
    msgs = [m for m in d.fit_warnings if m]
    if not msgs:
        return ""
    return "fit warnings:\n" + _lines(msgs)


def _varcorr_matrix(groups: Sequence[VarCorrGroup], sigma: float | None,
                    digits: int, comp: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """Port of ``lme4:::formatVC``: the character matrix and its column names."""
    avail = ("Variance", "Std.Dev.")
    use_c: list[str] = []
    for c in comp:
        hits = [a for a in avail if a.startswith(c)]  # pmatch()
        if len(hits) != 1:
            raise ValueError(f"Illegal 'comp': {c}")
        use_c.append(hits[0])
    if not use_c:
        raise ValueError("Must *either* show variances or standard deviations")
    colnms = ["Groups", "Name"] + use_c
    sds: list[np.ndarray] = [np.atleast_1d(np.asarray(g.stddevs, dtype=float)) for g in groups]
    labels = [g.name for g in groups]
    names: list[str] = [t for g in groups for t in g.terms]
    if sigma is not None:
        sds.append(np.array([float(sigma)]))
        labels.append("Residual")
        names.append("")
    lens = [len(s) for s in sds]
    nr = sum(lens)
    mat = [["" for _ in colnms] for _ in range(nr)]
    row = 0
    for lab, n in zip(labels, lens):
        mat[row][0] = lab
        row += n
    for i, nm in enumerate(names):
        mat[i][1] = nm
    allsd = np.concatenate(sds) if sds else np.zeros(0)
    for k, c in enumerate(use_c):
        vals = allsd ** 2 if c == "Variance" else allsd
        for i, s in enumerate(rf.format_num(vals, digits=digits)):
            mat[i][2 + k] = s
    if any(n > 1 for n in lens[: len(groups)]):
        maxlen = max(lens[: len(groups)])
        dig = max(2, digits - 2)
        corr_rows: list[list[str]] = []
        for g, n in zip(groups, lens):
            cm = np.eye(1) if g.corr is None else np.atleast_2d(np.asarray(g.corr, dtype=float))
            flat = rf.format_num(r_round(cm.ravel(order="F"), dig), nsmall=dig,
                                 na_string="NaN")
            k = cm.shape[0]
            for i in range(k):
                cells = [flat[j * k + i] if i > j else "" for j in range(k)]
                cells += [""] * (maxlen - k)
                corr_rows.append(cells[: maxlen - 1])
        while len(corr_rows) < nr:
            corr_rows.append([""] * (maxlen - 1))
        ccn = ["Corr"] + [""] * max(0, maxlen - 2)
        for i in range(nr):
            mat[i].extend(corr_rows[i])
        colnms = colnms + ccn[: maxlen - 1]
    return mat, colnms


def format_varcorr(groups: Sequence[VarCorrGroup], sigma: float | None,
                   comp: Sequence[str] = ("Variance", "Std.Dev."),
                   digits: int | None = None, header: bool = True,
                   width: int = rf.R_WIDTH) -> str:
    """The "Random effects:" block, as ``lme4:::.prt.VC`` prints it.

    ``comp`` selects the columns (partial matching as in R).  ``sigma=None``
    omits the Residual row (``useScale = FALSE``).  With ``header=False``
    only the table is returned (what ``print(VarCorr(m), comp = ...)``
    shows).  The result has no trailing newline.
    """
    dig = _default_digits() if digits is None else digits
    mat, colnms = _varcorr_matrix(groups, sigma, dig, comp)
    lines = rf.print_matrix(mat, [""] * len(mat), colnms, right=False, width=width)
    if header:
        lines = ["Random effects:"] + lines
    return "\n".join(lines)


def _coef_table(d: SummaryData) -> tuple[np.ndarray, list[str]]:
    est = np.asarray(d.estimates, dtype=float)
    se = np.asarray(d.std_errors, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        tval = est / se
    if d.ddf_method is None:
        return np.column_stack([est, se, tval]), ["Estimate", "Std. Error", "t value"]
    if d.df is None or d.pvalues is None:
        raise ValueError("ddf_method is set but df/pvalues are missing")
    return (np.column_stack([est, se, np.asarray(d.df, dtype=float), tval,
                             np.asarray(d.pvalues, dtype=float)]),
            ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"])


def _correlation_block(d: SummaryData, width: int) -> str:
    p = len(d.coef_names)
    if p <= 1:
        return ""
    rn = list(d.coef_names)
    rns = rf.abbreviate(rn, minlength=11)
    cns = rf.abbreviate(rn, minlength=6)
    cor = np.asarray(d.vcov_corr, dtype=float)
    flat = rf.format_num(r_round(cor.ravel(order="F"), 3), nsmall=3, na_string="NaN")
    cells = [[flat[j * p + i] if i > j else "" for j in range(p - 1)] for i in range(1, p)]
    lines = rf.print_matrix(cells, rns[1:], cns[:-1], right=False, width=width)
    return "\nCorrelation of Fixed Effects:\n" + _lines(lines)


def _cor_not_shown_message(p: int, name: str) -> str:
    nam = name if (len(name) < 32 and "\n" not in name) else "...."
    return (f"\nCorrelation matrix not shown by default, as p = {p} > {COR_MAX}.\n"
            f"Use print({nam}, correlation=TRUE)  or\n"
            f"    vcov({nam})        if you need it\n\n")


def group_labels(terms) -> list[str]:
    """The grouping-factor labels of the variance components, as lme4's ``VarCorr`` makes them: the terms'
    factors as they are, or, when a factor has more than one term, R's ``make.names(unique = TRUE)`` of
    them all (``Subject``, ``Subject.1``; ``a:b`` then becomes ``a.b``)."""
    names = [t.group for t in terms]
    return make_names(names, unique=True) if len(set(names)) < len(names) else names


def varcorr_groups(terms, covariances) -> list[VarCorrGroup]:
    """The random-effects rows of a summary: one :class:`VarCorrGroup` per term, named by
    :func:`group_labels`, its variances, standard deviations and, for a vector-valued term,
    correlations. Shared by the linear and the generalized fits' summaries."""
    groups = []
    for name, t, cov in zip(group_labels(terms), terms, covariances):
        sd = np.sqrt(np.diag(cov))
        corr = None
        if t.ncols > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = cov / np.outer(sd, sd)
        groups.append(VarCorrGroup(name=name, terms=list(t.cnames), variances=np.diag(cov).copy(), stddevs=sd,
                                   corr=corr))
    return groups


def fixef_se_and_correlation(vcov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standard errors and the correlation matrix of the fixed effects from their covariance matrix."""
    v = np.asarray(vcov, dtype=float)
    sd = np.sqrt(np.diag(v))
    with np.errstate(invalid="ignore", divide="ignore"):
        return sd, v / np.outer(sd, sd)


def call_lines(frame_args: dict, columns) -> list[tuple[str, str]]:
    """lme4's ``Weights:``, ``Offset:`` and ``Subset:`` lines of the printed call, from a model's frame
    arguments (``weights``, ``offset``, ``subset`` as given) and its data's column names: a column by
    its name, an expression as R deparses it, an array by its (Series) name."""
    out = []
    for key, label in (("weights", "Weights:"), ("offset", " Offset:"), ("subset", " Subset:")):
        arg = frame_args.get(key)
        if arg is None:
            continue
        if isinstance(arg, str):
            text = arg
            if key == "subset" or arg not in columns:  # an expression: as R deparses it
                text = deparse(parse_formula("~" + arg).rhs)
        elif key == "subset":
            text = "subset"  # a boolean array: no expression to show (R shows the call's)
        else:
            text = getattr(arg, "name", None) or key
        out.append((label, str(text)))
    return out


def fit_warnings(design) -> list[str]:
    """lme4's "fit warnings:" of a model frame: aliased columns dropped from X, predictors on very
    different scales."""
    out = []
    k = len(design.dropped)
    if k:
        out.append(f"fixed-effect model matrix is rank deficient so dropping {k} column"
                   f"{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''}")
    if design.scale_warning:
        out.append(SCALE_MESSAGE)
    return out


def summary_data(fit, **fields) -> SummaryData:
    """The :class:`SummaryData` of a fitted model (linear or generalized), read from its accessors: the
    formula, data name and call lines, the information criteria, the scaled Pearson residuals, the
    variance components (:func:`varcorr_groups`), the numbers of groups, the fixed effects with their
    standard errors and correlation (:func:`fixef_se_and_correlation`), singularity and the fit
    warnings. ``fields`` gives what differs between the fits (``reml``, ``reml_criterion``,
    ``deviance``, ``conv_messages``, the optimizer's name, ...) and may override any of these."""
    sd, vcorr = fixef_se_and_correlation(fit.vcov.to_numpy())
    data = dict(
        formula=fit.design.formula.deparse(), data_name=fit.model.data_name, aic=fit.aic, bic=fit.bic,
        loglik=fit.loglik, df_resid=fit.df_resid,
        scaled_residuals=fit.resid("pearson", scaled=True).to_numpy(),
        groups=varcorr_groups(fit.design.terms, fit._term_covariances()), sigma=fit.sigma, nobs=fit.nobs,
        ngroups=list(fit.ngroups.items()), coef_names=list(fit.design.x_names),
        estimates=fit.fixef.to_numpy(dtype=float, copy=True), std_errors=sd, vcov_corr=vcorr,
        singular=fit.is_singular, call_lines=fit.model.call_lines(), fit_warnings=fit_warnings(fit.design))
    data.update(fields)
    return SummaryData(**data)


def _summary_text(d: SummaryData, mtit: str, cls: str, head: str, sigma: float | None,
                  coef: tuple[np.ndarray, list[str], Sequence[int]], *, digits: int | None,
                  correlation: bool | None, signif_stars: bool, ranef_comp: Sequence[str], show_resids: bool,
                  show_messages: bool, object_name: str, width: int) -> str:
    """``print(summary(.))`` of a merMod: the title and class, ``head`` (the GLMM's Family line or the
    fit method), the call, the information criteria, the scaled residuals, the random effects (with a
    Residual row when ``sigma`` is given), the coefficient table ``coef`` (matrix, column names, columns
    to zap), the correlation of fixed effects and lme4's messages. Shared by the linear and generalized
    summaries (``format_summary``, ``format_glmm_summary``); no trailing newline."""
    dig = _default_digits() if digits is None else digits
    out = _prt_meth_tit(mtit, cls, width) + head
    out += _prt_call(d, width)
    out += "\n"
    out += _prt_aictab(d, 1, width)
    out += "\n"
    if show_resids:
        out += _prt_resids(np.asarray(d.scaled_residuals, dtype=float), dig, width)
    out += format_varcorr(d.groups, sigma, comp=ranef_comp, digits=dig, width=width) + "\n"
    out += _prt_grps(d, width)
    p = len(d.coef_names)
    if p > 0:
        out += "\nFixed effects:\n"
        x, cn, zap = coef
        out += _lines(rf.print_coefmat(x, d.coef_names, cn, digits=dig, signif_stars=signif_stars,
                                       zap_ind=zap, width=width))
        show_cor = correlation
        if show_cor is None:
            show_cor = p <= COR_MAX
            if not show_cor and show_messages:
                out += _cor_not_shown_message(p, object_name)
        if show_cor:
            out += _correlation_block(d, width)
    out += _fit_msgs(d)
    out += _prt_warn(d, summary=False)
    return out[:-1] if out.endswith("\n") else out


def _print_text(d: SummaryData, mtit: str, cls: str, head: str, sigma: float | None, *, digits: int | None,
                ranef_comp: Sequence[str], width: int) -> str:
    """``print(.)`` of a merMod (see :func:`_summary_text`: the same pieces, the short form)."""
    dig = _default_digits() if digits is None else digits
    out = _prt_meth_tit(mtit, cls, width) + head
    out += _prt_call(d, width)
    out += _prt_aictab(d, 4, width)
    out += format_varcorr(d.groups, sigma, comp=ranef_comp, digits=dig, width=width) + "\n"
    out += _prt_grps(d, width)
    if len(d.coef_names) > 0:
        out += "Fixed Effects:\n"
        vals = rf.format_num(np.asarray(d.estimates, dtype=float), digits=dig)
        out += _lines(rf.print_named_vector(vals, d.coef_names, gap=2, width=width))
    else:
        out += "No fixed effect coefficients\n"
    out += _fit_msgs(d)
    out += _prt_warn(d, summary=True)
    return out[:-1] if out.endswith("\n") else out


def _fit_method_line(d: SummaryData, width: int) -> str:
    return _cat(["Fit method:", d.fit_method_note], width=width) if d.fit_method_note else ""


def format_summary(d: SummaryData, *, digits: int | None = None,
                   correlation: bool | None = None, signif_stars: bool = True,
                   ranef_comp: Sequence[str] = ("Variance", "Std.Dev."),
                   show_resids: bool = True, show_messages: bool = False,
                   object_name: str = "x", width: int = rf.R_WIDTH) -> str:
    """Text of ``print(summary(m))`` (``lme4:::print.summary.merMod``).

    With ``d.ddf_method`` set, the lmerTest version: the title gains
    ". t-tests use Satterthwaite's method" (or Kenward-Roger's), the class is
    ``lmerModLmerTest`` and the coefficient table has ``df`` and
    ``Pr(>|t|)`` columns with significance stars and legend.

    ``correlation=None`` shows the fixed-effects correlation when
    ``p <= 12`` (lme4's ``lme4.summary.cor.max``).  ``show_messages`` adds
    what R emits on stderr (the "Correlation matrix not shown" note), which
    ``capture.output()`` does not record.  No trailing newline.
    """
    mtit = _meth_title(d)
    cls = "lmerMod"
    if d.ddf_method is not None:
        ddf_nm = {"Satterthwaite": "Satterthwaite's",
                  "Kenward-Roger": "Kenward-Roger's"}.get(d.ddf_method, d.ddf_method)
        mtit = f"{mtit}. t-tests use {ddf_nm} method"
        cls = "lmerModLmerTest"
    coef = (*_coef_table(d), ()) if len(d.coef_names) > 0 else (None, [], ())
    return _summary_text(d, mtit, cls, _fit_method_line(d, width), d.sigma, coef, digits=digits,
                         correlation=correlation, signif_stars=signif_stars, ranef_comp=ranef_comp,
                         show_resids=show_resids, show_messages=show_messages, object_name=object_name,
                         width=width)


def format_print(d: SummaryData, *, digits: int | None = None,
                 ranef_comp: Sequence[str] = ("Std.Dev.",),
                 width: int = rf.R_WIDTH) -> str:
    """Text of ``print(m)`` for a fitted model (``lme4:::print.merMod``).

    The class label is ``lmerModLmerTest`` when ``d.ddf_method`` is set
    (an lmerTest fit), else ``lmerMod``.  No trailing newline.
    """
    cls = "lmerModLmerTest" if d.ddf_method is not None else "lmerMod"
    return _print_text(d, _meth_title(d), cls, _fit_method_line(d, width), d.sigma, digits=digits,
                       ranef_comp=ranef_comp, width=width)


def format_anova_table(df: Any, heading: str | Sequence[str] | None = None, *,
                       digits: int | None = None, signif_stars: bool = True,
                       width: int = rf.R_WIDTH) -> str:
    """Print a :class:`pandas.DataFrame` like R's ``print.anova``.

    Use the R column names, e.g. ``["Sum Sq", "Mean Sq", "NumDF", "DenDF",
    "F value", "Pr(>F)"]`` for lmerTest's ``anova(m)`` (heading
    ``"Type III Analysis of Variance Table with Satterthwaite's method"``) or
    ``["npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df",
    "Pr(>Chisq)"]`` for lme4's model comparison (heading
    ``"Data: sleepstudy\\nModels:\\nfm2: ...\\nfm1: ..."``).  Missing values
    (NaN/None/pd.NA) print as blanks; the index gives the row names.
    """
    frame = pd.DataFrame(df)
    x = frame.apply(pd.to_numeric, errors="coerce").astype(float).to_numpy(na_value=np.nan)
    dig = max(rf.R_DIGITS - 2, 3) if digits is None else digits
    lines = rf.print_anova(x, [str(i) for i in frame.index], [str(c) for c in frame.columns],
                           heading=heading, digits=dig, signif_stars=signif_stars, width=width)
    return "\n".join(lines)


class SummaryBase:
    """A summary object: its data and R's print options; ``str()`` and ``repr()`` are its :meth:`format`
    (R's text). :class:`Summary` (a linear fit's) and
    :class:`~mixedmodels.output.glmm_summary.GlmmSummary` (a generalized fit's) give the text and the
    notebook HTML."""

    def __init__(self, data, **options) -> None:
        self.data = data
        self.options = options

    def format(self, **options) -> str:  # pragma: no cover - every summary class has its own
        raise NotImplementedError

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return self.format()


class Summary(SummaryBase):
    """Thin wrapper around :class:`SummaryData` whose text is R's ``summary()``; ``options`` are those of
    R's ``print(summary(m), digits =, correlation =, ranef.comp =, signif.stars =, show.resids =)``
    (see :func:`format_summary`)."""

    def format(self, **options) -> str:
        """The text with print options (``digits=3``, ``correlation=True``, ``ranef_comp=("Variance",)``,
        ``signif_stars=False``, ``show_resids=False``), as R's ``print(summary(m), ...)``."""
        return format_summary(self.data, **{**self.options, **options})

    def _repr_html_(self) -> str:
        return summary_html(self)

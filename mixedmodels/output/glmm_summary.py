"""Printed summaries of generalized linear mixed models, as lme4 prints a ``glmerMod``.

``format_glmm_summary`` is ``print(summary(glmer(...)))`` and ``format_glmm_print`` is ``print(m)``
(lme4 1.1-31): the "Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)" /
"(Adaptive Gauss-Hermite Quadrature, nAGQ = k)" title and ``[glmerMod]``, the Family line, the
AIC/BIC/logLik/deviance/df.resid table, scaled Pearson residuals, the random effects (a Residual row
only for families with a dispersion), the coefficient table with ``z value`` (``t value`` when there is a
dispersion) and ``Pr(>|z|)``, the correlation of fixed effects and lme4's convergence notes. The pieces
shared with the linear model's printout come from :mod:`mixedmodels.output.summary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..rbase import rformat as rf
from .summary import (COR_MAX, SummaryData, VarCorrGroup, _cat, _cor_not_shown_message, _correlation_block,
                      _default_digits, _fit_msgs, _lines, _prt_aictab, _prt_call, _prt_grps, _prt_meth_tit,
                      _prt_resids, _prt_warn, format_varcorr)

__all__ = ["GlmmSummaryData", "glmm_summary_data", "format_glmm_summary", "format_glmm_print", "GlmmSummary"]


@dataclass
class GlmmSummaryData:
    """A linear-model :class:`SummaryData` plus what a GLMM adds."""

    base: SummaryData
    family: str
    link: str
    nAGQ: int
    use_scale: bool


def _title(nAGQ: int) -> str:
    how = "Laplace Approximation" if nAGQ == 1 else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {nAGQ}"
    return f"Generalized linear mixed model fit by maximum likelihood ({how})"


def glmm_summary_data(fit) -> GlmmSummaryData:
    """Collect what the printers need from a fitted GLMM."""
    groups = []
    names = _unique([t.group for t in fit.design.terms])
    for name, t, cov in zip(names, fit.design.terms, fit._term_covariances()):
        sd = np.sqrt(np.diag(cov))
        corr = None
        if t.ncols > 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                corr = cov / np.outer(sd, sd)
        groups.append(VarCorrGroup(name=name, terms=list(t.cnames), variances=np.diag(cov).copy(), stddevs=sd,
                                   corr=corr))
    v = fit.vcov.to_numpy()
    sd = np.sqrt(np.diag(v))
    with np.errstate(invalid="ignore", divide="ignore"):
        vcorr = v / np.outer(sd, sd)
    base = SummaryData(
        reml=False, formula=fit.design.formula.deparse(), data_name=fit.model.data_name,
        reml_criterion=fit.objective, aic=fit.aic, bic=fit.bic, loglik=fit.loglik, deviance=fit.objective,
        df_resid=fit.df_resid, scaled_residuals=fit.residuals("pearson", scaled=True).to_numpy(),
        groups=groups, sigma=fit.sigma, nobs=fit.nobs, ngroups=list(fit.ngroups.items()),
        coef_names=list(fit.design.x_names), estimates=fit.fixef.to_numpy(), std_errors=sd, vcov_corr=vcorr,
        singular=fit.is_singular, conv_messages=list(fit.conv_messages),
        optimizer="bobyqa" if fit.nAGQ == 0 else "Nelder_Mead", call_lines=fit.model.call_lines(),
        fit_warnings=_fit_warnings(fit))
    return GlmmSummaryData(base=base, family=fit.family.name, link=fit.family.link.name, nAGQ=fit.nAGQ,
                           use_scale=fit.use_scale)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for nm in names:
        if nm in seen:
            seen[nm] += 1
            out.append(f"{nm}.{seen[nm]}")
        else:
            seen[nm] = 0
            out.append(nm)
    return out


def _fit_warnings(fit) -> list[str]:
    out = []
    k = len(fit.design.dropped)
    if k:
        out.append(f"fixed-effect model matrix is rank deficient so dropping {k} column"
                   f"{'s' if k > 1 else ''} / coefficient{'s' if k > 1 else ''}")
    if fit.design.scale_warning:
        out.append("Some predictor variables are on very different scales: consider rescaling")
    return out


def _family_line(g: GlmmSummaryData) -> str:
    """``lme4:::.prt.family``."""
    return f" Family: {g.family}  ( {g.link} )\n"


def format_glmm_summary(g: GlmmSummaryData, *, digits: int | None = None, correlation: bool | None = None,
                        signif_stars: bool = True, ranef_comp: Sequence[str] = ("Variance", "Std.Dev."),
                        show_resids: bool = True, show_messages: bool = False, object_name: str = "x",
                        width: int = rf.R_WIDTH) -> str:
    """Text of ``print(summary(glmer(...)))`` (no trailing newline)."""
    d = g.base
    dig = _default_digits() if digits is None else digits
    out = _prt_meth_tit(_title(g.nAGQ), "glmerMod", width)
    out += _family_line(g)
    out += _prt_call(d, width)
    out += "\n"
    out += _prt_aictab(d, 1, width)
    out += "\n"
    if show_resids:
        out += _prt_resids(np.asarray(d.scaled_residuals, dtype=float), dig, width)
    out += format_varcorr(d.groups, d.sigma if g.use_scale else None, comp=ranef_comp, digits=dig,
                          width=width) + "\n"
    out += _prt_grps(d, width)
    p = len(d.coef_names)
    if p > 0:
        out += "\nFixed effects:\n"
        est = np.asarray(d.estimates, dtype=float)
        se = np.asarray(d.std_errors, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        pv = 2 * stats.norm.sf(np.abs(z))
        x = np.column_stack([est, se, z, pv])
        cn = ["Estimate", "Std. Error", "t value" if g.use_scale else "z value", "Pr(>|z|)"]
        out += _lines(rf.print_coefmat(x, d.coef_names, cn, digits=dig, signif_stars=signif_stars,
                                       zap_ind=[2], width=width))
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


def format_glmm_print(g: GlmmSummaryData, *, digits: int | None = None,
                      ranef_comp: Sequence[str] = ("Std.Dev.",), width: int = rf.R_WIDTH) -> str:
    """Text of ``print(m)`` for a ``glmerMod`` (no trailing newline)."""
    d = g.base
    dig = _default_digits() if digits is None else digits
    out = _prt_meth_tit(_title(g.nAGQ), "glmerMod", width)
    out += _family_line(g)
    out += _prt_call(d, width)
    out += _prt_aictab(d, 4, width)
    out += format_varcorr(d.groups, d.sigma if g.use_scale else None, comp=ranef_comp, digits=dig,
                          width=width) + "\n"
    out += _prt_grps(d, width)
    if d.coef_names:
        out += "Fixed Effects:\n"
        vals = rf.format_num(np.asarray(d.estimates, dtype=float), digits=dig)
        out += _lines(rf.print_named_vector(vals, d.coef_names, gap=2, width=width))
    else:
        out += "No fixed effect coefficients\n"
    out += _fit_msgs(d)
    out += _prt_warn(d, summary=True)
    return out[:-1] if out.endswith("\n") else out


class GlmmSummary:
    """``summary(glmer(...))``: ``str()`` prints it as R does."""

    def __init__(self, data: GlmmSummaryData, **options) -> None:
        self.data = data
        self.options = options

    def format(self, **options) -> str:
        opts = {**self.options, **options}
        return format_glmm_summary(self.data, **opts)

    def __str__(self) -> str:
        return self.format()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(self.format()) + "</pre>"

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
from .display import glmm_summary_html
from .summary import SummaryBase, SummaryData, _print_text, _summary_text, summary_data

__all__ = ["GlmmSummaryData", "glmm_summary_data", "format_glmm_summary", "format_glmm_print", "GlmmSummary"]


@dataclass
class GlmmSummaryData:
    """A linear-model :class:`SummaryData` plus what a GLMM adds."""

    base: SummaryData
    family: str
    link: str
    nAGQ: int
    use_scale: bool

    @property
    def title(self) -> str:
        """lme4's ``methTitle`` of a GLMM (the Laplace approximation or adaptive Gauss-Hermite quadrature)."""
        how = ("Laplace Approximation" if self.nAGQ == 1
               else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.nAGQ}")
        return f"Generalized linear mixed model fit by maximum likelihood ({how})"


def glmm_summary_data(fit) -> GlmmSummaryData:
    """Collect what the printers need from a fitted GLMM (the linear model's :func:`summary_data` and a
    GLMM's own fields)."""
    base = summary_data(fit, reml=False, reml_criterion=fit.objective, deviance=fit.objective,
                        conv_messages=list(fit.conv_messages),
                        optimizer="bobyqa" if fit.nAGQ == 0 else "Nelder_Mead")
    return GlmmSummaryData(base=base, family=fit.family.name, link=fit.family.link.name, nAGQ=fit.nAGQ,
                           use_scale=fit.use_scale)


def _family_line(g: GlmmSummaryData) -> str:
    """``lme4:::.prt.family``."""
    return f" Family: {g.family}  ( {g.link} )\n"


def _coef_table(d: SummaryData, use_scale: bool) -> tuple[np.ndarray, list[str], list[int]]:
    """Estimate, Std. Error, z value (t value with a dispersion) and Pr(>|z|) (normal). lme4 1.1-31's
    ``print.summary.merMod`` calls ``printCoefmat`` without ``zap.ind``: the z column is not zapped (a
    zapped column loses the decimals a small |z| needs next to a large one: 9.704 beside 58.912)."""
    est = np.asarray(d.estimates, dtype=float)
    se = np.asarray(d.std_errors, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    pv = 2 * stats.norm.sf(np.abs(z))
    return (np.column_stack([est, se, z, pv]),
            ["Estimate", "Std. Error", "t value" if use_scale else "z value", "Pr(>|z|)"], ())


def format_glmm_summary(g: GlmmSummaryData, *, digits: int | None = None, correlation: bool | None = None,
                        signif_stars: bool = True, ranef_comp: Sequence[str] = ("Variance", "Std.Dev."),
                        show_resids: bool = True, show_messages: bool = False, object_name: str = "x",
                        width: int = rf.R_WIDTH) -> str:
    """Text of ``print(summary(glmer(...)))`` (no trailing newline)."""
    d = g.base
    return _summary_text(d, g.title, "glmerMod", _family_line(g), d.sigma if g.use_scale else None,
                         _coef_table(d, g.use_scale), digits=digits, correlation=correlation,
                         signif_stars=signif_stars, ranef_comp=ranef_comp, show_resids=show_resids,
                         show_messages=show_messages, object_name=object_name, width=width)


def format_glmm_print(g: GlmmSummaryData, *, digits: int | None = None,
                      ranef_comp: Sequence[str] = ("Std.Dev.",), width: int = rf.R_WIDTH) -> str:
    """Text of ``print(m)`` for a ``glmerMod`` (no trailing newline)."""
    d = g.base
    return _print_text(d, g.title, "glmerMod", _family_line(g), d.sigma if g.use_scale else None,
                       digits=digits, ranef_comp=ranef_comp, width=width)


class GlmmSummary(SummaryBase):
    """``summary(glmer(...))``: ``str()`` prints it as R does."""

    def format(self, **options) -> str:
        return format_glmm_summary(self.data, **{**self.options, **options})

    def _repr_html_(self) -> str:
        """Jupyter's view: HTML tables (rounded numbers; ``str()`` gives R's exact text)."""
        return glmm_summary_html(self.data)

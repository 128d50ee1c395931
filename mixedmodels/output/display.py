"""HTML views of a fit and of its summary, for Jupyter's rich display (``_repr_html_``).

The content follows lme4's ``print(m)`` (:func:`fit_html`) and ``print(summary(m))`` (:func:`summary_html`):
a header (method, formula, data, fit criteria), the random effects (variances, standard deviations,
correlations), and the fixed effects (estimates, with standard errors and t values — and lmerTest's df
and p-values when the summary has them — in the summary). Numbers are rounded for reading (4 significant
digits; ``str()`` of the fit or summary gives R's exact text). All text is HTML-escaped.

A generalized fit (``mm.glmer``) has its own pair, :func:`glmm_fit_html` and :func:`glmm_summary_html`, in
lme4's ``glmerMod`` layout: the Laplace / adaptive Gauss-Hermite title, the family and link, no Residual row
for families without a dispersion, and ``z value`` / ``Pr(>|z|)`` (``t value`` where there is a
dispersion) in the fixed-effects table.
"""

from __future__ import annotations

import html
import math

import numpy as np

from ..rbase.rmath import quantile7

__all__ = ["fit_html", "summary_html", "glmm_fit_html", "glmm_summary_html", "SINGULAR_MESSAGE"]

#: lme4's message for a fit on the boundary (``isSingular``), in the printed summaries, these HTML views and
#: the warning a fit gives; here, where :mod:`.summary` (which imports this module) reads it too.
SINGULAR_MESSAGE = "boundary (singular) fit: see help('isSingular')"

_STYLE = ("<style>.mm-lmer table{border-collapse:collapse;margin:0.2em 0 0.8em 0}"
          ".mm-lmer th,.mm-lmer td{padding:0.15em 0.7em;text-align:right}"
          ".mm-lmer th.l,.mm-lmer td.l{text-align:left}"
          ".mm-lmer .mm-h{font-weight:bold;margin-top:0.4em}</style>")


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _num(x, sig: int = 4) -> str:
    """``x`` rounded to ``sig`` significant digits, in fixed notation unless very large or small."""
    if x is None:
        return ""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    if mag >= 6 or mag <= -5:
        return f"{x:.{sig - 1}e}"
    return f"{x:.{max(0, sig - 1 - mag)}f}"


def _pvalue(p) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "&lt;2e-16" if p < 2e-16 else _e(f"{p:.3g}")


def _table(header: list[str], rows: list[list[str]], left: int = 1, escape: bool = True) -> str:
    """An HTML table; the first ``left`` columns are left-aligned text. With ``escape=False`` the header
    and cells are taken as already-escaped HTML."""
    esc = _e if escape else str

    def cell(tag: str, j: int, content: str) -> str:
        cls = ' class="l"' if j < left else ""
        return f"<{tag}{cls}>{esc(content)}</{tag}>"

    head = "".join(cell("th", j, h) for j, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", j, c) for j, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _data(obj):
    """The :class:`~mixedmodels.output.summary.SummaryData` of a fit, a Summary or a SummaryData (told
    apart by what they hold, so that this module does not import :mod:`~mixedmodels.output.summary`,
    which imports it)."""
    if hasattr(obj, "_summary_data"):  # a fitted model
        return obj._summary_data()
    data = getattr(obj, "data", obj)  # a Summary holds its SummaryData
    if all(hasattr(data, a) for a in ("coef_names", "groups", "reml_criterion")):
        return data
    raise TypeError(f"expected a fitted model or its summary, not {type(obj).__name__}")


def _header(d, summary: bool, title: str | None = None, family: str | None = None) -> str:
    if title is None:
        method = "REML" if d.reml else "maximum likelihood"
        title = f"Linear mixed model fit by {method}"
        if d.ddf_method and summary:
            title += f". t-tests use {d.ddf_method}'s method"
    parts = [f'<div class="mm-h">{_e(title)}</div>', "<table><tbody>"]
    if family is not None:
        parts.append(f'<tr><td class="l">Family</td><td class="l">{_e(family)}</td></tr>')
    parts.append(f'<tr><td class="l">Formula</td><td class="l">{_e(" ".join(d.formula.split()))}</td></tr>')
    if d.data_name is not None:
        parts.append(f'<tr><td class="l">Data</td><td class="l">{_e(d.data_name)}</td></tr>')
    parts.append("</tbody></table>")
    if d.reml:
        crit_h, crit_v = ["REML criterion at convergence"], [_num(d.reml_criterion, 6)]
    else:
        crit_h, crit_v = [], []
    if summary or not d.reml:
        crit_h += ["AIC", "BIC", "logLik", "deviance", "df.resid"]
        crit_v += [_num(d.aic, 6), _num(d.bic, 6), _num(d.loglik, 6), _num(d.deviance, 6), str(d.df_resid)]
    parts.append(_table(crit_h, [crit_v], left=0))
    return "".join(parts)


def _random(d, summary: bool, residual: bool = True) -> str:
    has_corr = any(g.corr is not None for g in d.groups)
    header = ["Groups", "Name"] + (["Variance"] if summary else []) + ["Std.Dev."]
    maxk = max((len(g.terms) for g in d.groups), default=1)
    if has_corr:
        header += ["Corr"] + [""] * (maxk - 2)
    rows = []
    for g in d.groups:
        for i, term in enumerate(g.terms):
            row = [g.name if i == 0 else "", term]
            if summary:
                row.append(_num(g.variances[i]))
            row.append(_num(g.stddevs[i]))
            if has_corr:
                cells = []
                if g.corr is not None:
                    cells = [f"{g.corr[i, j]:.2f}" if np.isfinite(g.corr[i, j]) else "NaN" for j in range(i)]
                row += cells + [""] * (maxk - 1 - len(cells))
            rows.append(row)
    if residual:
        row = ["Residual", ""] + ([_num(d.sigma ** 2)] if summary else []) + [_num(d.sigma)]
        if has_corr:
            row += [""] * (maxk - 1)
        rows.append(row)
    groups = ", ".join(f"{name}, {n}" for name, n in d.ngroups)
    return ('<div class="mm-h">Random effects</div>' + _table(header, rows, left=2)
            + f"<div>Number of obs: {_e(d.nobs)}, groups: {_e(groups)}</div>")


def _fixed(d, summary: bool, stat: str = "t", pvalues=None, p_label: str | None = None) -> str:
    """The fixed-effects table: estimates (``print(m)``), or with standard errors, ``stat`` values and,
    where there are any (``pvalues``, else the summary's), p-values headed ``p_label``."""
    if not d.coef_names:
        return '<div class="mm-h">No fixed-effect coefficients</div>'
    if not summary:
        rows = [[nm, _num(b)] for nm, b in zip(d.coef_names, d.estimates)]
        return '<div class="mm-h">Fixed effects</div>' + _table(["", "Estimate"], rows)
    pvalues = d.pvalues if pvalues is None else pvalues
    header = ["", "Estimate", "Std. Error"]
    if d.df is not None:
        header.append("df")
    header.append(f"{stat} value")
    if pvalues is not None:
        header.append(p_label or f"Pr(&gt;|{'t' if stat == 't' else 'z'}|)")
    rows = []
    for j, nm in enumerate(d.coef_names):
        est, se = d.estimates[j], d.std_errors[j]
        row = [_e(nm), _e(_num(est)), _e(_num(se))]
        if d.df is not None:
            row.append(_e(_num(d.df[j])))
        row.append(_e(_num(est / se if se else np.nan)))
        if pvalues is not None:
            row.append(_pvalue(pvalues[j]))
        rows.append(row)
    return '<div class="mm-h">Fixed effects</div>' + _table(header, rows, escape=False)


def _residuals(d) -> str:
    r = np.asarray(d.scaled_residuals, dtype=float)
    if r.size == 0:
        return ""
    q = quantile7(r, [0, 0.25, 0.5, 0.75, 1])
    return ('<div class="mm-h">Scaled residuals</div>'
            + _table(["Min", "1Q", "Median", "3Q", "Max"], [[_num(v) for v in q]], left=0))


def _messages(d) -> str:
    msgs = []
    if d.singular:
        msgs.append(SINGULAR_MESSAGE)
    msgs += list(d.conv_messages or [])
    msgs += list(getattr(d, "fit_warnings", []) or [])
    if not msgs:
        return ""
    return "".join(f"<div><em>{_e(m)}</em></div>" for m in msgs)


def fit_html(fit) -> str:
    """HTML of a fitted model, as lme4's ``print(m)`` lays it out (for ``LmerFit._repr_html_``)."""
    d = _data(fit)
    return (_STYLE + '<div class="mm-lmer">' + _header(d, summary=False) + _random(d, summary=False)
            + _fixed(d, summary=False) + _messages(d) + "</div>")


def summary_html(fit_or_summary) -> str:
    """HTML of a model summary (lme4's / lmerTest's ``print(summary(m))`` layout: header, scaled
    residuals, random effects, fixed effects); accepts a fit, a Summary or a SummaryData (for
    ``Summary._repr_html_``)."""
    d = _data(fit_or_summary)
    return (_STYLE + '<div class="mm-lmer">' + _header(d, summary=True) + _residuals(d)
            + _random(d, summary=True) + _fixed(d, summary=True) + _messages(d) + "</div>")


# ------------------------------------------------------------------------------------ generalized fits
def _glmm_parts(g):
    """(title, family line) of a GlmmSummaryData (duck-typed: it holds ``base``, ``family``, ``link``,
    ``title`` and ``use_scale``)."""
    if not all(hasattr(g, a) for a in ("base", "family", "link", "title", "use_scale")):
        raise TypeError(f"expected a generalized fit's summary data, not {type(g).__name__}")
    return g.title, f"{g.family} ({g.link})"


def _glmm_fixed(g) -> str:
    """The summary's fixed-effects table of a GLMM: z tests (``t value`` where there is a dispersion,
    p-values from the normal distribution either way, as lme4)."""
    d = g.base
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.asarray(d.estimates, dtype=float) / np.asarray(d.std_errors, dtype=float)
    p = [math.erfc(abs(v) / math.sqrt(2)) if np.isfinite(v) else np.nan for v in z]
    return _fixed(d, summary=True, stat="t" if g.use_scale else "z", pvalues=p, p_label="Pr(&gt;|z|)")


def glmm_fit_html(g) -> str:
    """HTML of a generalized fit, as lme4's ``print(m)`` of a ``glmerMod`` lays it out (for
    ``GlmerFit._repr_html_``); ``g`` is its GlmmSummaryData."""
    title, family = _glmm_parts(g)
    d = g.base
    return (_STYLE + '<div class="mm-lmer">' + _header(d, summary=False, title=title, family=family)
            + _random(d, summary=False, residual=g.use_scale) + _fixed(d, summary=False) + _messages(d)
            + "</div>")


def glmm_summary_html(g) -> str:
    """HTML of a generalized fit's summary (lme4's ``print(summary(glmer(...)))`` layout: title, family,
    AIC/BIC/logLik/deviance/df.resid, scaled Pearson residuals, random effects, fixed effects with z
    tests); ``g`` is its GlmmSummaryData (for ``GlmmSummary._repr_html_``)."""
    title, family = _glmm_parts(g)
    d = g.base
    return (_STYLE + '<div class="mm-lmer">' + _header(d, summary=True, title=title, family=family)
            + _residuals(d) + _random(d, summary=True, residual=g.use_scale) + _glmm_fixed(g) + _messages(d)
            + "</div>")

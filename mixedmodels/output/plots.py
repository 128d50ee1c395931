"""Diagnostic plots of a fitted model, with matplotlib (an optional dependency: ``pip install
mixedmodels[plot]``; it is imported only when a plot is drawn).

=========================================================  ==============================================
lme4 / lattice (R)                                         mixedmodels.output.plots
=========================================================  ==============================================
``dotplot(ranef(m, condVar = TRUE))``                      :func:`caterpillar_plot`
``coef(lmList(y ~ x | g))`` against ``coef(m)``              :func:`shrinkage_plot`
``plot(m)`` (Pearson residuals vs fitted)                  :func:`residuals_vs_fitted`
``qqnorm(resid(m)); qqline(resid(m))``                     :func:`qqplot_residuals`
``qqmath(ranef(m, condVar = TRUE))``                       :func:`qqplot_ranef`
=========================================================  ==============================================

Every function returns its :class:`matplotlib.figure.Figure` (made with pyplot, so ``plt.show()`` shows
it; close it with ``plt.close(fig)`` when drawing many).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import MixedModelsError
from ..rbase.rmath import quantile7

__all__ = ["caterpillar_plot", "shrinkage_plot", "residuals_vs_fitted", "qqplot_residuals", "qqplot_ranef"]

_POINT = "#0072B2"
_OLS = "#D55E00"


def _pyplot():
    """matplotlib's pyplot, or an ImportError saying how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("mixedmodels' plots need matplotlib, which is not installed: "
                          "pip install mixedmodels[plot]") from exc
    return plt


def _groups(fit, group: str | None) -> list[str]:
    names = list(fit.ranef)
    if group is None:
        return names
    if group not in names:
        raise MixedModelsError(f"no grouping factor {group!r} in the model (grouping factors: "
                               f"{', '.join(names)})")
    return [group]


def _ppoints(n: int) -> np.ndarray:
    """R's ``ppoints(n)``: (i - a) / (n + 1 - 2a), a = 3/8 for n <= 10, else 1/2."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


# ------------------------------------------------------------------------------------ caterpillar
def caterpillar_plot(fit, group: str | None = None, level: float = 0.95, sort: bool = True):
    """Conditional modes with prediction intervals, one panel per random-effect column (lme4's
    ``dotplot(ranef(m, condVar = TRUE))``).

    Levels are ordered by the first column's conditional mode (``sort=True``, as lme4's ``reorder``);
    the bars are ``+- qnorm((1 + level) / 2)`` conditional standard deviations. With ``group=None`` every
    grouping factor gets a row of panels.
    """
    plt = _pyplot()
    groups = _groups(fit, group)
    z = stats.norm.ppf(0.5 + level / 2)
    ncol = max(fit.ranef[g].shape[1] for g in groups)
    heights = [max(2.0, 0.18 * fit.ranef[g].shape[0] + 1.0) for g in groups]
    fig, axes = plt.subplots(len(groups), ncol, figsize=(3.2 * ncol + 0.8, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for r, g in enumerate(groups):
        re, sd = fit.ranef[g], fit.ranef_condsd[g]
        n, k = re.shape
        order = np.argsort(re.iloc[:, 0].to_numpy(), kind="stable") if sort else np.arange(n)
        labels = [str(x) for x in re.index[order]]
        pos = np.arange(n)
        for c in range(ncol):
            ax = axes[r, c]
            if c >= k:
                fig.delaxes(ax)
                continue
            v = re.iloc[order, c].to_numpy()
            s = sd.iloc[order, c].to_numpy()
            ax.axvline(0.0, color="0.6", lw=0.8, zorder=0)
            ax.hlines(pos, v - z * s, v + z * s, color=_POINT, lw=1.2)
            ax.plot(v, pos, "o", color=_POINT, ms=4)
            ax.set_yticks(pos)
            ax.set_yticklabels(labels if c == 0 else [], fontsize=7)
            ax.set_ylim(-0.7, n - 0.3)
            ax.set_title(str(re.columns[c]), fontsize=9)
            ax.tick_params(axis="x", labelsize=8)
            if c == 0:
                ax.set_ylabel(g)
    fig.suptitle(f"Conditional modes with {100 * level:g}% intervals", fontsize=10)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ shrinkage
def _within_group_ols(fit, group: str):
    """Per-level least-squares estimates of ``group``'s random-effect columns (as ``lmList`` would give for
    those columns), with every other part of the model (other fixed effects, other grouping factors'
    random effects, the offset) held at its estimate. Returns (levels, cnames, ols, conditional)."""
    d = fit.design
    idx = [k for k, t in enumerate(d.terms) if t.group == group]
    cnames: list[str] = []
    zcols = []
    for k in idx:
        for j, c in enumerate(d.terms[k].cnames):
            if c not in cnames:
                cnames.append(c)
                zcols.append(d.terms[k].z[:, j])
    Z = np.column_stack(zcols)
    refs = d.terms[idx[0]].refs
    levels = list(d.terms[idx[0]].levels)
    beta = fit.fixef
    other = [j for j, nm in enumerate(d.x_names) if nm not in cnames]
    y = d.y - d.offset - d.X[:, other] @ beta.to_numpy()[other]
    for k, (t, b) in enumerate(zip(d.terms, fit._b_blocks)):
        if t.group != group:
            y = y - np.einsum("ij,ij->i", t.z, b[t.refs])
    ols = np.full((len(levels), len(cnames)), np.nan)
    for lev in range(len(levels)):
        rows = refs == lev
        Zl = Z[rows]
        if rows.sum() >= Z.shape[1] and np.linalg.matrix_rank(Zl) == Z.shape[1]:
            ols[lev] = np.linalg.lstsq(Zl, y[rows], rcond=None)[0]
    cond = fit.coef()[group][cnames].to_numpy()
    pop = np.array([beta.get(c, 0.0) for c in cnames])
    return levels, cnames, ols, cond, pop


def shrinkage_plot(fit, group: str | None = None, columns: tuple[int, int] = (0, 1), ax=None):
    """Within-group least-squares estimates against the model's per-group coefficients (``coef``), with
    an arrow from each group's own estimate to its shrunken one and the population estimate marked.

    For a model with ``(x | g)``: a scatter of intercept against slope (``columns`` picks the two columns).
    For a scalar term ``(1 | g)``: the conditional estimates against the group's own estimates, with the
    identity line. Groups too small for their own fit are left out.
    """
    plt = _pyplot()
    from matplotlib.collections import LineCollection

    if group is None:
        names = list(fit.ranef)
        multi = [g for g in names if fit.ranef[g].shape[1] >= 2]
        group = (multi or names)[0]
    else:
        _groups(fit, group)
    levels, cnames, ols, cond, pop = _within_group_ols(fit, group)
    ok = np.all(np.isfinite(ols), axis=1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.8))
    else:
        fig = ax.figure
    if len(cnames) >= 2:
        i, j = columns
        seg = np.stack([ols[ok][:, [i, j]], cond[ok][:, [i, j]]], axis=1)
        ax.add_collection(LineCollection(seg, colors="0.55", lw=0.8, zorder=1))
        ax.plot(ols[ok, i], ols[ok, j], "o", mfc="none", color=_OLS, ms=6, label="within-group fit")
        ax.plot(cond[ok, i], cond[ok, j], "o", color=_POINT, ms=5, label="mixed model (coef)")
        ax.plot([pop[i]], [pop[j]], "P", color="k", ms=9, label="population (fixef)")
        ax.set_xlabel(cnames[i])
        ax.set_ylabel(cnames[j])
    else:
        start = np.column_stack([ols[ok, 0], ols[ok, 0]])  # on the identity line
        end = np.column_stack([ols[ok, 0], cond[ok, 0]])
        ax.add_collection(LineCollection(np.stack([start, end], axis=1), colors="0.55", lw=0.8, zorder=1))
        mid = float(np.mean(ols[ok, 0]))
        ax.axline((mid, mid), slope=1.0, color="0.7", lw=0.8)
        ax.plot(ols[ok, 0], ols[ok, 0], "o", mfc="none", color=_OLS, ms=6, label="within-group fit")
        ax.plot(ols[ok, 0], cond[ok, 0], "o", color=_POINT, ms=5, label="mixed model (coef)")
        ax.axhline(pop[0], color="k", lw=0.8, ls="--", label="population (fixef)")
        ax.set_xlabel(f"{cnames[0]}: within-group estimate")
        ax.set_ylabel(f"{cnames[0]}: estimate")
    ax.autoscale_view()
    ax.set_title(f"Shrinkage of the per-{group} estimates", fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ residuals
def residuals_vs_fitted(fit, scaled: bool = False, ax=None):
    """Residuals against fitted values (lme4's ``plot(m)``: Pearson residuals vs fitted), with a zero
    line; ``scaled=True`` divides the residuals by sigma."""
    plt = _pyplot()
    r = fit.resid("pearson", scaled=scaled).to_numpy()
    f = np.asarray(fit.fitted, dtype=float)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 4.2))
    else:
        fig = ax.figure
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.plot(f, r, "o", mfc="none", color=_POINT, ms=4)
    ax.set_xlabel("Fitted values")
    ax.set_ylabel("Scaled residuals" if scaled else "Pearson residuals")
    fig.tight_layout()
    return fig


def qqplot_residuals(fit, scaled: bool = True, ax=None):
    """Normal quantile-quantile plot of the residuals with R's ``qqline`` (through the quartiles)
    (``qqnorm(resid(m, scaled = TRUE)); qqline(...)``)."""
    plt = _pyplot()

    r = np.sort(fit.resid("pearson", scaled=scaled).to_numpy())
    q = stats.norm.ppf(_ppoints(len(r)))
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.8, 4.5))
    else:
        fig = ax.figure
    ax.plot(q, r, "o", mfc="none", color=_POINT, ms=4)
    _qqline(ax, r)
    ax.set_xlabel("Standard normal quantiles")
    ax.set_ylabel("Scaled residuals" if scaled else "Residuals")
    ax.set_title("Normal Q-Q plot of the residuals", fontsize=10)
    fig.tight_layout()
    return fig


def _qqline(ax, y: np.ndarray) -> None:
    """R's ``qqline``: the line through the first and third quartiles (quantile type 7)."""
    y1, y3 = quantile7(y, [0.25, 0.75])
    x1, x3 = stats.norm.ppf([0.25, 0.75])
    slope = (y3 - y1) / (x3 - x1)
    ax.axline((x1, y1), slope=slope, color="0.4", lw=0.9)


def qqplot_ranef(fit, group: str | None = None, level: float = 0.95):
    """Normal quantile-quantile plots of the conditional modes, one panel per random-effect column, with
    their prediction intervals (lme4's ``qqmath(ranef(m, condVar = TRUE))``)."""
    plt = _pyplot()
    groups = _groups(fit, group)
    z = stats.norm.ppf(0.5 + level / 2)
    ncol = max(fit.ranef[g].shape[1] for g in groups)
    fig, axes = plt.subplots(len(groups), ncol, figsize=(3.4 * ncol + 0.6, 3.2 * len(groups)), squeeze=False)
    for r, g in enumerate(groups):
        re, sd = fit.ranef[g], fit.ranef_condsd[g]
        n, k = re.shape
        q = stats.norm.ppf(_ppoints(n))
        for c in range(ncol):
            ax = axes[r, c]
            if c >= k:
                fig.delaxes(ax)
                continue
            order = np.argsort(re.iloc[:, c].to_numpy(), kind="stable")
            v = re.iloc[order, c].to_numpy()
            s = sd.iloc[order, c].to_numpy()
            ax.axvline(0.0, color="0.6", lw=0.8, zorder=0)
            ax.hlines(q, v - z * s, v + z * s, color=_POINT, lw=1.0)
            ax.plot(v, q, "o", color=_POINT, ms=4)
            ax.set_title(f"{g}: {re.columns[c]}", fontsize=9)
            ax.set_ylabel("Standard normal quantiles" if c == 0 else "")
            ax.tick_params(labelsize=8)
    fig.tight_layout()
    return fig

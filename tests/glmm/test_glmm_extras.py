"""glmer's extras: diagnostic plots (matplotlib's Agg backend), notebook HTML (``_repr_html_``) and the
side-by-side comparison with statsmodels' variational-Bayes mixed GLMs. The numbers these check come from
the fits themselves (the fits' agreement with lme4 is tests/glmm/test_glmm_lme4.py's job)."""

from __future__ import annotations

import warnings
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.output import plots
from mixedmodels.output.display import _num

from glmm_cases import CBPP, data, fit


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


def _cbpp_binary() -> pd.DataFrame:
    """cbpp with one 0/1 row per animal (``incidence`` successes out of ``size``)."""
    d = data("cbpp")
    size = d["size"].to_numpy()
    rep = d.loc[d.index.repeat(size)].reset_index(drop=True)
    k = np.concatenate([np.arange(s) for s in size])
    rep["y"] = (k < np.repeat(d["incidence"].to_numpy(), size)).astype(int)
    rep.attrs["name"] = "cbpp_binary"
    return rep[["herd", "period", "y"]]


# ============================================================================================ plots
@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


def test_caterpillar_of_a_glmer_fit_uses_condsd(plt):
    import matplotlib.figure
    from matplotlib.collections import LineCollection

    m = fit("cbpp_cbind")
    fig = plots.caterpillar_plot(m, level=0.9)
    assert isinstance(fig, matplotlib.figure.Figure)
    (ax,) = fig.axes
    re = m.ranef["herd"].iloc[:, 0]
    sd = m.ranef_condsd["herd"].iloc[:, 0]
    order = np.argsort(re.to_numpy(), kind="stable")
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(x) for x in re.index[order]]
    assert ax.get_ylabel() == "herd" and ax.get_title() == "(Intercept)"
    segs = [c for c in ax.collections if isinstance(c, LineCollection)][0].get_segments()
    z = stats.norm.ppf(0.95)
    lo = np.array([s[0][0] for s in segs])
    hi = np.array([s[1][0] for s in segs])
    assert lo == pytest.approx(re.to_numpy()[order] - z * sd.to_numpy()[order], rel=1e-12)
    assert hi == pytest.approx(re.to_numpy()[order] + z * sd.to_numpy()[order], rel=1e-12)
    w, h = fig.get_size_inches()
    assert w == pytest.approx(4.0) and h == pytest.approx(0.18 * 15 + 1.0)


def test_qqplot_ranef_of_crossed_glmer_fit(plt):
    m = fit("binom_logical")  # (1 | g) + (1 | h)
    fig = plots.qqplot_ranef(m)
    assert len(fig.axes) == 2
    for ax, g in zip(fig.axes, ["g", "h"]):
        assert ax.get_title() == f"{g}: (Intercept)"
        x, y = ax.lines[-1].get_data()  # lines[0] is the zero line
        assert np.sort(x) == pytest.approx(np.sort(m.ranef[g].iloc[:, 0].to_numpy()), rel=1e-12)
        assert np.all(np.diff(y) > 0) and len(y) == m.ngroups[g]
    only = plots.qqplot_ranef(m, group="h")
    assert len(only.axes) == 1


@pytest.mark.parametrize("kind", ["deviance", "pearson"])
def test_residuals_vs_fitted_of_a_glmer_fit(plt, kind):
    m = fit("grouse_nagq0")
    args = {} if kind == "deviance" else {"type": "pearson"}
    fig = plots.residuals_vs_fitted(m, **args)
    ax = fig.axes[0]
    x, y = ax.lines[-1].get_data()  # after the zero line
    assert x == pytest.approx(m.fitted.to_numpy(), rel=1e-12)
    assert y == pytest.approx(m.residuals(kind).to_numpy(), rel=1e-12, abs=1e-300)
    assert ax.get_ylabel() == f"{kind.capitalize()} residuals"
    assert ax.get_xlabel() == "Fitted values (response scale)"
    assert tuple(fig.get_size_inches()) == pytest.approx((5.5, 4.2))


def test_qqplot_residuals_of_a_glmer_fit(plt):
    m = fit("cbpp_cbind")
    fig = plots.qqplot_residuals(m, scaled=False)
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    assert y == pytest.approx(np.sort(m.residuals("deviance").to_numpy()), rel=1e-12)
    assert x == pytest.approx(stats.norm.ppf(plots._ppoints(m.nobs)), rel=1e-12)
    assert ax.get_ylabel() == "Deviance residuals"
    fig = plots.qqplot_residuals(m, type="pearson")
    assert fig.axes[0].get_ylabel() == "Scaled Pearson residuals"


def test_plot_residual_types_are_checked(plt):
    m = fit("cbpp_cbind")
    with pytest.raises(MixedModelsError, match="'deviance' or 'pearson'"):
        plots.residuals_vs_fitted(m, type="working")
    lin = _quiet(mm.lmer, "Reaction ~ Days + (1 | Subject)", mm.datasets.load("sleepstudy"))
    with pytest.raises(MixedModelsError, match="only .*generalized"):
        plots.qqplot_residuals(lin, type="deviance")
    # the linear fit's plots are unchanged by the new keyword
    assert plots.residuals_vs_fitted(lin).axes[0].get_ylabel() == "Pearson residuals"


def test_shrinkage_plot_refuses_a_glmer_fit(plt):
    with pytest.raises(MixedModelsError, match="only for a linear mixed model"):
        plots.shrinkage_plot(fit("cbpp_cbind"))


# ============================================================================================ HTML
class _Tables(HTMLParser):
    """Tables (lists of rows of cell texts) and the bold headings of an HTML fragment."""

    def __init__(self):
        super().__init__()
        self.tables, self.headings = [], []
        self._cell = None
        self._heading = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "div" and ("class", "mm-h") in attrs:
            self._heading = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell)
            self._cell = None
        elif tag == "div" and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None

    def handle_data(self, text):
        if self._cell is not None:
            self._cell += text
        if self._heading is not None:
            self._heading += text


def _parse(html: str) -> _Tables:
    p = _Tables()
    p.feed(html)
    p.close()
    return p


def _table_after(p: _Tables, first_header: list[str]) -> list[list[str]]:
    for t in p.tables:
        if t and t[0][:len(first_header)] == first_header:
            return t
    raise AssertionError(f"no table headed {first_header}")


def test_summary_html_is_a_table_with_the_fixed_effects():
    m = fit("cbpp_cbind")
    html = m.summary()._repr_html_()
    assert "<pre>" not in html
    p = _parse(html)
    assert p.headings[0] == "Generalized linear mixed model fit by maximum likelihood (Laplace Approximation)"
    assert ["Family", "binomial (logit)"] in p.tables[0]
    fixed = _table_after(p, ["", "Estimate", "Std. Error", "z value", "Pr(>|z|)"])
    assert [r[0] for r in fixed[1:]] == list(m.fixef.index)
    for row, (nm, b) in zip(fixed[1:], m.fixef.items()):
        se = m.se[nm]
        assert row[1:4] == [_num(b), _num(se), _num(b / se)]
        p_ = 2 * stats.norm.sf(abs(b / se))
        assert row[4] == ("<2e-16" if p_ < 2e-16 else f"{p_:.3g}")
    crit = _table_after(p, ["AIC", "BIC", "logLik", "deviance", "df.resid"])
    assert crit[1] == [_num(m.aic, 6), _num(m.bic, 6), _num(m.loglik, 6), _num(-2 * m.loglik, 6),
                       str(m.df_resid)]
    rand = _table_after(p, ["Groups", "Name", "Variance", "Std.Dev."])
    assert [r[0] for r in rand[1:]] == ["herd"]  # no Residual row for the binomial
    v = m._term_covariances()[0][0, 0]
    assert rand[1][1:] == ["(Intercept)", _num(v), _num(np.sqrt(v))]
    assert "Scaled residuals" in p.headings


def test_fit_html_and_a_family_with_a_dispersion():
    m = fit("gamma_log")
    p = _parse(m._repr_html_())
    assert ["Family", "Gamma (log)"] in p.tables[0]
    rand = _table_after(p, ["Groups", "Name", "Std.Dev."])
    assert rand[-1][0] == "Residual" and rand[-1][-1] == _num(m.sigma)
    fixed = _table_after(p, ["", "Estimate"])
    assert [r[0] for r in fixed[1:]] == list(m.fixef.index)
    assert [r[1] for r in fixed[1:]] == [_num(b) for b in m.fixef]
    s = _parse(m.summary()._repr_html_())
    assert _table_after(s, ["", "Estimate", "Std. Error", "t value", "Pr(>|z|)"])


def test_glmm_html_is_escaped_and_titled_for_agq():
    m = fit("cbpp_nagq9")
    html = m._repr_html_()
    assert "Adaptive Gauss-Hermite Quadrature, nAGQ = 9" in html
    assert "size - incidence" in html and "<pre>" not in html
    d = _parse(html)
    assert ["Formula", CBPP] in d.tables[0]


# ============================================================================================ statsmodels
@pytest.fixture
def sm():
    return pytest.importorskip("statsmodels")


def test_compare_cbpp_as_binary(sm):
    m = _quiet(mm.glmer, "y ~ period + (1 | herd)", _cbpp_binary(), "binomial")
    # the binary expansion is the same likelihood up to the binomial coefficients: same estimates
    ref = fit("cbpp_cbind")
    assert m.fixef.to_numpy() == pytest.approx(ref.fixef.to_numpy(), rel=1e-4)
    c = m.compare_statsmodels()
    assert c.statsmodels_class == "BinomialBayesMixedGLM" and c.converged
    assert {"mixedmodels", "statsmodels", "difference"} <= set(c.table.columns)
    fe = c.table[c.table["section"].str.startswith("Fixed effects")]
    assert list(fe.index) == list(m.fixef.index)
    assert fe["mixedmodels"].to_numpy() == pytest.approx(m.fixef.to_numpy())
    assert fe["statsmodels"].to_numpy() == pytest.approx(np.asarray(c.statsmodels_result.fe_mean))
    # a close (not equal) approximation of the maximum-likelihood estimates
    assert fe["statsmodels"].to_numpy() == pytest.approx(m.fixef.to_numpy(), abs=0.1)
    sds = c.table[c.table["section"].str.startswith("Random-effect SDs")]
    assert sds.loc["herd: sd(Intercept)", "mixedmodels"] == pytest.approx(np.sqrt(m._term_covariances()[0][0, 0]))
    text = str(c)
    assert "Bayesian approximation, not a likelihood fit" in text and "BinomialBayesMixedGLM" in text
    assert "fit_vb()" in c.statsmodels_code


def test_compare_poisson_crossed(sm):
    m = fit("binom_logical")  # a logical response, crossed (1 | g) + (1 | h)
    c = m.compare_statsmodels()
    assert c.converged
    assert len(c.table[c.table["section"].str.startswith("Random-effect SDs")]) == 2
    d = data("grouseticks")
    p = _quiet(mm.glmer, "TICKS ~ YEAR + (1 | LOCATION)", d, "poisson")
    c = p.compare_statsmodels()
    assert c.statsmodels_class == "PoissonBayesMixedGLM" and c.converged
    se = c.table[c.table["section"].str.startswith("Standard errors")]
    assert se["mixedmodels"].to_numpy() == pytest.approx(p.se.to_numpy())
    assert np.all(np.isfinite(se["statsmodels"].to_numpy()))
    assert np.all(np.isfinite(c.table["difference"].to_numpy()))


@pytest.mark.parametrize("case,match", [
    ("cbpp_cbind", "one trial per row"),
    ("cbpp_prop", "one trial per row"),
    ("cbpp_probit", "probit link"),
    ("gamma_log", "Gamma"),
    ("pois_offset", "no offset"),
])
def test_compare_refuses_what_statsmodels_cannot_express(sm, case, match):
    with pytest.raises(MixedModelsError, match=match):
        fit(case).compare_statsmodels()


def test_compare_refuses_random_slopes(sm):
    m = _quiet(mm.glmer, "ypois ~ x + (x | g)", data("glmmsim"), "poisson")
    with pytest.raises(MixedModelsError, match="independent random intercepts only"):
        m.compare_statsmodels()
    nb = _quiet(mm.glmer_nb, "ynb ~ x + (1 | g)", data("glmmsim"))
    with pytest.raises(MixedModelsError, match="cannot express"):
        nb.compare_statsmodels()

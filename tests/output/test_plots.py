"""The diagnostic plots draw the right panels and points (matplotlib's Agg backend; skipped without
matplotlib)."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import mixedmodels as mm  # noqa: E402
from mixedmodels import plots  # noqa: E402
from mixedmodels.errors import MixedModelsError  # noqa: E402
from conftest import fitted  # noqa: E402


@pytest.fixture
def sleep_fit():
    return fitted("sleepstudy_slope_reml")


@pytest.fixture
def pen_fit():
    return fitted("penicillin_reml")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _marker_lines(ax) -> list:
    """The lines drawn with a marker (points), in drawing order."""
    return [line for line in ax.get_lines() if line.get_marker() not in (None, "None", "")]


def _points(ax) -> list[int]:
    """Numbers of plotted points per marker line."""
    return [len(line.get_xdata()) for line in _marker_lines(ax)]


def test_caterpillar_one_factor(sleep_fit):
    fig = plots.caterpillar_plot(sleep_fit)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 2  # (Intercept) and Days
    for ax, col in zip(fig.axes, ["(Intercept)", "Days"]):
        assert ax.get_title() == col
        assert _points(ax) == [18]
        assert len(ax.collections[0].get_segments()) == 18  # one interval per subject
    # sorted by the intercepts: the y order of the first panel is increasing
    x = _marker_lines(fig.axes[0])[0].get_xdata()
    assert np.all(np.diff(x) >= 0)
    # intervals are +- 1.96 conditional SDs
    seg = fig.axes[0].collections[0].get_segments()
    width = np.array([s[1][0] - s[0][0] for s in seg])
    sd = np.sort(sleep_fit.ranef_condsd["Subject"]["(Intercept)"].to_numpy())
    assert np.allclose(np.sort(width), np.sort(2 * 1.959963984540054 * sd))


def test_caterpillar_crossed(pen_fit):
    fig = plots.caterpillar_plot(pen_fit)
    assert len(fig.axes) == 2  # one panel per grouping factor
    assert [_points(ax) for ax in fig.axes] == [[24], [6]]
    fig = plots.caterpillar_plot(pen_fit, group="sample")
    assert len(fig.axes) == 1 and _points(fig.axes[0]) == [6]
    with pytest.raises(MixedModelsError, match="no grouping factor 'Batch'"):
        plots.caterpillar_plot(pen_fit, group="Batch")


def test_shrinkage(sleep_fit):
    fig = plots.shrinkage_plot(sleep_fit)
    (ax,) = fig.axes
    assert _points(ax) == [18, 18, 1]  # own fits, mixed-model coefficients, population
    assert ax.get_xlabel() == "(Intercept)" and ax.get_ylabel() == "Days"
    # the within-subject least-squares fits are lm(Reaction ~ Days) per subject
    sleep = mm.datasets.load("sleepstudy")
    s308 = sleep[sleep.Subject == "308"]
    slope, icpt = np.polyfit(s308.Days, s308.Reaction, 1)
    ols, cond = _marker_lines(ax)[:2]
    k = list(sleep_fit.ranef["Subject"].index).index("308")
    assert ols.get_xdata()[k] == pytest.approx(icpt) and ols.get_ydata()[k] == pytest.approx(slope)
    # the mixed-model points are coef()
    assert cond.get_ydata()[k] == pytest.approx(sleep_fit.fixef["Days"] + sleep_fit.ranef["Subject"].loc["308", "Days"])


def test_shrinkage_scalar_term():
    fit = fitted("dyestuff_reml")
    (ax,) = plots.shrinkage_plot(fit).axes
    assert _points(ax) == [6, 6]
    # batch means are the within-group fits; shrunken estimates are closer to the grand estimate
    own, cond = (line.get_ydata() for line in _marker_lines(ax))
    mu = fit.fixef["(Intercept)"]
    assert np.all(np.abs(cond - mu) <= np.abs(own - mu) + 1e-9)


def test_residual_plots(sleep_fit):
    fig = plots.residuals_vs_fitted(sleep_fit)
    assert len(fig.axes) == 1 and _points(fig.axes[0]) == [180]
    fig = plots.qqplot_residuals(sleep_fit)
    (ax,) = fig.axes
    assert _points(ax)[0] == 180
    pts = _marker_lines(ax)[0]
    assert np.all(np.diff(pts.get_ydata()) >= 0)
    # R's qqnorm uses ppoints(n): qnorm(ppoints(180))[1] is -2.772921295 in R
    assert pts.get_xdata()[0] == pytest.approx(-2.772921295)


def test_qqplot_ranef(sleep_fit, pen_fit):
    fig = plots.qqplot_ranef(sleep_fit)
    assert len(fig.axes) == 2 and all(_points(ax) == [18] for ax in fig.axes)
    fig = plots.qqplot_ranef(pen_fit)
    assert [_points(ax) for ax in fig.axes] == [[24], [6]]


def test_savefig_small_png(sleep_fit, tmp_path):
    fig = plots.caterpillar_plot(sleep_fit)
    out = tmp_path / "cat.png"
    fig.savefig(out, dpi=60)
    assert 0 < out.stat().st_size < 100_000


def test_missing_matplotlib_message(monkeypatch, sleep_fit):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install mixedmodels\[plot\]"):
        plots.caterpillar_plot(sleep_fit)

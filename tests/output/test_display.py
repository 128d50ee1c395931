"""The notebook HTML views of a fit and of its summary (:mod:`mixedmodels.output.display`): the content of
lme4's ``print(m)`` and ``print(summary(m))`` in tables, escaped."""

import pytest

import mixedmodels as mm
from mixedmodels.output.display import fit_html, summary_html


def test_summary_html_layout_and_escaping():
    fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"),
                  data_name="<script>alert(1)</script>")
    h = summary_html(fit)
    assert "<script>" not in h and "&lt;script&gt;alert(1)&lt;/script&gt;" in h
    # header, residuals, random effects, fixed effects, in R's order
    pos = [h.index(s) for s in ("Linear mixed model fit by REML", "Scaled residuals", "Random effects",
                                "Fixed effects")]
    assert pos == sorted(pos)
    assert "<td>612.1</td><td>24.74</td>" in h  # Subject (Intercept): variance, std.dev.
    assert "<td>0.07</td>" in h  # the correlation as R's summary prints it
    assert "<td>251.4</td><td>6.825</td><td>36.84</td>" in h
    assert "Number of obs: 180, groups: Subject, 18" in h
    assert summary_html(fit.summary()) == h  # a Summary gives the same view
    f = fit_html(fit)
    assert "Std. Error" not in f and "<td>251.4</td>" in f and "REML criterion at convergence" in f
    with pytest.raises(TypeError):
        summary_html(42)

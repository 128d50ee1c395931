"""Tests for :mod:`mixedmodels.output.summary`: the printed text must equal R's.

Three sources of truth, all produced with R 4.2.2 / lme4 1.1-31 / lmerTest
3.1-3 (default options, UTF-8 locale):

* ``tests/fixtures/lme4_models.json`` (``tests/r/make_fixtures.R``): for every
  model, SummaryData is built from the R numbers and ``format_summary`` /
  ``format_print`` must reproduce ``summary_text`` / ``print_text`` line by line;
* ``tests/fixtures/lmertest.json``: the lmerTest summaries (Satterthwaite and
  Kenward-Roger), the ``anova(m, type = 1:3, ddf = ...)`` tables and the lme4
  model-comparison tables (``anova(m0, m1)``);
* ``R_VERIFIED_CASES`` below: extra cases checked against R while writing the
  module (huge/tiny responses, convergence failures, fit warnings, ML lmerTest
  titles, > 12 fixed effects, no fixed effects, long formulas and group
  names).  Each holds the R numbers and the text R printed; the residual
  vector is replaced by its five quantiles (a 5-vector has exactly those
  type-7 quantiles, so the printed residual summary is unchanged).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mixedmodels.output.summary import (
    COR_MAX,
    SINGULAR_MESSAGE,
    Summary,
    SummaryData,
    VarCorrGroup,
    format_anova_table,
    format_print,
    format_summary,
    format_varcorr,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _load(name: str) -> dict[str, Any] | None:
    path = FIXTURES / name
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


LME4 = _load("lme4_models.json")
LMERTEST = _load("lmertest.json")
LME4_MODELS = {m["id"]: m for m in LME4["models"]} if LME4 else {}
LMERTEST_MODELS = LMERTEST["models"] if LMERTEST else []

needs_lme4 = pytest.mark.skipif(LME4 is None, reason="tests/fixtures/lme4_models.json missing")
needs_lmertest = pytest.mark.skipif(LMERTEST is None, reason="tests/fixtures/lmertest.json missing")


# ---------------------------------------------------------------------------
# SummaryData from the fixture schema
# ---------------------------------------------------------------------------


def _floats(v: Any) -> np.ndarray:
    return np.array([np.nan if x is None else float(x) for x in np.atleast_1d(v)], dtype=float)


def _groups_from_varcorr(rows: list[dict[str, Any]]) -> tuple[list[VarCorrGroup], float | None]:
    """Rebuild VarCorr(m) from the rows of as.data.frame(VarCorr(m))."""
    order: list[str] = []
    info: dict[str, dict[str, list]] = {}
    sigma = None
    for row in rows:
        grp = row["grp"]
        if grp == "Residual":
            sigma = float(row["sdcor"])
            continue
        if grp not in info:
            order.append(grp)
            info[grp] = {"terms": [], "var": [], "sd": [], "cor": []}
        if row["var2"] is None:
            info[grp]["terms"].append(row["var1"])
            info[grp]["var"].append(float(row["vcov"]))
            info[grp]["sd"].append(float(row["sdcor"]))
        else:
            info[grp]["cor"].append((row["var1"], row["var2"], float(row["sdcor"])))
    groups = []
    for grp in order:
        g = info[grp]
        s = len(g["terms"])
        corr = None
        if s > 1:
            corr = np.eye(s)
            for v1, v2, c in g["cor"]:
                i, j = g["terms"].index(v1), g["terms"].index(v2)
                corr[i, j] = corr[j, i] = c
        groups.append(VarCorrGroup(grp, g["terms"], np.array(g["var"]), np.array(g["sd"]), corr))
    return groups, sigma


def _call_lines(text: str) -> tuple[str, str | None]:
    """The deparsed formula (after "Formula: ") and the data name of a summary text."""
    lines = text.split("\n")
    formula = next(ln for ln in lines if ln.startswith("Formula: "))[len("Formula: "):]
    data = [ln[len("   Data: "):] for ln in lines if ln.startswith("   Data: ")]
    return formula, (data[0] if data else None)


def summary_data_from_fixture(m: dict[str, Any], coef: dict[str, Any] | None = None,
                              ddf_method: str | None = None) -> SummaryData:
    """SummaryData from an lme4_models.json entry (optionally with an lmerTest coef table)."""
    groups, sigma = _groups_from_varcorr(m["varcorr"])
    formula, data_name = _call_lines(m["summary_text"])
    reml = bool(m["REML"])
    objective = float(m["objective"])
    kw: dict[str, Any] = {}
    se = _floats(m["se"])
    if coef is not None:
        vals = np.array([[np.nan if v is None else v for v in row] for row in coef["values"]],
                        dtype=float).reshape(len(coef["rows"]), len(coef["columns"]))
        col = {c: vals[:, j] for j, c in enumerate(coef["columns"])}
        se = col["Std. Error"]
        kw = dict(ddf_method=ddf_method, df=col["df"], pvalues=col["Pr(>|t|)"])
    p = len(m["fixef_names"])
    return SummaryData(
        reml=reml, formula=formula, data_name=data_name,
        reml_criterion=objective, aic=float(m["aic"]), bic=float(m["bic"]),
        loglik=float(m["loglik"]), deviance=objective, df_resid=int(m["df_resid"]),
        scaled_residuals=_floats(m["scaled_residuals"]), groups=groups, sigma=sigma,
        nobs=int(m["nobs"]), ngroups=[(k, int(v)) for k, v in m["ngroups"].items()],
        coef_names=list(m["fixef_names"]), estimates=_floats(m["fixef"]) if p else np.zeros(0),
        std_errors=se if p else np.zeros(0),
        vcov_corr=np.array(m["vcov_corr"], dtype=float).reshape(p, p),
        singular=bool(m["singular"]), conv_messages=list(m["conv_messages"]),
        optimizer=m["optimizer"], **kw)


def assert_same_text(got: str, expected: str) -> None:
    """Line-by-line comparison (trailing blanks included)."""
    g, e = got.split("\n"), expected.split("\n")
    for i, (a, b) in enumerate(zip(g, e)):
        assert a == b, f"line {i + 1} differs:\n  R : {b!r}\n  py: {a!r}"
    assert len(g) == len(e), f"{len(g)} lines, R printed {len(e)}"
    assert got == expected


# ---------------------------------------------------------------------------
# lme4_models.json: summary() and print()
# ---------------------------------------------------------------------------


@needs_lme4
@pytest.mark.parametrize("model_id", sorted(LME4_MODELS))
def test_summary_matches_lme4(model_id):
    m = LME4_MODELS[model_id]
    assert_same_text(format_summary(summary_data_from_fixture(m)), m["summary_text"])


@needs_lme4
@pytest.mark.parametrize("model_id", sorted(LME4_MODELS))
def test_print_matches_lme4(model_id):
    m = LME4_MODELS[model_id]
    assert_same_text(format_print(summary_data_from_fixture(m)), m["print_text"])


@needs_lme4
@pytest.mark.parametrize("model_id", sorted(LME4_MODELS))
def test_summary_wrapper(model_id):
    m = LME4_MODELS[model_id]
    s = Summary(summary_data_from_fixture(m))
    assert str(s) == m["summary_text"]
    assert repr(s) == m["summary_text"]
    page = s._repr_html_()  # the notebook table (mixedmodels.output.display): escaped, with the same numbers
    assert page.startswith("<style>") and "<table>" in page
    assert html.escape(m["formula"].split(" ~ ")[0]) in page


# ---------------------------------------------------------------------------
# lmertest.json: lmerTest summaries and anova tables
# ---------------------------------------------------------------------------

LMERTEST_SUMMARIES = [(e["model_id"], ddf) for e in LMERTEST_MODELS
                      for ddf in ("Satterthwaite", "Kenward-Roger")]


@needs_lme4
@needs_lmertest
@pytest.mark.parametrize("model_id, ddf", LMERTEST_SUMMARIES)
def test_summary_matches_lmertest(model_id, ddf):
    entry = next(e for e in LMERTEST_MODELS if e["model_id"] == model_id)
    coef = entry["coef_satterthwaite"] if ddf == "Satterthwaite" else entry["coef_kr"]
    text = entry["summary_text_satterthwaite" if ddf == "Satterthwaite" else "summary_text_kr"]
    d = summary_data_from_fixture(LME4_MODELS[model_id], coef=coef, ddf_method=ddf)
    assert_same_text(format_summary(d), text)


def _table_frame(tab: dict[str, Any]) -> pd.DataFrame:
    vals = [[np.nan if v is None else float(v) for v in row] for row in tab["values"]]
    return pd.DataFrame(np.array(vals, dtype=float).reshape(len(tab["rows"]), len(tab["columns"])),
                        index=tab["rows"], columns=tab["columns"])


LMERTEST_ANOVAS = [(e["model_id"], k) for e in LMERTEST_MODELS for k in range(len(e["anova"]))]


@needs_lmertest
@pytest.mark.parametrize("model_id, k", LMERTEST_ANOVAS)
def test_anova_table_matches_lmertest(model_id, k):
    a = next(e for e in LMERTEST_MODELS if e["model_id"] == model_id)["anova"][k]
    assert_same_text(format_anova_table(_table_frame(a), a["heading"]), a["text"])


@needs_lmertest
@pytest.mark.parametrize("k", range(len(LMERTEST["lrt"]) if LMERTEST else 0))
def test_model_comparison_table_matches_lme4(k):
    lrt = LMERTEST["lrt"][k]
    lines = lrt["text"].split("\n")
    n_head = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("npar"))
    heading = "\n".join(lines[:n_head])
    assert_same_text(format_anova_table(_table_frame(lrt), heading), lrt["text"])


# ---------------------------------------------------------------------------
# Extra cases verified against R while developing (see module docstring)
# ---------------------------------------------------------------------------

R_VERIFIED_CASES = [
    {'case': 'sleep_ml:lmertest_summary_text',
     'kind': 'summary',
     'reml': False,
     'formula': 'Reaction ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1751.9393444889909,
     'aic': 1763.9393444889909,
     'bic': 1783.0970855943322,
     'loglik': -875.9696722444954,
     'deviance': 1751.9393444889909,
     'df_resid': 174,
     'residual_quantiles': [-3.9415524167215854,
                            -0.46558937562800795,
                            0.028944755265825697,
                            0.463614465396744,
                            5.179323429192949],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [23.77975958945799, 5.716798513928287],
                 [[1.0, 0.08132109342663447], [0.08132109342663447, 1.0]])],
     'sigma': 25.591907036486965,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251.40510484848565, 10.467285959595767],
     'std_errors': [6.63212274219029, 1.5022302138320407],
     'vcov_corr': [[1.0, -0.13756036404005892], [-0.13756036404005892, 1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': 'Satterthwaite',
     'df': [18.00113476638031, 18.000176928514673],
     'pvalues': [1.2637519375194991e-18, 1.652227905115934e-06],
     'expected': "Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's\n"
                 '  method [lmerModLmerTest]\n'
                 'Formula: Reaction ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 '     AIC      BIC   logLik deviance df.resid \n'
                 '  1763.9   1783.1   -876.0   1751.9      174 \n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-3.9416 -0.4656  0.0289  0.4636  5.1793 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance Std.Dev. Corr\n'
                 ' Subject  (Intercept) 565.48   23.780       \n'
                 '          Days         32.68    5.717   0.08\n'
                 ' Residual             654.95   25.592       \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '            Estimate Std. Error      df t value Pr(>|t|)    \n'
                 '(Intercept)  251.405      6.632  18.001  37.907  < 2e-16 ***\n'
                 'Days          10.467      1.502  18.000   6.968 1.65e-06 ***\n'
                 '---\n'
                 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr)\n'
                 'Days -0.138'},
    {'case': 'sleep_ml:print_text',
     'kind': 'print',
     'reml': False,
     'formula': 'Reaction ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1751.9393444889909,
     'aic': 1763.9393444889909,
     'bic': 1783.0970855943322,
     'loglik': -875.9696722444954,
     'deviance': 1751.9393444889909,
     'df_resid': 174,
     'residual_quantiles': [-3.9415524167215854,
                            -0.46558937562800795,
                            0.028944755265825697,
                            0.463614465396744,
                            5.179323429192949],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [23.77975958945799, 5.716798513928287],
                 [[1.0, 0.08132109342663447], [0.08132109342663447, 1.0]])],
     'sigma': 25.591907036486965,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251.40510484848565, 10.467285959595767],
     'std_errors': [6.63212274219029, 1.5022302138320407],
     'vcov_corr': [[1.0, -0.13756036404005892], [-0.13756036404005892, 1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
                 'Formula: Reaction ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 '      AIC       BIC    logLik  deviance  df.resid \n'
                 '1763.9393 1783.0971 -875.9697 1751.9393       174 \n'
                 'Random effects:\n'
                 ' Groups   Name        Std.Dev. Corr\n'
                 ' Subject  (Intercept) 23.780       \n'
                 '          Days         5.717   0.08\n'
                 ' Residual             25.592       \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 'Fixed Effects:\n'
                 '(Intercept)         Days  \n'
                 '     251.41        10.47  '},
    {'case': 'sleep_uncorr_ml:lmertest_summary_text',
     'kind': 'summary',
     'reml': False,
     'formula': 'Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))',
     'data_name': 'ss',
     'reml_criterion': 1752.0032551446006,
     'aic': 1762.0032551446006,
     'bic': 1777.9680393990518,
     'loglik': -876.0016275723003,
     'deviance': 1752.0032551446006,
     'df_resid': 175,
     'residual_quantiles': [-3.9535396377689396,
                            -0.4672708945839433,
                            0.023932976013897593,
                            0.4625130546016737,
                            5.188346812907131],
     'groups': [('Subject', ['(Intercept)'], [24.171587878078572], None),
                ('Subject.1', ['Days'], [5.799366179951614], None)],
     'sigma': 25.556122956704467,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251.4051048484829, 10.46728595959612],
     'std_errors': [6.7077374530084635, 1.5193053720117864],
     'vcov_corr': [[1.0, -0.1942025235549515], [-0.1942025235549515, 1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': 'Satterthwaite',
     'df': [19.348415440865647, 19.34920765794837],
     'pvalues': [1.5667555208295266e-19, 1.2951697806086418e-06],
     'expected': "Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's\n"
                 '  method [lmerModLmerTest]\n'
                 'Formula: Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))\n'
                 '   Data: ss\n'
                 '\n'
                 '     AIC      BIC   logLik deviance df.resid \n'
                 '    1762     1778     -876     1752      175 \n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-3.9535 -0.4673  0.0239  0.4625  5.1883 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups    Name        Variance Std.Dev.\n'
                 ' Subject   (Intercept) 584.27   24.172  \n'
                 ' Subject.1 Days         33.63    5.799  \n'
                 ' Residual              653.12   25.556  \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '            Estimate Std. Error      df t value Pr(>|t|)    \n'
                 '(Intercept)  251.405      6.708  19.348   37.48  < 2e-16 ***\n'
                 'Days          10.467      1.519  19.349    6.89  1.3e-06 ***\n'
                 '---\n'
                 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr)\n'
                 'Days -0.194'},
    {'case': 'sleep_1em12:summary_text',
     'kind': 'summary',
     'reml': True,
     'formula': 'ym12 ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': -8093.015245310611,
     'aic': -8081.015245310611,
     'bic': -8061.85750420527,
     'loglik': 4046.5076226553056,
     'deviance': -8093.015245310611,
     'df_resid': 174,
     'residual_quantiles': [-3.953567345595056,
                            -0.46339768304482987,
                            0.023117664783186206,
                            0.4634020782971761,
                            5.179260373637437],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [2.4740658005141963e-11, 5.922137659556024e-12],
                 [[1.0, 0.06555123820868557], [0.06555123820868557, 1.0]])],
     'sigma': 2.5591795720527312e-11,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [2.514051048484865e-10, 1.0467285959595689e-11],
     'std_errors': [6.8245966969181096e-12, 1.5457896440332375e-12],
     'vcov_corr': [[1.0, -0.13755186724390894], [-0.13755186724390894, 1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by REML ['lmerMod']\n"
                 'Formula: ym12 ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 'REML criterion at convergence: -8093\n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-3.9536 -0.4634  0.0231  0.4634  5.1793 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance  Std.Dev.  Corr\n'
                 ' Subject  (Intercept) 6.121e-22 2.474e-11     \n'
                 '          Days        3.507e-23 5.922e-12 0.07\n'
                 ' Residual             6.549e-22 2.559e-11     \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '             Estimate Std. Error t value\n'
                 '(Intercept) 2.514e-10  6.825e-12  36.838\n'
                 'Days        1.047e-11  1.546e-12   6.771\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr)\n'
                 'Days -0.138'},
    {'case': 'sleep_1em12:print_text',
     'kind': 'print',
     'reml': True,
     'formula': 'ym12 ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': -8093.015245310611,
     'aic': -8081.015245310611,
     'bic': -8061.85750420527,
     'loglik': 4046.5076226553056,
     'deviance': -8093.015245310611,
     'df_resid': 174,
     'residual_quantiles': [-3.953567345595056,
                            -0.46339768304482987,
                            0.023117664783186206,
                            0.4634020782971761,
                            5.179260373637437],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [2.4740658005141963e-11, 5.922137659556024e-12],
                 [[1.0, 0.06555123820868557], [0.06555123820868557, 1.0]])],
     'sigma': 2.5591795720527312e-11,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [2.514051048484865e-10, 1.0467285959595689e-11],
     'std_errors': [6.8245966969181096e-12, 1.5457896440332375e-12],
     'vcov_corr': [[1.0, -0.13755186724390894], [-0.13755186724390894, 1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by REML ['lmerMod']\n"
                 'Formula: ym12 ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 'REML criterion at convergence: -8093.015\n'
                 'Random effects:\n'
                 ' Groups   Name        Std.Dev.  Corr\n'
                 ' Subject  (Intercept) 2.474e-11     \n'
                 '          Days        5.922e-12 0.07\n'
                 ' Residual             2.559e-11     \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 'Fixed Effects:\n'
                 '(Intercept)         Days  \n'
                 '  2.514e-10    1.047e-11  '},
    {'case': 'sleep_1e6_ml:summary_text',
     'kind': 'summary',
     'reml': False,
     'formula': 'y6 ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 6725.523145356129,
     'aic': 6737.523145356129,
     'bic': 6756.68088646147,
     'loglik': -3362.7615726780646,
     'deviance': 6725.523145356129,
     'df_resid': 174,
     'residual_quantiles': [-3.94155241676964,
                            -0.4655893756577093,
                            0.028944755287236744,
                            0.4636144653685391,
                            5.179323429257746],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [23779759.59344395, 5716798.513796595],
                 [[1.0, 0.08132109353043517], [0.08132109353043517, 1.0]])],
     'sigma': 25591907.036136743,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251405104.8484833, 10467285.959596314],
     'std_errors': [6632122.7429583045, 1502230.2138001816],
     'vcov_corr': [[1.0, -0.1375603639339884], [-0.1375603639339884, 1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
                 'Formula: y6 ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 '     AIC      BIC   logLik deviance df.resid \n'
                 '  6737.5   6756.7  -3362.8   6725.5      174 \n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-3.9416 -0.4656  0.0289  0.4636  5.1793 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance  Std.Dev. Corr\n'
                 ' Subject  (Intercept) 5.655e+14 23779760     \n'
                 '          Days        3.268e+13  5716799 0.08\n'
                 ' Residual             6.549e+14 25591907     \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '             Estimate Std. Error t value\n'
                 '(Intercept) 251405105    6632123  37.907\n'
                 'Days         10467286    1502230   6.968\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr)\n'
                 'Days -0.138'},
    {'case': 'sleep_1e6_ml:print_text',
     'kind': 'print',
     'reml': False,
     'formula': 'y6 ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 6725.523145356129,
     'aic': 6737.523145356129,
     'bic': 6756.68088646147,
     'loglik': -3362.7615726780646,
     'deviance': 6725.523145356129,
     'df_resid': 174,
     'residual_quantiles': [-3.94155241676964,
                            -0.4655893756577093,
                            0.028944755287236744,
                            0.4636144653685391,
                            5.179323429257746],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [23779759.59344395, 5716798.513796595],
                 [[1.0, 0.08132109353043517], [0.08132109353043517, 1.0]])],
     'sigma': 25591907.036136743,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251405104.8484833, 10467285.959596314],
     'std_errors': [6632122.7429583045, 1502230.2138001816],
     'vcov_corr': [[1.0, -0.1375603639339884], [-0.1375603639339884, 1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
                 'Formula: y6 ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 '      AIC       BIC    logLik  deviance  df.resid \n'
                 ' 6737.523  6756.681 -3362.762  6725.523       174 \n'
                 'Random effects:\n'
                 ' Groups   Name        Std.Dev. Corr\n'
                 ' Subject  (Intercept) 23779760     \n'
                 '          Days         5716799 0.08\n'
                 ' Residual             25591907     \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 'Fixed Effects:\n'
                 '(Intercept)         Days  \n'
                 '  251405105     10467286  '},
    {'case': 'long_groups:kr_summary_text',
     'kind': 'summary',
     'reml': True,
     'formula': 'Reaction ~ Days + (1 | SubjectWithAVeryLongGroupingFactorName) + \n'
                '    (1 | AnotherQuiteLongGroupingFactorName) + (1 | g3)',
     'data_name': 'ss',
     'reml_criterion': 1786.337005149571,
     'aic': 1798.337005149571,
     'bic': 1817.4947462549123,
     'loglik': -893.1685025747855,
     'deviance': 1786.337005149571,
     'df_resid': 174,
     'residual_quantiles': [-3.1721630810861763,
                            -0.5786811234289932,
                            0.010557611772225629,
                            0.5258414023444261,
                            4.218917408948489],
     'groups': [('AnotherQuiteLongGroupingFactorName', ['(Intercept)'], [4.2187022923441475], None),
                ('SubjectWithAVeryLongGroupingFactorName',
                 ['(Intercept)'],
                 [37.11714651736476],
                 None),
                ('g3', ['(Intercept)'], [0.0], None)],
     'sigma': 30.71286480989362,
     'nobs': 180,
     'ngroups': [('AnotherQuiteLongGroupingFactorName', 30),
                 ('SubjectWithAVeryLongGroupingFactorName', 18),
                 ('g3', 9)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251.40510484848573, 10.46728595959589],
     'std_errors': [9.833141833209943, 0.8409008953723187],
     'vcov_corr': [[1.0, -0.38482654815324435], [-0.38482654815324435, 1.0]],
     'singular': True,
     'conv_messages': ["boundary (singular) fit: see help('isSingular')"],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': 'Kenward-Roger',
     'df': [22.738452693282834, 25.569948330087495],
     'pvalues': [2.9756532593867468e-18, 2.3591171627371796e-12],
     'expected': "Linear mixed model fit by REML. t-tests use Kenward-Roger's method [\n"
                 'lmerModLmerTest]\n'
                 'Formula: Reaction ~ Days + (1 | SubjectWithAVeryLongGroupingFactorName) +  \n'
                 '    (1 | AnotherQuiteLongGroupingFactorName) + (1 | g3)\n'
                 '   Data: ss\n'
                 '\n'
                 'REML criterion at convergence: 1786.3\n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-3.1722 -0.5787  0.0106  0.5258  4.2189 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups                                 Name        Variance Std.Dev.\n'
                 ' AnotherQuiteLongGroupingFactorName     (Intercept)   17.8    4.219  \n'
                 ' SubjectWithAVeryLongGroupingFactorName (Intercept) 1377.7   37.117  \n'
                 ' g3                                     (Intercept)    0.0    0.000  \n'
                 ' Residual                                            943.3   30.713  \n'
                 'Number of obs: 180, groups:  \n'
                 'AnotherQuiteLongGroupingFactorName, 30; SubjectWithAVeryLongGroupingFactorName, '
                 '18; g3, 9\n'
                 '\n'
                 'Fixed effects:\n'
                 '            Estimate Std. Error       df t value Pr(>|t|)    \n'
                 '(Intercept) 251.4051     9.8331  22.7385   25.57  < 2e-16 ***\n'
                 'Days         10.4673     0.8409  25.5699   12.45 2.36e-12 ***\n'
                 '---\n'
                 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr)\n'
                 'Days -0.385\n'
                 'optimizer (nloptwrap) convergence code: 0 (OK)\n'
                 "boundary (singular) fit: see help('isSingular')\n"},
    {'case': 'long_groups:print_text',
     'kind': 'print',
     'reml': True,
     'formula': 'Reaction ~ Days + (1 | SubjectWithAVeryLongGroupingFactorName) + \n'
                '    (1 | AnotherQuiteLongGroupingFactorName) + (1 | g3)',
     'data_name': 'ss',
     'reml_criterion': 1786.337005149571,
     'aic': 1798.337005149571,
     'bic': 1817.4947462549123,
     'loglik': -893.1685025747855,
     'deviance': 1786.337005149571,
     'df_resid': 174,
     'residual_quantiles': [-3.1721630810861763,
                            -0.5786811234289932,
                            0.010557611772225629,
                            0.5258414023444261,
                            4.218917408948489],
     'groups': [('AnotherQuiteLongGroupingFactorName', ['(Intercept)'], [4.2187022923441475], None),
                ('SubjectWithAVeryLongGroupingFactorName',
                 ['(Intercept)'],
                 [37.11714651736476],
                 None),
                ('g3', ['(Intercept)'], [0.0], None)],
     'sigma': 30.71286480989362,
     'nobs': 180,
     'ngroups': [('AnotherQuiteLongGroupingFactorName', 30),
                 ('SubjectWithAVeryLongGroupingFactorName', 18),
                 ('g3', 9)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251.40510484848573, 10.46728595959589],
     'std_errors': [9.833141833209949, 0.8409008953723187],
     'vcov_corr': [[1.0, -0.38482654815324435], [-0.38482654815324435, 1.0]],
     'singular': True,
     'conv_messages': ["boundary (singular) fit: see help('isSingular')"],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by REML ['lmerMod']\n"
                 'Formula: Reaction ~ Days + (1 | SubjectWithAVeryLongGroupingFactorName) +  \n'
                 '    (1 | AnotherQuiteLongGroupingFactorName) + (1 | g3)\n'
                 '   Data: ss\n'
                 'REML criterion at convergence: 1786.337\n'
                 'Random effects:\n'
                 ' Groups                                 Name        Std.Dev.\n'
                 ' AnotherQuiteLongGroupingFactorName     (Intercept)  4.219  \n'
                 ' SubjectWithAVeryLongGroupingFactorName (Intercept) 37.117  \n'
                 ' g3                                     (Intercept)  0.000  \n'
                 ' Residual                                           30.713  \n'
                 'Number of obs: 180, groups:  \n'
                 'AnotherQuiteLongGroupingFactorName, 30; SubjectWithAVeryLongGroupingFactorName, '
                 '18; g3, 9\n'
                 'Fixed Effects:\n'
                 '(Intercept)         Days  \n'
                 '     251.41        10.47  \n'
                 'optimizer (nloptwrap) convergence code: 0 (OK) ; 0 optimizer warnings; 1 lme4 '
                 'warnings '},
    {'case': 'bobyqa_fail:summary_text',
     'kind': 'summary',
     'reml': True,
     'formula': 'Reaction ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1743.8481790677592,
     'aic': 1755.8481790677592,
     'bic': 1775.0059201731005,
     'loglik': -871.9240895338796,
     'deviance': 1743.8481790677592,
     'df_resid': 174,
     'residual_quantiles': [-3.9890543561473004,
                            -0.4616272044202598,
                            0.012492517368151365,
                            0.472417454865573,
                            5.1940580047663065],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [23.403844697443382, 6.421716773754143],
                 [[1.0, 0.0901493400893898], [0.0901493400893898, 1.0]])],
     'sigma': 25.5238236840469,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251.40510484848414, 10.467285959595577],
     'std_errors': [6.552318041349525, 1.6521870816867206],
     'vcov_corr': [[1.0, -0.11282706140457109], [-0.11282706140457109, 1.0]],
     'singular': False,
     'conv_messages': ['Model failed to converge with max|grad| = 0.638934 (tol = 0.002, component '
                       '1)'],
     'optimizer': 'bobyqa',
     'conv_code': 1,
     'optimizer_message': 'bobyqa -- maximum number of function evaluations exceeded',
     'optimizer_warnings': ['maxfun < 10 * length(par)^2 is not recommended.'],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by REML ['lmerMod']\n"
                 'Formula: Reaction ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 'REML criterion at convergence: 1743.8\n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-3.9891 -0.4616  0.0125  0.4724  5.1941 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance Std.Dev. Corr\n'
                 ' Subject  (Intercept) 547.74   23.404       \n'
                 '          Days         41.24    6.422   0.09\n'
                 ' Residual             651.47   25.524       \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '            Estimate Std. Error t value\n'
                 '(Intercept)  251.405      6.552  38.369\n'
                 'Days          10.467      1.652   6.335\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr)\n'
                 'Days -0.113\n'
                 'optimizer (bobyqa) convergence code: 1 (bobyqa -- maximum number of function '
                 'evaluations exceeded)\n'
                 'Model failed to converge with max|grad| = 0.638934 (tol = 0.002, component 1)\n'
                 'maxfun < 10 * length(par)^2 is not recommended.\n'},
    {'case': 'bobyqa_fail:print_text',
     'kind': 'print',
     'reml': True,
     'formula': 'Reaction ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1743.8481790677592,
     'aic': 1755.8481790677592,
     'bic': 1775.0059201731005,
     'loglik': -871.9240895338796,
     'deviance': 1743.8481790677592,
     'df_resid': 174,
     'residual_quantiles': [-3.9890543561473004,
                            -0.4616272044202598,
                            0.012492517368151365,
                            0.472417454865573,
                            5.1940580047663065],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [23.403844697443382, 6.421716773754143],
                 [[1.0, 0.0901493400893898], [0.0901493400893898, 1.0]])],
     'sigma': 25.5238236840469,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251.40510484848414, 10.467285959595577],
     'std_errors': [6.552318041349525, 1.6521870816867206],
     'vcov_corr': [[1.0, -0.11282706140457109], [-0.11282706140457109, 1.0]],
     'singular': False,
     'conv_messages': ['Model failed to converge with max|grad| = 0.638934 (tol = 0.002, component '
                       '1)'],
     'optimizer': 'bobyqa',
     'conv_code': 1,
     'optimizer_message': 'bobyqa -- maximum number of function evaluations exceeded',
     'optimizer_warnings': ['maxfun < 10 * length(par)^2 is not recommended.'],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by REML ['lmerMod']\n"
                 'Formula: Reaction ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 'REML criterion at convergence: 1743.848\n'
                 'Random effects:\n'
                 ' Groups   Name        Std.Dev. Corr\n'
                 ' Subject  (Intercept) 23.404       \n'
                 '          Days         6.422   0.09\n'
                 ' Residual             25.524       \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 'Fixed Effects:\n'
                 '(Intercept)         Days  \n'
                 '     251.41        10.47  \n'
                 'optimizer (bobyqa) convergence code: 1 (bobyqa -- maximum number of function '
                 'evaluations exceeded) ; 1 optimizer warnings; 1 lme4 warnings '},
    {'case': 'nm_fail:summary_text',
     'kind': 'summary',
     'reml': False,
     'formula': 'Reaction ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1756.1768836112428,
     'aic': 1768.1768836112428,
     'bic': 1787.3346247165841,
     'loglik': -878.0884418056214,
     'deviance': 1756.1768836112428,
     'df_resid': 174,
     'residual_quantiles': [-3.9931220076890783,
                            -0.4637915719779614,
                            0.008436367968886683,
                            0.5235367721238148,
                            5.2424832646129405],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [30.416057605181727, 6.422229719594051],
                 [[1.0, 0.5596089997065384], [0.5596089997065384, 1.0]])],
     'sigma': 25.219602837221025,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251.40510484848298, 10.467285959595447],
     'std_errors': [7.975153954460367, 1.649149095846953],
     'vcov_corr': [[1.0, 0.3152022449341423], [0.3152022449341423, 1.0]],
     'singular': False,
     'conv_messages': ['Model failed to converge with max|grad| = 5.71589 (tol = 0.002, component '
                       '1)'],
     'optimizer': 'Nelder_Mead',
     'conv_code': 4,
     'optimizer_message': 'failure to converge in 30 evaluations',
     'optimizer_warnings': ['failure to converge in 30 evaluations'],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
                 'Formula: Reaction ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 '     AIC      BIC   logLik deviance df.resid \n'
                 '  1768.2   1787.3   -878.1   1756.2      174 \n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-3.9931 -0.4638  0.0084  0.5235  5.2425 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance Std.Dev. Corr\n'
                 ' Subject  (Intercept) 925.14   30.416       \n'
                 '          Days         41.25    6.422   0.56\n'
                 ' Residual             636.03   25.220       \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '            Estimate Std. Error t value\n'
                 '(Intercept)  251.405      7.975  31.524\n'
                 'Days          10.467      1.649   6.347\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr)\n'
                 'Days 0.315 \n'
                 'optimizer (Nelder_Mead) convergence code: 4 (failure to converge in 30 '
                 'evaluations)\n'
                 'Model failed to converge with max|grad| = 5.71589 (tol = 0.002, component 1)\n'
                 'failure to converge in 30 evaluations\n'},
    {'case': 'nm_fail:print_text',
     'kind': 'print',
     'reml': False,
     'formula': 'Reaction ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1756.1768836112428,
     'aic': 1768.1768836112428,
     'bic': 1787.3346247165841,
     'loglik': -878.0884418056214,
     'deviance': 1756.1768836112428,
     'df_resid': 174,
     'residual_quantiles': [-3.9931220076890783,
                            -0.4637915719779614,
                            0.008436367968886683,
                            0.5235367721238148,
                            5.2424832646129405],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [30.416057605181727, 6.422229719594051],
                 [[1.0, 0.5596089997065384], [0.5596089997065384, 1.0]])],
     'sigma': 25.219602837221025,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [251.40510484848298, 10.467285959595447],
     'std_errors': [7.975153954460367, 1.649149095846953],
     'vcov_corr': [[1.0, 0.3152022449341423], [0.3152022449341423, 1.0]],
     'singular': False,
     'conv_messages': ['Model failed to converge with max|grad| = 5.71589 (tol = 0.002, component '
                       '1)'],
     'optimizer': 'Nelder_Mead',
     'conv_code': 4,
     'optimizer_message': 'failure to converge in 30 evaluations',
     'optimizer_warnings': ['failure to converge in 30 evaluations'],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
                 'Formula: Reaction ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 '      AIC       BIC    logLik  deviance  df.resid \n'
                 '1768.1769 1787.3346 -878.0884 1756.1769       174 \n'
                 'Random effects:\n'
                 ' Groups   Name        Std.Dev. Corr\n'
                 ' Subject  (Intercept) 30.416       \n'
                 '          Days         6.422   0.56\n'
                 ' Residual             25.220       \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 'Fixed Effects:\n'
                 '(Intercept)         Days  \n'
                 '     251.41        10.47  \n'
                 'optimizer (Nelder_Mead) convergence code: 4 (failure to converge in 30 '
                 'evaluations) ; 1 optimizer warnings; 1 lme4 warnings '},
    {'case': 'sleep_xs:lmertest_summary_text',
     'kind': 'summary',
     'reml': True,
     'formula': 'Reaction ~ Days + x1 + x2 + x3 + (1 | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1772.852399613417,
     'aic': 1786.852399613417,
     'bic': 1809.2030975696484,
     'loglik': -886.4261998067085,
     'deviance': 1772.852399613417,
     'df_resid': 173,
     'residual_quantiles': [-3.4217459117755933,
                            -0.5506140467235733,
                            0.06879096314359733,
                            0.5131859370640468,
                            4.129411728691271],
     'groups': [('Subject', ['(Intercept)'], [37.20794466613264], None)],
     'sigma': 30.98713838967983,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days', 'x1', 'x2', 'x3'],
     'estimates': [251.62923403697465,
                   10.465110180149626,
                   -1.0537542074589752,
                   0.0036828580569147245,
                   -105.94050963711848],
     'std_errors': [9.770362612249155,
                    0.8043070589886087,
                    2.6276547882639147,
                    0.002231218392702901,
                    2223.099157237803],
     'vcov_corr': [[1.0,
                    -0.3707353526392118,
                    -0.010145139994690428,
                    0.009589606985865105,
                    0.03154624917628504],
                   [-0.3707353526392118,
                    1.0,
                    -0.012802589513472358,
                    -0.0047972540949599435,
                    -0.016953318509236547],
                   [-0.010145139994690428,
                    -0.012802589513472358,
                    1.0,
                    0.05542830903188918,
                    0.001681664218174403],
                   [0.009589606985865105,
                    -0.0047972540949599435,
                    0.05542830903188918,
                    1.0,
                    -0.061769477045278555],
                   [0.03154624917628504,
                    -0.016953318509236547,
                    0.001681664218174403,
                    -0.061769477045278555,
                    1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': ['Some predictor variables are on very different scales: consider rescaling'],
     'ddf_method': 'Satterthwaite',
     'df': [22.833224641725604,
            158.03301261939222,
            160.50135180202068,
            159.72581394294156,
            159.28069554244948],
     'pvalues': [2.2532702183906487e-18,
                 9.01051317715176e-27,
                 0.688935381784394,
                 0.10078440421987733,
                 0.9620513563865936],
     'expected': "Linear mixed model fit by REML. t-tests use Satterthwaite's method [\n"
                 'lmerModLmerTest]\n'
                 'Formula: Reaction ~ Days + x1 + x2 + x3 + (1 | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 'REML criterion at convergence: 1772.9\n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-3.4217 -0.5506  0.0688  0.5132  4.1294 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance Std.Dev.\n'
                 ' Subject  (Intercept) 1384.4   37.21   \n'
                 ' Residual              960.2   30.99   \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '              Estimate Std. Error         df t value Pr(>|t|)    \n'
                 '(Intercept)  2.516e+02  9.770e+00  2.283e+01  25.754   <2e-16 ***\n'
                 'Days         1.047e+01  8.043e-01  1.580e+02  13.011   <2e-16 ***\n'
                 'x1          -1.054e+00  2.628e+00  1.605e+02  -0.401    0.689    \n'
                 'x2           3.683e-03  2.231e-03  1.597e+02   1.651    0.101    \n'
                 'x3          -1.059e+02  2.223e+03  1.593e+02  -0.048    0.962    \n'
                 '---\n'
                 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr) Days   x1     x2    \n'
                 'Days -0.371                     \n'
                 'x1   -0.010 -0.013              \n'
                 'x2    0.010 -0.005  0.055       \n'
                 'x3    0.032 -0.017  0.002 -0.062\n'
                 'fit warnings:\n'
                 'Some predictor variables are on very different scales: consider rescaling'},
    {'case': 'sleep_xs:print_text',
     'kind': 'print',
     'reml': True,
     'formula': 'Reaction ~ Days + x1 + x2 + x3 + (1 | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1772.852399613417,
     'aic': 1786.852399613417,
     'bic': 1809.2030975696484,
     'loglik': -886.4261998067085,
     'deviance': 1772.852399613417,
     'df_resid': 173,
     'residual_quantiles': [-3.4217459117755933,
                            -0.5506140467235733,
                            0.06879096314359733,
                            0.5131859370640468,
                            4.129411728691271],
     'groups': [('Subject', ['(Intercept)'], [37.20794466613264], None)],
     'sigma': 30.98713838967983,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days', 'x1', 'x2', 'x3'],
     'estimates': [251.62923403697465,
                   10.465110180149626,
                   -1.0537542074589752,
                   0.0036828580569147245,
                   -105.94050963711848],
     'std_errors': [9.770362612249155,
                    0.8043070589886087,
                    2.6276547882639147,
                    0.002231218392702901,
                    2223.099157237803],
     'vcov_corr': [[1.0,
                    -0.3707353526392118,
                    -0.010145139994690428,
                    0.009589606985865105,
                    0.03154624917628504],
                   [-0.3707353526392118,
                    1.0,
                    -0.012802589513472358,
                    -0.0047972540949599435,
                    -0.016953318509236547],
                   [-0.010145139994690428,
                    -0.012802589513472358,
                    1.0,
                    0.05542830903188918,
                    0.001681664218174403],
                   [0.009589606985865105,
                    -0.0047972540949599435,
                    0.05542830903188918,
                    1.0,
                    -0.061769477045278555],
                   [0.03154624917628504,
                    -0.016953318509236547,
                    0.001681664218174403,
                    -0.061769477045278555,
                    1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': ['Some predictor variables are on very different scales: consider rescaling'],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by REML ['lmerMod']\n"
                 'Formula: Reaction ~ Days + x1 + x2 + x3 + (1 | Subject)\n'
                 '   Data: ss\n'
                 'REML criterion at convergence: 1772.852\n'
                 'Random effects:\n'
                 ' Groups   Name        Std.Dev.\n'
                 ' Subject  (Intercept) 37.21   \n'
                 ' Residual             30.99   \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 'Fixed Effects:\n'
                 '(Intercept)         Days           x1           x2           x3  \n'
                 '  2.516e+02    1.047e+01   -1.054e+00    3.683e-03   -1.059e+02  \n'
                 'fit warnings:\n'
                 'Some predictor variables are on very different scales: consider rescaling'},
    {'case': 'tiny_coef_ml:lmertest_summary_text',
     'kind': 'summary',
     'reml': False,
     'formula': 'Reaction ~ Days + x4 + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1751.935375267382,
     'aic': 1765.935375267382,
     'bic': 1788.2860732236134,
     'loglik': -875.967687633691,
     'deviance': 1751.935375267382,
     'df_resid': 173,
     'residual_quantiles': [-3.938807147725207,
                            -0.4653781422741463,
                            0.024784382688103596,
                            0.46534275582931006,
                            5.1760659541472345],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [23.780051252983526, 5.715189349746536],
                 [[1.0, 0.08200885910348135], [0.08200885910348135, 1.0]])],
     'sigma': 25.59203149474212,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days', 'x4'],
     'estimates': [251.39200375410826, 10.469222055742142, 1.2653102916661382e-06],
     'std_errors': [6.635444794490697, 1.5022053744793595, 2.006985131635365e-05],
     'vcov_corr': [[1.0, -0.13763154324723234, -0.03131732429725575],
                   [-0.13763154324723234, 1.0, 0.020443004477163934],
                   [-0.03131732429725575, 0.020443004477163934, 1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': ['Some predictor variables are on very different scales: consider rescaling'],
     'ddf_method': 'Satterthwaite',
     'df': [18.03526818218421, 18.005758499895666, 156.15513166929668],
     'pvalues': [1.2031450586069123e-18, 1.6449470138728699e-06, 0.9498110400551862],
     'expected': "Linear mixed model fit by maximum likelihood . t-tests use Satterthwaite's\n"
                 '  method [lmerModLmerTest]\n'
                 'Formula: Reaction ~ Days + x4 + (Days | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 '     AIC      BIC   logLik deviance df.resid \n'
                 '  1765.9   1788.3   -876.0   1751.9      173 \n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-3.9388 -0.4654  0.0248  0.4653  5.1761 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance Std.Dev. Corr\n'
                 ' Subject  (Intercept) 565.49   23.780       \n'
                 '          Days         32.66    5.715   0.08\n'
                 ' Residual             654.95   25.592       \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '             Estimate Std. Error        df t value Pr(>|t|)    \n'
                 '(Intercept) 2.514e+02  6.635e+00 1.804e+01  37.886  < 2e-16 ***\n'
                 'Days        1.047e+01  1.502e+00 1.801e+01   6.969 1.64e-06 ***\n'
                 'x4          1.265e-06  2.007e-05 1.562e+02   0.063     0.95    \n'
                 '---\n'
                 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr) Days  \n'
                 'Days -0.138       \n'
                 'x4   -0.031  0.020\n'
                 'fit warnings:\n'
                 'Some predictor variables are on very different scales: consider rescaling'},
    {'case': 'cake_ml:summary_text',
     'kind': 'summary',
     'reml': False,
     'formula': 'angle ~ recipe * temperature + (1 | recipe:replicate)',
     'data_name': 'cake2',
     'reml_criterion': 1679.0518652547667,
     'aic': 1719.0518652547667,
     'bic': 1791.020304434734,
     'loglik': -839.5259326273833,
     'deviance': 1679.0518652547667,
     'df_resid': 250,
     'residual_quantiles': [-2.739498523667432,
                            -0.6322568330637144,
                            -0.053892671913162424,
                            0.5898491029425629,
                            2.850388556003808],
     'groups': [('recipe:replicate', ['(Intercept)'], [6.248832000336933], None)],
     'sigma': 4.3710608354921865,
     'nobs': 270,
     'ngroups': [('recipe:replicate', 45)],
     'coef_names': ['(Intercept)',
                    'recipeB',
                    'recipeC',
                    'temperature.L',
                    'temperature.Q',
                    'temperature.C',
                    'temperature^4',
                    'temperature^5',
                    'recipeB:temperature.L',
                    'recipeC:temperature.L',
                    'recipeB:temperature.Q',
                    'recipeC:temperature.Q',
                    'recipeB:temperature.C',
                    'recipeC:temperature.C',
                    'recipeB:temperature^4',
                    'recipeC:temperature^4',
                    'recipeB:temperature^5',
                    'recipeC:temperature^5'],
     'estimates': [33.122222222223144,
                   -1.477777777778762,
                   -1.5222222222231385,
                   6.430329918219081,
                   -0.712845108104241,
                   -2.325510696599778,
                   -3.351284994015147,
                   -0.15118578920369297,
                   0.45418687154702736,
                   0.08765009801781472,
                   -0.232765749585061,
                   1.2147462556470219,
                   2.6932196528997414,
                   2.638560213449748,
                   3.0237157840738162,
                   3.1371051259765843,
                   -0.6635376303939753,
                   -1.6252472339396757],
     'std_errors': [1.6779404738421608,
                    2.3729661749623063,
                    2.3729661749623063,
                    1.1286030547413837,
                    1.1286030547413808,
                    1.1286030547413808,
                    1.1286030547413815,
                    1.1286030547413832,
                    1.5960857465509677,
                    1.5960857465509677,
                    1.5960857465509655,
                    1.5960857465509652,
                    1.5960857465509655,
                    1.5960857465509652,
                    1.5960857465509655,
                    1.5960857465509652,
                    1.5960857465509672,
                    1.5960857465509672],
     'vcov_corr': None,
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
                 'Formula: angle ~ recipe * temperature + (1 | recipe:replicate)\n'
                 '   Data: cake2\n'
                 '\n'
                 '     AIC      BIC   logLik deviance df.resid \n'
                 '  1719.1   1791.0   -839.5   1679.1      250 \n'
                 '\n'
                 'Scaled residuals: \n'
                 '     Min       1Q   Median       3Q      Max \n'
                 '-2.73950 -0.63226 -0.05389  0.58985  2.85039 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups           Name        Variance Std.Dev.\n'
                 ' recipe:replicate (Intercept) 39.05    6.249   \n'
                 ' Residual                     19.11    4.371   \n'
                 'Number of obs: 270, groups:  recipe:replicate, 45\n'
                 '\n'
                 'Fixed effects:\n'
                 '                      Estimate Std. Error t value\n'
                 '(Intercept)           33.12222    1.67794  19.740\n'
                 'recipeB               -1.47778    2.37297  -0.623\n'
                 'recipeC               -1.52222    2.37297  -0.641\n'
                 'temperature.L          6.43033    1.12860   5.698\n'
                 'temperature.Q         -0.71285    1.12860  -0.632\n'
                 'temperature.C         -2.32551    1.12860  -2.061\n'
                 'temperature^4         -3.35128    1.12860  -2.969\n'
                 'temperature^5         -0.15119    1.12860  -0.134\n'
                 'recipeB:temperature.L  0.45419    1.59609   0.285\n'
                 'recipeC:temperature.L  0.08765    1.59609   0.055\n'
                 'recipeB:temperature.Q -0.23277    1.59609  -0.146\n'
                 'recipeC:temperature.Q  1.21475    1.59609   0.761\n'
                 'recipeB:temperature.C  2.69322    1.59609   1.687\n'
                 'recipeC:temperature.C  2.63856    1.59609   1.653\n'
                 'recipeB:temperature^4  3.02372    1.59609   1.894\n'
                 'recipeC:temperature^4  3.13711    1.59609   1.965\n'
                 'recipeB:temperature^5 -0.66354    1.59609  -0.416\n'
                 'recipeC:temperature^5 -1.62525    1.59609  -1.018'},
    {'case': 'cake_ml:print_text',
     'kind': 'print',
     'reml': False,
     'formula': 'angle ~ recipe * temperature + (1 | recipe:replicate)',
     'data_name': 'cake2',
     'reml_criterion': 1679.0518652547667,
     'aic': 1719.0518652547667,
     'bic': 1791.020304434734,
     'loglik': -839.5259326273833,
     'deviance': 1679.0518652547667,
     'df_resid': 250,
     'residual_quantiles': [-2.739498523667432,
                            -0.6322568330637144,
                            -0.053892671913162424,
                            0.5898491029425629,
                            2.850388556003808],
     'groups': [('recipe:replicate', ['(Intercept)'], [6.248832000336933], None)],
     'sigma': 4.3710608354921865,
     'nobs': 270,
     'ngroups': [('recipe:replicate', 45)],
     'coef_names': ['(Intercept)',
                    'recipeB',
                    'recipeC',
                    'temperature.L',
                    'temperature.Q',
                    'temperature.C',
                    'temperature^4',
                    'temperature^5',
                    'recipeB:temperature.L',
                    'recipeC:temperature.L',
                    'recipeB:temperature.Q',
                    'recipeC:temperature.Q',
                    'recipeB:temperature.C',
                    'recipeC:temperature.C',
                    'recipeB:temperature^4',
                    'recipeC:temperature^4',
                    'recipeB:temperature^5',
                    'recipeC:temperature^5'],
     'estimates': [33.122222222223144,
                   -1.477777777778762,
                   -1.5222222222231385,
                   6.430329918219081,
                   -0.712845108104241,
                   -2.325510696599778,
                   -3.351284994015147,
                   -0.15118578920369297,
                   0.45418687154702736,
                   0.08765009801781472,
                   -0.232765749585061,
                   1.2147462556470219,
                   2.6932196528997414,
                   2.638560213449748,
                   3.0237157840738162,
                   3.1371051259765843,
                   -0.6635376303939753,
                   -1.6252472339396757],
     'std_errors': [1.6779404738421608,
                    2.3729661749623063,
                    2.3729661749623063,
                    1.1286030547413837,
                    1.1286030547413808,
                    1.1286030547413808,
                    1.1286030547413815,
                    1.1286030547413832,
                    1.5960857465509677,
                    1.5960857465509677,
                    1.5960857465509655,
                    1.5960857465509652,
                    1.5960857465509655,
                    1.5960857465509652,
                    1.5960857465509655,
                    1.5960857465509652,
                    1.5960857465509672,
                    1.5960857465509672],
     'vcov_corr': None,
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
                 'Formula: angle ~ recipe * temperature + (1 | recipe:replicate)\n'
                 '   Data: cake2\n'
                 '      AIC       BIC    logLik  deviance  df.resid \n'
                 '1719.0519 1791.0203 -839.5259 1679.0519       250 \n'
                 'Random effects:\n'
                 ' Groups           Name        Std.Dev.\n'
                 ' recipe:replicate (Intercept) 6.249   \n'
                 ' Residual                     4.371   \n'
                 'Number of obs: 270, groups:  recipe:replicate, 45\n'
                 'Fixed Effects:\n'
                 '          (Intercept)                recipeB                recipeC  \n'
                 '             33.12222               -1.47778               -1.52222  \n'
                 '        temperature.L          temperature.Q          temperature.C  \n'
                 '              6.43033               -0.71285               -2.32551  \n'
                 '        temperature^4          temperature^5  recipeB:temperature.L  \n'
                 '             -3.35128               -0.15119                0.45419  \n'
                 'recipeC:temperature.L  recipeB:temperature.Q  recipeC:temperature.Q  \n'
                 '              0.08765               -0.23277                1.21475  \n'
                 'recipeB:temperature.C  recipeC:temperature.C  recipeB:temperature^4  \n'
                 '              2.69322                2.63856                3.02372  \n'
                 'recipeC:temperature^4  recipeB:temperature^5  recipeC:temperature^5  \n'
                 '              3.13711               -0.66354               -1.62525  '},
    {'case': 'cake:lmertest_summary_text',
     'kind': 'summary',
     'reml': True,
     'formula': 'angle ~ recipe * temperature + (1 | recipe:replicate)',
     'data_name': 'cake2',
     'reml_criterion': 1638.6214598800175,
     'aic': 1678.6214598800175,
     'bic': 1750.5898990599849,
     'loglik': -819.3107299400087,
     'deviance': 1638.6214598800175,
     'df_resid': 250,
     'residual_quantiles': [-2.646607013464432,
                            -0.610818131216366,
                            -0.05206526750593632,
                            0.5698483716078352,
                            2.753736962534074],
     'groups': [('recipe:replicate', ['(Intercept)'], [6.468155624258622], None)],
     'sigma': 4.524477810553309,
     'nobs': 270,
     'ngroups': [('recipe:replicate', 45)],
     'coef_names': ['(Intercept)',
                    'recipeB',
                    'recipeC',
                    'temperature.L',
                    'temperature.Q',
                    'temperature.C',
                    'temperature^4',
                    'temperature^5',
                    'recipeB:temperature.L',
                    'recipeC:temperature.L',
                    'recipeB:temperature.Q',
                    'recipeC:temperature.Q',
                    'recipeB:temperature.C',
                    'recipeC:temperature.C',
                    'recipeB:temperature^4',
                    'recipeC:temperature^4',
                    'recipeB:temperature^5',
                    'recipeC:temperature^5'],
     'estimates': [33.12222222222393,
                   -1.477777777779405,
                   -1.5222222222238815,
                   6.430329918219078,
                   -0.7128451081042411,
                   -2.325510696599778,
                   -3.351284994015147,
                   -0.1511857892036931,
                   0.4541868715470302,
                   0.08765009801781756,
                   -0.232765749585061,
                   1.2147462556470219,
                   2.6932196528997414,
                   2.638560213449748,
                   3.0237157840738162,
                   3.1371051259765843,
                   -0.6635376303939751,
                   -1.6252472339396757],
     'std_errors': [1.7368333974217856,
                    2.456253346216402,
                    2.456253346216402,
                    1.1682151473705336,
                    1.1682151473705307,
                    1.1682151473705307,
                    1.1682151473705311,
                    1.1682151473705331,
                    1.6521057051810906,
                    1.6521057051810906,
                    1.6521057051810883,
                    1.6521057051810883,
                    1.6521057051810883,
                    1.6521057051810883,
                    1.6521057051810883,
                    1.6521057051810883,
                    1.6521057051810903,
                    1.6521057051810903],
     'vcov_corr': None,
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': 'Satterthwaite',
     'df': [41.99999981017909,
            41.999999812237064,
            41.99999981165443,
            210.00000007080692,
            210.0000000708047,
            210.0000000708047,
            210.00000007277973,
            210.00000007081655,
            210.00000007080584,
            210.00000007080584,
            210.0000000727794,
            210.0000000708047,
            210.0000000727794,
            210.0000000708047,
            210.0000000727794,
            210.0000000708047,
            210.00000007278032,
            210.00000007278032],
     'pvalues': [2.6708478494990167e-22,
                 0.5506484361709985,
                 0.5387811526296007,
                 1.0738575448145993e-07,
                 0.5423889605067602,
                 0.047815672086184785,
                 0.004542150277059975,
                 0.8971523178516853,
                 0.7836526442221727,
                 0.9577396628777763,
                 0.888091619397257,
                 0.46299451153524007,
                 0.10456369399150159,
                 0.11174946266905894,
                 0.06863464612713262,
                 0.058954778796490116,
                 0.6883636960873192,
                 0.3263739728824503],
     'expected': "Linear mixed model fit by REML. t-tests use Satterthwaite's method [\n"
                 'lmerModLmerTest]\n'
                 'Formula: angle ~ recipe * temperature + (1 | recipe:replicate)\n'
                 '   Data: cake2\n'
                 '\n'
                 'REML criterion at convergence: 1638.6\n'
                 '\n'
                 'Scaled residuals: \n'
                 '     Min       1Q   Median       3Q      Max \n'
                 '-2.64661 -0.61082 -0.05207  0.56985  2.75374 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups           Name        Variance Std.Dev.\n'
                 ' recipe:replicate (Intercept) 41.84    6.468   \n'
                 ' Residual                     20.47    4.524   \n'
                 'Number of obs: 270, groups:  recipe:replicate, 45\n'
                 '\n'
                 'Fixed effects:\n'
                 '                       Estimate Std. Error        df t value Pr(>|t|)    \n'
                 '(Intercept)            33.12222    1.73683  42.00000  19.070  < 2e-16 ***\n'
                 'recipeB                -1.47778    2.45625  42.00000  -0.602  0.55065    \n'
                 'recipeC                -1.52222    2.45625  42.00000  -0.620  0.53878    \n'
                 'temperature.L           6.43033    1.16822 210.00000   5.504 1.07e-07 ***\n'
                 'temperature.Q          -0.71285    1.16822 210.00000  -0.610  0.54239    \n'
                 'temperature.C          -2.32551    1.16822 210.00000  -1.991  0.04782 *  \n'
                 'temperature^4          -3.35128    1.16822 210.00000  -2.869  0.00454 ** \n'
                 'temperature^5          -0.15119    1.16822 210.00000  -0.129  0.89715    \n'
                 'recipeB:temperature.L   0.45419    1.65211 210.00000   0.275  0.78365    \n'
                 'recipeC:temperature.L   0.08765    1.65211 210.00000   0.053  0.95774    \n'
                 'recipeB:temperature.Q  -0.23277    1.65211 210.00000  -0.141  0.88809    \n'
                 'recipeC:temperature.Q   1.21475    1.65211 210.00000   0.735  0.46299    \n'
                 'recipeB:temperature.C   2.69322    1.65211 210.00000   1.630  0.10456    \n'
                 'recipeC:temperature.C   2.63856    1.65211 210.00000   1.597  0.11175    \n'
                 'recipeB:temperature^4   3.02372    1.65211 210.00000   1.830  0.06863 .  \n'
                 'recipeC:temperature^4   3.13711    1.65211 210.00000   1.899  0.05895 .  \n'
                 'recipeB:temperature^5  -0.66354    1.65211 210.00000  -0.402  0.68836    \n'
                 'recipeC:temperature^5  -1.62525    1.65211 210.00000  -0.984  0.32637    \n'
                 '---\n'
                 'Signif. codes:  0 ‘***’ 0.001 ‘**’ 0.01 ‘*’ 0.05 ‘.’ 0.1 ‘ ’ 1'},
    {'case': 'sleep_nofix:summary_text',
     'kind': 'summary',
     'reml': False,
     'formula': 'Reaction ~ 0 + (1 | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1985.6796909429975,
     'aic': 1989.6796909429975,
     'bic': 1996.065604644778,
     'loglik': -992.8398454714987,
     'deviance': 1985.6796909429975,
     'df_resid': 178,
     'residual_quantiles': [-2.5986558354406566,
                            -0.5409284756433567,
                            -0.07050934154816131,
                            0.5350969776655281,
                            3.333214894003532],
     'groups': [('Subject', ['(Intercept)'], [300.5052374009229], None)],
     'sigma': 44.259069037294395,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': [],
     'estimates': [],
     'std_errors': [],
     'vcov_corr': [],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
                 'Formula: Reaction ~ 0 + (1 | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 '     AIC      BIC   logLik deviance df.resid \n'
                 '  1989.7   1996.1   -992.8   1985.7      178 \n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-2.5987 -0.5409 -0.0705  0.5351  3.3332 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance Std.Dev.\n'
                 ' Subject  (Intercept) 90303    300.51  \n'
                 ' Residual              1959     44.26  \n'
                 'Number of obs: 180, groups:  Subject, 18'},
    {'case': 'sleep_nofix:print_text',
     'kind': 'print',
     'reml': False,
     'formula': 'Reaction ~ 0 + (1 | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1985.6796909429975,
     'aic': 1989.6796909429975,
     'bic': 1996.065604644778,
     'loglik': -992.8398454714987,
     'deviance': 1985.6796909429975,
     'df_resid': 178,
     'residual_quantiles': [-2.5986558354406566,
                            -0.5409284756433567,
                            -0.07050934154816131,
                            0.5350969776655281,
                            3.333214894003532],
     'groups': [('Subject', ['(Intercept)'], [300.5052374009229], None)],
     'sigma': 44.259069037294395,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': [],
     'estimates': [],
     'std_errors': [],
     'vcov_corr': [],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by maximum likelihood  ['lmerMod']\n"
                 'Formula: Reaction ~ 0 + (1 | Subject)\n'
                 '   Data: ss\n'
                 '      AIC       BIC    logLik  deviance  df.resid \n'
                 '1989.6797 1996.0656 -992.8398 1985.6797       178 \n'
                 'Random effects:\n'
                 ' Groups   Name        Std.Dev.\n'
                 ' Subject  (Intercept) 300.51  \n'
                 ' Residual              44.26  \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 'No fixed effect coefficients'},
    {'case': 'sleep_neg:summary_text',
     'kind': 'summary',
     'reml': True,
     'formula': 'neg ~ Days + (Days | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1743.628271959952,
     'aic': 1755.628271959952,
     'bic': 1774.7860130652932,
     'loglik': -871.814135979976,
     'deviance': 1743.628271959952,
     'df_resid': 174,
     'residual_quantiles': [-5.17926037341145,
                            -0.4634020781502671,
                            -0.023117664779438673,
                            0.4633976831270658,
                            3.9535673453670297],
     'groups': [('Subject',
                 ['(Intercept)', 'Days'],
                 [24.740657994984062, 5.922137658898081],
                 [[1.0, 0.06555123823812821], [0.06555123823812821, 1.0]])],
     'sigma': 25.59179572167535,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days'],
     'estimates': [-251.40510484848497, -10.467285959595987],
     'std_errors': [6.824596694954906, 1.545789643905981],
     'vcov_corr': [[1.0, -0.13755186731534869], [-0.13755186731534869, 1.0]],
     'singular': False,
     'conv_messages': [],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by REML ['lmerMod']\n"
                 'Formula: neg ~ Days + (Days | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 'REML criterion at convergence: 1743.6\n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-5.1793 -0.4634 -0.0231  0.4634  3.9536 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance Std.Dev. Corr\n'
                 ' Subject  (Intercept) 612.10   24.741       \n'
                 '          Days         35.07    5.922   0.07\n'
                 ' Residual             654.94   25.592       \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '            Estimate Std. Error t value\n'
                 '(Intercept) -251.405      6.825 -36.838\n'
                 'Days         -10.467      1.546  -6.771\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '     (Intr)\n'
                 'Days -0.138'},
    {'case': 'sleep_quad:summary_text',
     'kind': 'summary',
     'reml': True,
     'formula': 'Reaction ~ Days + I(Days^2) + (Days + I(Days^2) | Subject)',
     'data_name': 'ss',
     'reml_criterion': 1729.276982437143,
     'aic': 1749.276982437143,
     'bic': 1781.2065509460451,
     'loglik': -864.6384912185715,
     'deviance': 1729.276982437143,
     'df_resid': 170,
     'residual_quantiles': [-4.491432312921816,
                            -0.4424150448729128,
                            0.045365221475373516,
                            0.4576692654770798,
                            4.913601801522959],
     'groups': [('Subject',
                 ['(Intercept)', 'Days', 'I(Days^2)'],
                 [27.89213439513831, 14.592637094791137, 1.4566671417891266],
                 [[1.0, -0.4052127634713207, 0.4505341441060381],
                  [-0.4052127634713207, 1.0, -0.9098689292702437],
                  [0.4505341441060381, -0.9098689292702437, 1.0]])],
     'sigma': 22.79899216947788,
     'nobs': 180,
     'ngroups': [('Subject', 18)],
     'coef_names': ['(Intercept)', 'Days', 'I(Days^2)'],
     'estimates': [255.44937277778263, 7.43408501262047, 0.33702232744160665],
     'std_errors': [7.814866133359414, 4.075582596306675, 0.41542064214274543],
     'vcov_corr': [[1.0, -0.5225925027405195, 0.5154081273261761],
                   [-0.5225925027405195, 1.0, -0.9253628585427568],
                   [0.5154081273261761, -0.9253628585427568, 1.0]],
     'singular': False,
     'conv_messages': ['Model failed to converge with max|grad| = 0.229147 (tol = 0.002, component '
                       '1)'],
     'optimizer': 'nloptwrap',
     'conv_code': 0,
     'optimizer_message': None,
     'optimizer_warnings': [],
     'fit_warnings': [],
     'ddf_method': None,
     'df': None,
     'pvalues': None,
     'expected': "Linear mixed model fit by REML ['lmerMod']\n"
                 'Formula: Reaction ~ Days + I(Days^2) + (Days + I(Days^2) | Subject)\n'
                 '   Data: ss\n'
                 '\n'
                 'REML criterion at convergence: 1729.3\n'
                 '\n'
                 'Scaled residuals: \n'
                 '    Min      1Q  Median      3Q     Max \n'
                 '-4.4914 -0.4424  0.0454  0.4577  4.9136 \n'
                 '\n'
                 'Random effects:\n'
                 ' Groups   Name        Variance Std.Dev. Corr       \n'
                 ' Subject  (Intercept) 777.971  27.892              \n'
                 '          Days        212.945  14.593   -0.41      \n'
                 '          I(Days^2)     2.122   1.457    0.45 -0.91\n'
                 ' Residual             519.794  22.799              \n'
                 'Number of obs: 180, groups:  Subject, 18\n'
                 '\n'
                 'Fixed effects:\n'
                 '            Estimate Std. Error t value\n'
                 '(Intercept) 255.4494     7.8149  32.688\n'
                 'Days          7.4341     4.0756   1.824\n'
                 'I(Days^2)     0.3370     0.4154   0.811\n'
                 '\n'
                 'Correlation of Fixed Effects:\n'
                 '          (Intr) Days  \n'
                 'Days      -0.523       \n'
                 'I(Days^2)  0.515 -0.925\n'
                 'optimizer (nloptwrap) convergence code: 0 (OK)\n'
                 'Model failed to converge with max|grad| = 0.229147 (tol = 0.002, component 1)\n'},
]


def _verified_data(c: dict[str, Any]) -> SummaryData:
    groups = [VarCorrGroup(name, terms, np.square(sd), np.array(sd),
                           None if corr is None else np.array(corr))
              for name, terms, sd, corr in c["groups"]]
    p = len(c["coef_names"])
    vc = np.eye(p) if c["vcov_corr"] is None else np.array(c["vcov_corr"]).reshape(p, p)
    return SummaryData(
        reml=c["reml"], formula=c["formula"], data_name=c["data_name"],
        reml_criterion=c["reml_criterion"], aic=c["aic"], bic=c["bic"], loglik=c["loglik"],
        deviance=c["deviance"], df_resid=c["df_resid"],
        scaled_residuals=np.array(c["residual_quantiles"]), groups=groups, sigma=c["sigma"],
        nobs=c["nobs"], ngroups=c["ngroups"], coef_names=c["coef_names"],
        estimates=np.array(c["estimates"]), std_errors=np.array(c["std_errors"]), vcov_corr=vc,
        singular=c["singular"], conv_messages=c["conv_messages"], optimizer=c["optimizer"],
        conv_code=c["conv_code"], ddf_method=c["ddf_method"],
        df=None if c["df"] is None else np.array(c["df"]),
        pvalues=None if c["pvalues"] is None else np.array(c["pvalues"]),
        fit_warnings=c["fit_warnings"], optimizer_message=c["optimizer_message"],
        optimizer_warnings=c["optimizer_warnings"])


@pytest.mark.parametrize("case", R_VERIFIED_CASES, ids=[c["case"] for c in R_VERIFIED_CASES])
def test_r_verified_cases(case):
    d = _verified_data(case)
    got = format_print(d) if case["kind"] == "print" else format_summary(d)
    assert_same_text(got, case["expected"])


# ---------------------------------------------------------------------------
# Behaviour beyond capture.output()
# ---------------------------------------------------------------------------


def _small_data(**kw: Any) -> SummaryData:
    base = next(c for c in R_VERIFIED_CASES if c["case"] == "sleep_1em12:summary_text")
    d = _verified_data(base)
    for k, v in kw.items():
        setattr(d, k, v)
    return d


def test_singular_message_added_when_flag_set():
    d = _small_data(singular=True, conv_messages=[])
    text = format_summary(d)
    assert text.endswith(f"optimizer (nloptwrap) convergence code: 0 (OK)\n{SINGULAR_MESSAGE}\n")
    short = format_print(d)
    assert short.endswith("optimizer (nloptwrap) convergence code: 0 (OK) ; "
                          "0 optimizer warnings; 1 lme4 warnings ")
    # not duplicated when lme4's message is already there
    d2 = _small_data(singular=True, conv_messages=[SINGULAR_MESSAGE])
    assert format_summary(d2) == text


def test_fit_method_note_line():
    d = _small_data(fit_method_note="method of moments (ANOVA estimators)")
    lines = format_summary(d).split("\n")
    assert lines[0] == "Linear mixed model fit by the method of moments ['lmerMod']"
    assert lines[1] == "Fit method: method of moments (ANOVA estimators)"
    assert lines[2].startswith("Formula: ")
    assert any(line.startswith("REML criterion at the estimates: ") for line in lines)


def test_correlation_hidden_above_cor_max_with_optional_message():
    case = next(c for c in R_VERIFIED_CASES if c["case"] == "cake_ml:summary_text")
    d = _verified_data(case)
    p = len(d.coef_names)
    assert p > COR_MAX
    assert "Correlation of Fixed Effects" not in format_summary(d)
    with_msg = format_summary(d, show_messages=True, object_name="summary(m)")
    assert (f"\nCorrelation matrix not shown by default, as p = {p} > {COR_MAX}.\n"
            "Use print(summary(m), correlation=TRUE)  or\n"
            "    vcov(summary(m))        if you need it\n") in with_msg
    assert "Correlation of Fixed Effects:" in format_summary(d, correlation=True)


def test_correlation_can_be_suppressed():
    d = _small_data()
    assert "Correlation of Fixed Effects" in format_summary(d)
    assert "Correlation of Fixed Effects" not in format_summary(d, correlation=False)


def test_format_varcorr_block():
    # fm1 <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
    # lme4:::.prt.VC(VarCorr(fm1), digits = 4, comp = c("Variance", "Std.Dev."))
    # (the block of print(summary(fm1)))
    g = VarCorrGroup("Subject", ["(Intercept)", "Days"],
                     np.array([612.1001580247688, 35.07171445093885]),
                     np.array([24.740657994984062, 5.922137658898081]),
                     np.array([[1.0, 0.06555123823812821], [0.06555123823812821, 1.0]]))
    sigma = 25.59179572167535
    expected = [" Groups   Name        Variance Std.Dev. Corr",
                " Subject  (Intercept) 612.10   24.741       ",
                "          Days         35.07    5.922   0.07",
                " Residual             654.94   25.592       "]
    assert format_varcorr([g], sigma) == "\n".join(["Random effects:"] + expected)
    assert format_varcorr([g], sigma, header=False) == "\n".join(expected)
    # print(VarCorr(fm1), comp = c("Variance", "Std.Dev."))  (digits = 5 there)
    assert format_varcorr([g], sigma, digits=5, header=False).split("\n") == [
        " Groups   Name        Variance Std.Dev. Corr ",
        " Subject  (Intercept) 612.100  24.7407       ",
        "          Days         35.072   5.9221  0.066",
        " Residual             654.940  25.5918       "]
    # print(VarCorr(fm1))
    assert format_varcorr([g], sigma, comp=("Std.Dev.",), digits=5, header=False).split("\n") == [
        " Groups   Name        Std.Dev. Corr ",
        " Subject  (Intercept) 24.7407       ",
        "          Days         5.9221  0.066",
        " Residual             25.5918       "]
    with pytest.raises(ValueError):
        format_varcorr([g], sigma, comp=("Nope",))


def test_long_formula_given_on_one_line_wraps_like_deparse():
    # Formula.deparse() joins deparse() chunks with a blank; the summary must still
    # wrap as R's cat(deparse(formula), fill = TRUE) does.
    for name in ("long_groups:kr_summary_text", "long_groups:print_text"):
        case = next(c for c in R_VERIFIED_CASES if c["case"] == name)
        assert "\n" in case["formula"]
        d = _verified_data(case)
        d.formula = d.formula.replace("\n", " ")
        got = format_print(d) if case["kind"] == "print" else format_summary(d)
        assert_same_text(got, case["expected"])


def test_anova_table_accepts_missing_values_and_integer_columns():
    # lme4: anova(fm0, fm1) for sleepstudy, numbers as R stores them
    frame = pd.DataFrame(
        {"npar": pd.array([4, 6], dtype="Int64"),
         "AIC": [1802.078643005226, 1763.9393444632096],
         "BIC": [1814.8504704087868, 1783.097085568551],
         "logLik": [-897.039321502613, -875.9696722316048],
         "deviance": [1794.078643005226, 1751.9393444632096],
         "Chisq": [None, 42.13929854201638],
         "Df": pd.array([pd.NA, 2], dtype="Int64"),
         "Pr(>Chisq)": [np.nan, 7.072412547230027e-10]},
        index=["m0", "m1"])
    heading = ("Data: sleepstudy\nModels:\nm0: Reaction ~ Days + (1 | Subject)\n"
               "m1: Reaction ~ Days + (Days | Subject)")
    assert format_anova_table(frame, heading).split("\n") == [
        "Data: sleepstudy",
        "Models:",
        "m0: Reaction ~ Days + (1 | Subject)",
        "m1: Reaction ~ Days + (Days | Subject)",
        "   npar    AIC    BIC  logLik deviance  Chisq Df Pr(>Chisq)    ",
        "m0    4 1802.1 1814.8 -897.04   1794.1                         ",
        "m1    6 1763.9 1783.1 -875.97   1751.9 42.139  2  7.072e-10 ***",
        "---",
        "Signif. codes:  0 \u2018***\u2019 0.001 \u2018**\u2019 0.01 \u2018*\u2019 0.05 "
        "\u2018.\u2019 0.1 \u2018 \u2019 1"]


def test_lmertest_requires_df_and_pvalues():
    d = _small_data(ddf_method="Satterthwaite", df=None, pvalues=None)
    with pytest.raises(ValueError):
        format_summary(d)

"""Tests for :mod:`mixedmodels.output.summary`: the printed text must equal R's.

Three sources of truth, all produced with R 4.2.2 / lme4 1.1-31 / lmerTest
3.1-3 (default options, UTF-8 locale):

* ``tests/fixtures/lme4_models.json`` (``tests/r/make_fixtures.R``): for every
  model, SummaryData is built from the R numbers and ``format_summary`` /
  ``format_print`` must reproduce ``summary_text`` / ``print_text`` line by line;
* ``tests/fixtures/lmertest.json``: the lmerTest summaries (Satterthwaite and
  Kenward-Roger), the ``anova(m, type = 1:3, ddf = ...)`` tables and the lme4
  model-comparison tables (``anova(m0, m1)``);
* ``tests/fixtures/summary_r_verified.json`` (``R_VERIFIED_CASES``): extra cases checked against R while writing the
  module (huge/tiny responses, convergence failures, fit warnings, ML lmerTest
  titles, > 12 fixed effects, no fixed effects, long formulas and group
  names).  Each holds the R numbers and the text R printed; the residual
  vector is replaced by its five quantiles (a 5-vector has exactly those
  type-7 quantiles, so the printed residual summary is unchanged).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, load_fixture

import mixedmodels as mm
from mixedmodels.output.summary import (
    COR_MAX,
    SINGULAR_MESSAGE,
    Summary,
    SummaryData,
    VarCorrGroup,
    format_anova_table,
    format_print,
    format_summary,
    fixef_se_and_correlation,
    varcorr_groups,
    format_varcorr,
)


def _load(name: str) -> dict[str, Any] | None:
    return load_fixture(name) if (FIXTURES / name).exists() else None


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

def _verified_cases() -> list[dict[str, Any]]:
    """tests/fixtures/summary_r_verified.json, each expected text joined back from its lines."""
    cases = load_fixture("summary_r_verified.json")["cases"]
    for c in cases:
        c["expected"] = "\n".join(c["expected"])
    return cases


R_VERIFIED_CASES = _verified_cases()


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


def test_varcorr_groups_name_repeated_factors_as_lme4_and_agree_with_the_fit():
    """The shared random-effects rows (used by the GLMM summary) equal the linear fit's own, term by term:
    lme4's names (Subject, Subject.1), variances, standard deviations, correlations."""
    for formula in ("Reaction ~ Days + (Days || Subject)", "Reaction ~ Days + (Days | Subject)"):
        m = mm.lmer(formula, mm.datasets.load("sleepstudy"))
        mine = varcorr_groups(m.design.terms, m._term_covariances())
        theirs = m._summary_data().groups
        assert [g.name for g in mine] == [g.name for g in theirs]
        for a, b in zip(mine, theirs):
            assert a.terms == b.terms
            np.testing.assert_array_equal(a.variances, b.variances)
            np.testing.assert_array_equal(a.stddevs, b.stddevs)
            assert (a.corr is None) == (b.corr is None)
            if a.corr is not None:
                np.testing.assert_array_equal(a.corr, b.corr)
    assert [g.name for g in varcorr_groups(mm.lmer("Reaction ~ Days + (Days || Subject)",
                                                   mm.datasets.load("sleepstudy")).design.terms,
                                           [np.eye(1), np.eye(1)])] == ["Subject", "Subject.1"]
    sd, cor = fixef_se_and_correlation(m.vcov.to_numpy())
    np.testing.assert_allclose(sd, m.se.to_numpy())
    np.testing.assert_allclose(np.diag(cor), 1.0)

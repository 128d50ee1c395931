"""ANOVA with expected mean squares, F tests and the method of moments (mixedmodels.classical.aov).

Reference numbers come from tests/fixtures/aov.json (R 4.2.2: ``aov(... + Error(...))`` strata, lme4 1.1.31
fits and R-computed moment estimates; see tests/r/make_fixtures.R). Unbalanced designs, which R's
``aov(Error())`` does not analyse this way, are checked against EMS coefficients derived here by brute
force: explicit projection matrices ``Q_j`` built with ``pinv`` from dummy matrices and ``E[SS_j] = tr(Q_j V)``.
"""

import itertools
import re
import runpy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mixedmodels as mm
from conftest import load_fixture
from mixedmodels.classical.aov import NegativeVarianceWarning, aov, compare_methods, moments_fit
from mixedmodels.errors import MixedModelsError, ModelError, SingularFitWarning

AOV = {d["id"]: d for d in load_fixture("aov.json")["designs"]}
OATS = "yield ~ factor(nitro) * Variety + (1 | Block) + (1 | Block:Variety)"


def splitsplit_data() -> pd.DataFrame:
    ref = AOV["splitsplit_sim"]
    df = pd.DataFrame(ref["data"])
    for col, levels in ref["levels"].items():
        df[col] = pd.Categorical(df[col], categories=levels)
    return df


# id -> (lme4 formula, data, {R stratum: our source for its "Residuals" row}, {R's s2_ name: component})
CASES = {
    "oats_splitplot": (OATS, lambda: mm.datasets.load("Oats"),
                       {"Error: Block": "Block", "Error: Block:Variety": "Block:Variety",
                        "Error: Within": "Residual"},
                       {"s2": "Residual", "s2_BlockVariety": "Block:Variety", "s2_Block": "Block"}),
    "penicillin_rcbd": ("diameter ~ sample + (1 | plate)", lambda: mm.datasets.load("Penicillin"),
                        {"Error: plate": "plate", "Error: Within": "Residual"},
                        {"s2": "Residual", "s2_plate": "plate"}),
    "dyestuff_oneway": ("Yield ~ 1 + (1 | Batch)", lambda: mm.datasets.load("Dyestuff"),
                        {"Error: Batch": "Batch", "Error: Within": "Residual"},
                        {"s2": "Residual", "s2_Batch": "Batch"}),
    "dyestuff2_oneway": ("Yield ~ 1 + (1 | Batch)", lambda: mm.datasets.load("Dyestuff2"),
                         {"Error: Batch": "Batch", "Error: Within": "Residual"},
                         {"s2": "Residual", "s2_Batch": "Batch"}),
    "pastes_nested": ("strength ~ 1 + (1 | batch/cask)", lambda: mm.datasets.load("Pastes"),
                      {"Error: batch": "batch", "Error: batch:cask": "cask:batch", "Error: Within": "Residual"},
                      {"s2": "Residual", "s2_cask": "cask:batch", "s2_batch": "batch"}),
    "splitsplit_sim": ("y ~ A * B * C + (1 | block) + (1 | block:A) + (1 | block:A:B)", splitsplit_data,
                       {"Error: block": "block", "Error: block:A": "block:A", "Error: block:A:B": "block:A:B",
                        "Error: Within": "Residual"},
                       {"s2": "Residual", "s2_blockAB": "block:A:B", "s2_blockA": "block:A",
                        "s2_block": "block"}),
}
BALANCED_UNTRUNCATED = [k for k in CASES if k != "dyestuff2_oneway"]
_RESULTS: dict = {}


def result(case_id):
    if case_id not in _RESULTS:
        formula, data, *_ = CASES[case_id]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NegativeVarianceWarning)
            _RESULTS[case_id] = aov(formula, data())
    return _RESULTS[case_id]


def r_rows(case_id):
    """R's strata flattened: (our source name, stratum, Df, SS, MS, F, p), in R's printed order."""
    ref = AOV[case_id]
    strata = CASES[case_id][2]
    out = []
    for stratum, tab in ref["strata"].items():
        for row, vals in zip(tab["rows"], tab["values"]):
            name = strata[stratum] if row.strip() == "Residuals" else row.strip()
            out.append((name, stratum, *vals))
    return out


# ---------------------------------------------------------------------------------------- against R
@pytest.mark.parametrize("case_id", list(CASES))
def test_table_matches_r_aov_strata(case_id):
    res = result(case_id)
    rows = r_rows(case_id)
    # the lecture's layout is R's strata flattened: each stratum's fixed terms, then its error term
    assert list(res.table.index) == [r[0] for r in rows]
    assert list(res.table.columns) == ["Df", "Sum Sq", "Mean Sq", "EMS", "F value", "Pr(>F)", "Error term"]
    strata = CASES[case_id][2]
    for name, stratum, df, ss, ms, f, p in rows:
        row = res.table.loc[name]
        assert row["Df"] == df
        np.testing.assert_allclose(row["Sum Sq"], ss, rtol=1e-10)
        np.testing.assert_allclose(row["Mean Sq"], ms, rtol=1e-10)
        if f is not None:  # a fixed term, tested against its stratum's residual
            np.testing.assert_allclose(row["F value"], f, rtol=1e-9)
            np.testing.assert_allclose(row["Pr(>F)"], p, rtol=1e-7)
            assert row["Error term"] == strata[stratum]


def parse_r_ems(case_id):
    """{our source: {component: coefficient}} from strings like 'E[MS Error: Block] = s2 + 4*s2_BV'."""
    names = CASES[case_id][3]
    strata = CASES[case_id][2]
    out = {}
    for text in AOV[case_id]["ems"]:
        m = re.fullmatch(r"E\[MS (Error: [^\]]+?)(?: Residuals)?\] = (.*)", text)
        coefs = {}
        for term in m.group(2).split(" + "):
            c, _, s2 = term.rpartition("*")
            coefs[names[s2]] = float(c) if c else 1.0
        out[strata[m.group(1)]] = coefs
    return out


@pytest.mark.parametrize("case_id", list(CASES))
def test_ems_coefficients_match_r(case_id):
    res = result(case_id)
    for source, coefs in parse_r_ems(case_id).items():
        expected = pd.Series(0.0, index=res.ems.columns)
        for comp, c in coefs.items():
            expected[comp] = c
        np.testing.assert_allclose(res.ems.loc[source].to_numpy(float), expected.to_numpy(), atol=1e-10)
        assert not res.fixed_part[source]


@pytest.mark.parametrize("case_id", list(CASES))
def test_moment_estimates_match_r(case_id):
    res = result(case_id)
    ref = AOV[case_id]["moment_estimates"]
    assert set(res.varcomp_raw.index) == set(ref)
    for comp, v in ref.items():
        np.testing.assert_allclose(res.varcomp_raw[comp], v, rtol=1e-10)
        np.testing.assert_allclose(res.varcomp[comp], max(v, 0.0), rtol=1e-10)
    assert res.moment_method == "ANOVA table"


@pytest.mark.parametrize("case_id", BALANCED_UNTRUNCATED)
def test_reml_equals_moments_on_balanced_data(case_id):
    formula, data, *_ = CASES[case_id]
    res = result(case_id)
    model = mm.LinearMixedModel(formula, data())
    fit = model.fit("REML")
    vc = fit.varcorr.set_index("grp")["vcov"]
    # 1e-5 relative; a component tiny next to the others (the split-split plot's block, 0.067 of a total
    # of 13, with a nearly flat criterion in its direction) is held to 1e-5 of the total variance
    total = float(res.varcomp_raw.sum())
    for comp in res.varcomp_raw.index:
        np.testing.assert_allclose(vc[comp], res.varcomp_raw[comp], rtol=1e-5, atol=1e-5 * total)
    # the moment estimates are the REML optimum itself: the criterion there is no higher than lmer's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mom = moments_fit(model)
    assert mom.objective <= fit.objective + 1e-9
    # and lme4 itself (converged to its default tolerance only) agrees to 1e-4 (of the total, as above)
    for row in AOV[case_id]["lmer"]["varcorr"]:
        np.testing.assert_allclose(row["vcov"], res.varcomp_raw[row["grp"]], rtol=1e-4, atol=1e-4 * total)


def test_negative_estimate_is_reported_and_truncated():
    with pytest.warns(NegativeVarianceWarning, match="Batch"):
        res = aov(CASES["dyestuff2_oneway"][0], mm.datasets.load("Dyestuff2"))
    assert res.varcomp_raw["Batch"] < 0
    assert res.varcomp["Batch"] == 0.0
    assert res.truncated == ["Batch"]
    assert "set to 0" in str(res)


# ------------------------------------------------------------------------------------- the lecture
def test_split_plot_ems_text_and_tests():
    res = result("oats_splitplot")
    ems = res.table["EMS"]
    assert ems["Block"] == "σ²ε + 4σ²(Block:Variety) + 12σ²(Block)"
    assert ems["Block:Variety"] == "σ²ε + 4σ²(Block:Variety)"
    assert ems["Variety"] == "σ²ε + 4σ²(Block:Variety) + Q(Variety)"
    assert ems["factor(nitro)"] == "σ²ε + Q(factor(nitro))"
    assert ems["factor(nitro):Variety"] == "σ²ε + Q(factor(nitro):Variety)"
    assert ems["Residual"] == "σ²ε"
    et = res.table["Error term"]
    assert et["Block"] == "Block:Variety" and et["Variety"] == "Block:Variety"
    assert et["Block:Variety"] == "Residual" and et["factor(nitro)"] == "Residual"
    assert et["Residual"] == ""
    ms = res.table["Mean Sq"]
    np.testing.assert_allclose(res.table.loc["Block", "F value"], ms["Block"] / ms["Block:Variety"])
    np.testing.assert_allclose(res.den_df["Block"], 10)
    # the lecture's moment formula: s2_w = (MS_w - MS_e) / c
    np.testing.assert_allclose(res.varcomp["Block:Variety"], (ms["Block:Variety"] - ms["Residual"]) / 4)


def test_str_is_the_lecture_layout():
    text = str(result("oats_splitplot"))
    lines = text.splitlines()
    header = next(ln for ln in lines if ln.startswith("Source"))
    for col in ("Df", "Sum Sq", "Mean Sq", "EMS", "F value", "Pr(>F)", "Error term"):
        assert col in header
    body = lines[lines.index(header) + 1: lines.index(header) + 7]
    assert [ln.split()[0] for ln in body] == list(result("oats_splitplot").table.index)
    ems_col = header.index("EMS")
    assert all(ln[ems_col:].startswith("σ²ε") for ln in body)  # aligned column
    assert "Variance components by the method of moments" in text


def test_cli_demo_prints_the_table(capsys):
    from mixedmodels.cli import main

    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "σ²ε + 4σ²(Block:Variety) + 12σ²(Block)" in out
    assert "REML criterion at convergence" in out


def test_crossed_random_factors():
    res = aov("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))
    assert list(res.table.index) == ["plate", "sample", "Residual"]
    np.testing.assert_allclose(res.ems.loc["plate"], [6, 0, 1], atol=1e-10)
    np.testing.assert_allclose(res.ems.loc["sample"], [0, 24, 1], atol=1e-10)
    fit = mm.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", mm.datasets.load("Penicillin"))
    vc = fit.varcorr.set_index("grp")["vcov"]
    for comp in ("plate", "sample", "Residual"):
        np.testing.assert_allclose(vc[comp], res.varcomp_raw[comp], rtol=1e-5)


def three_way_crossed(seed=3):
    """A fixed, B and C random, all interactions random: the classic case with no exact F test for A."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame([dict(A=f"a{a}", B=f"b{b}", C=f"c{c}")
                      for a, b, c, _ in itertools.product(range(3), range(4), range(5), range(2))])
    eff = {f: dict(zip(sorted(d[f].unique()), rng.normal(scale=s, size=d[f].nunique())))
           for f, s in (("B", 1.5), ("C", 1.0))}
    ab = {k: v for k, v in zip(itertools.product(range(3), range(4)), rng.normal(scale=0.8, size=12))}
    ac = {k: v for k, v in zip(itertools.product(range(3), range(5)), rng.normal(scale=0.8, size=15))}
    ia, ib, ic = (d[c].str[1:].astype(int) for c in "ABC")
    d["y"] = (ia * 1.0 + d.B.map(eff["B"]) + d.C.map(eff["C"]) + [ab[k] for k in zip(ia, ib)]
              + [ac[k] for k in zip(ia, ic)] + rng.normal(size=len(d)))
    return d


def test_satterthwaite_synthesized_error_term():
    d = three_way_crossed()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeVarianceWarning)
        res = aov("y ~ A + (1|B) + (1|C) + (1|A:B) + (1|A:C) + (1|B:C) + (1|A:B:C)", d)
    # E[MS_A] = s2 + 2 s2_ABC + 8 s2_AC + 10 s2_AB + Q(A): no single mean square matches
    np.testing.assert_allclose(res.ems.loc["A", ["A:B", "A:C", "A:B:C", "Residual"]], [10, 8, 2, 1], atol=1e-10)
    et = res.error_terms["A"]
    assert et.synthesized
    assert set(et.weights) == {"A:B", "A:C", "A:B:C"}
    np.testing.assert_allclose([et.weights["A:B"], et.weights["A:C"], et.weights["A:B:C"]], [1, 1, -1],
                               atol=1e-10)
    t = res.table
    ms, df = t["Mean Sq"], t["Df"]
    den = ms["A:B"] + ms["A:C"] - ms["A:B:C"]
    nu = den ** 2 / (ms["A:B"] ** 2 / df["A:B"] + ms["A:C"] ** 2 / df["A:C"] + ms["A:B:C"] ** 2 / df["A:B:C"])
    assert den > 0
    np.testing.assert_allclose(et.ms, den)
    np.testing.assert_allclose(et.df, nu)
    np.testing.assert_allclose(t.loc["A", "F value"], ms["A"] / den)
    np.testing.assert_allclose(t.loc["A", "Pr(>F)"], stats.f.sf(ms["A"] / den, 2, nu))
    assert t.loc["A", "Error term"].startswith("synth: 1.0*A:B + 1.0*A:C - 1.0*A:B:C")
    assert t.loc["A:B", "Error term"] == "A:B:C"


# ---------------------------------------------------------------------------------- unbalanced data
def proj(*mats):
    A = np.column_stack(mats)
    return A @ np.linalg.pinv(A)


def dummies(s) -> np.ndarray:
    return pd.get_dummies(pd.Series(s).astype(str)).to_numpy(float)


def brute_force(y, spans, comps, base=None):
    """Sequential SS, df and EMS coefficients tr(Q_j Z_k Z_k') / df_j from explicit projections.

    ``spans``: list of (name, cumulative matrix list) in fitting order, after ``base`` (the intercept
    unless given); ``comps``: {name: Z_k}.
    """
    n = len(y)
    prev = proj(np.ones((n, 1)) if base is None else base)
    out = {}
    for name, mats in spans:
        cur = proj(*mats)
        Q = cur - prev
        df = int(round(np.trace(Q)))
        out[name] = (df, y @ Q @ y, {k: np.trace(Q @ Z @ Z.T) / df for k, Z in comps.items()}, Q)
        prev = cur
    Q = np.eye(n) - prev
    df = int(round(np.trace(Q)))
    out["Residual"] = (df, y @ Q @ y, {k: np.trace(Q @ Z @ Z.T) / df for k, Z in comps.items()}, Q)
    return out


def unbalanced_oats():
    oats = mm.datasets.load("Oats")
    return oats.drop(index=[0, 5, 17, 40, 41, 66]).reset_index(drop=True)


def test_unbalanced_split_plot_against_brute_force():
    d = unbalanced_oats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NegativeVarianceWarning)
        res = aov(OATS, d)
    n = len(d)
    one = np.ones((n, 1))
    B, V, N = dummies(d.Block), dummies(d.Variety), dummies(d.nitro)
    BV = dummies(d.Block.astype(str) + ":" + d.Variety.astype(str))
    NV = dummies(d.nitro.astype(str) + ":" + d.Variety.astype(str))
    y = d["yield"].to_numpy(float)
    spans = [("Block", [one, B]), ("Variety", [one, B, V]), ("Block:Variety", [one, B, V, BV]),
             ("factor(nitro)", [one, B, V, BV, N]), ("factor(nitro):Variety", [one, B, V, BV, N, NV])]
    bf = brute_force(y, spans, {"Block": B, "Block:Variety": BV})
    assert list(res.table.index) == [s[0] for s in spans] + ["Residual"]
    for name, (df, ss, coefs, Q) in bf.items():
        assert res.table.loc[name, "Df"] == df
        np.testing.assert_allclose(res.table.loc[name, "Sum Sq"], ss, rtol=1e-9)
        for comp, c in coefs.items():
            np.testing.assert_allclose(res.ems.loc[name, comp], c, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(res.ems.loc[name, "Residual"], 1.0)
    # unbalanced: the coefficients are no longer the balanced 4 and 12
    assert not np.isclose(res.ems.loc["Block:Variety", "Block:Variety"], 4.0)
    # fixed effects leak into the random sources' EMS: E[SS_j] has b'X'Q_j X b with Q_j X != 0
    X = np.column_stack([one, N, V, NV])
    for name in ("Block", "Block:Variety"):
        assert np.linalg.norm(bf[name][3] @ X) > 1e-6
        assert res.fixed_part[name], name
        assert "Q(" in res.table.loc[name, "EMS"]
    assert not res.fixed_part["Residual"]
    # ... so the moment equations are Henderson's method III: all fixed terms first
    assert res.moment_method == "Henderson's method III"
    spans3 = [("Block", [X, B]), ("Block:Variety", [X, B, BV])]
    h = brute_force(y, spans3, {"Block": B, "Block:Variety": BV}, base=X)
    comps = ["Block", "Block:Variety", "Residual"]
    K = np.array([[h[s][2][c] for c in comps[:2]] + [1.0] for s in comps])
    m = np.array([h[s][1] / h[s][0] for s in comps])
    np.testing.assert_allclose(res.moment_ems.to_numpy(), K, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(res.varcomp_raw[comps].to_numpy(), np.linalg.solve(K, m), rtol=1e-8)
    # the fixed nitro test keeps its exact error term
    assert res.table.loc["factor(nitro):Variety", "Error term"] == "Residual"


def test_unbalanced_one_way_matches_the_textbook_n0():
    rng = np.random.default_rng(7)
    sizes = [2, 3, 5, 4, 7, 3]
    g = np.repeat([f"g{i}" for i in range(len(sizes))], sizes)
    d = pd.DataFrame({"g": g, "y": rng.normal(size=len(g)) + np.repeat(rng.normal(size=len(sizes)) * 2, sizes)})
    res = aov("y ~ 1 + (1 | g)", d)
    N, a = sum(sizes), len(sizes)
    n0 = (N - sum(s * s for s in sizes) / N) / (a - 1)
    np.testing.assert_allclose(res.ems.loc["g", "g"], n0, rtol=1e-12)
    ms = res.table["Mean Sq"]
    np.testing.assert_allclose(res.varcomp_raw["g"], (ms["g"] - ms["Residual"]) / n0, rtol=1e-10)


def test_unbalanced_nested_synthesized_error_term():
    d = mm.datasets.load("Pastes").drop(index=[1, 7, 8, 30]).reset_index(drop=True)
    res = aov("strength ~ 1 + (1 | batch/cask)", d)
    n = len(d)
    one = np.ones((n, 1))
    Bt, Ck = dummies(d.batch), dummies(d.batch.astype(str) + ":" + d.cask.astype(str))
    y = d.strength.to_numpy(float)
    bf = brute_force(y, [("batch", [one, Bt]), ("cask:batch", [one, Bt, Ck])], {"batch": Bt, "cask:batch": Ck})
    for name, (df, ss, coefs, _) in bf.items():
        assert res.table.loc[name, "Df"] == df
        np.testing.assert_allclose(res.table.loc[name, "Sum Sq"], ss, rtol=1e-9)
        for comp, c in coefs.items():
            np.testing.assert_allclose(res.ems.loc[name, comp], c, rtol=1e-9, atol=1e-9)
    # E[MS_batch] - own = s2 + c1 s2_cask; E[MS_cask] = s2 + c3 s2_cask: a mix of cask and Residual
    c1, c3 = bf["batch"][2]["cask:batch"], bf["cask:batch"][2]["cask:batch"]
    assert abs(c1 - c3) > 1e-3
    et = res.error_terms["batch"]
    assert et.synthesized
    np.testing.assert_allclose([et.weights["cask:batch"], et.weights["Residual"]], [c1 / c3, 1 - c1 / c3],
                               rtol=1e-9)
    ms, df = res.table["Mean Sq"], res.table["Df"]
    terms = np.array([c1 / c3 * ms["cask:batch"], (1 - c1 / c3) * ms["Residual"]])
    np.testing.assert_allclose(et.df, terms.sum() ** 2 / np.sum(terms ** 2 / [df["cask:batch"], df["Residual"]]))
    assert res.table.loc["batch", "Error term"].startswith("synth: ")
    # nothing fixed leaks in (intercept only), so the moment equations are the table's
    assert res.moment_method == "ANOVA table"
    K = np.array([[bf[s][2]["batch"], bf[s][2]["cask:batch"], 1.0] for s in ("batch", "cask:batch", "Residual")])
    m = np.array([bf[s][1] / bf[s][0] for s in ("batch", "cask:batch", "Residual")])
    np.testing.assert_allclose(res.varcomp_raw[["batch", "cask:batch", "Residual"]].to_numpy(),
                               np.linalg.solve(K, m), rtol=1e-9)


# --------------------------------------------------------------------------------------- moments fit
def test_moments_fit_gives_blues_and_blups_at_the_moment_estimates():
    oats = mm.datasets.load("Oats")
    model = mm.LinearMixedModel(OATS, oats)
    fit = moments_fit(model)
    vc = result("oats_splitplot").varcomp
    assert fit.method == "moments"
    assert fit.optinfo.feval == 0 and fit.optinfo.converged
    assert fit.optinfo.optimizer == "method of moments"
    np.testing.assert_allclose(fit.sigma ** 2, vc["Residual"], rtol=1e-12)
    groups = [t.group for t in model.design.terms]
    np.testing.assert_allclose(fit.theta, [np.sqrt(vc[g] / vc["Residual"]) for g in groups], rtol=1e-12)
    np.testing.assert_allclose(fit.optinfo.objective, model.criterion(True)(fit.theta), rtol=1e-12)
    # BLUEs (GLS) and BLUPs from explicit V = sum s2_k Z_k Z_k' + s2 I
    y = oats["yield"].to_numpy(float)
    n = len(y)
    Zb, Zw = dummies(oats.Block), dummies(oats.Block.astype(str) + ":" + oats.Variety.astype(str))
    V = vc["Block"] * Zb @ Zb.T + vc["Block:Variety"] * Zw @ Zw.T + vc["Residual"] * np.eye(n)
    X = model.design.X
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    np.testing.assert_allclose(fit.fixef.to_numpy(), beta, rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(fit.vcov.to_numpy(), np.linalg.inv(X.T @ Vi @ X), rtol=1e-8, atol=1e-10)
    r = Vi @ (y - X @ beta)
    blup_b = vc["Block"] * Zb.T @ r  # dummies() orders levels as sorted strings
    levels = sorted(oats.Block.astype(str).unique())
    ours = fit.ranef["Block"]["(Intercept)"]
    np.testing.assert_allclose([ours[lv] for lv in levels], blup_b, rtol=1e-7, atol=1e-8)
    # on balanced data they equal the REML ones
    reml = model.fit("REML")
    np.testing.assert_allclose(fit.fixef, reml.fixef, rtol=1e-9)
    np.testing.assert_allclose(fit.ranef["Block:Variety"].to_numpy(), reml.ranef["Block:Variety"].to_numpy(),
                               rtol=1e-4, atol=1e-4)


def test_moments_fit_truncation_is_a_singular_fit():
    model = mm.LinearMixedModel("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    with pytest.warns(NegativeVarianceWarning), pytest.warns(SingularFitWarning):
        fit = moments_fit(model)
    assert fit.theta[0] == 0.0 and fit.is_singular
    np.testing.assert_allclose(fit.sigma ** 2, AOV["dyestuff2_oneway"]["moment_estimates"]["Residual"])


def test_vector_random_terms_are_refused():
    model = mm.LinearMixedModel("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
    with pytest.raises(MixedModelsError, match="intercept-only"):
        moments_fit(model)
    with pytest.raises(MixedModelsError, match="intercept-only"):
        aov("Reaction ~ Days + (Days || Subject)", mm.datasets.load("sleepstudy"))


def test_unidentifiable_designs_raise_clear_errors():
    pen = mm.datasets.load("Penicillin")
    with pytest.raises(ModelError, match="residual degrees of freedom"):
        aov("diameter ~ sample + (1 | plate) + (1 | plate:sample)", pen)
    oats = mm.datasets.load("Oats")
    oats["plot"] = oats.Block.astype(str) + "/" + oats.Variety.astype(str)
    with pytest.raises(ModelError, match="plot"):
        aov("yield ~ Variety + (1 | Block:Variety) + (1 | plot)", oats)


def test_fixed_only_anova():
    res = aov("yield ~ factor(nitro) + Variety", mm.datasets.load("Oats"))
    assert list(res.table.index) == ["factor(nitro)", "Variety", "Residual"]
    assert res.table.loc["Variety", "Error term"] == "Residual"
    assert list(res.varcomp.index) == ["Residual"]


# ------------------------------------------------------------------------------------ compare methods
def test_compare_methods_shows_the_lectures_points():
    cmp = compare_methods(OATS, mm.datasets.load("Oats"))
    assert list(cmp.varcomp.columns) == ["ML", "REML", "Moments"]
    assert list(cmp.fixef.columns) == ["ML", "REML", "Moments"]
    v = cmp.varcomp
    assert (v["ML"] < v["REML"]).all()  # ML biased down on small data
    np.testing.assert_allclose(v["REML"], v["Moments"], rtol=1e-5)  # balanced, nothing truncated
    np.testing.assert_allclose(cmp.fixef["REML"], cmp.fixef["Moments"], rtol=1e-9)
    text = str(cmp)
    assert "ML" in text and "REML" in text and "Moments" in text and "agree" in text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp2 = compare_methods("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    assert cmp2.varcomp.loc["Batch", "Moments"] == 0.0
    assert cmp2.varcomp_raw_moments["Batch"] < 0
    assert "set to 0" in str(cmp2)


def test_example_script_runs(capsys):
    path = Path(__file__).resolve().parents[2] / "examples" / "split_plot.py"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "BLUPs" in out and "BLUEs" in out and "Error term" in out


def test_term_confounded_with_blocks_is_tested_in_the_block_stratum():
    """npk: N:P:K is confounded with blocks. R's aov(yield ~ N*P*K + Error(block)) tests it in the block
    stratum against the block residual (tests/fixtures/aov_npk.json, tests/r/make_aov_npk_fixture.R)."""
    ref = load_fixture("aov_npk.json")
    data = pd.DataFrame({k: (pd.Categorical(v) if isinstance(v[0], str) else v) for k, v in ref["data"].items()})
    res = mm.aov("yield ~ N*P*K + (1 | block)", data)
    table = res.table
    for stratum in ref["strata"]:
        cols = stratum["columns"]
        for i, row in enumerate(stratum["rows"]):
            name = {"Residuals": "block" if stratum["stratum"] == "Error: block" else "Residual"}.get(row, row)
            got = table.loc[name]
            assert got["Df"] == stratum["values"][cols.index("Df")][i]
            assert got["Sum Sq"] == pytest.approx(stratum["values"][cols.index("Sum Sq")][i], rel=1e-10)
            f = stratum["values"][cols.index("F value")][i] if "F value" in cols else None
            if f is not None:
                assert got["F value"] == pytest.approx(f, rel=1e-8)
                assert got["Pr(>F)"] == pytest.approx(stratum["values"][cols.index("Pr(>F)")][i], rel=1e-6)

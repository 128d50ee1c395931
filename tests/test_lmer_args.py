"""lmer()'s other arguments as lme4's: weights, subset, offset, start; unknown arguments refused.
References: tests/fixtures/lmer_args.json (tests/r/make_lmer_args_fixtures.R: R 4.2.2, lme4 1.1.31,
lmerTest 3.1.3)."""

import re
import warnings

import numpy as np
import pytest

import mixedmodels as mm
from conftest import load_fixture
from conftest import same_up_to_last_digit, strip_control
from mixedmodels.errors import DataError, MixedModelsError

CASES = load_fixture("lmer_args.json")["cases"]


def _data():
    d = mm.datasets.load("sleepstudy").copy()
    d["w"] = d["Days"] % 3 + 1
    d["o"] = d["Days"] / 10
    return d


def _fit_from_call(call: str):
    """Translate the R call of the fixture (lmer(FORMULA, data = d, weights = w, ...)) to ours."""
    inner = call[len("lmer("):-1]
    formula, rest = inner.split(", data = d")
    kwargs = {}
    for part in [p.strip() for p in rest.split(",") if p.strip()]:
        key, val = (x.strip() for x in part.split("=", 1))
        if key == "REML":
            kwargs["REML"] = val == "TRUE"
        else:
            kwargs[key] = val  # weights = w, offset = o: column names; subset: the expression
    return mm.lmer(formula, _data(), data_name="d", **kwargs)


@pytest.mark.parametrize("ref", CASES, ids=[c["call"] for c in CASES])
def test_lmer_arguments_as_lme4(ref):
    m = _fit_from_call(ref["call"])
    assert m.nobs == ref["nobs"] and m.reml == ref["reml"]
    assert m.objective == pytest.approx(ref["objective"], abs=1e-6)
    np.testing.assert_allclose(m.theta, ref["theta"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m.fixef.to_numpy(), ref["fixef"], rtol=1e-6)
    assert m.sigma == pytest.approx(ref["sigma"], rel=1e-6)
    np.testing.assert_allclose(m.residuals("pearson").to_numpy(), ref["resid_pearson"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(m.residuals.to_numpy(), ref["resid_response"], rtol=1e-5, atol=1e-5)
    ct = m.coef_table("Satterthwaite")
    np.testing.assert_allclose(ct["df"].to_numpy(), ref["satterthwaite_df"], rtol=1e-4)
    np.testing.assert_allclose(ct["Std. Error"].to_numpy(), ref["se"], rtol=1e-6)
    ours, theirs = str(m.summary()).split("\n"), strip_control(ref["summary_text"])
    if ours != theirs:
        # the weighted ML fit: the exact optimum (|gradient| < 1e-11 after Newton steps) has an intercept
        # variance of 643.12497, printed 643.12; R's tight fit lands at 643.1250x and prints 643.13. A
        # last printed digit may differ where the optimum sits on a rounding boundary, nothing more.
        assert same_up_to_last_digit(ours, theirs), "\n".join(ours)
    ci = m.confint("profile")
    k = len(ref["confint_theta"]["rows"])
    np.testing.assert_allclose(ci.iloc[:k, 0].to_numpy(), ref["confint_theta"]["lower"], rtol=2e-4)
    np.testing.assert_allclose(ci.iloc[:k, 1].to_numpy(), ref["confint_theta"]["upper"], rtol=2e-4)
    rt = m.ranova()
    np.testing.assert_allclose(rt["logLik"].to_numpy(), ref["ranova_loglik"], rtol=1e-8)
    assert str(rt) == ref["ranova_text"]


def test_arrays_work_like_column_names():
    d = _data()
    a = mm.lmer("Reaction ~ Days + (1 | Subject)", d, weights="w", offset="o", subset="Days != 5")
    b = mm.lmer("Reaction ~ Days + (1 | Subject)", d, weights=d["w"].to_numpy(), offset=d["o"].to_numpy(),
                subset=(d["Days"] != 5).to_numpy())
    assert a.objective == pytest.approx(b.objective, abs=1e-10)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-12)


def test_update_and_simulation_keep_the_weights():
    d = _data()
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", d, weights="w")
    m0 = m.update(". ~ . - Days")
    direct = mm.lmer("Reaction ~ (Days | Subject)", d, weights="w")
    assert m0.objective == pytest.approx(direct.objective, abs=1e-8)
    sims = m.simulate(nsim=400, seed=1, use_u=True)
    resid = sims.to_numpy() - m.fitted.to_numpy()[:, None]
    # residual SD sigma / sqrt(w): the weight-3 rows vary sqrt(3) times less than the weight-1 rows
    sd1 = resid[d["w"].to_numpy() == 1].std()
    sd3 = resid[d["w"].to_numpy() == 3].std()
    assert sd1 / sd3 == pytest.approx(np.sqrt(3), rel=0.05)
    ci = m.confint("profile")
    assert np.all(ci.iloc[:, 0] < ci.iloc[:, 1])


def test_start_is_theta():
    d = _data()
    m = mm.lmer("Reaction ~ Days + (Days | Subject)", d, start={"theta": [1.0, 0.0, 0.2]})
    assert m.optinfo.theta_init.tolist() == [1.0, 0.0, 0.2]
    with pytest.raises(MixedModelsError):
        mm.lmer("Reaction ~ Days + (Days | Subject)", d, start={"fixef": [1.0]})


def test_unknown_or_unsupported_arguments_are_refused():
    d = _data()
    f = "Reaction ~ Days + (1 | Subject)"
    with pytest.raises(TypeError, match="reml"):
        mm.lmer(f, d, reml=False)  # a misspelt REML is not silently ignored
    with pytest.raises(MixedModelsError):
        mm.lmer(f, d, REML="yes")
    with pytest.raises(MixedModelsError, match="contrasts"):
        mm.lmer(f, d, contrasts={"Subject": "contr.sum"})
    with pytest.raises(MixedModelsError, match="control"):
        mm.lmer(f, d, control="lmerControl()")
    with pytest.raises(DataError, match="positive"):
        mm.lmer(f, d, weights=np.zeros(len(d)))
    with pytest.raises(DataError, match="rows"):
        mm.lmer(f, d, weights=np.ones(3))
    with pytest.raises(MixedModelsError, match="logical"):
        mm.lmer(f, d, subset="Days + 1")
    with pytest.raises(DataError, match="na.fail"):
        mm.lmer(f, d.assign(Days=d["Days"].where(d["Days"] != 3)), na_action="na.fail")
    with pytest.raises(MixedModelsError, match="Kenward-Roger"):
        mm.lmer(f, d, weights="w").coef_table("Kenward-Roger")


def test_optimizer_options_are_honoured_or_refused():
    """maxeval caps the gradient search too (a ConvergenceWarning says so); options of the wrong kind,
    a non-finite start and an infinite offset are errors (the last two used to crash NLopt or give NaN)."""
    d = _data()
    f = "Reaction ~ Days + (Days | Subject)"
    with pytest.warns(mm.ConvergenceWarning, match="maxeval"):
        m = mm.lmer(f, d, maxeval=5)
    assert m.optinfo.feval <= 6 and not m.optinfo.converged
    with pytest.raises(MixedModelsError, match="maxeval"):
        mm.lmer(f, d, maxeval="many")
    with pytest.raises(MixedModelsError, match="kernel"):
        mm.lmer(f, d, kernel="bogus")
    with pytest.raises(MixedModelsError, match="probes"):
        mm.lmer(f, d, probes="a")
    with pytest.raises(MixedModelsError, match="finite"):
        mm.lmer(f, d, start=[np.nan, 0, 1])
    with pytest.raises(DataError, match="offset"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", d, offset=np.r_[np.inf, np.zeros(len(d) - 1)])
    with pytest.raises(DataError, match="offset"):
        mm.lmer("Reaction ~ Days + offset(log(o)) + (1 | Subject)", d.assign(o=np.r_[0.0, np.ones(len(d) - 1)]))


@pytest.mark.parametrize("ref", load_fixture("lmer_args.json")["subset_cases"],
                         ids=lambda r: r["subset"])
def test_subset_expressions_as_r(ref):
    """subset= with R's |, %in%, xor(), ! and != (values from R's lmer(..., subset = EXPR))."""
    m = mm.lmer("Reaction ~ Days + (1 | Subject)", _data(), subset=ref["subset"])
    assert m.nobs == ref["nobs"]
    assert m.objective == pytest.approx(ref["objective"], abs=1e-6)


def test_series_arguments_align_by_index():
    """subset / weights / offset given as pandas Series are matched to the rows by index label, as pandas
    aligns (a Series computed before the frame was shuffled still selects the right rows)."""
    d = _data()
    keep = d["Days"] >= 5
    shuffled = d.sample(frac=1.0, random_state=1)
    a = mm.lmer("Reaction ~ Days + (1 | Subject)", d[keep])
    b = mm.lmer("Reaction ~ Days + (1 | Subject)", shuffled, subset=keep)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-10)
    w = d["w"]
    c = mm.lmer("Reaction ~ Days + (1 | Subject)", d, weights=w)
    e = mm.lmer("Reaction ~ Days + (1 | Subject)", shuffled, weights=w)
    np.testing.assert_allclose(c.fixef, e.fixef, rtol=1e-10)
    with pytest.raises(MixedModelsError, match="no value"):
        mm.lmer("Reaction ~ Days + (1 | Subject)", d, weights=w.iloc[:100])


def test_degenerate_and_extreme_inputs_are_package_errors():
    import pandas as pd

    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(6), 8)
    d = pd.DataFrame({"g": g, "x": rng.normal(size=48), "y": g * 1.0})
    with pytest.raises(mm.ModelError, match="degenerate"):
        mm.lmer("y ~ 1 + (x | g)", d)  # the random intercepts reproduce y exactly
    with pytest.raises(DataError, match="extreme scale"):
        mm.lmer("y ~ x + (1 | g)", d.assign(y=rng.normal(size=48) * 1e160))
    with pytest.raises(DataError, match="extreme scale"):
        mm.lmer("y ~ x + (1 | g)", d.assign(y=rng.normal(size=48), x=d["x"] * 1e-200))
    m = mm.lmer("Reaction ~ Days + (1 | Subject)", _data())
    with pytest.raises(MixedModelsError, match="digits"):
        m.summary(digits=10**9)
    with pytest.raises(MixedModelsError, match="ranef_comp"):
        m.format(ranef_comp="SD")

"""The accessors the linear and the generalized fitted models share (mixedmodels/fitted.py): written once,
in MixedModelFit, and giving lme4's answers for both (tests/fixtures/varcorr_names.json, written by
tests/r/make_varcorr_names_fixtures.R)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import MixedModelsError
from mixedmodels.fitted import GroupDict, MixedModelFit
from mixedmodels.glmm import GlmerFit
from mixedmodels.model import LmerFit
from mixedmodels.output.summary import format_varcorr

from conftest import fitted, load_fixture

sys.path.insert(0, str(Path(__file__).parent / "glmm"))
from glmm_cases import data as glmm_data  # noqa: E402

REF = load_fixture("varcorr_names.json")
SHARED = ["design", "frame_spec", "nobs", "loglik", "aic", "bic", "df_resid", "fixef", "vcov", "se",
          "_b_blocks", "_by_group", "ranef", "ranef_condsd", "ngroups", "_term_covariances", "varcorr", "coef",
          "_print_options", "__repr__", "__str__", "compare_statsmodels", "_theta_singular"]


@pytest.fixture(scope="module")
def lmm():
    # R: lmer(yield ~ nitro + (nitro || Block:Variety) + (1 | Block), data = Oats, control = TIGHT)
    return fitted("yield ~ nitro + (nitro || Block:Variety) + (1 | Block)", "Oats")


@pytest.fixture(scope="module")
def glmm():
    # R: glmer(ypois ~ x + (x || h:g), data = glmmsim, family = poisson)
    return mm.glmer("ypois ~ x + (x || h:g)", glmm_data("glmmsim"), "poisson")


def test_one_home_for_the_shared_accessors(lmm, glmm):
    assert isinstance(lmm, LmerFit) and isinstance(lmm, MixedModelFit)
    assert isinstance(glmm, GlmerFit) and isinstance(glmm, MixedModelFit)
    assert not isinstance(glmm, LmerFit) and not isinstance(lmm, GlmerFit)
    for name in SHARED:
        assert name in vars(MixedModelFit), name
        assert name not in vars(LmerFit) and name not in vars(GlmerFit), name


@pytest.mark.parametrize("which", ["lmer", "glmer"])
def test_variance_components_of_a_factor_with_several_terms_are_named_as_lme4(which, lmm, glmm):
    ref = REF[which]
    fit = lmm if which == "lmer" else glmm
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=1e-4)
    vc = fit.varcorr
    assert vc["grp"].tolist() == ref["grp"]  # make.names(unique = TRUE): "Block:Variety" -> "Block.Variety"
    assert vc["var1"].fillna("").tolist() == ref["var1"]
    np.testing.assert_allclose(vc["vcov"].to_numpy(), ref["vcov"], rtol=1e-4)
    # print(VarCorr(m)): the summary's random-effects rows (digits = 5, standard deviations); the text
    # identical but for the numbers' last digits, which follow the optimum (equal to 1e-4)
    d = fit._summary_data()
    groups = d.groups if which == "lmer" else d.base.groups
    sigma = fit.sigma if which == "lmer" else None
    text = format_varcorr(groups, sigma, comp=("Std.Dev.",), digits=5, header=False)
    number = r"\d+\.\d+"
    assert re.sub(number, "#", text) == re.sub(number, "#", ref["varcorr_text"])
    np.testing.assert_allclose([float(x) for x in re.findall(number, text)],
                               [float(x) for x in re.findall(number, ref["varcorr_text"])], rtol=1e-4)
    text = fit.summary().format()
    assert [g.name for g in groups] == [n for n in ref["grp"] if n != "Residual"]
    assert all(f" {n} " in text for n in ref["grp"])


def test_glmer_coef_is_lme4s_layout():
    # R: coef(glmer(ypois ~ 1 + (x | g), data = glmmsim, family = poisson))$g
    ref = REF["glmer_coef"]
    fit = mm.glmer("ypois ~ 1 + (x | g)", glmm_data("glmmsim"), "poisson")
    np.testing.assert_allclose(fit.theta, ref["theta"], rtol=1e-4)
    cf = fit.coef()
    assert isinstance(cf, GroupDict) and list(cf) == ["g"]
    g = cf["g"]
    assert list(g.columns) == ref["columns"]  # the random slope without a fixed effect comes first
    assert list(g.index) == ref["rows"]
    for col, vals in zip(ref["columns"], ref["values"]):
        np.testing.assert_allclose(g[col].to_numpy(), vals, rtol=1e-4)
    with pytest.raises(MixedModelsError, match="no grouping factor 'h'"):
        cf["h"]


def test_coef_is_the_same_rule_for_both_fits():
    sleep = mm.datasets.load("sleepstudy")
    lin = fitted("Reaction ~ Days + (Days | Subject)", "sleepstudy")
    sim = glmm_data("glmmsim")
    gen = mm.glmer("ypois ~ x + (x | g)", sim, "poisson")
    for fit in (lin, gen):
        cf = fit.coef()
        (group, frame), = cf.items()
        re = fit.ranef[group]
        expect = pd.DataFrame(np.tile(fit.fixef.to_numpy(), (len(re), 1)), index=re.index,
                              columns=fit.fixef.index) + re
        pd.testing.assert_frame_equal(frame, expect)
    assert len(sleep) == 180


@pytest.mark.parametrize("kwargs", [{"digits": 0}, {"digits": 2.5}, {"ranef_comp": "Var"}, {"ranef_comp": ()},
                                    {"correlation": "yes"}])
def test_glmer_print_options_are_checked_as_lmers(kwargs, glmm, lmm):
    for fit in (lmm, glmm):
        with pytest.raises(MixedModelsError):
            fit.summary(**kwargs)
        if "correlation" not in kwargs:
            with pytest.raises(MixedModelsError):
                fit.format(**kwargs)


def test_accessors_agree_with_their_definitions(lmm, glmm):
    for fit in (lmm, glmm):
        assert fit.nobs == fit.design.n
        assert fit.loglik == pytest.approx(-0.5 * fit.objective, rel=1e-15)
        assert fit.aic == pytest.approx(fit.objective + 2 * fit.npar, rel=1e-15)
        assert fit.bic == pytest.approx(fit.objective + np.log(fit.nobs) * fit.npar, rel=1e-15)
        assert fit.df_resid == fit.nobs - fit.npar
        np.testing.assert_array_equal(fit.se.to_numpy(), np.sqrt(np.diag(fit.vcov.to_numpy())))
        assert fit.ngroups == {t.group: t.nlevels for t in fit.design.terms}
        for k, (t, b) in enumerate(zip(fit.design.terms, fit._b_blocks)):
            assert b.shape == (t.nlevels, t.ncols)
        for group, frame in fit.ranef_condsd.items():
            assert frame.shape == fit.ranef[group].shape and (frame.to_numpy() > 0).all()


def test_glmer_call_lines_are_lmers():
    # R: print(glmer(ypois ~ x + (1 | g), glmmsim, family = poisson, subset = x>0)) shows " Subset: x > 0"
    # (the expression deparsed), as print(lmer(...)) does
    sim = glmm_data("glmmsim")
    fit = mm.glmer("ypois ~ x + (1 | g)", sim, "poisson", subset="x>0")
    assert " Subset: x > 0" in str(fit).split("\n")
    assert fit.model.call_lines() == [(" Subset:", "x > 0")]
    lin = mm.LinearMixedModel("ygau ~ x + (1 | g)", sim, subset="x>0")
    assert lin.call_lines() == fit.model.call_lines()


def test_linear_and_generalized_models_take_their_inputs_alike():
    """One resolution of the data's name and one record of the frame arguments (fitted.ModelInputs)."""
    sim = glmm_data("glmmsim").copy()
    sim.attrs.clear()
    named = sim.copy()
    named.attrs["name"] = "glmmsim"
    for make in (lambda d, **kw: mm.LinearMixedModel("ygau ~ x + (1 | g)", d, **kw),
                 lambda d, **kw: mm.GeneralizedLinearMixedModel("ypois ~ x + (1 | g)", d, "poisson", **kw)):
        assert make(named).data_name == "glmmsim"
        assert make(sim.copy()).data_name == "data"
        assert make(named, data_name="sim").data_name == "sim"
        with pytest.raises(MixedModelsError, match="data_name must be a string, not int"):
            make(sim, data_name=5)
        m = make(sim, subset="x > 0", offset=pd.Series(np.zeros(len(sim)), index=sim.index[::-1]))
        assert m.frame_args["subset"] == "x > 0" and m.frame_args["na_action"] == "na.omit"
        assert m.design.n == int((sim["x"] > 0).sum())

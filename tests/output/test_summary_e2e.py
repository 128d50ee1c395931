"""End to end: ``str(lmer(...).summary())`` and ``repr(fit)`` print what R prints.

The reference is R's ``print(summary(m))`` for the default lme4 fit, or -- where lme4's default optimizer
stops short of the optimum and the last printed digit differs -- R's print of the tightly converged refit
(``estimates_tight.summary_text``: the same call with a tight ``lmerControl``; its "Control:" lines, which
only say how R was told to converge, are removed before comparing).
"""

import pytest

from conftest import fitted, load_fixture, same_up_to_last_digit, same_up_to_ties, strip_control

MODELS = load_fixture("lme4_models.json")["models"]




def _fit(ref):
    return fitted(ref["id"])


# A model whose optimum is so flat that the criterion's rounding (~1e-13 relative) cannot locate the last
# printed digit: R's tightly converged fit prints the intercept variance as 1.971608, the optimum located
# by the exact gradient (|gradient| < 1e-10 after Newton steps on it) is 1.97160725, which prints as
# 1.971607; lme4's default fit prints 1.971410. Here a printed number may differ from the tight fit's by
# one unit in its last digit, nothing else. (orthodont_ml, once in this set, now prints exactly as R's
# tight fit: the optimizer keeps quasi-Newton steps the gradient confirms below the criterion's noise.)
LAST_DIGIT = {"orthodont_ml_nocorr"}




@pytest.mark.parametrize("ref", MODELS, ids=[m["id"] for m in MODELS])
def test_summary_prints_like_r(ref):
    fit = _fit(ref)
    ours = str(fit.summary()).split("\n")
    candidates = [ref["summary_text"].split("\n"), strip_control(ref["estimates_tight"]["summary_text"])]
    if ref["id"] in LAST_DIGIT:
        assert any(same_up_to_last_digit(ours, c) for c in candidates), "\n".join(ours)
    elif ours not in candidates:
        # only an exact rounding tie of an estimate or its standard error may print differently
        ties = list(fit.coef_table().to_numpy().ravel())
        assert any(same_up_to_ties(ours, c, ties) for c in candidates), "\n".join(ours)


@pytest.mark.parametrize("ref", MODELS, ids=[m["id"] for m in MODELS])
def test_print_like_r(ref):
    ours = repr(_fit(ref)).split("\n")
    candidates = [ref["print_text"].split("\n"), strip_control(ref["estimates_tight"]["print_text"])]
    assert ours in candidates, "\n".join(ours)

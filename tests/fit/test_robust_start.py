"""A start (theta0) below its bound (robustness, third round)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import mixedmodels as mm
from mixedmodels.model import LinearMixedModel


@pytest.mark.parametrize("optimizer", ["auto", "gradient", "bobyqa"])
def test_start_below_bound_names_element_and_bound(optimizer):
    """NLopt stopped with an empty invalid_argument (lme4: "at least one element in x0 < lb", R 4.2.2 /
    lme4 1.1.31 on lmer(Yield ~ 1 + (1|Batch), Dyestuff2, start = list(theta = -1))); every optimizer
    now refuses it naming the element and its bound."""
    model = LinearMixedModel("Yield ~ 1 + (1 | Batch)", mm.datasets.load("Dyestuff2"))
    with pytest.raises(mm.MixedModelsError, match=r"element 1 is -1, below its lower bound 0"):
        model.fit(theta0=[-1.0], optimizer=optimizer)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=3, max_size=3))
def test_any_start_is_fitted_or_refused_clearly(start):
    d = mm.datasets.load("sleepstudy")
    lower = np.array([0.0, -np.inf, 0.0])
    if np.any(np.array(start) < lower):
        k = int(np.flatnonzero(np.array(start) < lower)[0])
        with pytest.raises(mm.MixedModelsError, match=f"element {k + 1} is"):
            mm.lmer("Reaction ~ Days + (Days | Subject)", d, start=start, optimizer="bobyqa")
    else:  # from a start at zero BOBYQA may stay on the boundary (a singular fit, with its warning)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mm.SingularFitWarning)
            m = mm.lmer("Reaction ~ Days + (Days | Subject)", d, start=start, optimizer="bobyqa")
        assert np.isfinite(m.objective)

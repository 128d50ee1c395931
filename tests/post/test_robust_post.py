"""simulate() and update() on inputs that used to fail late or with the wrong reason (third round)."""

import numpy as np
import pytest

import mixedmodels as mm
import mixedmodels.post.predict as predict_module


@pytest.fixture(scope="module")
def fit():
    return mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))


def test_simulate_too_large_says_how_much_memory(fit, monkeypatch):
    """simulate(nsim=10**6) allocated 2.7 GiB and raised a raw MemoryError; the size is checked first."""
    monkeypatch.setattr(predict_module, "available_memory", lambda: 100 * 2**20)
    with pytest.raises(mm.DataError, match=r"nsim=1,000,000\) on 180 rows needs about 5.36 GiB .*result "
                                           r"alone is 1.34 GiB.* 100 MiB is available"):
        fit.simulate(nsim=10**6)
    small = fit.simulate(nsim=3, seed=1)  # within the memory: as before
    assert small.shape == (180, 3)


def test_simulate_memory_error_is_a_package_error(fit, monkeypatch):
    def boom(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(predict_module, "_simulate", boom)
    with pytest.raises(mm.DataError, match="ran out of memory"):
        fit.simulate(nsim=10)


def test_simulate_in_place_arithmetic_is_unchanged(fit):
    """eta + sigma * (b + e) computed in place: the same numbers as the expression."""
    a = fit.simulate(nsim=4, seed=7)
    b = fit.simulate(nsim=4, seed=7, use_u=True)
    rng = np.random.default_rng(7)
    e = rng.standard_normal((180, 4))
    np.testing.assert_array_equal(b.to_numpy(), fit.fitted.to_numpy()[:, None] + fit.sigma * (0.0 + e))
    assert a.shape == (180, 4) and np.all(np.isfinite(a.to_numpy()))


def test_update_unknown_argument_is_named(fit):
    """m.update(bogus=1) said "unknown option for optimizer='auto'"."""
    with pytest.raises(mm.MixedModelsError, match=r"update\(\): unknown argument 'bogus'") as info:
        fit.update(bogus=1)
    assert "optimizer='auto'" not in str(info.value)
    assert fit.update(maxiter=500).objective == pytest.approx(fit.objective, abs=1e-6)  # an option: fine

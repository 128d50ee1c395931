"""The compiled kernels of the first term's block-diagonal part (mixedmodels.fit.blockdiag): the same
factor, criterion, gradient and solution as the NumPy code on every path that uses them, and taken by
"auto" only where they pay and their machine code is ready."""

import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.fit import blockdiag, kernels, paths
from mixedmodels.fit.crossprod import CrossProducts
from mixedmodels.fit.gradient import gradient_from_factor
from mixedmodels.fit.linalg import NotPositiveDefinite
from mixedmodels.frame.design import build_design
from mixedmodels.model import LinearMixedModel


def _slopes(ngroups=300, per=5, seed=2, nh=7):
    """Groups with a correlated random intercept and two slopes, and a crossed factor h."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(ngroups), per)
    n = len(g)
    x, z = rng.normal(size=(2, n))
    u = rng.multivariate_normal(np.zeros(3), [[1.0, 0.3, -0.2], [0.3, 0.5, 0.1], [-0.2, 0.1, 0.4]], size=ngroups)
    h = rng.integers(0, nh, n)
    y = 2 + 0.5 * x - 0.3 * z + u[g, 0] + u[g, 1] * x + u[g, 2] * z + rng.normal(size=nh)[h] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "z": z, "g": [f"g{i}" for i in g], "h": [f"h{i}" for i in h]})


FORMULAS = [
    "y ~ x + z + (1 + x + z | g)",             # one term (no rest rows of Z)
    "y ~ x + z + (1 + x | g) + (1 | h)",       # a scalar later term
    "y ~ x + z + (1 + x + z | g) + (1 + x | h)",  # a vector-valued later term
]


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("reml", [True, False])
def test_compiled_first_term_matches_numpy_on_every_path(formula, reml):
    model = LinearMixedModel(formula, _slopes())
    crit = model.criterion(reml, "dense")
    rng = np.random.default_rng(4)
    names = [("dense", paths.DensePath), ("sparse", paths.SparsePath)]
    if crit.rest_diag:
        names.append(("blocks", paths.BlocksPath))
    thetas = [crit.theta_init(), crit.theta_init() * 0.6 + 0.1 * rng.normal(size=crit.ntheta)]
    # on the boundary: the first term's lambda singular (its second column zero)
    edge = thetas[1].copy()
    edge[crit.theta_slices[0][crit.s1:2 * crit.s1 - 1]] = 0.0
    thetas.append(np.maximum(edge, crit.lower_bounds()))
    for theta in thetas:
        for name, cls in names:
            ref, new = cls(crit, compiled=False), cls(crit, compiled=True)
            assert not ref.compiled and new.compiled
            v0, f0 = ref.evaluate(theta)
            v1, f1 = new.evaluate(theta)
            assert np.isfinite(v0) and v1 == pytest.approx(v0, rel=1e-12), name
            np.testing.assert_allclose(f1.L11, f0.L11, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(f1.L11inv, f0.L11inv, rtol=1e-12, atol=1e-14)
            g0, g1 = ref.gradient_at(f0), new.gradient_at(f1)
            np.testing.assert_allclose(g1, g0, rtol=1e-9, atol=1e-7 * (1 + np.abs(g0).max()))
            beta0, u0 = crit.solve(ref.factor(theta))
            beta1, u1 = crit.solve(new.factor(theta))
            np.testing.assert_allclose(beta1, beta0, rtol=1e-10)
            np.testing.assert_allclose(u1, u0, rtol=1e-8, atol=1e-10)


def test_gradient_modes_agree_with_compiled_first_term():
    """The compiled first-term gradient under each way of forming Q (dense, level blocks, sparse)."""
    model = LinearMixedModel("y ~ x + z + (1 + x | g) + (1 | h)", _slopes(seed=5))
    crit = model.criterion(True, "dense")
    theta = crit.theta_init() * 0.7 + 0.05
    f = paths.DensePath(crit, compiled=True).factor(theta, need_C=False)
    ref = gradient_from_factor(crit, f, mode="dense")
    for mode in ("dense", "blocks", "sparse"):
        g = gradient_from_factor(crit, f, mode=mode, compiled=True)
        np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-8)


def test_compiled_fit_reaches_the_numpy_fits_optimum(monkeypatch):
    data = _slopes(ngroups=1200, per=4, seed=7)
    formula = "y ~ x + z + (1 + x + z | g)"
    monkeypatch.setattr(paths, "BLOCKDIAG_MIN_LEVELS", 10**9)
    monkeypatch.setattr(paths, "BLOCKDIAG_MIN_LEVELS_LOADED", 10**9)
    ref = mm.lmer(formula, data, path="dense")  # (once the small path is loaded, auto takes it here)
    assert not LinearMixedModel(formula, data).criterion(True, "dense").path.compiled
    monkeypatch.setattr(paths, "BLOCKDIAG_MIN_LEVELS", 1000)
    monkeypatch.setattr(paths, "BLOCKDIAG_MIN_LEVELS_LOADED", 100)
    monkeypatch.setattr(blockdiag, "loaded", lambda s: False)
    monkeypatch.setattr(blockdiag, "_ready", True)
    crit = LinearMixedModel(formula, data).criterion(True, "dense")
    assert crit.path.name == "dense" and crit.path.compiled
    fit = mm.lmer(formula, data, path="dense")
    assert fit.optinfo.path == "dense"
    assert fit.objective == pytest.approx(ref.objective, abs=1e-7)
    np.testing.assert_allclose(fit.theta, ref.theta, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-7)
    np.testing.assert_allclose(fit.se, ref.se, rtol=1e-6)
    assert str(fit.summary()) == str(ref.summary())


@pytest.mark.parametrize("loaded", [False, True])
def test_taken_only_with_many_levels_and_a_vector_valued_first_term(monkeypatch, loaded):
    """Kernels not run in the process yet: from BLOCKDIAG_MIN_LEVELS levels (their load must pay);
    once they ran, from BLOCKDIAG_MIN_LEVELS_LOADED; never for a scalar first term."""
    monkeypatch.setattr(blockdiag, "_ready", True)
    monkeypatch.setattr(blockdiag, "loaded", lambda s: loaded)
    monkeypatch.setattr(paths, "BLOCKDIAG_MIN_LEVELS", 1000)
    monkeypatch.setattr(paths, "BLOCKDIAG_MIN_LEVELS_LOADED", 100)
    few = LinearMixedModel("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy")).criterion(True, "dense")
    assert few.l1 < 100 and not few.path.compiled
    mid = LinearMixedModel("y ~ x + (1 + x | g)", _slopes(ngroups=300, per=3)).criterion(True, "dense")
    assert mid.path.compiled == loaded
    data = _slopes(ngroups=1000, per=3)
    many = LinearMixedModel("y ~ x + (1 + x | g)", data).criterion(True, "dense")
    assert many.path.compiled
    scalar = LinearMixedModel("y ~ x + (1 | g)", data).criterion(True, "dense")
    assert not scalar.path.compiled
    assert not paths.DensePath(scalar, compiled=True).compiled  # s1 = 1 has its closed forms


def test_loaded_says_whether_the_kernels_ran_here():
    blockdiag.warm_up()
    assert blockdiag.loaded(2) and blockdiag.loaded(3) and blockdiag.loaded(6)


def test_not_ready_means_numpy_and_a_background_compile(monkeypatch):
    """Machine code neither compiled in the process nor on disk: NumPy for this model, the compile
    started in the background (once, by kernels.compile_in_background); with the background compile
    switched off, the fit compiles the kernels itself."""
    started = []

    class Uncompiled:
        overloads: dict = {}

    monkeypatch.setattr(blockdiag, "_ready", False)
    monkeypatch.setattr(blockdiag, "compile_kernels", lambda s=0: (Uncompiled(),) * 4)
    monkeypatch.setattr(kernels, "_on_disk", lambda fn: False)
    monkeypatch.setattr(kernels, "compile_in_background", lambda: started.append(1))
    monkeypatch.setattr(blockdiag, "loaded", lambda s: False)
    monkeypatch.setattr(paths, "BLOCKDIAG_MIN_LEVELS", 1000)
    data = _slopes(ngroups=1000, per=3)
    crit = LinearMixedModel("y ~ x + (1 + x | g)", data).criterion(True, "dense")
    assert not crit.path.compiled and started == [1]
    monkeypatch.setattr(kernels, "COMPILE_IN_BACKGROUND", False)
    assert blockdiag.ready()
    monkeypatch.setattr(kernels, "COMPILE_IN_BACKGROUND", True)
    monkeypatch.setattr(kernels, "_on_disk", lambda fn: True)  # filled by the background compile
    assert blockdiag.ready() and started == [1]


def test_kernels_report_a_block_that_is_not_positive_definite():
    A11 = np.stack([np.eye(2), np.eye(2)])
    lam = np.array([[np.nan, 0.0], [0.0, 1.0]])
    with pytest.raises(NotPositiveDefinite):
        blockdiag.factor_first(lam, A11)


def test_kernels_take_read_only_and_strided_input_without_changing_it():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(50, 6, 3))
    A11 = np.einsum("lri,lrj->lij", X, X)
    lam = np.tril(rng.normal(size=(3, 3)))
    ref = blockdiag.factor_first(lam, A11)
    A11_ro = A11.copy()
    A11_ro.flags.writeable = False
    lam_f = np.asfortranarray(lam)
    out = blockdiag.factor_first(lam_f, A11_ro)
    for a, b in zip(out[:3], ref[:3]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(A11_ro, A11)
    # against NumPy
    B = np.swapaxes(lam, 0, 1) @ A11 @ lam + np.eye(3)
    np.testing.assert_allclose(ref[0], np.linalg.cholesky(B), rtol=1e-12)
    np.testing.assert_allclose(ref[1], np.linalg.inv(np.linalg.cholesky(B)), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ref[2], lam @ np.swapaxes(ref[1], 1, 2), rtol=1e-12, atol=1e-14)


def test_precompile_warms_every_kernel():
    blockdiag.warm_up()
    sizes = (*blockdiag.SIZES, 5)
    assert all(k.overloads for s in sizes for k in blockdiag.compile_kernels(s))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blockdiag.warm_up()  # a second time: nothing new to compile
    # one machine code per kernel: every call passes the same argument types
    assert all(len(k.overloads) == 1 for s in sizes for k in blockdiag.compile_kernels(s))
    assert blockdiag.compile_kernels(7) is blockdiag.compile_kernels(5)  # the general kernels
    assert blockdiag.compile_kernels(3) is not blockdiag.compile_kernels(2)


def test_one_term_crossproducts_by_bincount(monkeypatch):
    """With one random term, the large-model branch sums Z1' [X y] level by level (A_R1 kept dense);
    the same numbers as the dense products and as the sparse product it replaces."""
    d = build_design("y ~ x + z + (1 + x + z | g)", _slopes(ngroups=200, per=4, seed=9))
    dense = CrossProducts.from_design(d.terms, d.X, d.y, dense=True)
    by_bincount = CrossProducts.from_design(d.terms, d.X, d.y, dense=False)
    assert by_bincount.AR1_is_dense
    monkeypatch.setattr(paths, "CROSSPROD_BINCOUNT_MAX", 0)
    by_sparse = CrossProducts.from_design(d.terms, d.X, d.y, dense=False)
    assert not by_sparse.AR1_is_dense
    for other in (by_bincount, by_sparse):
        np.testing.assert_allclose(other.A11, dense.A11, rtol=1e-12)
        np.testing.assert_allclose(other.ARR, dense.ARR, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(other.AR1_array, dense.AR1_array, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(by_bincount.AR1.toarray(), by_sparse.AR1.toarray(), rtol=1e-12, atol=1e-10)


def test_gram_is_c_times_c_transposed():
    rng = np.random.default_rng(8)
    for s in (2, 3, 5):
        X = rng.normal(size=(40, 6, s))
        A11 = np.einsum("lri,lrj->lij", X, X)
        lam = np.tril(rng.normal(size=(s, s)))
        AR1 = rng.normal(size=(6, 40, s))
        L11, Linv, T, C = blockdiag.factor_first(lam, A11, AR1)
        L11b, Linvb, Tb, CC = blockdiag.factor_first(lam, A11, AR1, gram=True)
        np.testing.assert_array_equal(L11b, L11)
        np.testing.assert_array_equal(Tb, T)
        np.testing.assert_allclose(CC, C @ C.T, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(C.reshape(6, 40, s), np.einsum("rlx,lxy->rly", AR1, T), rtol=1e-12, atol=1e-13)

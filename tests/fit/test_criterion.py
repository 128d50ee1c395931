"""The blocked-Cholesky criterion equals a dense brute-force (restricted) log-likelihood."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from mixedmodels.fit import kernels
from mixedmodels.fit.criterion import ProfiledCriterion
from mixedmodels.fit.crossprod import CrossProducts
from mixedmodels.frame.design import build_design


def dense_criterion(design, theta, reml):
    """-2 log-likelihood (ML) or -2 restricted log-likelihood (REML) from V = sigma^2 (Z L L'Z' + I),
    profiled over beta and sigma, computed with dense n x n matrices."""
    X, y = design.X, design.y - design.offset
    n, p = X.shape
    Zs, lams, pos = [], [], 0
    for t in design.terms:
        Zs.append(t.zmatrix().toarray())
        lam = t.lambda_matrix(theta[pos: pos + t.ntheta])
        lams.append(np.kron(np.eye(t.nlevels), lam))
        pos += t.ntheta
    Z = np.hstack(Zs)
    Lam = np.zeros((Z.shape[1], Z.shape[1]))
    o = 0
    for L in lams:
        Lam[o: o + L.shape[0], o: o + L.shape[0]] = L
        o += L.shape[0]
    ZL = Z @ Lam
    V = ZL @ ZL.T + np.eye(n)
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    q = r @ Vi @ r
    logdetV = np.linalg.slogdet(V)[1]
    if reml:
        s2 = q / (n - p)
        return logdetV + np.linalg.slogdet(XtViX)[1] + (n - p) * (1 + np.log(2 * np.pi * s2))
    s2 = q / n
    return logdetV + n * (1 + np.log(2 * np.pi * s2))


@st.composite
def problems(draw):
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(12, 40))
    k1 = draw(st.integers(2, 5))
    k2 = draw(st.integers(2, 4))
    df = pd.DataFrame({
        "x": rng.normal(size=n),
        "f": rng.choice(["a", "b", "c"], size=n),
        "g1": rng.integers(0, k1, size=n).astype(str),
        "g2": rng.integers(0, k2, size=n).astype(str),
    })
    df["y"] = rng.normal(size=n) + df["x"]
    form = draw(st.sampled_from([
        "y ~ x + (1 | g1)",
        "y ~ x + (x | g1)",
        "y ~ x + f + (1 | g1) + (1 | g2)",
        "y ~ x + (1 | g1) + (0 + x | g2)",
        "y ~ 1 + (x | g1) + (1 | g2)",
        "y ~ x + (1 | g1) + (1 | g1:g2)",
    ]))
    return df, form, seed


@settings(max_examples=60, deadline=None)
@given(problems(), st.booleans())
def test_criterion_equals_dense_likelihood(problem, reml):
    df, form, seed = problem
    try:
        design = build_design(form, df)
    except ValueError:
        return  # a draw lme4 would refuse (e.g. a grouping factor with one level): nothing to compare
    if design.n <= design.p + 1:
        return
    crit = ProfiledCriterion(design.terms, design.X, design.y - design.offset, reml=reml)
    rng = np.random.default_rng(seed + 1)
    theta = crit.theta_init() + rng.uniform(0, 1.5, size=crit.ntheta) * np.where(
        np.isfinite(crit.lower_bounds()), 1.0, rng.choice([-1.0, 1.0], size=crit.ntheta))
    ours = crit(theta)
    ref = dense_criterion(design, theta, reml)
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-8)


def test_crossproducts_by_partitions_equal_whole():
    rng = np.random.default_rng(3)
    n = 500
    df = pd.DataFrame({"x": rng.normal(size=n), "g1": rng.integers(0, 40, n).astype(str),
                       "g2": rng.integers(0, 7, n).astype(str)})
    df["y"] = rng.normal(size=n)
    d = build_design("y ~ x + (x | g1) + (1 | g2)", df)
    whole = CrossProducts.from_design(d.terms, d.X, d.y)
    parts = CrossProducts.from_design(d.terms, d.X, d.y, chunk_rows=77)
    np.testing.assert_allclose(parts.A11, whole.A11, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(parts.ARR, whole.ARR, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(parts.AR1.toarray(), whole.AR1.toarray(), rtol=1e-12, atol=1e-10)


def test_conditional_variances_equal_dense():
    rng = np.random.default_rng(5)
    n = 60
    df = pd.DataFrame({"x": rng.normal(size=n), "g1": rng.integers(0, 6, n).astype(str),
                       "g2": rng.integers(0, 4, n).astype(str)})
    df["y"] = rng.normal(size=n)
    d = build_design("y ~ x + (x | g1) + (1 | g2)", df)
    crit = ProfiledCriterion(d.terms, d.X, d.y, reml=True)
    theta = np.array([0.8, 0.3, 0.5, 0.7])
    f = crit.factor(theta)
    blocks = crit.cond_var_blocks(f)
    Z = np.hstack([t.zmatrix().toarray() for t in d.terms])
    lam1 = np.kron(np.eye(d.terms[0].nlevels), d.terms[0].lambda_matrix(theta[:3]))
    lam2 = np.kron(np.eye(d.terms[1].nlevels), d.terms[1].lambda_matrix(theta[3:]))
    Lam = np.block([[lam1, np.zeros((lam1.shape[0], lam2.shape[1]))],
                    [np.zeros((lam2.shape[0], lam1.shape[1])), lam2]])
    ZL = Z @ Lam
    full = Lam @ np.linalg.inv(ZL.T @ ZL + np.eye(ZL.shape[1])) @ Lam.T
    s = 2
    for j in range(d.terms[0].nlevels):
        np.testing.assert_allclose(blocks[0][j], full[j * s:(j + 1) * s, j * s:(j + 1) * s], atol=1e-10)
    off = d.terms[0].nranef
    for j in range(d.terms[1].nlevels):
        np.testing.assert_allclose(blocks[1][j, 0, 0], full[off + j, off + j], atol=1e-10)


@pytest.mark.parametrize("formula", ["y ~ x + (1 | g1) + (1 | g2)", "y ~ x + (x | g1) + (1 | g2)"])
def test_three_evaluation_paths_agree(formula, monkeypatch):
    """The dense path (small models), the sparse-product path and the compiled level-block downdate
    (large models) give the same criterion."""
    monkeypatch.setattr(kernels, "COMPILE_IN_BACKGROUND", False)  # the kernels' path, compiled or not yet
    rng = np.random.default_rng(11)
    n = 60_000
    df = pd.DataFrame({"x": rng.normal(size=n), "g1": rng.integers(0, 4000, n).astype(str),
                       "g2": rng.integers(0, 300, n).astype(str)})
    df["y"] = rng.normal(size=n) + df["x"]
    d = build_design(formula, df)
    crit = ProfiledCriterion(d.terms, d.X, d.y, reml=True)
    assert crit.path.name == "blocks"  # large enough for the compiled kernel
    theta = crit.theta_init() * 0.7 + 0.05
    kernel_value = crit(theta)
    f_kernel = crit.factor(theta)
    beta_k, u_k = crit.solve(f_kernel)
    sparse = crit.with_path("sparse")  # the sparse-product path
    assert sparse(theta) == pytest.approx(kernel_value, rel=1e-11)
    beta_s, u_s = sparse.solve(sparse.factor(theta))
    np.testing.assert_allclose(beta_k, beta_s, rtol=1e-9)
    np.testing.assert_allclose(u_k, u_s, rtol=1e-7, atol=1e-10)
    dense = crit.with_path("dense")  # the dense path
    assert dense(theta) == pytest.approx(kernel_value, rel=1e-11)


@pytest.mark.parametrize("s", [1, 2, 3])
def test_batched_inverse_matches_numpy(s):
    from mixedmodels.fit.linalg import batched_inverse

    rng = np.random.default_rng(s)
    A = rng.normal(size=(7, s, s)) + 3 * np.eye(s)
    np.testing.assert_allclose(batched_inverse(A), np.linalg.inv(A), rtol=1e-12, atol=1e-14)
    A[3] = 0.0
    with pytest.raises(np.linalg.LinAlgError):
        batched_inverse(A)


def test_crossproducts_dense_and_sparse_paths_agree():
    rng = np.random.default_rng(4)
    n = 300
    df = pd.DataFrame({"x": rng.normal(size=n), "g1": rng.integers(0, 30, n).astype(str),
                       "g2": rng.integers(0, 6, n).astype(str)})
    df["y"] = rng.normal(size=n)
    d = build_design("y ~ x + (x | g1) + (x | g2)", df)
    dense = CrossProducts.from_design(d.terms, d.X, d.y)
    sparse = CrossProducts.from_design(d.terms, d.X, d.y, dense=False)
    np.testing.assert_allclose(dense.A11, sparse.A11, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(dense.ARR, sparse.ARR, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(dense.AR1.toarray(), sparse.AR1.toarray(), rtol=1e-12, atol=1e-10)


def test_large_response_offset_loses_no_precision():
    """Adding a constant to the response changes the intercept only. The response enters the
    cross-products centered, so y = Reaction + 1e6 (or a temperature of 310 +- 0.1 K) gives the same
    theta, criterion and Satterthwaite df as the original (before: df 22.3 instead of 18)."""
    import warnings

    import mixedmodels as mm

    s = mm.datasets.load("sleepstudy").copy()
    base = mm.lmer("Reaction ~ Days + (Days | Subject)", s, REML=False)
    s["Reaction"] = s["Reaction"] + 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no spurious convergence warnings either
        big = mm.lmer("Reaction ~ Days + (Days | Subject)", s, REML=False)
    np.testing.assert_allclose(big.theta, base.theta, rtol=1e-6)
    assert big.objective == pytest.approx(base.objective, abs=1e-6)
    assert big.fixef["(Intercept)"] - base.fixef["(Intercept)"] == pytest.approx(1e6, abs=1e-6)
    assert big.fixef["Days"] == pytest.approx(base.fixef["Days"], rel=1e-9)
    np.testing.assert_allclose(big.coef_table()["df"], base.coef_table()["df"], rtol=1e-6)
    # the profile and the bootstrap refits work on the shifted response too
    ci_b = big.confint("Wald")
    ci_a = base.confint("Wald")
    np.testing.assert_allclose(ci_b.iloc[-1].to_numpy(), ci_a.iloc[-1].to_numpy(), rtol=1e-8)


def test_small_variation_around_a_large_mean():
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(12), 10)
    day = np.tile(np.arange(10.0), 12)
    y = 310.0 + 0.05 * rng.normal(size=12)[g] + 0.002 * day + 0.02 * rng.normal(size=120)
    import pandas as pd

    import mixedmodels as mm

    d = pd.DataFrame({"y": y, "day": day, "g": g.astype(str)})
    a = mm.lmer("y ~ day + (1 | g)", d)
    b = mm.lmer("I(y - 310) ~ day + (1 | g)", d)
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-7)
    assert a.objective == pytest.approx(b.objective, abs=1e-7)
    np.testing.assert_allclose(a.coef_table()["df"], b.coef_table()["df"], rtol=1e-6)

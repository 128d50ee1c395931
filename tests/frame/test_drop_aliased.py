"""Aliased fixed-effect columns are found on the cross-product X'X, with the same decisions as R's
qr(X, tol = 1e-7) made on X itself (Gram-Schmidt with reorthogonalization, the former algorithm)."""

import numpy as np
import pytest

from mixedmodels.frame import design


def gram_schmidt_reference(X, tol=1e-7):
    """The column-by-column test on X itself (what the package did before the cross-product screen)."""
    keep, Q = [], np.zeros((X.shape[0], 0))
    for j in range(X.shape[1]):
        x = X[:, j]
        big = np.abs(x).max() if len(x) else 0.0
        if big == 0:
            continue
        x = x / big
        r = x - Q @ (Q.T @ x)
        r = r - Q @ (Q.T @ r)
        if np.linalg.norm(r) > tol * np.linalg.norm(x):
            keep.append(j)
            Q = np.column_stack([Q, r / np.linalg.norm(r)])
    return keep


@pytest.mark.parametrize("seed", range(40))
def test_same_columns_as_the_test_on_x(seed):
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(5, 80)), int(rng.integers(1, 14))
    X = rng.normal(size=(n, p))
    if p > 2:
        # an aliased (or nearly aliased) column: exact, just below and above the tolerance
        X[:, rng.integers(2, p)] = 2 * X[:, 0] - X[:, 1] + X[:, 1] * rng.choice([0.0, 1e-9, 1e-6, 1e-3])
    if rng.random() < 0.3:
        X[:, rng.integers(p)] = 0.0
    if rng.random() < 0.3:
        X *= 1e-200  # scaled per column: tiny columns are not zero
    assert design._drop_aliased(X, []) == gram_schmidt_reference(X)


def test_factor_dummies_with_an_empty_cell():
    """An interaction of two factors with an empty cell: its column is all zero and dropped; a column
    that is the sum of others is dropped too."""
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 3, 200), rng.integers(0, 2, 200)
    b[a == 2] = 0  # the cell (2, 1) is empty
    X = np.column_stack([np.ones(200), a == 1, a == 2, b == 1, (a == 1) & (b == 1), (a == 2) & (b == 1),
                         (a == 1) + (a == 2)]).astype(float)
    assert design._drop_aliased(X, []) == [0, 1, 2, 3, 4] == gram_schmidt_reference(X)

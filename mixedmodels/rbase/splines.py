"""R's ``splines`` package: ``splineDesign``, ``bs`` and ``ns``, ported so that the bases equal R's column
for column (not just in span), including their extrapolation beyond the boundary knots.

* :func:`spline_design` is ``splines::splineDesign`` (the C routine ``spline_basis``: de Boor's recursion for
  values, the coefficient-differencing evaluation for derivatives, R's cursor rule at the right boundary);
* :func:`bs_basis` is ``splines::bs``: interior knots at quantiles (type 7) of x for ``df``; values beyond
  explicit ``Boundary.knots`` from the Taylor expansion at a pivot a quarter of the way to the next knot;
* :func:`ns_basis` is ``splines::ns``: the cubic B-spline basis projected on the null space of the second
  derivatives at the boundary knots, through LINPACK's Householder QR (``dqrdc2``/``dqrsl``, which fix the
  columns' signs) as R's ``qr.qty``; linear beyond the boundary knots.

:func:`bs_basis` and :func:`ns_basis` also return what R's ``makepredictcall`` keeps for prediction
(knots, boundary knots, intercept, degree); a :class:`SplineSpec` built from it evaluates the basis at new
x exactly as ``predict(<ns/bs>, newx)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import warn as warn_r
from ..errors import OutsideBoundaryWarning
from .rmath import quantile7, seq_length_out

__all__ = ["SplineSpec", "spline_design", "bs_basis", "ns_basis"]


@dataclass
class SplineSpec:
    """The arguments of one ``ns``/``bs`` call after R's defaults: what ``makepredictcall`` stores.

    ``knots`` are the interior knots (None: from ``df``), ``boundary`` the boundary knots (None:
    ``range(x)``).
    """

    df: int | None = None
    knots: list[float] | None = None
    degree: int = 3
    intercept: bool = False
    boundary: list[float] | None = None


# ------------------------------------------------------------------------------------ splineDesign
def _cursor(knots: np.ndarray, x: float, order: int) -> tuple[int, bool]:
    """``set_cursor``: the index of the first knot > x (R's rule), the last legitimate one at the right
    boundary (flagged)."""
    nk = len(knots)
    curs = -1
    for i in range(nk):
        if knots[i] >= x:
            curs = i
        if knots[i] > x:
            break
    boundary = False
    if curs > nk - order:
        last = nk - order
        if x == knots[last]:
            boundary, curs = True, last
    return curs, boundary


def _basis_funcs(knots: np.ndarray, curs: int, x: float, order: int) -> np.ndarray:
    """``basis_funcs``: the ``order`` B-splines that are non-zero at x (de Boor's recursion)."""
    ordm1 = order - 1
    rdel = [knots[curs + i] - x for i in range(ordm1)]
    ldel = [x - knots[curs - (i + 1)] for i in range(ordm1)]
    b = [0.0] * order
    b[0] = 1.0
    for j in range(1, order):
        saved = 0.0
        for r in range(j):
            den = rdel[r] + ldel[j - 1 - r]
            if den != 0:
                term = b[r] / den
                b[r] = saved + rdel[r] * term
                saved = ldel[j - 1 - r] * term
            else:
                if r != 0 or rdel[r] != 0.0:
                    b[r] = saved
                saved = 0.0
        b[j] = saved
    return np.array(b)


def _evaluate(knots: np.ndarray, curs: int, boundary: bool, x: float, order: int, a: list[float],
              nder: int) -> float:
    """``evaluate``: the ``nder``-th derivative of the spline with coefficients ``a`` (of the ``order``
    B-splines non-zero at x), by differencing the coefficients."""
    ordm1 = order - 1
    if boundary and nder == ordm1:  # R: the value is arbitrary there
        return 0.0
    a = list(a)
    outer = ordm1
    ti = curs
    for _ in range(nder):
        for k in range(outer):
            lpt = ti - outer + k
            a[k] = outer * (a[k + 1] - a[k]) / (knots[lpt + outer] - knots[lpt])
        outer -= 1
    rdel = [knots[curs + i] - x for i in range(outer)]
    ldel = [x - knots[curs - (i + 1)] for i in range(outer)]
    while outer > 0:
        outer -= 1
        for k in range(outer + 1):
            lp = ldel[outer - k]
            rp = rdel[k]
            a[k] = (a[k + 1] * lp + a[k] * rp) / (rp + lp)
    return a[0]


def spline_design(knots, x, order: int = 4, derivs=0) -> np.ndarray:
    """``splines::splineDesign(knots, x, ord, derivs)``: the (len(x), len(knots) - order) matrix of the
    B-splines (or their ``derivs``-th derivatives, recycled over x) at x, which must lie within
    ``knots[order - 1] .. knots[-order]``."""
    knots = np.sort(np.asarray(knots, dtype=float))
    x = np.atleast_1d(np.asarray(x, dtype=float))
    derivs = np.atleast_1d(np.asarray(derivs, dtype=int))
    nk = len(knots)
    ncoef = nk - order
    out = np.zeros((len(x), ncoef))
    lo, hi = knots[order - 1], knots[nk - order]
    if np.any((x < lo) | (x > hi)):
        raise ValueError(f"the 'x' data must be in the range {lo:g} to {hi:g}")
    for i, xi in enumerate(x):
        curs, boundary = _cursor(knots, xi, order)
        if curs < order or curs > nk - order:
            out[i, :] = np.nan
            continue
        der = int(derivs[i % len(derivs)])
        if der >= order:
            raise ValueError(f"derivs = {der} >= ord = {order}, but should be in {{0,..,ord-1}}")
        if der > 0:
            vals = np.array([_evaluate(knots, curs, boundary, xi, order,
                                       [1.0 if j == k else 0.0 for j in range(order)], der)
                             for k in range(order)])
        else:
            vals = _basis_funcs(knots, curs, xi, order)
        off = curs - order
        out[i, off:off + order] = vals
    return out


def _spline_design_fast(knots: np.ndarray, x: np.ndarray, order: int) -> np.ndarray:
    """:func:`spline_design` of values (``derivs = 0``) for many x at once: the same recursion, vectorized
    over x (the cursor and de Boor's triangle per row)."""
    nk = len(knots)
    ncoef = nk - order
    n = len(x)
    out = np.zeros((n, ncoef))
    if n == 0:
        return out
    curs = np.searchsorted(knots, x, side="right")  # the first knot > x
    at_end = curs == nk
    curs = np.where(at_end & (knots[-1] == x), nk - 1, curs)
    curs = np.where(at_end & (knots[-1] < x), -1, curs)
    last = nk - order
    curs = np.where((curs > last) & (x == knots[last]), last, curs)
    bad = (curs < order) | (curs > last)
    c = np.where(bad, order, curs)
    ordm1 = order - 1
    rdel = np.stack([knots[c + i] - x for i in range(ordm1)]) if ordm1 else np.zeros((0, n))
    ldel = np.stack([x - knots[c - (i + 1)] for i in range(ordm1)]) if ordm1 else np.zeros((0, n))
    b = np.zeros((order, n))
    b[0] = 1.0
    for j in range(1, order):
        saved = np.zeros(n)
        for r in range(j):
            den = rdel[r] + ldel[j - 1 - r]
            nz = den != 0
            with np.errstate(divide="ignore", invalid="ignore"):
                term = np.where(nz, b[r] / np.where(nz, den, 1.0), 0.0)
            keep_zero = ~nz & ~((r != 0) | (rdel[r] != 0.0))
            new_br = np.where(nz, saved + rdel[r] * term, np.where(keep_zero, b[r], saved))
            saved = np.where(nz, ldel[j - 1 - r] * term, 0.0)
            b[r] = new_br
        b[j] = saved
    rows = np.arange(n)
    for k in range(order):
        out[rows, c - order + k] = b[k]
    out[bad] = np.nan
    return out


# ------------------------------------------------------------------------------------ LINPACK QR
def _householder_qr(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LINPACK ``dqrdc2`` without pivoting (the matrices here have full column rank): the compact QR and
    ``qraux``, with LINPACK's sign convention (``R[l, l] = -sign(a_ll) * norm``)."""
    x = np.array(A, dtype=float)
    n, p = x.shape
    qraux = np.zeros(p)
    for l in range(min(n, p)):
        if l == n - 1:
            break
        nrm = float(np.linalg.norm(x[l:, l]))
        if nrm == 0.0:
            continue
        if x[l, l] != 0.0:
            nrm = math.copysign(nrm, x[l, l])
        x[l:, l] /= nrm
        x[l, l] += 1.0
        for j in range(l + 1, p):
            t = -np.dot(x[l:, l], x[l:, j]) / x[l, l]
            x[l:, j] += t * x[l:, l]
        qraux[l] = x[l, l]
        x[l, l] = -nrm
    return x, qraux


def _qr_qty(qr: np.ndarray, qraux: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """LINPACK ``dqrsl``'s ``Q^T y`` for each column of Y (R's ``qr.qty``)."""
    n, p = qr.shape
    Y = np.array(Y, dtype=float)
    for j in range(min(p, n - 1)):
        if qraux[j] == 0.0:
            continue
        v = qr[j:, j].copy()
        v[0] = qraux[j]
        t = -(v @ Y[j:, :]) / v[0]
        Y[j:, :] += np.outer(v, t)
    return Y


# ------------------------------------------------------------------------------------ bs and ns
def _interior_knots(x: np.ndarray, outside: np.ndarray, n_interior: int) -> np.ndarray:
    """R: ``quantile(x[!outside], seq.int(0, 1, length.out = n + 2)[-c(1, n + 2)])``."""
    if n_interior <= 0:
        return np.zeros(0)
    probs = seq_length_out(0.0, 1.0, n_interior + 2)[1:-1]
    return quantile7(x[~outside], probs)


def _prepare(x: np.ndarray, spec: SplineSpec, n_interior_from_df) -> tuple:
    """The shared start of ``bs``/``ns``: missing values aside, boundary knots (``range(x)`` unless given,
    then the rows outside them) and interior knots (from ``df`` by quantiles unless given)."""
    nax = np.isnan(x)
    xx = x[~nax]
    if spec.boundary is not None:
        bk = sorted(float(b) for b in spec.boundary)
        ol, orr = xx < bk[0], xx > bk[1]
    else:
        if len(xx) == 0:
            raise ValueError("no non-missing values")
        bk = [float(xx.min()), float(xx.max())]
        if len(xx) == 1:  # R (ns): a single value gets boundary knots x * 7/8 and x * 9/8
            bk = [bk[0] * 7 / 8, bk[0] * 9 / 8]
        ol = orr = np.zeros(len(xx), dtype=bool)
    if bk[0] == bk[1]:
        raise ValueError(f"the boundary knots coincide ({bk[0]:g}): x takes a single value")
    outside = ol | orr
    if spec.knots is None and spec.df is not None:
        knots = _interior_knots(xx, outside, n_interior_from_df(spec.df))
    else:
        knots = np.asarray(spec.knots if spec.knots is not None else [], dtype=float)
    return nax, xx, bk, ol, orr, knots


def _fill_na(nax: np.ndarray, basis: np.ndarray) -> np.ndarray:
    out = np.full((len(nax), basis.shape[1]), np.nan)
    out[~nax] = basis
    return out


def bs_basis(x: np.ndarray, spec: SplineSpec) -> tuple[np.ndarray, dict]:
    """``splines::bs(x, df, knots, degree, intercept, Boundary.knots)``: the B-spline basis and the state
    R's ``makepredictcall`` keeps (``knots``, ``boundary``, ``degree``, ``intercept``)."""
    degree = int(spec.degree)
    order = degree + 1
    if order <= 1:
        raise ValueError("'degree' must be integer >= 1")
    intercept = bool(spec.intercept)

    def n_interior(df):
        k = df - order + (1 - intercept)
        if k < 0:
            warn_r(f"'df' was too small; have used {order - (1 - intercept)}", UserWarning)
            k = 0
        return int(k)

    nax, xx, bk, ol, orr, knots = _prepare(np.asarray(x, dtype=float), spec, n_interior)
    aknots = np.sort(np.concatenate([np.repeat(bk, order), knots]))
    outside = ol | orr
    if outside.any():
        warn_r("some 'x' values beyond boundary knots may cause ill-conditioned bases",
              OutsideBoundaryWarning)
        derivs = np.arange(order)
        scalef = np.array([math.gamma(k) for k in range(1, order + 1)])  # factorials
        basis = np.zeros((len(xx), len(aknots) - degree - 1))
        e = 0.25
        for side, mask in ((0, ol), (1, orr)):
            if not mask.any():
                continue
            if side == 0:
                pivot = (1 - e) * bk[0] + e * aknots[order]
            else:
                pivot = (1 - e) * bk[1] + e * aknots[len(aknots) - order - 1]
            xs = np.column_stack([np.ones(mask.sum())] + [(xx[mask] - pivot) ** k for k in range(1, degree + 1)])
            tt = spline_design(aknots, np.full(order, pivot), order, derivs)
            basis[mask] = xs @ (tt / scalef[:, None])
        inside = ~outside
        if inside.any():
            basis[inside] = _spline_design_fast(aknots, xx[inside], order)
    else:
        basis = _spline_design_fast(aknots, xx, order)
    if not intercept:
        basis = basis[:, 1:]
    state = {"knots": [float(k) for k in knots], "boundary": list(bk), "degree": degree,
             "intercept": intercept}
    return _fill_na(nax, basis), state


def ns_basis(x: np.ndarray, spec: SplineSpec) -> tuple[np.ndarray, dict]:
    """``splines::ns(x, df, knots, intercept, Boundary.knots)``: the natural cubic spline basis and the
    state R's ``makepredictcall`` keeps (``knots``, ``boundary``, ``intercept``)."""
    intercept = bool(spec.intercept)

    def n_interior(df):
        k = df - 1 - intercept
        if k < 0:
            warn_r(f"'df' was too small; have used {1 + intercept}", UserWarning)
            k = 0
        return int(k)

    nax, xx, bk, ol, orr, knots = _prepare(np.asarray(x, dtype=float), spec, n_interior)
    aknots = np.sort(np.concatenate([np.repeat(bk, 4), knots]))
    outside = ol | orr
    if outside.any():
        basis = np.zeros((len(xx), len(knots) + 4))
        for side, mask in ((0, ol), (1, orr)):
            if not mask.any():
                continue
            pivot = bk[side]
            xs = np.column_stack([np.ones(mask.sum()), xx[mask] - pivot])
            tt = spline_design(aknots, [pivot, pivot], 4, [0, 1])
            basis[mask] = xs @ tt
        inside = ~outside
        if inside.any():
            basis[inside] = _spline_design_fast(aknots, xx[inside], 4)
    else:
        basis = _spline_design_fast(aknots, xx, 4)
    const = spline_design(aknots, bk, 4, [2, 2])
    if not intercept:
        const = const[:, 1:]
        basis = basis[:, 1:]
    qr, qraux = _householder_qr(const.T)
    basis = _qr_qty(qr, qraux, basis.T).T[:, 2:]
    state = {"knots": [float(k) for k in knots], "boundary": list(bk), "intercept": intercept}
    return _fill_na(nax, basis), state

"""Ports of base R's numeric routines (one port each, used everywhere in the package): ``round``
(``src/nmath/fround.c``, R >= 4.0.0's algorithm), ``signif`` (``fprec.c``), ``R_pow_di``,
``seq.int(from, to, length.out =)``, ``quantile(type = 7)`` and ``.bincode`` (``cut``). The formatting
routines (``format``, ``formatC``, ``format.pval``, ``zapsmall``, ...) are in :mod:`mixedmodels.rbase.rformat`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["r_round", "r_signif", "r_pow_di", "seq_length_out", "quantile7", "bincode"]

_DBL_DIG = 15
_MAX_DIGITS = 308

_M_LOG10_2 = 0.301029995663981195213738894724


def r_pow_di(x: float, n: int) -> float:
    """Port of ``R_pow_di()`` (arithmetic.c): ``x^n`` by repeated squaring."""
    xn = 1.0
    if math.isnan(x):
        return x
    if n != 0:
        if not math.isfinite(x):
            return x ** float(n)
        is_neg = n < 0
        if is_neg:
            n = -n
        while True:
            if n & 1:
                xn *= x
            n >>= 1
            if n:
                x *= x
            else:
                break
        if is_neg:
            xn = 1.0 / xn
    return xn


def _logb(x: float) -> float:
    return float(math.frexp(x)[1] - 1)


def _nearbyint(x: float) -> float:
    return float(np.rint(x))


def _fround(x: float, digits: float) -> float:
    """Port of ``fround()`` (nmath/fround.c, R >= 4.0.0 algorithm)."""
    max10e = _MAX_DIGITS
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if not math.isfinite(x):
        return x
    if digits > 308 + 15 or x == 0.0:
        return x
    if digits < -max10e:
        return 0.0
    if digits == 0.0:
        return _nearbyint(x)
    dig = int(math.floor(digits + 0.5))
    sgn = 1.0
    if x < 0.0:
        sgn = -1.0
        x = -x
    l10x = _M_LOG10_2 * (0.5 + _logb(x))
    if l10x + dig > _DBL_DIG:
        return sgn * x
    if dig <= max10e:
        pow10 = r_pow_di(10.0, dig)
        x10 = x * pow10
        i10 = math.floor(x10)
        xd = i10 / pow10
        xu = math.ceil(x10) / pow10
    else:
        e10 = dig - max10e
        p10 = r_pow_di(10.0, e10)
        pow10 = r_pow_di(10.0, max10e)
        x10 = (x * pow10) * p10
        i10 = math.floor(x10)
        xd = i10 / pow10 / p10
        xu = math.ceil(x10) / pow10 / p10
    du = xu - x
    dd = x - xd
    return sgn * (xu if (du < dd or (math.fmod(i10, 2.0) == 1 and du == dd)) else xd)


def _fprec(x: float, digits: float) -> float:
    """Port of ``fprec()`` (nmath/fprec.c), i.e. R's ``signif()``."""
    max10e = _MAX_DIGITS
    if math.isnan(x) or math.isnan(digits):
        return x + digits
    if not math.isfinite(x):
        return x
    if not math.isfinite(digits):
        if digits > 0.0:
            return x
        digits = 1.0
    if x == 0:
        return x
    dig = int(math.floor(abs(digits) + 0.5)) * (1 if digits >= 0 else -1)
    if dig > 22:
        return x
    if dig < 1:
        dig = 1
    sgn = 1.0
    if x < 0.0:
        sgn = -sgn
        x = -x
    l10 = math.log10(x)
    e10 = int(dig - 1 - math.floor(l10))
    if abs(l10) < max10e - 2:
        p10 = 1.0
        if e10 > max10e:
            p10 = r_pow_di(10.0, e10 - max10e)
            e10 = max10e
        if e10 > 0:
            pow10 = r_pow_di(10.0, e10)
            return sgn * (_nearbyint((x * pow10) * p10) / pow10) / p10
        pow10 = r_pow_di(10.0, -e10)
        return sgn * (_nearbyint(x / pow10) * pow10)
    do_round = max10e - l10 >= r_pow_di(10.0, -dig)
    e2 = dig + (1 if e10 > 0 else -1) * 22
    p10 = r_pow_di(10.0, e2)
    x *= p10
    big_p10 = r_pow_di(10.0, e10 - e2)
    x *= big_p10
    if do_round:
        x += 0.5
    x = math.floor(x) / p10
    return sgn * x / big_p10


def r_round(x: Any, digits: float = 0) -> Any:
    """R's ``round(x, digits)`` (``fround``): ``digits = 0`` rounds half to even (``round(2.5)`` is 2);
    otherwise of the two decimal candidates the one nearer to x *as a double* (``round(0.15, 1)`` is 0.1,
    as 0.15 is stored as 0.1499999...), which differs from NumPy's ``np.round`` on values such as 0.15,
    0.45 or 2.675. A float for a scalar, else a float64 array of the same shape."""
    if np.ndim(x) == 0:
        return _fround(float(x), float(digits))
    arr = np.asarray(x, dtype=float)
    digits = float(digits)
    if math.isnan(digits):
        return arr + digits
    if digits == 0.0:
        return np.rint(arr)
    out = arr.copy()
    for i in np.flatnonzero(np.isfinite(arr.ravel()) & (arr.ravel() != 0)):
        out.flat[i] = _fround(float(arr.flat[i]), digits)
    return out


def r_signif(x: Any, digits: float = 6) -> Any:
    """R's ``signif(x, digits)`` (``fprec``)."""
    if np.ndim(x) == 0:
        return _fprec(float(x), float(digits))
    arr = np.asarray(x, dtype=float)
    return np.vectorize(lambda v: _fprec(float(v), float(digits)), otypes=[float])(arr)


def seq_length_out(start: float, stop: float, n: int) -> np.ndarray:
    """R's ``seq.int(from, to, length.out = n)``: the first half counted up from ``from``, the second half
    down from ``to`` (so both ends are exact)."""
    out = np.empty(n)
    if n > 0:
        out[0] = start
    if n > 1:
        out[n - 1] = stop
    if n > 2:
        by = (stop - start) / (n - 1)
        for i in range(1, n - 1):
            out[i] = start + i * by if i < n // 2 else stop - (n - 1 - i) * by
    return out


def quantile7(x: Any, probs: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0)) -> np.ndarray:
    """R's ``quantile(x, probs, type = 7)`` with R's exact arithmetic.

    NaNs are removed first (``na.rm = TRUE``).
    """
    arr = np.asarray(x, dtype=float).ravel()
    xs = np.sort(arr[~np.isnan(arr)])
    n = len(xs)
    out = []
    for p in probs:
        p = min(1.0, max(0.0, float(p)))
        index = 1.0 + max(n - 1, 0) * p
        lo = int(math.floor(index))
        hi = int(math.ceil(index))
        qs = float(xs[lo - 1])
        if index > lo and float(xs[hi - 1]) != qs:
            h = index - lo
            qs = (1.0 - h) * qs + h * float(xs[hi - 1])
        out.append(qs)
    return np.array(out)


def bincode(x: np.ndarray, breaks: np.ndarray, right: bool, include_lowest: bool) -> np.ndarray:
    """R's ``.bincode``: the 1-based interval of each x among the sorted ``breaks`` (``(a, b]`` when
    ``right``, else ``[a, b)``; ``include_lowest`` closes the first, or with ``right = FALSE`` the last,
    interval), 0 for values outside the breaks or missing."""
    x = np.asarray(x, dtype=float)
    nb = len(breaks)
    codes = np.zeros(len(x), dtype=np.int64)
    ok = ~np.isnan(x)
    xs = x[ok]
    if right:
        c = np.searchsorted(breaks, xs, side="left")
        inside = (xs > breaks[0]) & (xs <= breaks[-1])
        if include_lowest:
            low = xs == breaks[0]
            c = np.where(low, 1, c)
            inside |= low
    else:
        c = np.searchsorted(breaks, xs, side="right")
        inside = (xs >= breaks[0]) & (xs < breaks[-1])
        if include_lowest:
            high = xs == breaks[-1]
            c = np.where(high, nb - 1, c)
            inside |= high
    codes[np.flatnonzero(ok)] = np.where(inside, c, 0)
    return codes

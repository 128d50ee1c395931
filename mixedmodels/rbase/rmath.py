"""Ports of the small numeric routines of base R that formula functions rely on, so that values, break
points and level labels come out exactly as R's: ``round`` (R >= 4.0.0's algorithm), ``seq.int(from, to,
length.out =)``, ``quantile(type = 7)``, ``formatC(x, digits =, width = 1)`` and ``.bincode`` (``cut``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["r_round", "seq_length_out", "quantile7", "format_c", "bincode"]

_DBL_DIG = 15
_MAX_DIGITS = 308
_LOG10_2 = math.log10(2.0)


def _round_one(x: float, dig: int) -> float:
    """R's ``private_rint``/``private_fround`` (src/nmath/fround.c, R >= 4.0.0) for one finite x != 0:
    of the two candidates ``floor(x * 10^d) / 10^d`` and ``ceiling(x * 10^d) / 10^d`` take the one nearer
    to x *as a double*, the even one on a tie; so ``round(0.15, 1)`` is 0.1 (0.15 is stored as
    0.1499999...) and ``round(2.5)`` is 2."""
    sgn = 1.0
    if x < 0:
        sgn, x = -1.0, -x
    if dig + (math.frexp(x)[1] - 1 + 0.5) * _LOG10_2 > _DBL_DIG:  # logb(x): more digits than a double has
        return sgn * x
    if dig <= _MAX_DIGITS:
        p10 = 10.0 ** dig if dig >= 0 else 1.0
        if dig >= 0:
            x10 = p10 * x
            i10 = math.floor(x10)
            xd, xu = i10 / p10, math.ceil(x10) / p10
        else:
            p10 = 10.0 ** (-dig)
            x10 = x / p10
            i10 = math.floor(x10)
            xd, xu = i10 * p10, math.ceil(x10) * p10
    else:  # very small numbers and many digits: two steps, as R does
        p10 = 10.0 ** _MAX_DIGITS
        x10 = p10 * x * 10.0 ** (dig - _MAX_DIGITS)
        i10 = math.floor(x10)
        xd = i10 / p10 / 10.0 ** (dig - _MAX_DIGITS)
        xu = math.ceil(x10) / p10 / 10.0 ** (dig - _MAX_DIGITS)
    du, dd = xu - x, x - xd
    return sgn * (xu if du < dd or (du == dd and math.fmod(i10, 2.0) == 1) else xd)


def r_round(x: np.ndarray, digits: float = 0.0) -> np.ndarray:
    """R's ``round(x, digits)``: IEC 60559 round half to even for ``digits = 0`` (``round(0.5)`` is 0,
    ``round(2.5)`` 2); otherwise R 4's choice of the nearer of the two decimal candidates as doubles, which
    differs from NumPy's ``np.round`` (scale, rint, unscale) on values such as 0.15, 0.45 or 2.675."""
    x = np.asarray(x, dtype=float)
    if math.isnan(digits):
        return x + digits
    if digits > _MAX_DIGITS + 15:
        return x.copy()
    if digits < -_MAX_DIGITS:
        return np.where(np.isfinite(x), 0.0, x)
    if digits == 0:
        return np.rint(x)
    dig = int(math.floor(digits + 0.5))
    out = x.copy()
    for i in np.flatnonzero(np.isfinite(x) & (x != 0)):
        out[i] = _round_one(float(x[i]), dig)
    return out


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


def quantile7(x: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """R's ``quantile(x, probs, type = 7)`` (x without missing values), with R's interpolation formula
    ``(1 - h) * x[lo] + h * x[hi]``."""
    xs = np.sort(np.asarray(x, dtype=float))
    n = len(xs)
    probs = np.clip(np.asarray(probs, dtype=float), 0.0, 1.0)
    index = 1 + max(n - 1, 0) * probs
    lo = np.floor(index).astype(int)
    hi = np.ceil(index).astype(int)
    qs = xs[lo - 1].copy()
    for k in range(len(probs)):
        if index[k] > lo[k] and xs[hi[k] - 1] != qs[k]:
            h = index[k] - lo[k]
            qs[k] = (1 - h) * qs[k] + h * xs[hi[k] - 1]
    return qs


def format_c(x, digits: int) -> list[str]:
    """R's ``formatC(x, digits = digits, width = 1)`` of doubles: C's ``%.<digits>g`` for finite values;
    ``Inf``, ``-Inf`` and ``NaN`` as R writes them, right-justified to their common width (R formats them
    together with ``format``: ``c(-Inf, 1, Inf)`` gives ``"-Inf" "1" " Inf"``)."""
    values = [float(v) for v in np.atleast_1d(x)]
    special = {k: ("NaN" if math.isnan(v) else "Inf" if v > 0 else "-Inf")
               for k, v in enumerate(values) if not math.isfinite(v)}
    width = max((len(s) for s in special.values()), default=1)
    return [special[k].rjust(width) if k in special else "%.*g" % (digits, v + 0.0)
            for k, v in enumerate(values)]


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

"""R's number/text formatting primitives, ported so printed output matches R.

Everything here mirrors R 4.2.2 (``src/main/format.c``, ``printutils.c``,
``printvector.c``, ``printarray.c``, ``builtin.c`` (``cat``), ``character.c``
(``abbreviate``), ``src/nmath/fround.c`` / ``fprec.c`` (``round`` /
``signif``) and the R-level functions ``format.default``, ``formatC``,
``format.pval``, ``zapsmall``, ``quantile`` (type 7), ``symnum``,
``strwrap``, ``printCoefmat`` and ``print.anova``) with the default options
of an R session: ``digits = 7``, ``scipen = 0``, ``width = 80``,
``OutDec = "."``, ``show.signif.stars = TRUE`` and a UTF-8 locale.

Conventions
-----------
* Numbers are Python floats / numpy arrays of float64.  R's ``NA_real_`` and
  ``NaN`` are both represented by ``nan`` (printed as ``"NA"`` by the
  ``format`` functions, as R does for ``NA``).
* Functions that emulate *printing* return a list of lines (no trailing
  newline characters); lines keep R's trailing blanks.
* Column/row indices are 0-based (R's are 1-based).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .rmath import r_round

__all__ = [
    "R_DIGITS",
    "R_WIDTH",
    "DBL_EPSILON",
    "format_real_info",
    "encode_real",
    "format_num",
    "format_str",
    "format_c",
    "zapsmall",
    "format_pval",
    "symnum_stars",
    "stars_legend",
    "abbreviate",
    "strwrap",
    "cat_fill",
    "print_named_vector",
    "print_named_real",
    "print_matrix",
    "print_coefmat",
    "print_anova",
]

#: ``getOption("digits")`` of a default R session.
R_DIGITS = 7
#: ``getOption("width")`` of a default R session.
R_WIDTH = 80
#: ``.Machine$double.eps``.
DBL_EPSILON = 2.220446049250313e-16

_NA_WIDTH = 2  # R_print.na_width: nchar("NA")
_DBL_DIG = 15
_KP_MAX = 27
# format.c: ``static const long double tbl[] = {1e00, ..., 1e27}``.  The C
# literals are *double* constants converted to long double, so build them
# the same way (exact up to 1e22).
_TBL = [np.longdouble(float(f"1e{k}")) for k in range(_KP_MAX + 1)]
_LD10 = np.longdouble(10.0)


def _as_floats(x: Any) -> list[float]:
    arr = np.asarray(x, dtype=float).ravel()
    return [float(v) for v in arr]


# ---------------------------------------------------------------------------
# format.c: scientific() and formatReal()
# ---------------------------------------------------------------------------


def _scientific(x: float, digits: int) -> tuple[int, int, int, bool]:
    """Port of ``scientific()`` (format.c, long-double branch).

    Returns ``(neg, kpower, nsig, roundingwidens)`` for finite ``x``, where
    ``|x| ~= alpha * 10^kpower`` with ``1 <= alpha < 10`` after rounding to
    ``digits`` significant digits and ``nsig`` is the number of significant
    digits actually needed (trailing zeros dropped).
    """
    if x == 0.0:
        return 0, 0, 1, False
    neg = 1 if x < 0.0 else 0
    r = -x if neg else x
    if digits >= _DBL_DIG + 1:
        # format_via_sprintf()
        buff = "%#.*e" % (digits - 1, r)
        kpower = int(buff[digits + 1 + 1 :])
        i = digits
        while i >= 2:
            if buff[i] != "0":
                break
            i -= 1
        return neg, kpower, i, False
    kp = int(math.floor(math.log10(r))) - digits + 1
    r_prec = np.longdouble(r)
    if abs(kp) <= _KP_MAX:
        if kp > 0:
            r_prec = r_prec / _TBL[kp]
        elif kp < 0:
            r_prec = r_prec * _TBL[-kp]
    else:
        r_prec = r_prec / np.power(_LD10, np.longdouble(kp))
    if r_prec < _TBL[digits - 1]:
        r_prec = r_prec * _LD10
        kp -= 1
    # nearbyintl(): round half to even in long double, then to double.
    alpha = float(np.rint(r_prec))
    nsig = digits
    for _ in range(1, digits + 1):
        alpha /= 10.0
        if alpha == math.floor(alpha):
            nsig -= 1
        else:
            break
    if nsig == 0 and digits > 0:
        nsig = 1
        kp += 1
    kpower = kp + digits - 1
    rgt = digits - kpower
    rgt = 0 if rgt < 0 else (_KP_MAX if rgt > _KP_MAX else rgt)
    fuzz = 0.5 / float(_TBL[rgt])
    roundingwidens = bool(
        0 < kpower <= _KP_MAX and np.longdouble(r) < _TBL[kpower] - np.longdouble(fuzz)
    )
    return neg, kpower, nsig, roundingwidens


def format_real_info(x: Any, digits: int = R_DIGITS, nsmall: int = 0,
                     scipen: int = 0) -> tuple[int, int, int]:
    """Port of ``formatReal()`` (format.c): the common ``(w, d, e)`` for a vector.

    ``w`` is the field width, ``d`` the number of decimals (fixed) or of
    mantissa decimals (scientific), ``e`` is 0 for fixed notation, else the
    number of exponent digits minus one.  The values are chosen jointly for
    all elements: the minimal number of significant digits (``<= digits``)
    such that every element shows ``digits`` significant digits, and fixed
    notation whenever it is not wider than scientific (+ ``scipen``).
    This is what ``format(x, digits=, nsmall=)`` and ``print(x)`` use.
    """
    vals = _as_floats(x)
    naflag = nanflag = posinf = neginf = False
    neg = 0
    mnl = 2**31 - 1
    int_min = -(2**31)
    mxl = rgt = mxsl = mxns = int_min
    for v in vals:
        if not math.isfinite(v):
            if math.isnan(v):
                naflag = True  # NA and NaN are not distinguished here
            elif v > 0:
                posinf = True
            else:
                neginf = True
            continue
        neg_i, kpower, nsig, roundingwidens = _scientific(v, digits)
        left = kpower + 1
        if roundingwidens:
            left -= 1
        sleft = neg_i + (1 if left <= 0 else left)
        right = nsig - left
        if neg_i:
            neg = 1
        rgt = max(rgt, right)
        mxl = max(mxl, left)
        mnl = min(mnl, left)
        mxsl = max(mxsl, sleft)
        mxns = max(mxns, nsig)
    if digits == 0:
        rgt = 0
    if mxl < 0:
        mxsl = 1 + neg
    if rgt < 0:
        rgt = 0
    w_f = mxsl + rgt + (rgt != 0)
    e = 2 if (mxl > 100 or mnl <= -99) else 1
    if mxns != int_min:
        d = mxns - 1
        w = neg + (d > 0) + d + 4 + e
        if w_f <= w + scipen:
            e = 0
            if nsmall > rgt:
                rgt = nsmall
                w_f = mxsl + rgt + (rgt != 0)
            d = rgt
            w = w_f
    else:
        w = d = e = 0
    if naflag and w < _NA_WIDTH:
        w = _NA_WIDTH
    if nanflag and w < 3:
        w = 3
    if posinf and w < 3:
        w = 3
    if neginf and w < 4:
        w = 4
    return w, d, e


def encode_real(x: float, w: int, d: int, e: int, na_string: str = "NA") -> str:
    """Port of ``EncodeReal0()`` (printutils.c): C ``sprintf`` with ``(w, d, e)``.

    Python's ``%`` formatting rounds the binary value exactly like glibc's
    ``sprintf`` (correct decimal rounding, ties to even on the exact value).
    """
    x = float(x)
    if x == 0.0:
        x = 0.0  # drop the sign of negative zero, as R does
    if not math.isfinite(x):
        if math.isnan(x):
            s = na_string
        elif x > 0:
            s = "Inf"
        else:
            s = "-Inf"
        return s.rjust(w)
    if e:
        if d:
            return "%#*.*e" % (w, d, x)
        return "%*.*e" % (w, d, x)
    return "%*.*f" % (w, d, x)


def format_num(x: Any, digits: int | None = None, nsmall: int = 0,
               width: int | None = None, trim: bool = False,
               scientific: bool | int | None = None,
               na_string: str = "NA") -> list[str]:
    """R's ``format.default()`` for a double vector (``do_format`` in paste.c).

    ``digits=None`` means ``getOption("digits")`` (7).  All elements share
    one format (see :func:`format_real_info`) and, unless ``trim``, one width.
    ``scientific`` as in R: ``None``/NA -> use scipen 0, ``True`` -> force
    scientific, ``False`` -> force fixed, an int -> used as ``scipen``.
    NaN elements print as ``na_string`` (R's ``NA``; pass ``"NaN"`` where
    the value is a genuine NaN, e.g. a correlation of a zero-variance term).
    """
    vals = _as_floats(x)
    if not vals:
        return []
    dig = R_DIGITS if digits is None else int(digits)
    if scientific is None:
        scipen = 0
    elif isinstance(scientific, bool):
        scipen = -99 if scientific else 310
    else:
        scipen = int(scientific)
    w, d, e = format_real_info(vals, dig, nsmall, scipen)
    if any(math.isnan(v) for v in vals):
        w = max(w, len(na_string))  # R: NA needs 2 columns, NaN 3
    if trim:
        w = 0
    if width is not None:
        w = max(w, int(width))
    return [encode_real(v, w, d, e, na_string) for v in vals]


def format_str(x: Sequence[str], justify: str = "left",
               width: int | None = None) -> list[str]:
    """R's ``format()`` of a character vector: pad to a common width.

    ``justify`` is one of ``"left"``, ``"right"``, ``"centre"``, ``"none"``.
    """
    xs = [str(s) for s in x]
    if justify == "none":
        return xs
    w = max([len(s) for s in xs] + [width or 0])
    out = []
    for s in xs:
        b = w - len(s)
        if justify == "right":
            out.append(" " * b + s)
        elif justify == "centre":
            out.append(" " * (b // 2) + s + " " * (b - b // 2))
        else:
            out.append(s + " " * b)
    return out


def format_c(x: Any, digits: int | None = None, width: int | None = None,
             format: str | None = None, flag: str = "",
             mode: str | None = None) -> list[str]:
    """R's ``formatC()`` (R wrapper + C ``str_signif``) for numbers.

    Supports ``format`` in ``"d", "f", "e", "E", "g", "G", "fg"`` and the
    flags ``"0+- #"``.  Each element is formatted on its own (no common
    width unless ``width`` is given), exactly as C ``sprintf`` would.
    """
    arr = np.asarray(x)
    vals = arr.ravel().tolist()
    n = len(vals)
    if n == 0:
        return []
    if mode is None:
        mode = "integer" if np.issubdtype(arr.dtype, np.integer) else "double"
    if format is None:
        format = "d" if mode == "integer" else "g"
    if format in ("f", "e", "E", "g", "G", "fg"):
        mode = "double"
    elif format == "d":
        mode = "integer"
    else:
        raise ValueError('format must be one of "f","e","E","g","G","fg","d"')
    nf = list(flag)
    ok = [v is not None and math.isfinite(float(v)) for v in vals]
    special = [None if o else ("NA" if (v is None or math.isnan(float(v)))
                               else ("Inf" if float(v) > 0 else "-Inf"))
               for v, o in zip(vals, ok)]
    xs = [float(v) if o else 0.0 for v, o in zip(vals, ok)]
    if width is None and digits is None:
        width = 1
    if digits is None:
        digits = 2 if mode == "integer" else 4
    elif digits < 0:
        digits = 6
    if width is None:
        width = digits + 1
    elif width == 0:
        width = digits
    if digits > 0 and "#" in nf:
        digits = -digits
    dig = abs(digits)
    rm_trailing_0 = digits >= 0
    res: list[str] = []
    if format == "d":
        form = "%" + flag + "*d"
        for v in xs:
            res.append(form % (width, int(v)))  # as.integer() truncates
    else:
        form = "%" + flag + "*.*" + ("g" if format == "fg" else format)
        f0 = "%" + flag + ".*f"
        for xx in xs:
            if format != "fg":
                res.append(form % (width, dig, xx))
                continue
            if xx == 0.0:
                res.append("0")
                continue
            xxx = abs(xx)
            iex = int(math.floor(math.log10(xxx) + 1e-12))
            big_x = r_round(xxx / 10.0**iex + 1e-12, dig - 1)
            if iex > 0 and big_x >= 10:
                xx = big_x * 10.0**iex
                iex += 1
            if iex == -4 and abs(xx) < 1e-4:
                iex = -5
            if iex < -4:
                s = f0 % (dig - 1 + -iex, xx)
                if rm_trailing_0:
                    s = s.rstrip("0")
                res.append(s)
            else:
                res.append(form % (width, iex + 1 if iex >= dig else dig, xx))
    # R writes the non-finite values with format(): padded together to their common width, at least
    # ``width`` (formatC(c(-Inf, 1, Inf), width = 1) is "-Inf" "1" " Inf")
    w = max([abs(width)] + [len(sp) for sp in special if sp is not None])
    for i, sp in enumerate(special):
        if sp is not None:
            res[i] = sp.ljust(w) if (flag == "-" or width < 0) else sp.rjust(w)
    return res


# ---------------------------------------------------------------------------
# zapsmall() (round() and signif() are in rmath)
# ---------------------------------------------------------------------------

def zapsmall(x: Any, digits: int = R_DIGITS) -> np.ndarray:
    """R's ``zapsmall()`` (R 4.2.2): round relative to the largest magnitude."""
    arr = np.asarray(x, dtype=float)
    ok = ~np.isnan(arr)
    if not ok.any():
        return arr
    mx = float(np.max(np.abs(arr[ok])))
    dig = max(0.0, digits - math.log10(mx)) if mx > 0 else float(digits)
    return r_round(arr, dig)


# ---------------------------------------------------------------------------
# format.pval(), symnum() stars
# ---------------------------------------------------------------------------


def format_pval(pv: Any, digits: int = max(1, R_DIGITS - 2),
                eps: float = DBL_EPSILON, na_form: str = "NA") -> list[str]:
    """Port of R's ``format.pval()``."""
    vals = _as_floats(pv)
    ina = [math.isnan(v) for v in vals]
    pvs = [v for v, na in zip(vals, ina) if not na]
    is0 = [v < eps for v in pvs]
    r = [""] * len(pvs)
    rr: list[str] = []
    if not all(is0):
        idx = [i for i, z in enumerate(is0) if not z]
        sub = [pvs[i] for i in idx]
        expo = [math.floor(math.log10(v if v > 0 else 1e-50)) for v in sub]
        fixp = [e >= -3 or (e == -4 and digits > 1) for e in expo]
        rr = [""] * len(sub)
        fix_idx = [k for k, f in enumerate(fixp) if f]
        sci_idx = [k for k, f in enumerate(fixp) if not f]
        if fix_idx:
            for k, s in zip(fix_idx, format_num([sub[k] for k in fix_idx], digits=digits)):
                rr[k] = s
        if sci_idx:
            for k, s in zip(sci_idx, format_num([sub[k] for k in sci_idx], digits=digits)):
                rr[k] = s
        for k, i in enumerate(idx):
            r[i] = rr[k]
    if any(is0):
        dig0 = max(1, digits - 2)
        if not all(is0):
            nc = max(len(s) for s in rr)
            if dig0 > 1 and dig0 + 6 > nc:
                dig0 = max(1, nc - 7)
            sep = "" if (dig0 == 1 and nc <= 6) else " "
        else:
            sep = "" if dig0 == 1 else " "
        txt = "<" + sep + format_num([eps], digits=dig0)[0]
        for i, z in enumerate(is0):
            if z:
                r[i] = txt
    out = []
    it = iter(r)
    for na in ina:
        out.append(na_form if na else next(it))
    return out


_STAR_CUTS = (0.0, 0.001, 0.01, 0.05, 0.1, 1.0)
_STAR_SYMBOLS = ("***", "**", "*", ".", " ")


def symnum_stars(pv: Any) -> list[str]:
    """``symnum(pv, corr = FALSE, na = FALSE, cutpoints = c(0, .001, .01, .05, .1, 1),
    symbols = c("***", "**", "*", ".", " "))`` as used by ``printCoefmat``.

    Intervals are ``[0, .001], (.001, .01], ...`` (``cut(include.lowest=TRUE)``);
    NA gives ``""``.  The result is not padded (R pads via ``format()``).
    """
    out = []
    for v in _as_floats(pv):
        if math.isnan(v):
            out.append("")  # na = FALSE
            continue
        sym = "NA"  # outside [0, 1]: cut() gives NA
        if 0.0 <= v <= 1.0:
            k = 0 if v <= _STAR_CUTS[1] else next(
                i for i in range(1, 5) if _STAR_CUTS[i] < v <= _STAR_CUTS[i + 1])
            sym = _STAR_SYMBOLS[k]
        elif abs(v) < 1e-5:  # symnum(): values within eps of the lowest cutpoint
            sym = _STAR_SYMBOLS[0]
        out.append(sym)
    return out


def stars_legend(utf8: bool = True) -> str:
    """The ``attr(symnum(...), "legend")`` string, with ``sQuote`` quotes."""
    lq, rq = ("\u2018", "\u2019") if utf8 else ("'", "'")
    cuts = ["0", "0.001", "0.01", "0.05", "0.1", "1"]
    parts = []
    for k, c in enumerate(cuts):
        parts.append(c)
        if k < len(_STAR_SYMBOLS):
            parts.append(lq + _STAR_SYMBOLS[k] + rq)
    return " ".join(parts)


# ---------------------------------------------------------------------------
# abbreviate()
# ---------------------------------------------------------------------------

_VOWELS = set("aeiou")


def _stripchars(inchar: str, minlen: int, usecl: bool) -> str:
    """Port of ``stripchars()`` (character.c), the C core of ``abbreviate``."""
    s = list(inchar)
    nspace = 0

    def done() -> str:
        upper = len(s)
        if upper > minlen:
            for i in range(upper - 1, 0, -1):
                if s[i].isspace():
                    del s[i]
        return "".join(s)

    if len(s) < minlen:
        return done()

    def firstchar(i: int) -> bool:
        return s[i - 1].isspace()

    def lastchar(i: int) -> bool:
        return (not s[i - 1].isspace()) and (i + 1 >= len(s) or s[i + 1].isspace())

    # trailing spaces are removed, internal spaces counted
    j = True
    for i in range(len(s) - 1, 0, -1):
        if i < len(s) and s[i].isspace():
            if j:
                del s[i:]
            else:
                nspace += 1
        else:
            j = False
        if len(s) - nspace <= minlen:
            return done()

    def sweep(pred: Any) -> bool:
        for i in range(len(s) - 1, 0, -1):
            if i < len(s) and pred(i):
                del s[i]
            if len(s) - nspace <= minlen:
                return True
        return False

    if usecl:
        if sweep(lambda i: s[i] in _VOWELS and lastchar(i)):
            return done()
        if sweep(lambda i: s[i] in _VOWELS and not firstchar(i)):
            return done()
        if sweep(lambda i: s[i].islower() and s[i].isascii() and lastchar(i)):
            return done()
        if sweep(lambda i: s[i].islower() and s[i].isascii() and not firstchar(i)):
            return done()
    sweep(lambda i: not firstchar(i) and not s[i].isspace())
    return done()


def _abbrev_internal(xs: list[str], minlength: int, use_classes: bool) -> list[str]:
    return [x if len(x) <= minlength else _stripchars(x, minlength, use_classes) for x in xs]


def abbreviate(names_arg: Sequence[str], minlength: int = 4, use_classes: bool = True,
               dot: bool = False, strict: bool = False,
               method: str = "left.kept") -> list[str]:
    """Port of R's ``abbreviate()`` (R wrapper + ``stripchars``).

    Used by lme4 for the "Correlation of Fixed Effects" labels:
    ``abbreviate(rn, minlength = 11)`` (rows) and ``abbreviate(rn, minlength = 6)``
    (columns), e.g. ``"(Intercept)" -> "(Intr)"``.
    """
    if minlength <= 0:
        return ["" for _ in names_arg]
    old = [re.sub(r" +$", "", re.sub(r"^ +", "", str(s))) for s in names_arg]
    seen: set[str] = set()
    uniq: list[str] = []
    for s in old:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    x = list(uniq)
    if strict:
        x = _abbrev_internal(uniq, minlength, use_classes)
    else:
        def chrev(v: list[str]) -> list[str]:
            return [t[::-1] for t in v]

        dup2 = [True] * len(uniq)
        these = list(uniq)
        while True:
            ans = _abbrev_internal(these, minlength, use_classes)
            k = 0
            for i in range(len(x)):
                if dup2[i]:
                    x[i] = ans[k]
                    k += 1
            dup2 = _duplicated(x)
            if not any(dup2):
                break
            if method == "both.sides":
                sel = [uniq[i] for i in range(len(uniq)) if dup2[i]]
                rev = chrev(_abbrev_internal(chrev(sel), minlength, use_classes))
                k = 0
                for i in range(len(x)):
                    if dup2[i]:
                        x[i] = rev[k]
                        k += 1
                dup2 = _duplicated(x)
                if not any(dup2):
                    break
            minlength += 1
            dupvals = {x[i] for i in range(len(x)) if dup2[i]}
            dup2 = [dup2[i] or (x[i] in dupvals) for i in range(len(x))]
            these = [uniq[i] for i in range(len(uniq)) if dup2[i]]
    mapping = dict(zip(uniq, x))
    res = [mapping[s] for s in old]
    if dot:
        res = [r + "." if r != o else r for r, o in zip(res, old)]
    return res


def _duplicated(x: Sequence[str]) -> list[bool]:
    seen: set[str] = set()
    out = []
    for s in x:
        out.append(s in seen)
        seen.add(s)
    return out


# ---------------------------------------------------------------------------
# strwrap() and cat(fill = TRUE)
# ---------------------------------------------------------------------------


def strwrap(x: str, width: int = int(0.9 * R_WIDTH), indent: int = 0,
            exdent: int = 0, prefix: str = "", initial: str | None = None) -> list[str]:
    """Port of R's ``strwrap()`` for one string (paragraphs split on blank lines)."""
    if initial is None:
        initial = prefix
    out: list[str] = []
    paras = re.split(r"\n[ \t\n]*\n", x)
    for para in paras:
        words = re.split(r"[ \t\n]", para)
        nc = [len(w) for w in words]
        if any(c == 0 for c in nc):
            keep_after = {i + 1 for i, w in enumerate(words)
                          if re.search(r"[.?!][)\"']{0,1}$", w)}
            z = [i for i, c in enumerate(nc) if c == 0 and i not in keep_after]
            words = [w for i, w in enumerate(words) if i not in z]
            nc = [c for i, c in enumerate(nc) if i not in z]
        if not words:
            out.extend(["", initial])
            continue
        current = 0
        lower = [1]
        upper: list[int] = []
        lens = list(np.cumsum([c + 1 for c in nc]))
        first = True
        max_len = width - len(initial) - indent
        while lens:
            k = max(sum(1 for v in lens if v <= max_len), 1)
            if first:
                first = False
                max_len = width - len(prefix) - exdent
            current += k
            if nc[current - 1] == 0:
                upper.append(current - 1)
            else:
                upper.append(current)
            if len(lens) > k:
                if nc[current] == 0:
                    current += 1
                    k += 1
                lower.append(current + 1)
            if len(lens) > k:
                lens = [v - lens[k - 1] for v in lens[k:]]
            else:
                lens = []
        for b in range(len(upper)):
            lead = (initial if b == 0 else prefix) + (" " * indent if b == 0 else " " * exdent)
            out.append(lead + " ".join(words[lower[b] - 1: upper[b]]))
        initial = prefix
    return out


def cat_fill(items: Sequence[str], sep: str = " ", fill: int = R_WIDTH) -> str:
    """Port of ``cat(..., sep = sep, fill = fill)`` (``do_cat`` in builtin.c).

    ``items`` are the already-converted elements.  A newline is inserted
    before an item when the running width (``strlen`` of items plus
    separators, in bytes, as in C) would exceed ``fill``; the separator is
    printed *before* that check, so a wrapped line keeps a trailing
    separator.  The output ends with ``"\\n"``.
    """
    out: list[str] = []
    width = 0
    sepw = len(sep)
    for idx, p in enumerate(items):
        if idx > 0:
            out.append(sep)
        w = len(p.encode("utf-8"))
        if idx > 0 and width + w + sepw > fill:
            out.append("\n")
            width = 0
        out.append(p)
        width += w + sepw
    out.append("\n")
    return "".join(out)


# ---------------------------------------------------------------------------
# print.default for named vectors and character matrices
# ---------------------------------------------------------------------------


def print_named_vector(values: Sequence[str], names: Sequence[str], gap: int = 1,
                       width: int = R_WIDTH) -> list[str]:
    """Port of ``printNamedVector`` for (already formatted) strings, ``quote = FALSE``.

    Names and values are right-justified to a common width ``w``; each cell
    is followed by ``gap`` blanks; ``width %/% (w + gap)`` cells per line.
    """
    vals = [str(v) for v in values]
    nms = [str(n) for n in names]
    n = len(vals)
    if n == 0:
        return ["named character(0)"]
    w = max(max(len(v) for v in vals), max(len(s) for s in nms))
    nperline = max(1, width // (w + gap))
    lines = []
    for start in range(0, n, nperline):
        chunk = range(start, min(n, start + nperline))
        lines.append("".join(nms[k].rjust(w) + " " * gap for k in chunk))
        lines.append("".join(vals[k].rjust(w) + " " * gap for k in chunk))
    return lines


def print_named_real(x: Any, names: Sequence[str], digits: int = R_DIGITS,
                     gap: int = 1, width: int = R_WIDTH) -> list[str]:
    """``print(<named numeric>, digits = digits)`` (``printNamedRealVector``)."""
    return print_named_vector(format_num(x, digits=digits), names, gap=gap, width=width)


def print_matrix(cells: Sequence[Sequence[str]], rownames: Sequence[str] | None,
                 colnames: Sequence[str] | None, right: bool = False, gap: int = 1,
                 width: int = R_WIDTH) -> list[str]:
    """Port of ``printStringMatrix`` (printarray.c), ``quote = FALSE``.

    ``cells[i][j]`` is the string in row ``i``, column ``j``.  Columns are
    ``max(entry width, label width)`` wide; entries and column labels are
    left-justified unless ``right``; row names are left-justified.  Columns
    that do not fit in ``width`` are printed in further blocks.
    """
    nr = len(cells)
    nc = len(cells[0]) if nr else (len(colnames) if colnames is not None else 0)
    if rownames is not None:
        rlabw = max([len(s) for s in rownames] + [0])
    else:
        rlabw = len(str(nr + 1)) + 3
    w = []
    for j in range(nc):
        wj = max([len(cells[i][j]) for i in range(nr)] + [0])
        clabw = len(colnames[j]) if colnames is not None else len(str(j + 1)) + 3
        w.append(max(wj, clabw))

    def rowlab(i: int) -> str:
        if rownames is not None:
            return rownames[i].ljust(rlabw)
        lab = f"[{i + 1},]"
        return lab.rjust(rlabw)

    def collab(j: int) -> str:
        lab = colnames[j] if colnames is not None else f"[,{j + 1}]"
        if right:
            return " " * (gap + w[j] - len(lab)) + lab
        return " " * gap + lab + " " * (w[j] - len(lab))

    lines: list[str] = []
    if nc == 0:
        lines.append(" " * rlabw)
        lines.extend(rowlab(i) for i in range(nr))
        return lines
    jmin = 0
    while jmin < nc:
        jmax = jmin
        tot = rlabw
        while True:
            tot += w[jmax] + gap
            jmax += 1
            if not (jmax < nc and tot + w[jmax] + gap < width):
                break
        lines.append(" " * rlabw + "".join(collab(j) for j in range(jmin, jmax)))
        for i in range(nr):
            row = rowlab(i)
            for j in range(jmin, jmax):
                s = cells[i][j]
                row += " " * gap + (s.rjust(w[j]) if right else s.ljust(w[j]))
            lines.append(row)
        jmin = jmax
    return lines


# ---------------------------------------------------------------------------
# printCoefmat() and print.anova()
# ---------------------------------------------------------------------------


def print_coefmat(x: Any, rownames: Sequence[str] | None, colnames: Sequence[str],
                  digits: int = max(3, R_DIGITS - 2), signif_stars: bool = True,
                  signif_legend: bool | None = None, dig_tst: int | None = None,
                  cs_ind: Sequence[int] | None = None, tst_ind: Sequence[int] | None = None,
                  zap_ind: Sequence[int] = (), p_values: bool | None = None,
                  has_pvalue: bool | None = None, eps_pvalue: float = DBL_EPSILON,
                  na_print: str = "NA", right: bool = True, width: int = R_WIDTH,
                  utf8: bool = True) -> list[str]:
    """Port of R's ``printCoefmat()``; returns the printed lines.

    ``x`` is an ``(n, nc)`` float matrix (NaN = NA); ``rownames=None`` prints
    R's ``[1,]`` labels.  ``cs_ind=None`` means
    R's default ``1:k`` and ``tst_ind=None`` means "missing" (R's default
    ``k + 1``); pass ``cs_ind=[]`` for R's ``cs.ind = NULL``.  Indices are
    0-based.
    """
    xm = np.array(x, dtype=float, copy=True)
    if xm.ndim != 2:
        raise ValueError("'x' must be coefficient matrix")
    nr, nc = xm.shape
    cn = list(colnames)
    if has_pvalue is None:
        has_pvalue = nc >= 4 and len(cn) > 0 and cn[nc - 1][:3] in ("Pr(", "p-v")
    if dig_tst is None:
        dig_tst = max(1, min(5, digits - 1))
    if signif_legend is None:
        signif_legend = signif_stars
    if p_values is None:
        p_values = has_pvalue
    elif p_values and not has_pvalue:
        raise ValueError("'P.values' is TRUE, but 'has.Pvalue' is not")
    if has_pvalue and not p_values:
        xm = xm[:, :-1]
        cn = cn[:-1]
        nc -= 1
        has_pvalue = False
    tst_missing = tst_ind is None
    k = nc - int(has_pvalue) - (1 if tst_missing else len(tst_ind or []))
    if cs_ind is None:
        cs_ind = list(range(k))
    if tst_missing:
        tst_ind = [k]
    cs_ind = list(cs_ind)
    tst_ind = list(tst_ind or [])
    cf = [["" for _ in range(nc)] for _ in range(nr)]
    ina = np.isnan(xm)
    ok = ~ina
    for i in zap_ind:
        xm[:, i] = zapsmall(xm[:, i], digits)
    if cs_ind:
        coef_se = xm[:, cs_ind]
        acs = np.abs(coef_se)
        ia = np.isfinite(acs)
        if ia.any():
            nz = acs[ia & (acs != 0)]
            if len(nz):
                digmin = 1 + np.floor(np.log10(np.array([nz.min(), nz.max()])))
                rdig = max(1.0, float(np.max(digits - digmin)))
            else:
                rdig = max(1.0, digits - 1.0)
            # format() of a matrix formats all entries jointly (column-major)
            flat = r_round(coef_se, rdig).ravel(order="F")
            strs = format_num(flat, digits=digits)
            for idx, s in enumerate(strs):
                i, jj = idx % nr, idx // nr
                cf[i][cs_ind[jj]] = s
    if tst_ind:
        flat = r_round(xm[:, tst_ind], dig_tst).ravel(order="F")
        strs = format_num(flat, digits=digits)
        for idx, s in enumerate(strs):
            i, jj = idx % nr, idx // nr
            cf[i][tst_ind[jj]] = s
    special = set(cs_ind) | set(tst_ind) | ({nc - 1} if has_pvalue else set())
    for j in range(nc):
        if j not in special:
            for i, s in enumerate(format_num(xm[:, j], digits=digits)):
                cf[i][j] = s
    for j in tst_ind:
        ok[:, j] = False
    # entries that are 0 but do not print as 0 (or vice versa) get re-formatted
    jcols = range(nc - 1) if has_pvalue else range(nc)
    cand = [(i, j) for j in jcols for i in range(nr) if ok[i, j]]
    redo = []
    for i, j in cand:
        try:
            val = float(cf[i][j])
        except ValueError:
            continue
        if (xm[i, j] == 0) != (val == 0):
            redo.append((i, j))
    if redo:
        strs = format_num([xm[i, j] for i, j in redo], digits=max(1, digits - 1))
        for (i, j), s in zip(redo, strs):
            cf[i][j] = s
    for i in range(nr):
        for j in range(nc):
            if ina[i, j]:
                cf[i][j] = na_print
    stars_on = False
    colnames_out = list(cn)
    if p_values:
        okp = ok[:, nc - 1]
        if okp.any():
            pv = xm[:, nc - 1]
            fmt = format_pval(pv[okp], digits=dig_tst, eps=eps_pvalue)
            it = iter(fmt)
            for i in range(nr):
                if okp[i]:
                    cf[i][nc - 1] = next(it)
            stars_on = signif_stars and bool(np.any(pv[okp] < 0.1))
            if stars_on:
                sig = format_str(symnum_stars(pv))
                for i in range(nr):
                    cf[i].append(sig[i])
                colnames_out.append("")
    # a 0-row table has no row names (R's data.matrix() gives NULL dimnames[[1]])
    rn = list(rownames) if (rownames is not None and nr > 0) else None
    lines = print_matrix(cf, rn, colnames_out, right=right, width=width)
    if stars_on and signif_legend:
        sleg = [stars_legend(utf8)]
        if width < len(sleg[0]):
            sleg = strwrap(sleg[0], width=width - 2, prefix="  ")
        # cat("---\nSignif. codes:  ", sleg, sep = "",
        #     fill = w + 4 + max(nchar(sleg, "bytes") - nchar(sleg)))
        fill = width + 4 + max(len(t.encode("utf-8")) - len(t) for t in sleg)
        text = cat_fill(["---\nSignif. codes:  "] + sleg, sep="", fill=fill)
        lines.extend(text[:-1].split("\n"))
    return lines


def print_anova(x: Any, rownames: Sequence[str], colnames: Sequence[str],
                heading: str | Sequence[str] | None = None,
                digits: int = max(R_DIGITS - 2, 3), signif_stars: bool = True,
                width: int = R_WIDTH, utf8: bool = True) -> list[str]:
    """Port of ``stats:::print.anova`` (heading + ``printCoefmat``), as lines."""
    lines: list[str] = []
    if heading is not None:
        heads = [heading] if isinstance(heading, str) else list(heading)
        for h in heads:
            lines.extend(h.split("\n"))
    cn = list(colnames)
    nc = len(cn)
    has_p = bool(re.match(r"^(P|Pr)\(", cn[nc - 1]))
    zap_i = list(range(nc - 1 if has_p else nc))
    tst_i = [j for j, c in enumerate(cn) if c[1:7] == " value"]
    tst_i += [j for j, c in enumerate(cn) if c in ("F", "Cp", "Chisq")]
    zap_i = [j for j in zap_i if j not in tst_i]
    df_i = [j for j, c in enumerate(cn) if c.endswith("Df")]
    zap_i = [j for j in zap_i if j not in df_i]
    lines.extend(print_coefmat(x, rownames, cn, digits=digits, signif_stars=signif_stars,
                               has_pvalue=has_p, p_values=has_p, cs_ind=[],
                               zap_ind=zap_i, tst_ind=tst_i, na_print="",
                               width=width, utf8=utf8))
    return lines

"""Reading a CSV file as R's ``read.csv`` does, so that an R script's data arrive unchanged.

``pandas.read_csv`` and R's ``read.csv`` disagree on what a missing value is and on what a number is:
pandas turns ``None``, ``NaN``, ``null``, ``n/a``, ``""`` and a dozen other strings into missing values,
so a factor level spelled ``None`` silently disappears (and ``lmer`` then drops its rows). R treats only
``NA`` as missing (``na.strings = "NA"``), keeps every other string as text, and makes a column numeric
only when *every* entry parses as an R number (``utils::type.convert``).

:func:`read_csv` reproduces ``read.csv(file, header = TRUE, sep = ",", quote = "\\"", dec = ".",
na.strings = "NA", check.names = TRUE, stringsAsFactors = FALSE)``:

* a column whose non-missing entries are all ``T``, ``F``, ``TRUE`` or ``FALSE`` is logical (bool);
  all whole numbers within R's integer range: integer (int64; float64 when it has missing values, as
  pandas has no integer NA); all R numbers (``1.5``, ``.5``, ``1e-3``, ``1e``, ``Inf``, ``-inf``,
  ``NaN``, hexadecimal ``0x1A``, surrounding blanks): numeric (float64); anything else: text (object,
  missing values as NaN). Blank fields are missing in logical and numeric columns, ``""`` in text
  columns. A column with nothing but missing values is logical, as in R.
* header names go through R's ``make.names(unique = TRUE)`` (``my col`` -> ``my.col``, ``1x`` ->
  ``X1x``, ``if`` -> ``if.``, a blank name -> ``X``) unless ``check_names=False``.
* ``dtype`` is R's ``colClasses`` per column (``"character"``, ``"numeric"``, ``"integer"``,
  ``"logical"``, ``"factor"``, ``"NULL"`` to skip the column, or ``str``, ``float``, ``int``,
  ``bool``); ``levels={"col": [...]}`` is ``factor(col, levels = ...)``; ``ordered={"col": True}`` is
  ``ordered(col)`` and ``ordered={"col": [...]}`` is ``factor(col, levels = ..., ordered = TRUE)``.
  Factors are pandas Categoricals whose categories are R's levels, in R's order (strings sorted as R
  sorts them), so a formula codes them as R does.

A header one field short of the rows means, as in R, that the first column holds the row names: they
become the DataFrame's index. Complex numbers (R's ``1i``) are not supported: such columns stay text.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import os
import re

import numpy as np
import pandas as pd

from ..errors import DataError
from ..errors import warn as warn_r
from ..formula.transforms import factor_from_series, r_level_labels
from ..rbase.rnames import make_names, make_unique  # re-exported: this module's public names

__all__ = ["read_csv", "read_csv2", "make_names", "make_unique", "type_convert"]

# -------------------------------------------------------------------------------- R's type.convert
_WS = r"[ \t\n\r\f\v]"
_LOGICAL = {"T": True, "F": False, "TRUE": True, "FALSE": False}
_LOGICAL_COLCLASS = {"T": True, "True": True, "TRUE": True, "true": True,
                     "F": False, "False": False, "FALSE": False, "false": False}
_INT_RE = re.compile(rf"{_WS}*[+-]?[0-9]+")
_INT_MAX = 2147483647  # R's integers are 32-bit; -2^31 is NA_integer_


def _number_res(dec: str):
    d = re.escape(dec)
    decimal = re.compile(rf"{_WS}*(?P<sign>[+-]?)(?P<mant>[0-9]+(?:{d}[0-9]*)?|{d}[0-9]+)"
                         rf"(?:[eE](?P<exp>[+-]?[0-9]*))?{_WS}*")
    hexa = re.compile(rf"{_WS}*(?P<sign>[+-]?)0[xX](?P<mant>[0-9a-fA-F]+(?:{d}[0-9a-fA-F]*)?|{d}[0-9a-fA-F]+)"
                      rf"(?:[pP](?P<exp>[+-]?[0-9]*))?{_WS}*")
    special = re.compile(rf"{_WS}*(?P<sign>[+-]?)(?P<word>nan|inf|infinity){_WS}*", re.IGNORECASE)
    return decimal, hexa, special


def _parse_double(s: str, dec: str, res) -> float | None:
    """R's ``R_strtod`` on a whole field (leading and trailing blanks allowed): the number, or None."""
    decimal, hexa, special = res
    m = decimal.fullmatch(s)
    if m:
        exp = m["exp"] if m["exp"] not in (None, "", "+", "-") else "0"
        return float(f"{m['sign']}{m['mant'].replace(dec, '.')}e{exp}")
    m = hexa.fullmatch(s)
    if m:
        exp = m["exp"] if m["exp"] not in (None, "", "+", "-") else "0"
        try:
            return float.fromhex(f"{m['sign']}0x{m['mant'].replace(dec, '.')}p{exp}")
        except OverflowError:
            return float("-inf") if m["sign"] == "-" else float("inf")
    if s.lstrip(" \t\n\r\f\v").startswith("NA"):
        # R_strtod reads "NA" as NA before it looks for NaN, so "NAN" is not a number
        return float("nan") if s.strip(" \t\n\r\f\v") == "NA" else None
    m = special.fullmatch(s)
    if m:
        word = m["word"].lower()
        if word == "nan":
            return float("nan")
        return float("-inf") if m["sign"] == "-" else float("inf")
    return None


def _is_blank(values: np.ndarray) -> np.ndarray:
    return np.array([not v.strip(" \t\n\r\f\v") for v in values], dtype=bool)


def type_convert(values, na_strings=("NA",), dec: str = "."):
    """R's ``type.convert(x, as.is = TRUE, na.strings, dec)`` of a column of strings: a numpy array of
    bool (object with None where missing), int64 (float64 if missing), float64, or object strings (NaN
    where missing); and R's class name (``"logical"``, ``"integer"``, ``"numeric"``, ``"character"``).

    Each distinct text is examined once (a column of a data file repeats its values)."""
    vals = np.asarray(values, dtype=object)
    codes, uniq = pd.factorize(vals)
    uniq = np.asarray(uniq, dtype=object)
    na_u = np.isin(uniq, list(na_strings)) if len(na_strings) else np.zeros(len(uniq), dtype=bool)
    missing_u = na_u | (_is_blank(uniq) & ~na_u)
    rest = uniq[~missing_u]
    missing = missing_u[codes]
    any_missing = bool(missing.any())

    def expand(conv_rest: list, fill, dtype):
        conv = np.full(len(uniq), fill, dtype=dtype)
        conv[~missing_u] = conv_rest
        return conv[codes]

    if all(v in _LOGICAL for v in rest):
        out = expand([_LOGICAL[v] for v in rest], None, object)
        return (out.astype(bool) if not any_missing else out), "logical"
    if all(_INT_RE.fullmatch(v) for v in rest):
        ints = [int(v) for v in rest]
        if all(abs(i) <= _INT_MAX for i in ints):
            if not any_missing:
                return expand(ints, 0, np.int64), "integer"
            return expand(ints, np.nan, float), "integer"
    res = _number_res(dec)
    nums = [_parse_double(v, dec, res) for v in rest]
    if all(x is not None for x in nums):
        return expand(nums, np.nan, float), "numeric"
    out = vals.copy()
    out[na_u[codes]] = np.nan  # blank text stays "" (R: blank fields are missing only in logical/numeric columns)
    return out, "character"


# ---------------------------------------------------------------------------------------- colClasses
_CLASSES = {"character": "character", str: "character", "str": "character",
            "numeric": "numeric", "double": "numeric", float: "numeric", "float": "numeric",
            "integer": "integer", int: "integer", "int": "integer",
            "logical": "logical", bool: "logical", "bool": "logical",
            "factor": "factor", "category": "factor", "NULL": "NULL", None: "NULL"}


def _as_class(values: np.ndarray, cls: str, na_strings, dec: str, column: str):
    """A column read with ``colClasses = cls``: an entry that does not fit is an error, as in R."""
    vals = np.asarray(values, dtype=object)
    na = np.isin(vals, list(na_strings)) if len(na_strings) else np.zeros(len(vals), dtype=bool)
    if cls in ("character", "factor"):
        out = vals.copy()
        out[na] = np.nan
        if cls == "factor":
            return _factor(pd.Series(out), None, False, column)
        return out
    missing = na | (_is_blank(vals) & ~na)
    bad = None
    if cls == "logical":
        parsed = [_LOGICAL_COLCLASS.get(v) for v in vals[~missing]]
        bad = next((v for v, p in zip(vals[~missing], parsed) if p is None), None)
        kind = "a logical"
        if bad is None:
            out = np.full(len(vals), None, dtype=object)
            out[~missing] = parsed
            return out.astype(bool) if not missing.any() else out
    elif cls == "integer":
        ok = [_INT_RE.fullmatch(v) is not None and abs(int(v)) <= _INT_MAX for v in vals[~missing]]
        bad = next((v for v, o in zip(vals[~missing], ok) if not o), None)
        kind = "an integer"
        if bad is None:
            ints = [int(v) for v in vals[~missing]]
            if not missing.any():
                return np.array(ints, dtype=np.int64)
            out = np.full(len(vals), np.nan)
            out[~missing] = ints
            return out
    else:
        res = _number_res(dec)
        nums = [_parse_double(v, dec, res) for v in vals[~missing]]
        bad = next((v for v, x in zip(vals[~missing], nums) if x is None), None)
        kind = "a real"
        if bad is None:
            out = np.full(len(vals), np.nan)
            out[~missing] = nums
            return out
    raise DataError(f"column {column!r} was asked to be {cls} (dtype=), but holds {bad!r}, not {kind} "
                    f"(R: scan() expected '{kind[2:] if kind.startswith('a ') else kind[3:]}', got '{bad}')")


def _labels(s: pd.Series) -> pd.Series:
    """The values as R's ``as.character`` writes them (what ``factor(x, levels = )`` matches on)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype(object)
    mask = pd.isna(s).to_numpy()
    out = np.full(len(s), np.nan, dtype=object)
    out[~mask] = r_level_labels(s.to_numpy()[~mask])
    return pd.Series(out, index=s.index)


def _factor(s: pd.Series, levels, ordered: bool, column: str) -> pd.Series:
    """R's ``factor(x, levels = levels, ordered = ordered)``: the default levels are R's sorted unique
    values; values not among ``levels`` become missing (with a warning: R is silent)."""
    if levels is None:
        fac = factor_from_series(s, column)
        cats = list(fac.levels)
        return pd.Series(pd.Categorical.from_codes(fac.codes, categories=cats, ordered=ordered),
                         index=s.index, name=s.name)
    if isinstance(levels, (str, bytes)) or not hasattr(levels, "__iter__"):
        raise DataError(f"levels for {column!r} must be a list of levels, not {levels!r}")
    cats = r_level_labels(list(levels))
    dup = sorted({c for c in cats if cats.count(c) > 1})
    if dup:
        raise DataError(f"levels for {column!r} are duplicated: {', '.join(repr(d) for d in dup)}")
    labels = _labels(s)
    out = pd.Categorical(labels, categories=cats, ordered=ordered)
    lost = int((pd.isna(out) & ~pd.isna(labels).to_numpy()).sum())
    if lost:
        unknown = sorted(set(labels[pd.isna(out) & ~pd.isna(labels).to_numpy()]))
        warn_r(f"{lost} value{'s' if lost > 1 else ''} of column {column!r} "
               f"({', '.join(repr(u) for u in unknown[:5])}{', ...' if len(unknown) > 5 else ''}) "
               f"{'are' if lost > 1 else 'is'} not among the levels given and become{'s' if lost == 1 else ''} "
               "missing (as R's factor(x, levels = ) makes them NA)", UserWarning)
    return pd.Series(out, index=s.index, name=s.name)


# ------------------------------------------------------------------------------------------ reading
def _open_text(path, encoding: str):
    """The file as text; gzip, bzip2 and xz files are read through (R's ``file()`` recognises them by
    their first bytes, as here)."""
    with open(path, "rb") as raw:
        magic = raw.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rt", newline="", encoding=encoding)
    if magic[:3] == b"BZh":
        return bz2.open(path, "rt", newline="", encoding=encoding)
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(path, "rt", newline="", encoding=encoding)
    return open(path, newline="", encoding=encoding)


def _raw_table(path, sep, quote, header, skip, nrows, encoding, comment) -> tuple[list[str] | None, list[list[str]]]:
    """Every field of the file as the text between the separators (quotes removed; a quoted field may
    hold separators, doubled quotes and line breaks), blank lines skipped (R's ``blank.lines.skip``)."""
    try:
        fh = _open_text(path, encoding) if isinstance(path, (str, os.PathLike)) else path
    except OSError as exc:
        raise DataError(f"cannot open file {str(path)!r}: {exc.strerror or exc}") from None
    try:
        text = fh.read()
    except UnicodeDecodeError as exc:
        raise DataError(f"cannot read {str(path)!r} as {encoding}: {exc.reason}; give encoding=") from None
    finally:
        if fh is not path:
            fh.close()
    if not isinstance(text, str):
        raise DataError("read_csv reads a file path or a text file object")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[skip:]
    if comment:
        lines = [ln.split(comment, 1)[0] for ln in lines]
    if sep == "":  # R: sep = "" is white space
        rows = [ln.split() for ln in lines]
    else:
        reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=sep, quotechar=quote or None,
                            quoting=csv.QUOTE_NONE if not quote else csv.QUOTE_MINIMAL, doublequote=True,
                            skipinitialspace=False, strict=False)
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise DataError(f"cannot read {str(path)!r}: {exc}") from None
    rows = [r for r in rows if not (len(r) == 0 or (len(r) == 1 and not r[0].strip(" \t")))]
    names = None
    if header:
        if not rows:
            raise DataError(f"{str(path)!r} is empty: no header line")
        names, rows = rows[0], rows[1:]
    if nrows is not None and nrows >= 0:
        rows = rows[:nrows]
    return names, rows


def read_csv(path, *, header: bool = True, sep: str = ",", quote: str = '"', dec: str = ".",
             na_strings=("NA",), check_names: bool = True, strings_as_factors: bool = False, dtype=None,
             levels: dict | None = None, ordered: dict | None = None, skip: int = 0, nrows: int | None = None,
             encoding: str = "utf-8-sig", comment: str | None = None, name: str | None = None) -> pd.DataFrame:
    """Read a CSV file as R's ``read.csv`` does (see the module's documentation for the rules).

    Parameters follow R's: ``header``, ``sep``, ``quote``, ``dec``, ``na_strings`` (``na.strings``: the
    exact texts that are missing; only ``"NA"`` by default), ``check_names``, ``strings_as_factors``
    (R < 4's default was ``True``), ``dtype`` (``colClasses``, a dict by column), ``skip``, ``nrows``,
    ``encoding`` (``fileEncoding``; UTF-8 by default, a byte-order mark dropped), ``comment``
    (``comment.char``; none by default). ``levels`` and ``ordered`` make factors with the levels R
    would have after ``factor(x, levels = )`` / ``ordered(x)``; ``levels`` may also be the path of a
    JSON file ``{"column": [levels]}``. ``name`` is stored in ``DataFrame.attrs["name"]`` and printed on
    the summary's ``Data:`` line (R prints the name of the variable the data were assigned to).

    Returns a new DataFrame (the file is only read).
    """
    if not isinstance(sep, str) or len(sep) > 1:
        raise DataError(f"sep must be one character (or '' for white space), not {sep!r}")
    if not isinstance(dec, str) or len(dec) != 1:
        raise DataError(f"dec must be one character, not {dec!r}")
    if quote is None:
        quote = ""
    if not isinstance(quote, str) or len(quote) > 1:
        raise DataError(f"quote must be one character or '', not {quote!r}")
    if na_strings is None:
        na_strings = ()
    elif isinstance(na_strings, str):
        na_strings = (na_strings,)
    na_strings = tuple(str(x) for x in na_strings)
    if not isinstance(skip, (int, np.integer)) or isinstance(skip, bool) or skip < 0:
        raise DataError(f"skip must be a whole number >= 0, not {skip!r}")
    if nrows is not None and (not isinstance(nrows, (int, np.integer)) or isinstance(nrows, bool)):
        raise DataError(f"nrows must be a whole number (negative: all rows), not {nrows!r}")
    names, rows = _raw_table(path, sep, quote, header, int(skip), nrows, encoding, comment)
    if names is None:
        names = [f"V{j + 1}" for j in range(max((len(r) for r in rows), default=0))]
        raw_names = names
    else:
        raw_names = names
        if check_names:
            names = make_names(names, unique=True)
    row_names = None
    if header and rows and len(rows[0]) == len(names) + 1:
        # R: a header one field short means the first column holds the row names
        row_names = [r[0] for r in rows]
        rows = [r[1:] for r in rows]
    ncol = len(names)
    long = next((i for i, r in enumerate(rows) if len(r) > ncol), None)
    if long is not None:
        raise DataError(f"data row {long + 1} of {str(path)!r} has {len(rows[long])} fields, more than the "
                        f"{ncol} columns{' of the header' if header else ''}")
    # R's fill = TRUE: short rows are padded with blank fields
    table = np.empty((len(rows), ncol), dtype=object)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
        if len(r) < ncol:
            table[i, len(r):] = ""
    cols = [table[:, j] for j in range(ncol)]

    if isinstance(levels, (str, os.PathLike)):
        levels = _levels_file(levels)
    dtype = _by_column(dtype, "dtype", names, raw_names)
    levels = _by_column(levels, "levels", names, raw_names)
    ordered = _by_column(ordered, "ordered", names, raw_names)
    out = {}
    for j, col in enumerate(names):
        vals = cols[j]
        if col in dtype:
            try:
                cls = _CLASSES.get(dtype[col])
            except TypeError:  # unhashable: a list, a dict
                cls = None
            if cls is None:
                raise DataError(f"dtype for {col!r}: {dtype[col]!r} is not one of 'character', 'numeric', "
                                "'integer', 'logical', 'factor', 'NULL' (or str, float, int, bool)")
            if cls == "NULL":
                continue
            series = pd.Series(_as_class(vals, cls, na_strings, dec, col), name=col)
        else:
            conv, cls = type_convert(vals, na_strings, dec)
            series = pd.Series(conv, name=col)
            if cls == "character" and strings_as_factors:
                series = _factor(series, None, False, col)
        if col in levels or col in ordered:
            want = ordered.get(col, False)
            lev = levels.get(col)
            if isinstance(want, (list, tuple)):
                if lev is not None and list(lev) != list(want):
                    raise DataError(f"column {col!r} has different levels in levels= and ordered=")
                lev, want = want, True
            elif not isinstance(want, (bool, np.bool_)):
                raise DataError(f"ordered for {col!r} must be True, False or a list of levels, not {want!r}")
            series = _factor(series, lev, bool(want), col)
        out[col] = series
    df = pd.DataFrame(out, index=pd.RangeIndex(len(rows)))
    if row_names is not None:
        df.index = pd.Index(row_names)
    if name is not None:
        if not isinstance(name, str):
            raise DataError(f"name must be a string, not {type(name).__name__}")
        df.attrs["name"] = name
    return df


def _levels_file(path) -> dict:
    """A levels file: a JSON object ``{"column": ["level", ...]}``, as R writes it with
    ``jsonlite::write_json(lapply(Filter(is.factor, d), levels), "levels.json")``."""
    try:
        with open(path, encoding="utf-8") as fh:
            spec = json.load(fh)
    except OSError as exc:
        raise DataError(f"cannot open levels file {str(path)!r}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"levels file {str(path)!r} is not JSON: {exc.msg}") from None
    if not isinstance(spec, dict) or not all(isinstance(v, list) for v in spec.values()):
        raise DataError(f"levels file {str(path)!r} must hold an object of lists: {{\"column\": [levels]}}")
    return spec


def read_csv2(path, **kwargs) -> pd.DataFrame:
    """R's ``read.csv2``: ``sep=";"`` and ``dec=","`` (the CSV of locales that write a decimal comma)."""
    kwargs.setdefault("sep", ";")
    kwargs.setdefault("dec", ",")
    return read_csv(path, **kwargs)


def _by_column(spec, what: str, names: list[str], raw_names: list[str]) -> dict:
    """A per-column argument keyed by the checked names (a raw header name is accepted too)."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise DataError(f"{what} must be a dict by column name, not {type(spec).__name__}")
    out = {}
    known = set(names)  # sets: a wide file has hundreds of thousands of columns
    raw_pos: dict = {}
    for i, r in enumerate(raw_names):
        raw_pos.setdefault(r, i)
    for key, val in spec.items():
        if key in known:
            out[key] = val
        elif key in raw_pos:
            out[names[raw_pos[key]]] = val
        else:
            raise DataError(f"{what}: no column {key!r} in the file; its columns are "
                            + ", ".join(repr(n) for n in names))
    return out

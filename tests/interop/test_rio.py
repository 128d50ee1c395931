"""mm.read_csv against R's read.csv (tests/r/make_porting_fixtures.R writes tests/fixtures/porting.json
from the committed CSV files porting_tricky.csv and porting_semicolon.csv)."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import mixedmodels as mm
from mixedmodels.errors import DataError
from mixedmodels.formula.transforms import factor_from_series
from mixedmodels.interop.rio import make_names, type_convert

from conftest import FIXTURES, load_fixture

REF = load_fixture("porting.json")
TRICKY = FIXTURES / "porting_tricky.csv"
SEMI = FIXTURES / "porting_semicolon.csv"


def _r_class(s: pd.Series) -> str:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return "ordered" if s.cat.ordered else "factor"
    if pd.api.types.is_bool_dtype(s.dtype):
        return "logical"
    if s.dtype == object and all(isinstance(v, (bool, np.bool_)) for v in s.dropna()):
        return "logical"
    if pd.api.types.is_integer_dtype(s.dtype):
        return "integer"
    if pd.api.types.is_float_dtype(s.dtype):
        return "numeric"
    return "character"


def _same_column(s: pd.Series, ref: dict, name: str):
    cls = _r_class(s)
    if ref["class"] == "integer":  # an R integer column with NA comes as float64 (pandas has no int NA)
        assert cls == "integer" or (cls == "numeric" and s.isna().any()), name
        assert all(float(v).is_integer() for v in s.dropna()), name
    else:
        assert cls == ref["class"], name
    assert len(s) == len(ref["values"])
    for got, want in zip(s.tolist(), ref["values"]):
        if want is None or (want == "NaN" and ref["class"] == "numeric"):
            assert got is None or pd.isna(got), (name, got, want)
        elif ref["class"] in ("numeric", "integer"):
            assert float(got) == float(want), (name, got, want)  # exact: R's digits round-trip
        elif ref["class"] == "logical":
            assert got == (want == "TRUE"), (name, got, want)
        else:
            assert got == want, (name, got, want)
    if ref.get("levels") is not None:
        if cls in ("factor", "ordered"):
            assert list(s.cat.categories) == ref["levels"], name
        # a text column made a factor in a formula gets R's level order
        assert factor_from_series(s, name).levels == ref["levels"], name


_CALLS = {
    'read.csv("porting_tricky.csv")': lambda: mm.read_csv(TRICKY),
    'read.csv("porting_tricky.csv", na.strings = c("NA", "None", ""))':
        lambda: mm.read_csv(TRICKY, na_strings=["NA", "None", ""]),
    'read.csv("porting_tricky.csv", check.names = FALSE)': lambda: mm.read_csv(TRICKY, check_names=False),
    'read.csv("porting_semicolon.csv", sep = ";", dec = ",")': lambda: mm.read_csv(SEMI, sep=";", dec=","),
    'read.csv("porting_semicolon.csv", sep = ";")': lambda: mm.read_csv(SEMI, sep=";"),
    'read.csv("porting_tricky.csv", colClasses = c(n = "numeric", big = "character", level = "factor"))':
        lambda: mm.read_csv(TRICKY, dtype={"n": "numeric", "big": "character", "level": "factor"}),
}


@pytest.mark.parametrize("case", REF["read_cases"], ids=[c["call"] for c in REF["read_cases"]])
def test_read_csv_as_r(case):
    df = _CALLS[case["call"]]()
    if "names" in case:
        assert list(df.columns) == case["names"]
    for name, ref in case.get("columns", {}).items():
        _same_column(df[name], ref, name)
    if "columns" in case:
        assert list(df.columns) == list(case["columns"])


def test_pandas_loses_what_r_keeps():
    """The issue's point: pandas reads 'None', 'NaN', 'null', 'n/a' as missing; R (and mm.read_csv) keep
    them as text."""
    pdf = pd.read_csv(TRICKY)
    ours = mm.read_csv(TRICKY)
    r_level = REF["read_cases"][0]["columns"]["level"]["values"]
    assert pdf["level"].isna().sum() > 1
    assert ours["level"].isna().sum() == sum(v is None for v in r_level) == 1


def test_read_csv2_is_semicolon_and_decimal_comma():
    a = mm.read_csv2(SEMI)
    b = mm.read_csv(SEMI, sep=";", dec=",")
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("case", REF["factor_cases"], ids=[c["call"] for c in REF["factor_cases"]])
def test_levels_and_ordered_as_r_factor(case):
    call = case["call"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if call.startswith("ordered("):
            df = mm.read_csv(TRICKY, ordered={"dose": True})
            col = df["dose"]
        elif call.startswith("factor(n"):
            df = mm.read_csv(TRICKY, levels={"n": [6, 5, 4, 2, 1]})
            col = df["n"]
        else:
            lev = ["low", "medium", "high"] if "medium" in call else ["low", "high"]
            df = mm.read_csv(TRICKY, levels={"dose": lev})
            col = df["dose"]
    assert isinstance(col.dtype, pd.CategoricalDtype)
    assert list(col.cat.categories) == case["levels"]
    assert bool(col.cat.ordered) == case["ordered"]
    codes = [None if c < 0 else c + 1 for c in col.cat.codes]  # R's 1-based codes, NA as None
    assert codes == case["codes"]
    lost = sum(c is None for c in case["codes"]) - int(mm.read_csv(TRICKY)[col.name].isna().sum())
    msgs = [str(w.message) for w in caught]
    if lost:
        assert any("not among the levels given" in m and repr("medium") in m for m in msgs)
    else:
        assert not any("not among the levels" in m for m in msgs)


def test_ordered_with_levels_list():
    df = mm.read_csv(TRICKY, ordered={"dose": ["low", "medium", "high"]})
    assert df["dose"].cat.ordered and list(df["dose"].cat.categories) == ["low", "medium", "high"]
    assert df["dose"].min() == "low" and df["dose"].max() == "high"


def test_make_names_as_r():
    assert make_names(REF["make_names"]["input"], unique=True) == REF["make_names"]["output"]


def test_type_convert_rules():
    # only T/F/TRUE/FALSE are R logicals; " 5" is an integer but "5 " a double; NAN is no number
    assert type_convert(["True", "False"])[1] == "character"
    assert type_convert(["T", "FALSE", ""])[1] == "logical"
    assert type_convert([" 5", "6"])[1] == "integer"
    assert type_convert(["5 ", "6"])[1] == "numeric"
    assert type_convert(["2147483648"])[1] == "numeric"
    assert type_convert(["NAN"])[1] == "character"
    assert type_convert(["1d5"])[1] == "character"
    vals, cls = type_convert(["0x1.8p1", "1e", "-Infinity", "nan"])
    assert cls == "numeric" and vals[0] == 3 and vals[1] == 1 and vals[2] == -math.inf and math.isnan(vals[3])
    vals, cls = type_convert(["1,5", "2"], dec=",")
    assert cls == "numeric" and list(vals) == [1.5, 2.0]
    vals, cls = type_convert(["NA", ""])  # nothing but missing values: logical, as R
    assert cls == "logical" and all(v is None for v in vals)


def test_name_is_the_data_line(tmp_path):
    df = mm.read_csv(FIXTURES / "alfalfa.csv", name="alfalfa")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = mm.lmer("Yield ~ Date + (1 | Block)", df)
    assert "   Data: alfalfa\n" in str(m.summary())


def test_bad_arguments_are_package_errors(tmp_path):
    with pytest.raises(DataError, match="cannot open"):
        mm.read_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="no column 'nope'"):
        mm.read_csv(TRICKY, levels={"nope": ["a"]})
    with pytest.raises(DataError, match="holds 'NA'|holds 'None'"):
        mm.read_csv(TRICKY, dtype={"level": "numeric"}, na_strings=[])
    with pytest.raises(DataError, match="dtype for 'n'"):
        mm.read_csv(TRICKY, dtype={"n": "complex"})
    with pytest.raises(DataError, match="dtype for 'n'"):
        mm.read_csv(TRICKY, dtype={"n": {"a": 1}})
    with pytest.raises(DataError, match="nrows"):
        mm.read_csv(TRICKY, nrows="all")
    with pytest.raises(DataError, match="sep"):
        mm.read_csv(TRICKY, sep=",,")
    with pytest.raises(DataError, match="ordered for 'dose'"):
        mm.read_csv(TRICKY, ordered={"dose": "yes"})
    bad = tmp_path / "long.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match="data row 2 .* 3 fields"):
        mm.read_csv(bad)
    short = tmp_path / "short.csv"
    short.write_text("a,b\n1,x\n3\n")
    df = mm.read_csv(short)  # R's fill = TRUE: a short row is padded with blank fields
    assert df["a"].tolist() == [1, 3] and df["b"].tolist() == ["x", ""]


def test_colclasses_null_skips_and_file_untouched():
    before = TRICKY.read_bytes()
    df = mm.read_csv(TRICKY, dtype={"txt": "NULL", "flag": bool, "n": float})
    assert "txt" not in df.columns and df["n"].dtype == float
    assert TRICKY.read_bytes() == before


def test_quoted_line_breaks_comments_and_skip(tmp_path):
    f = tmp_path / "q.csv"
    f.write_text('# made by hand\n\nid,note,v\n1,"two\nlines",1.5\n\n2,"a ""b""",NA\n')
    df = mm.read_csv(f, skip=2)
    assert df["note"].tolist() == ["two\nlines", 'a "b"'] and df["v"].isna().tolist() == [False, True]
    df = mm.read_csv(f, comment="#")
    assert list(df.columns) == ["id", "note", "v"] and len(df) == 2
    df = mm.read_csv(f, skip=2, nrows=1)
    assert len(df) == 1
    g = tmp_path / "noheader.csv"
    g.write_text("1,a\n2,b\n")
    df = mm.read_csv(g, header=False)
    assert list(df.columns) == ["V1", "V2"] and df["V1"].tolist() == [1, 2]


def test_byte_order_mark_and_crlf(tmp_path):
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufeffid,w\r\n1,\u00e9t\u00e9\r\n2,x\u2028y\r\n".encode("utf-8"))
    df = mm.read_csv(f)
    assert list(df.columns) == ["id", "w"] and df["w"].tolist() == ["\u00e9t\u00e9", "x\u2028y"]


def test_levels_from_a_json_file(tmp_path):
    lv = tmp_path / "levels.json"
    lv.write_text('{"Date": ["None", "S1", "S20", "O7"], "Variety": ["Ranger", "Ladak", "Cossack"]}')
    df = mm.read_csv(FIXTURES / "alfalfa.csv", levels=lv)
    assert list(df["Date"].cat.categories) == ["None", "S1", "S20", "O7"]
    assert list(df["Variety"].cat.categories) == ["Ranger", "Ladak", "Cossack"]
    assert df["Date"].notna().all()
    bad = tmp_path / "bad.json"
    bad.write_text('["Date"]')
    with pytest.raises(DataError, match="object of lists"):
        mm.read_csv(FIXTURES / "alfalfa.csv", levels=bad)


def test_header_one_field_short_gives_row_names():
    case = REF["rownames_case"]
    df = mm.read_csv(FIXTURES / "porting_rownames.csv")
    assert list(df.index) == case["row_names"]
    assert list(df.columns) == list(case["columns"])
    for name, ref in case["columns"].items():
        _same_column(df[name], ref, name)


def test_compressed_files_are_read_through(tmp_path):
    import gzip

    plain = mm.read_csv(TRICKY)
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(TRICKY.read_bytes()))
    pd.testing.assert_frame_equal(mm.read_csv(gz), plain)

"""The command line on wide, malformed and oddly separated CSV files (robustness, third round)."""

import subprocess
import sys

import pytest

import mixedmodels as mm
from mixedmodels.cli import _formula_names, main


def _run(*args):
    proc = subprocess.run([sys.executable, "-m", "mixedmodels", *args], capture_output=True, text=True)
    err = proc.stderr.strip()
    assert "Traceback" not in err
    return proc.returncode, proc.stdout, err


def _sleep_csv(path, extra_columns=0):
    """sleepstudy with ``extra_columns`` columns of zeros the formula does not use, written fast."""
    d = mm.datasets.load("sleepstudy")
    pad_head = "".join(f",gene{i}" for i in range(extra_columns))
    pad_row = ",0" * extra_columns
    lines = ["Reaction,Days,Subject" + pad_head]
    lines += [f"{r!r},{int(x)},{s}{pad_row}" for r, x, s in zip(d["Reaction"], d["Days"], d["Subject"])]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_wide_csv_of_200000_columns(tmp_path, capsys):
    """A 200,000-column CSV hung the CLI (a quadratic duplicate-name check); only the columns the formula
    names are converted now."""
    path = _sleep_csv(tmp_path / "wide.csv", 200_000)
    assert main(["fit", "Reaction ~ Days + (Days | Subject)", str(path)]) == 0
    assert "Number of obs: 180, groups:  Subject, 18" in capsys.readouterr().out
    small = _sleep_csv(tmp_path / "narrow.csv", 50)
    code, _, err = _run("fit", "Reaction ~ Dayz + (1 | Subject)", str(small))
    assert code == 2 and "did you mean 'Days'" in err  # the hint looks at every column


@pytest.mark.parametrize("content, fragment", [
    (b"Reaction,Days,Subject\n1," + b"9" * 30_000_000 + b",a\n2,3,b\n", "line 2 is longer than"),
    (b"Reaction,Days,Subject\n1,2,a" + b"," * 200_000 + b"\n", "line 2 has 200,003 fields (its header 3)"),
    (b"Reaction,Days,Subject\n1,2,a\n4,5,b\n" * 10 + b"x" * 3_000_000, "line 31 is longer than"),
], ids=["long-field", "many-fields", "long-last-line"])
def test_huge_lines_are_refused_quickly(tmp_path, content, fragment):
    """A CSV with a 100 MB line spent a minute and ended in a MemoryError traceback (pandas on a line of
    many empty fields takes minutes too): the lines are measured first, in one pass over the bytes."""
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    code, _, err = _run("fit", "Reaction ~ Days + (1 | Subject)", str(path))
    assert code == 2 and len(err.splitlines()) == 1
    assert fragment in err


def test_semicolon_separated_csv_hints_at_read_csv2(tmp_path):
    """A file written by R's write.csv2 (fields separated by ';') said only "unknown column"."""
    d = mm.datasets.load("sleepstudy")
    path = tmp_path / "semi.csv"
    d.to_csv(path, sep=";", decimal=",", index=False)
    code, _, err = _run("fit", "Reaction ~ Days + (1 | Subject)", str(path))
    assert code == 2 and len(err.splitlines()) == 1
    assert "separated by ';'" in err and "read.csv2" in err


@pytest.mark.parametrize("formula", ["Reaction ~ log(", "Reaction ~ log(Days,", "Reaction ~ I(Days"])
def test_formula_cut_short_is_one_line_exit_2(tmp_path, formula):
    """'y ~ log(' printed a 40-line IndexError traceback and exited 1."""
    path = _sleep_csv(tmp_path / "s.csv")
    code, _, err = _run("fit", formula, str(path))
    assert code == 2 and len(err.splitlines()) == 1 and "parentheses" in err


def test_formula_names():
    assert _formula_names("Reaction ~ log(Days) + `odd name` + (1 | Subject)") >= \
        {"Reaction", "log", "Days", "odd name", "Subject"}
    assert _formula_names("y ~ . + (1 | g)") is None

"""The command line: the main job, and one clear line with a non-zero exit for every bad input."""

import subprocess
import sys

import pytest

import mixedmodels as mm
from mixedmodels.cli import main


def test_fit_prints_summary(tmp_path, capsys):
    path = tmp_path / "sleepstudy.csv"
    mm.datasets.load("sleepstudy").to_csv(path, index=False)
    assert main(["fit", "Reaction ~ Days + (Days | Subject)", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Linear mixed model fit by REML ['lmerMod']")
    assert "   Data: sleepstudy" in out
    assert main(["fit", "Reaction ~ Days + (Days | Subject)", str(path), "--ml"]) == 0
    assert "maximum likelihood" in capsys.readouterr().out


def test_demo_runs(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "Formula: yield ~ factor(nitro) * Variety + (1 | Block) + (1 | Block:Variety)" in out
    # the split-plot analysis continues with lmerTest's tables
    assert "Type III Analysis of Variance Table with Satterthwaite's method" in out
    assert "ANOVA-like table for random-effects: Single term deletions" in out
    assert "Least Squares Means table:" in out and "factor(nitro)0.6" in out


@pytest.mark.parametrize("args, fragment", [
    (["fit", "y ~ x + (1|g)", "/no/such/file.csv"], "no such file"),
    (["fit", "Reaction ~ Dayz + (1|Subject)", "DATA"], "unknown column 'Dayz'"),
    (["fit", "Reaction ~ Days + (1|)", "DATA"], "empty random-effects term"),
    (["fit", "Reaction ~ Days", "DATA"], "no random-effects terms"),
    (["fit", "Reaction ~ Days + (1|Subject)", "EMPTY"], "cannot read"),
    (["fit", "Reaction ~ Days + (1|Subject)", "DIR"], "directory"),
    (["fit", "Reaction ~ Days + (1|Subject)", "DATA", "--bogus"], "unrecognized arguments"),
    (["nonsense"], "invalid choice"),
])
def test_bad_input_one_line(tmp_path, args, fragment):
    data = tmp_path / "s.csv"
    mm.datasets.load("sleepstudy").to_csv(data, index=False)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    args = [{"DATA": str(data), "EMPTY": str(empty), "DIR": str(tmp_path)}.get(a, a) for a in args]
    proc = subprocess.run([sys.executable, "-m", "mixedmodels", *args], capture_output=True, text=True)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert fragment in err


def test_csv_levels_named_none_are_levels(tmp_path, capsys):
    """As R's read.csv: only NA is missing; a level called None or null is kept (pandas' defaults would
    drop those rows)."""
    import mixedmodels as mm

    d = mm.datasets.load("sleepstudy").copy()
    d["Subject"] = d["Subject"].astype(str).replace({"308": "None", "309": "null"})
    path = tmp_path / "s.csv"
    d.to_csv(path, index=False)
    assert main(["fit", "Reaction ~ Days + (1 | Subject)", str(path)]) == 0
    assert "Number of obs: 180, groups:  Subject, 18" in capsys.readouterr().out

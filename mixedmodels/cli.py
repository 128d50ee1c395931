"""Command line: ``python -m mixedmodels fit "FORMULA" data.csv [--ml]``, ``python -m mixedmodels demo`` and
``python -m mixedmodels precompile`` (compile the Numba kernels once after installing, so that no later
process waits for the compiler).

Errors (a missing or unreadable file, a bad formula, a model lme4 would refuse) print one line on
standard error and exit with status 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import datasets
from .errors import FormulaError, MixedModelsError
from .fit import blockdiag, glmm_kernels, kernels
from .fit.gradient import gradient
from .interop.rio import read_csv
from .model import LinearMixedModel, lmer

# The package itself: its public names load on first use, so what needs scipy.stats (~0.3 s: ``mm.aov``,
# ``mm.glmer`` and the families) is loaded by the demo's ANOVA table and by ``fit --family``, not by every
# linear ``fit`` from the command line.
_PACKAGE = sys.modules[__package__]

DEMO_FORMULA = "yield ~ factor(nitro)*Variety + (1|Block) + (1|Block:Variety)"
# --family names that mean lme4's glmer.nb (the negative binomial whose shape is estimated)
NB_FAMILIES = ("negative.binomial", "negative_binomial", "negbin", "nb", "glmer.nb")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's own convention)
        self.exit(2, f"mixedmodels: error: {message}\n")


def _formula_names(formula: str) -> set[str] | None:
    """The names a formula may refer to (every R name and backquoted name in its text), or None when it
    has a bare '.' (all columns): the CLI then reads only those columns of a wide file."""
    names = {m.group(1) if m.group(1) is not None else m.group(2)
             for m in re.finditer(r"`([^`]*)`|((?:[^\W\d]|\.)[\w.]*)", formula)}
    return None if "." in names else names


def _read_table(path: str, columns: set[str] | None = None):
    """The table in ``path``; with ``columns``, only the columns among those names are converted (a file
    of 200,000 columns of which the formula names three is read in the time its bytes take)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if p.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a data file")
    if p.suffix.lower() != ".parquet":
        _check_lines(p, b"\t" if p.suffix.lower() in (".tsv", ".tab") else b",")
    try:
        # as R's read.csv (mm.read_csv): only "NA" (and blank numeric fields) are missing; a level called
        # "None", "null" or "NaN" is a level (pandas' defaults would silently drop those rows)
        sep = "\t" if p.suffix.lower() in (".tsv", ".tab") else ","
        skip = None if columns is None or p.suffix.lower() == ".parquet" else _unused_columns(p, sep, columns)
        if p.suffix.lower() == ".parquet":
            df = pd.read_parquet(p)
        else:
            df = read_csv(p, sep=sep, dtype=skip)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError, ImportError) as exc:
        raise ValueError(f"cannot read {path} as a table: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    if df.shape[1] == 1 and p.suffix.lower() not in (".tsv", ".tab", ".parquet") and _first_line_has(p, b";"):
        raise ValueError(f"{path} has a single column {str(df.columns[0])[:60]!r}: its fields seem to be "
                         "separated by ';' (as R's read.csv2 reads them, with ',' as the decimal mark); "
                         "save the table with ',' between fields")
    df.attrs["name"] = p.stem
    return df


def _first_line_has(path: Path, text: bytes) -> bool:
    with open(path, "rb") as fh:
        return text in fh.readline(1 << 20)


def _unused_columns(path: Path, sep: str, columns: set[str]) -> dict | None:
    """R's colClasses = "NULL" for the header's columns the formula does not name (None: keep all)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
    try:
        header = next(csv.reader([first], delimiter=sep))
    except (csv.Error, StopIteration):
        return None
    drop = {h: "NULL" for h in header if h not in columns}
    return drop if drop and len(drop) < len(header) and len(set(header)) == len(header) else None


MAX_LINE = 1 << 20  # bytes a line may have beyond 20 times the header's length


def _check_lines(path: Path, sep: bytes) -> None:
    """Bounded work before the CSV parser sees the file: one pass in blocks over its bytes refuses a line
    far longer than its header, or with far more fields (pandas spends minutes and gigabytes on those)."""
    with open(path, "rb") as fh:
        header = fh.readline(MAX_LINE * 64 + 1)
        if len(header) > MAX_LINE * 64:
            raise ValueError(f"cannot read {path} as a table: its first line is longer than "
                             f"{MAX_LINE * 64 // 2**20} MiB")
        max_len = MAX_LINE + 20 * len(header)
        max_seps = 2 * header.count(sep) + 64
        sep_byte = sep[0]
        line, cur_len, cur_seps = 2, 0, 0
        while True:
            block = fh.read(1 << 24)
            if not block:
                break
            a = np.frombuffer(block, dtype=np.uint8)
            nl = np.flatnonzero(a == 10)
            seps = np.flatnonzero(a == sep_byte)
            starts = np.concatenate([[0], nl + 1])
            ends = np.concatenate([nl, [len(a)]])  # the last piece continues in the next block
            lengths = ends - starts
            counts = np.searchsorted(seps, ends) - np.searchsorted(seps, starts)
            lengths[0] += cur_len
            counts[0] += cur_seps
            bad = np.flatnonzero((lengths > max_len) | (counts > max_seps))
            if bad.size:
                k = int(bad[0])
                what = (f"is longer than {max_len:,} bytes (20 times its header's {len(header):,}, plus 1 MiB)"
                        if lengths[k] > max_len else
                        f"has {int(counts[k]) + 1:,} fields (its header {header.count(sep) + 1:,})")
                raise ValueError(f"cannot read {path} as a table: line {line + k:,} {what}; is it a "
                                 "table with one row per line?")
            line += len(nl)
            cur_len, cur_seps = int(lengths[-1]), int(counts[-1])


def _fit(args) -> int:
    names = _formula_names(args.formula)
    data = _read_table(args.data, names)
    if names is not None and data.shape[1] == 0:  # none of the formula's names is a column
        data, names = _read_table(args.data), None
    name = args.data_name or Path(args.data).stem
    if args.family is None and (args.link is not None or args.nAGQ is not None):
        raise ValueError("--link and --nAGQ are for a GLMM: give --family too")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if args.family is not None and args.ml:
            raise ValueError("--ml is for linear models: a GLMM is always fitted by maximum likelihood")

        def fit(df):
            if args.family is not None and args.family.lower() in NB_FAMILIES:
                # lme4's glmer.nb: the negative binomial with its shape estimated
                return _PACKAGE.glmer_nb(args.formula, df, nAGQ=1 if args.nAGQ is None else args.nAGQ,
                                         data_name=name, link=args.link or "log")
            if args.family is not None:
                family = _PACKAGE.family.get_family(args.family, args.link)
                return _PACKAGE.glmer(args.formula, df, family, nAGQ=1 if args.nAGQ is None else args.nAGQ,
                                      data_name=name)
            return lmer(args.formula, df, REML=not args.ml, data_name=name)

        try:
            m = fit(data)
        except FormulaError as exc:
            if names is None or not exc.reason.startswith("unknown column"):
                raise
            # the columns read were only those the formula names: read them all for "did you mean"
            m = fit(_read_table(args.data))
    print(m.summary())
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return 0


def _demo(args) -> int:
    oats = datasets.load("Oats")
    print(f"# Split-plot oats trial (nlme's Oats): lmer({DEMO_FORMULA!r}, Oats)\n")
    print("## ANOVA table with expected mean squares\n")
    print(_PACKAGE.aov(DEMO_FORMULA, oats))
    print("\n## REML fit\n")
    fit = lmer(DEMO_FORMULA, oats)
    print(fit.summary())
    print("\n## Type III F tests of the fixed effects (Satterthwaite's df, as lmerTest's anova)\n")
    print(fit.anova())
    print("\n## Likelihood-ratio tests of the random effects (as lmerTest's ranova)\n")
    print(fit.ranova())
    print("\n## Least-squares means of the nitrogen levels (as lmerTest's ls_means)\n")
    print(fit.ls_means(which="factor(nitro)"))
    return 0


def _precompile(args) -> int:
    """Compile every Numba kernel once (machine code cached on disk for later processes). With
    ``--background`` (how a fit starts it when the kernels are not compiled yet) at the lowest priority,
    and only when no other process is compiling them (exit status 3 then)."""
    if not kernels.available():
        print("numba is not installed: nothing to compile (the NumPy paths are used)")
        return 0
    if not getattr(args, "background", False):
        return _compile_kernels()
    if hasattr(os, "nice"):
        try:
            os.nice(max(0, kernels.BACKGROUND_NICE - os.nice(0)))
        except OSError:  # pragma: no cover
            pass
    with kernels.compile_lock() as mine:
        if not mine:
            print("another process is compiling the kernels")
            return 3
        return _compile_kernels()


def _compile_kernels() -> int:
    t0 = time.perf_counter()
    models = [LinearMixedModel(formula, datasets.load(name))
              for formula, name in (("Reaction ~ Days + (Days | Subject)", "sleepstudy"),
                                    ("diameter ~ 1 + (1 | plate) + (1 | sample)", "Penicillin"))]
    # the level-by-level kernels first (a large fit waiting for them switches as soon as they are
    # cached), then the small-model evaluator
    for path in ("blocks", "small"):
        for model in models:
            crit = model.criterion(True, path=path)
            gradient(crit, crit.theta_init())
        if path == "blocks":  # the first term's block-diagonal kernels (many levels, s >= 2)
            blockdiag.warm_up()
    compile_glmm_kernels()
    print(f"compiled kernels ready ({time.perf_counter() - t0:.1f} s)")
    return 0


def compile_glmm_kernels() -> None:
    """The precompile's GLMM part: the generalized models' compiled PIRLS (binomial here; the family and
    link are arguments of one kernel), its adaptive Gauss-Hermite deviance and the kernels Python calls
    outside PIRLS, so that every kernel of ``glmm_kernels.GLMM_KERNELS`` is cached."""
    cbpp = datasets.load("cbpp")
    glmm_kernels.load_compiled()  # a small model's first fits would otherwise run on NumPy
    for nagq in (1, 9):
        _PACKAGE.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial", nAGQ=nagq)
    glmm_kernels.warm_up()  # simulate; the NumPy loop of other families once the kernels are loaded


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m mixedmodels",
                     description="Linear mixed models with lme4's formulas and summaries.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p_fit = sub.add_parser("fit", help="fit an lme4 formula to a CSV file and print the summary")
    p_fit.add_argument("formula", help='an lme4 formula, e.g. "Reaction ~ Days + (Days | Subject)"')
    p_fit.add_argument("data", help="a CSV (or .tsv, .parquet) file with a header row")
    p_fit.add_argument("--ml", action="store_true", help="fit by maximum likelihood instead of REML")
    p_fit.add_argument("--data-name", help="the name printed on the summary's Data: line")
    p_fit.add_argument("--family", help="fit a GLMM (lme4's glmer) of this family: binomial, poisson, Gamma, "
                                        "inverse.gaussian, gaussian; or negative.binomial (lme4's glmer.nb: "
                                        "the shape theta estimated)")
    p_fit.add_argument("--link", help="the GLMM's link (default: the family's canonical link)")
    p_fit.add_argument("--nAGQ", type=int, help="GLMM: 0, 1 (Laplace, the default) or 2..25 (adaptive "
                                               "Gauss-Hermite, one scalar random effect)")
    p_fit.set_defaults(func=_fit)
    p_demo = sub.add_parser("demo", help="fit the split-plot model to the bundled Oats data")
    p_demo.set_defaults(func=_demo)
    p_pre = sub.add_parser("precompile", help="compile the Numba kernels once (cached for later processes)")
    p_pre.add_argument("--background", action="store_true",
                       help="at the lowest priority, unless another process is compiling them (how a fit "
                            "starts it when the kernels are not compiled yet)")
    p_pre.set_defaults(func=_precompile)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (MixedModelsError, OSError, ValueError, TypeError) as exc:
        if isinstance(exc, FormulaError) and exc.start is not None:
            token = exc.formula[exc.start:exc.end] if exc.end else exc.formula[exc.start:]
            msg = f"{exc.reason} (at {token!r}, character {exc.start + 1} of the formula)"
        else:
            msg = " ".join(str(exc).split())
        print(f"mixedmodels: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

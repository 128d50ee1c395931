"""Helpers the tests of mixedmodels.fit share (this folder is a package, ``tests/fit/__init__.py``, so that
this module does not shadow ``tests/conftest.py``, which its test modules import as ``conftest``)."""

import numpy as np
import pandas as pd

from mixedmodels.fit.criterion import ProfiledCriterion
from mixedmodels.frame.design import build_design


def criterion_of_design(design, reml: bool = True, path: str = "auto") -> ProfiledCriterion:
    """The profiled criterion (REML or ML) of a built design, evaluated by ``path``."""
    return ProfiledCriterion(design.terms, design.X, design.y - design.offset, reml=reml, path=path)


def criterion_for(formula: str, df: pd.DataFrame, reml: bool = True, path: str = "auto") -> ProfiledCriterion:
    """The profiled criterion of ``formula`` on ``df`` (the design built as ``lmer`` builds it)."""
    return criterion_of_design(build_design(formula, df), reml, path)


def wide_fixed_effects_criterion(seed: int, n: int = 2000, p: int = 30, levels: int = 400,
                                 path: str = "sparse") -> ProfiledCriterion:
    """A REML criterion with many fixed-effect columns (``p`` normal columns) and one random intercept of
    ``levels`` levels: every level is dense in the rest rows, where BLAS's dense products cost less than
    sparse ones (the sparse path keeps the dense product and the chunked gradient)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{i}" for i in range(p)])
    df["g"] = rng.integers(0, levels, n).astype(str)
    df["y"] = rng.normal(size=n)
    return criterion_for("y ~ " + " + ".join(df.columns[:p]) + " + (1 | g)", df, reml=True, path=path)

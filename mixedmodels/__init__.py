"""mixedmodels: linear mixed models with lme4's formulas, estimates and printed summaries, in Python.

>>> import mixedmodels as mm
>>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
>>> print(m.summary())        # doctest: +SKIP
"""

from . import datasets
from .errors import (ConvergenceWarning, DataError, FormulaError, MixedModelsError, ModelError,
                     RankDeficiencyWarning, SingularFitWarning)
from .model import LinearMixedModel, LmerFit, lmer

__version__ = "0.1.0"

__all__ = [
    "lmer", "LinearMixedModel", "LmerFit", "datasets",
    "MixedModelsError", "FormulaError", "DataError", "ModelError",
    "ConvergenceWarning", "SingularFitWarning", "RankDeficiencyWarning",
    "__version__",
]

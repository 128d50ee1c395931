"""mixedmodels: linear mixed models with lme4's formulas, estimates and printed summaries, in Python.

>>> import mixedmodels as mm
>>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
>>> print(m.summary())        # doctest: +SKIP
"""

from importlib import import_module

from . import datasets
from .errors import (ConvergenceWarning, DataError, FamilyError, FamilyWarning, FormulaError, MissingRowsWarning,
                     MixedModelsError, ModelError, NaNProducedWarning, OutsideBoundaryWarning, PredictorScaleWarning,
                     RankDeficiencyWarning, SingularFitWarning)
from .model import LinearMixedModel, LmerFit, lmer

__version__ = "0.1.0"

# Heavier parts (scipy.stats and friends) load on first use, so ``import mixedmodels`` stays fast.
_LAZY = {
    "aov": ("classical.aov", "aov"),
    "compare_methods": ("classical.aov", "compare_methods"),
    "NegativeVarianceWarning": ("classical.aov", "NegativeVarianceWarning"),
    "anova": ("inference.tables", "lrt"),
    "update": ("post.updating", "update"),
    "update_formula": ("post.updating", "update_formula"),
    "ranova": ("inference.deletions", "ranova"),
    "drop1": ("inference.deletions", "drop1"),
    "step": ("inference.deletions", "step"),
    "ls_means": ("inference.lsmeans", "ls_means"),
    "kr_modcomp": ("inference.modcomp", "kr_modcomp"),
    "KRmodcomp": ("inference.modcomp", "kr_modcomp"),
    "pb_modcomp": ("inference.modcomp", "pb_modcomp"),
    "PBmodcomp": ("inference.modcomp", "pb_modcomp"),
    "difflsmeans": ("inference.lsmeans", "difflsmeans"),
    "glmer": ("glmm", "glmer"),
    "glmer_nb": ("glmm", "glmer_nb"),
    "GeneralizedLinearMixedModel": ("glmm", "GeneralizedLinearMixedModel"),
    "GlmerFit": ("glmm", "GlmerFit"),
    "read_csv": ("interop.rio", "read_csv"),
    "read_csv2": ("interop.rio", "read_csv2"),
}


# Public modules that live in a stage folder, reachable under their old short names.
_MODULES = {"plots": "output.plots", "family": "fit.family", "glmm": "glmm"}


def __getattr__(name):
    if name in _MODULES:
        return import_module(f".{_MODULES[name]}", __name__)
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "lmer", "LinearMixedModel", "LmerFit", "datasets", "aov", "compare_methods",
    "NegativeVarianceWarning", "anova", "update", "update_formula", "ranova", "drop1", "step", "ls_means", "difflsmeans", "kr_modcomp", "KRmodcomp", "pb_modcomp", "PBmodcomp",
    "read_csv", "read_csv2",
    "MixedModelsError", "FormulaError", "DataError", "ModelError",
    "ConvergenceWarning", "SingularFitWarning", "RankDeficiencyWarning", "PredictorScaleWarning",
    "NaNProducedWarning", "OutsideBoundaryWarning", "MissingRowsWarning",
    "glmer", "glmer_nb", "GeneralizedLinearMixedModel", "GlmerFit", "family", "FamilyError", "FamilyWarning",
    "__version__",
]

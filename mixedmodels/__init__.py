"""mixedmodels: linear mixed models with lme4's formulas, estimates and printed summaries, in Python.

>>> import mixedmodels as mm
>>> m = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
>>> print(m.summary())        # doctest: +SKIP
"""

from importlib import import_module

from .errors import (ConvergenceWarning, DataError, FamilyError, FamilyWarning, FormulaError, MissingRowsWarning,
                     MixedModelsError, ModelError, NaNProducedWarning, OutsideBoundaryWarning, PredictorScaleWarning,
                     RankDeficiencyWarning, SingularFitWarning)

__version__ = "0.1.0"

# Everything that needs pandas or scipy loads on first use, so ``import mixedmodels`` costs only the
# interpreter's own start (the first ``mm.lmer`` imports the model, as a user's ``import pandas`` would).
_LAZY = {
    "lmer": ("model", "lmer"),
    "LinearMixedModel": ("model", "LinearMixedModel"),
    "LmerFit": ("model", "LmerFit"),
    "set_threads": ("fit.threads", "set_threads"),
    "get_threads": ("fit.threads", "get_threads"),
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
_MODULES = {"plots": "output.plots", "family": "fit.family", "glmm": "glmm", "datasets": "datasets"}
_SUBPACKAGES = {"model", "errors", "cli", "rbase", "formula", "frame", "fit", "inference", "classical",
                "output", "post", "interop"}


def __getattr__(name):
    if name in _MODULES:
        return import_module(f".{_MODULES[name]}", __name__)
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(import_module(f".{module}", __name__), attr)
        globals()[name] = value  # later look-ups are plain attribute reads
        return value
    if name in _SUBPACKAGES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "lmer", "LinearMixedModel", "LmerFit", "datasets", "set_threads", "get_threads", "aov", "compare_methods",
    "NegativeVarianceWarning", "anova", "update", "update_formula", "ranova", "drop1", "step", "ls_means", "difflsmeans", "kr_modcomp", "KRmodcomp", "pb_modcomp", "PBmodcomp",
    "read_csv", "read_csv2",
    "MixedModelsError", "FormulaError", "DataError", "ModelError",
    "ConvergenceWarning", "SingularFitWarning", "RankDeficiencyWarning", "PredictorScaleWarning",
    "NaNProducedWarning", "OutsideBoundaryWarning", "MissingRowsWarning",
    "glmer", "glmer_nb", "GeneralizedLinearMixedModel", "GlmerFit", "family", "FamilyError", "FamilyWarning",
    "__version__",
]

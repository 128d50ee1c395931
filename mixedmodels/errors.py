"""Exceptions and warnings raised by mixedmodels.

Every error a user can provoke is a :class:`MixedModelsError` (a ``ValueError``) or one of its subclasses,
so ``except ValueError`` keeps working for callers that do not know this package. Warnings are
``UserWarning`` subclasses so they show by default, and can be filtered by class.
"""

from __future__ import annotations

__all__ = [
    "MixedModelsError",
    "FormulaError",
    "DataError",
    "ModelError",
    "ConvergenceWarning",
    "SingularFitWarning",
    "RankDeficiencyWarning",
    "PredictorScaleWarning",
    "NaNProducedWarning",
    "OutsideBoundaryWarning",
    "MissingRowsWarning",
]


class MixedModelsError(ValueError):
    """Base class of every error raised for bad input or an impossible model."""


class FormulaError(MixedModelsError):
    """A formula that cannot be parsed or evaluated.

    When the offending token is known, the message shows the formula with a caret under it::

        unknown column 'Dayz' (did you mean 'Days'?)
          Reaction ~ Dayz + (Days | Subject)
                     ^^^^
    """

    def __init__(self, message: str, formula: str | None = None, start: int | None = None,
                 end: int | None = None):
        self.reason = message
        self.formula = formula
        self.start = start
        self.end = end
        text = message
        if formula is not None and start is not None:
            stop = max(end if end is not None else start + 1, start + 1)
            text = f"{message}\n  {formula}\n  {' ' * start}{'^' * (stop - start)}"
        super().__init__(text)


class DataError(MixedModelsError):
    """Data that cannot be used as given: wrong type, missing or infinite values, too few levels."""


class ModelError(MixedModelsError):
    """A model that lme4 would refuse: more random effects than observations, and the like."""


class ConvergenceWarning(UserWarning):
    """The optimizer stopped without meeting its convergence criteria."""


class SingularFitWarning(UserWarning):
    """The fit is on the boundary of the parameter space (a variance of zero or a correlation of +-1)."""


class RankDeficiencyWarning(UserWarning):
    """The fixed-effects model matrix is rank deficient; aliased columns were dropped."""


class NaNProducedWarning(UserWarning):
    """A function in the formula produced NaN from numbers (``sqrt`` or ``log`` of a negative value, as
    R's "NaNs produced"); those rows are treated as missing."""


class MissingRowsWarning(UserWarning):
    """``lmer`` dropped rows with a missing value in a variable of the model (R's ``na.omit``, which R
    does silently): the warning gives the count and the variables responsible."""


class PredictorScaleWarning(UserWarning):
    """Predictors on very different scales (lme4's check.scaleX): the fit may be less accurate; consider
    rescaling them."""


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` attributed to the caller's code: the first frame outside this package (so a
    warning from ``mm.lmer(...)`` points at the user's line, not at the package's insides)."""
    import os
    import sys
    import warnings

    here = os.path.dirname(os.path.abspath(__file__))
    level = 2  # warnings.warn's count: 1 is this function, 2 its caller
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


class OutsideBoundaryWarning(UserWarning):
    """``bs()`` evaluated beyond its boundary knots (explicit ``Boundary.knots``, or new data outside the
    training range): R's warning "some 'x' values beyond boundary knots may cause ill-conditioned bases"."""


class FamilyError(MixedModelsError):
    """A GLMM family or link that does not exist, or a response the family cannot take (R's errors in
    ``family$initialize``: y outside [0, 1] for the binomial, negative Poisson counts, ...)."""


class FamilyWarning(UserWarning):
    """R's warnings from a family's checks (non-integer binomial successes, ...) and from PIRLS."""

"""What every fitted mixed model shares: lme4's ``merMod`` accessors, computed one way for the linear fit
(:class:`~mixedmodels.model.LmerFit`) and the generalized one (:class:`~mixedmodels.glmm.GlmerFit`).

A subclass provides the fit's own pieces:

* ``model`` (with its ``design``), ``theta``, ``_beta``, ``sigma``, ``objective`` and ``npar``;
* ``_lambdas``: each term's relative covariance factor lambda_i (its covariance is sigma^2 lambda_i
  lambda_i', MATH.md section 1) and ``_u``: the spherical random effects, stacked term by term;
* ``_vcov_array``: the covariance matrix of the fixed effects;
* ``_condvar_blocks``: per term, the conditional covariance matrices of the random effects, level by level;
* ``_residual_sigma``: the sigma of the variance components' Residual row (``None`` for a family
  without a dispersion).

From them this class gives ``fixef``, ``vcov``, ``se``, ``ranef``, ``ranef_condsd``, ``coef()``,
``ngroups``, ``varcorr``, ``nobs``, ``loglik``, ``aic``, ``bic``, ``df_resid``, the frame spec, lme4's
singularity rule, the print options' checks, ``repr`` (the subclass's ``format()``) and
``compare_statsmodels``.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import pandas as pd

from .errors import MixedModelsError
from .formula.parse import parse_formula
from .formula.transforms import Evaluator, Factor
from .frame.design import Design, check_data
from .frame.spec import FrameSpec
from .interop.compare import compare_statsmodels as _compare_statsmodels
from .output.summary import call_lines, group_labels
from .post import predict as _predict

__all__ = ["MixedModelFit", "ModelInputs", "GroupDict", "frames_by_group", "varcorr_frame", "SINGULAR_TOL",
           "subset_mask", "aligned_to_data", "resolve_data_name"]

SINGULAR_TOL = 1e-4  # lme4's isSingular(tol = 1e-4)


class GroupDict(dict):
    """A dict keyed by grouping factor (``ranef``, ``coef``): asking for a factor the model does not have
    is an error that names the ones it has (a :class:`~mixedmodels.errors.MixedModelsError`)."""

    def __missing__(self, key):
        raise MixedModelsError(f"no grouping factor {key!r} in this model; it has: "
                               + ", ".join(repr(k) for k in self))


def frames_by_group(terms, blocks) -> GroupDict:
    """Per-term blocks of values (levels x columns) as one DataFrame per grouping factor, the columns of
    terms sharing a factor side by side (lme4's ``ranef`` layout)."""
    out: dict[str, list] = {}
    for t, vals in zip(terms, blocks):
        out.setdefault(t.group, []).append(pd.DataFrame(vals, index=pd.Index(t.levels, name=t.group),
                                                        columns=t.cnames))
    return GroupDict({g: pd.concat(frames, axis=1) if len(frames) > 1 else frames[0]
                      for g, frames in out.items()})


def varcorr_frame(terms, covariances, sigma=None) -> pd.DataFrame:
    """R's ``as.data.frame(VarCorr(m))`` from each term's covariance matrix: grp, var1, var2, vcov, sdcor;
    a Residual row when ``sigma`` is given (linear fits; generalized ones with a dispersion)."""
    rows = []
    for name, t, cov in zip(group_labels(terms), terms, covariances):
        sd = np.sqrt(np.diag(cov))
        for i, c in enumerate(t.cnames):
            rows.append((name, c, None, cov[i, i], sd[i]))
        for i in range(t.ncols):
            for j in range(i + 1, t.ncols):
                corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan
                rows.append((name, t.cnames[i], t.cnames[j], cov[i, j], corr))
    if sigma is not None:
        rows.append(("Residual", None, None, sigma ** 2, sigma))
    return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])


def subset_mask(subset, data: pd.DataFrame, formula: str) -> np.ndarray:
    """R's ``subset`` argument: an expression over the columns (evaluated by the formula evaluator, so
    no code runs) or a boolean array with one entry per row; missing counts as FALSE, as in R."""

    if isinstance(subset, str):
        try:
            node = parse_formula("~" + subset).rhs
        except MixedModelsError as exc:
            raise MixedModelsError(f"subset: cannot read {subset!r}: {exc}") from None
        val = Evaluator(data, subset).eval(node)
        if not (isinstance(val, Factor) and val.levels == ["FALSE", "TRUE"]):
            raise MixedModelsError(f"subset must be a logical expression (a comparison such as 'Days >= 2'), "
                                   f"not {subset!r}")
        return val.codes == 1
    if isinstance(subset, pd.Series):
        subset = aligned_to_data(subset, data, "subset")
    mask = np.asarray(subset)
    if mask.dtype != bool or mask.shape != (len(data),):
        raise MixedModelsError(f"subset must be a logical expression (a string) or a boolean array with one "
                               f"entry per row ({len(data)}), not {type(subset).__name__} of shape "
                               f"{mask.shape}")
    return mask


def aligned_to_data(series: pd.Series, data: pd.DataFrame, what: str) -> np.ndarray:
    """A pandas Series given for subset / weights / offset, matched to the data's rows by index label
    (as pandas aligns), not by position; an error if the labels do not match the data's."""
    if series.index.equals(data.index):
        return series.to_numpy()
    if not series.index.is_unique or not data.index.is_unique:
        raise MixedModelsError(f"{what}: the Series' index and the data's index must be unique to be matched")
    missing = data.index.difference(series.index)
    if len(missing):
        raise MixedModelsError(f"{what}: the Series has no value for {len(missing)} row label(s) of the data "
                               f"(e.g. {missing[0]!r}); give one value per row, matched by index")
    return series.reindex(data.index).to_numpy()


def resolve_data_name(data, data_name) -> str:
    """The name on the summary's ``Data:`` line: ``data_name``, else ``data.attrs["name"]`` (set by
    :func:`mixedmodels.datasets.load`), else ``"data"``; an error unless it is a string."""
    if data_name is None:
        data_name = data.attrs.get("name", "data") if isinstance(getattr(data, "attrs", None), dict) \
            else "data"
    if not isinstance(data_name, str):
        raise MixedModelsError(f"data_name must be a string, not {type(data_name).__name__}")
    return data_name


class ModelInputs:
    """What an unfitted linear and generalized model (:class:`~mixedmodels.model.LinearMixedModel`,
    :class:`~mixedmodels.glmm.GeneralizedLinearMixedModel`) do alike with their inputs besides the
    formula: the data's name, R's model-frame arguments (kept for ``update()`` and the printed call),
    an offset Series matched by index and the ``subset`` rows."""

    def _take_inputs(self, formula: str, data: pd.DataFrame, data_name, subset, weights, offset,
                     na_action: str):
        """Sets ``data_name`` and ``frame_args``; returns the data's rows in ``subset``, the offset on
        them (a Series matched to the data by index) and the subset's mask (``None`` without one)."""
        self.data_name = resolve_data_name(data, data_name)
        # what R's model.frame takes besides the formula, kept so that update() and ranova() refit alike
        self.frame_args = {"subset": subset, "weights": weights, "offset": offset, "na_action": na_action}
        if isinstance(offset, pd.Series):
            offset = aligned_to_data(offset, data, "offset")
        mask = None
        if subset is not None:
            check_data(data)
            mask = subset_mask(subset, data, formula)
            data = data[mask]
            # arrays given per row of the full data follow the subset
            offset = offset if offset is None or isinstance(offset, str) else np.asarray(offset)[mask]
        return data, offset, mask

    def call_lines(self) -> list[tuple[str, str]]:
        """lme4's ``Weights:``, ``Offset:`` and ``Subset:`` lines of the printed call."""
        return call_lines(self.frame_args, self.data.columns)


class MixedModelFit:
    """The accessors a linear and a generalized fit share (see the module docstring for what a subclass
    provides)."""

    # ------------------------------------------------------------------ the model frame
    @property
    def design(self) -> Design:
        return self.model.design

    @property
    def frame_spec(self) -> FrameSpec:
        """The frozen frame spec of the model frame (:class:`~mixedmodels.frame.spec.FrameSpec`): levels,
        contrasts, stateful-transform state and the terms' columns; ``frame_spec.model_matrix(data)`` and
        ``frame_spec.random_matrices(data)`` rebuild X and Z on other data."""
        spec = self.model.design.spec
        if spec is None:
            raise MixedModelsError("this model's frame was built without a frame spec "
                                   "(mixedmodels.frame.spec.FrameSpec), which this needs")
        return spec

    @property
    def nobs(self) -> int:
        return self.design.n

    # ------------------------------------------------------------------ likelihood
    @property
    def loglik(self) -> float:
        return -0.5 * self.objective

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.npar

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + math.log(self.nobs) * self.npar

    @property
    def df_resid(self) -> int:
        return self.nobs - self.npar

    def _theta_singular(self) -> bool:
        """lme4's ``isSingular(m, tol = 1e-4)``: an element of theta on the diagonal of a term's lambda (lower
        bound 0) below the tolerance."""
        diag = [t.theta_diagonal() for t in self.design.terms]
        return bool(diag) and bool(np.any(self.theta[np.concatenate(diag)] < SINGULAR_TOL))

    # ------------------------------------------------------------------ fixed effects
    @cached_property
    def fixef(self) -> pd.Series:
        return pd.Series(self._beta.copy(), index=self.design.x_names, name="fixef")

    @cached_property
    def vcov(self) -> pd.DataFrame:
        names = self.design.x_names
        return pd.DataFrame(self._vcov_array, index=names, columns=names)

    @property
    def se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._vcov_array)), index=self.design.x_names, name="se")

    # ------------------------------------------------------------------ random effects
    @cached_property
    def _b_blocks(self) -> list[np.ndarray]:
        """Conditional modes b = Lambda u per term, shaped (nlevels, ncols)."""
        out, pos = [], 0
        for t, lam in zip(self.design.terms, self._lambdas):
            u = self._u[pos: pos + t.nranef].reshape(t.nlevels, t.ncols)
            out.append(u @ lam.T)
            pos += t.nranef
        return out

    def _by_group(self, blocks: list[np.ndarray]) -> GroupDict:
        return frames_by_group(self.design.terms, blocks)

    @cached_property
    def ranef(self) -> GroupDict:
        """Conditional modes of the random effects, per grouping factor (lme4's ``ranef``)."""
        return self._by_group(self._b_blocks)

    @cached_property
    def ranef_condsd(self) -> GroupDict:
        """Conditional standard deviations, same shape as :attr:`ranef` (lme4's ``ranef(condVar = TRUE)``)."""
        return self._by_group([np.sqrt(np.diagonal(v, axis1=1, axis2=2)) for v in self._condvar_blocks])

    @cached_property
    def ngroups(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.design.terms:
            out.setdefault(t.group, t.nlevels)
        return out

    def _term_covariances(self) -> list[np.ndarray]:
        """Each term's covariance matrix sigma^2 lambda_i lambda_i' (what ``VarCorr`` shows)."""
        s2 = self.sigma ** 2
        return [s2 * lam @ lam.T for lam in self._lambdas]

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as R's ``as.data.frame(VarCorr(m))``: grp, var1, var2, vcov, sdcor (a
        Residual row for a linear fit, and a generalized one whose family has a dispersion)."""
        return varcorr_frame(self.design.terms, self._term_covariances(), self._residual_sigma)

    # ------------------------------------------------------------------ printing
    @staticmethod
    def _print_options(digits, ranef_comp, correlation=None) -> tuple[str, ...]:
        """R's print options checked against R's limits (``digits`` a whole number from 1 to 22,
        ``ranef.comp`` among Variance and Std.Dev., ``correlation`` TRUE, FALSE or NULL); ``ranef_comp``
        as a tuple (one name may be given as a string)."""
        if isinstance(ranef_comp, str):
            ranef_comp = (ranef_comp,)
        if digits is not None and not (isinstance(digits, (int, np.integer)) and not isinstance(digits, bool)
                                       and 1 <= digits <= 22):
            raise MixedModelsError(f"digits must be a whole number from 1 to 22 (as in R), not {digits!r}")
        if ranef_comp is None or isinstance(ranef_comp, (int, float)):
            raise MixedModelsError(f"ranef_comp takes 'Variance' and/or 'Std.Dev.', not {ranef_comp!r}")
        bad = [c for c in ranef_comp if c not in ("Variance", "Std.Dev.")]
        if bad or not ranef_comp:
            raise MixedModelsError(f"ranef_comp takes 'Variance' and/or 'Std.Dev.', not {list(ranef_comp)!r}")
        if correlation is not None and not isinstance(correlation, (bool, np.bool_)):
            raise MixedModelsError(f"correlation must be True, False or None, not {correlation!r}")
        return tuple(ranef_comp)

    def __repr__(self) -> str:
        """R's ``print(m)`` (the subclass's :meth:`format` with R's defaults)."""
        return self.format()

    def __str__(self) -> str:
        return self.__repr__()

    # ------------------------------------------------------------------ after the fit
    def coef(self) -> GroupDict:
        """Fixed plus random effects per level of each grouping factor (lme4's ``coef``)."""
        return _predict.coef(self)

    def compare_statsmodels(self, **kwargs):
        """Fit the model with statsmodels (optional extra) and compare side by side: ``MixedLM`` for a
        linear model; for a generalized one the variational-Bayes mixed GLM (``BinomialBayesMixedGLM`` /
        ``PoissonBayesMixedGLM``), a Bayesian approximation, not a likelihood fit. See
        :func:`mixedmodels.interop.compare.compare_statsmodels`."""
        return _compare_statsmodels(self, **kwargs)

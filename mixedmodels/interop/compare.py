"""Fit the same model with statsmodels' ``MixedLM`` and put the two fits side by side.

statsmodels is an optional dependency (``pip install mixedmodels[compare]``), imported only here.

How an lme4 model maps onto ``MixedLM`` (whose random effects are: one block of correlated effects per
*group*, ``exog_re``, plus independent variance components within each group, ``exog_vc``):

* one grouping factor with one term, ``(1|g)`` or ``(x|g)``: ``groups = g``, ``exog_re`` = the term's
  columns (statsmodels' ``re_formula``);
* several terms that are nested in one grouping factor ``g`` (``(1|g) + (1|g:h)``, ``(x||g)``): ``groups =
  g``, at most one multi-column term as ``exog_re``, every other term a variance component
  (``vc_formula``) within ``g``; this needs each of those other terms to be scalar;
* crossed factors (``(1|plate) + (1|sample)``): one group holding every observation and one variance
  component per term, so every term must be scalar (``(1|g)`` or ``(0 + x|g)``).

Anything else (a correlated ``(x|g)`` term next to a crossed factor) has no ``MixedLM`` form, and
:func:`compare_statsmodels` raises :class:`~mixedmodels.errors.MixedModelsError` saying which term.

The fit uses our fixed-effects and random-effects model matrices directly (not a patsy formula), so R-only
coding (``poly``, ``scale``, R's contrasts and column names) is reproduced exactly. The equivalent formula
call is shown for reference in :attr:`Comparison.statsmodels_code`.

Log-likelihoods: statsmodels 0.15's ``llf`` includes the same constants as lme4's ``logLik`` (for REML:
``-(n - p)/2 log(2 pi)``, ``-1/2 log|X' V^-1 X|``, and the profiled ``-(n - p)/2 (1 + log(r'V^-1r/(n-p)))``),
so the two are on one scale. :func:`compare_statsmodels` checks this rather than assuming it: it evaluates
statsmodels' own log-likelihood function at *our* estimates, and reports the difference from our log-
likelihood as the convention offset (zero to rounding when the conventions agree) separately from the
difference between the two optima.

A generalized fit (``mm.glmer``) is compared with statsmodels' ``BinomialBayesMixedGLM`` (logit link, a 0/1
response) or ``PoissonBayesMixedGLM`` (log link), fitted by variational Bayes (``fit_vb``): a Bayesian
approximation with normal priors, not a likelihood fit, so its posterior means and standard deviations
are set beside lme4-style maximum-likelihood estimates and standard errors, and there is no log-likelihood
to compare (see :class:`GlmmComparison`). statsmodels' model has independent random intercepts only, no
offset, no prior weights and one trial per binomial row; any other model is refused with a
:class:`~mixedmodels.errors.MixedModelsError` that says what statsmodels cannot express.
"""

from __future__ import annotations

import html
import keyword
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from ..errors import MixedModelsError
from ..formula.parse import UnaryOp, deparse, split_formula

__all__ = ["Comparison", "GlmmComparison", "MixedLMTranslation", "compare_statsmodels", "compare_glmm_statsmodels",
           "to_mixedlm"]


def _statsmodels():
    try:
        from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams, VCSpec
    except ImportError as exc:  # pragma: no cover - exercised only without statsmodels
        raise ImportError("comparing with statsmodels needs statsmodels, which is not installed: "
                          "pip install mixedmodels[compare]") from exc
    return MixedLM, MixedLMParams, VCSpec


# ------------------------------------------------------------------------------------ translation
@dataclass
class _Plan:
    """How the model's terms map onto MixedLM: the grouping term (or None for one all-encompassing
    group), the term given as ``exog_re`` (or None), and the terms given as variance components."""

    group_term: int | None
    re_term: int | None
    vc_terms: list[int]


def _nested_in(inner: np.ndarray, outer: np.ndarray) -> bool:
    """True when every level of ``inner`` occurs within a single level of ``outer``."""
    pairs = pd.DataFrame({"i": inner, "o": outer}).drop_duplicates()
    return not pairs["i"].duplicated().any()


def _plan(design) -> _Plan:
    terms = design.terms
    groups = []
    for t in terms:
        if t.group not in groups:
            groups.append(t.group)
    first_of = {g: next(k for k, t in enumerate(terms) if t.group == g) for g in groups}

    def on_group(g: str) -> _Plan | None:
        """Plan with ``groups = g``, or None if some other factor is not nested in g."""
        gref = terms[first_of[g]].refs
        for t in terms:
            if t.group != g and not _nested_in(t.refs, gref):
                return None
        own = [k for k, t in enumerate(terms) if t.group == g]
        multi = [k for k in own if terms[k].ncols > 1]
        if len(multi) > 1:
            raise MixedModelsError(
                "statsmodels' MixedLM has one correlated random-effects block per group, but the model has "
                f"{len(multi)} multi-column terms on '{g}': "
                + ", ".join(f"({terms[k].source})" for k in multi))
        re_term = multi[0] if multi else own[0]  # e.g. (1|g) of (x||g); the rest are components
        vc = [k for k in range(len(terms)) if k != re_term]
        for k in vc:
            if terms[k].ncols > 1:
                raise MixedModelsError(
                    f"statsmodels' MixedLM cannot express the correlated term ({terms[k].source}) on "
                    f"'{terms[k].group}' within groups of '{g}': only scalar terms such as (1 | "
                    f"{terms[k].group}) can be variance components")
        return _Plan(group_term=first_of[g], re_term=re_term, vc_terms=vc)

    # prefer the coarsest grouping factor in which every other one is nested
    for g in sorted(groups, key=lambda g: terms[first_of[g]].nlevels):
        plan = on_group(g)
        if plan is not None:
            return plan
    # crossed factors: one group, every term a variance component
    bad = [t for t in terms if t.ncols > 1]
    if bad:
        t = bad[0]
        raise MixedModelsError(
            f"statsmodels' MixedLM cannot express this model: the grouping factors "
            f"{', '.join(repr(g) for g in groups)} are crossed, so they must all be variance components of "
            f"one all-encompassing group, and a variance component is a scalar term; ({t.source}) has "
            f"{t.ncols} correlated columns ({', '.join(t.cnames)})")
    return _Plan(group_term=None, re_term=None, vc_terms=list(range(len(terms))))


def _vc_name(t) -> str:
    return t.group if t.cnames == ["(Intercept)"] else f"{t.group}:{t.cnames[0]}"


def _build_model(d, plan: _Plan, MixedLM, VCSpec):
    """MixedLM on the design ``d``'s own matrices. With one group holding every row (crossed factors),
    each variance component's matrix is sparse (n x levels, one nonzero a row): statsmodels then solves
    with sparse factorizations, and a crossed model with thousands of levels fits in memory."""
    terms = d.terms
    n = d.n
    one_group = plan.group_term is None
    groups = np.zeros(n, dtype=np.int64) if one_group else terms[plan.group_term].refs
    ngroups = int(groups.max()) + 1
    rows_of = [np.arange(n)] if one_group else [np.flatnonzero(groups == i) for i in range(ngroups)]
    exog_re = None if plan.re_term is None else terms[plan.re_term].z
    names, colnames, mats = [], [], []
    for k in plan.vc_terms:
        t = terms[k]
        names.append(_vc_name(t))
        cn, mt = [], []
        for rows in rows_of:
            present = np.unique(t.refs[rows])
            col = np.searchsorted(present, t.refs[rows])
            if one_group:
                Z = sparse.csr_array((np.asarray(t.z[rows, 0], dtype=float), (np.arange(len(rows)), col)),
                                     shape=(len(rows), len(present)))
            else:
                Z = np.zeros((len(rows), len(present)))
                Z[np.arange(len(rows)), col] = t.z[rows, 0]
            cn.append([str(t.levels[p]) for p in present])
            mt.append(Z)
        colnames.append(cn)
        mats.append(mt)
    vc = VCSpec(names, colnames, mats) if names else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MixedLM(d.y - d.offset, pd.DataFrame(d.X, columns=d.x_names), groups=groups,
                        exog_re=exog_re, exog_vc=vc)
    return model


def _structure(d, plan: _Plan) -> str:
    terms = d.terms
    structure = ("one group holding every observation" if plan.group_term is None
                 else f"groups = {terms[plan.group_term].group}")
    if plan.re_term is not None:
        structure += f"; exog_re = ({terms[plan.re_term].source}) columns [{', '.join(terms[plan.re_term].cnames)}]"
    if plan.vc_terms:
        structure += "; variance components: " + ", ".join(_vc_name(terms[k]) for k in plan.vc_terms)
    return structure


@dataclass
class MixedLMTranslation:
    """A linear mixed model written as statsmodels' ``MixedLM`` (see :func:`to_mixedlm`).

    Attributes
    ----------
    model : statsmodels MixedLM
        Built on the model's own fixed-effects matrix and random-effects columns (not a patsy formula);
        call ``model.fit(reml=...)``.
    structure : str
        How the random effects were mapped: the groups, ``exog_re`` and the variance components.
    code : str
        The equivalent ``statsmodels.formula.api.mixedlm`` call, for reading.
    """

    model: object
    structure: str
    code: str
    plan: _Plan = field(repr=False)


def to_mixedlm(model, reml: bool = True) -> MixedLMTranslation:
    """statsmodels' ``MixedLM`` for a linear mixed model (a :class:`~mixedmodels.LinearMixedModel` or a
    fit): one grouping factor with its terms, nested factors as variance components within the coarsest
    group, and crossed factors with scalar terms (``(1 | g1) + (1 | g2)``) as variance components of one
    group holding every row (statsmodels' ``vc_formula={"g1": "0 + C(g1)", ...}`` with ``groups`` all
    ones; the matrices are sparse there). Raises :class:`~mixedmodels.errors.MixedModelsError` for a
    model ``MixedLM`` cannot express (a correlated term beside a crossed factor), naming the term, and
    ImportError without statsmodels."""
    d = model.design
    if d.weights is not None:
        raise MixedModelsError("statsmodels' MixedLM has no prior weights: a weighted fit cannot be compared")
    plan = _plan(d)
    MixedLM, _, VCSpec = _statsmodels()
    return MixedLMTranslation(model=_build_model(d, plan, MixedLM, VCSpec), structure=_structure(d, plan),
                              code=_code(d, plan, reml), plan=plan)


def _fixed_formula(d, quote_keywords: bool = True) -> str:
    """The model's fixed-effects formula in patsy's spelling (``C(...)`` for ``factor(...)``)."""
    lhs, fixed, _ = split_formula(d.formula)
    parts = []
    for node in fixed:
        parts.append(("- " + deparse(node.operand)) if isinstance(node, UnaryOp) and node.op == "-"
                     else deparse(node))
    rhs = " + ".join(parts).replace("+ -", "-") if parts else "1"
    rhs = rhs.replace("as.factor(", "C(").replace("factor(", "C(")  # patsy's spelling
    resp = deparse(lhs)
    if quote_keywords and keyword.iskeyword(resp):  # e.g. Oats' "yield"
        resp = f'Q("{resp}")'
    return f"{resp} ~ {rhs}"


def _code(d, plan: _Plan, reml: bool) -> str:
    """The equivalent statsmodels formula call (for reading; the comparison fits the matrices)."""
    fml = _fixed_formula(d)
    args = [repr(fml), "data"]
    terms = d.terms
    if plan.group_term is None:
        args.append("groups=np.ones(len(data))")
    else:
        args.append(f"groups=data[{terms[plan.group_term].group!r}]")
    if plan.re_term is not None:
        t = terms[plan.re_term]
        rest = [c for c in t.cnames if c != "(Intercept)"]
        if "(Intercept)" in t.cnames:
            expr = "~" + (" + ".join(rest) if rest else "1")
        else:
            expr = "~0 + " + " + ".join(rest)
        args.append(f"re_formula={expr!r}")
    if plan.vc_terms:
        vcs = []
        for k in plan.vc_terms:
            t = terms[k]
            if plan.group_term is not None and t.group == terms[plan.group_term].group:
                body = "1" if t.cnames == ["(Intercept)"] else f"0 + {t.cnames[0]}"
            else:
                lev = ":".join(f"C({g})" for g in t.group.split(":"))
                body = f"0 + {lev}" if t.cnames == ["(Intercept)"] else f"0 + {lev}:{t.cnames[0]}"
            vcs.append(f"{_vc_name(t)!r}: {body!r}")
        args.append("vc_formula={" + ", ".join(vcs) + "}")
    return (f"smf.mixedlm({', '.join(args)}).fit(reml={bool(reml)})")


# ------------------------------------------------------------------------------------ the comparison
@dataclass
class Comparison:
    """The two fits side by side; ``str()`` prints the table with notes.

    Attributes
    ----------
    table : DataFrame
        Rows: fixed effects, their standard errors, variance components, log-likelihood, fit time;
        columns ``mixedmodels``, ``statsmodels`` and ``difference`` (statsmodels minus mixedmodels).
    mixedmodels_loglik, statsmodels_loglik : float
        The maximized (REML or ML) log-likelihoods as each package reports them.
    statsmodels_loglik_at_ours : float
        statsmodels' log-likelihood function evaluated at mixedmodels' estimates.
    loglik_offset : float
        ``statsmodels_loglik_at_ours - mixedmodels_loglik``: the difference of conventions (constants),
        zero to rounding when both use the same; ``statsmodels_loglik - statsmodels_loglik_at_ours`` is
        then how much better (or worse) statsmodels' optimum is.
    statsmodels_result : MixedLMResults
    statsmodels_code : str
        The equivalent ``statsmodels.formula.api.mixedlm`` call.
    structure : str
        How the random effects were mapped (groups, exog_re, variance components).
    """

    table: pd.DataFrame
    mixedmodels_loglik: float
    statsmodels_loglik: float
    statsmodels_loglik_at_ours: float
    loglik_offset: float
    statsmodels_result: object
    statsmodels_code: str
    structure: str
    reml: bool
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        crit = "REML" if self.reml else "ML"
        return _side_by_side_text(
            [f"mixedmodels vs statsmodels MixedLM ({crit} fits of the same model matrices)",
             f"statsmodels structure: {self.structure}", f"equivalent call: {self.statsmodels_code}"],
            self.table, self.notes, self.warnings)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        return _pre_html(self.__str__())


def _side_by_side_frame(rows: list[tuple]) -> pd.DataFrame:
    """The comparison table: rows ``(section, term, mixedmodels, statsmodels)``, indexed by term, with
    ``difference`` = statsmodels - mixedmodels."""
    table = pd.DataFrame(rows, columns=["section", "term", "mixedmodels", "statsmodels"]).set_index("term")
    table["difference"] = table["statsmodels"] - table["mixedmodels"]
    return table


def _side_by_side_text(head: list[str], table: pd.DataFrame, notes: list[str], warned: list[str]) -> str:
    """The printed comparison: ``head`` lines, the table by section, the notes and statsmodels' warnings."""
    lines = [*head, ""]
    width = max(len(str(i)) for i in table.index) + 2
    lines.append(f"{'':<{width}}{'mixedmodels':>16}{'statsmodels':>16}{'difference':>13}")
    section = None
    for term, row in table.iterrows():
        if row["section"] != section:
            section = row["section"]
            lines.append(section)
        diff = "" if not np.isfinite(row["difference"]) else f"{row['difference']:>13.3g}"
        lines.append(f"  {term:<{width - 2}}{_fmt(row['mixedmodels']):>16}{_fmt(row['statsmodels']):>16}{diff}")
    lines.append("")
    lines.extend(notes)
    if warned:
        lines.append("statsmodels warned: " + "; ".join(warned))
    return "\n".join(lines)


def _pre_html(text: str) -> str:
    return "<pre>" + html.escape(text) + "</pre>"


def _fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "NA"
    return f"{x:.8g}"


def _time_ours(fit) -> tuple[float, str]:
    """Seconds to fit the model again: from scratch (formula and data) when the fit keeps its data, else
    the optimization alone on the model already set up."""
    method = "REML" if fit.reml else "ML"
    data = getattr(fit.model, "data", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        if isinstance(data, pd.DataFrame):
            type(fit.model)(fit.model.formula, data, **fit.model.refit_args).fit(method)
            what = "a full refit (formula, design and optimization)"
        else:
            fit.model.fit(method)
            what = "the optimization on the model already set up"
        return time.perf_counter() - t0, what


def compare_statsmodels(fit, *, method=None, **fit_kwargs) -> Comparison:
    """Fit ``fit``'s model with statsmodels' ``MixedLM`` (same REML/ML) and compare; for a glmer fit,
    :func:`compare_glmm_statsmodels` (statsmodels' variational-Bayes mixed GLM, ``method`` its
    ``fit_method``).

    ``method`` and other keywords go to ``MixedLM.fit`` (statsmodels' defaults otherwise). Raises
    :class:`~mixedmodels.errors.MixedModelsError` for a model ``MixedLM`` cannot express and ImportError
    (saying ``pip install mixedmodels[compare]``) without statsmodels.
    """
    if hasattr(fit, "family") and hasattr(fit, "nAGQ"):  # a glmer fit
        if method is not None:
            fit_kwargs["fit_method"] = method
        return compare_glmm_statsmodels(fit, **fit_kwargs)
    tr = to_mixedlm(fit, bool(fit.reml))
    _, MixedLMParams, _ = _statsmodels()
    d = fit.design
    plan = tr.plan
    terms = d.terms
    model = tr.model
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        res = model.fit(reml=bool(fit.reml), method=method, **fit_kwargs)
        sm_time = time.perf_counter() - t0
    for x in w:
        msg = str(x.message).strip().splitlines()[0]
        if msg not in caught:
            caught.append(msg)
    our_time, our_what = _time_ours(fit)

    # our covariance parameters in statsmodels' layout
    covs = fit._term_covariances()
    s2 = fit.sigma ** 2
    cov_re = covs[plan.re_term] if plan.re_term is not None else np.zeros((0, 0))
    vcomp = np.array([covs[k][0, 0] for k in plan.vc_terms])
    params = MixedLMParams.from_components(fe_params=fit.fixef.to_numpy(), cov_re=cov_re / s2,
                                           vcomp=vcomp / s2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm_at_ours = float(model.loglike(params, profile_fe=False))

    rows = []
    sm_fe = np.asarray(res.fe_params, dtype=float)
    sm_se = np.asarray(res.bse_fe, dtype=float)
    for j, nm in enumerate(d.x_names):
        rows.append(("Fixed effects", nm, fit.fixef.iloc[j], sm_fe[j]))
    for j, nm in enumerate(d.x_names):
        rows.append(("Standard errors", nm, fit.se.iloc[j], sm_se[j]))
    sm_cov_re = np.asarray(res.cov_re, dtype=float)
    sm_vc = np.asarray(res.vcomp, dtype=float)
    if plan.re_term is not None:
        t = terms[plan.re_term]
        for i in range(t.ncols):
            rows.append(("Variance components", f"{t.group}: var({t.cnames[i]})", cov_re[i, i], sm_cov_re[i, i]))
        for i in range(t.ncols):
            for j in range(i + 1, t.ncols):
                rows.append(("Variance components", f"{t.group}: cov({t.cnames[i]}, {t.cnames[j]})",
                             cov_re[i, j], sm_cov_re[i, j]))
    for k, v_ours, v_sm in zip(plan.vc_terms, vcomp, sm_vc):
        t = terms[k]
        rows.append(("Variance components", f"{t.group}: var({t.cnames[0]})", v_ours, v_sm))
    rows.append(("Variance components", "Residual: var", s2, float(res.scale)))
    crit = "REML" if fit.reml else "ML"
    rows.append(("Fit", f"log-likelihood ({crit})", fit.loglik, float(res.llf)))
    rows.append(("Fit", "fit time (s)", our_time, sm_time))
    table = _side_by_side_frame(rows)
    table.loc["fit time (s)", "difference"] = np.nan

    offset = sm_at_ours - fit.loglik
    notes = []
    tol = 1e-6 * max(1.0, abs(fit.loglik))
    if abs(offset) <= tol:
        notes.append(f"Log-likelihoods are on the same scale: statsmodels' {crit} log-likelihood evaluated at "
                     f"mixedmodels' estimates is {sm_at_ours:.10g}, mixedmodels' is {fit.loglik:.10g} "
                     f"(difference {offset:.2g}), so the difference in the table is between the two optima "
                     f"(positive: statsmodels found a higher {crit} likelihood).")
    else:
        notes.append(f"statsmodels' {crit} log-likelihood uses a different constant: at mixedmodels' "
                     f"estimates it is {sm_at_ours:.10g} against mixedmodels' {fit.loglik:.10g}, an offset of "
                     f"{offset:.10g}. On mixedmodels' scale statsmodels' optimum is "
                     f"{res.llf - offset:.10g} (difference {res.llf - sm_at_ours:.3g}).")
    notes.append(f"Fit times: statsmodels' MixedLM.fit on prepared matrices; mixedmodels' {our_what}; one "
                 "run each, so only indicative.")
    return Comparison(table=table, mixedmodels_loglik=float(fit.loglik), statsmodels_loglik=float(res.llf),
                      statsmodels_loglik_at_ours=sm_at_ours, loglik_offset=float(offset),
                      statsmodels_result=res, statsmodels_code=tr.code, structure=tr.structure,
                      reml=bool(fit.reml), notes=notes, warnings=caught)


# ------------------------------------------------------------------------------------ generalized fits
def _statsmodels_bayes():
    try:
        from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM, PoissonBayesMixedGLM
    except ImportError as exc:  # pragma: no cover - exercised only without statsmodels
        raise ImportError("comparing with statsmodels needs statsmodels, which is not installed: "
                          "pip install mixedmodels[compare]") from exc
    return BinomialBayesMixedGLM, PoissonBayesMixedGLM


def _bayes_class_name(fit) -> str:
    """``"BinomialBayesMixedGLM"`` or ``"PoissonBayesMixedGLM"`` for a model statsmodels can express, else
    a MixedModelsError naming what it cannot."""
    fam, link = fit.family, fit.family.link.name
    if fam.kind == "binomial" and link == "logit":
        name = "BinomialBayesMixedGLM"
    elif fam.kind == "poisson" and link == "log":
        name = "PoissonBayesMixedGLM"
    else:
        raise MixedModelsError(
            f"statsmodels' Bayesian mixed GLMs are binomial with the logit link and Poisson with the log link; "
            f"this model's family is {fam.name} with the {link} link, which they cannot express")
    m = fit.model
    if fam.kind == "binomial":
        trials = np.asarray(m.weights, dtype=float)
        if np.any(trials != 1.0):
            what = "cbind(successes, failures) response" if m.is_cbind else "weights="
            raise MixedModelsError(
                f"statsmodels' BinomialBayesMixedGLM takes a 0/1 response with one trial per row; this model's "
                f"{what} gives up to {trials.max():g} trials per row: expand the data to one row per trial "
                "(a 0/1 column) and fit that to compare")
    elif np.any(np.asarray(m.prior_weights, dtype=float) != 1.0):
        raise MixedModelsError("statsmodels' PoissonBayesMixedGLM has no prior weights: a weighted fit "
                               "cannot be compared")
    if np.any(np.asarray(fit.design.offset, dtype=float) != 0.0):
        raise MixedModelsError("statsmodels' Bayesian mixed GLMs have no offset: a model with an offset cannot "
                               "be compared")
    for t in fit.design.terms:
        if list(t.cnames) != ["(Intercept)"]:
            raise MixedModelsError(
                f"statsmodels' Bayesian mixed GLMs have independent random intercepts only; ({t.source}) has "
                f"the random-effect column{'s' if t.ncols > 1 else ''} {', '.join(t.cnames)}, which they "
                "cannot express")
    return name


@dataclass
class GlmmComparison:
    """A glmer fit beside statsmodels' variational-Bayes mixed GLM of the same model matrices; ``str()``
    prints the table with notes.

    The statsmodels column is a *Bayesian approximation*: posterior means (fixed effects), posterior
    standard deviations (in the standard-error rows) and ``exp`` of the posterior mean of each log
    standard deviation (random-effect standard deviations), under statsmodels' normal priors
    (``fe_p``, ``vcp_p``) and its mean-field variational approximation. It is not a maximum-likelihood
    fit and has no log-likelihood; differences from the mixedmodels column reflect the method, not an
    error of either.

    Attributes
    ----------
    table : DataFrame
        Rows: fixed effects, their standard errors (statsmodels: posterior SDs), random-effect standard
        deviations; columns ``section``, ``mixedmodels``, ``statsmodels``, ``difference`` (statsmodels
        minus mixedmodels).
    statsmodels_class : str
        ``"BinomialBayesMixedGLM"`` or ``"PoissonBayesMixedGLM"``.
    statsmodels_result : BayesMixedGLMResults
    statsmodels_code : str
        The equivalent ``from_formula(...).fit_vb()`` call, for reading (the comparison fits the matrices).
    method : str
        How the glmer fit was made (Laplace, nAGQ).
    converged : bool
        False when statsmodels' variational fit did not converge (a note then says so first).
    """

    table: pd.DataFrame
    statsmodels_class: str
    statsmodels_result: object
    statsmodels_code: str
    method: str
    converged: bool = True
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return _side_by_side_text(
            [f"mixedmodels glmer ({self.method}) vs statsmodels {self.statsmodels_class} "
             "(variational Bayes: a Bayesian approximation, not a likelihood fit)",
             f"equivalent call: {self.statsmodels_code}"],
            self.table, self.notes, self.warnings)

    def __repr__(self) -> str:
        return self.__str__()

    def _repr_html_(self) -> str:
        return _pre_html(self.__str__())


def _glmm_code(fit, cls: str) -> str:
    d = fit.design
    fml = _fixed_formula(d, quote_keywords=False)
    vcs = ", ".join(f"{t.group!r}: '0 + " + ":".join(f"C({g})" for g in t.group.split(":")) + "'"
                    for t in d.terms)
    return f"{cls}.from_formula({fml!r}, {{{vcs}}}, data).fit_vb()"


def compare_glmm_statsmodels(fit, *, vcp_p: float = 1.0, fe_p: float = 2.0, **fit_kwargs) -> GlmmComparison:
    """Fit a glmer fit's model with statsmodels' ``BinomialBayesMixedGLM`` / ``PoissonBayesMixedGLM`` by
    variational Bayes (``fit_vb``; ``vcp_p`` and ``fe_p`` are statsmodels' prior standard deviations, its
    defaults; other keywords go to ``fit_vb``) and set it beside ours.

    The model must be expressible there: binomial (logit) with a 0/1 response and one trial per row, or
    Poisson (log); independent random intercepts ``(1 | g)`` only (nested and crossed are both fine); no
    offset, no prior weights. Anything else raises :class:`~mixedmodels.errors.MixedModelsError`.
    """
    cls_name = _bayes_class_name(fit)
    Binomial, Poisson = _statsmodels_bayes()
    cls = Binomial if cls_name == "BinomialBayesMixedGLM" else Poisson
    d = fit.design
    terms = d.terms
    n = d.n
    blocks, ident, vc_names = [], [], []
    for k, t in enumerate(terms):
        blocks.append(sparse.csr_matrix((np.ones(n), (np.arange(n), t.refs)), shape=(n, t.nlevels)))
        ident.append(np.full(t.nlevels, k, dtype=np.int64))
        vc_names += [f"{t.group}[{lev}]" for lev in t.levels]
    exog_vc = sparse.hstack(blocks).tocsr()
    vcp_names = [t.group for t in terms]
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        model = cls(np.asarray(fit.model.y, dtype=float), pd.DataFrame(d.X, columns=d.x_names), exog_vc,
                    np.concatenate(ident), vcp_p=vcp_p, fe_p=fe_p, fep_names=list(d.x_names),
                    vcp_names=vcp_names, vc_names=vc_names)
        res = model.fit_vb(**fit_kwargs)
    for x in w:
        msg = str(x.message).strip().splitlines()[0]
        if msg not in caught:
            caught.append(msg)

    k_fe = d.p
    fe_mean = np.asarray(res.params[:k_fe], dtype=float)
    fe_sd = np.asarray(res.fe_sd, dtype=float)
    vcp_mean = np.asarray(res.vcp_mean, dtype=float)
    rows = []
    for j, nm in enumerate(d.x_names):
        rows.append(("Fixed effects (statsmodels: posterior mean)", nm, fit.fixef.iloc[j], fe_mean[j]))
    for j, nm in enumerate(d.x_names):
        rows.append(("Standard errors (statsmodels: posterior SD)", nm, fit.se.iloc[j], fe_sd[j]))
    covs = fit._term_covariances()
    for k, t in enumerate(terms):
        rows.append(("Random-effect SDs (statsmodels: exp(posterior mean of log SD))", f"{t.group}: sd(Intercept)",
                     float(np.sqrt(covs[k][0, 0])), float(np.exp(vcp_mean[k]))))
    table = _side_by_side_frame(rows)
    method = ("maximum likelihood, Laplace approximation" if fit.nAGQ == 1 else
              "maximum likelihood, nAGQ = 0" if fit.nAGQ == 0 else
              f"maximum likelihood, adaptive Gauss-Hermite quadrature, nAGQ = {fit.nAGQ}")
    notes = [
        f"statsmodels' {cls_name} is a Bayesian model fitted by a mean-field variational approximation "
        f"(priors: fixed effects N(0, {fe_p:g}^2), log random-effect SDs N(0, {vcp_p:g}^2)); it is not a "
        "likelihood fit, reports no log-likelihood, and its posterior means and SDs need not equal "
        "maximum-likelihood estimates and standard errors. Differences reflect the method.",
        "The variational approximation treats the random effects as independent of the fixed effects, so "
        "its posterior SDs of the fixed effects are typically smaller than the likelihood standard errors."]
    converged = bool(np.all(np.isfinite(table["statsmodels"].to_numpy()))
                     and np.all(np.abs(fe_mean) < 1e10)
                     and not any("did not converge" in m for m in caught))
    if not converged:
        notes.insert(0, f"WARNING: statsmodels' {cls_name}.fit_vb did not converge (its estimates are not "
                        "usable); rescaling the covariates or passing fit_method= / minim_opts= may help.")
    return GlmmComparison(table=table, statsmodels_class=cls_name, statsmodels_result=res,
                          statsmodels_code=_glmm_code(fit, cls_name), method=method, converged=converged,
                          notes=notes, warnings=caught)

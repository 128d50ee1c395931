"""The model frame on new data: X, offset and random-effects columns rebuilt for prediction and simulation.

This ports what R's ``predict.merMod`` / ``mkNewReTrms`` get from ``model.frame(terms, newdata, xlev = ...)``:

* every variable of the formula is evaluated on the new data, but *stateful* transformations keep the
  training data's parameters, as R's ``makepredictcall`` arranges: ``poly(x, 2)`` uses the training
  ``alpha``/``norm2`` (R's ``predict.poly``), ``scale(x)`` the training center and scale, ``ns(x, 3)`` and
  ``bs(x, 4)`` the training knots and boundary knots (R's ``predict.ns``/``predict.bs``, which extrapolate
  beyond them). As in R this applies to the variables of the model frame only, not to such calls nested
  in another expression (``I(scale(x)^2)`` is re-evaluated on the new data), and not to ``mean(x)``
  inside ``I()``;
* factors are coded with the training levels (R's ``xlevels``): a fixed-effects factor level not seen in
  fitting is an error, as in R;
* grouping factors are matched to the training levels by label; unseen levels (and missing values) are
  reported so that the caller can apply lme4's ``allow.new.levels`` rule;
* rows with a missing predictor are kept and give NaN (R's ``na.action = na.pass``, predict's default).

The training state (levels present in the rows used, poly/scale coefficients) is recovered by evaluating
the formula once more on the training data, which the fit keeps as ``fit.model.data``. The state is
cached per model.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import (Design, _compile_fixed, compile_fixed_part, _group_factor, _model_matrix, _VarTable, factor_columns,
                     lme4_term_order)
from ..errors import DataError
from ..formula.parse import Call, Node, deparse, expand_bars, split_formula
from .reterms import ReTerm
from ..formula.transforms import LOGICAL_LEVELS, Evaluator, Factor, Numeric, _r_sort_key, factor_from_series, is_stateful

__all__ = ["NewReTerm", "NewFrame", "TrainingState", "training_state", "new_frame", "re_bars"]

# ------------------------------------------------------------------------------------ evaluators
class _RecordingEvaluator(Evaluator):
    """Evaluates on the training data and records the parameters of every stateful variable
    (``poly``/``scale``/``ns``/``bs``), keyed by the call's deparsed text (R's ``predvars``)."""

    def __init__(self, data: pd.DataFrame, text: str):
        super().__init__(data, text)
        self.coefs: dict[str, dict] = {}

    def eval_variable(self, node: Node):
        val = super().eval_variable(node)
        if isinstance(node, Call) and is_stateful(node) and isinstance(val, Numeric):
            self.coefs.setdefault(deparse(node), val.coefs)
        return val


class _NewDataEvaluator(Evaluator):
    """Evaluates on new data; the stateful variables use the training parameters (``makepredictcall``:
    R's ``predict.poly``, the training center and scale, the training knots of ``ns``/``bs``).

    A string column that held strings in the training data too is coded with the training column's
    levels (then any new labels), as a factor column of an R data frame keeps its levels in a subset
    (``nd <- d[1:5, ]``): so ``as.integer(A)`` or ``relevel(A, "c")`` give the training codes and order
    even when a level is absent from the new data. A pandas Categorical keeps its own categories."""

    def __init__(self, data: pd.DataFrame, text: str, coefs: dict[str, dict],
                 train_data: pd.DataFrame | None = None):
        super().__init__(data, text, predvars=coefs)
        self.train_data = train_data

    def column(self, node):
        if self._columns.get(node.id) is None and node.id not in ("pi", "Inf"):
            import difflib

            close = difflib.get_close_matches(node.id, list(self._columns), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise DataError(f"newdata has no column {node.id!r}, which the formula uses{hint}:\n  {self.text}")
        if node.id in self._factors:
            return self._factors[node.id]
        val = super().column(node)
        levels = self._training_levels(node.id)
        if isinstance(val, Factor) and levels is not None:
            val = self._factors[node.id] = _with_levels(val, levels)
        return val

    def _training_levels(self, name: str) -> list[str] | None:
        """The levels of the training column ``name`` when both it and the new column hold strings."""
        train = self.train_data
        if train is None:
            return None
        key = next((c for c in train.columns.tolist() if str(c) == name), None)  # one scan, no dict
        if key is None:
            return None
        new, old = self.data[self._columns[name]], train[key]
        for s in (new, old):
            if isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(s.dtype) \
                    or pd.api.types.is_bool_dtype(s.dtype):
                return None
        return factor_from_series(old, name).levels


def _with_levels(v: Factor, levels: list[str]) -> Factor:
    """``v`` coded with ``levels`` first, labels not among them after (in R's order)."""
    extra = [lev for lev in v.levels if lev not in set(levels)]
    new_levels = list(levels) + sorted(extra, key=_r_sort_key)
    index = {lev: k for k, lev in enumerate(new_levels)}
    remap = np.array([index[lev] for lev in v.levels] + [-1], dtype=np.int64)
    return Factor(np.where(v.codes >= 0, remap[v.codes], -1), new_levels, v.ordered)


# ------------------------------------------------------------------------------------ training state
@dataclass
class TrainingState:
    """What R keeps in a fitted model's terms for prediction: the stateful-call parameters (``predvars``)
    and the training data, whose factor levels (in the rows used) are R's ``xlevels``."""

    data: pd.DataFrame
    coefs: dict[str, dict]


_STATE_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def training_state(model) -> TrainingState:
    """The training state of a :class:`~mixedmodels.model.LinearMixedModel` (cached per model).

    Needs the training DataFrame as ``model.data``.
    """
    try:
        return _STATE_CACHE[model]
    except (KeyError, TypeError):
        pass
    data = getattr(model, "data", None)
    if not isinstance(data, pd.DataFrame):
        raise DataError("predicting on new data needs the data the model was fitted on, and this model "
                        "does not keep it (model.data)")
    ev = _RecordingEvaluator(data, model.design.formula.text)
    _walk_variables(model.design, ev)
    state = TrainingState(data=data, coefs=ev.coefs)
    try:
        _STATE_CACHE[model] = state
    except TypeError:  # pragma: no cover - objects without weak references
        pass
    return state


def _walk_variables(design: Design, ev: Evaluator) -> None:
    """Evaluate every variable of the formula once (so that stateful calls record their parameters)."""
    _, fixed, bar_nodes = split_formula(design.formula)
    vt = _VarTable(ev)
    _, offsets = compile_fixed_part(fixed, vt, design.formula.text)
    for call in offsets:
        ev.numeric(call.args[0])
    for bar in expand_bars(bar_nodes, design.formula.text):
        _compile_fixed(bar.expr, vt, set(), design.formula.text)


# ------------------------------------------------------------------------------------ paired variables
class _PairedVarTable(_VarTable):
    """A :class:`~mixedmodels.frame.design._VarTable` over the new data whose factor columns are coded with the
    training levels: the levels present in the training rows, the first of them the baseline of the
    treatment contrasts (R's ``model.frame(..., xlev = )`` then ``model.matrix``)."""

    def __init__(self, ev_new: Evaluator, ev_train: Evaluator, train_rows: np.ndarray):
        super().__init__(ev_new)
        self.train = _VarTable(ev_train)
        self.train_rows = train_rows
        self.train_levels: list[list[str] | None] = []

    def add(self, node: Node) -> int:
        label = deparse(node)
        if label in self.index:
            return self.index[label]
        i = super().add(node)
        j = self.train.add(node)
        assert i == j
        tv, nv = self.train.values[j], self.values[i]
        if isinstance(tv, Factor):
            present = np.unique(tv.codes[self.train_rows])
            present = present[present >= 0]
            levels = [tv.levels[c] for c in present]
            if tv.levels == LOGICAL_LEVELS and not tv.ordered:
                levels = list(LOGICAL_LEVELS)  # a logical keeps both levels, as in fitting
            self.train_levels.append(levels)
            self.values[i] = _recode(nv, levels, label)
        else:
            self.train_levels.append(None)
            if isinstance(nv, Factor):
                raise DataError(f"'{label}' is numeric in the data the model was fitted on but not in "
                                "newdata")
            tcols = tv.values.shape[1] if tv.values.ndim == 2 else 1
            ncols = nv.values.shape[1] if nv.values.ndim == 2 else 1
            if tcols != ncols:  # pragma: no cover - same call, same shape
                raise DataError(f"'{label}' has {ncols} columns in newdata but {tcols} in fitting")
        return i

    def columns(self, i: int, rows: np.ndarray, contrasts: bool):
        """As :meth:`_VarTable.columns`, with the training levels; a missing factor value gives NaN."""
        levels = self.train_levels[i]
        if levels is None:
            return super().columns(i, rows, contrasts)
        v = self.values[i]
        return factor_columns(v.codes[rows], levels, contrasts, self.train.values[i].ordered)


def _recode(v, levels: list[str], label: str) -> Factor:
    """Recode a new-data factor to the training ``levels`` by label; an unseen level is R's error
    "factor x has new levels"."""
    if isinstance(v, Numeric):
        v = factor_from_series(pd.Series(v.matrix[:, 0]), label)
    index = {lev: k for k, lev in enumerate(levels)}
    lab = v.labels()
    codes = np.full(len(v.codes), -1, dtype=np.int64)
    unseen: list[str] = []
    for r, (c, s) in enumerate(zip(v.codes, lab)):
        if c < 0:
            continue
        k = index.get(s)
        if k is None:
            if s not in unseen:
                unseen.append(s)
        else:
            codes[r] = k
    if unseen:
        raise DataError(f"factor '{label}' has new level{'s' if len(unseen) > 1 else ''} in newdata: "
                        f"{', '.join(unseen)} (levels in fitting: {', '.join(levels)})")
    return Factor(codes=codes, levels=list(levels))


# ------------------------------------------------------------------------------------ the new frame
@dataclass
class NewReTerm:
    """One random-effects term evaluated on new data.

    ``group`` and ``cnames`` as in :class:`~mixedmodels.frame.reterms.ReTerm`; ``z`` the (m, ncols) values;
    ``labels`` the grouping-factor label of each row (None where missing); ``refs`` the index of each row's
    level among the fitted term's levels, -1 for a level not seen in fitting and -2 for a missing value.
    """

    group: str
    cnames: list[str]
    z: np.ndarray
    labels: list[str | None]
    refs: np.ndarray

    @property
    def new_levels(self) -> list[str]:
        """The levels of the new data not seen in fitting, in order of appearance."""
        out: list[str] = []
        for lab, r in zip(self.labels, self.refs):
            if r == -1 and lab not in out:
                out.append(lab)
        return out


@dataclass
class NewFrame:
    """The model frame on new data: ``X`` (m, p) with the fit's columns, ``offset`` (m,), and the
    random-effects terms (in the order asked for)."""

    X: np.ndarray
    offset: np.ndarray
    terms: list[NewReTerm]
    index: pd.Index


def re_bars(formula_text: str):
    """The random-effects bars of a formula (lme4's ``findbars`` after ``expandSlash`` and ``||``)."""
    from ..formula.parse import parse_formula

    f = parse_formula(formula_text)
    _, _, bar_nodes = split_formula(f)
    return expand_bars(bar_nodes, f.text)


def _model_bars_in_term_order(design: Design, ev_train: Evaluator):
    """The model's bars ordered as ``design.terms`` (lme4's order: decreasing number of levels, ties in
    formula order), so that bar k belongs to ``design.terms[k]``."""
    text = design.formula.text
    bars = expand_bars(split_formula(design.formula)[2], text)
    nlev = []
    for bar in bars:
        g = _group_factor(bar.group, ev_train, text)
        codes = g.codes[design.rows]
        nlev.append(len(np.unique(codes[codes >= 0])))
    order = lme4_term_order(nlev)
    out = [bars[k] for k in order]
    for bar, t in zip(out, design.terms):
        if bar.group_name != t.group:  # pragma: no cover - would be a bug in the matching
            raise RuntimeError(f"cannot match the bar ({deparse(bar.source)}) to the term of {t.group}")
    return out


def new_frame(design: Design, state: TrainingState, newdata: pd.DataFrame, *, bars=None,
              bars_text: str | None = None, fixed: bool = True) -> NewFrame:
    """Build the fixed-effects matrix, offset and random-effects columns of ``design``'s formula on
    ``newdata`` (R: ``model.frame(delete.response(terms), newdata, xlev =, na.action = na.pass)``,
    ``model.matrix`` and ``mkNewReTrms``).

    ``bars`` are the random-effects bars to build (default: the model's own, in ``design.terms`` order),
    parsed from ``bars_text`` (for error messages; default the model formula); with ``fixed=False`` X and
    the offset are not built (zeros).
    """
    if not isinstance(newdata, pd.DataFrame):
        raise DataError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    text = design.formula.text
    ev_new = _NewDataEvaluator(newdata, text, state.coefs, state.data)
    ev_train = Evaluator(state.data, text)
    vt = _PairedVarTable(ev_new, ev_train, design.rows)
    m = len(newdata)
    rows = np.arange(m)

    X = np.zeros((m, design.p))
    offset = np.zeros(m)
    if fixed:
        _, fixed_nodes, _ = split_formula(design.formula)
        rhs, offsets = compile_fixed_part(fixed_nodes, vt, text)
        for call in offsets:
            offset = offset + ev_new.numeric(call.args[0])
        Xfull, names, _ = _model_matrix(rhs, vt, rows)
        pos = {nm: j for j, nm in enumerate(names)}
        missing = [nm for nm in design.x_names if nm not in pos]
        if missing:  # pragma: no cover - same formula, same levels
            raise DataError(f"cannot rebuild the fixed-effects columns {', '.join(missing)} on newdata")
        X = Xfull[:, [pos[nm] for nm in design.x_names]] if design.p else np.zeros((m, 0))

    if bars is None:
        bars = _model_bars_in_term_order(design, ev_train)
        own = True
    else:
        own = False
    if bars_text is not None:  # errors point into the formula the bars come from
        text = ev_new.text = ev_train.text = bars_text
    terms: list[NewReTerm] = []
    for bar in bars:
        e_rhs = _compile_fixed(bar.expr, vt, set(), text)
        Z, cnames, _ = _model_matrix(e_rhs, vt, rows)
        if own and list(cnames) != list(design.terms[len(terms)].cnames):  # pragma: no cover - a bug
            raise RuntimeError(f"the columns of ({deparse(bar.source)}) on newdata, {cnames}, are not the "
                               f"fitted ones, {design.terms[len(terms)].cnames}")
        g = _group_factor(bar.group, ev_new, text)
        lab = g.labels()
        labels = [None if c < 0 else str(s) for c, s in zip(g.codes, lab)]
        terms.append(NewReTerm(group=bar.group_name, cnames=list(cnames), z=Z, labels=labels,
                               refs=np.full(m, -1, dtype=np.int64)))
    return NewFrame(X=X, offset=offset, terms=terms, index=newdata.index)


def match_levels(nt: NewReTerm, levels: list[str]) -> None:
    """Set ``nt.refs`` to the index of each row's level in ``levels`` (-1 unseen, -2 missing)."""
    index = {lev: k for k, lev in enumerate(levels)}
    nt.refs = np.array([-2 if s is None else index.get(s, -1) for s in nt.labels], dtype=np.int64)


def term_from_fit(t: ReTerm) -> NewReTerm:
    """A fitted term as a :class:`NewReTerm` over the training rows (every level seen)."""
    labels = [t.levels[r] for r in t.refs]
    return NewReTerm(group=t.group, cnames=list(t.cnames), z=t.z, labels=labels, refs=t.refs.copy())

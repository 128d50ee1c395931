"""The frozen frame spec: how the model frame was built, as a recipe for other data.

What R keeps in a fitted model for new data -- the ``predvars`` of its terms (the parameters of the
stateful calls ``poly``, ``scale``, ``ns``, ``bs``), its ``xlevels`` and contrasts -- and what formulaic's
``ModelSpec`` keeps: per variable of the formula its kind, its levels in the rows used, its contrasts,
the state of a stateful transformation and (for reference grids) its mean over the rows used; the
fixed-effects terms with R's coding of each factor in each term and their columns in X (aliased ones
included, and which of them the fit kept); the random-effects terms in lme4's order with their columns
and the levels of their grouping factors. :func:`mixedmodels.frame.design.build_design` makes one with
every model frame (``design.spec``, ``fit.frame_spec``).

A :class:`FrameSpec` is immutable (frozen dataclasses, tuples, read-only arrays) and picklable, holds no
data, and rebuilds the model frame on any DataFrame with the training state:

* :meth:`FrameSpec.model_matrix` -- X with R's column names (R's ``model.matrix(terms, model.frame(terms,
  newdata, xlev = ), contrasts = )``);
* :meth:`FrameSpec.random_matrices` -- per random-effects term its columns of Z and each row's level
  among the fitted levels (lme4's ``mkNewReTrms``);
* :meth:`FrameSpec.offset`, :meth:`FrameSpec.response`, :meth:`FrameSpec.grid_matrix` (X of a reference
  grid given by the variables' values), :meth:`FrameSpec.without_terms` (the spec of a reduced model).

Rules on other data, as in R: a factor is coded with the training levels (a level not seen in fitting is
a :class:`~mixedmodels.errors.DataError` naming it; a missing value gives a row of NaN); a stateful call
that is a variable of the frame uses the training parameters (not such a call nested in another
expression, and not ``cut``, whose breaks R computes again on the new values -- its levels are the
training ones, so new intervals are new levels); a string column is coded with the training column's
levels; a grouping factor's unseen levels and missing values are reported in ``refs`` (-1, -2) for the
caller's ``allow_new_levels`` rule. Rows with a missing value are kept (R's ``na.pass``).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import DataError
from ..formula.parse import Bar, Formula, Node, deparse
from ..formula.terms import compile_term, expand_terms
from ..formula.transforms import Evaluator, Factor, Numeric, factor_from_series, r_sort_key
from .columns import FixedTerm, build_columns, evaluate_variable, factor_columns, group_factor, poly_contrasts, \
    term_codings

__all__ = ["FrameSpec", "VariableSpec", "TermSpec", "RandomTermSpec", "NewReTerm", "FrozenDict", "freeze",
           "match_levels"]


# ------------------------------------------------------------------------------------ immutable values
def freeze(value):
    """An immutable copy of ``value``: dicts become :class:`FrozenDict`, lists tuples, arrays read-only
    copies (recursively)."""
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, Mapping):
        return FrozenDict(value)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, np.ndarray):
        out = np.array(value, copy=True)
        out.flags.writeable = False
        return out
    return value


class FrozenDict(Mapping):
    """A read-only, picklable mapping whose values are frozen (:func:`freeze`)."""

    __slots__ = ("_d",)

    def __init__(self, items=()):
        object.__setattr__(self, "_d", {k: freeze(v) for k, v in dict(items).items()})

    def __getitem__(self, key):
        return self._d[key]

    def __iter__(self):
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __setattr__(self, name, value):
        raise AttributeError("a FrozenDict cannot be changed")

    def __repr__(self) -> str:
        return f"FrozenDict({self._d!r})"

    def __reduce__(self):
        return (FrozenDict, (self._d,))


# ------------------------------------------------------------------------------------ the spec's parts
@dataclass(frozen=True, eq=False)
class VariableSpec:
    """One variable of the formula (a term's atom: ``Days``, ``factor(nitro)``, ``poly(x, 2)``).

    ``kind`` is ``"factor"`` or ``"numeric"``. A factor has its ``levels`` in the rows used (R's
    ``xlevels``; a logical keeps FALSE and TRUE) and ``contrasts`` (``"contr.treatment"``, or
    ``"contr.poly"`` for an ordered factor). A numeric variable has ``suffixes`` naming its columns (None:
    one column), its ``mean`` over the rows used, and ``state``: the training parameters of a stateful
    call (``poly``: alpha, norm2; ``scale``: center, scale; ``ns``/``bs``: knots, boundary knots,
    intercept, degree), None otherwise."""

    label: str
    node: Node
    kind: str
    levels: tuple[str, ...] | None = None
    ordered: bool = False
    contrasts: str | None = None
    suffixes: tuple[str, ...] | None = None
    mean: tuple[float, ...] | None = None
    state: FrozenDict | None = None

    @property
    def is_factor(self) -> bool:
        return self.kind == "factor"

    @property
    def ncol(self) -> int:
        return 1 if self.suffixes is None else len(self.suffixes)


@dataclass(frozen=True)
class TermSpec:
    """A term: its R label, its variables (indices into :attr:`FrameSpec.variables`), per variable
    whether it is coded by contrasts (else by indicators of all its levels, R's rule) and its columns
    in the full matrix (aliased columns included)."""

    label: str
    variables: tuple[int, ...]
    contrasts: tuple[bool, ...]
    columns: tuple[int, ...]


@dataclass(frozen=True)
class RandomTermSpec:
    """A random-effects term ``(expr | group)``: the bar as written (``source``), lme4's name of the
    grouping factor, its expression's terms and column names, and the levels of the grouping factor in
    the rows used (lme4's order of the columns of Z)."""

    source: str
    group: str
    group_node: Node
    terms: tuple[TermSpec, ...]
    cnames: tuple[str, ...]
    levels: tuple[str, ...]


@dataclass
class NewReTerm:
    """One random-effects term evaluated on other data.

    ``group`` and ``cnames`` as in :class:`~mixedmodels.frame.reterms.ReTerm`; ``z`` the (m, ncols) values;
    ``labels`` the grouping-factor label of each row (None where missing); ``refs`` the index of each row's
    level among the fitted term's levels, -1 for a level not seen in fitting and -2 for a missing value.
    """

    group: str
    cnames: list[str]
    z: np.ndarray
    labels: list[str | None]
    refs: np.ndarray

    def zmatrix(self, nlevels: int) -> sp.csr_matrix:
        """The term's block of Z over ``nlevels`` fitted levels, sparse (m x nlevels * ncols), columns
        level by level as lme4 orders them; a row of an unseen or missing level is zero there."""
        m, s = self.z.shape
        ok = self.refs >= 0
        rows = np.repeat(np.flatnonzero(ok), s)
        cols = (self.refs[ok][:, None] * s + np.arange(s)[None, :]).ravel()
        return sp.csr_matrix((self.z[ok].ravel(), (rows, cols)), shape=(m, nlevels * s))

    @property
    def new_levels(self) -> list[str]:
        """The levels of the new data not seen in fitting, in order of appearance."""
        out: list[str] = []
        for lab, r in zip(self.labels, self.refs):
            if r == -1 and lab not in out:
                out.append(lab)
        return out


def match_levels(nt: NewReTerm, levels: Sequence[str]) -> None:
    """Set ``nt.refs`` to the index of each row's level in ``levels`` (-1 unseen, -2 missing)."""
    index = {lev: k for k, lev in enumerate(levels)}
    nt.refs = np.array([-2 if s is None else index.get(s, -1) for s in nt.labels], dtype=np.int64)


# ------------------------------------------------------------------------------------ evaluation on data
class _SpecEvaluator(Evaluator):
    """Evaluates on other data; the stateful variables use the training parameters (``makepredictcall``:
    R's ``predict.poly``, the training center and scale, the training knots of ``ns``/``bs``).

    A string column that held strings in the training data too is coded with the training column's
    levels (then any new labels), as a factor column of an R data frame keeps its levels in a subset
    (``nd <- d[1:5, ]``): so ``as.integer(A)`` or ``relevel(A, "c")`` give the training codes and order
    even when a level is absent from the new data. A pandas Categorical keeps its own categories."""

    def __init__(self, data: pd.DataFrame, text: str, predvars: dict, column_levels: Mapping):
        super().__init__(data, text, predvars=predvars)
        self.column_levels = column_levels

    def column(self, node):
        if self._columns.get(node.id) is None and node.id not in ("pi", "Inf"):
            close = difflib.get_close_matches(node.id, list(self._columns), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise DataError(f"newdata has no column {node.id!r}, which the formula uses{hint}:\n  {self.text}")
        if node.id in self._factors:
            return self._factors[node.id]
        val = super().column(node)
        levels = self.column_levels.get(node.id)
        if isinstance(val, Factor) and levels is not None:
            s = self.data[self._columns[node.id]]
            if not (isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(s.dtype)
                    or pd.api.types.is_bool_dtype(s.dtype)):
                val = self._factors[node.id] = _with_levels(val, list(levels))
        return val


def _with_levels(v: Factor, levels: list[str]) -> Factor:
    """``v`` coded with ``levels`` first, labels not among them after (in R's order)."""
    extra = [lev for lev in v.levels if lev not in set(levels)]
    new_levels = list(levels) + sorted(extra, key=r_sort_key)
    index = {lev: k for k, lev in enumerate(new_levels)}
    remap = np.array([index[lev] for lev in v.levels] + [-1], dtype=np.int64)
    return Factor(np.where(v.codes >= 0, remap[v.codes], -1), new_levels, v.ordered)


def _recode(v, levels: Sequence[str], label: str) -> np.ndarray:
    """The codes of a factor on other data in the training ``levels``, matched by label; an unseen level
    is R's error "factor x has new levels"."""
    if isinstance(v, Numeric):
        v = factor_from_series(pd.Series(v.matrix[:, 0]), label)
    index = {lev: k for k, lev in enumerate(levels)}
    remap = np.array([index.get(lev, -2) for lev in v.levels] + [-1], dtype=np.int64)
    codes = remap[v.codes]
    if np.any(codes == -2):
        seen = set()
        unseen = []
        for c in v.codes[codes == -2]:
            if c not in seen:
                seen.add(c)
                unseen.append(v.levels[c])
        raise DataError(f"factor '{label}' has new level{'s' if len(unseen) > 1 else ''} in newdata: "
                        f"{', '.join(unseen)} (levels in fitting: {', '.join(levels)})")
    return codes


class _SpecTable:
    """The spec's variables evaluated (when first needed) on other data: the variable-table interface
    of :func:`mixedmodels.frame.columns.build_columns` and :func:`mixedmodels.formula.terms.compile_term`.
    Variables a formula of other random-effects terms adds (``re_form``) are evaluated as they are."""

    def __init__(self, spec: "FrameSpec", ev: Evaluator, treatment: bool = False):
        self.spec = spec
        self.ev = ev
        self.treatment = treatment
        self.labels = [v.label for v in spec.variables]
        self.index = {lab: i for i, lab in enumerate(self.labels)}
        self._values: dict[int, object] = {}
        self._extra: list[object] = []

    def add(self, node: Node) -> int:
        label = deparse(node)
        if label not in self.index:
            self.index[label] = len(self.labels)
            self.labels.append(label)
            self._extra.append(evaluate_variable(self.ev, node))
        return self.index[label]

    def value(self, i: int):
        """Variable ``i`` on the data: a factor's codes in the training levels, or a Numeric."""
        if i >= len(self.spec.variables):
            return self._extra[i - len(self.spec.variables)]
        if i not in self._values:
            vs = self.spec.variables[i]
            v = evaluate_variable(self.ev, vs.node)
            if vs.is_factor:
                v = Factor(_recode(v, vs.levels, vs.label), list(vs.levels), vs.ordered)
            elif isinstance(v, Factor):
                raise DataError(f"'{vs.label}' is numeric in the data the model was fitted on but not in "
                                "newdata")
            elif v.matrix.shape[1] != vs.ncol:  # pragma: no cover - same call, same shape
                raise DataError(f"'{vs.label}' has {v.matrix.shape[1]} columns in newdata but {vs.ncol} in "
                                "fitting")
            self._values[i] = v
        return self._values[i]

    def is_factor(self, i: int) -> bool:
        if i < len(self.spec.variables):
            return self.spec.variables[i].is_factor
        return isinstance(self._extra[i - len(self.spec.variables)], Factor)

    def columns(self, i: int, rows: np.ndarray, contrasts: bool):
        v = self.value(i)
        if isinstance(v, Factor):
            ordered = v.ordered and not self.treatment
            return factor_columns(v.codes[rows], list(v.levels), contrasts, ordered)
        if v.values.ndim == 2:
            return [v.values[rows, k] for k in range(v.values.shape[1])], list(v.suffixes)
        return [v.values[rows]], [""]


class _GridTable(_SpecTable):
    """The spec's variables with values given directly (a reference grid): a factor by its level labels,
    a numeric variable by its values (one row each, or one column per column of the variable)."""

    def __init__(self, spec: "FrameSpec", values: Mapping, m: int):
        super().__init__(spec, None)
        self.m = m
        for label, val in values.items():
            if label not in self.index:
                raise DataError(f"'{label}' is not a variable of the model (its variables: "
                                f"{', '.join(self.labels)})")
            i = self.index[label]
            vs = spec.variables[i]
            if vs.is_factor:
                lab = pd.Series(np.asarray(val, dtype=object).astype(str))
                v = factor_from_series(lab, label)
                self._values[i] = Factor(_recode(v, vs.levels, label), list(vs.levels), vs.ordered)
            else:
                arr = np.asarray(val, dtype=float)
                arr = arr.reshape(m, vs.ncol) if vs.suffixes is not None else arr.reshape(m)
                self._values[i] = Numeric(arr, None if vs.suffixes is None else list(vs.suffixes))

    def add(self, node: Node) -> int:  # pragma: no cover - a grid has no other terms
        raise DataError(f"'{deparse(node)}' is not a variable of the model")

    def value(self, i: int):
        if i not in self._values:
            raise DataError(f"the reference grid has no values for '{self.labels[i]}'")
        return self._values[i]


# ------------------------------------------------------------------------------------ the spec
@dataclass(frozen=True, eq=False, repr=False)
class FrameSpec:
    """The frozen recipe of a model frame (see the module docstring).

    Attributes
    ----------
    formula : the parsed formula;  response_name : the response as R deparses it
    variables : the formula's variables (:class:`VariableSpec`), in R's order (first appearance)
    fixed : the fixed-effects terms (:class:`TermSpec`), in R's order
    column_names : R's names of every column of X, aliased ones included
    kept : the columns of that matrix the fit kept (None: all)
    offsets : the ``offset(...)`` calls of the formula
    random : the random-effects terms (:class:`RandomTermSpec`), in lme4's order
    column_levels : the levels of the training data's string columns the formula reads
    """

    formula: Formula
    response_name: str
    variables: tuple[VariableSpec, ...]
    fixed: tuple[TermSpec, ...]
    column_names: tuple[str, ...]
    kept: tuple[int, ...] | None
    offsets: tuple[Node, ...] = ()
    random: tuple[RandomTermSpec, ...] = ()
    column_levels: FrozenDict = field(default_factory=FrozenDict)

    def __repr__(self) -> str:
        random = ", ".join(f"({t.source})" for t in self.random)
        return (f"FrameSpec({self.formula.text!r}: {len(self.variables)} variables, X {self.x_names}"
                + (f", dropped {self.dropped}" if self.dropped else "") + (f", random {random}" if random else "")
                + ")")

    # ---------------------------------------------------------------- what it records
    @property
    def x_names(self) -> list[str]:
        """R's names of the fitted X's columns (aliased columns dropped)."""
        if self.kept is None:
            return list(self.column_names)
        return [self.column_names[j] for j in self.kept]

    @property
    def dropped(self) -> list[str]:
        """The columns dropped as aliased."""
        if self.kept is None:
            return []
        keep = set(self.kept)
        return [nm for j, nm in enumerate(self.column_names) if j not in keep]

    @property
    def xlevels(self) -> dict[str, list[str]]:
        """R's ``xlevels``: the levels of each factor variable in the rows used."""
        return {v.label: list(v.levels) for v in self.variables if v.is_factor}

    @property
    def predvars(self) -> dict[str, Mapping]:
        """The training parameters of the stateful variables, by label (R's ``predvars``)."""
        return {v.label: v.state for v in self.variables if v.state is not None}

    @property
    def contrasts(self) -> dict[str, str]:
        """R's ``attr(model.matrix(m), "contrasts")``: the contrasts of each factor variable."""
        return {v.label: v.contrasts for v in self.variables if v.is_factor}

    def variable(self, label: str) -> VariableSpec:
        for v in self.variables:
            if v.label == label:
                return v
        raise KeyError(label)

    @property
    def fixed_terms(self) -> list[FixedTerm]:
        """The fixed terms with their columns in the fitted X (as ``design.fixed_terms``)."""
        return self.fixed_terms_at(self.kept)

    def fixed_terms_at(self, kept: Sequence[int] | None) -> list[FixedTerm]:
        """The fixed terms with their columns in the matrix of the columns ``kept`` of the full matrix
        (None: all), in order; a term whose columns were all dropped has none."""
        pos = {old: new for new, old in enumerate(kept)} if kept is not None else None
        out = []
        for t in self.fixed:
            cols = list(t.columns) if pos is None else [pos[c] for c in t.columns if c in pos]
            labels = tuple(self.variables[i].label for i in t.variables)
            ind = tuple(self.variables[i].label for i, c in zip(t.variables, t.contrasts)
                        if not c and self.variables[i].is_factor)
            out.append(FixedTerm(t.label, cols, labels, ind))
        return out

    # ---------------------------------------------------------------- applied to data
    def _evaluator(self, data: pd.DataFrame) -> Evaluator:
        if not isinstance(data, pd.DataFrame):
            raise DataError(f"newdata must be a pandas DataFrame, not {type(data).__name__}")
        return _SpecEvaluator(data, self.formula.text, dict(self.predvars), self.column_levels)

    def _select(self, X: np.ndarray, keep_aliased: bool) -> tuple[np.ndarray, list[str]]:
        if keep_aliased or self.kept is None:
            return X, list(self.column_names)
        return X[:, list(self.kept)], self.x_names

    def _fixed_matrix(self, table, m: int) -> np.ndarray:
        X, names, _ = build_columns([tuple(t.variables) for t in self.fixed], [t.contrasts for t in self.fixed],
                                    table, np.arange(m))
        if not table.treatment and list(names) != list(self.column_names):  # pragma: no cover - a bug
            raise RuntimeError(f"the spec rebuilt the columns {names}, not {list(self.column_names)}")
        return X

    def fixed_matrix(self, data: pd.DataFrame, *, contrasts: str | None = None,
                     keep_aliased: bool = False) -> np.ndarray:
        """X on ``data`` as an array (see :meth:`model_matrix`)."""
        treatment = _check_contrasts(contrasts)
        table = _SpecTable(self, self._evaluator(data), treatment=treatment)
        X = self._fixed_matrix(table, len(data))
        return X if treatment else self._select(X, keep_aliased)[0]

    def model_matrix(self, data: pd.DataFrame, *, contrasts: str | None = None,
                     keep_aliased: bool = False) -> pd.DataFrame:
        """The fixed-effects model matrix X on ``data``, with R's column names, indexed as ``data``.

        Factors are coded with the training levels and contrasts, stateful calls use the training
        parameters; a level not seen in fitting is a DataError; a row with a missing value gives NaN.
        On the training rows it is the fitted X exactly. ``keep_aliased=True`` keeps the columns the fit
        dropped as aliased. ``contrasts="treatment"`` codes every factor (ordered ones too) by treatment
        contrasts (lmerTest's ``get_model_matrix(m, "remake", contrasts = "contr.treatment")``); then
        every column is returned, since which are aliased depends on the coding."""
        treatment = _check_contrasts(contrasts)
        table = _SpecTable(self, self._evaluator(data), treatment=treatment)
        X = self._fixed_matrix(table, len(data))
        if treatment:
            names = self._names(treatment=True)
        else:
            X, names = self._select(X, keep_aliased)
        return pd.DataFrame(X, index=data.index, columns=names)

    def grid_matrix(self, values: Mapping[str, Sequence], *, keep_aliased: bool = False) -> pd.DataFrame:
        """X of a reference grid given by the values of the model's variables (by label): a factor's
        level labels, a numeric variable's numbers; every variable of the fixed part must be given, all
        with the same number of rows."""
        if not isinstance(values, Mapping) or not values:
            raise DataError("grid_matrix() needs a mapping from the model's variables to their values")
        sizes = {len(np.asarray(v, dtype=object).reshape(len(v), -1)) for v in values.values()}
        if len(sizes) != 1:
            raise DataError("the reference grid's variables have different numbers of rows")
        m = sizes.pop()
        X = self._fixed_matrix(_GridTable(self, values, m), m)
        X, names = self._select(X, keep_aliased)
        return pd.DataFrame(X, columns=names)

    def offset(self, data: pd.DataFrame) -> np.ndarray:
        """The sum of the formula's ``offset(...)`` terms on ``data`` (zeros without one); an offset
        given as the ``offset=`` argument is not part of the formula."""
        ev = self._evaluator(data)
        out = np.zeros(len(data))
        for call in self.offsets:
            out = out + ev.numeric(call.args[0])
        return out

    def response(self, data: pd.DataFrame) -> np.ndarray:
        """The response on ``data`` (NaN where missing)."""
        lhs = self.formula.lhs
        v = self._evaluator(data).eval(lhs)
        if isinstance(v, Factor):
            raise DataError(f"the response '{self.response_name}' is not numeric")
        return v.matrix[:, 0]

    def random_matrices(self, data: pd.DataFrame, bars: Sequence[Bar] | None = None,
                        text: str | None = None) -> list[NewReTerm]:
        """The random-effects terms on ``data`` (lme4's ``mkNewReTrms``): per term its columns of Z
        (``z``, m x ncols), each row's grouping-factor label and ``refs``, the index of its level among
        the fitted levels (-1: a level not seen in fitting, -2: missing).

        ``bars`` (from :func:`mixedmodels.formula.parse.expand_bars`) builds other random-effects terms
        with the model's variables, such as ``re_form``'s (their ``refs`` are left at -1 for the caller
        to match); ``text`` is the formula they come from, for error messages."""
        ev = self._evaluator(data)
        table = _SpecTable(self, ev)
        m = len(data)
        rows = np.arange(m)
        out: list[NewReTerm] = []
        if bars is None:
            for rt in self.random:
                Z, _, _ = build_columns([tuple(t.variables) for t in rt.terms], [t.contrasts for t in rt.terms],
                                        table, rows)
                nt = self._group(rt.group, rt.group_node, ev, list(rt.cnames), Z)
                match_levels(nt, rt.levels)
                out.append(nt)
            return out
        if text is not None:
            ev.text = text
        for bar in bars:
            rhs = compile_term(bar.expr, table, set(), ev.text)
            keys = expand_terms(rhs)
            Z, cnames, _ = build_columns(keys, term_codings(keys, table.is_factor), table, rows)
            out.append(self._group(bar.group_name, bar.group, ev, list(cnames), Z))
        return out

    @staticmethod
    def _group(name: str, node: Node, ev: Evaluator, cnames: list[str], Z: np.ndarray) -> NewReTerm:
        g = group_factor(node, ev, ev.text)
        lab = g.labels()
        labels = [None if c < 0 else str(s) for c, s in zip(g.codes, lab)]
        return NewReTerm(group=name, cnames=cnames, z=Z, labels=labels,
                         refs=np.full(len(labels), -1, dtype=np.int64))

    # ---------------------------------------------------------------- derived specs
    def _term_names(self, term: TermSpec | tuple, coding: Sequence[bool], treatment: bool = False) -> list[str]:
        """R's names of a term's columns, from the recorded levels and suffixes (no data needed)."""
        variables = term.variables if isinstance(term, TermSpec) else term
        if not variables:
            return ["(Intercept)"]
        names = [""]
        for i, contrasts in zip(variables, coding):
            v = self.variables[i]
            if v.is_factor:
                k = len(v.levels)
                if contrasts and v.ordered and k > 1 and not treatment:
                    suffixes = poly_contrasts(k)[1]
                else:
                    suffixes = list(v.levels[1:] if contrasts else v.levels)
            else:
                suffixes = [""] if v.suffixes is None else list(v.suffixes)
            names = [(ni + ":" if ni else "") + v.label + sj for sj in suffixes for ni in names]
        return names

    def _names(self, treatment: bool = False) -> list[str]:
        out: list[str] = []
        for t in self.fixed:
            out += self._term_names(t, t.contrasts, treatment)
        return out

    def without_terms(self, labels: Sequence[str]) -> "FrameSpec":
        """The spec of the fixed part without the terms ``labels`` (R's ``update(m, . ~ . - term)``
        on the same model frame): the other terms re-coded by R's rule (a factor whose margin is gone
        gets indicators of all its levels). Aliased columns of the reduced matrix are not detected
        (``kept`` is None)."""
        labels = [labels] if isinstance(labels, str) else list(labels)
        have = [t.label for t in self.fixed]
        bad = [lab for lab in labels if lab not in have]
        if bad:
            raise DataError(f"no fixed-effects term {', '.join(repr(b) for b in bad)} in the model (its terms: "
                            f"{', '.join(have)})")
        keys = [tuple(t.variables) for t in self.fixed if t.label not in labels]
        kept_terms = [t for t in self.fixed if t.label not in labels]
        codings = term_codings(keys, lambda i: self.variables[i].is_factor)
        fixed, names = [], []
        for t, coding in zip(kept_terms, codings):
            tn = self._term_names(t, coding)
            fixed.append(TermSpec(t.label, t.variables, tuple(coding),
                                  tuple(range(len(names), len(names) + len(tn)))))
            names += tn
        return replace(self, fixed=tuple(fixed), column_names=tuple(names), kept=None)


def _check_contrasts(contrasts) -> bool:
    if contrasts is None:
        return False
    if contrasts in ("treatment", "contr.treatment"):
        return True
    raise DataError(f"contrasts must be None (the model's) or 'treatment', not {contrasts!r}")


def make_variable_spec(label: str, node: Node, value, levels: Sequence[str] | None, rows: np.ndarray,
                       state: Mapping | None) -> VariableSpec:
    """The :class:`VariableSpec` of a variable evaluated on the training data (``value``), with its
    ``levels`` in the rows used (factors)."""
    if isinstance(value, Factor):
        return VariableSpec(label, node, "factor", levels=tuple(levels), ordered=bool(value.ordered),
                            contrasts="contr.poly" if value.ordered else "contr.treatment")
    vals = value.values[rows]
    total = vals.sum(axis=0)
    if len(vals) and np.isfinite(total).all():
        mean = total / len(vals)  # no missing value: what nanmean gives, without its copy and checks
    else:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: mean NaN
            mean = np.nanmean(vals, axis=0) if len(vals) else np.full(vals.shape[1:], np.nan)
    return VariableSpec(label, node, "numeric", suffixes=None if value.suffixes is None else tuple(value.suffixes),
                        mean=tuple(float(x) for x in np.atleast_1d(mean)),
                        state=None if state is None else FrozenDict(state))

"""Families and links of generalized linear (mixed) models, as R's ``stats::family`` objects.

Each :class:`Family` carries R's ``linkfun``, ``linkinv``, ``mu.eta``, ``variance``, ``dev.resids``,
``aic`` and ``initialize`` (the starting ``mustart`` and the response checks), with R's numeric guards
(e.g. the logit's inverse clamped at ``eta = +-30``, probit/cauchit/cloglog kept away from 0 and 1 by
``.Machine$double.eps``). ``binomial``, ``poisson``, ``Gamma``, ``inverse_gaussian``, ``gaussian`` and
``negative_binomial(theta)`` (MASS's) are the constructors; :func:`get_family` turns user input (a name, a
Family, or R's spelling ``"Gamma"`` / ``"inverse.gaussian"``) into a Family and says what exists otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import special

from ..errors import FamilyError, FamilyWarning, warn as warn_r
from ..rbase import rformat as rf

__all__ = ["Link", "Family", "binomial", "poisson", "Gamma", "inverse_gaussian", "gaussian",
           "negative_binomial", "get_family", "FAMILIES", "LINKS"]

EPS = np.finfo(float).eps
_THRESH = 30.0
_SQRT_2PI = math.sqrt(2 * math.pi)


# The normal and Cauchy distribution functions of the probit and cauchit links, from scipy.special and
# NumPy (what scipy.stats' norm and cauchy compute; scipy.stats itself costs ~0.3 s to import, and a
# glmer fit needs none of it)
def _norm_pdf(x):
    return np.exp(-x ** 2 / 2.0) / _SQRT_2PI


def _cauchy_ppf(q):
    """R's ``qcauchy(q)``: ``-1 / tan(pi q)`` below one half, ``1 / tan(pi (1 - q))`` above (exact near
    0 and 1, where ``tan(pi (q - 1/2))`` is not); NaN outside [0, 1]."""
    q = np.asarray(q, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(q < 0.5, -1.0 / np.tan(np.pi * q), 1.0 / np.tan(np.pi * (1.0 - q)))
        out = np.where(q == 0.5, 0.0, out)
    return np.where((q >= 0) & (q <= 1), out, np.nan)


def _cauchy_cdf(x):
    return np.arctan2(1.0, -np.asarray(x, dtype=float)) / np.pi


def _cauchy_pdf(x):
    return 1.0 / np.pi / (1.0 + x * x)


def _gamma_logpdf(y, shape, scale):
    """The log density of the Gamma distribution with ``shape`` and ``scale`` at ``y > 0``."""
    x = y / scale
    return special.xlogy(shape - 1.0, x) - x - special.gammaln(shape) - np.log(scale)


_PROBIT_T = -float(special.ndtri(EPS))
_CAUCHIT_T = -float(_cauchy_ppf(EPS))


@dataclass(frozen=True)
class Link:
    """A link function: ``linkfun`` (mu -> eta), ``linkinv`` (eta -> mu), ``mu_eta`` (d mu / d eta) and
    ``valideta``."""

    name: str
    linkfun: Callable[[np.ndarray], np.ndarray]
    linkinv: Callable[[np.ndarray], np.ndarray]
    mu_eta: Callable[[np.ndarray], np.ndarray]
    valideta: Callable[[np.ndarray], bool] = lambda eta: True


def _logit_inv(eta):
    eta = np.asarray(eta, dtype=float)
    out = special.expit(eta)
    lo, hi = eta < -_THRESH, eta > _THRESH
    if lo.any() or hi.any():
        out = np.where(lo, EPS, np.where(hi, 1 - EPS, out))
    return out


def _logit_mu_eta(eta):
    eta = np.asarray(eta, dtype=float)
    with np.errstate(over="ignore"):
        opexp = 1 + np.exp(np.minimum(eta, _THRESH))
        val = np.exp(np.minimum(eta, _THRESH)) / (opexp * opexp)
    return np.where(np.abs(eta) > _THRESH, EPS, val)


def _cloglog_inv(eta):
    eta = np.asarray(eta, dtype=float)
    with np.errstate(over="ignore"):
        return np.maximum(np.minimum(-np.expm1(-np.exp(eta)), 1 - EPS), EPS)


def _cloglog_mu_eta(eta):
    eta = np.minimum(np.asarray(eta, dtype=float), 700)
    return np.maximum(np.exp(eta) * np.exp(-np.exp(eta)), EPS)


def _make_links() -> dict[str, Link]:
    def pos(eta):
        return bool(np.all(np.isfinite(eta)) and np.all(eta > 0))

    def nonzero(eta):
        return bool(np.all(np.isfinite(eta)) and np.all(eta != 0))

    def guarded(f):
        def g(x):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return f(np.asarray(x, dtype=float))
        return g

    return {
        "logit": Link("logit", guarded(lambda mu: np.log(mu / (1 - mu))), _logit_inv, _logit_mu_eta),
        "probit": Link("probit", guarded(special.ndtri),
                       lambda eta: special.ndtr(np.clip(eta, -_PROBIT_T, _PROBIT_T)),
                       lambda eta: np.maximum(_norm_pdf(np.asarray(eta, dtype=float)), EPS)),
        "cauchit": Link("cauchit", guarded(_cauchy_ppf),
                        lambda eta: _cauchy_cdf(np.clip(eta, -_CAUCHIT_T, _CAUCHIT_T)),
                        lambda eta: np.maximum(_cauchy_pdf(np.asarray(eta, dtype=float)), EPS)),
        "cloglog": Link("cloglog", guarded(lambda mu: np.log(-np.log1p(-mu))), _cloglog_inv, _cloglog_mu_eta),
        "log": Link("log", guarded(np.log), guarded(lambda eta: np.maximum(np.exp(eta), EPS)),
                    guarded(lambda eta: np.maximum(np.exp(eta), EPS))),
        "identity": Link("identity", lambda mu: np.asarray(mu, dtype=float),
                         lambda eta: np.asarray(eta, dtype=float), lambda eta: np.ones_like(eta, dtype=float)),
        "sqrt": Link("sqrt", guarded(np.sqrt), lambda eta: np.asarray(eta, dtype=float) ** 2,
                     lambda eta: 2 * np.asarray(eta, dtype=float), pos),
        "inverse": Link("inverse", guarded(lambda mu: 1 / mu), guarded(lambda eta: 1 / eta),
                        guarded(lambda eta: -1 / eta ** 2), nonzero),
        "1/mu^2": Link("1/mu^2", guarded(lambda mu: 1 / mu ** 2), guarded(lambda eta: 1 / np.sqrt(eta)),
                       guarded(lambda eta: -1 / (2 * eta ** 1.5)), pos),
    }


LINKS = _make_links()


@dataclass
class Family:
    """An exponential family with a link, as R's ``family`` object.

    ``name`` is R's family name (``"binomial"``, ``"Gamma"``, ``"Negative Binomial(2.5)"``), ``link`` the
    :class:`Link`. ``scale_free`` is lme4's ``hasNoScale`` (binomial, poisson, negative binomial: no
    dispersion parameter, no Residual row). ``theta`` is the negative binomial's shape.
    """

    name: str
    link: Link
    variance: Callable[[np.ndarray], np.ndarray]
    dev_resids: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    aic_fun: Callable[..., float]
    validmu: Callable[[np.ndarray], bool]
    scale_free: bool
    theta: float | None = None
    kind: str = field(default="")

    @property
    def link_name(self) -> str:
        return self.link.name

    def linkfun(self, mu):
        return self.link.linkfun(mu)

    def linkinv(self, eta):
        return self.link.linkinv(eta)

    def mu_eta(self, eta):
        return self.link.mu_eta(eta)

    def aic(self, y, n, mu, wt, dev) -> float:
        """R's ``family$aic(y, n, mu, wt, dev)``."""
        return float(self.aic_fun(y, n, mu, wt, dev))

    def __repr__(self) -> str:
        return f"Family: {self.name}\nLink function: {self.link.name}"


def _link(family: str, link, allowed: tuple[str, ...]) -> Link:
    if isinstance(link, Link):
        if link.name not in allowed:
            raise FamilyError(f"link \"{link.name}\" not available for the {family} family; "
                              f"available links are {', '.join(repr(a) for a in allowed)}")
        return link
    if not isinstance(link, str) or link not in allowed:
        raise FamilyError(f"link {link!r} not available for the {family} family; available links are "
                          f"{', '.join(repr(a) for a in allowed)}")
    return LINKS[link]


def _ylogy(y, mu):
    """R's ``y_log_y(y, mu)``: y log(y / mu), 0 where y is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return special.xlogy(y, y / mu)


def _finite_pos(mu):
    return bool(np.all(np.isfinite(mu)) and np.all(mu > 0))


def binomial(link: str = "logit") -> Family:
    lk = _link("binomial", link, ("logit", "probit", "cloglog", "cauchit", "log"))

    seen = {"y": None, "binary": False, "unit": False}

    def _kind(y, n=None, wt=None):
        # is y 0/1 (then y log(y/mu) + (1-y) log((1-y)/(1-mu)) is -log of mu or 1 - mu)? checked once per y
        if seen["y"] is not y:
            seen["y"] = y
            seen["binary"] = bool(np.all((y == 0) | (y == 1)))
            seen["unit"] = None
        if n is not None and seen["unit"] is None:
            seen["unit"] = bool(seen["binary"] and np.all(n == 1) and np.all(wt == 1))
        return seen

    def dev(y, mu, wt):
        if _kind(y)["binary"]:
            with np.errstate(divide="ignore"):
                return 2 * wt * np.log(1 / np.where(y == 1, mu, 1 - mu))  # R's y log(y / mu) with y = 1
        return 2 * wt * (_ylogy(y, mu) + _ylogy(1 - y, 1 - mu))

    def aic(y, n, mu, wt, dev_):
        # -2 sum((wt / m) dbinom(round(m y), round(m), mu, log = TRUE)), the log density written out
        if _kind(y, n, wt)["unit"]:
            return float(dev_)  # 0/1 data, unit weights: -2 log L is the deviance
        held = seen.get("aic_arrays")
        if held is None or held[0] is not y or held[1] is not n or held[2] is not wt:
            # the parts that do not depend on mu, once per (y, n, wt)
            m = n if np.any(n > 1) else wt
            k, mm_ = np.round(m * y), np.round(m)
            with np.errstate(divide="ignore", invalid="ignore"):
                const = (special.gammaln(mm_ + 1) - special.gammaln(k + 1) - special.gammaln(mm_ - k + 1)
                         if np.any(mm_ > 1) else None)
                fac = np.where(m > 0, wt / np.where(m > 0, m, 1), 0.0)
            seen["aic_arrays"] = (y, n, wt)
            seen["aic_parts"] = (k, mm_ - k, const, fac, fac != 0)
        k, nk, const, fac, nz = seen["aic_parts"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = special.xlogy(k, mu) + special.xlog1py(nk, -mu)
            if const is not None:
                ll = ll + const
        return -2 * np.sum(np.where(nz, fac * ll, 0.0))

    return Family("binomial", lk, lambda mu: mu * (1 - mu), dev, aic,
                  lambda mu: bool(np.all(np.isfinite(mu)) and np.all((mu > 0) & (mu < 1))), True, kind="binomial")


def poisson(link: str = "log") -> Family:
    lk = _link("poisson", link, ("log", "identity", "sqrt"))

    def dev(y, mu, wt):
        r = mu * wt
        with np.errstate(divide="ignore", invalid="ignore"):
            rp = wt * (y * np.log(np.where(y > 0, y, 1) / mu) - (y - mu))
        return 2 * np.where(y > 0, rp, r)

    def aic(y, n, mu, wt, dev_):
        with np.errstate(divide="ignore", invalid="ignore"):
            ll = special.xlogy(y, mu) - mu - special.gammaln(y + 1)
        return -2 * np.sum(ll * wt)

    return Family("poisson", lk, lambda mu: np.asarray(mu, dtype=float), dev, aic, _finite_pos, True,
                  kind="poisson")


def Gamma(link: str = "inverse") -> Family:  # noqa: N802 (R's name)
    lk = _link("Gamma", link, ("inverse", "identity", "log"))

    def dev(y, mu, wt):
        with np.errstate(divide="ignore", invalid="ignore"):
            return -2 * wt * (np.log(np.where(y == 0, 1, y / mu)) - (y - mu) / mu)

    def aic(y, n, mu, wt, dev_):
        nn = np.sum(wt)
        disp = dev_ / nn
        return -2 * np.sum(_gamma_logpdf(y, 1 / disp, mu * disp) * wt) + 2

    return Family("Gamma", lk, lambda mu: np.asarray(mu, dtype=float) ** 2, dev, aic, _finite_pos, False,
                  kind="Gamma")


def inverse_gaussian(link: str = "1/mu^2") -> Family:
    lk = _link("inverse.gaussian", link, ("1/mu^2", "inverse", "identity", "log"))

    def dev(y, mu, wt):
        return wt * ((y - mu) ** 2) / (y * mu ** 2)

    def aic(y, n, mu, wt, dev_):
        sw = np.sum(wt)
        return sw * (np.log(dev_ / sw * 2 * np.pi) + 1) + 3 * np.sum(np.log(y) * wt) + 2

    return Family("inverse.gaussian", lk, lambda mu: np.asarray(mu, dtype=float) ** 3, dev, aic, _finite_pos,
                  False, kind="inverse.gaussian")


def gaussian(link: str = "identity") -> Family:
    lk = _link("gaussian", link, ("identity", "log", "inverse"))

    def dev(y, mu, wt):
        return wt * (y - mu) ** 2

    def aic(y, n, mu, wt, dev_):
        nobs = len(y)
        return nobs * (np.log(dev_ / nobs * 2 * np.pi) + 1) + 2 - np.sum(np.log(wt))

    return Family("gaussian", lk, lambda mu: np.ones_like(mu, dtype=float), dev, aic, lambda mu: True, False,
                  kind="gaussian")


def _format_theta(theta: float) -> str:
    """``format(round(theta, 4))`` as R prints it in the family name."""
    return rf.format_num([rf.r_round(theta, 4)])[0]


def negative_binomial(theta: float, link: str = "log") -> Family:
    """MASS's ``negative.binomial(theta)``: variance mu + mu^2/theta."""
    if not isinstance(theta, (int, float, np.integer, np.floating)) or not theta > 0 or not math.isfinite(theta):
        raise FamilyError(f"the negative binomial's theta must be a positive number, not {theta!r}")
    theta = float(theta)
    lk = _link("negative binomial", link, ("log", "identity", "sqrt"))

    def dev(y, mu, wt):
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * wt * (y * np.log(np.maximum(1, y) / mu) - (y + theta) * np.log((y + theta) / (mu + theta)))

    def aic(y, n, mu, wt, dev_):
        with np.errstate(divide="ignore", invalid="ignore"):
            term = ((y + theta) * np.log(mu + theta) - np.where(y > 0, y * np.log(mu), 0.0) + special.gammaln(y + 1)
                    - theta * np.log(theta) + special.gammaln(theta) - special.gammaln(theta + y))
        return 2 * np.sum(term * wt)

    return Family(f"Negative Binomial({_format_theta(theta)})", lk, lambda mu: mu + mu ** 2 / theta, dev, aic,
                  _finite_pos, True, theta=theta, kind="negbin")


FAMILIES: dict[str, Callable[..., Family]] = {
    "binomial": binomial, "poisson": poisson, "Gamma": Gamma, "inverse.gaussian": inverse_gaussian,
    "gaussian": gaussian,
}
_ALIASES = {"gamma": "Gamma", "inverse_gaussian": "inverse.gaussian", "inverse.gaussian": "inverse.gaussian",
            "binomial": "binomial", "poisson": "poisson", "gaussian": "gaussian"}


def get_family(family, link=None) -> Family:
    """A :class:`Family` from user input: a Family, a constructor (``mm.family.binomial``), or a name
    (``"binomial"``, ``"Gamma"``, ``"inverse.gaussian"``), with an optional link name."""
    if isinstance(family, Family):
        if link is not None and link != family.link.name:
            raise FamilyError("give the link inside the family (e.g. family.binomial(link='probit')), not both")
        return family
    if callable(family) and family in FAMILIES.values():
        return family() if link is None else family(link=link)
    if isinstance(family, str):
        key = _ALIASES.get(family, _ALIASES.get(family.lower()))
        if key is None:
            if family.lower().replace("_", ".") in ("negative.binomial", "negbin", "nbinom2"):
                raise FamilyError("the negative binomial's theta is estimated by mm.glmer_nb(); with a known "
                                  "theta use family=mm.family.negative_binomial(theta)")
            raise FamilyError(f"unknown family {family!r}; available families: binomial, poisson, Gamma, "
                              "inverse.gaussian, gaussian (and negative_binomial(theta) / mm.glmer_nb)")
        ctor = FAMILIES[key]
        return ctor() if link is None else ctor(link=link)
    raise FamilyError(f"family must be a name such as 'binomial' or a family object (mm.family.binomial()), "
                      f"not {type(family).__name__}")


def initialize(fam: Family, y: np.ndarray, weights: np.ndarray, n: np.ndarray) -> np.ndarray:
    """R's ``family$initialize``: checks of y (errors where R stops, warnings where R warns) and mustart.
    ``n`` holds binomial trials (1 for a 0/1 or proportion response)."""
    kind = fam.kind
    if kind == "binomial":
        if np.any((y < 0) | (y > 1)):
            raise FamilyError("y values must be 0 <= y <= 1 for the binomial family (give proportions with "
                              "weights= as the numbers of trials, or cbind(successes, failures))")
        m = weights * y
        if np.any(np.abs(m - np.round(m)) > 1e-3):
            warn_r("non-integer #successes in a binomial glm!", FamilyWarning)
        return (weights * y + 0.5) / (weights + 1)
    if kind == "poisson":
        if np.any(y < 0):
            raise FamilyError("negative values not allowed for the 'Poisson' family")
        return y + 0.1
    if kind == "negbin":
        if np.any(y < 0):
            raise FamilyError("negative values not allowed for the negative binomial family")
        return y + (y == 0) / 6.0
    if kind == "Gamma":
        if np.any(y <= 0):
            raise FamilyError("non-positive values not allowed for the 'Gamma' family")
        return y.copy()
    if kind == "inverse.gaussian":
        if np.any(y <= 0):
            raise FamilyError("positive values only are allowed for the 'inverse.gaussian' family")
        return y.copy()
    if kind == "gaussian":
        if fam.link.name == "inverse" and np.any(y == 0):
            raise FamilyError("cannot find valid starting values: y has zeros, where the inverse link is "
                              "undefined; give start= or use another link")
        if fam.link.name == "log" and np.any(y <= 0):
            raise FamilyError("cannot find valid starting values: y has values <= 0, where the log link is "
                              "undefined; give start= or use another link")
        return y.copy()
    raise FamilyError(f"no initialization for the family {fam.name}")  # pragma: no cover


"""Kenward-Roger adjusted covariance and denominator degrees of freedom (pbkrtest's method).

Ports of pbkrtest 0.5.2:

* :func:`vcov_adj` -- ``pbkrtest:::vcovAdj.lmerMod`` / ``vcovAdj_internal`` (and ``.get_SigmaG``): the
  adjusted covariance ``Phi_A = Phi + 2 Phi U Phi`` of the fixed effects, with the matrices ``P_r`` and
  ``W = 2 IE2^-1`` that the df computations reuse;
* :func:`lb_ddf` -- ``pbkrtest::Lb_ddf``: the df of one contrast (what lmerTest's t tests use);
* :func:`kr_adjust` -- ``pbkrtest:::.KR_adjust`` (called by ``KRmodcomp``): the scaled F test of
  ``L beta = betaH``.

pbkrtest forms ``V = sum_r gamma_r G_r`` (``G_r = Z E_r Z'`` for a variance or covariance of a term,
``E_r = I_levels (x) (e_ab + e_ba)``, and ``I_n`` for the residual) and its ``n x n`` inverse. Here
every quantity is computed through Woodbury's identity instead: with ``V = sigma^2 (I + Z Lambda Lambda'
Z')``, ``M = Lambda'Z'Z Lambda + I`` and ``N = M^-1``,

    (I + Z Lambda Lambda' Z')^-k = I - Z Lambda (N + ... + N^k) Lambda' Z'      (k = 1, 2, 3),

so ``U' V^-k U`` for ``U = [Z X]`` and ``tr(V^-2) = sigma^-4 (n - q + ||N||_F^2)`` need only ``q x q``
and ``q x p`` matrices; every trace pbkrtest takes then reduces to sums over blocks of these.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..errors import MixedModelsError
from ..fit.threads import scoped as threads_scoped

__all__ = ["KRInfo", "vcov_adj", "lb_ddf", "kr_adjust", "force_full_rank"]


@dataclass
class KRInfo:
    """``vcovAdj`` and its attributes: ``phi_a`` (adjusted), ``phi`` (unadjusted ``vcov``), ``P``, ``W``."""

    phi_a: np.ndarray
    phi: np.ndarray
    P: list[np.ndarray]
    W: np.ndarray
    condi: float


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

#: the largest number of random effects for which the dense q x q computation is attempted (~8 q^2 doubles)
MAX_Q = 12_000


def _param_blocks(terms):
    """pbkrtest's variance parameters in its order: per term, the lower triangle of the covariance
    (column-major, ``.index2UpperTriEntry``), as (term offset, ncols, nlevels, a, b)."""
    out = []
    off = 0
    for t in terms:
        s = t.ncols
        for b in range(s):
            for a in range(b, s):
                out.append((off, s, t.nlevels, a, b))
        off += t.nranef
    return out, off


def _idx(block, col):
    off, s, nlev, _, _ = block
    return off + np.arange(nlev) * s + col


@threads_scoped
def vcov_adj(fit) -> KRInfo:
    """Port of ``pbkrtest:::vcovAdj.lmerMod`` for a REML fit (cached per fit)."""
    info = _CACHE.get(fit)
    if info is not None:
        return info
    fit.require_rows("Kenward-Roger (pbkrtest's adjustment)")
    if not fit.reml:
        raise MixedModelsError("Kenward-Roger's method is only available for REML model fits")
    if fit.design.weights is not None:
        raise MixedModelsError("Kenward-Roger's method is not available with prior weights: pbkrtest ignores "
                               "the weights (its residual covariance is sigma^2 I), so R's numbers are not "
                               "those of the weighted model; use ddf='Satterthwaite'")
    d = fit.design
    terms = d.terms
    X = d.X
    n, p = X.shape
    sigma2 = float(fit.sigma) ** 2
    Z = sp.hstack([t.zmatrix() for t in terms], format="csc")
    q = Z.shape[1]
    lam_blocks = []
    for t, lam in zip(terms, fit._factor.lambdas):
        lam_blocks.append(sp.kron(sp.identity(t.nlevels, format="csr"), sp.csr_matrix(lam)))
    Lam = sp.block_diag(lam_blocks, format="csc")
    if q > MAX_Q:
        raise MixedModelsError(f"Kenward-Roger's method needs dense {q} x {q} matrices here (q = number of "
                               f"random effects > {MAX_Q}); use Satterthwaite's method")
    ZtZ = (Z.T @ Z).toarray()
    ZtX = np.asarray(Z.T @ X)
    S = np.block([[ZtZ, ZtX], [ZtX.T, X.T @ X]])          # U'U, U = [Z X]
    del ZtZ
    T = np.asarray((Lam.T @ S[:, :q].T).T)                # U' Z Lambda
    M = np.asarray(Lam.T @ T[:q])
    M = (M + M.T) / 2 + np.eye(q)                         # Lambda'Z'Z Lambda + I
    Lm = sla.cholesky(M, lower=True)
    del M
    W1 = sla.solve_triangular(Lm, T.T, lower=True)        # Lm^-1 T'
    del T
    G1 = W1.T @ W1                                        # T N T'
    NT = sla.solve_triangular(Lm.T, W1, lower=False)      # N T'
    del W1
    G2 = NT.T @ NT                                        # T N^2 T'
    W3 = sla.solve_triangular(Lm, NT[:, q:], lower=True)  # only the X block of T N^3 T' is needed
    del NT
    G3x = W3.T @ W3
    C1 = (S - G1) / sigma2                                # U' V^-1 U
    del G1
    C2 = C1 / sigma2 - G2 / sigma2 ** 2                   # U' V^-2 U
    del G2
    D3 = C2[q:, q:] / sigma2 - G3x / sigma2 ** 3          # X' V^-3 X
    Linv = sla.solve_triangular(Lm, np.eye(q), lower=True)
    del Lm
    trC2 = (n - q + float(np.sum((Linv.T @ Linv) ** 2))) / sigma2 ** 2   # tr(V^-2)
    del Linv
    A1, B1 = C1[:q, :q], C1[:q, q:]
    A2, B2, D2 = C2[:q, :q], C2[:q, q:], C2[q:, q:]
    blocks, _ = _param_blocks(terms)
    nr = len(blocks)
    ng = nr + 1

    def pairs(bl):
        a, b = bl[3], bl[4]
        ia, ib = _idx(bl, a), _idx(bl, b)
        return [(ia, ib)] if a == b else [(ia, ib), (ib, ia)]

    def E_times(bl, Y):
        """E_r Y for a q-row matrix Y."""
        out = np.zeros_like(Y)
        for iu, iv in pairs(bl):
            out[iu] += Y[iv]
        return out

    EB = [E_times(bl, B1) for bl in blocks]
    PP = [-(B1.T @ eb) for eb in EB]
    PP = [(x + x.T) / 2 for x in PP]  # forceSymmetric
    PP.append(-D2)
    # QQ[r][s] for r <= s
    QQ: dict[tuple[int, int], np.ndarray] = {}
    A1EB = [A1 @ eb for eb in EB]
    for r_ in range(nr):
        for s_ in range(r_, nr):
            QQ[r_, s_] = EB[r_].T @ A1EB[s_]
        QQ[r_, nr] = EB[r_].T @ B2
    QQ[nr, nr] = D3
    # Ktrace
    K = np.zeros((ng, ng))
    for r_ in range(nr):
        for s_ in range(r_, nr):
            tot = 0.0
            for iu, iv in pairs(blocks[r_]):
                for iw, iz in pairs(blocks[s_]):
                    tot += float(np.sum(A1[np.ix_(iv, iw)] * A1[np.ix_(iz, iu)].T))
            K[r_, s_] = K[s_, r_] = tot
        tot = 0.0
        for iu, iv in pairs(blocks[r_]):
            tot += float(np.trace(A2[np.ix_(iv, iu)]))
        K[r_, nr] = K[nr, r_] = tot
    K[nr, nr] = trC2
    Phi = np.asarray(fit.vcov, dtype=float)
    IE2 = np.zeros((ng, ng))
    for i in range(ng):
        PhiPi = Phi @ PP[i]
        for j in range(i, ng):
            IE2[i, j] = IE2[j, i] = (K[i, j] - 2 * float(np.sum(Phi * QQ[i, j]))
                                     + float(np.sum(PhiPi * (PP[j] @ Phi))))
    eig = np.linalg.eigvalsh(IE2)
    condi = float(np.min(np.abs(eig)))
    WW = 2 * (np.linalg.inv(IE2) if condi > 1e-10 else np.linalg.pinv(IE2))
    WW = (WW + WW.T) / 2
    UU = np.zeros((p, p))
    for i in range(ng - 1):
        for j in range(i + 1, ng):
            UU += WW[i, j] * (QQ[i, j] - PP[i] @ Phi @ PP[j])
    UU = UU + UU.T
    for i in range(ng):
        UU += WW[i, i] * (QQ[i, i] - PP[i] @ Phi @ PP[i])
    phi_a = Phi + 2 * (Phi @ UU @ Phi)
    info = KRInfo(phi_a=phi_a, phi=Phi, P=PP, W=WW, condi=condi)
    _CACHE[fit] = info
    return info


def _div_zero(x: float, y: float, tol: float = 1e-14) -> float:
    """``pbkrtest:::.divZero``."""
    return 1.0 if (abs(x) < tol and abs(y) < tol) else x / y


def _a1_a2(L: np.ndarray, V0: np.ndarray, info: KRInfo) -> tuple[float, float]:
    Theta = L.T @ np.linalg.solve(L @ V0 @ L.T, L)
    ThetaV0 = Theta @ V0
    u = [ThetaV0 @ P @ V0 for P in info.P]
    A1 = A2 = 0.0
    ng = len(u)
    W = info.W
    for i in range(ng):
        for j in range(i, ng):
            e = 1.0 if i == j else 2.0
            A1 += e * W[i, j] * np.trace(u[i]) * np.trace(u[j])
            A2 += e * W[i, j] * float(np.sum(u[i] * u[j].T))
    return A1, A2


def _kr_df(A1: float, A2: float, q: int) -> tuple[float, float]:
    """The denominator df and the F scaling of ``.KR_adjust`` / ``Lb_ddf``."""
    B = (1 / (2 * q)) * (A1 + 6 * A2)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1 = g / (3 * q + 2 * (1 - g))
    c2 = (q - g) / (3 * q + 2 * (1 - g))
    c3 = (q + 2 - g) / (3 * q + 2 * (1 - g))
    V0 = 1 + c1 * B
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    rho = 1 / q * _div_zero(1 - A2 / q, V1) ** 2 * V0 / V2
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 0.01 else df2 * (1 - A2 / q) / (df2 - 2)
    return df2, scaling


def lb_ddf(L: np.ndarray, info: KRInfo) -> float:
    """``pbkrtest::Lb_ddf(L, V0 = vcov, Vadj)``: Kenward-Roger df for contrast(s) L (q = nrow(L))."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    A1, A2 = _a1_a2(L, info.phi, info)
    return _kr_df(A1, A2, L.shape[0])[0]


def _rank(M: np.ndarray) -> int:
    """``Matrix::rankMatrix`` (default: SVD with tolerance ``max(dim) * eps * largest singular value``)."""
    if M.size == 0:
        return 0
    s = np.linalg.svd(M, compute_uv=False)
    return int(np.sum(s > max(M.shape) * np.finfo(float).eps * s[0])) if s[0] > 0 else 0


def force_full_rank(L: np.ndarray) -> np.ndarray:
    """``pbkrtest:::force_full_rank``: an orthonormal basis of L's row space when L is rank deficient."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    q = _rank(L)
    if q < L.shape[0]:
        Q, _ = np.linalg.qr(L.T)
        return Q[:, :q].T
    return L


def kr_adjust(info: KRInfo, L: np.ndarray, beta: np.ndarray, betaH: np.ndarray | float = 0.0) -> dict:
    """``pbkrtest:::.KR_adjust``: the Kenward-Roger F test of ``L beta = L betaH``.

    Returns a dict with ``ndf``, ``ddf``, ``Fstat`` (scaled), ``FstatU`` (unscaled Wald/q with the
    adjusted covariance) and ``F_scaling``.
    """
    L = force_full_rank(L)
    A1, A2 = _a1_a2(L, info.phi, info)
    q = _rank(L)
    df2, scaling = _kr_df(A1, A2, q)
    diff = np.asarray(beta, dtype=float) - betaH
    Lb = L @ diff
    wald = float(Lb @ np.linalg.solve(L @ info.phi_a @ L.T, Lb))
    FU = wald / q
    return {"ndf": q, "ddf": df2, "Fstat": scaling * FU, "FstatU": FU, "F_scaling": scaling,
            "A1": A1, "A2": A2}

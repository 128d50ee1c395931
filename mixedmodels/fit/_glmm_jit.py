"""The compiled PIRLS loop of :mod:`mixedmodels.fit.pirls` (imported on the first ``glmer`` fit only, so that
``import mixedmodels`` does not import Numba). Module-level functions, so Numba caches them on disk.

One call runs lme4's ``pwrssUpdate`` to convergence with the family and link built in (a small integer
switch: binomial / Poisson / negative binomial; logit, probit, cloglog, log), the weighted cross-products
in one pass over the rows of the fixed pattern of ``Z Lambda``, the block Cholesky factor (the first term
block diagonal, the rest and -- for ``joint`` -- the fixed effects one dense Schur complement, its
downdate through the precomputed pattern of the cross-products when that is sparse) and the solves, all
without Python between the iterations. The numeric guards are R's (as in :mod:`mixedmodels.fit.family`).
"""

import math

import numpy as np

from .kernels import njit

FAM_BINOMIAL, FAM_POISSON, FAM_NEGBIN = 0, 1, 2
LINK_LOGIT, LINK_PROBIT, LINK_CLOGLOG, LINK_LOG = 0, 1, 2, 3

EPS = np.finfo(np.float64).eps
THRESH = 30.0
PROBIT_T = 8.125890664701908  # -qnorm(.Machine$double.eps)
SQRT1_2 = 0.7071067811865476
INV_SQRT2PI = 0.3989422804014327

# status codes returned by pirls (turned into errors in pirls.py)
OK, BAD_WEIGHTS, NAN_PDEV, HALVING_FAILED, MAXIT, NOT_PD_11, NOT_PD_22 = 0, 1, 2, 3, 4, 5, 6


@njit(nogil=True)
def link_mu_eta(link, eta):  # pragma: no cover - compiled
    """(mu, d mu / d eta) at eta."""
    if link == LINK_LOGIT:
        if eta < -THRESH:
            return EPS, EPS
        if eta > THRESH:
            return 1.0 - EPS, EPS
        e = math.exp(eta)
        ope = 1.0 + e
        return e / ope, e / (ope * ope)
    if link == LINK_PROBIT:
        x = min(max(eta, -PROBIT_T), PROBIT_T)
        mu = 0.5 * math.erfc(-x * SQRT1_2)
        return mu, max(INV_SQRT2PI * math.exp(-0.5 * eta * eta), EPS)
    if link == LINK_CLOGLOG:
        ee = math.exp(eta) if eta < 700.0 else math.exp(700.0)
        mu = max(min(-math.expm1(-math.exp(eta)) if eta < 709.0 else 1.0, 1.0 - EPS), EPS)
        return mu, max(ee * math.exp(-ee), EPS)
    m = max(math.exp(eta), EPS) if eta < 709.0 else math.inf
    return m, m


@njit(nogil=True)
def variance(fam, mu, nbtheta):  # pragma: no cover - compiled
    if fam == FAM_BINOMIAL:
        return mu * (1.0 - mu)
    if fam == FAM_POISSON:
        return mu
    return mu + mu * mu / nbtheta


@njit(nogil=True)
def ylogy(y, mu):  # pragma: no cover - compiled
    if y == 0.0:
        return 0.0
    return y * math.log(y / mu)


@njit(nogil=True)
def dev_resid(fam, y, mu, wt, nbtheta):  # pragma: no cover - compiled
    if fam == FAM_BINOMIAL:
        return 2.0 * wt * (ylogy(y, mu) + ylogy(1.0 - y, 1.0 - mu))
    if fam == FAM_POISSON:
        if y > 0.0:
            return 2.0 * (wt * (y * math.log(y / mu) - (y - mu)))
        return 2.0 * mu * wt
    return 2.0 * wt * (y * math.log(max(1.0, y) / mu) - (y + nbtheta) * math.log((y + nbtheta) / (mu + nbtheta)))


@njit(nogil=True)
def fused(fam, link, parts, n):  # pragma: no cover - compiled
    """Whether :func:`state` takes the fused binomial-logit / Poisson-log formulas (``parts[:, 5]`` holds
    the deviance residuals' y-only part, see :meth:`mixedmodels.fit.pirls.GlmmProblem._aic_parts`)."""
    if parts.shape[0] != n or parts.shape[1] < 6:
        return False
    return (fam == FAM_BINOMIAL and link == LINK_LOGIT) or (fam == FAM_POISSON and link == LINK_LOG)


@njit(nogil=True)
def state(fam, link, nbtheta, y, wt, eta, mu, me, dr, parts, lm, l1m):  # pragma: no cover - compiled
    """mu, d mu / d eta and the deviance residuals at eta; returns the residuals' sum (NaN/inf passed
    on). For the binomial-logit and Poisson-log families (:func:`fused`) the residuals come from
    ``log(mu)`` and ``log(1 - mu)`` (kept in ``lm`` / ``l1m`` for the ``aic``) by one ``log1p`` (logit:
    log mu = eta - log(1 + e^eta)) or none (log: log mu = eta), with R's guards and the y-only part
    precomputed: the same values to rounding, with a third of the logarithms. The logit's formulas take
    ``e^-|eta|`` and one division, with no branch on the sign of eta (rows in level order have no
    pattern of signs to predict)."""
    s = 0.0
    n = eta.shape[0]
    if fused(fam, link, parts, n):
        if fam == FAM_BINOMIAL:
            for i in range(n):
                x = eta[i]
                if x < -THRESH or x > THRESH:
                    if x < 0.0:
                        m, e = EPS, EPS
                        lmu, l1 = math.log(EPS), math.log1p(-EPS)
                    else:
                        m, e = 1.0 - EPS, EPS
                        lmu, l1 = math.log1p(-EPS), math.log(EPS)
                else:
                    # from t = e^-|x| <= 1 (selects, no branch on the sign of x): mu = t / (1 + t) for
                    # x <= 0, 1 / (1 + t) for x > 0; d mu / d eta = t / (1 + t)^2; log(mu) and
                    # log(1 - mu) from log1p(t), without cancellation
                    t = math.exp(-abs(x))
                    rr = 1.0 / (1.0 + t)
                    L = math.log1p(t)
                    neg = x <= 0.0
                    m = t * rr if neg else rr
                    e = t * rr * rr
                    lmu = x - L if neg else -L
                    l1 = -L if neg else -x - L
                mu[i] = m
                me[i] = e
                lm[i] = lmu
                l1m[i] = l1
                yi = y[i]
                d = parts[i, 5] - 2.0 * wt[i] * (yi * lmu + (1.0 - yi) * l1)
                dr[i] = d
                s += d
            return s
        for i in range(n):
            x = eta[i]
            if x >= 709.0:
                m = math.inf
                lmu = x
                d = dev_resid(fam, y[i], m, wt[i], nbtheta)
            else:
                m = math.exp(x)
                lmu = x
                if m < EPS:
                    m = EPS
                    lmu = math.log(EPS)
                d = parts[i, 5] + 2.0 * wt[i] * (m - y[i] * lmu)
            mu[i] = m
            me[i] = m
            lm[i] = lmu
            dr[i] = d
            s += d
        return s
    for i in range(n):
        m, e = link_mu_eta(link, eta[i])
        mu[i] = m
        me[i] = e
        d = dev_resid(fam, y[i], m, wt[i], nbtheta)
        dr[i] = d
        s += d
    return s


@njit(nogil=True)
def start_state(link, eta, mu, me):  # pragma: no cover - compiled
    """mu and d mu / d eta at the start ``eta`` (into ``mu``, ``me``): the same for every PIRLS run
    of an optimizer's stage, so computed once per stage (:meth:`GlmmProblem.laplace_function`)."""
    for i in range(eta.shape[0]):
        m, e = link_mu_eta(link, eta[i])
        mu[i] = m
        me[i] = e


@njit(nogil=True, fastmath={"reassoc"})
def weights(fam, link, nbtheta, y, wt, eta, off, mu, me, w, wz):  # pragma: no cover - compiled
    """The working weights ``w = wt mu_eta^2 / variance`` and ``w z`` (z the working response ``eta -
    off + (y - mu) / mu_eta``) in one pass; False when some are not finite (NaN and inf reach the sums,
    checked once). The binomial-logit and Poisson-log families, whose ``mu_eta`` is their variance,
    take ``w = wt mu_eta`` and ``w z = w (eta - off) + wt (y - mu)``: no division (the same values
    to rounding)."""
    n = eta.shape[0]
    sw = 0.0
    sz = 0.0
    if (fam == FAM_BINOMIAL and link == LINK_LOGIT) or (fam == FAM_POISSON and link == LINK_LOG):
        for i in range(n):
            wti = wt[i]
            wi = wti * me[i]
            zi = wi * (eta[i] - off[i]) + wti * (y[i] - mu[i])
            w[i] = wi
            wz[i] = zi
            sw += wi
            sz += zi
    else:
        for i in range(n):
            mei = me[i]
            t = wt[i] * mei / variance(fam, mu[i], nbtheta)
            wi = t * mei
            zi = wi * (eta[i] - off[i]) + t * (y[i] - mu[i])
            w[i] = wi
            wz[i] = zi
            sw += wi
            sz += zi
    return math.isfinite(sw) and math.isfinite(sz)


@njit(nogil=True, fastmath={"reassoc", "contract"})
def cross_fixed(XT, XW, w, wz, vals, lptr, s1, q2u, p, q, M12, c12, S, rhs):  # pragma: no cover - compiled
    """The fixed effects' parts of the cross-products, as dense products over the rows (``XT`` the
    (p, n) transpose of X, ``XW`` (p + 1, n) scratch): ``X' W X`` into ``S``'s trailing block (lower
    triangle), ``X' w z`` into ``rhs[q:]`` and, level by level of the first term (rows sorted by it,
    level ``j``'s rows ``lptr[j]:lptr[j+1]``), its columns of Z Lambda against ``W X`` into
    ``M12[:, c12:c12 + p]``. Contiguous inner loops that the compiler vectorizes (reassociated sums: the
    same values to rounding)."""
    n = XT.shape[1]
    for j in range(p):
        xt = XT[j]
        xw = XW[j]
        for r in range(n):
            xw[r] = xt[r] * w[r]
    for j in range(p):
        xw = XW[j]
        for j2 in range(j + 1):
            xt = XT[j2]
            s = 0.0
            for r in range(n):
                s += xw[r] * xt[r]
            S[q2u + j, q2u + j2] += s
        xt = XT[j]
        s = 0.0
        for r in range(n):
            s += xt[r] * wz[r]
        rhs[q + j] += s
    l1 = lptr.shape[0] - 1
    va = XW[p]
    for a in range(s1):
        for r in range(n):
            va[r] = vals[r, a]
        for lev in range(l1):
            r0, r1 = lptr[lev], lptr[lev + 1]
            row = lev * s1 + a
            for j in range(p):
                xw = XW[j]
                s = 0.0
                for r in range(r0, r1):
                    s += xw[r] * va[r]
                M12[row, c12 + j] += s


@njit(nogil=True)
def accumulate_levels(idx, vals, w, wz, X, p, s1, q1, q2u, lptr, M11, M12, S, rhs):  # pragma: no cover
    """:func:`accumulate` on rows sorted by the first term's level (level ``j``'s rows at
    ``lptr[j]:lptr[j+1]``), with the right-hand side ``(Z Lambda)' w z`` into ``rhs[:q]`` in the same
    pass and without the fixed effects' own products (:func:`cross_fixed`): a scalar first term's sums
    stay in registers for its level's rows, and consecutive rows update different entries of the
    other terms' blocks. ``M11`` gets the identity added; ``S``'s u rows do not (the caller adds it)."""
    n, k = vals.shape
    l1 = lptr.shape[0] - 1
    M11[:] = 0.0
    M12[:] = 0.0
    S[:] = 0.0
    rhs[:] = 0.0
    if s1 == 1 and k == 2:  # two scalar terms (crossed or nested intercepts): the loop without inner loops
        for lev in range(l1):
            m11 = 0.0
            r1 = 0.0
            for r in range(lptr[lev], lptr[lev + 1]):
                wr = w[r]
                zr = wz[r]
                v0 = vals[r, 0]
                va = v0 * wr
                m11 += va * v0
                r1 += v0 * zr
                ci = idx[r, 1]
                ri = ci - q1
                vv = vals[r, 1]
                M12[lev, ri] += va * vv
                rhs[ci] += vv * zr
                vi = vv * wr
                S[ri, ri] += vi * vv
                for j in range(p):
                    S[q2u + j, ri] += vi * X[r, j]
            M11[lev, 0, 0] = m11 + 1.0
            rhs[lev] = r1
        return
    if s1 == 1:
        for lev in range(l1):
            m11 = 0.0
            r1 = 0.0
            for r in range(lptr[lev], lptr[lev + 1]):
                wr = w[r]
                zr = wz[r]
                v0 = vals[r, 0]
                va = v0 * wr
                m11 += va * v0
                r1 += v0 * zr
                for i in range(1, k):
                    ci = idx[r, i]
                    ri = ci - q1
                    vv = vals[r, i]
                    M12[lev, ri] += va * vv
                    rhs[ci] += vv * zr
                    vi = vv * wr
                    for i2 in range(1, i):
                        ri2 = idx[r, i2] - q1
                        if ri2 <= ri:
                            S[ri, ri2] += vi * vals[r, i2]
                        else:
                            S[ri2, ri] += vi * vals[r, i2]
                    S[ri, ri] += vi * vv
                    for j in range(p):
                        S[q2u + j, ri] += vi * X[r, j]
            M11[lev, 0, 0] = m11 + 1.0
            rhs[lev] = r1
        return
    for lev in range(l1):
        base = lev * s1
        for r in range(lptr[lev], lptr[lev + 1]):
            wr = w[r]
            zr = wz[r]
            for a in range(s1):
                vra = vals[r, a]
                va = vra * wr
                for b in range(a + 1):
                    M11[lev, a, b] += va * vals[r, b]
                rhs[base + a] += vra * zr
                for i in range(s1, k):
                    M12[base + a, idx[r, i] - q1] += va * vals[r, i]
            for i in range(s1, k):
                ci = idx[r, i]
                ri = ci - q1
                vv = vals[r, i]
                rhs[ci] += vv * zr
                vi = vv * wr
                for i2 in range(s1, k):
                    ri2 = idx[r, i2] - q1
                    if ri2 <= ri:
                        S[ri, ri2] += vi * vals[r, i2]
                for j in range(p):
                    S[q2u + j, ri] += vi * X[r, j]
        for a in range(s1):
            M11[lev, a, a] += 1.0


@njit(nogil=True)
def chol_small(A, n):  # pragma: no cover - compiled
    """Lower Cholesky of A[:n, :n] in place; False if not positive definite.

    The same 12 lines as ``_smallfit_jit.chol_inplace``, kept here on purpose: importing that module would
    mark the compiled small-model evaluator as loaded (``kernels.compiled_small_pays``), and Numba's disk
    cache of a kernel is not invalidated when a kernel it calls in another module changes."""
    for j in range(n):
        s = A[j, j]
        for t in range(j):
            s -= A[j, t] * A[j, t]
        if not s > 0.0:
            return False
        d = math.sqrt(s)
        A[j, j] = d
        for i in range(j + 1, n):
            s = A[i, j]
            for t in range(j):
                s -= A[i, t] * A[j, t]
            A[i, j] = s / d
    return True


@njit(nogil=True)
def chol_sparse(A, n):  # pragma: no cover - compiled
    """Lower Cholesky of A[:n, :n] (lower triangle) in place, right-looking, skipping the zeros of each
    column: cheap where the Schur complement stays sparse (nested factors). False if not positive
    definite; the upper triangle is set to zero."""
    nz = np.empty(n, dtype=np.int64)
    for j in range(n):
        d = A[j, j]
        if not d > 0.0:
            return False
        d = math.sqrt(d)
        A[j, j] = d
        m = 0
        for i in range(j + 1, n):
            if A[i, j] != 0.0:
                A[i, j] /= d
                nz[m] = i
                m += 1
        for ia in range(m):
            i = nz[ia]
            lij = A[i, j]
            for ib in range(ia + 1):
                A[i, nz[ib]] -= lij * A[nz[ib], j]
    for a in range(n):
        for b in range(a + 1, n):
            A[a, b] = 0.0
    return True


@njit(nogil=True)
def accumulate(idx, vals, w, X, p, s1, q1, q2u, M11, M12, S):  # pragma: no cover - compiled
    """The weighted cross-products of ``[Z Lambda, X]`` (X's first ``p`` columns; p = 0 leaves out the
    fixed effects) with the identity added on u, in one pass over the rows of the fixed pattern of
    ``Z Lambda``: ``M11`` (l1, s1, s1) the first term's diagonal blocks (lower triangles), ``M12``
    (q1, q2u + p) its rows against the other terms and X, ``S`` (q2u + p, q2u + p) the lower triangle of
    the other terms and X against themselves. ``vals`` are the (n, k) values of Z Lambda at the columns
    ``idx``, ``w`` the weights. :func:`factorize` factors these in place; the NumPy side
    (:meth:`mixedmodels.fit.pirls.GlmmProblem._factor`) reads them as they are."""
    n, k = vals.shape
    M11[:] = 0.0
    M12[:] = 0.0
    S[:] = 0.0
    for r in range(n):
        wr = w[r]
        if s1 == 1:
            lev = idx[r, 0]
            va = vals[r, 0] * wr
            M11[lev, 0, 0] += va * vals[r, 0]
            for i in range(1, k):
                ri = idx[r, i] - q1
                vv = vals[r, i]
                M12[lev, ri] += va * vv
                vi = vv * wr
                for i2 in range(1, i + 1):
                    ri2 = idx[r, i2] - q1
                    if ri2 <= ri:
                        S[ri, ri2] += vi * vals[r, i2]
                    else:
                        S[ri2, ri] += vi * vals[r, i2]
                for j in range(p):
                    S[q2u + j, ri] += vi * X[r, j]
            for j in range(p):
                xj = X[r, j] * wr
                M12[lev, q2u + j] += va * X[r, j]
                for j2 in range(j + 1):
                    S[q2u + j, q2u + j2] += xj * X[r, j2]
            continue
        lev = idx[r, 0] // s1
        for a in range(s1):
            va = vals[r, a] * wr
            ca = idx[r, a]
            for b in range(a + 1):
                M11[lev, a, b] += va * vals[r, b]
            for i in range(s1, k):
                M12[ca, idx[r, i] - q1] += va * vals[r, i]
            for j in range(p):
                M12[ca, q2u + j] += va * X[r, j]
        for i in range(s1, k):
            ri = idx[r, i] - q1
            vi = vals[r, i] * wr
            for i2 in range(s1, k):
                ri2 = idx[r, i2] - q1
                if ri2 <= ri:
                    S[ri, ri2] += vi * vals[r, i2]
            for j in range(p):
                S[q2u + j, ri] += vi * X[r, j]
        for j in range(p):
            xj = X[r, j] * wr
            for j2 in range(j + 1):
                S[q2u + j, q2u + j2] += xj * X[r, j2]
    for i in range(q2u):
        S[i, i] += 1.0
    for lev in range(M11.shape[0]):
        for a in range(s1):
            M11[lev, a, a] += 1.0


@njit(nogil=True)
def factorize(idx, vals, w, wz, X, XT, XW, joint, l1, s1, q1, q2u, lptr, L11, L12, S, rhs, L21):  # pragma: no cover
    """The block factor of ``[Z Lambda, X]' W [Z Lambda, X] + diag(1 on u)`` (X only when ``joint``) on
    rows sorted by the first term's level (:func:`accumulate_levels`, :func:`cross_fixed`), and the
    right-hand side ``[Z Lambda, X]' w z`` into ``rhs``: ``L11`` (l1, s1, s1) lower factors of the
    first term's blocks, ``L12`` (q1, q2) = L11^-1 M12 and ``S`` (q2, q2) whose lower triangle becomes
    the factor of the Schur complement (``L21`` (q2, q1) scratch). Returns a status and log|L_u|^2 (the
    u part of the log-determinant)."""
    p = X.shape[1] if joint else 0
    q2 = q2u + p
    accumulate_levels(idx, vals, w, wz, X, p, s1, q1, q2u, lptr, L11, L12, S, rhs)
    if p:
        cross_fixed(XT, XW, w, wz, vals, lptr, s1, q2u, p, q1 + q2u, L12, q2u, S, rhs)
    for i in range(q2u):
        S[i, i] += 1.0
    ld = 0.0
    if s1 == 1:
        for lev in range(l1):
            d = L11[lev, 0, 0]
            if not d > 0.0:
                return NOT_PD_11, 0.0
            d = math.sqrt(d)
            L11[lev, 0, 0] = d
            ld += math.log(d)
            if q2:
                inv = 1.0 / d
                for c in range(q2):
                    L12[lev, c] *= inv
        ld *= 2.0
    else:
        for lev in range(l1):
            if not chol_small(L11[lev], s1):
                return NOT_PD_11, 0.0
            for a in range(s1):
                ld += 2.0 * math.log(L11[lev, a, a])
        # L12 = L11^-1 M12, level by level (forward substitution in the s1 x s1 block)
        for lev in range(l1):
            base = lev * s1
            for a in range(s1):
                row = base + a
                for c in range(q2):
                    s = L12[row, c]
                    for b in range(a):
                        s -= L11[lev, a, b] * L12[base + b, c]
                    L12[row, c] = s / L11[lev, a, a]
    if q2 == 0:
        return OK, ld
    downdate_dense(L12, S, L21)
    st, ld2 = chol_schur(S, q2, q2u)
    return st, ld + ld2


@njit(nogil=True, fastmath={"reassoc", "contract"})
def downdate_dense(L12, S, L21):  # pragma: no cover - compiled
    """``S -= L12' L12`` (lower triangle) by dot products of the columns of ``L12`` (copied into the
    rows of the scratch ``L21``): contiguous, vectorized sums over the first term's levels
    (reassociated: the same values to rounding)."""
    q1, q2 = L12.shape
    for j in range(q1):
        for a in range(q2):
            L21[a, j] = L12[j, a]
    for a in range(q2):
        la = L21[a]
        for b in range(a + 1):
            lb = L21[b]
            s = 0.0
            for j in range(q1):
                s += la[j] * lb[j]
            S[a, b] -= s


@njit(nogil=True)
def chol_schur(S, q2, q2u):  # pragma: no cover - compiled
    """Cholesky of the Schur complement (lower triangle of S, in place; the upper set to zero): the
    small loop up to 96 rows, the zero-skipping loop when under 5% of it is non-zero, else LAPACK.
    Returns (status, the u rows' part of log|L|^2)."""
    ld = 0.0
    dense = q2 <= 96
    if not dense:  # LAPACK for a dense Schur complement, the zero-skipping loop for a sparse one
        cnt = 0
        for a in range(q2):
            for b in range(a):
                if S[a, b] != 0.0:
                    cnt += 1
        if cnt < 0.05 * q2 * (q2 - 1) / 2:
            if not chol_sparse(S, q2):
                return NOT_PD_22, 0.0
            for a in range(q2u):
                ld += 2.0 * math.log(S[a, a])
            return OK, ld
    if dense:
        if not chol_small(S, q2):
            return NOT_PD_22, 0.0
        for a in range(q2):
            for b in range(a + 1, q2):
                S[a, b] = 0.0
    else:
        for a in range(q2):
            for b in range(a + 1, q2):
                S[a, b] = S[b, a]
        for a in range(q2):
            if not S[a, a] > 0.0:
                return NOT_PD_22, 0.0
        L = np.linalg.cholesky(S)  # LAPACK; S is checked above only on its diagonal
        for a in range(q2):
            if not L[a, a] > 0.0 or not np.isfinite(L[a, a]):
                return NOT_PD_22, 0.0
        S[:, :] = L
    for a in range(q2u):
        ld += 2.0 * math.log(S[a, a])
    return OK, ld


@njit(nogil=True)
def factorize_sparse(idx, vals, w, wz, X, XT, XW, joint, l1, q1, q2u, lptr, ptr21, rows21, pos21, L11, L12v,
                     L12x, S, rhs):  # pragma: no cover - compiled
    """:func:`factorize` for a scalar first term whose cross-products with the other terms are mostly
    zero (crossed factors with many levels): ``L12`` kept in the compressed rows of its fixed pattern
    (``L12v``, level j's entries at ``ptr21[j]:ptr21[j+1]``, their rest columns ``rows21``; ``pos21[r]``
    where row r's products go) plus the dense fixed-effects columns ``L12x`` (q1, p): the Schur
    downdate costs the pattern's multiply-adds only (sum over levels of |pattern|^2 / 2), and nothing
    of size q1 x q2 is formed. Rows sorted by the first term's level (``lptr``), the right-hand side
    into ``rhs`` as in :func:`factorize`."""
    n, k = vals.shape
    p = X.shape[1] if joint else 0
    q2 = q2u + p
    L11[:] = 0.0
    L12v[:] = 0.0
    L12x[:] = 0.0
    S[:] = 0.0
    rhs[:] = 0.0
    for lev in range(l1):
        m11 = 0.0
        r1 = 0.0
        if k == 2:  # two scalar terms: the loop without inner loops
            for r in range(lptr[lev], lptr[lev + 1]):
                wr = w[r]
                zr = wz[r]
                v0 = vals[r, 0]
                va = v0 * wr
                m11 += va * v0
                r1 += v0 * zr
                ci = idx[r, 1]
                vv = vals[r, 1]
                L12v[pos21[r, 0]] += va * vv
                rhs[ci] += vv * zr
                vi = vv * wr
                ri = ci - q1
                S[ri, ri] += vi * vv
                for j in range(p):
                    S[q2u + j, ri] += vi * X[r, j]
            L11[lev, 0, 0] = m11
            rhs[lev] = r1
            continue
        for r in range(lptr[lev], lptr[lev + 1]):
            wr = w[r]
            zr = wz[r]
            v0 = vals[r, 0]
            va = v0 * wr
            m11 += va * v0
            r1 += v0 * zr
            for i in range(1, k):
                ci = idx[r, i]
                ri = ci - q1
                vv = vals[r, i]
                L12v[pos21[r, i - 1]] += va * vv
                rhs[ci] += vv * zr
                vi = vv * wr
                for i2 in range(1, i):
                    ri2 = idx[r, i2] - q1
                    if ri2 <= ri:
                        S[ri, ri2] += vi * vals[r, i2]
                    else:
                        S[ri2, ri] += vi * vals[r, i2]
                S[ri, ri] += vi * vv
                for j in range(p):
                    S[q2u + j, ri] += vi * X[r, j]
        L11[lev, 0, 0] = m11
        rhs[lev] = r1
    if p:
        cross_fixed(XT, XW, w, wz, vals, lptr, 1, q2u, p, q1 + q2u, L12x, 0, S, rhs)
    for i in range(q2u):
        S[i, i] += 1.0
    ld = 0.0
    for lev in range(l1):
        d = L11[lev, 0, 0] + 1.0
        if not d > 0.0:
            return NOT_PD_11, 0.0
        d = math.sqrt(d)
        L11[lev, 0, 0] = d
        ld += math.log(d)
        inv = 1.0 / d
        for ib in range(ptr21[lev], ptr21[lev + 1]):
            L12v[ib] *= inv
        for j in range(p):
            L12x[lev, j] *= inv
    ld *= 2.0
    # rest x rest, level by level: the level's entries stay in cache, its rows of S are written in
    # ascending columns (the pattern is sorted within a level)
    for j in range(q1):
        a0, a1 = ptr21[j], ptr21[j + 1]
        for ia in range(a0, a1):
            a = rows21[ia]
            la = L12v[ia]
            for ib in range(a0, ia + 1):
                S[a, rows21[ib]] -= la * L12v[ib]
    # fixed effects x (rest, fixed effects)
    for j in range(q1):
        for jx in range(p):
            lx = L12x[j, jx]
            if lx == 0.0:
                continue
            for ib in range(ptr21[j], ptr21[j + 1]):
                S[q2u + jx, rows21[ib]] -= lx * L12v[ib]
            for jx2 in range(jx + 1):
                S[q2u + jx, q2u + jx2] -= lx * L12x[j, jx2]
    st, ld2 = chol_schur(S, q2, q2u)
    return st, ld + ld2


@njit(nogil=True, fastmath={"reassoc", "contract"})
def solve_dense(S, r, off, q2):  # pragma: no cover - compiled
    """Solve (S S') x = r[off:off + q2] in place with the dense lower factor ``S`` of the Schur block:
    both substitutions along S's rows (contiguous): the forward one by dot products, the backward one
    by updates of the remaining right-hand side (both vectorized)."""
    for a in range(q2):
        row = S[a]
        s = 0.0
        for b in range(a):
            s += row[b] * r[off + b]
        r[off + a] = (r[off + a] - s) / row[a]
    for a in range(q2 - 1, -1, -1):
        row = S[a]
        xa = r[off + a] / row[a]
        r[off + a] = xa
        for b in range(a):
            r[off + b] -= row[b] * xa


@njit(nogil=True)
def solve_sparse(L11, L12v, L12x, S, r, l1, q1, q2u, q2, ptr21, rows21):  # pragma: no cover - compiled
    """:func:`solve` with the factor of :func:`factorize_sparse`."""
    p = q2 - q2u
    for j in range(l1):
        r[j] /= L11[j, 0, 0]
    if q2:
        for j in range(q1):
            rj = r[j]
            if rj != 0.0:
                for ib in range(ptr21[j], ptr21[j + 1]):
                    r[q1 + rows21[ib]] -= L12v[ib] * rj
                for jx in range(p):
                    r[q1 + q2u + jx] -= L12x[j, jx] * rj
        solve_dense(S, r, q1, q2)
        for j in range(q1):
            s = r[j]
            for ib in range(ptr21[j], ptr21[j + 1]):
                s -= L12v[ib] * r[q1 + rows21[ib]]
            for jx in range(p):
                s -= L12x[j, jx] * r[q1 + q2u + jx]
            r[j] = s
    for j in range(l1):
        r[j] /= L11[j, 0, 0]


@njit(nogil=True)
def solve(L11, L12, S, r, l1, s1, q1, q2):  # pragma: no cover - compiled
    """Solve (L L') x = r with the block factor (r overwritten by x)."""
    for lev in range(l1):
        base = lev * s1
        for a in range(s1):
            s = r[base + a]
            for b in range(a):
                s -= L11[lev, a, b] * r[base + b]
            r[base + a] = s / L11[lev, a, a]
    if q2:
        for j in range(q1):
            rj = r[j]
            if rj != 0.0:
                for c in range(q2):
                    r[q1 + c] -= L12[j, c] * rj
        solve_dense(S, r, q1, q2)
        for j in range(q1):
            s = r[j]
            for c in range(q2):
                s -= L12[j, c] * r[q1 + c]
            r[j] = s
    for lev in range(l1):
        base = lev * s1
        for a in range(s1 - 1, -1, -1):
            s = r[base + a]
            for b in range(a + 1, s1):
                s -= L11[lev, b, a] * r[base + b]
            r[base + a] = s / L11[lev, a, a]


@njit(nogil=True)
def aic_value(mode, mu, dr, parts, lm, l1m, fast):  # pragma: no cover - compiled
    """R's ``family$aic`` from the mu-free parts precomputed by :meth:`GlmmProblem._aic_parts`: mode 1 a
    0/1 binomial with unit weights (the deviance), 2 a binomial (parts: k, m - k, log choose(m, k),
    wt / m), 3 Poisson (wt, -lgamma(y + 1) wt, wt y), 4 negative binomial (the parts other than mu's).
    ``fast``: ``lm`` / ``l1m`` hold log(mu) and log(1 - mu) from :func:`state`'s fused formulas."""
    n = mu.shape[0]
    s = 0.0
    if mode == 1:
        for i in range(n):
            s += dr[i]
        return s
    if fast and mode == 2:
        for i in range(n):
            f = parts[i, 3]
            if f != 0.0:
                ll = parts[i, 2]
                if parts[i, 0] != 0.0:
                    ll += parts[i, 0] * lm[i]
                if parts[i, 1] != 0.0:
                    ll += parts[i, 1] * l1m[i]
                s += f * ll
        return -2.0 * s
    if fast and mode == 3:
        for i in range(n):
            ll = -mu[i] * parts[i, 0] + parts[i, 1]
            if parts[i, 2] != 0.0:
                ll += parts[i, 2] * lm[i]
            s += ll
        return -2.0 * s
    if mode == 2:
        for i in range(n):
            f = parts[i, 3]
            if f != 0.0:
                ll = parts[i, 2]
                if parts[i, 0] != 0.0:
                    ll += parts[i, 0] * math.log(mu[i])
                if parts[i, 1] != 0.0:
                    ll += parts[i, 1] * math.log1p(-mu[i])
                s += f * ll
        return -2.0 * s
    if mode == 3:
        for i in range(n):
            ll = -mu[i] * parts[i, 0] + parts[i, 1]
            if parts[i, 2] != 0.0:
                ll += parts[i, 2] * math.log(mu[i])
            s += ll
        return -2.0 * s
    # negative binomial: parts = (wt, wt (y + theta), wt y, wt (lgamma(y+1) - theta log theta + ...))
    for i in range(n):
        t = parts[i, 1] * math.log(mu[i] + parts[i, 4]) + parts[i, 3]
        if parts[i, 2] != 0.0:
            t -= parts[i, 2] * math.log(mu[i])
        s += t
    return 2.0 * s


@njit(nogil=True)
def linpred(off, idx, vals, X, coef, q, p, eta):  # pragma: no cover - compiled
    """``eta = off + Z Lambda coef[:q] + X[:, :p] coef[q:q + p]`` (``vals`` the (n, k) values of
    Z Lambda at the columns ``idx``; p = 0 leaves out X)."""
    n, k = vals.shape
    for r in range(n):
        e = off[r]
        for i in range(k):
            e += vals[r, i] * coef[idx[r, i]]
        for j in range(p):
            e += X[r, j] * coef[q + j]
        eta[r] = e


@njit(nogil=True)
def crossprod_vec(idx, vals, X, x, q, p, out):  # pragma: no cover - compiled
    """``out[:q] = (Z Lambda)' x`` and ``out[q:q + p] = X[:, :p]' x``."""
    out[:] = 0.0
    n, k = vals.shape
    for r in range(n):
        xr = x[r]
        for i in range(k):
            out[idx[r, i]] += vals[r, i] * xr
        for j in range(p):
            out[q + j] += X[r, j] * xr


@njit(nogil=True)
def linpred_t(off, idx, vals, XT, coef, q, p, eta):  # pragma: no cover - compiled
    """:func:`linpred` with the fixed effects from the transpose ``XT`` of X, column by column: a
    contiguous update of eta per column (vectorized) instead of a chain of p multiply-adds per row."""
    n, k = vals.shape
    if k == 2:
        for r in range(n):
            eta[r] = off[r] + vals[r, 0] * coef[idx[r, 0]] + vals[r, 1] * coef[idx[r, 1]]
    else:
        for r in range(n):
            e = off[r]
            for i in range(k):
                e += vals[r, i] * coef[idx[r, i]]
            eta[r] = e
    for j in range(p):
        c = coef[q + j]
        xt = XT[j]
        for r in range(n):
            eta[r] += xt[r] * c


@njit(nogil=True)
def penalized_deviance(fam, link, nbtheta, y, wt, off, idx, vals, XT, sol, q, p, eta, mu, me, dr, parts, lm,
                       l1m):  # pragma: no cover
    """The state at ``sol`` = (u, beta): its linear predictor, mean, d mu / d eta and deviance residuals
    (into ``eta``, ``mu``, ``me``, ``dr``; ``lm``, ``l1m`` see :func:`state`), and its penalized deviance
    ``sum(dr) + |u|^2``."""
    linpred_t(off, idx, vals, XT, sol, q, p, eta)
    pdev = state(fam, link, nbtheta, y, wt, eta, mu, me, dr, parts, lm, l1m)
    for i in range(q):
        pdev += sol[i] * sol[i]
    return pdev


@njit(nogil=True)
def pirls(fam, link, nbtheta, idx, vals, X, XT, y, wt, off, eta0, mu0, me0, joint, tol, maxit,
          l1, s1, q1, q2u, lptr, ptr21, rows21, use21, pos21, aic_mode, aic_parts):  # pragma: no cover - compiled
    """lme4's ``pwrssUpdate`` (see :meth:`GlmmProblem.pirls_lme4`) on rows sorted by the first term's
    level (``lptr``; ``XT`` the transpose of ``X``). ``off`` is the offset (plus X beta when not
    ``joint``); ``mu0``, ``me0`` the mean and d mu / d eta at ``eta0`` (:func:`start_state`). Returns
    (status, iterations, u, beta, eta, mu, devres, ldL2, the weights of the last factorization, L11
    diagonal, the Laplace deviance (NaN for ``aic_mode`` 0))."""
    n, k = vals.shape
    p = X.shape[1] if joint else 0
    q = q1 + q2u
    q2 = q2u + p
    L11 = np.zeros((l1, s1, s1))
    if use21:  # the compressed pattern (factorize_sparse)
        L12 = np.zeros((1, 1))
        L12v = np.zeros(rows21.shape[0])
        L12x = np.zeros((q1, p))
    else:
        L12 = np.zeros((q1, q2))
        L12v = np.zeros(0)
        L12x = np.zeros((1, 1))
    L21 = np.empty((0 if use21 else q2, q1))
    S = np.zeros((q2, q2))
    XW = np.empty((p + 1, n))
    eta = eta0.copy()
    mu = mu0.copy()
    me = me0.copy()
    dr = np.empty(n)
    w = np.empty(n)
    wz = np.empty(n)
    u = np.zeros(q)
    b = np.zeros(p)
    eta_new = np.empty(n)
    mu_new = np.empty(n)
    dr_new = np.empty(n)
    me_new = np.empty(n)
    sol = np.empty(q + p)
    lm = np.empty(n)  # log(mu), log(1 - mu) of the last state evaluated (the accepted one): for the aic
    l1m = np.empty(n)
    oldpdev = math.inf
    ld = 0.0
    status = MAXIT
    it = 0
    for it in range(1, maxit + 1):
        if not weights(fam, link, nbtheta, y, wt, eta, off, mu, me, w, wz):
            return BAD_WEIGHTS, it, u, b, eta, mu, dr, 0.0, w, L11[:, 0, 0].copy(), math.nan
        if use21:
            st, ld = factorize_sparse(idx, vals, w, wz, X, XT, XW, joint, l1, q1, q2u, lptr, ptr21, rows21,
                                      pos21, L11, L12v, L12x, S, sol)
        else:
            st, ld = factorize(idx, vals, w, wz, X, XT, XW, joint, l1, s1, q1, q2u, lptr, L11, L12, S, sol, L21)
        if st != OK:
            return st, it, u, b, eta, mu, dr, 0.0, w, L11[:, 0, 0].copy(), math.nan
        if use21:
            solve_sparse(L11, L12v, L12x, S, sol, l1, q1, q2u, q2, ptr21, rows21)
        else:
            solve(L11, L12, S, sol, l1, s1, q1, q2)
        pdev = penalized_deviance(fam, link, nbtheta, y, wt, off, idx, vals, XT, sol, q, p, eta_new, mu_new,
                                  me_new, dr_new, aic_parts, lm, l1m)
        converged = np.isfinite(pdev) and abs((oldpdev - pdev) / pdev) < tol
        if not converged and (not np.isfinite(pdev) or pdev > oldpdev):
            for _ in range(20):  # halve the step while the penalized deviance grows
                for i in range(q + p):
                    sol[i] = 0.5 * (sol[i] + (u[i] if i < q else b[i - q]))
                pdev = penalized_deviance(fam, link, nbtheta, y, wt, off, idx, vals, XT, sol, q, p, eta_new,
                                          mu_new, me_new, dr_new, aic_parts, lm, l1m)
                if np.isfinite(pdev) and pdev <= oldpdev:
                    break
            if not np.isfinite(pdev):
                return NAN_PDEV, it, u, b, eta, mu, dr, ld, w, L11[:, 0, 0].copy(), math.nan
            if pdev - oldpdev > tol:
                return HALVING_FAILED, it, u, b, eta, mu, dr, ld, w, L11[:, 0, 0].copy(), math.nan
        u[:] = sol[:q]
        b[:] = sol[q:]
        # the new state becomes the current one: swap the buffers (no copies)
        eta, eta_new = eta_new, eta
        mu, mu_new = mu_new, mu
        me, me_new = me_new, me
        dr, dr_new = dr_new, dr
        oldpdev = pdev
        if converged:
            status = OK
            break
    lap = math.nan
    if status == OK and aic_mode != 0:
        lap = ld + aic_value(aic_mode, mu, dr, aic_parts, lm, l1m, fused(fam, link, aic_parts, n))
        for i in range(q):
            lap += u[i] * u[i]
    return status, it, u, b, eta, mu, dr, ld, w, L11[:, 0, 0].copy(), lap


@njit(nogil=True)
def laplace_value(fam, link, nbtheta, idx, zall, theta, X, XT, beta, y, wt, offset, eta0, mu0, me0, joint, tol,
                  maxit, l1, s1, q1, q2u, lptr, ptr21, rows21, use21, pos21, aic_mode,
                  aic_parts):  # pragma: no cover - compiled
    """The Laplace deviance only (status, iterations, value), for models whose terms are all scalar
    (``zall`` the (n, k) values of Z, theta one per term): what the optimizer needs, with nothing to
    hand back to Python but three numbers."""
    n, k = zall.shape
    vals = np.empty((n, k))
    for r in range(n):
        for i in range(k):
            vals[r, i] = zall[r, i] * theta[i]
    return laplace_vals(fam, link, nbtheta, idx, vals, X, XT, beta, y, wt, offset, eta0, mu0, me0, joint, tol,
                        maxit, l1, s1, q1, q2u, lptr, ptr21, rows21, use21, pos21, aic_mode, aic_parts)


@njit(nogil=True)
def laplace_vals(fam, link, nbtheta, idx, vals, X, XT, beta, y, wt, offset, eta0, mu0, me0, joint, tol,
                 maxit, l1, s1, q1, q2u, lptr, ptr21, rows21, use21, pos21, aic_mode,
                 aic_parts):  # pragma: no cover - compiled
    """:func:`laplace_value` at the (n, k) values ``vals`` of Z Lambda (any terms, vector-valued too;
    formed by the caller): the status, iterations and Laplace deviance."""
    n = vals.shape[0]
    off = offset.copy()
    if not joint:
        for j in range(XT.shape[0]):
            b = beta[j]
            xt = XT[j]
            for r in range(n):
                off[r] += xt[r] * b
    res = pirls(fam, link, nbtheta, idx, vals, X, XT, y, wt, off, eta0, mu0, me0, joint, tol, maxit,
                l1, s1, q1, q2u, lptr, ptr21, rows21, use21, pos21, aic_mode, aic_parts)
    return res[0], res[1], res[10]


@njit(nogil=True)
def laplace_values(fam, link, nbtheta, idx, zall, thetas, X, XT, betas, y, wt, offset, eta0, mu0, me0, joint, tol,
                   maxit, l1, s1, q1, q2u, lptr, ptr21, rows21, use21, pos21, aic_mode,
                   aic_parts):  # pragma: no cover - compiled
    """:func:`laplace_value` at each row of ``thetas`` / ``betas`` (every evaluation started from
    ``eta0``): the points of a finite-difference Hessian in one call. Returns the statuses, iterations and
    values, one per point."""
    m = thetas.shape[0]
    st = np.zeros(m, dtype=np.int64)
    its = np.zeros(m, dtype=np.int64)
    out = np.empty(m)
    for j in range(m):
        r = laplace_value(fam, link, nbtheta, idx, zall, thetas[j], X, XT, betas[j], y, wt, offset, eta0, mu0,
                          me0, joint, tol, maxit, l1, s1, q1, q2u, lptr, ptr21, rows21, use21, pos21, aic_mode,
                          aic_parts)
        st[j] = r[0]
        its[j] = r[1]
        out[j] = r[2]
    return st, its, out


@njit(nogil=True)
def agq_value(fam, link, nbtheta, refs, zl, eta, y, wt, u0, devres, l11, ld, rule):  # pragma: no cover
    """lme4's ``glmerAGQ`` (see :meth:`GlmmProblem.agq`): one scalar term, the mode's linear predictor
    ``eta``, ``zl`` the term's column of Z times theta, ``rule`` the (k, 3) Gauss-Hermite rule."""
    n = eta.shape[0]
    nl = u0.shape[0]
    devc0 = np.empty(nl)
    for j in range(nl):
        devc0[j] = u0[j] * u0[j]
    for i in range(n):
        devc0[refs[i]] += devres[i]
    mult = np.zeros(nl)
    devc = np.empty(nl)
    for t in range(rule.shape[0]):
        z, w, ldn = rule[t, 0], rule[t, 1], rule[t, 2]
        if z == 0.0:
            for j in range(nl):
                mult[j] += w
            continue
        for j in range(nl):
            u1 = u0[j] + z / l11[j]
            devc[j] = u1 * u1
        for i in range(n):
            e = eta[i] + zl[i] * (z / l11[refs[i]])
            m, _ = link_mu_eta(link, e)
            devc[refs[i]] += dev_resid(fam, y[i], m, wt[i], nbtheta)
        for j in range(nl):
            mult[j] += math.exp(-0.5 * (devc[j] - devc0[j]) - ldn) * w / 2.5066282746310002
    s = ld
    for j in range(nl):
        s += devc0[j] - 2.0 * math.log(mult[j])
    return s

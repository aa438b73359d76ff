"""The rankers that read a member's features: LogME, H-score, shrinkage H-score, TransRate, GBC and SFDA.

Each ``_name(member)`` computes its score from a ``_Member`` (``member.py``), reusing the centring, Gram
matrix and spectrum that other rankers of the same member built; the reference code each one reproduces is
cited where its formula is computed.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from ..errors import TaskspaceError
from ..ties import TIE_RTOL
from .member import EPS, _gram, _Member, _Spectrum

LOGME_MAX_ITERATIONS = 11
LOGME_TOLERANCE = 1e-3
LOGME_GUARD = 1e-5
TRANSRATE_EPS = 1e-4
GBC_COMPONENTS = 64
GBC_VARIANCE_FLOOR = 1e-4
SFDA_POWER_ITERATIONS = 3


# --- LogME ---------------------------------------------------------------------------------------------------


def _too_far(name: str, member: _Member, small: bool, why: str) -> TaskspaceError:
    """The one-line refusal of a scale-dependent ranker whose score float64 cannot hold at this magnitude."""
    too = "small" if small else "large"
    return TaskspaceError(
        f"{name}: the features (up to {member.size():.3g} in magnitude, centred) are too {too} for {why}; "
        f"rescale them (e.g. to unit variance): {name} depends on their scale"
    )


def _logme_scale(member: _Member) -> tuple[float, float]:
    """LogME's start alpha = 1 and guard 1e-5 on ||m||^2 for the features divided by 2^e (``_Member._centring``).

    With F' = F / 2^e the iteration runs on sigma' = sigma / 4^e, t' = t / 4^e, alpha' = alpha / 4^e,
    ||m'||^2 = 4^e ||m||^2 and beta, gamma, the residual and alpha ||m||^2 unchanged; the log 2^e terms of the
    evidence cancel. So starting at alpha' = 4^-e with guard 4^e 1e-5 is the reference's iteration on F exactly.
    """
    start, guard = np.ldexp(1.0, -2 * member.exponent()), np.ldexp(LOGME_GUARD, 2 * member.exponent())
    if not 0 < start < np.inf:
        raise _too_far("logme", member, start == np.inf, "float64 to start LogME's fixed-point iteration at alpha = 1")
    return float(start), float(guard)


def _logme_evidence(
    sigma: np.ndarray,
    coordinates: np.ndarray,
    target_squares: np.ndarray,
    n: int,
    d: int,
    start: float = 1.0,
    guard: float = LOGME_GUARD,
):
    """Mean over target columns of the maximum log evidence per item, by the fixed-point iteration.

    You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning" (ICML 2021) and
    "Ranking and Tuning Pre-trained Models" (arXiv 2110.10545), as ``LogME._fit_fixed_point`` in
    thuml/LogME ``LogME.py``: alpha = beta = 1 for every target column; at most 11 updates
    ``gamma = sum sigma / (sigma + t)``, ``alpha = gamma / (m2 + 1e-5)``, ``beta = (n - gamma) / (res2 + 1e-5)``
    with t = alpha / beta, stopping at relative change of t <= 1e-3; evidence divided by n. All columns
    iterate together (each stops on its own test). ``log |alpha I + beta F^T F|`` counts all d eigenvalues,
    the d - k zero ones included, as the fix of thuml/LogME issue #23 (pull request #24) does for n < d;
    the unfixed code overstates the evidence by (d - k) / (2 n) log alpha whenever rank k < d. ``start`` and
    ``guard``: alpha's start and the guard on ||m||^2 for rescaled features (``_logme_scale``).
    """
    x2 = coordinates**2
    outside = np.maximum(target_squares - x2.sum(axis=0), 0.0)  # ||y||^2 off the span of F
    columns = x2.shape[1]
    alpha, beta = np.full(columns, start), np.ones(columns)
    m2, res2 = np.zeros(columns), np.zeros(columns)
    active = np.ones(columns, dtype=bool)
    s = sigma[:, None]
    for _ in range(LOGME_MAX_ITERATIONS):
        t = alpha[active] / beta[active]
        gamma = (s / (s + t)).sum(axis=0)
        m2[active] = (s * x2[:, active] / (t + s) ** 2).sum(axis=0)
        res2[active] = (x2[:, active] / (1.0 + s / t) ** 2).sum(axis=0) + outside[active]
        alpha[active] = gamma / (m2[active] + guard)
        beta[active] = (n - gamma) / (res2[active] + LOGME_GUARD)
        converged = np.abs(alpha[active] / beta[active] - t) / t <= LOGME_TOLERANCE
        active[np.flatnonzero(active)[converged]] = False
        if not active.any():
            break
    log_det = np.log(alpha[None, :] + beta[None, :] * s).sum(axis=0) + (d - len(sigma)) * np.log(alpha)
    evidence = (
        d / 2.0 * np.log(alpha)
        + n / 2.0 * np.log(beta)
        - 0.5 * log_det
        - beta / 2.0 * res2
        - alpha / 2.0 * m2
        - n / 2.0 * np.log(2 * np.pi)
    ) / n
    return float(evidence.mean())


def _logme(member: _Member) -> float:
    spectrum = member.raw_spectrum()
    coordinates = member.label_coordinates(spectrum, raw=True)
    counts = member.counts.astype(np.float64)
    return _logme_evidence(spectrum.values, coordinates, counts, member.n, member.d, *_logme_scale(member))


def _logme_regression(member: _Member, targets: np.ndarray) -> float:
    """LogME of real-valued targets, one evidence per target column, averaged (thuml/LogME ``regression=True``)."""
    spectrum = member.raw_spectrum()
    coordinates = spectrum.coordinates(
        targets, lambda: member.centred().T @ targets + np.outer(member.mean(), targets.sum(axis=0))
    )
    squares = (targets**2).sum(axis=0)
    return _logme_evidence(spectrum.values, coordinates, squares, member.n, member.d, *_logme_scale(member))


# --- H-score, shrinkage H-score, TransRate ---------------------------------------------------------------


def _hscore(member: _Member) -> float:
    """H-score, Bao et al. (ICIP 2019), as ``h_score`` in thuml/Transfer-Learning-Library tllib/ranking/hscore.py.

    ``tr(pinv(cov f) cov E[f | y])``. With centred features F = U S V^T and class indicators y_c, the class-mean
    covariance is ``sum_c n_c mu_c mu_c^T / (n - 1)`` with ``mu_c = F^T y_c / n_c``, so the trace is exactly
    ``sum_c ||U^T y_c||^2 / n_c``. The pseudo-inverse drops the numerical null space (see ``_Spectrum``); the
    reference's ``rcond=1e-15`` lies below the rounding noise of a d x d covariance matrix, so where covf is
    singular with noisy null eigenvalues (always for n <= d) it inverts some of that noise and drifts from the
    exact value, which is C - 1 for n <= d and features in general position (benchmarks/README.md).
    """
    coordinates = member.label_coordinates(member.centred_spectrum(), raw=False)
    return float(((coordinates**2).sum(axis=0) / member.counts).sum())


def _ledoit_wolf_shrinkage(member: _Member) -> float:
    """scikit-learn's ``ledoit_wolf_shrinkage`` of the centred features, from the shared Gram matrix.

    Same formula as sklearn/covariance/_shrunk_covariance.py: with S = F^T F / n, mu = tr(S) / d,
    beta = (sum_i ||f_i||^4 / n - ||S||_F^2) / (d n), delta = (||S||_F^2 - d mu^2) / d, shrinkage =
    min(beta, delta) / delta (its block sum of X2^T X2 is sum_i ||f_i||^4).
    """
    n, d = member.n, member.d
    if d == 1:
        return 0.0
    row_squares = np.einsum("ij,ij->i", member.centred(), member.centred())
    mu = row_squares.sum() / n / d
    delta_ = (member.centred_gram() ** 2).sum() / n**2
    beta = 1.0 / (d * n) * ((row_squares**2).sum() / n - delta_)
    delta = (delta_ - 2.0 * mu * mu * d + d * mu**2) / d
    beta = min(beta, delta)
    return 0.0 if beta == 0 else float(beta / delta)


def _hscore_shrinkage(member: _Member) -> float:
    """Shrinkage H-score, Ibrahim et al., "Newer is not always better" (ICLR 2023; openreview iz_Wwmfquno).

    As ``regularized_h_score`` in thuml/Transfer-Learning-Library tllib/ranking/hscore.py:
    ``tr(pinv(cov_alpha) (1 - alpha) cov E[f | y])`` with scikit-learn's Ledoit-Wolf ``cov_alpha = (1 - alpha) S
    + alpha mu I`` (S = F^T F / n) and ``np.cov`` (denominator n - 1) for the class means. In the eigenbasis
    of F^T F (eigenvalues lambda_i, U^T y_c = x_ic): ``(1 - alpha) / (n - 1) sum_c sum_i lambda_i x_ic^2 /
    (n_c ((1 - alpha) lambda_i / n + alpha mu))``; class means lie in the span of F, so only that part counts.
    """
    spectrum = member.centred_spectrum()
    coordinates = member.label_coordinates(spectrum, raw=False)
    alpha = _ledoit_wolf_shrinkage(member)
    mu = np.trace(member.centred_gram()) / member.n / member.d
    shrunk = (1.0 - alpha) * spectrum.values / member.n + alpha * mu
    weighted = (spectrum.values / shrunk)[:, None] * coordinates**2 / member.counts[None, :]
    return float((1.0 - alpha) / (member.n - 1) * weighted.sum())


def _coding_rate(gram: np.ndarray, n: int, eps: float) -> float:
    """``0.5 log det(I + F^T F / (n eps))`` from either Gram matrix of F (Sylvester), by Cholesky."""
    matrix = np.eye(len(gram)) + gram / (n * eps)
    if not np.isfinite(matrix).all():  # features huge against sqrt(eps): see _transrate
        return float("inf")
    factor, info = lapack.dpotrf(matrix, lower=1)
    if info != 0:  # cannot happen: the matrix is I plus a PSD matrix
        raise TaskspaceError("transrate: Cholesky factorisation of I + F^T F / (n eps) failed")
    return float(np.log(np.diag(factor)).sum())


def _transrate(member: _Member, eps: float = TRANSRATE_EPS) -> float:
    """TransRate, Huang et al. (ICML 2022), as ``transrate`` in thuml/Transfer-Learning-Library
    tllib/ranking/transrate.py: ``R(F) - mean_c R(F_c)`` with the coding rate ``R(Z) = 0.5 log det(I + Z^T Z /
    (n_Z eps))`` on the centred features F (centred once, over all items; F_c are the rows of class c).

    Scale-dependent through eps: on the features divided by 2^e it uses eps / 4^e, the same matrices. Each rate
    is a sum of logs of Cholesky diagonals, each rounded by about eps_64; features small against sqrt(eps)
    make every rate nearly zero and the score, their difference, nothing but that rounding (the reference
    returns 0.0 or noise there). Refused when the rates are below 1 and the score is not at least 1 / TIE_RTOL
    times their rounding, i.e. not reproducible to the tie rule's precision."""
    scaled = np.ldexp(eps, -2 * member.exponent())
    if not 0 < scaled < np.inf:
        raise _too_far("transrate", member, scaled == np.inf, f"TransRate's eps = {eps:g} in float64")
    rate = _coding_rate(member.centred_gram(), member.n, scaled)
    centred = member.centred()
    grams = [_gram(centred[rows]) for rows in member.class_rows()]
    per_class = [_coding_rate(gram, len(rows), scaled) for gram, rows in zip(grams, member.class_rows())]
    if not np.isfinite([rate, *per_class]).all():
        raise _too_far(
            "transrate", member, False, f"TransRate's eps = {eps:g} in float64 (I + F^T F / (n eps) overflows)"
        )
    score = rate - float(np.mean(per_class))
    rounding = 16 * EPS * (len(member.centred_gram()) + np.mean([len(gram) for gram in grams]))
    if max(rate, *per_class) < 1 and abs(score) <= rounding / TIE_RTOL:
        raise _too_far(
            "transrate", member, True, f"TransRate's eps = {eps:g} in float64 (score {score:.3g}, within rounding)"
        )
    return score


# --- GBC, SFDA -----------------------------------------------------------------------------------------------


def _gbc(member: _Member, components: int = GBC_COMPONENTS) -> float:
    """Gaussian Bhattacharyya coefficient, Pandy et al. (CVPR 2022), spherical, as google-research
    stable_transfer/transferability/gbc.py with the PCA its config applies first (``gbc.pca_reduction = 64``
    in config_transferability_source_selection.py; full-SVD scikit-learn PCA, here from the shared spectrum).

    Per class in the min(64, n, d) PCA dimensions: mean and biased variance per dimension floored at 1e-4,
    then averaged to one variance sigma_c. Between classes, as the reference's scalar form (no factor for the
    dimension in the log term): ``BD = ||mu_1 - mu_2||^2 / (8 s) + 0.5 (log s - 0.5 log sigma_1 - 0.5 log
    sigma_2)`` with s = (sigma_1 + sigma_2) / 2; ``GBC = -sum over ordered pairs c1 != c2 of exp(-BD)``.
    The reference casts the PCA output to float32; here it stays float64.

    Scale-dependent through the variance floor: on the features divided by 2^e the floor is 1e-4 / 4^e. When
    the floor binds for every class and dimension and the score is tied (``taskspace.ties``) with
    -C (C - 1), every pair's distance is lost below the floor: refused, not ranked as a member whose classes
    coincide.
    """
    spectrum = member.centred_spectrum()
    q = min(components, member.n, member.d)
    kept = min(q, len(spectrum.values))
    projected = np.zeros((member.n, q))
    if spectrum.items_side:
        projected[:, :kept] = spectrum.vectors[:, :kept] * np.sqrt(spectrum.values[:kept])
    else:
        projected[:, :kept] = member.centred() @ spectrum.vectors[:, :kept]
    means = np.asarray(member.onehot @ projected) / member.counts[:, None]
    spread = np.asarray(member.onehot @ (projected - means[member.index]) ** 2) / member.counts[:, None]
    floor = min(np.ldexp(GBC_VARIANCE_FLOOR, -2 * member.exponent()), 1e300)  # sums of it stay finite
    sigma = np.maximum(spread, floor).mean(axis=1)
    average = (sigma[:, None] + sigma[None, :]) / 2
    squared = ((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    distance = squared / average / 8 + 0.5 * (
        np.log(average) - 0.5 * np.log(sigma)[:, None] - 0.5 * np.log(sigma)[None, :]
    )
    coefficient = np.exp(-distance)
    np.fill_diagonal(coefficient, 0.0)
    score = -float(coefficient.sum())
    lowest = -member.classes * (member.classes - 1.0)
    if (spread <= floor).all() and score <= lowest + TIE_RTOL * abs(lowest):
        why = f"GBC's variance floor {GBC_VARIANCE_FLOOR:g} (every class distance lost below it: GBC {score:g})"
        raise _too_far("gbc", member, True, why)
    return score


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores / scores.sum(axis=1, keepdims=True)


def _within_decomposition(x: np.ndarray, gram: np.ndarray, member: _Member):
    """Class means M of x and an eigen-decomposition of its within-class scatter W^T W (W = x - M[y]).

    Returns (means, eigenvalues, V, trace of W^T W) with V (d x k) orthonormal; from x's small-side Gram: d-side
    ``W^T W = x^T x - M^T N M``; item side ``W W^T = (I - P) x x^T (I - P)`` (P averages within classes),
    then V = W^T U / s for the kept eigenvalues.
    """
    n, d, index, counts = member.n, member.d, member.index, member.counts
    sums = np.asarray(member.onehot @ x)
    means = sums / counts[:, None]
    if n > d:
        within = gram - sums.T @ means
        values, vectors = np.linalg.eigh(within)
        return means, np.maximum(values, 0.0), vectors, np.trace(within)
    row_means = np.asarray(member.onehot @ gram) / counts[:, None]  # C x n
    block_means = np.asarray(member.onehot @ row_means.T) / counts[:, None]  # C x C
    within = gram - row_means[index] - row_means[index].T + block_means[index][:, index]
    spectrum = _Spectrum(within, n, d)
    left = spectrum.vectors
    right = (x.T @ left - means.T @ np.asarray(member.onehot @ left)) / np.sqrt(spectrum.values)
    return means, spectrum.values, right, np.trace(within)


def _lda_posteriors(x: np.ndarray, gram: np.ndarray, member: _Member, shrinkage: float | None):
    """Class posteriors of SFDA's shrunk LDA fitted on x, and the shrinkage used (TencentARC/SFDA metrics.py).

    ``SFDA._solve_eigen`` solves ``eigh(S_b, S_w')`` with ``S_w' = (1 - s) S_w + s mu I`` (mu = tr S_w / d)
    and uses ``coef = M V V^T``; V is S_w'-orthonormal and complete, so V V^T = S_w'^-1 and S_b drops out:
    ``scores = x S_w'^-1 M^T - 0.5 diag(M S_w'^-1 M^T) + log priors``, softmax. Adaptive shrinkage as the
    reference: ``max(exp(-5 lambda), 1e-10)`` with lambda from its 3-step power iteration ``iterative_A``
    (utils.py), started from the row sums of S_w. Translation-invariant, so x may be centred; scale-invariant
    but for lambda, which is computed on the rescaled features and multiplied back by 4^e.
    """
    n, d = member.n, member.d
    means, values, vectors, trace = _within_decomposition(x, gram, member)
    scatter = values / n  # eigenvalues of S_w = W^T W / n on the columns of vectors

    def within(v):
        return vectors @ (scatter * (vectors.T @ v))

    if shrinkage is None:
        current = within(np.ones(d))
        for _ in range(SFDA_POWER_ITERATIONS):
            step = within(current)
            following = step / np.linalg.norm(step)
            step = within(following)
            current = step / np.linalg.norm(step)
        # lambda_max(S_w) scales with the features' square: put back the 4^e of their rescaling
        largest = np.ldexp(current @ within(following), 2 * member.exponent())
        shrinkage = max(float(np.exp(-5 * largest)), 1e-10)
    mu = trace / n / d
    if mu <= 0:
        raise TaskspaceError("sfda: the within-class scatter is zero (features constant within every class)")
    shrunk = (1.0 - shrinkage) * scatter + shrinkage * mu
    projected = vectors.T @ means.T
    solved = vectors @ (projected / shrunk[:, None])
    if vectors.shape[1] < d:  # the null space of S_w, where S_w' is s mu I
        solved += (means.T - vectors @ projected) / (shrinkage * mu)
    intercept = -0.5 * np.einsum("cj,jc->c", means, solved) + np.log(member.counts / n)
    return _softmax(x @ solved + intercept), shrinkage


def _sfda(member: _Member) -> float:
    """SFDA, Shao et al. (ECCV 2022), as ``SFDA_Score`` in TencentARC/SFDA metrics.py.

    Fit the shrunk LDA, soften its posteriors with a second softmax, mix every item towards the mean of the
    other classes' means with weight 1 - p(its class) (ConfMix), refit with the same shrinkage, and return the
    mean posterior of the true class (no log, as the reference).
    """
    centred, index, rows = member.centred(), member.index, np.arange(member.n)
    posteriors, shrinkage = _lda_posteriors(centred, member.centred_gram(), member, None)
    confidence = _softmax(posteriors)[rows, index][:, None]
    means = member.class_sums() / member.counts[:, None]
    others = (means.sum(axis=0) - means) / (member.classes - 1)
    mixed = np.empty_like(centred)  # one n x d array: class by class, without n x d temporaries
    for c, block in enumerate(member.class_rows()):
        mixed[block] = confidence[block] * centred[block] + (1.0 - confidence[block]) * others[c]
    mixed -= mixed.mean(axis=0)
    posteriors, _ = _lda_posteriors(mixed, _gram(mixed), member, shrinkage)
    return float(posteriors[rows, index].mean())

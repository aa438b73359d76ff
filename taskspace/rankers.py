"""Label-based transferability rankers: one score per member from its features on a task's training split.

Each ranker is a pure function ``f(features (n, d), labels (n,)) -> float``, higher is better; ``nce`` and
``leep`` take the member's source-head probabilities ``(n, C_source)`` instead of features. They reproduce
the reference code the field uses (cited where each formula is computed), in float64, and are correct for
n < d. :func:`score_all` computes several rankers of one member from one in-memory copy of its features and
shares their work: one centring, one Gram matrix on the small side (d x d when n > d, else n x n), one
eigendecomposition of it for all classes and all rankers that need a spectrum.

Labels may be any integers; classes are the distinct values present (the references assume 0..C-1).
Only LogME has a regression form (real-valued targets); the other rankers need classes (``NEEDS_CLASSES``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable

import numpy as np
from scipy import sparse
from scipy.linalg import lapack

from .errors import TaskspaceError

EPS = np.finfo(np.float64).eps
LOGME_MAX_ITERATIONS = 11
LOGME_TOLERANCE = 1e-3
LOGME_GUARD = 1e-5
TRANSRATE_EPS = 1e-4
GBC_COMPONENTS = 64
GBC_VARIANCE_FLOOR = 1e-4
SFDA_POWER_ITERATIONS = 3
PROBABILITY_TOLERANCE = 1e-3


# --- shared pieces -------------------------------------------------------------------------------------------


def _gram(x: np.ndarray) -> np.ndarray:
    """Gram matrix on the small side: ``x^T x`` (d x d) when n > d, else ``x x^T`` (n x n).

    numpy recognises the transposed pair and calls BLAS syrk (half the products), returning an exactly
    symmetric matrix; on this project's machine it was as fast as or faster than calling scipy's dsyrk.
    """
    return x.T @ x if x.shape[0] > x.shape[1] else x @ x.T


class _Spectrum:
    """Eigendecomposition of a small-side Gram matrix of an (n, d) matrix F, numerical null space dropped.

    ``values`` are the kept eigenvalues (squared singular values of F), descending; ``vectors`` the left
    singular vectors U (n x k) when the Gram is n x n, else the right ones V (d x k). Eigenvalues at or below
    ``max(n, d) * eps * largest`` are rounding noise of a Gram matrix and are treated as exactly zero.
    """

    def __init__(self, gram: np.ndarray, n: int, d: int):
        values, vectors = np.linalg.eigh(gram)
        keep = values > max(max(n, d) * EPS * values[-1], 0.0)
        self.values = values[keep][::-1].copy()
        self.vectors = vectors[:, keep][:, ::-1].copy()
        self.items_side = not n > d
        self.n, self.d = n, d

    def coordinates(self, targets: np.ndarray, features_t_targets) -> np.ndarray:
        """U^T Y (k x c) for targets Y (n x c); ``features_t_targets()`` gives F^T Y (d x c) when needed."""
        if self.items_side:
            return self.vectors.T @ targets
        return (self.vectors.T @ features_t_targets()) / np.sqrt(self.values)[:, None]


class _Shared:
    """Values computed once per member and the seconds each took, excluding what it asked of other values."""

    def __init__(self):
        self.values, self.own_seconds, self.needs = {}, {}, {}
        self._frames = []  # per open computation: [keys it used, seconds spent building values inside it]

    def get(self, key: str, build):
        if key not in self.values:
            self._frames.append([set(), 0.0])
            start = time.perf_counter()
            value = build()
            elapsed = time.perf_counter() - start
            used, nested = self._frames.pop()
            self.values[key], self.needs[key], self.own_seconds[key] = value, frozenset(used), elapsed - nested
            if self._frames:
                self._frames[-1][1] += elapsed
        if self._frames:
            self._frames[-1][0].update({key} | self.needs[key])
        return self.values[key]

    def timed(self, function):
        """Run ``function()``; seconds = its own work plus every shared value it used, as if run alone."""
        self._frames.append([set(), 0.0])
        start = time.perf_counter()
        try:
            value = function()
        finally:
            elapsed = time.perf_counter() - start
            used, nested = self._frames.pop()
        return value, elapsed - nested + sum(self.own_seconds[key] for key in used)


class _Member:
    """One member's validated features and labels, and the pieces several rankers share (built on first use)."""

    def __init__(self, features: np.ndarray, index: np.ndarray, counts: np.ndarray):
        self.features = features
        self.n, self.d = features.shape
        self.index, self.counts = index, counts
        self.classes = len(counts)
        self.onehot = sparse.csr_matrix((np.ones(self.n), (index, np.arange(self.n))), shape=(self.classes, self.n))
        self.shared = _Shared()

    def mean(self) -> np.ndarray:
        return self.shared.get("mean", lambda: self.features.mean(axis=0, dtype=np.float64))

    def centred(self) -> np.ndarray:
        return self.shared.get("centred", lambda: np.subtract(self.features, self.mean(), dtype=np.float64))

    def class_sums(self) -> np.ndarray:
        """Sums of the centred features per class (C x d)."""
        return self.shared.get("class_sums", lambda: np.asarray(self.onehot @ self.centred()))

    def class_rows(self) -> list[np.ndarray]:
        """Item indices of every class, in class order."""

        def build():
            order = np.argsort(self.index, kind="stable")
            return np.split(order, np.cumsum(self.counts)[:-1])

        return self.shared.get("class_rows", build)

    def centred_gram(self) -> np.ndarray:
        return self.shared.get("centred_gram", lambda: _gram(self.centred()))

    def centred_spectrum(self) -> _Spectrum:
        return self.shared.get("centred_spectrum", lambda: _Spectrum(self.centred_gram(), self.n, self.d))

    def raw_spectrum(self) -> _Spectrum:
        """Spectrum of the uncentred features, from the centred Gram by a low-rank update (no second pass)."""

        def build():
            gram, mean = self.centred_gram(), self.mean()
            if self.n > self.d:
                raw = gram + self.n * np.outer(mean, mean)
            else:
                shift = self.centred() @ mean
                raw = gram + shift[:, None] + shift[None, :] + mean @ mean
            return _Spectrum(raw, self.n, self.d)

        return self.shared.get("raw_spectrum", build)

    def label_coordinates(self, spectrum: _Spectrum, raw: bool) -> np.ndarray:
        """U^T y_c for every class indicator y_c (k x C)."""
        if spectrum.items_side:
            return np.asarray(self.onehot @ spectrum.vectors).T

        def class_sums():
            sums = self.class_sums().T
            return sums + np.outer(self.mean(), self.counts) if raw else sums

        return spectrum.coordinates(None, class_sums)


# --- validation ----------------------------------------------------------------------------------------------


def _check_features(features, name: str = "features") -> np.ndarray:
    array = np.asarray(features)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise TaskspaceError(f"{name}: expected a 2-D array of at least 2 items x 1 dimension, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TaskspaceError(f"{name}: expected numbers, got dtype {array.dtype}")
    bad = ~np.isfinite(array)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise TaskspaceError(
            f"{name}: {int(bad.sum())} values are NaN or infinite (first at row {row}, column {column})"
        )
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return np.ascontiguousarray(array)


def _check_labels(labels, n: int):
    """Class index (0..C-1) of every item and the class sizes; at least two classes."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise TaskspaceError(f"labels: expected shape ({n},) to match the {n} items, got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise TaskspaceError(
            f"labels: expected integer class labels, got dtype {labels.dtype} "
            "(real-valued targets: logme with regression=True)"
        )
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise TaskspaceError(f"labels: only one class ({classes[0]}); ranking needs at least two classes")
    return index.reshape(-1), np.bincount(index.reshape(-1))


def _check_targets(targets, n: int) -> np.ndarray:
    """Real-valued regression targets as an (n, c) float64 array."""
    targets = np.asarray(targets)
    if targets.ndim == 1:
        targets = targets[:, None]
    if targets.ndim != 2 or len(targets) != n or targets.shape[1] < 1:
        raise TaskspaceError(f"targets: expected shape ({n},) or ({n}, c) to match the {n} items, got {targets.shape}")
    if not (np.issubdtype(targets.dtype, np.floating) or np.issubdtype(targets.dtype, np.integer)):
        raise TaskspaceError(f"targets: expected numbers, got dtype {targets.dtype}")
    targets = targets.astype(np.float64)
    if not np.isfinite(targets).all():
        raise TaskspaceError(f"targets: {int((~np.isfinite(targets)).sum())} values are NaN or infinite")
    return targets


def _check_probabilities(source_probs, n: int) -> np.ndarray:
    probs = _check_features(source_probs, "source_probs").astype(np.float64, copy=False)
    if len(probs) != n:
        raise TaskspaceError(f"source_probs: {len(probs)} rows for {n} labels")
    if probs.min() < 0:
        raise TaskspaceError("source_probs: negative values; expected the source head's probabilities (softmax)")
    sums = probs.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > PROBABILITY_TOLERANCE:
        raise TaskspaceError(
            f"source_probs: row {worst} sums to {sums[worst]:.6g}, not 1 (logits instead of probabilities?)"
        )
    return probs


def _member(features, labels, regression: bool = False):
    """The member to score, and the regression targets (None for class labels)."""
    features = _check_features(features)
    n = len(features)
    if regression:
        targets = _check_targets(labels, n)
        index, counts = np.zeros(n, dtype=np.int64), np.array([n])
    else:
        targets = None
        index, counts = _check_labels(labels, n)
    if not np.ptp(features, axis=0).any():
        raise TaskspaceError("features: every dimension is constant over the items; there is nothing to score")
    return _Member(features, index, counts), targets


# --- LogME ---------------------------------------------------------------------------------------------------


def _logme_evidence(sigma: np.ndarray, coordinates: np.ndarray, target_squares: np.ndarray, n: int, d: int):
    """Mean over target columns of the maximum log evidence per item, by the fixed-point iteration.

    You et al., "LogME: Practical Assessment of Pre-trained Models for Transfer Learning" (ICML 2021) and
    "Ranking and Tuning Pre-trained Models" (arXiv 2110.10545), as ``LogME._fit_fixed_point`` in
    thuml/LogME ``LogME.py``: alpha = beta = 1 for every target column; at most 11 updates
    ``gamma = sum sigma / (sigma + t)``, ``alpha = gamma / (m2 + 1e-5)``, ``beta = (n - gamma) / (res2 + 1e-5)``
    with t = alpha / beta, stopping at relative change of t <= 1e-3; evidence divided by n. All columns
    iterate together (each stops on its own test). ``log |alpha I + beta F^T F|`` counts all d eigenvalues,
    the d - k zero ones included, as the fix of thuml/LogME issue #23 (pull request #24) does for n < d;
    the unfixed code overstates the evidence by (d - k) / (2 n) log alpha whenever rank k < d.
    """
    x2 = coordinates**2
    outside = np.maximum(target_squares - x2.sum(axis=0), 0.0)  # ||y||^2 off the span of F
    columns = x2.shape[1]
    alpha, beta = np.ones(columns), np.ones(columns)
    m2, res2 = np.zeros(columns), np.zeros(columns)
    active = np.ones(columns, dtype=bool)
    s = sigma[:, None]
    for _ in range(LOGME_MAX_ITERATIONS):
        t = alpha[active] / beta[active]
        gamma = (s / (s + t)).sum(axis=0)
        m2[active] = (s * x2[:, active] / (t + s) ** 2).sum(axis=0)
        res2[active] = (x2[:, active] / (1.0 + s / t) ** 2).sum(axis=0) + outside[active]
        alpha[active] = gamma / (m2[active] + LOGME_GUARD)
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
    return _logme_evidence(spectrum.values, coordinates, member.counts.astype(np.float64), member.n, member.d)


def _logme_regression(member: _Member, targets: np.ndarray) -> float:
    """LogME of real-valued targets, one evidence per target column, averaged (thuml/LogME ``regression=True``)."""
    spectrum = member.raw_spectrum()
    coordinates = spectrum.coordinates(
        targets, lambda: member.centred().T @ targets + np.outer(member.mean(), targets.sum(axis=0))
    )
    return _logme_evidence(spectrum.values, coordinates, (targets**2).sum(axis=0), member.n, member.d)


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
    factor, info = lapack.dpotrf(np.eye(len(gram)) + gram / (n * eps), lower=1)
    if info != 0:  # cannot happen: the matrix is I plus a PSD matrix
        raise TaskspaceError("transrate: Cholesky factorisation of I + F^T F / (n eps) failed")
    return float(np.log(np.diag(factor)).sum())


def _transrate(member: _Member, eps: float = TRANSRATE_EPS) -> float:
    """TransRate, Huang et al. (ICML 2022), as ``transrate`` in thuml/Transfer-Learning-Library
    tllib/ranking/transrate.py: ``R(F) - mean_c R(F_c)`` with the coding rate ``R(Z) = 0.5 log det(I + Z^T Z /
    (n_Z eps))`` on the centred features F (centred once, over all items; F_c are the rows of class c)."""
    rate = _coding_rate(member.centred_gram(), member.n, eps)
    centred = member.centred()
    per_class = [_coding_rate(_gram(centred[rows]), len(rows), eps) for rows in member.class_rows()]
    return rate - float(np.mean(per_class))


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
    sigma = np.maximum(spread, GBC_VARIANCE_FLOOR).mean(axis=1)
    average = (sigma[:, None] + sigma[None, :]) / 2
    squared = ((means[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    distance = squared / average / 8 + 0.5 * (
        np.log(average) - 0.5 * np.log(sigma)[:, None] - 0.5 * np.log(sigma)[None, :]
    )
    coefficient = np.exp(-distance)
    np.fill_diagonal(coefficient, 0.0)
    return -float(coefficient.sum())


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
    (utils.py), started from the row sums of S_w. Translation-invariant, so x may be centred.
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
        shrinkage = max(float(np.exp(-5 * (current @ within(following)))), 1e-10)
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


# --- rankers from source-head probabilities ----------------------------------------------------------------


def _leep(probs: np.ndarray, index: np.ndarray, classes: int) -> float:
    """LEEP, Nguyen et al. (ICML 2020), as thuml/LogME LEEP.py: joint P(y, z) = sum over items of class y of
    theta(z) / n, P(y | z) = P(y, z) / P(z), score = mean log sum_z theta_i(z) P(y_i | z)."""
    n = len(probs)
    onehot = sparse.csr_matrix((np.ones(n), (index, np.arange(n))), shape=(classes, n))
    joint = np.asarray(onehot @ probs) / n
    marginal = joint.sum(axis=0)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    return float(np.log(np.einsum("iz,iz->i", probs, conditional[index])).mean())


def _nce(probs: np.ndarray, index: np.ndarray, classes: int) -> float:
    """NCE, Tran et al. (ICCV 2019), as thuml/LogME NCE.py and tllib/ranking/nce.py: source labels z are the
    argmax of the source head; ``-H(Y | Z) = sum P(y, z) log (P(y, z) / P(z))`` over the empirical joint, empty
    source classes left out and 0 log 0 = 0 (tllib adds 1e-20 inside the log instead)."""
    n, sources = probs.shape
    source = probs.argmax(axis=1)
    joint = np.bincount(index * sources + source, minlength=classes * sources).reshape(classes, sources) / n
    marginal = joint.sum(axis=0, keepdims=True)
    ratio = np.divide(joint, marginal, out=np.ones_like(joint), where=joint > 0)
    return float((joint * np.log(ratio)).sum())


# --- public API ----------------------------------------------------------------------------------------------


def logme(features, labels, regression: bool = False) -> float:
    """LogME (You et al., ICML 2021): mean per-item log maximum evidence of a linear model on the features.

    ``labels``: integer classes (one-hot targets, one evidence per class), or with ``regression=True``
    real-valued targets of shape (n,) or (n, c) (one evidence per column). Formula: ``_logme_evidence``.
    """
    member, targets = _member(features, labels, regression)
    return _logme_regression(member, targets) if regression else _logme(member)


def hscore(features, labels) -> float:
    """H-score (Bao et al., ICIP 2019); formula and reference: ``_hscore``."""
    return _hscore(_member(features, labels)[0])


def hscore_shrinkage(features, labels) -> float:
    """Shrinkage (Ledoit-Wolf) H-score (Ibrahim et al. 2022); formula and reference: ``_hscore_shrinkage``."""
    return _hscore_shrinkage(_member(features, labels)[0])


def transrate(features, labels, eps: float = TRANSRATE_EPS) -> float:
    """TransRate (Huang et al., ICML 2022) with distortion eps; formula and reference: ``_transrate``."""
    return _transrate(_member(features, labels)[0], eps)


def gbc(features, labels, components: int = GBC_COMPONENTS) -> float:
    """GBC (Pandy et al., CVPR 2022), spherical, after PCA to ``components``; see ``_gbc``."""
    return _gbc(_member(features, labels)[0], components)


def sfda(features, labels) -> float:
    """SFDA (Shao et al., ECCV 2022); formula and reference: ``_sfda`` and ``_lda_posteriors``."""
    return _sfda(_member(features, labels)[0])


def leep(source_probs, labels) -> float:
    """LEEP from the source head's probabilities (n, C_source); see ``_leep``."""
    probs = _check_features(source_probs, "source_probs")
    index, counts = _check_labels(labels, len(probs))
    return _leep(_check_probabilities(probs, len(probs)), index, len(counts))


def nce(source_probs, labels) -> float:
    """NCE from the source head's probabilities (n, C_source), argmax as source labels; see ``_nce``."""
    probs = _check_features(source_probs, "source_probs")
    index, counts = _check_labels(labels, len(probs))
    return _nce(_check_probabilities(probs, len(probs)), index, len(counts))


RANKERS = {
    "logme": logme,
    "hscore": hscore,
    "hscore-shrinkage": hscore_shrinkage,
    "transrate": transrate,
    "gbc": gbc,
    "sfda": sfda,
    "nce": nce,
    "leep": leep,
}
"""Every ranker by name: ``f(features, labels) -> float`` (``f(source_probs, labels)`` for SOURCE_HEAD)."""

SOURCE_HEAD = frozenset({"nce", "leep"})
"""Rankers that read the member's source-head probabilities (n, C_source) instead of its features."""

NEEDS_CLASSES = frozenset(RANKERS) - {"logme"}
"""Rankers without a regression form: they need integer class labels."""

FEATURE_RANKERS = tuple(name for name in RANKERS if name not in SOURCE_HEAD)
"""The rankers that read features, in the registry's order (score_all's default)."""

SOURCE_HEAD_ORDER = ("nce", "leep")

_ON_MEMBER = {
    "logme": _logme,
    "hscore": _hscore,
    "hscore-shrinkage": _hscore_shrinkage,
    "transrate": _transrate,
    "gbc": _gbc,
    "sfda": _sfda,
}


def check_rankers(rankers: Iterable[str], regression: bool = False, source_probs: bool = True) -> list[str]:
    """The ranker names as a list, or a one-line error naming an unknown one (and the known ones)."""
    names = [rankers] if isinstance(rankers, str) else list(rankers)
    for name in names:
        if name not in RANKERS:
            raise TaskspaceError(f"unknown ranker {name!r}; known rankers: {', '.join(sorted(RANKERS))}")
        if regression and name in NEEDS_CLASSES:
            raise TaskspaceError(f"ranker {name!r} needs class labels; only logme has a regression form")
        if name in SOURCE_HEAD and not source_probs:
            raise TaskspaceError(f"ranker {name!r} needs the member's source-head probabilities (source_probs)")
    if len(set(names)) != len(names):
        raise TaskspaceError(f"rankers: {names} names a ranker twice")
    return names


def score_all(
    features,
    labels,
    rankers: Iterable[str] | None = None,
    source_probs=None,
    regression: bool = False,
    seconds: dict | None = None,
) -> dict[str, float]:
    """Scores of one member by several rankers, sharing work; ``{name: score}`` in the order asked.

    ``rankers``: names from RANKERS; default: every feature ranker, plus nce and leep when ``source_probs``
    is given (only logme with ``regression=True``). Inputs are checked once; the features are centred once
    and their small-side Gram matrix and its eigendecomposition are computed once for all rankers and
    classes. ``seconds``, if given a dict, receives each ranker's seconds counted as if it ran alone: its
    own work plus every shared piece it used (so the values add up to more than the wall time).
    """
    if rankers is None:
        with_heads = source_probs is not None and not regression
        rankers = ["logme"] if regression else [*FEATURE_RANKERS, *(SOURCE_HEAD_ORDER if with_heads else ())]
    names = check_rankers(rankers, regression, source_probs is not None)
    if not names:
        return {}
    if any(name not in SOURCE_HEAD for name in names):
        member, targets = _member(features, labels, regression)
        index, counts, shared = member.index, member.counts, member.shared
    else:
        index, counts = _check_labels(labels, len(np.atleast_1d(np.asarray(source_probs))))
        member, targets, shared = None, None, _Shared()
    probs = _check_probabilities(source_probs, len(index)) if SOURCE_HEAD.intersection(names) else None

    def run(name: str) -> float:
        if regression:
            return _logme_regression(member, targets)
        if name in SOURCE_HEAD:
            return (_leep if name == "leep" else _nce)(probs, index, len(counts))
        return _ON_MEMBER[name](member)

    scores = {}
    for name in names:
        value, elapsed = shared.timed(functools.partial(run, name))
        scores[name] = value
        if seconds is not None:
            seconds[name] = elapsed
    return scores

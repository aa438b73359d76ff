"""Transferability rankers: straightforward per-class implementations of each formula against taskspace.rankers.

    .venv/bin/python benchmarks/rankers.py                     # both shapes, prints a markdown table
    .venv/bin/python benchmarks/rankers.py --lm-items 10000    # subsample the LM token shape

Shapes: the paper's vision tasks (n = 300 images, d = 2048 ResNet-50 features, 30 classes: n < d) and an LM
token task (n = 50,000 words, d = 1024, 45 classes: n > d), synthetic Gaussian class clusters, float32 as the
feature files hold them. The naive versions follow the structure of the reference code named in each ranker's
docstring (thuml/LogME, tllib, TencentARC/SFDA, google-research stable_transfer), written here for numpy:
np.cov and a d x d pseudo-inverse, scikit-learn's LedoitWolf and full-SVD PCA, one slogdet per class, loops
over classes and class pairs, a generalised eigenproblem per SFDA fit. Rows: each ranker alone (naive,
taskspace) with the relative difference of the scores, then all six: the sum of the naive times, the sum of
the single taskspace calls and one ``score_all`` call (shared centring, Gram and eigendecomposition).
"""

import argparse
import time

import numpy as np
import scipy.linalg
from _machine import describe
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA

from taskspace import rankers


def synthetic(n, d, classes, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    centres = rng.standard_normal((classes, d)) * 0.3
    scales = rng.uniform(0.2, 2.0, size=d)  # uneven spectrum, as real features have
    return ((centres[labels] + rng.standard_normal((n, d))) * scales + 1.0).astype(np.float32), labels


def naive_logme(f, labels):
    f = f.astype(np.float64)
    n, d = f.shape
    if n > d:  # thuml/LogME truncated_svd: SVD of F^T F, then U = F V / s
        _, s, vh = np.linalg.svd(f.T @ f)
        s = np.sqrt(s)
        k = int((s > 1e-10).sum())
        u, s = (f @ vh.T)[:, :k] / s[:k], s[:k]
    else:
        u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = s**2
    evidences = []
    for c in np.unique(labels):
        y = (labels == c).astype(np.float64)
        x2 = (u.T @ y) ** 2
        outside = y @ y - x2.sum()
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = (sigma / (sigma + t)).sum()
            m2 = (sigma * x2 / (t + sigma) ** 2).sum()
            res2 = (x2 / (1 + sigma / t) ** 2).sum() + outside
            alpha, beta = gamma / (m2 + 1e-5), (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        log_det = np.log(alpha + beta * sigma).sum() + (d - len(sigma)) * np.log(alpha)
        evidences.append(
            (
                d / 2 * np.log(alpha)
                + n / 2 * np.log(beta)
                - 0.5 * log_det
                - beta / 2 * res2
                - alpha / 2 * m2
                - n / 2 * np.log(2 * np.pi)
            )
            / n
        )
    return float(np.mean(evidences))


def class_mean_rows(f, labels):
    g = np.zeros_like(f)
    for c in np.unique(labels):
        g[labels == c] = f[labels == c].mean(axis=0)
    return g


def naive_hscore(f, labels):
    f = f.astype(np.float64)
    covg = np.cov(class_mean_rows(f, labels), rowvar=False)
    return float(np.trace(np.linalg.pinv(np.cov(f, rowvar=False), rcond=1e-15) @ covg))


def naive_hscore_shrinkage(f, labels):
    f = f.astype(np.float64)
    f = f - f.mean(axis=0)
    estimate = LedoitWolf(assume_centered=False).fit(f)
    covg = np.cov(class_mean_rows(f, labels), rowvar=False)
    return float(np.trace(np.linalg.pinv(estimate.covariance_, rcond=1e-15) @ ((1 - estimate.shrinkage_) * covg)))


def naive_transrate(f, labels, eps=1e-4):
    def rate(z):
        return 0.5 * np.linalg.slogdet(np.eye(z.shape[1]) + z.T @ z / (len(z) * eps))[1]

    f = f.astype(np.float64)
    f = f - f.mean(axis=0)
    classes = np.unique(labels)
    return float(rate(f) - sum(rate(f[labels == c]) for c in classes) / len(classes))


def naive_gbc(f, labels):
    z = PCA(n_components=min(64, *f.shape), svd_solver="full").fit_transform(f.astype(np.float64))
    classes = list(np.unique(labels))
    means = {c: z[labels == c].mean(axis=0) for c in classes}
    variances = {c: np.maximum(z[labels == c].var(axis=0), 1e-4).mean() for c in classes}
    total = 0.0
    for c1 in classes:
        for c2 in classes:
            if c1 != c2:
                s = (variances[c1] + variances[c2]) / 2
                distance = np.sum((means[c1] - means[c2]) ** 2 / s) / 8
                distance += 0.5 * (np.log(s) - 0.5 * np.log(variances[c1]) - 0.5 * np.log(variances[c2]))
                total += np.exp(-distance)
    return -total


def naive_lda(x, labels, shrinkage):
    classes = np.unique(labels)
    priors = np.array([np.mean(labels == c) for c in classes])
    means = np.array([x[labels == c].mean(axis=0) for c in classes])
    within = sum(p * np.cov(x[labels == c], rowvar=False, bias=True) for p, c in zip(priors, classes))
    if shrinkage is None:
        v = within.sum(axis=1)
        for _ in range(3):
            u = within @ v / np.linalg.norm(within @ v)
            v = within @ u / np.linalg.norm(within @ u)
        shrinkage = max(np.exp(-5 * (v @ within @ u)), 1e-10)
    d = x.shape[1]
    empirical = np.cov(x, rowvar=False, bias=True)
    total = (1 - shrinkage) * empirical + shrinkage * np.trace(empirical) / d * np.eye(d)
    shrunk = (1 - shrinkage) * within + shrinkage * np.trace(within) / d * np.eye(d)
    _, vectors = scipy.linalg.eigh(total - shrunk, shrunk)
    coef = means @ vectors @ vectors.T
    scores = x @ coef.T - 0.5 * np.diag(means @ coef.T) + np.log(priors)
    scores = np.exp(scores - scores.max(axis=1, keepdims=True))
    return scores / scores.sum(axis=1, keepdims=True), shrinkage


def naive_sfda(f, labels):
    x = f.astype(np.float64)
    probs, shrinkage = naive_lda(x, labels, None)
    probs = np.exp(probs) / np.exp(probs).sum(axis=1, keepdims=True)
    classes = np.unique(labels)
    means = np.array([x[labels == c].mean(axis=0) for c in classes])
    for i, c in enumerate(classes):
        rows = labels == c
        others = (means.sum(axis=0) - means[i]) / (len(classes) - 1)
        x[rows] = probs[rows, i][:, None] * x[rows] + (1 - probs[rows, i])[:, None] * others
    probs, _ = naive_lda(x, labels, shrinkage)
    return float(probs[np.arange(len(labels)), np.searchsorted(classes, labels)].mean())


NAIVE = {
    "logme": naive_logme,
    "hscore": naive_hscore,
    "hscore-shrinkage": naive_hscore_shrinkage,
    "transrate": naive_transrate,
    "gbc": naive_gbc,
    "sfda": naive_sfda,
}


def timed(function, *args, repeats=1):
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function(*args)
        best = min(best, time.perf_counter() - start)
    return best, value


def bench_shape(label, f, labels, repeats):
    naive_total = single_total = 0.0
    single_scores = {}
    for name, naive in NAIVE.items():
        naive_time, naive_value = timed(naive, f, labels, repeats=repeats)
        fast_time, fast_value = timed(rankers.RANKERS[name], f, labels, repeats=repeats)
        naive_total, single_total = naive_total + naive_time, single_total + fast_time
        single_scores[name] = fast_value
        difference = abs(fast_value - naive_value) / max(abs(naive_value), 1e-300)
        print(
            f"| {label} | {name} | {naive_time:.3f} | {fast_time:.3f} | {naive_time / fast_time:.1f}x "
            f"| {difference:.1e} |"
        )
    all_time, scores = timed(rankers.score_all, f, labels, list(NAIVE), repeats=repeats)
    same = max(abs(scores[n] - single_scores[n]) / max(abs(single_scores[n]), 1e-300) for n in NAIVE)
    print(
        f"| {label} | all six: naive sum / single calls sum | {naive_total:.3f} | {single_total:.3f} "
        f"| {naive_total / single_total:.1f}x | - |"
    )
    print(
        f"| {label} | all six: naive sum / one score_all | {naive_total:.3f} | {all_time:.3f} "
        f"| {naive_total / all_time:.1f}x | {same:.1e} (vs single calls) |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lm-items", type=int, default=50000, help="items of the LM token shape (default 50,000)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the vision shape (best time)")
    parser.add_argument("--lm-repeats", type=int, default=2, help="repeats of the LM token shape (best time)")
    parser.add_argument("--skip-lm", action="store_true")
    args = parser.parse_args()
    print(f"machine: {describe()}\n")
    warm_f, warm_labels = synthetic(50, 20, 3)
    rankers.score_all(warm_f, warm_labels)
    print("| shape | ranker | naive (s) | taskspace (s) | speed-up | relative difference of scores |")
    print("|---|---|---|---|---|---|")
    f, labels = synthetic(300, 2048, 30, seed=1)
    bench_shape("vision 300 x 2048, 30 classes", f, labels, args.repeats)
    if not args.skip_lm:
        f, labels = synthetic(args.lm_items, 1024, 45, seed=2)
        bench_shape(f"LM {args.lm_items:,} x 1024, 45 classes", f, labels, args.lm_repeats)


if __name__ == "__main__":
    main()

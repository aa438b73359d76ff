"""taskspace.rankers against slow, literal implementations of the reference definitions, and their properties.

Each ``slow_*`` function follows the reference code named in the ranker's docstring step by step (loops over
classes and pairs, the d x d matrices, np.cov, pinv, slogdet, scikit-learn's PCA and LedoitWolf, scipy's
generalised eigh), written independently of taskspace.rankers.
"""

import numpy as np
import pytest
import scipy.linalg
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA

from taskspace import rankers
from taskspace.errors import TaskspaceError


def make_data(seed, n, d, classes, separation=1.0, offset=2.0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    rng.shuffle(labels)
    centres = rng.standard_normal((classes, d)) * separation
    return centres[labels] + rng.standard_normal((n, d)) + offset, labels


def make_probs(seed, labels, sources=13, sharpness=2.0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((len(labels), sources)) + sharpness * np.eye(sources)[labels % sources]
    probs = np.exp(logits)
    return probs / probs.sum(axis=1, keepdims=True)


# --- slow reference implementations ------------------------------------------------------------------------


def slow_logme(f, targets):
    """Fixed-point LogME per target column, in the d x d feature space: m = beta A^-1 F^T y, slogdet of A."""
    n, d = f.shape
    eigenvalues = np.clip(np.linalg.eigvalsh(f.T @ f), 0, None)  # all d of them, zeros included
    evidences = []
    for y in targets.T:
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = np.sum(eigenvalues / (eigenvalues + t))
            m = np.linalg.solve(f.T @ f + t * np.eye(d), f.T @ y)
            m2, res2 = m @ m, np.sum((y - f @ m) ** 2)
            alpha, beta = gamma / (m2 + 1e-5), (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        log_det = np.linalg.slogdet(alpha * np.eye(d) + beta * f.T @ f)[1]
        evidence = (
            d / 2 * np.log(alpha)
            + n / 2 * np.log(beta)
            - 0.5 * log_det
            - beta / 2 * res2
            - alpha / 2 * m2
            - n / 2 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return np.mean(evidences)


def one_hot(labels):
    return (labels[:, None] == np.unique(labels)[None, :]).astype(float)


def class_mean_rows(f, labels):
    g = np.zeros_like(f)
    for c in np.unique(labels):
        g[labels == c] = f[labels == c].mean(axis=0)
    return g


def slow_hscore(f, labels, rtol=1e-15):
    covf = np.cov(f, rowvar=False)
    covg = np.cov(class_mean_rows(f, labels), rowvar=False)
    return np.trace(np.linalg.pinv(covf, rtol=rtol, hermitian=True) @ covg)


def slow_hscore_shrinkage(f, labels):
    f = f - f.mean(axis=0)
    estimate = LedoitWolf(assume_centered=False).fit(f)
    covg = np.cov(class_mean_rows(f, labels), rowvar=False)
    return np.trace(np.linalg.pinv(estimate.covariance_, rtol=1e-15) @ ((1 - estimate.shrinkage_) * covg))


def slow_transrate(f, labels, eps=1e-4):
    def rate(z):
        return 0.5 * np.linalg.slogdet(np.eye(z.shape[1]) + z.T @ z / (len(z) * eps))[1]

    f = f - f.mean(axis=0)
    classes = np.unique(labels)
    return rate(f) - sum(rate(f[labels == c]) for c in classes) / len(classes)


def slow_gbc(f, labels, components=64):
    z = PCA(n_components=min(components, *f.shape), svd_solver="full").fit_transform(f)
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


def slow_lda(x, labels, shrinkage):
    classes = np.unique(labels)
    priors = np.array([np.mean(labels == c) for c in classes])
    means = np.array([x[labels == c].mean(axis=0) for c in classes])
    within = sum(p * np.cov(x[labels == c], rowvar=False, bias=True) for p, c in zip(priors, classes))
    if shrinkage is None:  # SFDA's iterative_A: three double power steps from the row sums
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


def slow_sfda(x, labels):
    x = x.copy()
    probs, shrinkage = slow_lda(x, labels, None)
    probs = np.exp(probs) / np.exp(probs).sum(axis=1, keepdims=True)
    classes = np.unique(labels)
    means = np.array([x[labels == c].mean(axis=0) for c in classes])
    for i, c in enumerate(classes):
        rows = labels == c
        others = (means.sum(axis=0) - means[i]) / (len(classes) - 1)
        x[rows] = probs[rows, i][:, None] * x[rows] + (1 - probs[rows, i])[:, None] * others
    probs, _ = slow_lda(x, labels, shrinkage)
    return np.mean([probs[k, list(classes).index(c)] for k, c in enumerate(labels)])


def slow_leep(probs, labels):
    n, sources = probs.shape
    classes = list(np.unique(labels))
    joint = np.zeros((len(classes), sources))
    for p, c in zip(probs, labels):
        joint[classes.index(c)] += p / n
    conditional = joint / joint.sum(axis=0, keepdims=True)
    return np.mean([np.log(p @ conditional[classes.index(c)]) for p, c in zip(probs, labels)])


def slow_nce(probs, labels):
    n, sources = probs.shape
    classes = list(np.unique(labels))
    joint = np.zeros((len(classes), sources))
    for z, c in zip(probs.argmax(axis=1), labels):
        joint[classes.index(c), z] += 1 / n
    marginal = joint.sum(axis=0)
    return sum(
        joint[y, z] * np.log(joint[y, z] / marginal[z])
        for y in range(len(classes))
        for z in range(sources)
        if joint[y, z] > 0
    )


# --- against the slow implementations ----------------------------------------------------------------------

SHAPES = [(200, 20, 5), (500, 64, 10), (60, 100, 4), (40, 500, 3), (90, 90, 3)]  # n > d, n < d, n = d


@pytest.mark.parametrize("n, d, classes", SHAPES)
def test_logme_matches_slow(n, d, classes):
    f, labels = make_data(n + d, n, d, classes)
    assert rankers.logme(f, labels) == pytest.approx(slow_logme(f, one_hot(labels)), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n, d", [(120, 15), (30, 80)])
def test_logme_regression_matches_slow(n, d):
    f, _ = make_data(7, n, d, 2)
    rng = np.random.default_rng(8)
    targets = np.stack([f @ rng.standard_normal(d) + rng.standard_normal(n), rng.standard_normal(n)], axis=1)
    expected = slow_logme(f, targets)
    assert rankers.logme(f, targets, regression=True) == pytest.approx(expected, rel=1e-9)
    single = rankers.logme(f, targets[:, 0], regression=True)
    assert single == pytest.approx(slow_logme(f, targets[:, :1]), rel=1e-9)


@pytest.mark.parametrize("n, d, classes", [(200, 20, 5), (500, 64, 10)])
def test_hscore_matches_tllib_formula(n, d, classes):
    f, labels = make_data(n, n, d, classes)
    assert rankers.hscore(f, labels) == pytest.approx(slow_hscore(f, labels), rel=1e-9)


@pytest.mark.parametrize("n, d, classes", [(60, 100, 4), (40, 500, 3)])
def test_hscore_below_n_equals_d_is_the_exact_pseudo_inverse(n, d, classes):
    """n <= d: covf has rank n - 1, its span holds every centred class indicator, so H = C - 1 exactly."""
    f, labels = make_data(n, n, d, classes)
    assert rankers.hscore(f, labels) == pytest.approx(slow_hscore(f, labels, rtol=1e-10), rel=1e-9)
    assert rankers.hscore(f, labels) == pytest.approx(classes - 1, rel=1e-9)


@pytest.mark.parametrize("n, d, classes", SHAPES)
def test_hscore_shrinkage_matches_sklearn_ledoit_wolf(n, d, classes):
    f, labels = make_data(n + 1, n, d, classes)
    assert rankers.hscore_shrinkage(f, labels) == pytest.approx(slow_hscore_shrinkage(f, labels), rel=1e-9)


@pytest.mark.parametrize("n, d, classes", SHAPES)
def test_transrate_matches_slow(n, d, classes):
    f, labels = make_data(n + 2, n, d, classes)
    assert rankers.transrate(f, labels) == pytest.approx(slow_transrate(f, labels), rel=1e-9)


@pytest.mark.parametrize("n, d, classes", [*SHAPES, (300, 30, 6)])
def test_gbc_matches_slow(n, d, classes):
    f, labels = make_data(n + 3, n, d, classes, separation=0.4)
    assert rankers.gbc(f, labels) == pytest.approx(slow_gbc(f, labels), rel=1e-8)


@pytest.mark.parametrize("n, d, classes", [(200, 20, 5), (500, 64, 10), (90, 90, 3), (300, 12, 30)])
def test_sfda_matches_slow(n, d, classes):
    f, labels = make_data(n + 4, n, d, classes, separation=0.3)
    assert rankers.sfda(f, labels) == pytest.approx(slow_sfda(f, labels), rel=1e-8)


def test_sfda_below_n_equals_d_matches_slow():
    f, labels = make_data(5, 40, 60, 3, separation=0.05)
    f[:, 30:] = f[:, :30] @ np.random.default_rng(6).standard_normal((30, 30)) * 1e-3  # weak extra directions
    assert rankers.sfda(f, labels) == pytest.approx(slow_sfda(f, labels), rel=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_leep_and_nce_match_slow(seed):
    _, labels = make_data(seed, 150, 2, 6)
    probs = make_probs(seed, labels)
    assert rankers.leep(probs, labels) == pytest.approx(slow_leep(probs, labels), rel=1e-12)
    assert rankers.nce(probs, labels) == pytest.approx(slow_nce(probs, labels), rel=1e-12)


# --- properties --------------------------------------------------------------------------------------------


def test_leep_of_a_perfect_source_head_is_zero():
    labels = np.arange(60) % 4
    assert rankers.leep(np.eye(4)[labels], labels) == pytest.approx(0.0, abs=1e-12)
    nearly = 0.999 * np.eye(4)[labels] + 0.001 / 4
    assert -0.002 < rankers.leep(nearly, labels) < 0
    assert rankers.nce(nearly, labels) == pytest.approx(0.0, abs=1e-12)


def test_hscore_of_random_labels_is_about_zero():
    f, labels = make_data(11, 5000, 10, 3, separation=2.0)
    shuffled = np.random.default_rng(12).permutation(labels)
    assert abs(rankers.hscore(f, shuffled)) < 0.02
    assert rankers.hscore(f, labels) > 1.0


def test_gbc_of_well_separated_classes_is_about_zero():
    f, labels = make_data(13, 200, 8, 4, separation=100.0)
    assert -1e-12 < rankers.gbc(f, labels) <= 0
    overlapping, _ = make_data(13, 200, 8, 4, separation=0.0)
    assert rankers.gbc(overlapping, labels) < -1.0


def test_logme_is_invariant_to_permuting_items():
    f, labels = make_data(14, 150, 30, 5)
    order = np.random.default_rng(15).permutation(150)
    assert rankers.logme(f[order], labels[order]) == pytest.approx(rankers.logme(f, labels), rel=1e-10)


@pytest.mark.parametrize("name", ["hscore", "hscore-shrinkage", "transrate", "gbc", "sfda"])
def test_rankers_are_invariant_to_permuting_items(name):
    f, labels = make_data(14, 150, 30, 5)
    order = np.random.default_rng(15).permutation(150)
    ranker = rankers.RANKERS[name]
    assert ranker(f[order], labels[order]) == pytest.approx(ranker(f, labels), rel=1e-9)


def test_hscore_is_invariant_to_an_invertible_linear_map():
    f, labels = make_data(16, 300, 12, 4)
    mixing = np.random.default_rng(17).standard_normal((12, 12)) + 3 * np.eye(12)
    assert rankers.hscore(f @ mixing, labels) == pytest.approx(rankers.hscore(f, labels), rel=1e-9)


def test_sfda_is_invariant_to_translation():
    f, labels = make_data(18, 200, 10, 4, separation=0.4)
    assert rankers.sfda(f + 50.0, labels) == pytest.approx(rankers.sfda(f, labels), rel=1e-9)


def test_labels_are_classes_whatever_their_values():
    f, labels = make_data(19, 120, 10, 3)
    renamed = np.array([7, -2, 40])[labels]
    probs = make_probs(19, labels)
    for name in rankers.FEATURE_RANKERS:
        assert rankers.RANKERS[name](f, renamed) == pytest.approx(rankers.RANKERS[name](f, labels), rel=1e-12)
    assert rankers.leep(probs, renamed) == pytest.approx(rankers.leep(probs, labels), rel=1e-12)


def test_float32_features_give_the_float64_scores_of_the_same_values():
    f, labels = make_data(20, 100, 16, 4)
    f32 = f.astype(np.float32)
    for name in rankers.FEATURE_RANKERS:
        expected = rankers.RANKERS[name](f32.astype(np.float64), labels)
        assert rankers.RANKERS[name](f32, labels) == pytest.approx(expected, rel=1e-12)


def test_rank_deficient_features_with_more_items_than_dimensions():
    """Dead units (constant columns) and a duplicated column: scores are those of the independent columns."""
    f, labels = make_data(21, 200, 10, 4)
    padded = np.concatenate([f, f[:, :1], np.zeros((200, 3))], axis=1)
    assert rankers.hscore(padded, labels) == pytest.approx(rankers.hscore(f, labels), rel=1e-9)
    assert rankers.logme(padded, labels) == pytest.approx(slow_logme(padded, one_hot(labels)), rel=1e-8)
    slow = {"hscore-shrinkage": slow_hscore_shrinkage, "transrate": slow_transrate, "gbc": slow_gbc, "sfda": slow_sfda}
    for name, reference in slow.items():
        assert rankers.RANKERS[name](padded, labels) == pytest.approx(reference(padded, labels), rel=1e-9)


# --- score_all ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, d", [(200, 20), (40, 120)])
def test_score_all_equals_the_single_rankers(n, d):
    f, labels = make_data(22, n, d, 4)
    probs = make_probs(22, labels)
    seconds = {}
    scores = rankers.score_all(f, labels, source_probs=probs, seconds=seconds)
    assert list(scores) == [*rankers.FEATURE_RANKERS, "nce", "leep"] == list(seconds)
    assert set(scores) == set(rankers.RANKERS)
    for name, value in scores.items():
        data = probs if name in rankers.SOURCE_HEAD else f
        assert value == pytest.approx(rankers.RANKERS[name](data, labels), rel=1e-12)
    assert all(s >= 0 for s in seconds.values())


def test_score_all_subsets_and_regression():
    f, labels = make_data(23, 80, 6, 3)
    assert list(rankers.score_all(f, labels, rankers=["gbc", "logme"])) == ["gbc", "logme"]
    assert list(rankers.score_all(f, labels)) == list(rankers.FEATURE_RANKERS)
    probs = make_probs(23, labels)
    assert rankers.score_all(None, labels, rankers=["leep"], source_probs=probs) == {
        "leep": rankers.leep(probs, labels)
    }
    target = f @ np.arange(6.0)
    assert rankers.score_all(f, target, regression=True) == {"logme": rankers.logme(f, target, regression=True)}


# --- errors ------------------------------------------------------------------------------------------------


def one_line_error(function, *args, **kwargs):
    with pytest.raises(TaskspaceError) as error:
        function(*args, **kwargs)
    assert "\n" not in str(error.value)
    return str(error.value)


@pytest.mark.parametrize("name", list(rankers.FEATURE_RANKERS))
def test_feature_ranker_errors(name):
    f, labels = make_data(24, 50, 5, 3)
    ranker = rankers.RANKERS[name]
    assert "expected shape (50,)" in one_line_error(ranker, f, labels[:-1])
    assert "only one class" in one_line_error(ranker, f, np.zeros(50, dtype=int))
    bad = f.copy()
    bad[3, 1], bad[7, 2] = np.nan, np.inf
    assert "2 values are NaN or infinite (first at row 3, column 1)" in one_line_error(ranker, bad, labels)
    assert "2-D" in one_line_error(ranker, f[:, 0], labels)
    assert "constant" in one_line_error(ranker, np.ones((50, 5)), labels)
    if name in rankers.NEEDS_CLASSES:
        assert "integer class labels" in one_line_error(ranker, f, labels + 0.5)


def test_unknown_ranker_lists_the_known_ones():
    f, labels = make_data(25, 30, 4, 2)
    message = one_line_error(rankers.score_all, f, labels, rankers=["logme", "knn"])
    assert message == (
        "unknown ranker 'knn'; known rankers: gbc, hscore, hscore-shrinkage, leep, logme, nce, sfda, transrate"
    )


def test_regression_targets_only_for_logme():
    f, _ = make_data(26, 30, 4, 2)
    target = np.linspace(0, 1, 30)
    message = one_line_error(rankers.score_all, f, target, rankers=["hscore"], regression=True)
    assert message == "ranker 'hscore' needs class labels; only logme has a regression form"
    assert "NaN" in one_line_error(rankers.logme, f, np.full(30, np.nan), regression=True)


def test_source_probability_errors():
    f, labels = make_data(27, 40, 4, 2)
    probs = make_probs(27, labels)
    assert "needs the member's source-head probabilities" in one_line_error(
        rankers.score_all, f, labels, rankers=["leep"]
    )
    assert "not 1 (logits instead of probabilities?)" in one_line_error(rankers.leep, probs * 5, labels)
    assert "40 items" in one_line_error(rankers.nce, probs, labels[:-2])


def test_seconds_count_shared_work_for_every_ranker_that_uses_it():
    """Each ranker's seconds are as if it ran alone: a shared piece built once is charged to all its users."""
    import time

    shared = rankers._Shared()

    def piece():
        time.sleep(0.05)
        return 1

    def composite():
        time.sleep(0.02)
        return shared.get("piece", piece) + 1

    _, first = shared.timed(lambda: shared.get("composite", composite))
    _, second = shared.timed(lambda: shared.get("composite", composite))
    _, third = shared.timed(lambda: shared.get("piece", piece))
    assert first >= 0.07 and second >= 0.07 and 0.05 <= third < 0.07
    assert second - first < 0.01  # nothing is counted twice


# --- magnitude: scale-invariant rankers rescale, scale-dependent ones refuse where float64 loses the result ---


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-50, 1e50, 1e200, 1e300])
@pytest.mark.parametrize("name", ["hscore", "hscore-shrinkage"])
def test_scale_invariant_rankers_give_the_same_score_at_any_magnitude(name, scale):
    f, labels = make_data(40, 60, 8, 3)
    for data in (f, make_data(41, 20, 50, 2)[0]):  # n > d and n < d
        labels = np.arange(len(data)) % 3
        assert rankers.RANKERS[name](data * scale, labels) == pytest.approx(
            rankers.RANKERS[name](data, labels), rel=1e-9
        )


@pytest.mark.parametrize("scale", [1e-300, 1e-50, 1e50, 1e300])
def test_sfda_puts_the_scale_back_into_its_shrinkage(scale):
    """SFDA is invariant except its shrinkage exp(-5 lambda_max(S_w)), which is 1 (tiny) or its floor 1e-10 (huge)
    at these magnitudes: the score is the reference's at a magnitude where it still computes the same shrinkage."""
    f, labels = make_data(42, 80, 6, 3)
    moderate = 1e-9 if scale < 1 else 1e9
    assert rankers.sfda(f * scale, labels) == pytest.approx(slow_sfda(f * moderate, labels), rel=1e-8)


@pytest.mark.parametrize("scale", [1e-50, 1e100])
def test_logme_is_the_reference_at_magnitudes_float64_holds(scale):
    f, labels = make_data(43, 80, 6, 3)
    assert rankers.logme(f * scale, labels) == pytest.approx(slow_logme(f * scale, one_hot(labels)), rel=1e-8)


def test_transrate_and_gbc_are_the_reference_at_large_magnitudes():
    f, labels = make_data(44, 80, 6, 3)
    assert rankers.transrate(f * 1e100, labels) == pytest.approx(slow_transrate(f * 1e100, labels), rel=1e-9)
    assert rankers.gbc(f * 1e200, labels) == pytest.approx(slow_gbc(f, labels), rel=1e-8)  # the floor never binds


@pytest.mark.parametrize(
    "name, scale, message",
    [
        ("transrate", 1e-10, "transrate: the features (up to "),
        ("transrate", 1e-50, "transrate: the features (up to "),
        ("transrate", 1e-200, "transrate: the features (up to "),
        ("transrate", 1e200, "transrate: the features (up to "),
        ("gbc", 1e-50, "gbc: the features (up to "),
        ("gbc", 1e-300, "gbc: the features (up to "),
        ("logme", 1e-200, "logme: the features (up to "),
        ("logme", 1e200, "logme: the features (up to "),
    ],
)
def test_scale_dependent_rankers_refuse_a_magnitude_where_float64_loses_the_score(name, scale, message):
    f, labels = make_data(45, 60, 8, 3)
    for run in (lambda: rankers.RANKERS[name](f * scale, labels), lambda: rankers.score_all(f * scale, labels, [name])):
        text = one_line_error(run)
        assert text.startswith(message) and "rescale" in text


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(rankers.FEATURE_RANKERS))
def test_features_constant_up_to_rounding_are_refused_by_every_ranker(name, dtype):
    """A dead member (every output the same value, plus the rounding of its batches) must not get a score."""
    f, labels = make_data(46, 60, 8, 3)
    ulp = np.finfo(dtype).eps
    noisy = (np.full(f.shape, 3.0) * (1 + 2 * ulp * np.sign(f - f.mean(axis=0)))).astype(dtype)
    assert np.ptp(noisy, axis=0).all()
    assert "constant up to rounding" in one_line_error(rankers.RANKERS[name], noisy, labels)
    assert "constant up to rounding" in one_line_error(rankers.score_all, noisy, labels)
    small = f * 1e-30  # small but not constant: the invariant rankers score it
    if name in ("hscore", "hscore-shrinkage", "sfda"):
        assert np.isfinite(rankers.RANKERS[name](small, labels))

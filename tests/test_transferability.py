"""Judging rankings: the field's weighted tau, Pearson and top-1 relative accuracy, and the tidy table."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from taskspace.errors import TaskspaceError
from taskspace.transferability import (
    TABLE_COLUMNS,
    pearson,
    pick_order_scores,
    top1_relative,
    transferability_table,
    weighted_tau,
)

# thuml/Transfer-Learning-Library examples/model_selection/README.md, "Model Ranking Benchmark on CIFAR10":
# fine-tuned accuracy and each ranker's printed score for the 10 models, and the printed correlations.
CIFAR10_MODELS = [
    "GoogleNet",
    "Inception V3",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "DenseNet121",
    "DenseNet169",
    "Densenet201",
    "MobileNet V2",
    "MNasNet",
]
CIFAR10_ACCURACY = [96.2, 97.5, 96.8, 97.7, 97.9, 97.2, 97.4, 97.4, 95.7, 96.8]
CIFAR10_SCORES = {
    "HScore": [5.911, 6.363, 6.567, 6.901, 6.945, 6.210, 6.547, 6.706, 5.928, 6.018],
    "LEEP": [-1.385, -1.259, -1.010, -0.829, -0.838, -1.035, -0.934, -0.888, -1.100, -1.066],
    "LogME": [0.293, 0.349, 0.388, 0.463, 0.469, 0.302, 0.343, 0.369, 0.291, 0.304],
    "NCE": [-1.139, -1.060, -1.007, -0.838, -0.851, -1.006, -0.946, -0.866, -1.089, -1.086],
}
CIFAR10_WEIGHTED_TAU = {"HScore": 0.800, "LEEP": 0.638, "LogME": 0.785, "NCE": 0.714}
CIFAR10_PEARSON = {"HScore": 0.839, "LEEP": 0.604, "LogME": 0.733, "NCE": 0.786}


@pytest.mark.parametrize("ranker", list(CIFAR10_SCORES))
def test_reproduces_tllib_cifar10_weighted_tau(ranker):
    tau = weighted_tau(CIFAR10_SCORES[ranker], CIFAR10_ACCURACY)
    assert round(tau, 3) == CIFAR10_WEIGHTED_TAU[ranker]


@pytest.mark.parametrize("ranker", list(CIFAR10_SCORES))
def test_tllib_cifar10_pearson_within_the_rounding_of_the_printed_scores(ranker):
    """The printed Pearson values came from unrounded scores; from the 3-4 digit scores they agree to 3e-3."""
    assert pearson(CIFAR10_SCORES[ranker], CIFAR10_ACCURACY) == pytest.approx(CIFAR10_PEARSON[ranker], abs=3e-3)


def test_weighted_tau_is_scipy_with_default_weights():
    rng = np.random.default_rng(0)
    scores, truth = rng.standard_normal(12), rng.standard_normal(12)
    assert weighted_tau(scores, truth) == scipy.stats.weightedtau(scores, truth).statistic
    assert weighted_tau(truth, truth) == pytest.approx(1.0)
    assert weighted_tau(-truth, truth) == pytest.approx(-1.0)
    assert np.isnan(weighted_tau(np.ones(5), truth[:5])) and np.isnan(pearson(np.ones(5), truth[:5]))


def test_weighted_tau_counts_near_ties_as_ties_whatever_their_rounding():
    """Scores within taskspace.ties.TIE_RTOL are one score: two members 1e-12 apart (relative) in either order,
    as two machines' kernels may round them, give the weighted tau of the exact tie, at the top and below it."""
    truth = np.array([0.9, 0.7, 0.8, 0.6, 0.5])
    for a, b in ((0, 1), (1, 2), (3, 4)):
        scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
        scores[b] = scores[a]
        tied = weighted_tau(scores, truth)
        for sign in (1, -1):
            near = scores.copy()
            near[b] = scores[a] * (1 + sign * 1e-12)
            assert weighted_tau(near, truth) == tied
        assert tied == scipy.stats.weightedtau(scores, truth).statistic
    apart = np.array([5.0, 5.0 * (1 - 1e-6), 3.0, 2.0, 1.0])  # a real difference stays one
    assert weighted_tau(apart, truth) == scipy.stats.weightedtau(apart, truth).statistic
    assert np.isnan(weighted_tau(np.array([1.0, 1.0 + 1e-12, 1.0 - 1e-12]), truth[:3]))  # all tied: constant


def test_top1_relative():
    truth = [80.0, 90.0, 60.0]
    assert top1_relative([0.1, 0.9, 0.5], truth) == 1.0
    assert top1_relative([0.1, 0.2, 0.5], truth) == pytest.approx(60 / 90)
    assert top1_relative([0.9, 0.2, 0.9], truth) == pytest.approx(70 / 90)  # a tie at the top: mean truth
    near = np.nextafter(0.9, 0.0)  # the same score rounded differently by another machine's kernel
    assert top1_relative([near, 0.2, 0.9], truth) == top1_relative([0.9, 0.2, near], truth) == pytest.approx(70 / 90)
    assert top1_relative([0.9 * (1 - 1e-6), 0.2, 0.9], truth) == pytest.approx(60 / 90)  # a real difference
    assert np.isnan(top1_relative([1.0, 2.0], [-1.0, 0.0]))  # no ratio to a non-positive best


def test_pick_order_scores():
    np.testing.assert_array_equal(pick_order_scores([2, 0, 3, 1], 4), [-2.0, -4.0, -1.0, -3.0])
    for order in ([2, 0, 1], [0, 0, 1, 2], [0, 1, 2, 4]):
        with pytest.raises(TaskspaceError, match="every member index 0..3 once"):
            pick_order_scores(order, 4)


def test_metric_input_errors():
    with pytest.raises(TaskspaceError, match="same length"):
        weighted_tau([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(TaskspaceError, match="scores: 1 values are NaN"):
        pearson([1.0, np.nan], [1.0, 2.0])


def cifar10_tables():
    rankings = pd.DataFrame(
        [
            dict(task="cifar10", ranker=ranker, member=model, score=score, seconds=0.1)
            for ranker, scores in CIFAR10_SCORES.items()
            for model, score in zip(CIFAR10_MODELS, scores)
        ]
    )
    truth = pd.DataFrame(
        [
            dict(task="cifar10", protocol=protocol, member=model, test=accuracy + shift)
            for protocol, shift in [("paper", 0.0), ("validated", -1.0)]
            for model, accuracy in zip(CIFAR10_MODELS, CIFAR10_ACCURACY)
        ]
    )
    return rankings, truth


def test_table_from_long_ranking_and_truth_tables():
    rankings, truth = cifar10_tables()
    mmi = pick_order_scores([4, 3, 1, 7, 6, 2, 5, 9, 0, 8], 10)
    rankings = pd.concat(
        [rankings, pd.DataFrame(dict(task="cifar10", ranker="mmi", member=CIFAR10_MODELS, score=mmi, seconds=0.0))]
    )
    rankings = pd.concat(
        [
            rankings,
            pd.DataFrame(
                dict(task="other", ranker="LogME", member=CIFAR10_MODELS[:3], score=[3.0, 2.0, 1.0], seconds=0.0)
            ),
        ]
    )
    truth = pd.concat(
        [truth, pd.DataFrame(dict(task="other", protocol="paper", member=CIFAR10_MODELS, test=np.arange(10.0) + 1))]
    )
    table = transferability_table(rankings.sample(frac=1.0, random_state=0), truth)
    assert list(table.columns) == TABLE_COLUMNS
    assert len(table) == 2 * 5 + 1
    paper = table[(table["task"] == "cifar10") & (table["protocol"] == "paper")].set_index("ranker")
    for ranker, tau in CIFAR10_WEIGHTED_TAU.items():
        assert round(paper.loc[ranker, "weighted_tau"], 3) == tau
    assert paper.loc["mmi", "top1_relative"] == 1.0 and (paper["n_members"] == 10).all()
    validated = table[table["protocol"] == "validated"].set_index("ranker")
    # a constant shift of the truth changes top-1 relative accuracy but no correlation
    np.testing.assert_allclose(validated["weighted_tau"], paper["weighted_tau"].loc[validated.index])
    assert paper.loc["LEEP", "top1_relative"] == pytest.approx(97.7 / 97.9)  # LEEP's top: ResNet101
    assert validated.loc["LEEP", "top1_relative"] == pytest.approx(96.7 / 96.9)
    other = table[table["task"] == "other"].iloc[0]
    # judged on the members it scored: the best of those has truth 3, its top pick truth 1
    assert other["n_members"] == 3 and other["weighted_tau"] == pytest.approx(-1.0)
    assert other["top1_relative"] == pytest.approx(1 / 3)


def test_table_errors():
    rankings, truth = cifar10_tables()
    with pytest.raises(TaskspaceError, match="no ground truth for member 'ResNet50' \\(ranked by 'HScore'\\)"):
        transferability_table(rankings, truth[truth["member"] != "ResNet50"])
    with pytest.raises(TaskspaceError, match="appears 2 times"):
        transferability_table(pd.concat([rankings, rankings.iloc[:1]]), truth)
    with pytest.raises(TaskspaceError, match="missing columns \\['seconds'\\]"):
        transferability_table(rankings.drop(columns="seconds"), truth)
    with pytest.raises(TaskspaceError, match="task 'cifar10': rankings but no ground truth"):
        transferability_table(rankings, truth.assign(task="other"))
    broken = rankings.copy()
    broken.loc[0, "score"] = np.nan
    with pytest.raises(TaskspaceError, match="ranker 'HScore': scores: 1 values are NaN"):
        transferability_table(broken, truth)

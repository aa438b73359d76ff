"""The ranking job (taskspace.ranking) and the heads it adds to a task (taskspace.selection.head_subsets)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from taskspace.errors import TaskspaceError
from taskspace.mmi import GaussianZoo, task_aware_kappa, task_aware_picks
from taskspace.rankers import score_all
from taskspace.ranking import rank_task
from taskspace.selection import head_subsets, ranked_subsets, selection_table
from taskspace.transferability import ground_truth, transferability_table

MEMBERS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def task():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 80)
    features = [rng.normal(size=(80, 6)) + labels[:, None] * (i / 2) for i in range(4)]
    probs = [rng.dirichlet(np.ones(5), size=80) for _ in range(4)]
    kappa = task_aware_kappa(features, labels)[:4, :4]
    return labels, features, probs, kappa


def test_every_ranker_scores_every_member_from_one_read(task):
    labels, features, probs, kappa = task
    reads = []
    table = rank_task(
        "t",
        MEMBERS,
        lambda i: (reads.append(i), (features[i], probs[i]))[1],
        labels,
        ["logme", "gbc", "nce", "leep"],
        kappa=kappa,
    )
    assert reads == [0, 1, 2, 3]
    assert list(table.columns) == ["task", "ranker", "member", "score", "seconds"]
    assert table.groupby("ranker").size().to_dict() == {
        r: 4 for r in ("gbc", "leep", "logme", "mmi", "mmi-task", "nce")
    }
    for i, member in enumerate(MEMBERS):
        expected = score_all(features[i], labels, ["logme", "gbc", "nce", "leep"], source_probs=probs[i])
        got = table[table.member == member].set_index("ranker").score
        assert {r: got[r] for r in expected} == pytest.approx(expected)
    task_order, _ = task_aware_picks(task_aware_kappa(features, labels), 4)
    mmi_order = GaussianZoo(kappa).greedy(4).order
    for ranker, order in (("mmi-task", task_order), ("mmi", mmi_order)):
        scores = table[table.ranker == ranker].set_index("member").score
        assert list(scores.sort_values(ascending=False).index) == [MEMBERS[i] for i in order]


def test_rankers_that_cannot_score_a_task_are_skipped_with_the_reason(task, caplog):
    labels, features, _, kappa = task
    with caplog.at_level(logging.INFO, logger="taskspace.ranking"):
        regression = rank_task(
            "ef",
            MEMBERS,
            lambda i: (features[i], None),
            labels.astype(float) + 0.5,
            ["logme", "hscore", "leep"],
            regression=True,
            kappa=kappa,
        )
    assert set(regression.ranker) == {"logme", "mmi", "mmi-task"}
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "hscore skipped: it needs classes" in messages and "leep skipped: it needs classes" in messages
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="taskspace.ranking"):
        no_heads = rank_task("pos", MEMBERS, lambda i: (features[i], None), labels, ["hscore", "nce"])
    assert set(no_heads.ranker) == {"hscore", "mmi-task"}
    assert "nce skipped: the members have no source head" in " ".join(r.getMessage() for r in caplog.records)


def test_head_subsets_add_every_member_alone_and_each_rankers_top_k():
    kappa = np.eye(4) * 0.6 + 0.4
    selection = selection_table(kappa, MEMBERS, k_max=2, random_rounds=1)
    ranking = pd.DataFrame(
        {
            "task": "t",
            "ranker": ["gbc"] * 4 + ["mmi"] * 4,
            "member": MEMBERS * 2,
            "score": [0.1, 0.9, 0.5, 0.9, -1, -2, -3, -4],
            "seconds": 0.0,
        }
    )
    heads = head_subsets(selection, MEMBERS, ranking)
    assert [heads[("single", i, 1)] for i in range(4)] == [[m] for m in MEMBERS]
    assert heads[("gbc", 0, 1)] == ["b"] and heads[("gbc", 0, 2)] == ["b", "d"]  # ties keep the zoo's order
    assert not any(key[0] == "mmi" and key[1:] != (0, key[2]) for key in heads)  # mmi comes from the selection
    assert ranked_subsets(ranking, MEMBERS, 3, skip=())[("mmi", 0, 3)] == ["a", "b", "c"]


def test_ground_truth_is_every_members_own_head():
    metrics = pd.DataFrame(
        [
            dict(
                task="t",
                protocol=p,
                method=m,
                round=r,
                k=1,
                members=x,
                metric="accuracy",
                dev=0.0,
                test=v,
                best_epoch=1,
                epochs=1,
                steps=1,
            )
            for p in ("validated", "paper")
            for m, r, x, v in (("single", 0, "a", 0.5), ("single", 1, "b", 0.7), ("mmi", 0, "b", 0.7))
        ]
    )
    truth = ground_truth(metrics)
    assert truth.to_dict("records")[:2] == [
        dict(task="t", protocol="validated", member="a", test=0.5),
        dict(task="t", protocol="validated", member="b", test=0.7),
    ]
    ranking = pd.DataFrame({"task": "t", "ranker": "x", "member": ["a", "b"], "score": [1.0, 2.0], "seconds": 0.0})
    table = transferability_table(ranking, truth)
    assert list(table.protocol) == ["validated", "paper"] and (table.top1_relative == 1.0).all()


def test_a_member_that_cannot_be_scored_is_one_error_line_naming_it(task):
    """A dead member (constant features up to rounding) or a magnitude where a ranker's score is lost ends the
    ranking job with the task, the member and the ranker named, never with a score that ranks it."""
    labels, features, probs, _ = task
    dead = [f.copy() for f in features]
    dead[2] = np.full_like(features[2], 3.0) * (1 + 2e-16 * np.sign(features[2] - features[2].mean(axis=0)))
    with pytest.raises(TaskspaceError) as error:
        rank_task("t", MEMBERS, lambda i: (dead[i], None), labels, ["hscore", "gbc"])
    assert str(error.value).startswith("ranking t: member 'c': features: every dimension is constant up to rounding")
    tiny = [f * (1e-60 if i == 1 else 1.0) for i, f in enumerate(features)]
    with pytest.raises(TaskspaceError) as error:
        rank_task("t", MEMBERS, lambda i: (tiny[i], None), labels, ["hscore", "transrate"])
    assert str(error.value).startswith("ranking t: member 'b': transrate: the features (up to ")
    assert "\n" not in str(error.value)

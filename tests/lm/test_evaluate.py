"""probe_task on real feature files of tiny members: a feature budget changes how many members are loaded at a
time, never the metrics."""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pytest

from taskspace.features import FeatureFile
from taskspace.heads import HeadConfig, Protocol
from taskspace.lm.demo_tasks import make_demo_task
from taskspace.lm.evaluate import SPLITS, probe_task
from taskspace.lm.extract import extract_features
from taskspace.lm.tasks import TokenSplit, task_spec

PROTOCOLS = [
    Protocol("validated", HeadConfig(epochs=3, batch_unit="groups", batch_size=16, lr=1e-2, device="cpu", seed=0)),
    Protocol(
        "paper",
        HeadConfig(
            epochs=2, batch_unit="groups", batch_size=16, init="default", standardize="none", device="cpu", seed=0
        ),
        {"mmi": 3},
    ),
]


def _selection(members: list[str]) -> pd.DataFrame:
    """A selection table as select_members writes it: nested MMI picks and random subsets."""
    rng = np.random.default_rng(0)
    picks = {("mmi", 0): list(rng.permutation(members)[:4])}
    for round_ in range(4):
        picks[("random", round_)] = list(rng.permutation(members)[:3])
    rows = []
    for (method, round_), order in picks.items():
        for k in range(1, len(order) + 1):
            rows += [dict(method=method, round=round_, k=k, rank=r + 1, member=m) for r, m in enumerate(order[:k])]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def probe_files(zoo, tiny_train_text, tmp_path_factory):
    """A word-replacement task with some unannotated words, and every zoo member's features of its splits."""
    words = [word for line in tiny_train_text for word in line.split()]
    sentences = [words[i : i + 12] for i in range(0, 12 * 150, 12)]
    sentences.append(words[:300])  # longer than the tiny members' 128 tokens: they lose its tail, MiniLM does not
    splits = make_demo_task(sentences, "word_replacement", seed=0)
    splits = {
        name: TokenSplit(
            split.sentences,
            [
                [None if (i + j) % 9 == 0 else label for j, label in enumerate(labels)]
                for i, labels in enumerate(split.labels)
            ],
            split.kind,
            split.source,
        )
        for name, split in splits.items()
    }
    folder = tmp_path_factory.mktemp("probe-features")
    members = sorted(zoo)
    paths = []
    for name in members:
        paths.append(folder / f"{name}.h5")
        extract_features(zoo[name], {part: splits[part].sentences for part in SPLITS}, paths[-1])
    return members, paths, splits


def _probe(probe_files, budget_mb):
    members, paths, splits = probe_files
    return probe_task(
        paths,
        members,
        "replace",
        task_spec("word_replacement"),
        splits,
        _selection(members),
        PROTOCOLS,
        feature_budget_mb=budget_mb,
    )


def test_feature_budget_changes_groups_not_metrics(probe_files, caplog):
    members, paths, splits = probe_files
    kept = []
    for path in paths:
        with FeatureFile(path) as f:
            kept.append(tuple(len(f.items(part)) for part in SPLITS))
    assert len(set(kept)) > 1  # the members lost different words: only the words all kept are probed

    whole = _probe(probe_files, None)
    # per protocol: 4 MMI, 4 x 3 random, every member alone
    assert len(whole) == 2 * (4 + 4 * 3 + len(members)) and whole["dev"].notna().all()
    validated, paper = (whole[whole.protocol == name] for name in ("validated", "paper"))
    assert validated.steps.nunique() == 1 and set(paper[paper.method == "mmi"].epochs) == {3}
    assert set(paper[paper.method != "mmi"].epochs) == {2}

    def grouped(budget_mb):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="taskspace.heads"):
            table = _probe(probe_files, budget_mb)
        pd.testing.assert_frame_equal(table, whole, check_exact=True)
        sizes = [
            float(re.search(r"\(([\d.]+) MB\)", r.getMessage()).group(1))
            for r in caplog.records
            if "feature group" in r.getMessage()
        ]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert all("task replace" in w and "over the feature budget" in w for w in warnings)
        return sizes, warnings

    # A budget no head fits: every group is one head with the heads on its members, each after a warning.
    alone, warnings = grouped(1e-6)
    assert 1 < len(alone) == len(warnings) < len(whole)
    # The widest head's features: groups of a few members, none over the budget.
    sizes, warnings = grouped(max(alone) + 0.05)
    assert 1 < len(sizes) < len(alone) and max(sizes) <= max(alone) + 0.05 and not warnings

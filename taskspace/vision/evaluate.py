"""Vision evaluation: linear heads on the picked agents' features for each admin task, and the peek ranking.

The admin has only S training images per class. A validation split of ``val_per_class`` images per class is
carved from them (seeded); the epoch is chosen on it, and test accuracy at that epoch is the result. The
paper's protocol (best test accuracy over epochs) is kept in its own column, ``test_acc_paper_protocol``.
With a feature budget, heads train in groups whose agents' features fit it, and only a group's agents are
read (taskspace.head.train_heads_in_feature_groups).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import TaskspaceError
from ..features import FeatureFile
from ..head import HeadConfig, Split as HeadSplit, accuracy, stratified_holdout, train_heads_in_feature_groups
from ..selection import subsets
from .split import Split

METRIC_COLUMNS = ["task", "method", "seed", "k", "members", "val_acc", "test_acc", "test_acc_paper_protocol",
                  "best_epoch", "epochs", "steps"]
# Head split -> the feature set its images come from (validation images are carved from the admin's train).
FEATURE_SET = {"train": "train", "dev": "train", "test": "test"}


@dataclass
class _TaskImages:
    """One task's images per head split: each agent file's rows of them, their labels, and the agents' widths."""

    rows: dict[str, list[np.ndarray]]  # head split -> one array per feature file
    labels: dict[str, np.ndarray]
    widths: list[int]

    @property
    def n_images(self) -> int:
        return sum(len(labels) for labels in self.labels.values())

    def load(self, feature_paths, agents: list[int]) -> tuple[HeadSplit, HeadSplit, HeadSplit]:
        """(train, validation, test) head splits with the features of ``agents`` side by side."""
        features = {name: np.empty((len(labels), sum(self.widths[a] for a in agents)), dtype=np.float32)
                    for name, labels in self.labels.items()}
        offset = 0
        for a in agents:
            with FeatureFile(feature_paths[a]) as f:
                for name, rows in self.rows.items():
                    order = np.argsort(rows[a])  # h5py reads increasing rows; undo afterwards
                    block = features[name][:, offset:offset + self.widths[a]]
                    block[order] = f.vectors(FEATURE_SET[name])[np.sort(rows[a])]
            offset += self.widths[a]
        return tuple(HeadSplit(features[name], self.labels[name]) for name in ("train", "dev", "test"))


def _rows_of(items: np.ndarray, ids: np.ndarray, path) -> np.ndarray:
    """Row of each image id in a feature set's item keys."""
    keys = items[:, 0]
    order = np.argsort(keys, kind="stable")
    position = np.searchsorted(keys, ids, sorter=order)
    rows = order[np.clip(position, 0, len(keys) - 1)]
    if len(ids) and not np.array_equal(keys[rows], ids):
        raise TaskspaceError(f"{path}: lacks {int((keys[rows] != ids).sum())} of the task's images")
    return rows


def _task_images(feature_paths, split: Split, task, val_per_class: int, seed: int) -> _TaskImages:
    """Where one task's train, validation and test images are in every agent's feature file."""
    train_ids, train_labels = split.task_data(task, "train")
    test_ids, test_labels = split.task_data(task, "test")
    fit, val = stratified_holdout(train_labels, per_class=val_per_class, seed=seed)
    rows = {"train": [], "dev": [], "test": []}
    widths = []
    for path in feature_paths:
        with FeatureFile(path) as f:
            train_rows = _rows_of(f.items("train"), train_ids, path)
            rows["train"].append(train_rows[fit])
            rows["dev"].append(train_rows[val])
            rows["test"].append(_rows_of(f.items("test"), test_ids, path))
            widths.append(f.width("train"))
    labels = {"train": train_labels[fit], "dev": train_labels[val], "test": test_labels}
    return _TaskImages(rows, labels, widths)


def _train(feature_paths, agents: list[str], split: Split, task, heads, config: HeadConfig, val_per_class: int,
           seed: int, feature_budget_mb: float | None):
    images = _task_images(feature_paths, split, task, val_per_class, seed)
    return train_heads_in_feature_groups(
        lambda chosen: images.load(feature_paths, chosen), images.widths, images.n_images, heads,
        feature_budget_mb, f"task {task}", metric=accuracy, config=config,
        n_classes=len(split.task_classes(task)), member_names=agents,
    )


def evaluate_task(feature_paths, agents: list[str], split: Split, task, selection: pd.DataFrame,
                  heads: HeadConfig, val_per_class: int, seed: int,
                  feature_budget_mb: float | None = None) -> pd.DataFrame:
    """Train one head per (method, seed, k) of the selection table on ``task``; one metrics row per head.

    At most ``feature_budget_mb`` of features are loaded at a time (None: the agents of every head at once).
    """
    index = {name: i for i, name in enumerate(agents)}
    keys, member_lists = zip(*subsets(selection).items())
    results = _train(feature_paths, agents, split, task, [[index[m] for m in ms] for ms in member_lists], heads,
                     val_per_class, seed, feature_budget_mb)
    rows = []
    for (method, round_, k), members, result in zip(keys, member_lists, results):
        rows.append(dict(task=task, method=method, seed=round_, k=k, members="+".join(members),
                         val_acc=result.dev, test_acc=result.test, test_acc_paper_protocol=result.test_paper_protocol,
                         best_epoch=result.best_epoch, epochs=result.epochs, steps=result.steps))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def peek_ranking(feature_paths, agents: list[str], split: Split, task, heads: HeadConfig, val_per_class: int,
                 seed: int, feature_budget_mb: float | None = None) -> pd.DataFrame:
    """The peek baseline's ranking: single-agent heads on one task, best test accuracy first.

    Peek looks at a task's test accuracy, which a real admin could not do: it is an optimistic reference,
    not a method.
    """
    results = _train(feature_paths, agents, split, task, [[i] for i in range(len(agents))], heads, val_per_class,
                     seed, feature_budget_mb)
    table = pd.DataFrame({"agent": agents, "val_acc": [r.dev for r in results], "test_acc": [r.test for r in results]})
    # stable order: test accuracy, then validation accuracy, then agent name
    return table.sort_values(["test_acc", "val_acc", "agent"], ascending=[False, False, True], kind="stable")

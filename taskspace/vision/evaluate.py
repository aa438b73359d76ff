"""Vision evaluation: linear heads on the picked agents' features for each admin task, and the peek ranking.

The admin has only S training images per class. Under the ``validated`` protocol ``val_per_class`` of them per
class (seeded) are held out to pick the epoch; under the ``paper`` protocol all S train the head and the best
test accuracy over epochs is reported, as the paper's scripts did. Heads train in groups whose agents' features
fit the feature budget, and only a group's agents are read (taskspace.heads.groups).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import heads  # its trainers load torch on first use, not when rank_members reads a task
from ..errors import TaskspaceError
from ..features import FeatureFile
from ..heads import Protocol, accuracy, stratified_holdout
from ..heads import Split as HeadSplit
from ..selection import head_subsets
from .split import Split

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

    def load(self, feature_paths, agents: list[int]) -> tuple[HeadSplit, HeadSplit | None, HeadSplit]:
        """(train, validation, test) head splits with the features of ``agents`` side by side (no validation
        split when nothing is held out)."""
        features = {
            name: np.empty((len(labels), sum(self.widths[a] for a in agents)), dtype=np.float32)
            for name, labels in self.labels.items()
        }
        offset = 0
        for a in agents:
            with FeatureFile(feature_paths[a]) as f:
                for name, rows in self.rows.items():
                    order = np.argsort(rows[a])  # h5py reads increasing rows; undo afterwards
                    block = features[name][:, offset : offset + self.widths[a]]
                    block[order] = f.vectors(FEATURE_SET[name])[np.sort(rows[a])]
            offset += self.widths[a]
        splits = {name: HeadSplit(features[name], self.labels[name]) for name in features}
        return splits["train"], splits.get("dev"), splits["test"]


def _rows_of(items: np.ndarray, ids: np.ndarray, path) -> np.ndarray:
    """Row of each image id in a feature set's item keys."""
    keys = items[:, 0]
    order = np.argsort(keys, kind="stable")
    position = np.searchsorted(keys, ids, sorter=order)
    rows = order[np.clip(position, 0, len(keys) - 1)]
    if len(ids) and not np.array_equal(keys[rows], ids):
        raise TaskspaceError(f"{path}: lacks {int((keys[rows] != ids).sum())} of the task's images")
    return rows


def _task_images(feature_paths, split: Split, task, val_per_class: int | None, seed: int) -> _TaskImages:
    """Where one task's train, validation and test images are in every agent's feature file (no validation
    images when ``val_per_class`` is None: all admin images train the head)."""
    train_ids, train_labels = split.task_data(task, "train")
    test_ids, test_labels = split.task_data(task, "test")
    if val_per_class:
        fit, val = stratified_holdout(train_labels, per_class=val_per_class, seed=seed)
    else:
        fit, val = np.arange(len(train_labels)), None
    rows = {"train": [], "test": []} if val is None else {"train": [], "dev": [], "test": []}
    widths = []
    for path in feature_paths:
        with FeatureFile(path) as f:
            train_rows = _rows_of(f.items("train"), train_ids, path)
            rows["train"].append(train_rows[fit])
            if val is not None:
                rows["dev"].append(train_rows[val])
            rows["test"].append(_rows_of(f.items("test"), test_ids, path))
            widths.append(f.width("train"))
    labels = {"train": train_labels[fit], "test": test_labels}
    if val is not None:
        labels["dev"] = train_labels[val]
    return _TaskImages(rows, labels, widths)


def evaluate_task(
    feature_paths,
    agents: list[str],
    split: Split,
    task,
    selection: pd.DataFrame,
    protocols: list[Protocol],
    seed: int,
    feature_budget_mb: float | None = None,
    ranking: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Train one head per (method, round, k) on ``task`` under every protocol: the selection table's subsets,
    every agent alone and the rankers' top-k (``taskspace.selection.head_subsets``); one metrics row per head
    and protocol. At most ``feature_budget_mb`` of features are loaded at a time."""
    keys, member_lists = zip(*head_subsets(selection, agents, ranking).items())
    images = {p.name: _task_images(feature_paths, split, task, p.val_per_class, seed) for p in protocols}

    def loader(protocol: Protocol):
        chosen = images[protocol.name]
        return (lambda agents_: chosen.load(feature_paths, agents_)), chosen.n_images

    widths = next(iter(images.values())).widths
    return heads.evaluate_heads(
        keys,
        member_lists,
        agents,
        widths,
        protocols,
        loader,
        task,
        "accuracy",
        feature_budget_mb,
        metric=accuracy,
        n_classes=len(split.task_classes(task)),
    )


def peek_ranking(
    feature_paths,
    agents: list[str],
    split: Split,
    task,
    protocol: Protocol,
    seed: int,
    feature_budget_mb: float | None = None,
) -> pd.DataFrame:
    """The peek baseline's ranking: single-agent heads on one task, best test accuracy first.

    Peek looks at a task's test accuracy, which a real admin could not do: it is an optimistic reference,
    not a method (the paper ranks by the best test accuracy over epochs of 1500-epoch heads).
    """
    images = _task_images(feature_paths, split, task, protocol.val_per_class, seed)
    results = heads.train_heads_in_feature_groups(
        lambda chosen: images.load(feature_paths, chosen),
        images.widths,
        images.n_images,
        [[i] for i in range(len(agents))],
        feature_budget_mb,
        f"peek task {task}",
        member_names=agents,
        metric=accuracy,
        config=protocol.config_for("peek"),
        n_classes=len(split.task_classes(task)),
    )
    table = pd.DataFrame({"agent": agents, "val_acc": [r.dev for r in results], "test_acc": [r.test for r in results]})
    # stable order: test accuracy, then validation accuracy, then agent name
    return table.sort_values(["test_acc", "val_acc", "agent"], ascending=[False, False, True], kind="stable")


def task_training_set(feature_paths, split: Split, task, seed: int = 0):
    """All of a task's admin training images for the rankers: (labels, ``load(agent)`` -> (features, the
    agent's own head's softmax on them))."""
    images = _task_images(feature_paths, split, task, None, seed)

    def load(agent: int) -> tuple[np.ndarray, np.ndarray]:
        rows = images.rows["train"][agent]
        order = np.argsort(rows)  # h5py reads increasing rows; undo afterwards
        blocks = []
        with FeatureFile(feature_paths[agent]) as f:
            for set_name in ("train", "train_source"):
                block = np.empty((len(rows), f.width(set_name)), dtype=np.float32)
                block[order] = f.vectors(set_name)[np.sort(rows)]
                blocks.append(block)
        return blocks[0], blocks[1]

    return images.labels["train"], load

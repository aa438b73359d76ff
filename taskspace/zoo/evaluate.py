"""A zoo task's heads (validated protocol) and its rankers' inputs, from the members' task feature files.

Heads train on the task's train split and pick the epoch on its dev split; a task without one holds out
``val_per_class`` training items per class (seeded; for a real-valued task that many items per ten, at least
one), which then train no head. Every selection method's picks, every member alone (``single``, the truth the
rankers are judged against) and the rankers' top-k are heads (taskspace.selection.head_subsets), trained
together by taskspace.heads.evaluate_heads in groups whose features fit the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import heads  # heads.evaluate_heads loads torch on first use, not when rank_members reads a task
from ..errors import TaskspaceError
from ..features import FeatureFile
from ..heads import Protocol, accuracy, pearson, stratified_holdout
from ..heads import Split as HeadSplit
from ..selection import head_subsets
from .data import read_task


@dataclass
class TaskRows:
    """Which rows of each feature set every head split reads, and the labels."""

    rows: dict[str, tuple[str, np.ndarray]]  # head split -> (feature set, rows of it)
    labels: dict[str, np.ndarray]
    widths: list[int]
    regression: bool
    n_classes: int | None

    @property
    def n_items(self) -> int:
        return sum(len(labels) for labels in self.labels.values())

    def load(self, feature_paths, members: list[int]) -> tuple[HeadSplit, HeadSplit | None, HeadSplit]:
        """(train, dev, test) head splits with the features of ``members`` side by side."""
        width = sum(self.widths[m] for m in members)
        features = {name: np.empty((len(self.labels[name]), width), dtype=np.float32) for name in self.labels}
        offset = 0
        for m in members:
            with FeatureFile(feature_paths[m]) as f:
                for name, (set_name, rows) in self.rows.items():
                    features[name][:, offset : offset + self.widths[m]] = _read_rows(f, set_name, rows)
            offset += self.widths[m]
        splits = {name: HeadSplit(features[name], self.labels[name]) for name in features}
        return splits["train"], splits.get("dev"), splits["test"]


def _read_rows(f: FeatureFile, set_name: str, rows: np.ndarray) -> np.ndarray:
    vectors = f.vectors(set_name)
    if len(vectors) != len(f.items(set_name)):
        raise TaskspaceError(f"{f.path}: set {set_name!r} has vectors and item keys of different lengths")
    return np.asarray(vectors[()], dtype=np.float32)[rows]


def task_rows(feature_paths, splits: dict, val_per_class: int, seed: int) -> TaskRows:
    """Head splits of a task: its own dev split, or ``val_per_class`` training items per class held out."""
    train = splits["train"]
    regression = bool(getattr(train, "regression", False))
    n_train = len(train.labels)
    rows = {"test": ("test", np.arange(len(splits["test"].labels)))}
    labels = {"test": np.asarray(splits["test"].labels)}
    if "dev" in splits:
        rows["train"], labels["train"] = ("train", np.arange(n_train)), np.asarray(train.labels)
        rows["dev"], labels["dev"] = ("dev", np.arange(len(splits["dev"].labels))), np.asarray(splits["dev"].labels)
    else:
        if regression:
            held = np.sort(np.random.default_rng(seed).permutation(n_train)[: max(1, val_per_class * n_train // 10)])
            fit = np.setdiff1d(np.arange(n_train), held)
        else:
            fit, held = stratified_holdout(train.labels, per_class=val_per_class, seed=seed)
        rows["train"], labels["train"] = ("train", fit), np.asarray(train.labels)[fit]
        rows["dev"], labels["dev"] = ("train", held), np.asarray(train.labels)[held]
    widths = []
    for path in feature_paths:
        with FeatureFile(path) as f:
            for split, data in splits.items():
                if split not in f.sets:
                    raise TaskspaceError(f"{path}: no set {split!r} (the task has a {split} split)")
                if len(f.items(split)) != len(data.labels):
                    raise TaskspaceError(
                        f"{path}: set {split!r} has {len(f.items(split))} items, the task's split {len(data.labels)}"
                    )
            widths.append(f.width("train"))
    n_classes = None if regression else len(train.classes)
    return TaskRows(rows, labels, widths, regression, n_classes)


def evaluate_task(
    settings: dict,
    selection: pd.DataFrame,
    ranking: pd.DataFrame | None,
    protocols: list[Protocol],
    task: str,
    seed: int,
    feature_budget_mb: float | None = None,
) -> pd.DataFrame:
    """Every head of one zoo task under every protocol (``settings``: taskspace.zoo.plan.task_params)."""
    splits = read_task(settings["input"], settings["task"])
    paths, members = settings["files"], list(settings["members"])
    val_per_class = settings["evaluation"]["validated"]["val_per_class"]
    chosen = task_rows(paths, splits, val_per_class, seed)
    kind = "regression" if chosen.regression else "classification"
    protocols = [replace(p, heads=replace(p.heads, kind=kind)) for p in protocols]
    keys, member_lists = zip(*head_subsets(selection, members, ranking).items())
    return heads.evaluate_heads(
        keys,
        member_lists,
        members,
        chosen.widths,
        protocols,
        lambda _: ((lambda ms: chosen.load(paths, ms)), chosen.n_items),
        task,
        "pearson" if chosen.regression else "accuracy",
        feature_budget_mb,
        metric=pearson if chosen.regression else accuracy,
        n_classes=chosen.n_classes,
    )


def task_training_set(settings: dict):
    """All of a task's training items for the rankers: (labels, ``load(member)`` -> (features, its source head's
    softmax or None), regression, whether every member has a source head)."""
    splits = read_task(settings["input"], settings["task"])
    paths = settings["files"]
    labels = np.asarray(splits["train"].labels)
    regression = bool(getattr(splits["train"], "regression", False))
    with_heads = []
    for path in paths:
        with FeatureFile(path) as f:
            if len(f.items("train")) != len(labels):
                raise TaskspaceError(f"{path}: set 'train' has {len(f.items('train'))} items, the task {len(labels)}")
            with_heads.append("train_source" in f.sets)
    every_head = all(with_heads)

    def load(member: int):
        with FeatureFile(paths[member]) as f:
            features = np.asarray(f.vectors("train")[()], dtype=np.float32)
            source = np.asarray(f.vectors("train_source")[()], dtype=np.float32) if every_head else None
        return features, source

    return labels, load, regression, every_head

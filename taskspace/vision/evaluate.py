"""Vision evaluation: linear heads on the picked agents' features for each admin task, and the peek ranking.

The admin has only S training images per class. A validation split of ``val_per_class`` images per class is
carved from them (seeded); the epoch is chosen on it, and test accuracy at that epoch is the result. The
paper's protocol (best test accuracy over epochs) is kept in its own column, ``test_acc_paper_protocol``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..features import FeatureFile
from ..head import HeadConfig, Split as HeadSplit, accuracy, stratified_holdout, train_heads
from ..selection import subsets
from .split import Split

METRIC_COLUMNS = ["task", "method", "seed", "k", "members", "val_acc", "test_acc", "test_acc_paper_protocol",
                  "best_epoch", "epochs", "steps"]


def _rows_of(items: np.ndarray, ids: np.ndarray, path) -> np.ndarray:
    """Row of each image id in a feature set's item keys."""
    keys = items[:, 0]
    order = np.argsort(keys, kind="stable")
    position = np.searchsorted(keys, ids, sorter=order)
    rows = order[np.clip(position, 0, len(keys) - 1)]
    if len(ids) and not np.array_equal(keys[rows], ids):
        from ..errors import TaskspaceError

        raise TaskspaceError(f"{path}: lacks {int((keys[rows] != ids).sum())} of the task's images")
    return rows


def task_data(feature_paths, split: Split, task, val_per_class: int, seed: int):
    """(train, val, test) head splits of one task with all agents' features side by side, and the widths."""
    parts = {}
    widths = []
    for part in ("train", "test"):
        ids, labels = split.task_data(task, part)
        blocks = []
        for path in feature_paths:
            with FeatureFile(path) as f:
                rows = _rows_of(f.items(part), ids, path)
                order = np.argsort(rows)  # h5py reads increasing rows; undo afterwards
                block = np.empty((len(rows), f.width(part)), dtype=np.float32)
                block[order] = f.vectors(part)[np.sort(rows)]
                blocks.append(block)
                if part == "train":
                    widths.append(block.shape[1])
        parts[part] = (np.concatenate(blocks, axis=1), labels)
    features, labels = parts["train"]
    fit, val = stratified_holdout(labels, per_class=val_per_class, seed=seed)
    train = HeadSplit(features[fit], labels[fit])
    validation = HeadSplit(features[val], labels[val])
    test = HeadSplit(*parts["test"])
    return train, validation, test, widths


def evaluate_task(feature_paths, agents: list[str], split: Split, task, selection: pd.DataFrame,
                  heads: HeadConfig, val_per_class: int, seed: int) -> pd.DataFrame:
    """Train one head per (method, seed, k) of the selection table on ``task``; one metrics row per head."""
    train, validation, test, widths = task_data(feature_paths, split, task, val_per_class, seed)
    index = {name: i for i, name in enumerate(agents)}
    keys, member_lists = zip(*subsets(selection).items())
    results = train_heads(train, validation, test, widths, [[index[m] for m in ms] for ms in member_lists],
                          metric=accuracy, config=heads, n_classes=len(split.task_classes(task)),
                          member_names=agents)
    rows = []
    for (method, round_, k), members, result in zip(keys, member_lists, results):
        rows.append(dict(task=task, method=method, seed=round_, k=k, members="+".join(members),
                         val_acc=result.dev, test_acc=result.test, test_acc_paper_protocol=result.test_paper_protocol,
                         best_epoch=result.best_epoch, epochs=result.epochs, steps=result.steps))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def peek_ranking(feature_paths, agents: list[str], split: Split, task, heads: HeadConfig, val_per_class: int,
                 seed: int) -> pd.DataFrame:
    """The peek baseline's ranking: single-agent heads on one task, best test accuracy first.

    Peek looks at a task's test accuracy, which a real admin could not do: it is an optimistic reference,
    not a method.
    """
    train, validation, test, widths = task_data(feature_paths, split, task, val_per_class, seed)
    results = train_heads(train, validation, test, widths, [[i] for i in range(len(agents))], metric=accuracy,
                          config=heads, n_classes=len(split.task_classes(task)), member_names=agents)
    table = pd.DataFrame({"agent": agents, "val_acc": [r.dev for r in results], "test_acc": [r.test for r in results]})
    # stable order: test accuracy, then validation accuracy, then agent name
    return table.sort_values(["test_acc", "val_acc", "agent"], ascending=[False, False, True], kind="stable")

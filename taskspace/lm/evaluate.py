"""LM evaluation: linear token probes on the concatenated word features of the picked members.

For every task, all (method, seed, k) heads of the selection table are trained together (taskspace.head)
with the paper's settings by default (Adam 1e-3, 40 epochs, batches of 64 sentences); the test metric at
the best dev epoch is the result, and the best test metric over epochs is kept apart as the paper's
protocol. Words that some member lost to its maximum length are left out for every member.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import TaskspaceError
from ..features import FeatureFile, common_items
from ..head import HeadConfig, Split, train_heads
from ..selection import subsets
from .tasks import REGRESSION, TaskSpec, TokenSplit, is_annotated

SPLITS = ("train", "dev", "test")
METRIC_COLUMNS = ["task", "method", "seed", "k", "members", "metric", "dev", "test", "test_paper_protocol",
                  "best_epoch", "epochs", "steps"]


def _vocabulary(splits: dict[str, TokenSplit]) -> list[str]:
    """Every annotated label of every split, sorted: the head's classes (dev/test-only labels stay wrong)."""
    return sorted({label for split in splits.values() for sentence in split.labels for label in sentence
                   if is_annotated(label)})


def _split_arrays(paths, set_name: str, tokens: TokenSplit, classes, ignore_index: int):
    """Features of all members side by side, labels and sentence ids for the words every member kept."""
    files = [FeatureFile(path) for path in paths]
    try:
        rows = common_items(files, set_name)
        keys = files[0].items(set_name)[rows[0]]
        blocks = []
        for f, file_rows in zip(files, rows):
            order = np.argsort(file_rows)
            block = np.empty((len(file_rows), f.width(set_name)), dtype=np.float32)
            if len(file_rows):
                block[order] = f.vectors(set_name)[np.sort(file_rows)]
            blocks.append(block)
    finally:
        for f in files:
            f.close()
    labels = []
    for sentence, word in keys:
        label = tokens.labels[sentence][word]
        if classes is None:
            labels.append(float(label) if is_annotated(label) else np.nan)
        else:
            labels.append(classes[label] if is_annotated(label) else ignore_index)
    dtype = np.float64 if classes is None else np.int64
    return Split(np.concatenate(blocks, axis=1), np.asarray(labels, dtype=dtype), keys[:, 0].copy())


def probe_task(feature_paths, members: list[str], task: str, spec: TaskSpec, splits: dict[str, TokenSplit],
               selection: pd.DataFrame, heads: HeadConfig) -> pd.DataFrame:
    """Train every head of the selection table on one task; one metrics row per head."""
    regression = spec.kind == REGRESSION
    if heads.kind != spec.kind:
        heads = HeadConfig(**{**heads.__dict__, "kind": spec.kind})
    vocabulary = None if regression else _vocabulary(splits)
    classes = None if regression else {label: i for i, label in enumerate(vocabulary)}
    arrays = {name: _split_arrays(feature_paths, name, splits[name], classes, heads.ignore_index) for name in SPLITS}
    for name, split in arrays.items():
        if not len(split.labels):
            raise TaskspaceError(f"task {task}: no {name} words left after aligning the members' features")
    widths = []
    for path in feature_paths:
        with FeatureFile(path) as f:
            widths.append(f.width("train"))

    def metric(gold_sentences, pred_sentences):
        if regression:
            return spec.metric([list(s) for s in gold_sentences], [list(s) for s in pred_sentences])
        return spec.metric([[vocabulary[i] for i in s] for s in gold_sentences],
                           [[vocabulary[i] for i in s] for s in pred_sentences])

    index = {name: i for i, name in enumerate(members)}
    keys, member_lists = zip(*subsets(selection).items())
    results = train_heads(arrays["train"], arrays["dev"], arrays["test"], widths,
                          [[index[m] for m in ms] for ms in member_lists], metric=metric, config=heads,
                          n_classes=None if regression else len(vocabulary), metric_input="sentences",
                          member_names=members)
    rows = [dict(task=task, method=method, seed=round_, k=k, members="+".join(ms), metric=spec.metric_name,
                 dev=r.dev, test=r.test, test_paper_protocol=r.test_paper_protocol, best_epoch=r.best_epoch,
                 epochs=r.epochs, steps=r.steps)
            for (method, round_, k), ms, r in zip(keys, member_lists, results)]
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)

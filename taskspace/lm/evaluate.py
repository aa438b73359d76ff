"""LM evaluation: linear token probes on the concatenated word features of the picked members.

For every task, all (method, round, k) heads of the selection table are trained together (taskspace.heads),
under every protocol: both report the test metric at the best dev epoch; ``paper`` feeds raw features to
heads with nn.Linear's init (LMs/probe_tasks/train.py), ``validated`` z-scored features to zero-initialised
heads. Words that some member lost to its maximum length are left out for every member.

Memory: with a feature budget, heads are trained in groups whose members' word features fit it, and only a
group's members are read from their feature files (the paper's 34 members side by side would take 33-132 GB).
The words are fixed over the whole table first, so a head's result does not depend on its group (up to the
float rounding of heads trained side by side, see taskspace.heads).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import heads  # heads.evaluate_heads loads torch on first use, not when rank_members reads a task
from ..config import SPLITS
from ..errors import TaskspaceError
from ..features import FeatureFile, aligned_blocks, common_items
from ..heads import Protocol, Split
from ..selection import head_subsets
from .tasks import REGRESSION, TaskSpec, TokenSplit, is_annotated

READ_BLOCK_BYTES = 64 * 2**20  # of one member's vectors read from its file at a time


@dataclass
class _Words:
    """The annotated words of one split that every member kept: each file's rows of them, labels, sentence ids."""

    rows: list[np.ndarray]  # one array per feature file
    labels: np.ndarray
    sentence_ids: np.ndarray


def _vocabulary(splits: dict[str, TokenSplit]) -> list[str]:
    """Every annotated label of every split, sorted: the head's classes (dev/test-only labels stay wrong)."""
    return sorted(
        {label for split in splits.values() for sentence in split.labels for label in sentence if is_annotated(label)}
    )


def _aligned_words(paths, set_name: str, tokens: TokenSplit, classes) -> _Words:
    """The words every member kept (over all files) that carry a label; unannotated words are never read."""
    files = [FeatureFile(path) for path in paths]
    try:
        rows = common_items(files, set_name)
        keys = files[0].items(set_name)[rows[0]]
    finally:
        for f in files:
            f.close()
    labels = [tokens.labels[sentence][word] for sentence, word in keys]
    annotated = np.array([is_annotated(label) for label in labels], dtype=bool)
    if classes is None:
        values = np.array([float(label) for label, keep in zip(labels, annotated) if keep], dtype=np.float64)
    else:
        values = np.array([classes[label] for label, keep in zip(labels, annotated) if keep], dtype=np.int64)
    return _Words([file_rows[annotated] for file_rows in rows], values, keys[annotated, 0].copy())


def _read_member(path, set_name: str, rows: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (len(rows) x width) with the member's vectors of ``rows``, in contiguous row ranges."""
    with FeatureFile(path) as f:
        block_items = max(1, READ_BLOCK_BYTES // (4 * f.width(set_name)))
        start = 0
        for (block,) in aligned_blocks([f], set_name, [rows], block_items):
            out[start : start + len(block)] = block
            start += len(block)


def _load_members(feature_paths, words: dict[str, _Words], widths, chosen: list[int]) -> tuple[Split, ...]:
    """(train, dev, test) head splits with the word features of the ``chosen`` members side by side."""
    loaded = []
    for name in SPLITS:
        split_words = words[name]
        features = np.empty((len(split_words.labels), sum(widths[m] for m in chosen)), dtype=np.float32)
        offset = 0
        for m in chosen:
            _read_member(feature_paths[m], name, split_words.rows[m], features[:, offset : offset + widths[m]])
            offset += widths[m]
        loaded.append(Split(features, split_words.labels, split_words.sentence_ids))
    return tuple(loaded)


def probe_task(
    feature_paths,
    members: list[str],
    task: str,
    spec: TaskSpec,
    splits: dict[str, TokenSplit],
    selection: pd.DataFrame,
    protocols: list[Protocol],
    feature_budget_mb: float | None = None,
    ranking: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Train every head of one task under every protocol: the selection table's subsets, every member alone and
    the rankers' top-k (``taskspace.selection.head_subsets``); one metrics row per head and protocol.

    At most ``feature_budget_mb`` of word features are loaded at a time (None: the members of every head at
    once); see taskspace.heads.groups.
    """
    regression = spec.kind == REGRESSION
    protocols = [replace(p, heads=replace(p.heads, kind=spec.kind)) for p in protocols]
    vocabulary = None if regression else _vocabulary(splits)
    classes = None if regression else {label: i for i, label in enumerate(vocabulary)}
    words = {name: _aligned_words(feature_paths, name, splits[name], classes) for name in SPLITS}
    for name, split_words in words.items():
        if not len(split_words.labels):
            raise TaskspaceError(f"task {task}: no annotated {name} words left after aligning the members' features")
    widths = []
    for path in feature_paths:
        with FeatureFile(path) as f:
            widths.append(f.width("train"))

    def metric(gold_sentences, pred_sentences):
        if regression:
            return spec.metric([list(s) for s in gold_sentences], [list(s) for s in pred_sentences])
        return spec.metric(
            [[vocabulary[i] for i in s] for s in gold_sentences], [[vocabulary[i] for i in s] for s in pred_sentences]
        )

    n_items = sum(len(w.labels) for w in words.values())
    keys, member_lists = zip(*head_subsets(selection, members, ranking).items())
    return heads.evaluate_heads(
        keys,
        member_lists,
        members,
        widths,
        protocols,
        lambda _: (functools.partial(_load_members, feature_paths, words, widths), n_items),
        task,
        spec.metric_name,
        feature_budget_mb,
        metric=metric,
        n_classes=None if regression else len(vocabulary),
        metric_input="sentences",
    )


def task_training_words(feature_paths, spec: TaskSpec, splits: dict[str, TokenSplit]):
    """The annotated training words that every member kept, for the rankers: (labels, ``load(member)`` ->
    (features, None): LM members have no source head)."""
    regression = spec.kind == REGRESSION
    classes = None if regression else {label: i for i, label in enumerate(_vocabulary(splits))}
    words = _aligned_words(feature_paths, "train", splits["train"], classes)

    def load(member: int) -> tuple[np.ndarray, None]:
        with FeatureFile(feature_paths[member]) as f:
            width = f.width("train")
        features = np.empty((len(words.labels), width), dtype=np.float32)
        _read_member(feature_paths[member], "train", words.rows[member], features)
        return features, None

    return words.labels, load

"""Offline demo tasks: token-level probing tasks derived from the probe text, with published designs.

Both follow the perturbation designs of Conneau et al. 2018 ("What you can cram into a single vector"),
made token-level so that the same word-feature heads as the paper's tasks apply:

- ``bigram_shift`` (Conneau et al.'s BShift): in about half of the sentences two adjacent, different words
  are swapped; each word is labelled ``SWAP`` if it is one of the swapped pair, else ``O``.
- ``word_replacement`` (after Conneau et al.'s SOMO, odd-man-out, with the replacement drawn uniformly from
  the vocabulary instead of a frequency-matched word of the same POS): in about half of the sentences some
  words (``replace_rate`` of them, at least one) are replaced by other words of the probe vocabulary; each
  word is labelled ``REPL`` if replaced, else ``O``.

Sentences are shuffled and split into train/dev/test before any perturbation, so no source sentence is in
two splits. Everything is drawn from ``numpy.random.default_rng(seed)``: same sentences and seed, same
splits. Labels are sparse, so the metric is :func:`~taskspace.lm.metrics.token_f1` on the non-``O`` label.
Splits are written as CoNLL-X (:func:`taskspace.lm.tasks.write_conllx`) and read back with the POS reader.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..config import DEMO_FORMATS, SPLITS
from ..errors import TaskspaceError
from .tasks import CLASSIFICATION, TokenSplit, write_conllx

OUTSIDE = "O"
SWAPPED = "SWAP"
REPLACED = "REPL"


def bigram_shift(sentences: Sequence[Sequence[str]], rng: np.random.Generator, perturb_prob: float = 0.5):
    """Swap one pair of adjacent different words in each sentence with probability ``perturb_prob``.

    Returns (new sentences, labels). A sentence with no two adjacent different words stays unchanged.
    """
    out_sentences, out_labels = [], []
    for words in sentences:
        words = list(words)
        labels = [OUTSIDE] * len(words)
        if rng.random() < perturb_prob:
            # swapping equal words would change nothing, so only pairs of different words qualify
            candidates = [i for i in range(len(words) - 1) if words[i] != words[i + 1]]
            if candidates:
                i = candidates[int(rng.integers(len(candidates)))]
                words[i], words[i + 1] = words[i + 1], words[i]
                labels[i] = labels[i + 1] = SWAPPED
        out_sentences.append(words)
        out_labels.append(labels)
    return out_sentences, out_labels


def word_replacement(
    sentences: Sequence[Sequence[str]],
    vocabulary: Sequence[str],
    rng: np.random.Generator,
    perturb_prob: float = 0.5,
    replace_rate: float = 0.15,
):
    """Replace ``max(1, round(replace_rate * n))`` words of a sentence with probability ``perturb_prob``.

    Each replacement is drawn uniformly from ``vocabulary`` and differs from the word it replaces.
    Returns (new sentences, labels).
    """
    vocabulary = sorted(set(vocabulary))  # sorted: the draw must not depend on set iteration order
    if len(vocabulary) < 2:
        raise TaskspaceError("word_replacement: the vocabulary needs at least 2 distinct words")
    out_sentences, out_labels = [], []
    for words in sentences:
        words = list(words)
        labels = [OUTSIDE] * len(words)
        if rng.random() < perturb_prob and words:
            n_replace = min(len(words), max(1, round(replace_rate * len(words))))
            for i in sorted(rng.choice(len(words), size=n_replace, replace=False).tolist()):
                new = words[i]
                while new == words[i]:
                    new = vocabulary[int(rng.integers(len(vocabulary)))]
                words[i] = new
                labels[i] = REPLACED
        out_sentences.append(words)
        out_labels.append(labels)
    return out_sentences, out_labels


def split_indices(n: int, rng: np.random.Generator, fractions=(0.6, 0.2, 0.2)) -> dict[str, np.ndarray]:
    """Shuffle range(n) and cut it into train/dev/test by ``fractions``; each split gets at least one item."""
    if len(fractions) != 3 or any(f <= 0 for f in fractions):
        raise TaskspaceError(f"demo task: split fractions must be three positive numbers, got {fractions}")
    if n < 3:
        raise TaskspaceError(f"demo task: need at least 3 sentences for train/dev/test, got {n}")
    total = float(sum(fractions))
    order = rng.permutation(n)
    n_train = max(1, int(round(n * fractions[0] / total)))
    n_dev = max(1, int(round(n * fractions[1] / total)))
    n_train = min(n_train, n - 2)
    n_dev = min(n_dev, n - n_train - 1)
    return {
        "train": order[:n_train],
        "dev": order[n_train : n_train + n_dev],
        "test": order[n_train + n_dev :],
    }


def make_demo_task(
    sentences: Sequence[Sequence[str]],
    task: str,
    seed: int,
    fractions=(0.6, 0.2, 0.2),
    perturb_prob: float = 0.5,
    replace_rate: float = 0.15,
) -> dict[str, TokenSplit]:
    """Train/dev/test :class:`TokenSplit` s of demo task ``task`` built from ``sentences`` (word lists)."""
    if task not in DEMO_FORMATS:
        raise TaskspaceError(f"demo task: {task!r} is not one of {', '.join(DEMO_FORMATS)}")
    if not 0 < perturb_prob <= 1:
        raise TaskspaceError(f"demo task: perturb_prob must be in (0, 1], got {perturb_prob}")
    sentences = [list(words) for words in sentences if words]
    rng = np.random.default_rng(seed)
    parts = split_indices(len(sentences), rng, fractions)
    # Replacement words come from the training sentences only, so no test sentence leaks into train.
    vocabulary = [word for i in parts["train"] for word in sentences[i]]
    splits = {}
    for name in SPLITS:
        chosen = [sentences[i] for i in parts[name]]
        if task == "bigram_shift":
            words, labels = bigram_shift(chosen, rng, perturb_prob)
        else:
            words, labels = word_replacement(chosen, vocabulary, rng, perturb_prob, replace_rate)
        splits[name] = TokenSplit(words, labels, CLASSIFICATION, source=f"demo task {task} ({name}, seed {seed})")
    return splits


def write_demo_task(splits: dict[str, TokenSplit], paths: dict[str, str]) -> None:
    """Write each split to ``paths[split]`` as CoNLL-X (read back by ``taskspace.lm.tasks.read_task``)."""
    for name, split in splits.items():
        write_conllx(split, paths[name])

"""The offline demo's zoo data, written from installed packages in the formats of :mod:`taskspace.sources`.

- :func:`write_digits_imagefolder`: scikit-learn's 8x8 digits (1797 images, 16 grey levels) as PNG files:
  ``root/probe/`` (images of every class) and one ImageFolder tree per task, ``root/<task>/{train,dev,test}/
  digit<c>/<index>.png`` (``<index>``: the image's row in ``sklearn.datasets.load_digits``). Each image is
  used at most once over the probe and all tasks. Pixels are scaled to 0..255 (ink bright on black, as
  MNIST), upscaled to ``size`` px with bilinear interpolation (smooth strokes, closer to the photographs the
  pretrained members saw than nearest-neighbour blocks) and written as RGB (grey in all three channels).
- :func:`write_polarity_tables`: gensim's test data ``pang_lee_polarity.cor`` (200 lower-cased, tokenised
  movie-review sentences, one a line as ``__label__neg <sentence>`` or ``__label__pos <sentence>``, 100 each,
  cp1252-encoded) as ``train.tsv``, ``dev.tsv``, ``test.tsv`` with columns ``text`` and ``label`` (``neg``,
  ``pos``): a seeded split stratified by label, rows in seeded random order, UTF-8 with CSV quoting
  (the TSV dialect :mod:`taskspace.sources.tables` reads); plus ``probe.txt``, sentences of gensim's
  Lee news corpus (the LM track's demo probe text, :func:`taskspace.lm.text.write_demo_probe_text`).

Same arguments, same files (byte for byte: PNG and text writing are deterministic).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError
from ..lm.text import gensim_test_data_dir, write_demo_probe_text

POLARITY_FILE = "pang_lee_polarity.cor"
DIGIT_CLASSES = 10


def _digit_image(pixels: np.ndarray, size: int):
    from PIL import Image

    grey = np.clip(np.rint(pixels * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).resize((size, size), Image.BILINEAR).convert("RGB")


def _task_classes(tasks: Mapping[str, int | Sequence[int]], rng) -> dict[str, list[int]]:
    chosen = {}
    for task, classes in tasks.items():
        if isinstance(classes, int):
            if not 2 <= classes <= DIGIT_CLASSES:
                raise TaskspaceError(f"digits task {task}: {classes} classes; choose 2 to {DIGIT_CLASSES}")
            classes = rng.choice(DIGIT_CLASSES, size=classes, replace=False)
        classes = sorted(int(c) for c in classes)
        if len(set(classes)) < 2 or not all(0 <= c < DIGIT_CLASSES for c in classes):
            raise TaskspaceError(f"digits task {task}: classes {classes} must be at least 2 distinct digits 0-9")
        chosen[task] = classes
    return chosen


def write_digits_imagefolder(
    root,
    tasks: Mapping[str, int | Sequence[int]],
    seed: int = 0,
    *,
    probe_per_class: int = 10,
    train_per_class: int = 20,
    dev_per_class: int = 5,
    test_per_class: int = 20,
    size: int = 32,
) -> dict[str, list[int]]:
    """Digits as ``root/probe/`` and an ImageFolder tree per task (module docstring); return each task's digits.

    ``tasks``: task name -> number of classes (chosen with ``seed``) or the digits themselves. ``dev_per_class``
    0 writes no ``dev/`` (the heads then hold training images out). Asking for more images of a digit than
    the ~180 it has is an error.
    """
    from sklearn.datasets import load_digits

    root = Path(root)
    rng = np.random.default_rng(seed)
    classes = _task_classes(tasks, rng)
    digits = load_digits()
    pools = {c: list(rng.permutation(np.flatnonzero(digits.target == c))) for c in range(DIGIT_CLASSES)}

    def take(c: int, count: int, what: str) -> list[int]:
        if count > len(pools[c]):
            raise TaskspaceError(
                f"digits: {what} needs {count} more images of digit {c}, only {len(pools[c])} left "
                f"({int(np.sum(digits.target == c))} in all); ask for fewer per class"
            )
        taken, pools[c] = pools[c][:count], pools[c][count:]
        return sorted(int(i) for i in taken)

    # Every image is chosen before any is written: a request beyond the data leaves no partial tree behind.
    files = {}
    for c in range(DIGIT_CLASSES):
        for index in take(c, probe_per_class, "the probe"):
            files[root / "probe" / f"{index:04d}.png"] = index
    counts = {"train": train_per_class, "dev": dev_per_class, "test": test_per_class}
    for task, digits_of_task in classes.items():
        for c in digits_of_task:
            for split, count in counts.items():
                for index in take(c, count, f"task {task}"):
                    files[root / task / split / f"digit{c}" / f"{index:04d}.png"] = index
    for path, index in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        _digit_image(digits.images[index], size).save(path)
    return classes


def polarity_sentences() -> list[tuple[str, str]]:
    """(sentence, label) of gensim's polarity file in file order; labels ``neg`` / ``pos``."""
    path = gensim_test_data_dir() / POLARITY_FILE
    if not path.is_file():
        raise TaskspaceError(f"{path}: gensim test data not found (is gensim's test data installed?)")
    rows = []
    # cp1252: the file's few non-ASCII bytes are an em dash (0x97) and accented letters; it is not UTF-8
    for number, line in enumerate(path.read_bytes().decode("cp1252").splitlines(), start=1):
        tag, _, text = line.strip().partition(" ")
        if not tag.startswith("__label__") or not text.strip():
            raise TaskspaceError(f"{path}:{number}: expected '__label__<label> <sentence>'")
        rows.append((" ".join(text.split()), tag.removeprefix("__label__")))
    return rows


def write_polarity_tables(
    folder,
    seed: int = 0,
    *,
    dev_per_class: int = 20,
    test_per_class: int = 20,
    train_per_class: int | None = None,
    probe_sentences: int | None = 300,
    probe_min_words: int = 8,
) -> dict[str, int]:
    """``train.tsv``, ``dev.tsv``, ``test.tsv`` and ``probe.txt`` in ``folder`` (module docstring); return row counts.

    Per label: ``dev_per_class`` and ``test_per_class`` rows, ``train_per_class`` (default: the rest) for
    training. ``dev_per_class`` 0 writes no dev table; ``probe_sentences`` None writes no probe text.
    """
    folder = Path(folder)
    rows = polarity_sentences()
    rng = np.random.default_rng(seed)
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "dev": [], "test": []}
    for label in sorted({label for _, label in rows}):
        mine = [rows[i] for i in rng.permutation([i for i, row in enumerate(rows) if row[1] == label])]
        train = len(mine) - dev_per_class - test_per_class if train_per_class is None else train_per_class
        if min(train, dev_per_class, test_per_class) < 0 or train + dev_per_class + test_per_class > len(mine):
            raise TaskspaceError(
                f"polarity: {train} + {dev_per_class} + {test_per_class} sentences of label {label!r} asked for, "
                f"it has {len(mine)}"
            )
        splits["test"] += mine[:test_per_class]
        splits["dev"] += mine[test_per_class : test_per_class + dev_per_class]
        splits["train"] += mine[test_per_class + dev_per_class :][:train]
    folder.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, split_rows in splits.items():
        if not split_rows:
            continue
        order = rng.permutation(len(split_rows))  # labels interleaved, not one block after the other
        with open(folder / f"{split}.tsv", "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")  # quotes a text that starts with "
            writer.writerow(["text", "label"])
            writer.writerows(split_rows[i] for i in order)
        counts[split] = len(split_rows)
    if probe_sentences is not None:
        counts["probe"] = write_demo_probe_text(folder / "probe.txt", probe_min_words, probe_sentences)
    return counts

"""Text data of a zoo space: the probe sentences and the tasks' labelled splits (sentence level).

- **Task tables**: CSV, TSV or JSONL by suffix (:mod:`taskspace.sources.tables`: CSV quoted as
  spreadsheets write it, TSV unquoted as GLUE's, JSONL one object a line), one file a split, with a named
  text column, an optional second text column (``pair``: sentence pairs such as NLI) and a label column.
  ``kind: classification``: labels are class names or numbers (JSONL: strings or integers); the classes are
  the training split's labels in natural order (all numbers: numerically, so "2" before "10"; otherwise
  alphabetically), and a dev or test label the training split lacks is an error. ``kind: regression``:
  labels are real values. Canonical order: the file's.
- **Probe text**: a table (by suffix, as above) and its text column, or any other file as plain text, one
  sentence a line, blank lines skipped.

Text is UTF-8; every bad value is a one-line error naming ``file:line``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError
from .tables import class_order, is_table, label_text, read_table, read_utf8

CLASSIFICATION = "classification"
REGRESSION = "regression"
KINDS = (CLASSIFICATION, REGRESSION)
REQUIRED_SPLITS = ("train", "test")


@dataclass(frozen=True)
class TextSplit:
    """One split of a sentence-level task, rows in canonical order.

    ``labels``: int64 indices into ``classes`` (classification) or float64 values (``regression``, classes
    None). ``pairs``: the second text of each row, or None for single-text tasks.
    """

    texts: list[str]
    pairs: list[str] | None
    labels: np.ndarray
    classes: list[str] | None
    regression: bool

    def __len__(self) -> int:
        return len(self.texts)


def _text(table, line, row, column) -> str:
    value = table.value(line, row, column)
    if not isinstance(value, str):
        raise TaskspaceError(f"{table.path}:{line}: column {column!r} holds {value!r}, not text")
    value = value.strip()
    if not value:
        raise TaskspaceError(f"{table.path}:{line}: empty text in column {column!r}")
    return value


def _value(table, line, row, column) -> float:
    value = table.value(line, row, column)
    try:
        number = float(value.strip() if isinstance(value, str) else value)
        if isinstance(value, bool) or not math.isfinite(number):
            raise ValueError
    except (TypeError, ValueError):
        raise TaskspaceError(
            f"{table.path}:{line}: label {value!r} in column {column!r} is not a finite number (kind: regression)"
        ) from None
    return number


def _class(table, line, row, column) -> str:
    value = table.value(line, row, column)
    try:
        name = label_text(value)
    except ValueError as error:
        raise TaskspaceError(f"{table.path}:{line}: column {column!r}: {error}") from None
    if not name:
        raise TaskspaceError(f"{table.path}:{line}: empty label in column {column!r}")
    return name


def _read_rows(path, text: str, label: str, pair: str | None, regression: bool):
    table = read_table(path, "text table")
    table.require(text, pair, label)
    read_label = _value if regression else _class
    rows = []
    for line, row in table.rows:
        second = _text(table, line, row, pair) if pair is not None else None
        rows.append((line, _text(table, line, row, text), second, read_label(table, line, row, label)))
    return rows


def read_text_task(
    train, test, dev=None, *, text: str = "text", label: str = "label", pair: str | None = None, kind=CLASSIFICATION
) -> dict[str, TextSplit]:
    """Tables of one task, one a split -> {split: TextSplit}; ``dev`` only when given (module docstring)."""
    if kind not in KINDS:
        raise TaskspaceError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    regression = kind == REGRESSION
    given = {"train": train, "dev": dev, "test": test}
    for split in REQUIRED_SPLITS:
        if given[split] is None:
            raise TaskspaceError(f"text task: no {split} table given; a task needs {' and '.join(REQUIRED_SPLITS)}")
    read = {split: _read_rows(Path(path), text, label, pair, regression) for split, path in given.items() if path}
    classes = None if regression else class_order(row[3] for row in read["train"])
    index = {name: i for i, name in enumerate(classes or ())}
    splits = {}
    for split, rows in read.items():
        if regression:
            labels = np.array([row[3] for row in rows], dtype=np.float64)
        else:
            for line, _, _, name in rows:
                if name not in index:
                    raise TaskspaceError(
                        f"{given[split]}:{line}: class {name!r} is not among the training classes "
                        f"({', '.join(classes)}) of {given['train']}"
                    )
            labels = np.array([index[row[3]] for row in rows], dtype=np.int64)
        splits[split] = TextSplit(
            texts=[row[1] for row in rows],
            pairs=[row[2] for row in rows] if pair is not None else None,
            labels=labels,
            classes=classes,
            regression=regression,
        )
    return splits


def read_text_probe(path, column: str = "text", max_items: int | None = None) -> list[str]:
    """Probe sentences: a table's ``column`` (CSV/TSV/JSONL by suffix) or a plain file's non-blank lines."""
    path = Path(path)
    if is_table(path):
        table = read_table(path, "probe table")
        table.require(column)
        sentences = [_text(table, line, row, column) for line, row in table.rows]
    else:
        sentences = [line.strip() for line in read_utf8(path, "probe text").splitlines() if line.strip()]
        if not sentences:
            raise TaskspaceError(f"{path}: probe text file is empty")
    return sentences[:max_items] if max_items is not None else sentences

"""Rows of the tables that task files come as: CSV, TSV or JSONL, chosen by the file's suffix.

- ``.csv``: comma-separated, ``.tsv`` / ``.tab``: tab-separated; both with CSV quoting as spreadsheets,
  pandas (``to_csv(sep="\\t")``) and HF ``datasets`` write and read them: a field that holds the separator, a
  line break or starts with ``"`` is double-quoted as a whole, ``""`` inside it is one quote; a quote inside
  an unquoted field is an ordinary character. A field that starts with a quote but is not quoted as a whole
  (GLUE-style unquoted TSV) is an error naming the line, never silently cut;
- ``.jsonl``: one JSON object a line.

CSV and TSV need a header row naming the columns. Blank lines are skipped everywhere. Every row keeps the
1-based number of the file line it starts on, so errors name ``file:line``. Text is UTF-8 (a byte-order mark
is allowed); anything else is an error naming the file and the line of the first bad byte.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import TaskspaceError

DELIMITERS = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
TABLE_SUFFIXES = (*DELIMITERS, ".jsonl")


@dataclass(frozen=True)
class Table:
    """A table's column names (JSONL: keys in order of first appearance) and rows with their file lines."""

    path: Path
    columns: list[str]
    rows: list[tuple[int, dict]]  # (1-based file line, column -> value); CSV/TSV values are str

    def require(self, *names: str | None) -> None:
        """Every named column is present (JSONL: checked row by row when read); None is skipped."""
        if self.path.suffix.lower() == ".jsonl":
            return
        for name in names:
            if name is not None and name not in self.columns:
                found = ", ".join(repr(c) for c in self.columns)
                raise TaskspaceError(f"{self.path}:1: no column {name!r} (columns found: {found})")

    def value(self, line: int, row: dict, name: str):
        """A row's value of a column; a JSONL row without the key is an error naming its line."""
        if name not in row:
            keys = ", ".join(repr(k) for k in row)
            raise TaskspaceError(f"{self.path}:{line}: no key {name!r} (keys found: {keys})")
        return row[name]


def read_utf8(path, what: str) -> str:
    """A file's text; missing, or not UTF-8 (named with the line of the first bad byte), is an error."""
    path = Path(path)
    if not path.is_file():
        raise TaskspaceError(f"{path}: {what} not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise TaskspaceError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}); save the file as UTF-8"
        ) from None


def is_table(path) -> bool:
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def read_table(path, what: str = "table") -> Table:
    """The header and rows of a CSV, TSV or JSONL file (module docstring); an empty table is an error."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise TaskspaceError(f"{path}: a {what} must end in {', '.join(TABLE_SUFFIXES)} (the suffix names its format)")
    text = read_utf8(path, what)
    table = _read_jsonl(path, text) if suffix == ".jsonl" else _read_delimited(path, text, DELIMITERS[suffix])
    if not table.rows:
        raise TaskspaceError(f"{path}: {what} has no rows")
    return table


def _read_delimited(path: Path, text: str, delimiter: str) -> Table:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    columns: list[str] | None = None
    rows = []
    end = 0  # the last line the reader has consumed: a row starts on the line after the previous row
    try:
        for fields in reader:
            start, end = end + 1, reader.line_num
            if not any(field.strip() for field in fields):
                continue
            if columns is None:
                columns = [field.strip() for field in fields]
                duplicates = sorted({c for c in columns if columns.count(c) > 1})
                if duplicates:
                    raise TaskspaceError(f"{path}:{start}: column {duplicates[0]!r} appears twice in the header")
                continue
            if len(fields) != len(columns):
                raise TaskspaceError(
                    f"{path}:{start}: {len(fields)} fields but the header has {len(columns)} ({', '.join(columns)})"
                )
            rows.append((start, dict(zip(columns, fields))))
    except csv.Error as error:
        # the row that failed starts after the last one read (an unclosed quote fails only at the end of the file)
        raise TaskspaceError(
            f"{path}:{end + 1}: not valid {path.suffix[1:].upper()} in the row from here: {error} (a field that "
            f'starts with " must be quoted as a whole, with "" for each quote inside)'
        ) from None
    if columns is None:
        raise TaskspaceError(f"{path}: table is empty (no header row)")
    return Table(path, columns, rows)


def _read_jsonl(path: Path, text: str) -> Table:
    columns: dict[str, None] = {}
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise TaskspaceError(f"{path}:{number}: invalid JSON: {error.msg}") from None
        if not isinstance(row, dict):
            raise TaskspaceError(f"{path}:{number}: expected a JSON object a line, got {type(row).__name__}")
        columns.update(dict.fromkeys(row))
        rows.append((number, row))
    return Table(path, list(columns), rows)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def class_order(names) -> list[str]:
    """Distinct class names in their natural order: numerically when every name is a number ("2" before
    "10"), else alphabetically (Python's string order: capitals first); ties in value ("1", "1.0") by text."""
    distinct = set(names)
    numbers = {name: _number(name) for name in distinct}
    if all(value is not None for value in numbers.values()):
        return sorted(distinct, key=lambda name: (numbers[name], name))
    return sorted(distinct)


def label_text(value) -> str:
    """A class label as text: strings as they are, JSON integers as digits ("3"); floats and others refused."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"a class label must be a string or an integer, got {value!r}")

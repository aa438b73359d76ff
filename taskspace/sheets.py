"""Member sheets: ``members: members.tsv`` instead of a YAML list, as Snakemake workflows take sample sheets.

A sheet is tab-separated text: the first line (after blank lines and ``#`` comment lines) is the header,
naming entry keys (``name``, ``source``, ``layer``, ...); each further line is one member. An empty cell
leaves its key out of that member's entry. A cell is read as a YAML value, so ``4`` is an integer, ``true``
a boolean, ``[0.5, 0.5, 0.5]`` a list and ``{num_classes: 10}`` a mapping (for ``kwargs``); keys whose
schema takes only text (``name``, ``source``, ``revision``, ...) keep the cell's text as written, so a
revision ``0123456`` or a name ``yes`` stays what it says. Paths in cells are read as in the config
(relative to the working directory), and so is the sheet's own path.

Every row is validated against the member schema of the section that names the sheet (``lm.members``,
``zoos.<name>.members``); an error names ``sheet:line:column`` (1-based file line, 1-based column of the
header) and the key. The config is expanded before it is validated, so the run's ``results/config.yaml``
records the members as a list.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from .errors import TaskspaceError

SCHEMA = Path(__file__).with_name("config_schema.yaml")  # taskspace.config.SCHEMA


class MemberSheet(list):
    """The rows of a sheet (a list of entry dicts) with where they came from, for ``file:line:column``."""

    def __init__(self, rows, path, header, header_line, lines, raw):
        super().__init__(rows)
        self.path = Path(path)
        self.header = list(header)  # column names, column c (1-based) is header[c - 1]
        self.header_line = header_line
        self.lines = list(lines)  # file line of each row
        self.raw = list(raw)  # each row's cells as written: key -> text


def where_of_member(members, index: int, key: str = "", prefix: str = "lm.members") -> str:
    """Where member ``index`` (its ``key``, if given) was written, for errors found after a sheet is expanded:
    ``sheet:line`` (``sheet:line:column: key`` when the header has the key) for a row of a member sheet, else
    the config path ``prefix.index.key`` (``prefix``: the section's members key, ``zoos.<name>.members``)."""
    if isinstance(members, MemberSheet):
        line = f"{members.path}:{members.lines[index]}"
        if key in members.header:
            return f"{line}:{members.header.index(key) + 1}: {key}"
        return f"{line}: {key}" if key else line
    return ".".join(str(part) for part in (prefix, index, key) if part != "")


def plain_member_lists(config: dict) -> None:
    """Expanded sheets back to plain lists once the checks that name their lines are done (YAML dumps lists)."""
    holders = [config.get("lm"), *(config.get("zoos") or {}).values()]
    for holder in holders:
        if isinstance(holder, dict) and isinstance(holder.get("members"), MemberSheet):
            holder["members"] = list(holder["members"])


def _cell(path, line, column, key, text):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise TaskspaceError(f"{path}:{line}:{column}: {key}: {text!r} is not a YAML value ({problem})") from None


def read_member_sheet(path) -> MemberSheet:
    """A TSV member sheet's rows as entry dicts, cells typed as YAML values (module docstring)."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        raise TaskspaceError(f"{path}: a member sheet is tab-separated (.tsv), not comma-separated")
    if not path.is_file():
        raise TaskspaceError(f"{path}: member sheet not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise TaskspaceError(f"{path}:{line}: member sheet is not UTF-8 text") from None
    header, header_line = None, 0
    rows, lines, raw = [], [], []
    for number, content in enumerate(text.splitlines(), start=1):
        if not content.strip() or content.lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in content.split("\t")]
        if header is None:
            header, header_line = cells, number
            for column, key in enumerate(header, start=1):
                if not key:
                    raise TaskspaceError(f"{path}:{number}:{column}: empty column name in the header")
                if header.index(key) != column - 1:
                    raise TaskspaceError(f"{path}:{number}:{column}: column {key!r} appears twice in the header")
            continue
        extra = [i for i in range(len(header), len(cells)) if cells[i]]
        if extra:
            raise TaskspaceError(
                f"{path}:{number}:{extra[0] + 1}: {len(cells)} cells but the header has {len(header)} columns"
            )
        written = {key: cell for key, cell in zip(header, cells) if cell}  # empty (or missing trailing) cell: absent
        rows.append({key: _cell(path, number, header.index(key) + 1, key, cell) for key, cell in written.items()})
        lines.append(number)
        raw.append(written)
    if header is None:
        raise TaskspaceError(f"{path}: member sheet is empty (no header line)")
    if not rows:
        raise TaskspaceError(f"{path}: member sheet has a header but no members")
    return MemberSheet(rows, path, header, header_line, lines, raw)


def _resolve(root: dict, schema: dict) -> dict:
    while isinstance(schema, dict) and "$ref" in schema:
        target = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _text_only(root: dict, schema: dict) -> bool:
    """Whether a key's schema takes text and nothing else (then a cell keeps its text as written)."""
    schema = _resolve(root, schema)
    if "enum" in schema:
        return all(isinstance(value, str) for value in schema["enum"])
    return schema.get("type") == "string"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "type":
        return f"expected {error.validator_value}, got {error.instance!r}"
    if error.validator == "pattern":
        return (
            f"{error.instance!r} is not a safe name (letters, digits, '.', '_', '-'; starting with a letter or digit)"
        )
    return error.message


def validate_sheet(rows, item_schema: dict, path, root: dict | None = None) -> list[dict]:
    """Check every row against the member item schema; return the rows as entries (text-only keys as written).

    ``root``: the whole config schema, where the item schema's ``$ref``s point. Rows from
    :func:`read_member_sheet` name ``path:line:column``; a plain list of dicts names line i + 2 (a header
    then one row a line) and columns in order of first appearance.
    """
    root = root if root is not None else item_schema
    item_schema = _resolve(root, item_schema)
    properties = item_schema.get("properties", {})
    if isinstance(rows, MemberSheet):
        header, header_line, lines, raw = rows.header, rows.header_line, rows.lines, rows.raw
    else:
        header = list(dict.fromkeys(key for row in rows for key in row))
        header_line, lines, raw = 1, [i + 2 for i in range(len(rows))], [{} for _ in rows]
    if item_schema.get("additionalProperties") is False:
        for column, key in enumerate(header, start=1):
            if key not in properties:
                allowed = ", ".join(sorted(properties))
                raise TaskspaceError(f"{path}:{header_line}:{column}: unknown column {key!r} (allowed: {allowed})")
    for key in item_schema.get("required", []):
        if key not in header:
            raise TaskspaceError(
                f"{path}:{header_line}: no column {key!r} (every member needs one; columns: {', '.join(header)})"
            )
    entries = []
    for row, written in zip(rows, raw):
        entry = dict(row)
        for key, value in row.items():
            if (
                key in written
                and not isinstance(value, str)
                and key in properties
                and _text_only(root, properties[key])
            ):
                entry[key] = written[key]
        entries.append(entry)
    validator = jsonschema.Draft202012Validator({**item_schema, "$defs": root.get("$defs", {})})
    for line, entry in zip(lines, entries):
        errors = list(validator.iter_errors(entry))
        if not errors:
            continue
        error = min(errors, key=lambda e: (len(e.absolute_path), e.validator != "required"))
        if error.validator == "required":
            key = next(k for k in error.validator_value if k not in entry)
            message = "empty cell, but every member needs one"
        else:
            key = str(error.absolute_path[0]) if error.absolute_path else ""
            message = _message(error)
        where = ".".join(str(part) for part in error.absolute_path) or key
        column = header.index(key) + 1 if key in header else 1
        raise TaskspaceError(f"{path}:{line}:{column}: {where}: {message}")
    return entries


def _members_schema(schema: dict, *keys: str) -> dict | None:
    """The item schema of the members list under ``keys`` (properties or additionalProperties), if any."""
    node = schema
    for key in keys:
        node = _resolve(schema, node)
        node = node.get("additionalProperties") if key == "*" else node.get("properties", {}).get(key)
        if not isinstance(node, dict):
            return None
    return _resolve(schema, node).get("items")


def _expand(holder: dict, where: str, item_schema, root, base: Path) -> None:
    sheet = holder.get("members")
    if not isinstance(sheet, str):
        return
    path = Path(sheet) if Path(sheet).is_absolute() else base / sheet
    if not path.is_file():
        raise TaskspaceError(
            f"{where}.members: member sheet {sheet!r} not found (looked for {path.resolve()}); "
            f"give a list of entries or a TSV sheet, relative to the working directory"
        )
    rows = read_member_sheet(path)
    # a section the schema does not know keeps the rows as read: the schema check that follows names it
    entries = list(rows) if item_schema is None else validate_sheet(rows, item_schema, path, root)
    # still a MemberSheet, so that checks of the entries name its lines (where_of_member)
    holder["members"] = MemberSheet(entries, rows.path, rows.header, rows.header_line, rows.lines, rows.raw)


def expand_member_sheets(config: dict, base=Path("."), schema: dict | None = None) -> dict:
    """A copy of the config with ``lm.members`` and each ``zoos.<name>.members`` that names a sheet replaced by
    its validated rows, a :class:`MemberSheet` (relative paths from ``base``, the working directory); anything
    else is left as is. :func:`plain_member_lists` makes them plain lists."""
    if schema is None:  # the config schema, read here: taskspace.config calls this module (no import circle)
        schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    config = copy.deepcopy(config)
    base = Path(base)
    lm = config.get("lm")
    if isinstance(lm, dict):
        _expand(lm, "lm", _members_schema(schema, "lm", "members"), schema, base)
    zoos = config.get("zoos")
    if isinstance(zoos, dict):
        items = _members_schema(schema, "zoos", "*", "members")
        for name, zoo in zoos.items():
            if isinstance(zoo, dict):
                _expand(zoo, f"zoos.{name}", items, schema, base)
    return config

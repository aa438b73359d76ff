"""Checks of the `zoos:` section that the JSON schema cannot express. Errors name the key (zoos.<name>.<key>)."""

from __future__ import annotations

from ..errors import TaskspaceError
from ..sheets import where_of_member
from .plan import DEMO_DATA, PROBE, SEEDED, demo_of

# Demo data sets a rule writes under results/zoo/data/<name>/ (taskspace.zoo.demo).
DEMOS = ("digits", "polarity")
IMAGE_FORMATS = ("imagefolder", "image_list")
TEXT_FORMATS = ("table",)
TABLE_KEYS = ("text", "pair", "label", "kind")


def check_zoos(zoos: dict) -> None:
    for name, zoo in zoos.items():
        check_zoo(name, zoo)


def check_zoo(name: str, zoo: dict) -> None:
    where = f"zoos.{name}"
    modality = zoo["input"]
    members = zoo["members"]
    seen: dict[str, int] = {}
    for i, entry in enumerate(members):

        def at(key="", i=i):  # a sheet's file:line:column once expanded, else the config path
            return where_of_member(members, i, key, f"{where}.members")

        folded = entry["name"].lower()
        if folded in seen:
            raise TaskspaceError(
                f"{at('name')}: member name {entry['name']!r} is used twice or differs only in case "
                f"({where_of_member(members, seen[folded], prefix=f'{where}.members')})"
            )
        seen[folded] = i
        _check_entry(entry, modality, at)
        weights = entry.get("weights", "")
        if weights.startswith(SEEDED + "/") and not weights.endswith(".safetensors"):
            raise TaskspaceError(f"{at('weights')}: seeded weights are written as {SEEDED}/<stem>-seed<N>.safetensors")
    k_max = zoo["selection"]["k_max"]
    if k_max > len(members):
        raise TaskspaceError(f"{where}.selection.k_max: {k_max} is more than the {len(members)} members")
    probe = zoo["probe"]
    wanted, other = ("images", "text") if modality == "image" else ("text", "images")
    if wanted not in probe:
        raise TaskspaceError(f"{where}.probe: a zoo of input {modality} needs probe.{wanted}")
    if other in probe:
        raise TaskspaceError(f"{where}.probe.{other}: a zoo of input {modality} reads probe.{wanted}, not {other}")
    if "column" in probe and modality == "image":
        raise TaskspaceError(f"{where}.probe.column: only for a text probe table")
    for task, entry in zoo["tasks"].items():
        _check_task(f"{where}.tasks.{task}", task, entry, modality)
    for path in _paths(zoo):
        demo = demo_of(path)
        if demo is not None and demo not in DEMOS:
            raise TaskspaceError(
                f"{where}: {path!r} lies in {DEMO_DATA}/, where only the demo data sets {', '.join(DEMOS)} are made"
            )


def _check_entry(entry: dict, modality: str, where) -> None:
    """The member kinds' own checks (taskspace.members.entries.check_entry): one kind per entry, its keys. A
    weights file that a rule of this workflow makes (seeded weights) cannot exist yet: its other keys are
    checked with the weights file of an installed package in its place."""
    from ..members.entries import check_entry

    if entry.get("weights", "").startswith(SEEDED + "/"):
        entry = {**entry, "weights": "package:taskspace/__init__.py"}
    check_entry(entry, modality, where)


def _check_task(where: str, task: str, entry: dict, modality: str) -> None:
    if task == PROBE:
        raise TaskspaceError(f"{where}: the name {task!r} is taken by the probe's features; rename the task")
    fmt = entry["format"]
    allowed = IMAGE_FORMATS if modality == "image" else TEXT_FORMATS
    if fmt not in allowed:
        raise TaskspaceError(f"{where}.format: {fmt!r} is not a format of input {modality} ({', '.join(allowed)})")
    if fmt == "imagefolder":
        if "root" not in entry:
            raise TaskspaceError(f"{where}.root: format imagefolder needs root (with train/, optional dev/, test/)")
        extra = [key for key in ("train", "dev", "test") if key in entry]
        if extra:
            raise TaskspaceError(f"{where}.{extra[0]}: format imagefolder reads root/{extra[0]}/; remove {extra[0]}")
    else:
        if "root" in entry:
            raise TaskspaceError(f"{where}.root: format {fmt} takes train, dev (optional) and test files")
        missing = [key for key in ("train", "test") if key not in entry]
        if missing:
            raise TaskspaceError(f"{where}.{missing[0]}: format {fmt} needs train and test files (dev optional)")
    if fmt != "table":
        extra = [key for key in TABLE_KEYS if key in entry and not (key == "kind" and entry[key] == "classification")]
        if extra:
            raise TaskspaceError(f"{where}.{extra[0]}: only for text tables (format table)")


def _paths(zoo: dict) -> list[str]:
    paths = [zoo["probe"][k] for k in ("images", "text") if k in zoo["probe"]]
    for entry in zoo["tasks"].values():
        paths += [entry[k] for k in ("root", "train", "dev", "test") if k in entry]
    return paths

"""Member entries: which kind a zoo entry is, whether its keys and values make sense, and which entries share a pass.

Torch-free and cheap (the plan calls it while Snakemake parses): nothing is imported or loaded but
``importlib.util.find_spec`` of a builder's top-level package; files are only checked to exist.

Kinds, chosen by the one key of ``source``, ``builder``, ``features``, ``build`` that an entry has:

- ``hf``: a Hugging Face checkpoint (hub id, local folder, ``package:NAME/FOLDER``), read as text or image by
  the zoo's ``input``;
- ``builder``: a torch module built by ``module:callable(**kwargs)`` and a weights file (image zoos);
- ``features``: vectors made elsewhere, a folder of feature files (see :mod:`taskspace.members.precomputed`);
- ``build``: a small seeded model (tests and offline demos), built into a folder before it is read (see
  :mod:`taskspace.members.tiny`).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import TaskspaceError
from ..lm.members import MemberSpec, _local_folder
from ..lm.tiny import FAMILIES as TEXT_FAMILIES
from .base import entry_json

MODALITIES = ("image", "text")
KIND_KEYS = {"source": "hf", "builder": "builder", "features": "features", "build": "build"}
TEXT_POOLINGS = ("mean", "first", "last")
IMAGE_POOLINGS = ("pooler", "cls", "mean")
IMAGE_FAMILIES = ("cnn", "vit", "convnext")
# What one pass shares: everything but these (a pass is named after its first member).
PER_MEMBER = ("name", "layer", "pooling")
KEYS = {
    ("hf", "text"): {"name", "source", "revision", "layer", "pooling", "trust_remote_code", "max_length"},
    ("hf", "image"): {"name", "source", "revision", "layer", "pooling", "trust_remote_code", "head"},
    ("builder", "image"): {"name", "builder", "kwargs", "weights", "layer", "head", "resize", "crop", "mean", "std"},
    ("features", "text"): {"name", "features"},
    ("features", "image"): {"name", "features"},
    ("build", "text"): {"name", "build", "seed", "width", "layer", "pooling"},
    ("build", "image"): {"name", "build", "seed", "width", "layer", "pooling", "head"},
}
BUILDER = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
PACKAGE_PREFIX = "package:"


def member_kind(entry: Mapping[str, Any], modality: str, where: str = "member") -> str:
    """hf, builder, features or build: the kind the entry's keys choose (see the module docstring)."""
    if modality not in MODALITIES:
        raise TaskspaceError(f"{where}: input {modality!r} is not one of {', '.join(MODALITIES)}")
    present = [key for key in KIND_KEYS if key in entry]
    name = entry.get("name", "?")
    if len(present) != 1:
        keys = " and ".join(repr(k) for k in present) if present else "none"
        raise TaskspaceError(
            f"{where}: member {name!r} needs exactly one of 'source' (HF checkpoint), 'builder' (torch module "
            f"and weights), 'features' (precomputed) or 'build' (seeded tiny model); it has {keys}"
        )
    return KIND_KEYS[present[0]]


def check_entry(entry: Mapping[str, Any], modality: str, where: str | Callable[..., str] = "member") -> str:
    """Check a member entry for a zoo of ``modality`` (image or text); return its kind.

    Raises a one-line :class:`TaskspaceError` that starts with where the entry was written and names the
    member and the key: ``where`` is the entry's config path (``zoos.mine.members.3``, the key appended as
    ``.weights``) or a function of the key (empty for the entry itself) that says it, e.g. a sheet's
    ``members.tsv:4:3: weights``. Checked: unknown keys for the kind, no or several kind keys, a builder that is
    not ``module:callable`` or whose module cannot be found, a missing weights file, folder or package,
    a pooling or layer the kind does not take, a family the modality has no tiny build of.
    """
    at = where if callable(where) else lambda key="": f"{where}.{key}" if key else where
    if not isinstance(entry, Mapping):
        raise TaskspaceError(f"{at()}: a member entry is a mapping of keys, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise TaskspaceError(f"{at('name')}: a member needs a non-empty name")
    kind = member_kind(entry, modality, at())
    if kind == "builder" and modality == "text":
        raise TaskspaceError(f"{at('builder')}: member {name!r}: builder members read images; this zoo is input: text")
    allowed = KEYS[kind, modality]
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise TaskspaceError(
            f"{at(unknown[0])}: member {name!r}: unknown key for a {kind} member of an {modality} zoo "
            f"(allowed: {', '.join(sorted(allowed))})"
        )

    def bad(key: str, message: str) -> TaskspaceError:
        return TaskspaceError(f"{at(key)}: member {name!r}: {message}")

    for key in ("trust_remote_code", "head"):
        if key in entry and not isinstance(entry[key], bool):
            raise bad(key, f"must be true or false, got {entry[key]!r}")
    for key in ("max_length", "resize", "crop", "width", "seed"):
        value = entry.get(key)
        low = 2 if key == "max_length" else 0 if key == "seed" else 1
        if key in entry and (isinstance(value, bool) or not isinstance(value, int) or value < low):
            raise bad(key, f"must be an integer >= {low}, got {value!r}")
    if "revision" in entry and not isinstance(entry["revision"], str):
        raise bad("revision", f"must be a string, got {entry['revision']!r}")
    family = entry.get("build")
    if kind == "build":
        families = TEXT_FAMILIES if modality == "text" else IMAGE_FAMILIES
        if family not in families:
            raise bad("build", f"{family!r} is not a tiny {modality} family ({', '.join(families)})")
    # A builder reads a node name; hf members and the tiny builds that become hf members a hidden state index.
    node_layer = kind == "builder" or family == "cnn"
    _check_layer(entry, node_layer, bad)
    _check_pooling(entry, modality, node_layer, bad)
    if kind == "hf":
        _check_source(entry, bad)
    elif kind == "builder":
        _check_builder(entry, bad)
    elif kind == "features":
        folder = entry["features"]
        if not isinstance(folder, str) or not Path(folder).expanduser().is_dir():
            raise bad("features", f"folder {folder!r} not found")
    return kind


def pass_key(entry: Mapping[str, Any]) -> str:
    """What members of one pass share: the entry without name, layer and pooling, as canonical JSON."""
    return entry_json(entry, PER_MEMBER)


def group_passes(entries: Iterable[Mapping[str, Any]]) -> dict[str, list[dict]]:
    """Members grouped into passes, in entry order: pass name (its first member's name) -> its entries.

    Entries equal but for name, layer and pooling are one checkpoint read at several depths or poolings:
    one load and one forward pass per batch for all of them.
    """
    passes: dict[str, list[dict]] = {}
    first_of: dict[str, str] = {}
    for entry in entries:
        key = pass_key(entry)
        first_of.setdefault(key, entry["name"])
        passes.setdefault(first_of[key], []).append(dict(entry))
    return passes


def resolve_path(value: str, name: str, key: str) -> Path:
    """A file named in an entry: a path (``~`` expanded, relative to the working directory) or
    ``package:NAME/PATH``, a file inside an installed Python package (found without importing it)."""
    if not value.startswith(PACKAGE_PREFIX):
        return Path(value).expanduser()
    package, _, inner = value[len(PACKAGE_PREFIX) :].partition("/")
    found = importlib.util.find_spec(package) if package.isidentifier() else None
    if found is None or not found.submodule_search_locations:
        raise TaskspaceError(f"member {name}: Python package {package!r} of {key} {value} is not installed")
    return Path(list(found.submodule_search_locations)[0]) / inner


def split_builder(builder: str) -> tuple[str, list[str]]:
    """``module:attr.attr`` -> (module, [attr, attr]): the part after the colon may reach into a class
    (``efficientnet_lite_pytorch:EfficientNet.from_name``)."""
    module, _, attrs = builder.partition(":")
    return module, attrs.split(".")


def working_directory_importable() -> None:
    """The user's own builder modules sit in the working directory (the workflow's): make them importable,
    after everything installed (an installed package of the same name wins)."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


# --- pieces of check_entry -----------------------------------------------------------------------------------


def _check_layer(entry, node_layer: bool, bad) -> None:
    if "layer" not in entry:
        return
    layer = entry["layer"]
    if node_layer:
        if not isinstance(layer, str) or not layer:
            raise bad("layer", f"a builder's layer is a node name (e.g. layer4 or _blocks.10.add), got {layer!r}")
    elif isinstance(layer, bool) or not isinstance(layer, int):
        raise bad("layer", f"must be a hidden state index (0 = embeddings, negative from the top), got {layer!r}")


def _check_pooling(entry, modality: str, node_layer: bool, bad) -> None:
    if "pooling" not in entry:
        return
    if node_layer:
        raise bad("pooling", "a builder's features are pooled as they come (4-D maps averaged): no pooling key")
    poolings = TEXT_POOLINGS if modality == "text" else IMAGE_POOLINGS
    if entry["pooling"] not in poolings:
        raise bad("pooling", f"{entry['pooling']!r} is not one of {', '.join(poolings)} (input: {modality})")


def _check_source(entry, bad) -> None:
    source = entry["source"]
    if not isinstance(source, str) or not source:
        raise bad("source", f"must be a hub id, a local folder or package:NAME/FOLDER, got {source!r}")
    try:  # the LM track's check: an installed package, a folder with a config and weights
        _local_folder(MemberSpec(entry["name"], source))
    except TaskspaceError as error:
        raise bad("source", str(error).split(": ", 1)[-1]) from None


def _check_builder(entry, bad) -> None:
    builder = entry["builder"]
    if not isinstance(builder, str) or not BUILDER.fullmatch(builder):
        raise bad(
            "builder",
            f"{builder!r} is not module:callable (e.g. torchvision.models:resnet18 or "
            "efficientnet_lite_pytorch:EfficientNet.from_name)",
        )
    module, _ = split_builder(builder)
    top = module.split(".")[0]
    working_directory_importable()
    if importlib.util.find_spec(top) is None:
        raise bad("builder", f"module {module!r} cannot be imported (not installed, nor in the working directory)")
    kwargs = entry.get("kwargs", {})
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise bad("kwargs", f"must be a mapping of keyword arguments, got {kwargs!r}")
    weights = entry.get("weights")
    if not isinstance(weights, str) or not weights:
        raise bad("weights", "a builder member needs weights: a safetensors file or a torch state dict")
    try:
        path = resolve_path(weights, entry["name"], "weights")
    except TaskspaceError as error:
        raise bad("weights", str(error).split(": ", 1)[-1]) from None
    if not path.is_file():
        raise bad("weights", f"file {weights} not found" + (f" ({path})" if str(path) != weights else ""))
    for key in ("mean", "std"):
        values = entry.get(key)
        if key in entry and (
            not isinstance(values, list)
            or len(values) not in (1, 3)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            or (key == "std" and min(values) <= 0)
        ):
            raise bad(key, f"must be a list of 3 numbers{' above 0' if key == 'std' else ''}, got {values!r}")

"""Config loading and validation: the JSON schema in configs/schema.yaml plus checks a schema cannot express.

Errors are one line naming the key (``given.paper-lm.selection.k_max``) and what is allowed.
"""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

from .errors import TaskspaceError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "configs" / "schema.yaml"
REPO_CONFIGS = [REPO / "config.yaml"] + sorted(p for p in (REPO / "configs").glob("*.yaml") if p != SCHEMA)


def load_schema(path=SCHEMA) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _resolve(root: dict, subschema: dict) -> dict:
    """Follow local references (``#/$defs/name``) to the schema they name."""
    while "$ref" in subschema:
        target = root
        for part in subschema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        subschema = target
    return subschema


def _validator(root: dict):
    """A validator that fills each property's ``default`` before checking it (the jsonschema FAQ recipe)."""
    base = jsonschema.Draft202012Validator
    check_properties = base.VALIDATORS["properties"]

    def properties(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                subschema = _resolve(root, subschema)
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": properties})(root)


def _key(path) -> str:
    return ".".join(str(part) for part in path) or "config"


def _message(error: jsonschema.ValidationError) -> str:
    where = _key(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"{where}: unknown key {', '.join(repr(e) for e in extra)}{hint}"
    if error.validator in ("propertyNames", "pattern"):
        bad = error.context[0].instance if error.context else error.instance
        return f"{where}: {bad!r} is not a safe name (letters, digits, '.', '_', '-'; starting with a letter or digit)"
    if error.validator == "enum":
        return f"{where}: {error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "type":
        return f"{where}: expected {error.validator_value}, got {error.instance!r}"
    return f"{where}: {error.message}"


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Return a copy of the config with defaults filled in, or raise naming the first bad key."""
    config = copy.deepcopy(config if config is not None else {})
    if not isinstance(config, dict):
        raise TaskspaceError(f"config: expected a mapping of keys to values, got {type(config).__name__}")
    validator = _validator(schema or load_schema())
    errors = list(validator.iter_errors(config))
    if errors:
        shallowest = min(errors, key=lambda e: len(e.absolute_path))
        raise TaskspaceError(_message(shallowest))
    return config


def load_config(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise TaskspaceError(f"{path}: config file not found")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise TaskspaceError(f"{path}{line}: not valid YAML: {getattr(error, 'problem', error)}") from None
    return validate_config(config or {})

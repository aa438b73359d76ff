"""Config loading and validation: the JSON schema in config_schema.yaml (package data) plus checks a schema
cannot express.

Errors are one line naming the key (``given.paper-lm.selection.k_max``) and what is allowed.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import jsonschema
import yaml

from .errors import TaskspaceError
from .sections import dataclass_from_mapping  # noqa: F401  (importable from here as before)

SCHEMA = Path(__file__).with_name("config_schema.yaml")


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
    sheets = _expand_member_sheets(config)
    validator = _validator(schema or load_schema())
    errors = list(validator.iter_errors(config))
    if errors:
        shallowest = min(errors, key=lambda e: len(e.absolute_path))
        raise TaskspaceError(_message(shallowest))
    _check_lm(config.get("lm"))
    if config.get("lm"):
        _fill_paper_protocol(config["lm"]["evaluation"], "lm")
        _check_evaluation("lm.evaluation", config["lm"]["evaluation"], "lm")
    for name, experiment in config.get("vision", {}).get("experiments", {}).items():
        _check_vision(name, experiment, config["seed"])
        _fill_paper_protocol(experiment["evaluation"], "vision")
        _check_evaluation(f"vision.experiments.{name}.evaluation", experiment["evaluation"], "vision")
    if config.get("zoos"):
        from .zoo.config import check_zoos

        check_zoos(config["zoos"])
    if sheets:
        from .sheets import plain_member_lists

        plain_member_lists(config)
    return config


def _expand_member_sheets(config: dict) -> bool:
    """Member sheets (``members: sheet.tsv``) become lists of entries (``sheets.MemberSheet``, which the entry
    checks name by line) before the schema checks them; whether there were any."""
    if any(
        isinstance(zoo, dict) and isinstance(zoo.get("members"), str) for zoo in (config.get("zoos") or {}).values()
    ) or (isinstance(config.get("lm"), dict) and isinstance(config["lm"].get("members"), str)):
        from .sheets import expand_member_sheets

        expanded = expand_member_sheets(config)
        if expanded is not None:
            config.update(expanded)
            return True
    return False


# The paper's head settings, the defaults of the `paper` protocol (baidu-research/task_space; each value's
# file is in docs/paper-fidelity.md): vision/admin_trains_classification_head.py with run_picks_by_*.sh,
# LMs/probe_tasks/train.py with get_best_test_metric.sh.
PAPER_PROTOCOL = {
    "vision": {
        "heads": {
            "optimizer": "sgd",
            "lr": 0.1,
            "momentum": 0.0,
            "milestones": [5, 20],
            "gamma": 0.1,
            "batch_size": 128,
            "epochs": 1500,
            "eval_every": 1,
            "standardize": "none",
            "init": "default",
            "select_on": "test",
        },
        "method_epochs": {"mmi": 2000},
    },
    "lm": {
        "heads": {
            "optimizer": "adam",
            "lr": 1e-3,
            "epochs": 40,
            "batch_unit": "groups",
            "batch_size": 64,
            "eval_every": 1,
            "standardize": "none",
            "init": "default",
            "select_on": "dev",
        },
        "method_epochs": {},
    },
}


def _fill_paper_protocol(evaluation: dict, track: str) -> None:
    """The paper protocol's keys that the config leaves out take the paper's values."""
    paper = evaluation["paper"]
    paper["heads"] = {**PAPER_PROTOCOL[track]["heads"], **paper.get("heads", {})}
    paper["method_epochs"] = {**PAPER_PROTOCOL[track]["method_epochs"], **paper.get("method_epochs", {})}


# The methods whose heads a track trains besides its rankers' top k (taskspace.selection.head_subsets): the
# selection table's mmi and random, the task-aware mmi-task order, every member alone; vision adds peek.
HEAD_METHODS = {
    "lm": ("mmi", "mmi-task", "random", "single"),
    "vision": ("mmi", "mmi-task", "random", "peek", "single"),
}


def _check_evaluation(where: str, evaluation: dict, track: str) -> None:
    """Each protocol's heads through HeadConfig's own checks, its per-method epochs, and milestones that some
    head reaches: here, before any job, rather than in a heads job after feature extraction."""
    from .heads.types import HeadConfig

    methods = (*HEAD_METHODS[track], *evaluation["rankers"])
    for protocol in ("validated", "paper"):
        section = evaluation.get(protocol, {})
        heads = HeadConfig.from_mapping(section.get("heads", {}), where=f"{where}.{protocol}.heads")
        method_epochs = section.get("method_epochs", {})
        for method in method_epochs:
            if method not in methods:
                raise TaskspaceError(
                    f"{where}.{protocol}.method_epochs: {method!r} is not one of the methods whose heads the "
                    f"{track} track trains ({', '.join(methods)})"
                )
        longest = max([heads.epochs, *method_epochs.values()])
        unreached = [m for m in heads.milestones if m > longest]
        if unreached:
            raise TaskspaceError(
                f"{where}.{protocol}.heads.milestones: {unreached[0]} is beyond the last epoch any head trains "
                f"({longest}: heads.epochs{' and method_epochs' if method_epochs else ''})"
            )


# --- what a JSON schema cannot express -----------------------------------------------------------------

# Task formats whose train/dev/test files the workflow makes from the demo text (rules/common.smk).
DEMO_FORMATS = ("bigram_shift", "word_replacement")
SPLITS = ("train", "dev", "test")
# The dataset name that every member's probe-text features use: a task of that name would share its file.
PROBE_DATASET = "probe"
# Classes of the vision datasets (fixed by the datasets themselves, so known without reading them).
DATASET_CLASSES = {"digits": 10, "cifar100": 100}


def _check_lm(lm) -> None:
    if not lm:
        return
    from .sheets import where_of_member

    members = lm["members"]
    seen: dict[str, int] = {}
    for i, entry in enumerate(members):
        where, name = where_of_member(members, i, prefix="lm.members"), entry["name"]
        has = [key for key in ("source", "build") if key in entry]
        if len(has) != 1:
            got = "both" if has else "neither"
            raise TaskspaceError(
                f"{where}: member {name!r} needs exactly one of 'source' (hub id, local folder or "
                f"package:NAME/FOLDER) and 'build' (a family built here), got {got}"
            )
        if "seed" in entry and "build" not in entry:
            seed = where_of_member(members, i, "seed", "lm.members")
            raise TaskspaceError(f"{seed}: member {name!r}: seed only applies to built members (build: FAMILY)")
        folded = name.lower()
        if folded in seen:
            first = members[seen[folded]]["name"]
            same = "is used twice" if first == name else f"differs from {first!r} only in case (one folder on macOS)"
            at, earlier = where_of_member(members, i, "name", "lm.members"), where_of_member(members, seen[folded])
            raise TaskspaceError(f"{at}: member name {name!r} {same} ({earlier})")
        seen[folded] = i
    names = [entry["name"] for entry in members]
    k_max = lm["selection"]["k_max"]
    if k_max > len(names):
        raise TaskspaceError(f"lm.selection.k_max: {k_max} is more than the {len(names)} members of lm.members")
    for baseline in lm["baselines"]:
        if baseline not in names:
            raise TaskspaceError(f"lm.baselines: {baseline!r} is not one of the members ({', '.join(names)})")
    for task, entry in lm["tasks"].items():
        where = f"lm.tasks.{task}"
        if task == PROBE_DATASET:
            raise TaskspaceError(
                f"{where}: the name {task!r} is taken by the probe text's features "
                f"(results/lm/features/<member>/probe.h5); rename the task"
            )
        given = [part for part in SPLITS if part in entry]
        if entry["format"] in DEMO_FORMATS and given:
            raise TaskspaceError(
                f"{where}.{given[0]}: format {entry['format']} makes its own train/dev/test from the demo text; "
                f"remove {', '.join(given)}"
            )
        missing = [part for part in SPLITS if part not in entry]
        if entry["format"] not in DEMO_FORMATS and missing:
            raise TaskspaceError(
                f"{where}: format {entry['format']} needs train, dev and test files (missing: {', '.join(missing)})"
            )
    probe = lm["probe"]
    cap = probe["max_sentences"]
    for n in probe["convergence"]:
        if cap is not None and n > cap:
            raise TaskspaceError(f"lm.probe.convergence: {n} sentences is more than max_sentences ({cap})")


def _check_vision(name: str, experiment: dict, seed: int) -> None:
    from .vision.split import SplitConfig
    from .vision.train_config import TrainConfig

    where = f"vision.experiments.{name}"
    dataset = experiment["dataset"]
    if dataset["name"] == "cifar100" and not dataset["root"]:
        raise TaskspaceError(
            f"{where}.dataset.root: cifar100 needs the folder that holds (or, with download: true, will "
            f"receive) cifar-100-python/"
        )
    split = SplitConfig.from_mapping({"seed": seed, **experiment["split"]}, where=f"{where}.split.")
    # The agent job's own check (scripts/vision_agent.py builds this TrainConfig), made before any job runs.
    TrainConfig.from_mapping({"seed": seed, **experiment["agents"]}, where=f"{where}.agents.")
    classes = DATASET_CLASSES[dataset["name"]]
    of = f"the {classes} classes of {dataset['name']}"
    admin_pool = agent_pool = classes
    if split.disjoint_pools:
        agent_pool = split.agent_pool_classes if split.agent_pool_classes is not None else classes // 2
        if not 1 <= agent_pool < classes:
            raise TaskspaceError(
                f"{where}.split.agent_pool_classes: {agent_pool} leaves no classes for one of the pools "
                f"({dataset['name']} has {classes} classes)"
            )
        admin_pool = classes - agent_pool
        of = "the {} classes of the {} pool"
    for key, size, pool, kind in (
        ("task_classes", split.task_classes, admin_pool, "admin"),
        ("agent_classes", split.agent_classes, agent_pool, "agent"),
    ):
        if size > pool:
            raise TaskspaceError(f"{where}.split.{key}: {size} is more than {of.format(pool, kind)}")
    # Distinct class sets: agents never repeat an admin task's classes when the pools are shared.
    task_sets = math.comb(admin_pool, split.task_classes)
    if split.tasks > task_sets:
        raise TaskspaceError(
            f"{where}.split.tasks: {split.tasks} distinct sets of {split.task_classes} classes asked for, "
            f"but only {task_sets} exist among {admin_pool} classes"
        )
    taken = split.tasks if not split.disjoint_pools and split.task_classes == split.agent_classes else 0
    agent_sets = math.comb(agent_pool, split.agent_classes) - taken
    if split.agents > agent_sets:
        extra = f" ({taken} of them are admin tasks)" if taken else ""
        raise TaskspaceError(
            f"{where}.split.agents: {split.agents} distinct sets of {split.agent_classes} classes asked for, "
            f"but only {agent_sets} exist among {agent_pool} classes{extra}"
        )
    k_max = experiment["selection"]["k_max"]
    if k_max > split.agents:
        raise TaskspaceError(f"{where}.selection.k_max: {k_max} is more than the {split.agents} agents (split.agents)")
    evaluation = experiment["evaluation"]
    if evaluation["peek_task"] >= split.tasks:
        raise TaskspaceError(
            f"{where}.evaluation.peek_task: {evaluation['peek_task']} is not a task index "
            f"(split.tasks is {split.tasks}: 0 to {split.tasks - 1})"
        )
    held_out = evaluation["validated"]["val_per_class"]
    if "validated" in evaluation["protocols"] and held_out >= split.admin_train_per_class:
        raise TaskspaceError(
            f"{where}.evaluation.validated.val_per_class: {held_out} leaves no training image of the "
            f"{split.admin_train_per_class} per class (split.admin_train_per_class)"
        )


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

"""Who sees which images: the probe set, the admin's tasks, and the agents' class subsets (one JSON file).

The paper's Section 5.2 setting. From the train pool of a dataset:

* **probe**: P images of every class; the agents embed them (and rotated copies) to build kappa. Their
  labels are never stored here, so no later stage can use them.
* **admin train**: S images of every class of the admin pool, the few labelled images of the new tasks.
* **agent training images**: the rest of the train pool of each agent-pool class (optionally capped).

No train-pool image has two of these roles. The test pool gives the admin's test images (per admin class)
and each agent's held-out images (per agent class). T admin tasks are distinct N-class subsets of the admin
pool; K agents are distinct C-class subsets of the agent pool, none equal to an admin task. The agent and
admin class pools are the same classes unless ``disjoint_pools`` splits the classes between them.

Everything is drawn from one seeded generator: the same config and data give the same file.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError
from ..sections import Section
from .data import ImageDataset

FORMAT = "taskspace-vision-split"
FORMAT_VERSION = 1
# Up to this many candidate subsets are enumerated and sampled without replacement (exact, no retries);
# beyond it subsets are drawn at random and repeats rejected, which is fast because repeats are then rare.
ENUMERATE_LIMIT = 200_000


@dataclass(frozen=True)
class SplitConfig(Section):
    """The split's config keys; the paper's letters in brackets."""

    probe_per_class: int = 10  # P
    admin_train_per_class: int = 10  # S
    tasks: int = 20  # T
    task_classes: int = 30  # N
    agents: int = 100  # K
    agent_classes: int = 30  # C
    admin_test_per_class: int | None = None  # None: every test image of the class
    agent_train_per_class: int | None = None  # None: the rest of the train pool of the class
    disjoint_pools: bool = False
    agent_pool_classes: int | None = None  # with disjoint_pools; None: half of the classes
    seed: int = 0

    SECTION = "split"

    def validate(self, where: str = "") -> None:
        """Types and lower bounds; bounds that depend on the data are checked by ``make_split``."""
        minimum = {
            "probe_per_class": 1,
            "admin_train_per_class": 1,
            "tasks": 1,
            "task_classes": 2,
            "agents": 1,
            "agent_classes": 2,
            "admin_test_per_class": 1,
            "agent_train_per_class": 1,
            "agent_pool_classes": 1,
            "seed": 0,
        }
        for key, low in minimum.items():
            value = getattr(self, key)
            if value is None and key in ("admin_test_per_class", "agent_train_per_class", "agent_pool_classes"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TaskspaceError(f"{where}{key}: {value!r} is not an integer")
            if value < low:
                raise TaskspaceError(f"{where}{key}: {value} is below the minimum {low}")
        if not isinstance(self.disjoint_pools, bool):
            raise TaskspaceError(f"{where}disjoint_pools: {self.disjoint_pools!r} is not true or false")
        if self.agent_pool_classes is not None and not self.disjoint_pools:
            raise TaskspaceError(f"{where}agent_pool_classes: only applies with disjoint_pools: true")


class Split:
    """A loaded or freshly made split. ``content`` is exactly what the JSON file holds."""

    def __init__(self, content: dict):
        self.content = content

    # --- identity -------------------------------------------------------------------------------
    @property
    def hash(self) -> str:
        """Hash of the content: feature files record it, so features of another split are refused."""
        return content_hash(self.content)

    @property
    def dataset(self) -> str:
        return self.content["dataset"]

    def check_dataset(self, data: ImageDataset, path="split") -> None:
        if data.name != self.content["dataset"] or data.fingerprint() != self.content["dataset_fingerprint"]:
            raise TaskspaceError(
                f"{path}: made for other data ({self.content['dataset']} {self.content['dataset_fingerprint']}, "
                f"now {data.name} {data.fingerprint()}); delete it and rerun"
            )

    # --- roles ------------------------------------------------------------------------------------
    @property
    def probe_ids(self) -> np.ndarray:
        return np.asarray(self.content["probe"], dtype=np.int64)

    def admin_ids(self, part: str) -> tuple[np.ndarray, np.ndarray]:
        """(image ids, dataset labels) of every admin image of ``part`` (``train`` or ``test``)."""
        entry = self.content[_admin_key(part)]
        return np.asarray(entry["ids"], dtype=np.int64), np.asarray(entry["labels"], dtype=np.int64)

    @property
    def task_names(self) -> list[str]:
        return [task["name"] for task in self.content["tasks"]]

    @property
    def agent_names(self) -> list[str]:
        return [agent["name"] for agent in self.content["agents"]]

    def task_classes(self, task: str | int) -> list[int]:
        return list(self._find("tasks", task)["classes"])

    def agent_classes(self, agent: str | int) -> list[int]:
        return list(self._find("agents", agent)["classes"])

    def task_data(self, task: str | int, part: str) -> tuple[np.ndarray, np.ndarray]:
        """(image ids, task labels 0..N-1 in the order of the task's classes) of one admin task."""
        classes = self.task_classes(task)
        ids, labels = self.admin_ids(part)
        keep = np.isin(labels, classes)
        return ids[keep], np.searchsorted(np.asarray(classes), labels[keep])

    def agent_ids(self, agent: str | int, part: str) -> np.ndarray:
        """Sorted image ids an agent trains on (``train``) or is scored on (``test``, from the test pool)."""
        key = {"train": "agent_train_by_class", "test": "agent_test_by_class"}.get(part)
        if key is None:
            raise TaskspaceError(f"agent image part {part!r} is not one of train, test")
        by_class = self.content[key]
        return np.sort(np.concatenate([np.asarray(by_class[c], dtype=np.int64) for c in self.agent_classes(agent)]))

    def _find(self, kind: str, which: str | int) -> dict:
        entries = self.content[kind]
        if isinstance(which, (int, np.integer)) and not isinstance(which, bool):
            if not 0 <= which < len(entries):
                raise TaskspaceError(f"split has no {kind[:-1]} number {which} (it has {len(entries)})")
            return entries[which]
        for entry in entries:
            if entry["name"] == which:
                return entry
        raise TaskspaceError(f"split has no {kind[:-1]} named {which!r}")

    # --- file -------------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write atomically (temporary name, then rename): a killed job leaves no half-written split."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        document = dict(self.content, hash=self.hash)
        tmp.write_text(json.dumps(document, sort_keys=True) + "\n")
        os.replace(tmp, path)


def agent_names(count: int) -> list[str]:
    """agent000, agent001, ...: known from the config alone, so the workflow names jobs without the split."""
    digits = max(3, len(str(count - 1)))
    return [f"agent{i:0{digits}d}" for i in range(count)]


def task_names(count: int) -> list[str]:
    digits = max(2, len(str(count - 1)))
    return [f"task{i:0{digits}d}" for i in range(count)]


def load_split(path) -> Split:
    path = Path(path)
    if not path.is_file():
        raise TaskspaceError(f"{path}: split file not found")
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise TaskspaceError(f"{path}: not a readable split file ({error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise TaskspaceError(f"{path}: not a taskspace vision split file")
    stored = document.pop("hash", None)
    split = Split(document)
    if stored != split.hash:
        raise TaskspaceError(f"{path}: content does not match its hash (edited by hand?); delete it and rerun")
    return split


def content_hash(content: Mapping) -> str:
    canonical = json.dumps({k: v for k, v in content.items() if k != "hash"}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def make_split(data: ImageDataset, config: SplitConfig, where: str = "") -> Split:
    """Draw the split of ``data``. Values the data cannot satisfy raise an error naming the config key.

    One generator, in a fixed order: class pools, tasks, agents, then images class by class (train pool, then
    test pool). Every check comes before the first image is drawn, so the error names the key at fault.
    """
    config.validate(where)
    rng = np.random.default_rng(config.seed)
    # Class pools first: they decide which classes tasks, agents and admin images may come from.
    agent_pool, admin_pool = _class_pools(rng, data, config, where)
    classes = np.arange(data.num_classes)
    is_admin, is_agent = np.isin(classes, admin_pool), np.isin(classes, agent_pool)
    _check_image_counts(data, config, is_admin, is_agent, where)
    _check_pool_sizes(config, len(admin_pool), len(agent_pool), where)
    tasks = _distinct_subsets(rng, admin_pool, config.task_classes, config.tasks, set(), f"{where}tasks")
    agents = _distinct_subsets(rng, agent_pool, config.agent_classes, config.agents, set(tasks), f"{where}agents")
    train_roles = _train_pool_roles(rng, data, config, is_admin, is_agent)
    test_roles = _test_pool_roles(rng, data, config, is_admin, is_agent)
    content = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dataset": data.name,
        "dataset_fingerprint": data.fingerprint(),
        "class_names": list(data.class_names),
        "config": asdict(config),
        "agent_pool": [int(c) for c in agent_pool],
        "admin_pool": [int(c) for c in admin_pool],
        "probe": train_roles["probe"],
        "admin_train": train_roles["admin_train"],
        "admin_test": test_roles["admin_test"],
        "tasks": [{"name": name, "classes": list(s)} for name, s in zip(task_names(len(tasks)), tasks)],
        "agents": [{"name": name, "classes": list(s)} for name, s in zip(agent_names(len(agents)), agents)],
        "agent_train_by_class": train_roles["agent_train_by_class"],
        "agent_test_by_class": test_roles["agent_test_by_class"],
    }
    return Split(content)


def _class_pools(rng, data: ImageDataset, config: SplitConfig, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(agent pool, admin pool): every class in both, or with ``disjoint_pools`` a seeded partition of them."""
    n_classes = data.num_classes
    classes = np.arange(n_classes)
    if not config.disjoint_pools:
        return classes, classes
    n_agent = config.agent_pool_classes if config.agent_pool_classes is not None else n_classes // 2
    if not 1 <= n_agent < n_classes:
        raise TaskspaceError(
            f"{where}agent_pool_classes: {n_agent} leaves no classes for one of the pools "
            f"({data.name} has {n_classes} classes)"
        )
    order = rng.permutation(classes)
    return np.sort(order[:n_agent]), np.sort(order[n_agent:])


def _check_image_counts(data: ImageDataset, config: SplitConfig, is_admin, is_agent, where: str) -> None:
    """Images per class the roles need against those the data has, for the smallest class of each pool."""
    train_counts = np.bincount(data.train.labels, minlength=data.num_classes)
    test_counts = np.bincount(data.test.labels, minlength=data.num_classes)
    P, S = config.probe_per_class, config.admin_train_per_class
    fewest = int(train_counts.min())
    if P > fewest:
        raise TaskspaceError(
            f"{where}probe_per_class: {P} is more than the {fewest} train images of the smallest {data.name} class"
        )
    # With shared pools an admin class is also an agent class and must keep at least one training image.
    agent_image = 0 if config.disjoint_pools else 1
    fewest_admin = int(train_counts[is_admin].min())
    if P + S + agent_image > fewest_admin:
        raise TaskspaceError(
            f"{where}admin_train_per_class: {S} (+ probe_per_class {P}{' + 1 agent image' if agent_image else ''}) "
            f"is more than the {fewest_admin} train images of the smallest admin class of {data.name}"
        )
    if config.disjoint_pools and P + 1 > int(train_counts[is_agent].min()):
        raise TaskspaceError(
            f"{where}probe_per_class: {P} leaves no training images for the smallest agent class of {data.name}"
        )
    if config.admin_test_per_class is not None and config.admin_test_per_class > int(test_counts[is_admin].min()):
        raise TaskspaceError(
            f"{where}admin_test_per_class: {config.admin_test_per_class} is more than the "
            f"{int(test_counts[is_admin].min())} test images of the smallest admin class of {data.name}"
        )


def _check_pool_sizes(config: SplitConfig, n_admin: int, n_agent: int, where: str) -> None:
    """A task or an agent cannot have more classes than its pool."""
    if config.task_classes > n_admin:
        raise TaskspaceError(
            f"{where}task_classes: {config.task_classes} is more than the {n_admin} classes of the admin pool"
        )
    if config.agent_classes > n_agent:
        raise TaskspaceError(
            f"{where}agent_classes: {config.agent_classes} is more than the {n_agent} classes of the agent pool"
        )


def _train_pool_roles(rng, data: ImageDataset, config: SplitConfig, is_admin, is_agent) -> dict:
    """Per class, one seeded shuffle of the train pool, cut into probe | admin train | agent training images."""
    P, S = config.probe_per_class, config.admin_train_per_class
    probe, admin_train, admin_train_labels = [], [], []
    agent_train_by_class: list[list[int]] = [[] for _ in range(data.num_classes)]
    for c in range(data.num_classes):
        ids = rng.permutation(np.flatnonzero(data.train.labels == c))
        probe.extend(ids[:P].tolist())
        rest = ids[P:]
        if is_admin[c]:
            admin_train.extend(rest[:S].tolist())
            admin_train_labels.extend([int(c)] * S)
            rest = rest[S:]
        if is_agent[c]:
            cap = config.agent_train_per_class
            agent_train_by_class[c] = sorted((rest if cap is None else rest[:cap]).tolist())
    return {
        "probe": sorted(int(i) for i in probe),  # sorted: the order says nothing about the labels
        "admin_train": _parallel(admin_train, admin_train_labels),
        "agent_train_by_class": agent_train_by_class,
    }


def _test_pool_roles(rng, data: ImageDataset, config: SplitConfig, is_admin, is_agent) -> dict:
    """Per class, the admin's test images (all, or a seeded ``admin_test_per_class``) and the agents' held-out ones."""
    admin_test, admin_test_labels = [], []
    agent_test_by_class: list[list[int]] = [[] for _ in range(data.num_classes)]
    for c in range(data.num_classes):
        ids = np.flatnonzero(data.test.labels == c)
        if is_admin[c]:
            cap = config.admin_test_per_class
            chosen = np.sort(ids if cap is None else rng.permutation(ids)[:cap])
            admin_test.extend(chosen.tolist())
            admin_test_labels.extend([int(c)] * len(chosen))
        if is_agent[c]:
            agent_test_by_class[c] = ids.tolist()
    return {"admin_test": _parallel(admin_test, admin_test_labels), "agent_test_by_class": agent_test_by_class}


def _distinct_subsets(rng, pool, size: int, count: int, exclude: set, key: str) -> list[tuple[int, ...]]:
    """``count`` distinct sorted ``size``-subsets of ``pool``, none in ``exclude``, in draw order."""
    pool = [int(c) for c in pool]
    excluded = {s for s in exclude if len(s) == size and set(s) <= set(pool)}
    total = math.comb(len(pool), size)
    if count > total - len(excluded):
        extra = f" ({len(excluded)} of them are admin tasks)" if excluded else ""
        raise TaskspaceError(
            f"{key}: {count} distinct sets of {size} classes asked for, but only {total - len(excluded)} exist "
            f"among {len(pool)} classes{extra}"
        )
    if total <= ENUMERATE_LIMIT:
        candidates = [s for s in itertools.combinations(pool, size) if s not in excluded]
        return [candidates[i] for i in rng.choice(len(candidates), size=count, replace=False)]
    chosen: list[tuple[int, ...]] = []
    seen = set(excluded)
    while len(chosen) < count:
        subset = tuple(sorted(int(c) for c in rng.choice(pool, size=size, replace=False)))
        if subset not in seen:
            seen.add(subset)
            chosen.append(subset)
    return chosen


def _parallel(ids: list[int], labels: list[int]) -> dict:
    order = np.argsort(ids, kind="stable")
    return {"ids": [int(ids[i]) for i in order], "labels": [int(labels[i]) for i in order]}


def _admin_key(part: str) -> str:
    if part not in ("train", "test"):
        raise TaskspaceError(f"admin image part {part!r} is not one of train, test")
    return f"admin_{part}"

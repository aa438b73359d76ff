"""Split invariants: no image in two roles, distinct class sets, counts, seeded reproducibility, key-naming errors."""

import json
import math
from dataclasses import replace
from itertools import combinations

import numpy as np
import pytest

from taskspace.errors import TaskspaceError
from taskspace.vision.data import load_digits
from taskspace.vision.split import SplitConfig, load_split, make_split

CONFIG = SplitConfig(
    probe_per_class=3,
    admin_train_per_class=4,
    admin_test_per_class=10,
    tasks=5,
    task_classes=4,
    agents=12,
    agent_classes=3,
    seed=7,
)


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


@pytest.fixture(scope="module")
def split(digits):
    return make_split(digits, CONFIG)


def train_roles(split):
    probe = set(split.probe_ids.tolist())
    admin = set(split.admin_ids("train")[0].tolist())
    agent = set()
    for name in split.agent_names:
        agent |= set(split.agent_ids(name, "train").tolist())
    return probe, admin, agent


def test_no_train_image_has_two_roles(split):
    probe, admin, agent = train_roles(split)
    assert not probe & admin and not probe & agent and not admin & agent


def test_counts(digits, split):
    labels = digits.train.labels
    probe, admin, agent = train_roles(split)
    assert np.array_equal(np.bincount(labels[sorted(probe)], minlength=10), np.full(10, 3))
    ids, admin_labels = split.admin_ids("train")
    assert np.array_equal(np.bincount(admin_labels, minlength=10), np.full(10, 4))
    assert np.array_equal(labels[ids], admin_labels)
    test_ids, test_labels = split.admin_ids("test")
    assert np.array_equal(np.bincount(test_labels, minlength=10), np.full(10, 10))
    assert np.array_equal(digits.test.labels[test_ids], test_labels)
    # The agents' images are the whole rest of the train pool (every class is some agent's class here).
    assert len(probe) + len(admin) + len(agent) == len(digits.train)
    assert len(split.task_names) == 5 and len(split.agent_names) == 12


def test_agent_images_are_its_classes(digits, split):
    for name in split.agent_names:
        classes = split.agent_classes(name)
        train = split.agent_ids(name, "train")
        assert set(digits.train.labels[train]) == set(classes)
        counts = np.bincount(digits.train.labels, minlength=10)
        assert len(train) == sum(counts[c] - 3 - 4 for c in classes)
        test = split.agent_ids(name, "test")
        assert np.array_equal(np.sort(test), np.flatnonzero(np.isin(digits.test.labels, classes)))


def test_class_sets_are_distinct_and_no_agent_is_a_task(split):
    tasks = [tuple(split.task_classes(t)) for t in split.task_names]
    agents = [tuple(split.agent_classes(a)) for a in split.agent_names]
    assert all(len(t) == 4 and list(t) == sorted(set(t)) for t in tasks)
    assert all(len(a) == 3 and list(a) == sorted(set(a)) for a in agents)
    assert len(set(tasks)) == len(tasks) and len(set(agents)) == len(agents)
    assert not set(tasks) & set(agents)


def test_agents_avoid_tasks_when_sizes_match(digits):
    # N = C = 2: 45 pairs, 5 are tasks, so the 40 agents must be exactly the other pairs.
    config = replace(CONFIG, tasks=5, task_classes=2, agents=40, agent_classes=2)
    split = make_split(digits, config)
    tasks = {tuple(split.task_classes(t)) for t in split.task_names}
    agents = {tuple(split.agent_classes(a)) for a in split.agent_names}
    assert len(agents) == 40 and agents | tasks == set(combinations(range(10), 2)) and not agents & tasks
    with pytest.raises(TaskspaceError, match=r"^agents: 41 distinct sets .* only 40 exist"):
        make_split(digits, replace(config, agents=41))


def test_task_data_gives_task_labels(digits, split):
    for task in split.task_names:
        classes = split.task_classes(task)
        for part, per_class in (("train", 4), ("test", 10)):
            ids, labels = split.task_data(task, part)
            assert np.array_equal(np.bincount(labels), np.full(4, per_class))
            assert np.array_equal(np.asarray(classes)[labels], digits.pool(part).labels[ids])


def test_seeded_and_reproducible(digits, split):
    again = make_split(digits, CONFIG)
    assert again.content == split.content and again.hash == split.hash
    other = make_split(digits, replace(CONFIG, seed=8))
    assert other.hash != split.hash and other.content["probe"] != split.content["probe"]


def test_file_round_trip_and_tamper_check(tmp_path, digits, split):
    path = tmp_path / "split.json"
    split.save(path)
    loaded = load_split(path)
    assert loaded.hash == split.hash and loaded.content == split.content
    document = json.loads(path.read_text())
    assert "labels" not in json.dumps(document["probe"])  # probe labels are never stored
    document["probe"] = document["probe"][1:]
    path.write_text(json.dumps(document))
    with pytest.raises(TaskspaceError, match="does not match its hash"):
        load_split(path)
    with pytest.raises(TaskspaceError, match="split file not found"):
        load_split(tmp_path / "absent.json")


def test_split_for_other_data_is_refused(split):
    with pytest.raises(TaskspaceError, match="made for other data"):
        split.check_dataset(load_digits(seed=1))


def test_disjoint_pools(digits):
    config = replace(
        CONFIG, disjoint_pools=True, agent_pool_classes=6, task_classes=3, tasks=3, agents=10, agent_classes=2
    )
    split = make_split(digits, config)
    agent_pool, admin_pool = set(split.content["agent_pool"]), set(split.content["admin_pool"])
    assert len(agent_pool) == 6 and len(admin_pool) == 4 and not agent_pool & admin_pool
    assert all(set(split.task_classes(t)) <= admin_pool for t in split.task_names)
    assert all(set(split.agent_classes(a)) <= agent_pool for a in split.agent_names)
    assert set(split.admin_ids("train")[1]) == admin_pool and set(split.admin_ids("test")[1]) == admin_pool
    probe, admin, agent = train_roles(split)
    assert not probe & admin and not probe & agent and not admin & agent
    assert math.comb(6, 2) >= 10


def test_agent_train_cap(digits):
    split = make_split(digits, replace(CONFIG, agent_train_per_class=5))
    for name in split.agent_names:
        assert len(split.agent_ids(name, "train")) == 5 * 3


@pytest.mark.parametrize(
    "overrides, key",
    [
        ({"probe_per_class": 1000}, "probe_per_class"),
        ({"admin_train_per_class": 200}, "admin_train_per_class"),
        ({"admin_test_per_class": 500}, "admin_test_per_class"),
        ({"task_classes": 11}, "task_classes"),
        ({"agent_classes": 11}, "agent_classes"),
        ({"tasks": 211, "task_classes": 4}, "tasks"),  # C(10, 4) = 210 distinct tasks exist
        ({"agents": 121}, "agents"),  # C(10, 3) = 120 distinct agents exist
        ({"agent_classes": 1}, "agent_classes"),
        ({"probe_per_class": 2.5}, "probe_per_class"),
        ({"disjoint_pools": True, "agent_pool_classes": 10}, "agent_pool_classes"),
        ({"agent_pool_classes": 4}, "agent_pool_classes"),
    ],
)
def test_out_of_range_values_name_the_key(digits, overrides, key):
    with pytest.raises(TaskspaceError) as error:
        make_split(digits, replace(CONFIG, **overrides), where="vision.split.")
    message = str(error.value)
    assert message.startswith(f"vision.split.{key}:") and "\n" not in message


def test_from_mapping_rejects_unknown_keys():
    with pytest.raises(TaskspaceError, match=r"^vision\.split: unknown key 'probes' \(known: admin_test_per_class, "):
        SplitConfig.from_mapping({"probes": 3}, where="vision.split.")
    with pytest.raises(TaskspaceError, match=r"^split: unknown key 'probes' "):
        SplitConfig.from_mapping({"probes": 3})
    with pytest.raises(TaskspaceError, match=r"^vision\.split\.tasks: 0 is below the minimum 1$"):
        SplitConfig.from_mapping({"tasks": 0}, where="vision.split.")
    config = SplitConfig.from_mapping({"probe_per_class": 2, "agents": 4}, where="split.")
    assert config.probe_per_class == 2 and config.agents == 4


@pytest.mark.parametrize(
    "config, expected",
    [
        # config.yaml's digits split
        (
            dict(
                probe_per_class=10,
                admin_train_per_class=5,
                tasks=10,
                task_classes=5,
                agents=25,
                agent_classes=4,
                agent_train_per_class=30,
            ),
            "ec7e0fd565b61092",
        ),
        (
            dict(
                probe_per_class=3,
                admin_train_per_class=4,
                tasks=5,
                task_classes=4,
                agents=8,
                agent_classes=5,
                admin_test_per_class=10,
                seed=2,
            ),
            "e9ac176aab627fdc",
        ),
        (
            dict(
                probe_per_class=5,
                admin_train_per_class=5,
                tasks=2,
                task_classes=3,
                agents=3,
                agent_classes=2,
                disjoint_pools=True,
                agent_pool_classes=4,
                seed=1,
            ),
            "1ccdb6eebe8ee7da",
        ),
    ],
    ids=["demo", "capped", "disjoint"],
)
def test_the_draws_are_those_of_before(digits, config, expected):
    """Hashes of splits drawn before make_split became several functions: the same seed draws the same images."""
    assert make_split(digits, SplitConfig(**config)).hash == expected

"""Agent feature files: probe (with rotated views), admin train and test sets, shapes and provenance."""

import json

import numpy as np
import pytest
import torch

from taskspace.errors import TaskspaceError
from taskspace.features import FeatureFile
from taskspace.vision.agents import affine_resample, default_train_config, save_agent, train_split_agent
from taskspace.vision.data import load_digits, to_float_tensor
from taskspace.vision.extract import PROBE_ROTATIONS, extract_agent_features, probe_views
from taskspace.vision.split import SplitConfig, make_split

CONFIG = SplitConfig(
    probe_per_class=2,
    admin_train_per_class=3,
    admin_test_per_class=4,
    tasks=2,
    task_classes=3,
    agents=2,
    agent_classes=3,
    agent_train_per_class=10,
    seed=1,
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    digits = load_digits(seed=0)
    split = make_split(digits, CONFIG)
    agent = train_split_agent(
        digits, split, "agent000", default_train_config("digits", epochs=1, milestones=(), width=8), device="cpu"
    )
    folder = tmp_path_factory.mktemp("features")
    weights = folder / "agent000.safetensors"
    save_agent(agent, weights)
    path = folder / "agent000.h5"
    provenance = extract_agent_features(agent, digits, split, path, weights_path=weights)
    yield digits, split, agent, path, provenance
    torch.set_num_threads(before)


def test_sets_and_shapes(setup):
    digits, split, agent, path, _ = setup
    with FeatureFile(path) as features:
        assert sorted(features.sets) == ["probe", "test", "test_source", "train", "train_source"]
        probe_items = features.items("probe")
        assert probe_items.shape == (20 * 7, 2)  # 2 images x 10 classes, each with 6 rotations + itself
        assert features.vectors("probe").shape == (140, 32) and features.vectors("probe").dtype == np.float32
        assert np.array_equal(np.unique(probe_items[:, 0]), split.probe_ids)
        assert np.array_equal(probe_items[:7, 1], np.arange(7)) and np.all(
            np.bincount(probe_items[:, 0])[split.probe_ids] == 7
        )
        for part, n in (("train", 30), ("test", 40)):
            ids, _ = split.admin_ids(part)
            assert np.array_equal(features.items(part)[:, 0], ids) and features.vectors(part).shape == (n, 32)
            # the agent's own head: softmax over its classes, in the same item order
            probs = features.vectors(f"{part}_source")[:]
            assert np.array_equal(features.items(f"{part}_source"), features.items(part))
            np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
            images = to_float_tensor(digits.pool(part).images[ids])
            np.testing.assert_allclose(probs, torch.softmax(agent.logits(images), 1).numpy(), rtol=1e-5, atol=1e-6)
        # Row 0 of train is the agent's feature of that admin image (no rotation, own normalisation).
        image = to_float_tensor(digits.train.images[split.admin_ids("train")[0][:1]])
        assert np.allclose(features.vectors("train")[0], agent.features(image).numpy()[0], atol=1e-6)


def test_provenance(setup):
    _, split, agent, path, provenance = setup
    with FeatureFile(path) as features:
        have = features.provenance
    assert have == provenance
    assert have["member"] == "agent000" and have["architecture"] == "digits_cnn"
    assert json.loads(have["classes"]) == split.agent_classes("agent000") and have["split_hash"] == split.hash
    assert json.loads(have["probe_rotations"]) == list(PROBE_ROTATIONS) and have["layer"] == "penultimate"
    assert have["source"] == "agent000.safetensors" and len(have["revision"]) == 16
    assert have["precision"] == "float32"
    assert have["torch_version"] == torch.__version__ and "torchvision_version" in have and "taskspace_version" in have


def test_probe_views_keep_the_original_and_rotate_the_rest():
    images = torch.rand(3, 1, 8, 8)
    views, index = probe_views(images)
    assert views.shape == (21, 1, 8, 8) and index.tolist() == list(range(7)) * 3
    assert torch.equal(views[7], images[1])
    expected = affine_resample(images[1:2], torch.tensor([PROBE_ROTATIONS[0]]))
    assert torch.allclose(views[8], expected[0])


def test_features_of_an_agent_from_another_split_are_refused(setup, tmp_path):
    digits, split, agent, _, _ = setup
    other = make_split(digits, CONFIG.__class__(**{**CONFIG.__dict__, "seed": 2}))
    with pytest.raises(TaskspaceError, match="trained on split"):
        extract_agent_features(agent, digits, other, tmp_path / "x.h5")
    assert not list(tmp_path.iterdir())


def test_half_precision_features(setup, tmp_path):
    digits, split, agent, _, _ = setup
    extract_agent_features(agent, digits, split, tmp_path / "half.h5", dtype="float16")
    with FeatureFile(tmp_path / "half.h5") as features:
        assert features.vectors("test").dtype == np.float16

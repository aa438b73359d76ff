"""Agents: CIFAR-stem ResNet shapes, one-epoch training on tiny digits data, determinism, safetensors round trip."""

import json
import logging
import re
from dataclasses import replace

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from safetensors import safe_open

from taskspace.errors import TaskspaceError
from taskspace.vision.agents import (
    CifarResNet,
    TrainConfig,
    affine_resample,
    build_model,
    default_train_config,
    learning_rate,
    load_agent,
    save_agent,
    train_agent,
    train_split_agent,
)
from taskspace.vision.data import load_digits, to_float_tensor
from taskspace.vision.split import SplitConfig, make_split

TINY = default_train_config("digits", epochs=1, milestones=(), width=8, batch_size=16, seed=3)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


@pytest.fixture(scope="module")
def tiny(digits):
    """40 training images of digits 1, 4 and 7, plus 15 held-out ones."""
    train = np.flatnonzero(np.isin(digits.train.labels, [1, 4, 7]))[:40]
    test = np.flatnonzero(np.isin(digits.test.labels, [1, 4, 7]))[:15]
    return (digits.train.images[train], digits.train.labels[train]), (
        digits.test.images[test],
        digits.test.labels[test],
    )


def train_tiny(tiny, config=TINY):
    (images, labels), held_out = tiny
    return train_agent(images, labels, [7, 1, 4], config, name="tiny", held_out=held_out, device="cpu")


def test_cifar_stem_resnet18_forward():
    model = build_model("resnet18", num_classes=5, in_channels=3).eval()
    assert isinstance(model, CifarResNet)
    conv = model.net.conv1
    assert conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
    assert isinstance(model.net.maxpool, torch.nn.Identity)
    seen = {}

    def remember(module, inputs, output):
        seen["layer1"] = output.shape

    model.net.layer1.register_forward_hook(remember)
    with torch.inference_mode():
        x = torch.rand(2, 3, 32, 32)
        assert model(x).shape == (2, 5)
        assert model.features(x).shape == (2, 512) and model.feature_width == 512
    assert seen["layer1"] == (2, 64, 32, 32)  # the stem keeps full 32x32 resolution


def test_one_epoch_training_records_what_it_did(tiny, caplog):
    with caplog.at_level(logging.INFO, logger="taskspace.vision.agents"):
        agent = train_tiny(tiny)
    meta = agent.meta
    assert meta["classes"] == [1, 4, 7] and meta["num_classes"] == 3 and meta["architecture"] == "digits_cnn"
    assert meta["train_images"] == 40 and meta["held_out_images"] == 15
    assert 0.0 <= meta["train_accuracy"] <= 1.0 and 0.0 <= meta["held_out_accuracy"] <= 1.0
    assert len(meta["normalization"]["mean"]) == 1 and meta["normalization"]["std"][0] > 0
    images = to_float_tensor(tiny[0][0])
    assert meta["normalization"]["mean"][0] == pytest.approx(float(images.mean()), rel=1e-5)
    assert meta["feature_width"] == 32 and agent.features(images).shape == (40, 32)
    assert meta["train_config"]["flip"] is False
    # The keys a vision feature file carries as well (taskspace.provenance).
    assert list(meta["versions"]) == ["taskspace_version", "torch_version", "torchvision_version", "numpy_version"]
    assert meta["versions"]["torch_version"] == str(torch.__version__)
    # One line format for every long job (taskspace.progress): epochs done, their rate, the epoch's numbers, ETA.
    line = re.compile(
        r"^agent tiny: 1/1 epochs, [\d.e-]+ epochs/s, loss \d+\.\d{4}, acc \d\.\d{3}(, held-out acc \d\.\d{3})?, "
        r"lr [\d.e-]+, \d+ img/s, ETA 0m00s$"
    )
    assert any(line.match(r.getMessage()) for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_training_is_deterministic_on_cpu(tiny):
    config = replace(TINY, epochs=2, milestones=(1,))
    first, second = train_tiny(tiny, config), train_tiny(tiny, config)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    other = train_tiny(tiny, replace(config, seed=4))
    assert not torch.equal(other.model.fc.weight, first.model.fc.weight)


def test_safetensors_round_trip(tmp_path, tiny):
    agent = train_tiny(tiny)
    weights = tmp_path / "agents" / "tiny.safetensors"
    save_agent(agent, weights)
    meta_file = weights.with_suffix(".json")
    assert json.loads(meta_file.read_text())["classes"] == [1, 4, 7]
    with safe_open(str(weights), framework="pt") as handle:
        assert handle.metadata()["architecture"] == "digits_cnn"
        assert set(handle.keys()) == set(agent.model.state_dict())
    loaded = load_agent(weights)
    images = to_float_tensor(tiny[1][0])
    assert torch.equal(loaded.features(images), agent.features(images))
    assert loaded.meta == json.loads(meta_file.read_text())
    assert not list(tmp_path.rglob(".*partial"))


def test_load_errors_name_the_file(tmp_path, tiny):
    with pytest.raises(TaskspaceError, match="agent file not found"):
        load_agent(tmp_path / "none.safetensors")
    agent = train_tiny(tiny)
    weights = tmp_path / "a.safetensors"
    save_agent(agent, weights)
    meta = json.loads(weights.with_suffix(".json").read_text())
    meta["num_classes"] = 5
    weights.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(TaskspaceError, match=r"a\.safetensors: weights do not fit"):
        load_agent(weights)
    weights.write_bytes(b"not safetensors at all")
    with pytest.raises(TaskspaceError, match=r"a\.safetensors: not a readable safetensors file"):
        load_agent(weights)


def test_labels_outside_the_classes_are_refused(tiny):
    (images, labels), _ = tiny
    with pytest.raises(TaskspaceError, match="not one of the agent's classes"):
        train_agent(images, labels, [1, 4], TINY, device="cpu")


def test_paper_learning_rate_schedule():
    config = TrainConfig()  # 200 epochs, x0.2 at 60/120/160, one warm-up epoch
    steps = 100
    assert learning_rate(config, 0, 0, steps) == pytest.approx(0.001)
    assert learning_rate(config, 0, 49, steps) == pytest.approx(0.05)
    assert learning_rate(config, 1, 0, steps) == pytest.approx(0.1)
    assert learning_rate(config, 60, 0, steps) == pytest.approx(0.02)
    assert learning_rate(config, 120, 0, steps) == pytest.approx(0.004)
    assert learning_rate(config, 199, 99, steps) == pytest.approx(0.0008)
    assert config.padding_for(32) == 4 and config.padding_for(8) == 1


def test_augmentation_resampling_matches_torchvision():
    x = torch.rand(2, 3, 8, 8)
    rotated = affine_resample(x, torch.tensor([90.0, -15.0]))
    for i, angle in enumerate((90.0, -15.0)):
        expected = TF.rotate(x[i : i + 1], angle, interpolation=TF.InterpolationMode.BILINEAR)
        assert torch.allclose(rotated[i : i + 1], expected, atol=1e-5)
    shifted = affine_resample(
        x, torch.zeros(2), shifts=torch.tensor([[2, 0], [0, 0]]), flips=torch.tensor([False, True])
    )
    assert torch.equal(shifted[0, :, :, :-2], x[0, :, :, 2:]) and torch.all(shifted[0, :, :, -2:] == 0)
    assert torch.equal(shifted[1], x[1].flip(-1))


@pytest.mark.parametrize(
    "values, key",
    [
        ({"architecture": "vgg"}, "architecture"),
        ({"epochs": 10, "milestones": [5, 12]}, "milestones"),
        ({"batch_size": 1}, "batch_size"),
        ({"flip": "yes"}, "flip"),
        ({"precision": "half"}, "precision"),
        ({"init_seed": "shared"}, "init_seed"),
        ({"init_seed": -1}, "init_seed"),
        ({"keep": "best"}, "keep"),
    ],
)
def test_train_config_errors_name_the_key(values, key):
    with pytest.raises(TaskspaceError, match=rf"^vision\.agents\.{key}:"):
        TrainConfig.from_mapping(values, where="vision.agents.")


@pytest.mark.parametrize("key", ["learning_rate", "amp"])  # amp: the former switch, which precision replaces
def test_train_config_unknown_keys_are_named_with_the_known_ones(key):
    with pytest.raises(TaskspaceError, match=rf"^vision\.agents: unknown key '{key}' \(known: architecture, "):
        TrainConfig.from_mapping({key: 1}, where="vision.agents.")
    with pytest.raises(TaskspaceError, match=rf"^agents: unknown key '{key}' "):
        TrainConfig.from_mapping({key: 1})


def test_train_split_agent_records_the_split(digits):
    split = make_split(
        digits,
        SplitConfig(
            probe_per_class=2,
            admin_train_per_class=2,
            tasks=2,
            task_classes=3,
            agents=2,
            agent_classes=2,
            agent_train_per_class=12,
        ),
    )
    agent = train_split_agent(digits, split, "agent001", TINY, device="cpu")
    assert agent.meta["name"] == "agent001" and agent.meta["split_hash"] == split.hash
    assert agent.meta["classes"] == split.agent_classes("agent001") and agent.meta["train_images"] == 24
    assert agent.meta["class_names"] == [digits.class_names[c] for c in agent.meta["classes"]]
    assert agent.meta["train_config"]["seed"] == TINY.seed + 1  # agent i trains with seed + i
    assert agent.meta["init_seed"] == TINY.seed + 1 and agent.meta["kept_epoch"] == TINY.epochs


def _two_agent_split(digits):
    return make_split(
        digits,
        SplitConfig(
            probe_per_class=2,
            admin_train_per_class=2,
            tasks=2,
            task_classes=3,
            agents=2,
            agent_classes=2,
            agent_train_per_class=12,
        ),
    )


def test_one_init_seed_starts_every_agent_from_the_same_weights(digits, monkeypatch):
    """init_seed: 0 is the paper's get_network(net, classes, 0); per_agent (the default) uses seed + i."""
    import taskspace.vision.agents as agents

    built = []
    real = agents.build_model

    def recording(*args, **kwargs):
        model = real(*args, **kwargs)
        built.append({key: value.clone() for key, value in model.state_dict().items()})
        return model

    monkeypatch.setattr(agents, "build_model", recording)
    split = _two_agent_split(digits)
    shared = [
        train_split_agent(digits, split, a, replace(TINY, init_seed=0), device="cpu") for a in ("agent000", "agent001")
    ]
    own = [train_split_agent(digits, split, a, TINY, device="cpu") for a in ("agent000", "agent001")]
    assert all(torch.equal(built[0][key], built[1][key]) for key in built[0])
    torch.manual_seed(0)
    reference = real("digits_cnn", 2, 1, TINY.width).state_dict()
    assert all(torch.equal(built[0][key], reference[key]) for key in reference)
    assert not torch.equal(built[2]["fc.weight"], built[3]["fc.weight"])
    assert [a.meta["init_seed"] for a in shared] == [0, 0] and [a.meta["init_seed"] for a in own] == [3, 4]
    # augmentation and batch order stay the agent's own: seed + i
    assert [a.meta["train_config"]["seed"] for a in shared] == [3, 4]


def test_keep_best_test_keeps_the_epoch_of_the_best_held_out_accuracy(tiny):
    """The paper's vision/agents.py saves the weights whenever the test accuracy improves (strictly)."""
    config = replace(TINY, epochs=6, keep="best_test")
    agent = train_tiny(tiny, config)
    by_epoch = agent.meta["held_out_accuracy_by_epoch"]
    assert len(by_epoch) == 6
    kept = agent.meta["kept_epoch"]
    assert kept == 1 + int(np.argmax(by_epoch))  # the first epoch of the best accuracy
    assert kept < 6  # on this data the best epoch is not the last one, so keeping it matters
    assert agent.meta["held_out_accuracy"] == max(by_epoch)
    assert agent.meta["train_config"]["keep"] == "best_test"
    # Its weights are those of a run stopped after that epoch (the schedule does not depend on the length).
    stopped = train_tiny(tiny, replace(TINY, epochs=kept))
    assert stopped.meta["kept_epoch"] == kept and "held_out_accuracy_by_epoch" not in stopped.meta
    for key, value in stopped.model.state_dict().items():
        assert torch.equal(value, agent.model.state_dict()[key]), key
    final = train_tiny(tiny, replace(TINY, epochs=6))
    assert final.meta["kept_epoch"] == 6 and not torch.equal(final.model.fc.weight, agent.model.fc.weight)


def test_keep_best_test_needs_held_out_images(tiny):
    (images, labels), _ = tiny
    with pytest.raises(TaskspaceError, match="agent tiny: keep: best_test needs held-out images"):
        train_agent(images, labels, [1, 4, 7], replace(TINY, keep="best_test"), name="tiny", device="cpu")


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_half_precision_training_on_cpu(tiny, precision):
    """precision: bfloat16 / float16 autocast on the CPU too; auto is float32 there (exactly reproducible)."""
    auto = train_tiny(tiny)
    assert auto.meta["precision"] == "float32" and auto.meta["train_config"]["precision"] == "auto"
    float32 = train_tiny(tiny, replace(TINY, precision="float32"))
    assert torch.equal(float32.model.fc.weight, auto.model.fc.weight)
    half = train_tiny(tiny, replace(TINY, precision=precision))
    assert half.meta["precision"] == precision
    assert all(p.dtype == torch.float32 for p in half.model.parameters())  # autocast: float32 master weights
    assert not torch.equal(half.model.fc.weight, auto.model.fc.weight)
    assert torch.allclose(half.model.fc.weight, auto.model.fc.weight, atol=0.05)


def test_agent_keys_in_the_config_are_validated_with_the_key_named():
    from taskspace.config import validate_config

    experiment = {
        "dataset": {"name": "digits"},
        "agents": {"precision": "half"},
        "split": {
            "probe_per_class": 2,
            "admin_train_per_class": 3,
            "tasks": 2,
            "task_classes": 3,
            "agents": 2,
            "agent_classes": 2,
        },
        "selection": {"k_max": 2},
    }
    with pytest.raises(TaskspaceError) as error:
        validate_config({"vision": {"experiments": {"d": experiment}}})
    assert str(error.value) == (
        "vision.experiments.d.agents.precision: 'half' is not one of auto, float32, float16, bfloat16"
    )
    for key, value in (("init_seed", "shared"), ("keep", "best")):
        with pytest.raises(TaskspaceError, match=rf"^vision\.experiments\.d\.agents\.{key}: "):
            validate_config({"vision": {"experiments": {"d": {**experiment, "agents": {key: value}}}}})
    paper = {"precision": "float32", "init_seed": 0, "keep": "best_test"}
    config = validate_config({"vision": {"experiments": {"d": {**experiment, "agents": paper}}}})
    assert TrainConfig.from_mapping(config["vision"]["experiments"]["d"]["agents"]).init_seed == 0

"""Image members: builder (the tiny seeded CNN, the real EfficientNet-Lite0) and HF image (tiny ViT, ConvNeXt)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from taskspace.errors import TaskspaceError
from taskspace.members import build_member, open_pass
from taskspace.members.tiny import TinyCNN


def _members(entry, *variants):
    """The entry and variants of it (other name, layer, pooling): one pass."""
    return [entry, *({**{k: v for k, v in entry.items() if k not in ("layer", "pooling")}, **v} for v in variants)]


def _same_pass_as_separate(entries, images):
    together = open_pass(entries, "image").embed(images)
    for entry in entries:
        alone = open_pass([entry], "image").embed(images)
        np.testing.assert_allclose(together.features[entry["name"]], alone.features[entry["name"]], atol=1e-6)
    return together


def test_builder_member_widths_and_source_head(built, images):
    entries = _members(built["cnn"], {"name": "cnn-stem", "layer": "stem.2"}, {"name": "cnn-stage", "layer": "stage.2"})
    pass_ = open_pass(entries, "image")
    assert pass_.kind == "builder" and [m.width for m in pass_.members] == [16, 8, 16]
    out = pass_.embed(images)
    assert {k: v.shape for k, v in out.features.items()} == {"cnn": (6, 16), "cnn-stem": (6, 8), "cnn-stage": (6, 16)}
    assert all(v.dtype == np.float32 for v in out.features.values())
    # The last linear layer's input is the pooled last stage, so equal to the stage node averaged.
    np.testing.assert_allclose(out.features["cnn"], out.features["cnn-stage"], atol=1e-6)
    assert pass_.has_source_head and all(m.has_source_head for m in pass_.members)
    assert out.source_probs.shape == (6, 10) and np.allclose(out.source_probs.sum(axis=1), 1, atol=1e-5)
    assert pass_.members[1].provenance["feature_node"] == "stem.2"
    assert pass_.members[0].provenance["feature_node"] == "input of fc"


def test_builder_shared_pass_equals_separate_members(built, images):
    _same_pass_as_separate(_members(built["cnn"], {"name": "stem", "layer": "stem.2"}), images)


def test_builder_vectors_are_deterministic_and_match_the_module(built, images, tmp_path):
    entry = built["cnn"]
    first = open_pass([entry], "image")
    again = build_member({"name": "cnn", "build": "cnn"}, tmp_path / "cnn", seed=0)
    second = open_pass([again], "image")
    np.testing.assert_array_equal(first.embed(images).features["cnn"], second.embed(images).features["cnn"])
    assert first.members[0].provenance["weights_sha256"] == second.members[0].provenance["weights_sha256"]
    # The same vectors by hand: the module with its weights, the pooled last stage.
    from safetensors.torch import load_file

    module = TinyCNN(**entry["kwargs"]).eval()
    module.load_state_dict(load_file(entry["weights"]))
    pixels = torch.stack([first.preprocess(image) for image in images])
    with torch.inference_mode():
        expected = module.pool(module.stage(module.stem(pixels))).flatten(1).numpy()
    np.testing.assert_allclose(first.embed(pixels).features["cnn"], expected, atol=1e-6)
    other_seed = build_member({"name": "cnn", "build": "cnn", "seed": 1}, tmp_path / "cnn1")
    assert not np.allclose(open_pass([other_seed], "image").embed(images).features["cnn"], expected)


def test_preprocessing_defaults_and_keys(built):
    from taskspace.members.image_preprocess import ImageTransform

    assert ImageTransform.from_entry({}).describe()["resize"] == 256
    assert ImageTransform.from_entry({"crop": 112}).resize == 128
    assert ImageTransform.from_entry({"resize": 128}).crop == 112
    transform = ImageTransform.from_entry({"resize": 40, "crop": 32, "mean": [0.5], "std": [0.25]})
    from PIL import Image

    tensor = transform(Image.new("L", (80, 60), color=255))  # grayscale -> RGB, 60 -> 40 px, crop 32
    assert tensor.shape == (3, 32, 32) and torch.allclose(tensor, torch.full_like(tensor, 2.0))


def test_strict_key_check_names_missing_and_unexpected_keys(built, tmp_path):
    from safetensors.torch import load_file, save_file

    state = load_file(built["cnn"]["weights"])
    state["extra.weight"] = torch.zeros(2)
    del state["fc.bias"], state["stem.0.weight"]
    save_file(state, tmp_path / "bad.safetensors")
    with pytest.raises(TaskspaceError) as caught:
        open_pass([{**built["cnn"], "weights": str(tmp_path / "bad.safetensors")}], "image")
    message = str(caught.value)
    assert message.startswith("member cnn: the weights ") and "do not fit the builder's module" in message
    assert "2 missing keys (stem.0.weight, fc.bias)" in message and "1 unexpected keys (extra.weight)" in message

    wide = {**built["cnn"], "kwargs": {"width": 4, "num_classes": 10}}
    with pytest.raises(TaskspaceError, match=r"differ in shape, e\.g\. stem\.0\.weight is \(8, 3, 3, 3\) in the file"):
        open_pass([wide], "image")


def test_state_dict_pickles_are_read_with_weights_only(built, tmp_path, images):
    from safetensors.torch import load_file

    state = load_file(built["cnn"]["weights"])
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "wrapped.pth")
    entry = {**built["cnn"], "weights": str(tmp_path / "wrapped.pth")}
    np.testing.assert_array_equal(
        open_pass([entry], "image").embed(images).features["cnn"],
        open_pass([built["cnn"]], "image").embed(images).features["cnn"],
    )

    marker = tmp_path / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('ran')",))

    torch.save({**state, "fc.bias": RunsCode()}, tmp_path / "hostile.pth")
    with pytest.raises(TaskspaceError, match="refused to load .*hostile.pth: the pickle holds more than tensors"):
        open_pass([{**built["cnn"], "weights": str(tmp_path / "hostile.pth")}], "image")
    assert not marker.exists()


def test_builder_errors_name_the_member(built):
    with pytest.raises(TaskspaceError, match=r"member cnn: layer 'stem\.9' is not a node .*close: stem\.2"):
        open_pass([{**built["cnn"], "layer": "stem.9"}], "image")
    with pytest.raises(TaskspaceError, match=r"member cnn: taskspace\.members\.tiny has no attribute 'Nope'"):
        open_pass([{**built["cnn"], "builder": "taskspace.members.tiny:Nope"}], "image")
    with pytest.raises(
        TaskspaceError, match=r"member cnn: taskspace\.members\.tiny:TinyCNN\(\*\*.*\) failed: TypeError"
    ):
        open_pass([{**built["cnn"], "kwargs": {"depth": 3}}], "image")


def test_user_builder_from_the_working_directory(built, images, tmp_path, monkeypatch):
    (tmp_path / "my_nets.py").write_text(
        "from taskspace.members.tiny import TinyCNN\n\nclass Nets:\n    @classmethod\n"
        "    def small(cls, **kwargs):\n        return TinyCNN(**kwargs)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    entry = {**built["cnn"], "builder": "my_nets:Nets.small"}
    vectors = open_pass([entry], "image").embed(images).features["cnn"]
    np.testing.assert_array_equal(vectors, open_pass([built["cnn"]], "image").embed(images).features["cnn"])


@pytest.mark.parametrize("family", ["vit", "convnext"])
def test_hf_image_members(built, images, family):
    entry = built[family]
    entries = _members(entry, {"name": "early", "layer": 1, "pooling": "mean"})
    out = _same_pass_as_separate(entries, images)
    pass_ = open_pass(entries, "image")
    assert pass_.kind == "hf_image" and pass_.has_source_head and pass_.source_classes[:2] == ["class0", "class1"]
    assert out.source_probs.shape == (6, 10) and np.allclose(out.source_probs.sum(axis=1), 1, atol=1e-5)
    defaults = {"vit": ("cls", 32), "convnext": ("pooler", 16)}[family]
    assert (pass_.members[0].provenance["pooling"], pass_.members[0].width) == defaults
    assert out.features[family].shape == (6, defaults[1])
    assert pass_.members[1].width == {"vit": 32, "convnext": 8}[family]
    # Deterministic, and the same vectors as transformers gives directly.
    from transformers import AutoModel

    np.testing.assert_array_equal(open_pass([entry], "image").embed(images).features[family], out.features[family])
    model = AutoModel.from_pretrained(entry["source"]).eval()
    pixels = torch.stack([pass_.preprocess(image) for image in images])
    with torch.inference_mode():
        direct = model(pixel_values=pixels, output_hidden_states=True)
    expected = direct.last_hidden_state[:, 0] if family == "vit" else direct.pooler_output
    np.testing.assert_allclose(out.features[family], expected.numpy(), atol=1e-5)
    early = direct.hidden_states[1]
    early = early.mean(dim=1) if family == "vit" else early.mean(dim=(2, 3))
    np.testing.assert_allclose(out.features["early"], early.numpy(), atol=1e-5)


def test_hf_image_pooling_and_layer_errors(built):
    with pytest.raises(TaskspaceError, match="member vit: pooling pooler at layer -1: the model has no pooled output"):
        open_pass([{**built["vit"], "pooling": "pooler"}], "image")
    with pytest.raises(TaskspaceError, match="member convnext: pooling cls needs a token sequence"):
        open_pass([{**built["convnext"], "pooling": "cls"}], "image")
    with pytest.raises(TaskspaceError, match="member vit: layer 7 is out of range: the model has 2 layers"):
        open_pass([{**built["vit"], "layer": 7}], "image")


def test_hf_image_without_head(built, images):
    pass_ = open_pass([{**built["vit"], "head": False}], "image")
    assert not pass_.has_source_head and pass_.embed(images).source_probs is None


def test_real_efficientnet_lite0_loads_with_weights_only_and_embeds(lite0, images):
    entries = [
        {
            "name": "lite0",
            "builder": "efficientnet_lite_pytorch:EfficientNet.from_name",
            "kwargs": {"model_name": "efficientnet-lite0"},
            "weights": lite0,
            "resize": 146,
            "crop": 128,
            "mean": [0.498, 0.498, 0.498],
            "std": [0.502, 0.502, 0.502],
        }
    ]
    entries.append({**entries[0], "name": "lite0-stage5", "layer": "_blocks.10.add"})
    pass_ = open_pass(entries, "image")
    assert [m.width for m in pass_.members] == [1280, 112]
    out = pass_.embed(images[:2])
    assert out.features["lite0"].shape == (2, 1280) and out.features["lite0-stage5"].shape == (2, 112)
    assert out.source_probs.shape == (2, 1000) and np.allclose(out.source_probs.sum(axis=1), 1, atol=1e-5)
    assert json.loads(pass_.members[0].provenance["kwargs"]) == {"model_name": "efficientnet-lite0"}

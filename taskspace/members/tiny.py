"""Small seeded members of every kind, for the tests and offline demos: ``build_member`` writes the files and
returns the entry rewritten to the kind that reads them.

==========  =======  ===================================================================================
family      input    what is built, and the entry it becomes
==========  =======  ===================================================================================
cnn         image    :class:`TinyCNN` (two conv stages, average pool, a 10-class linear head) saved as
                     ``model.safetensors``: a ``builder`` entry (``taskspace.members.tiny:TinyCNN``) at 32 px;
                     nodes to read with ``layer``: ``stem.2`` (width w), ``stage.2`` (2w)
vit         image    a tiny ``ViTForImageClassification`` (32 px, patches of 8, 2 layers, 10 classes) with
                     its ``ViTImageProcessor``: an ``hf`` entry (source: the folder)
convnext    image    a tiny ``ConvNextForImageClassification`` (2 stages) with its processor: an ``hf`` entry
bert, ...   text     the LM track's tiny families (:mod:`taskspace.lm.tiny`), tokenizer trained on ``texts``:
                     an ``hf`` entry
==========  =======  ===================================================================================

``width``: the first stage's channels (cnn, convnext) or the hidden size (vit, text; default 32 for
images, 64 for text). The weights are drawn from ``seed`` (the entry's, else the argument): the same family,
seed and width give the same files. Folders are written under a hidden partial name and renamed when
complete.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from ..errors import TaskspaceError
from ..lm.tiny import FAMILIES as TEXT_FAMILIES
from ..lm.tiny import build_tiny_member

IMAGE_FAMILIES = ("cnn", "vit", "convnext")
IMAGE_SIZE = 32
CLASSES = 10
BUILD_KEYS = ("build", "seed", "width")


class TinyCNN(nn.Module):
    """conv-bn-relu (width) -> conv-bn-relu stride 2 (2 x width) -> average pool -> linear (num_classes)."""

    def __init__(self, width: int = 8, num_classes: int = CLASSES, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.stage = nn.Sequential(
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU()
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.stage(self.stem(x))), 1))


def build_member(entry: Mapping, folder, seed: int = 0, texts: Iterable[str] | None = None) -> dict:
    """Build the entry's tiny model into ``folder``; return the entry as the kind that reads it.

    ``seed``: used when the entry has none (the config's seed). ``texts``: lines to train a text family's
    tokenizer on (the zoo's probe text); image families need none. ``name``, ``layer``, ``pooling`` and
    ``head`` carry over.
    """
    family = entry.get("build")
    seed = int(entry.get("seed", seed))
    width = entry.get("width")
    folder = Path(folder)
    kept = {k: v for k, v in entry.items() if k not in BUILD_KEYS}
    if family in TEXT_FAMILIES:
        if texts is None:
            raise TaskspaceError(f"member {entry.get('name')}: a tiny {family} needs text to train its tokenizer on")
        build_tiny_member(family, folder, texts, seed=seed, hidden=width or 64)
        return {**kept, "source": str(folder)}
    if family not in IMAGE_FAMILIES:
        families = ", ".join((*IMAGE_FAMILIES, *TEXT_FAMILIES))
        raise TaskspaceError(f"member {entry.get('name')}: build {family!r} is not one of {families}")
    width = width or (32 if family == "vit" else 8)
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if family == "cnn":
        built = _cnn(partial, seed, width)
        weights = folder / "model.safetensors"
        kept = {**kept, "builder": "taskspace.members.tiny:TinyCNN", "kwargs": built, "weights": str(weights)}
        kept.update(resize=IMAGE_SIZE, crop=IMAGE_SIZE)
    else:
        _hf_image(family, partial, seed, width)
        kept = {**kept, "source": str(folder)}
    if folder.is_dir():
        shutil.rmtree(folder)
    os.replace(partial, folder)
    return kept


def _cnn(folder: Path, seed: int, width: int) -> dict:
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = TinyCNN(width, CLASSES)
    # Batch norms with other statistics than 0 and 1, so that they do something.
    generator = torch.Generator().manual_seed(seed + 1)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    return {"width": width, "num_classes": CLASSES}


def _hf_image(family: str, folder: Path, seed: int, width: int) -> None:
    import transformers as tf

    labels = {i: f"class{i}" for i in range(CLASSES)}
    common = {"num_labels": CLASSES, "id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    if family == "vit":
        config = tf.ViTConfig(
            image_size=IMAGE_SIZE,
            patch_size=8,
            hidden_size=width,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=2 * width,
            **common,
        )
        model_class = tf.ViTForImageClassification
        processor = tf.ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    else:
        config = tf.ConvNextConfig(
            hidden_sizes=[width, 2 * width], depths=[1, 1], num_stages=2, image_size=IMAGE_SIZE, **common
        )
        model_class = tf.ConvNextForImageClassification
        processor = tf.ConvNextImageProcessor(size={"shortest_edge": IMAGE_SIZE})
    from transformers.utils import logging as hf_logging

    torch.manual_seed(seed)
    model = model_class(config).eval()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # keep job logs readable
    try:
        model.save_pretrained(folder)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    processor.save_pretrained(folder)

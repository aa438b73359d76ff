"""An agent (a model and the facts about it) and its two files.

``<name>.safetensors`` holds the weights only (loading never runs code from a file) and ``<name>.json`` the
classes, normalisation, architecture, training settings, the epoch whose weights were kept (``kept_epoch``,
from 1) and their accuracies. Each is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..device import resolve_device
from ..errors import TaskspaceError
from .architectures import build_model

FORMAT = "taskspace-vision-agent"
FORMAT_VERSION = 1
# Whose versions an agent file and a vision feature file record (taskspace's too): <library>_version keys.
LIBRARIES = ("torch", "torchvision", "numpy")


@dataclass
class Agent:
    """A model and the facts about it that the JSON file records."""

    model: nn.Module
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.meta["name"]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.meta["normalization"]["mean"], device=x.device, dtype=x.dtype)[None, :, None, None]
        std = torch.tensor(self.meta["normalization"]["std"], device=x.device, dtype=x.dtype)[None, :, None, None]
        return (x - mean) / std

    @torch.inference_mode()
    def features(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Penultimate features (float32, on the model's device) of float images in [0, 1] ``(N, C, H, W)``."""
        return self._run(images, batch_size, self.model.features)

    @torch.inference_mode()
    def logits(self, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        return self._run(images, batch_size, self.model)

    def _run(self, images, batch_size, function):
        self.model.eval()
        device = next(self.model.parameters()).device
        out = [
            function(self.normalize(images[i : i + batch_size].to(device))).float()
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(out) if out else torch.zeros(0, self.model.feature_width, device=device)

    def accuracy(self, images: torch.Tensor, local_labels: torch.Tensor, batch_size: int = 512) -> float:
        if len(images) == 0:
            return float("nan")
        predicted = self.logits(images, batch_size).argmax(1).cpu()
        return float((predicted == local_labels.cpu()).float().mean())


def meta_path_for(weights_path) -> Path:
    return Path(weights_path).with_suffix(".json")


def save_agent(agent: Agent, weights_path, meta_path=None) -> None:
    """Weights to safetensors, facts to JSON; each written under a temporary name and renamed when done."""
    from safetensors.torch import save_file

    weights_path = Path(weights_path)
    meta_path = Path(meta_path) if meta_path is not None else meta_path_for(weights_path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().cpu().contiguous() for key, value in agent.model.state_dict().items()}
    tmp_weights = weights_path.with_name(f".{weights_path.name}.partial")
    tmp_meta = meta_path.with_name(f".{meta_path.name}.partial")
    save_file(state, str(tmp_weights), metadata={"format": FORMAT, "architecture": agent.meta["architecture"]})
    tmp_meta.write_text(json.dumps(agent.meta, indent=1, sort_keys=True) + "\n")
    os.replace(tmp_weights, weights_path)
    os.replace(tmp_meta, meta_path)


def load_agent(weights_path, meta_path=None, device: str = "cpu") -> Agent:
    """An agent from its safetensors weights and JSON facts, in eval mode on ``device``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights_path = Path(weights_path)
    meta_path = Path(meta_path) if meta_path is not None else meta_path_for(weights_path)
    for path in (weights_path, meta_path):
        if not path.is_file():
            raise TaskspaceError(f"{path}: agent file not found")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as error:
        raise TaskspaceError(f"{meta_path}: not valid JSON ({error})") from None
    if meta.get("format") != FORMAT:
        raise TaskspaceError(f"{meta_path}: not a taskspace agent file")
    width = meta.get("train_config", {}).get("width", 32)
    model = build_model(meta["architecture"], int(meta["num_classes"]), int(meta["in_channels"]), int(width))
    try:
        state = load_file(str(weights_path))
    except (SafetensorError, OSError) as error:
        raise TaskspaceError(f"{weights_path}: not a readable safetensors file ({error})") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise TaskspaceError(
            f"{weights_path}: weights do not fit a {meta['architecture']} with {meta['num_classes']} classes ({first})"
        ) from None
    model.to(resolve_device(device)).eval()
    return Agent(model, meta)

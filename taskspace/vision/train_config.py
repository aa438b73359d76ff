"""Agent training keys (``TrainConfig``, the config's ``agents:`` section) and the learning-rate schedule.

The defaults are the paper's CIFAR-100 recipe (``vision/agents.py``, ``vision/utils.py``): SGD (lr 0.1,
momentum 0.9, weight decay 5e-4), a linear warm-up over the first epoch, then the learning rate times
``gamma`` at each milestone epoch. Three choices are keys, with the paper's values in
``configs/paper-vision.yaml`` and defaults that keep earlier results: ``precision``, ``init_seed`` and
``keep`` (see ``taskspace.vision.agents``). No torch here: the keys can be checked where torch is absent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..device import PRECISIONS
from ..errors import TaskspaceError
from ..sections import Section

ARCHITECTURES = ("resnet18", "resnet50", "digits_cnn")
KEEP = ("final", "best_test")


@dataclass(frozen=True)
class TrainConfig(Section):
    """Agent training keys. Defaults are the paper's CIFAR-100 recipe."""

    architecture: str = "resnet18"
    epochs: int = 200
    milestones: tuple[int, ...] = (60, 120, 160)
    gamma: float = 0.2
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    batch_size: int = 128
    crop_padding: int | None = None  # None: 4 pixels at 32 px, scaled with the image size (1 at 8 px)
    flip: bool = True  # horizontal flip; off for digits, where a flip changes what the digit is
    rotation: float = 15.0  # degrees, uniform in [-rotation, rotation]
    width: int = 32  # digits_cnn only: channels of the first conv
    # Autocast type: auto = bfloat16 on CUDA, float32 on the CPU (exactly reproducible); the paper's is float32.
    precision: str = "auto"
    # Seed of the initial weights: per_agent = the agent's own seed (seed + i), or one seed for every agent
    # (the paper's vision/agents.py: 0 for all).
    init_seed: str | int = "per_agent"
    # Weights kept: final = the last epoch's; best_test = the epoch of the best held-out accuracy (the paper's).
    keep: str = "final"
    seed: int = 0

    SECTION = "agents"

    def __post_init__(self):
        if isinstance(self.milestones, list):  # YAML gives lists; a tuple keeps the config hashable
            object.__setattr__(self, "milestones", tuple(self.milestones))

    def validate(self, where: str = "") -> None:
        if self.architecture not in ARCHITECTURES:
            raise TaskspaceError(f"{where}architecture: {self.architecture!r} is not one of {', '.join(ARCHITECTURES)}")
        for key, low in (("epochs", 1), ("batch_size", 2), ("warmup_epochs", 0), ("width", 1), ("seed", 0)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise TaskspaceError(f"{where}{key}: {value!r} is not an integer >= {low}")
        if self.crop_padding is not None and (not isinstance(self.crop_padding, int) or self.crop_padding < 0):
            raise TaskspaceError(f"{where}crop_padding: {self.crop_padding!r} is not an integer >= 0")
        if (
            not isinstance(self.milestones, tuple)
            or any(
                isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 0 < m < self.epochs
                for m in self.milestones
            )
            or list(self.milestones) != sorted(set(self.milestones))
        ):
            raise TaskspaceError(
                f"{where}milestones: {list(self.milestones)!r} must be increasing epochs between 1 and epochs-1 "
                f"({self.epochs - 1})"
            )
        for key in ("gamma", "lr", "momentum", "weight_decay", "rotation"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise TaskspaceError(f"{where}{key}: {value!r} is not a number >= 0")
        if not isinstance(self.flip, bool):
            raise TaskspaceError(f"{where}flip: {self.flip!r} is not true or false")
        if self.precision not in PRECISIONS:
            raise TaskspaceError(f"{where}precision: {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        seed = self.init_seed
        if seed != "per_agent" and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise TaskspaceError(f"{where}init_seed: {seed!r} is not per_agent or an integer >= 0")
        if self.keep not in KEEP:
            raise TaskspaceError(f"{where}keep: {self.keep!r} is not one of {', '.join(KEEP)}")

    @property
    def amp(self) -> bool:
        """Whether training may autocast (``precision`` other than float32); ``auto`` does so on CUDA only."""
        return self.precision != "float32"

    def padding_for(self, image_size: int) -> int:
        if self.crop_padding is not None:
            return self.crop_padding
        return max(1, round(4 * image_size / 32))


def default_train_config(dataset: str, **overrides) -> TrainConfig:
    """The paper's recipe for CIFAR-100; for digits the small CNN and a schedule that trains in seconds."""
    if dataset == "digits":
        base = dict(architecture="digits_cnn", epochs=15, milestones=(8, 12), batch_size=32, flip=False, width=32)
    else:
        base = {}
    config = TrainConfig(**{**base, **overrides})
    config.validate()
    return config


def learning_rate(config: TrainConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up over the first ``warmup_epochs`` (per step), then x``gamma`` at every milestone passed."""
    warm_steps = config.warmup_epochs * steps_per_epoch
    done = epoch * steps_per_epoch + step
    if done < warm_steps:
        return config.lr * (done + 1) / warm_steps
    return config.lr * config.gamma ** sum(epoch >= m for m in config.milestones)

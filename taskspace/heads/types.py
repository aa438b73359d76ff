"""What a call of the head trainer takes and returns: splits, the training config, one result per head."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import TaskspaceError
from ..sections import dataclass_from_mapping

KINDS = ("classification", "regression")
OPTIMIZERS = ("adam", "adamw", "sgd")
STANDARDIZE = ("column", "block", "none")
BATCH_UNITS = ("items", "groups")
METRIC_INPUTS = ("flat", "sentences")
INITS = ("zero", "default")
SELECT_ON = ("dev", "test")


@dataclass
class Split:
    """The items of one split: features of all members side by side, labels, optional sentence ids.

    ``labels``: int class ids for classification (``HeadConfig.ignore_index`` marks unlabelled items) or floats
    for regression (NaN marks unlabelled items). ``groups``: one id per item (the sentence of a token) for token
    tasks; needed for ``batch_unit="groups"`` and ``metric_input="sentences"``.
    """

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray | None = None


@dataclass(frozen=True)
class HeadConfig:
    """How every head of a call is trained. Defaults are the validated protocol's LM probe settings (Adam 1e-3,
    40 epochs, z-scored features, zero init, epoch chosen on dev).

    ``init="default"`` is PyTorch's ``nn.Linear`` initialisation, drawn per head from a generator seeded by the
    seed and the head's member names, so that a head's start does not depend on the heads beside it.
    ``milestones``/``gamma`` are ``torch.optim.lr_scheduler.MultiStepLR`` stepped once per epoch: epoch e
    (from 1) trains at ``lr * gamma ** (number of milestones < e)``. ``select_on`` names the split whose metric
    chooses the reported epoch (``test`` is the paper's vision protocol, which peeks at the test set).
    """

    kind: str = "classification"
    epochs: int = 40
    batch_size: int = 64  # items, or groups (sentences) when batch_unit == "groups"
    batch_unit: str = "items"
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0  # L2 added to the gradient for adam/sgd, decoupled for adamw
    momentum: float = 0.9  # sgd only
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    init: str = "zero"
    select_on: str = "dev"
    eval_every: int = 1
    standardize: str = "column"
    seed: int = 0
    device: str = "auto"
    memory_budget_mb: float = 1024.0  # parameters + gradients + optimiser state of one chunk of heads
    eval_batch_rows: int = 8192
    ignore_index: int = -100
    log_every_s: float = 10.0

    def __post_init__(self):
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        for key, value, allowed in (
            ("kind", self.kind, KINDS),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("standardize", self.standardize, STANDARDIZE),
            ("batch_unit", self.batch_unit, BATCH_UNITS),
            ("init", self.init, INITS),
            ("select_on", self.select_on, SELECT_ON),
        ):
            if value not in allowed:
                raise TaskspaceError(f"heads: {key}={value!r} is not one of {', '.join(allowed)}")
        for key in ("epochs", "batch_size", "eval_every", "eval_batch_rows"):
            if int(getattr(self, key)) < 1:
                raise TaskspaceError(f"heads: {key} must be a positive integer, got {getattr(self, key)!r}")
        for key in ("lr", "memory_budget_mb", "gamma"):
            if not float(getattr(self, key)) > 0:
                raise TaskspaceError(f"heads: {key} must be positive, got {getattr(self, key)!r}")
        if self.weight_decay < 0:
            raise TaskspaceError(f"heads: weight_decay must be >= 0, got {self.weight_decay!r}")
        if list(self.milestones) != sorted(set(self.milestones)) or any(m < 1 for m in self.milestones):
            raise TaskspaceError(
                f"heads: milestones must be strictly increasing positive epochs, got {list(self.milestones)}"
            )

    @classmethod
    def from_mapping(cls, mapping, where: str = "heads") -> HeadConfig:
        """Build from a config section; an unknown or bad key is an error that names it, under ``where`` (the
        section's key in the config, e.g. ``lm.evaluation.paper.heads``)."""
        try:
            return dataclass_from_mapping(cls, mapping, "heads")
        except TaskspaceError as error:
            raise TaskspaceError(where + str(error).removeprefix("heads")) from None

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (from 1) under the MultiStepLR schedule."""
        return self.lr * self.gamma ** sum(1 for m in self.milestones if m < epoch)


@dataclass
class HeadResult:
    """What one head achieved. Epochs count from 1; curves are indexed like ``evaluated_epochs``."""

    head: int  # index into the ``heads`` argument
    members: tuple[int, ...]
    width: int  # number of feature columns the head reads
    best_epoch: int  # the evaluated epoch with the best metric on HeadConfig.select_on
    dev: float  # dev metric at best_epoch (NaN without a dev split)
    test: float  # test metric at best_epoch
    epochs: int
    steps: int  # optimiser steps taken; the same for every head of a call
    evaluated_epochs: np.ndarray = field(repr=False)
    dev_curve: np.ndarray = field(repr=False)
    test_curve: np.ndarray = field(repr=False)
    train_loss_curve: np.ndarray = field(repr=False)  # mean training loss of every epoch

    def record(self) -> dict:
        """The scalar fields, for a tidy metrics table."""
        return {
            "head": self.head,
            "members": self.members,
            "width": self.width,
            "best_epoch": self.best_epoch,
            "dev": self.dev,
            "test": self.test,
            "epochs": self.epochs,
            "steps": self.steps,
        }

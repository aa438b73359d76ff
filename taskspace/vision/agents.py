"""Agents: image classifiers each trained on its own subset of classes, saved as safetensors + JSON.

Training follows the paper (``vision/agents.py``, ``vision/utils.py``): SGD (lr 0.1, momentum 0.9, weight
decay 5e-4), a linear warm-up over the first epoch, then the learning rate times ``gamma`` at each milestone
epoch; augmentation by random crop with zero padding, optional horizontal flip and random rotation.
Three choices are keys, with the paper's values in ``configs/paper-vision.yaml`` and defaults that keep
earlier results: ``precision`` (auto: bfloat16 autocast on CUDA, float32 on the CPU; the paper trained
in float32), ``init_seed`` (per_agent: agent i starts from seed + i; the paper starts every agent from
seed 0) and ``keep`` (final: the last epoch's weights; best_test: the paper's, the weights of the epoch
with the best accuracy on the agent's held-out images, every test-pool image of its classes).

Each agent normalises inputs with the channel mean/std of its own training images. Augmentation is one
batched affine resampling (``grid_sample``) with parameters drawn from a seeded CPU generator, so it runs on
the GPU when there is one and a CPU run is exactly reproducible from its seed.

Beside this module: ``architectures.py`` (the networks), ``train_config.py`` (the training keys and the
learning-rate schedule), ``agent_files.py`` (``Agent`` and its safetensors + JSON files); their public names
are importable from here as well.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, replace

import numpy as np
import torch
from torch.nn import functional as F

from ..device import resolve_device, resolve_precision
from ..errors import TaskspaceError
from ..progress import Progress
from ..provenance import library_versions
from .agent_files import FORMAT, FORMAT_VERSION, LIBRARIES, Agent, load_agent, meta_path_for, save_agent
from .architectures import CifarResNet, DigitsCNN, build_model
from .data import to_float_tensor
from .train_config import ARCHITECTURES, KEEP, TrainConfig, default_train_config, learning_rate

__all__ = [
    "ARCHITECTURES",
    "FORMAT",
    "FORMAT_VERSION",
    "KEEP",
    "LIBRARIES",
    "Agent",
    "CifarResNet",
    "DigitsCNN",
    "TrainConfig",
    "affine_resample",
    "augment",
    "build_model",
    "default_train_config",
    "init_seed_of",
    "learning_rate",
    "load_agent",
    "meta_path_for",
    "save_agent",
    "train_agent",
    "train_split_agent",
]

log = logging.getLogger(__name__)


# --- augmentation and rotation ---------------------------------------------------------------------


def affine_resample(
    images: torch.Tensor,
    angles_deg: torch.Tensor,
    shifts: torch.Tensor | None = None,
    flips: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rotate (counter-clockwise, about the centre), flip and shift a batch ``(N, C, H, W)`` in one resampling.

    ``shifts`` are ``(N, 2)`` whole pixels (x, y), equivalent to a random crop of the zero-padded image;
    uncovered pixels become 0 (black, before normalisation), as torchvision's crop and rotation fill them.
    Bilinear interpolation; a pure shift lands exactly on pixel centres and so copies pixels unchanged.
    """
    n, _, h, w = images.shape
    theta = torch.deg2rad(angles_deg.to(torch.float32))
    cos, sin = torch.cos(theta), torch.sin(theta)
    # The grid maps each output pixel to the input position it reads. Image y points down, so a
    # counter-clockwise turn of the picture reads the input at the output position turned clockwise.
    matrix = torch.zeros(n, 2, 3)
    matrix[:, 0, 0], matrix[:, 0, 1] = cos, -sin * h / w
    matrix[:, 1, 0], matrix[:, 1, 1] = sin * w / h, cos
    if flips is not None:
        matrix[:, :, 0] = torch.where(flips[:, None], -matrix[:, :, 0], matrix[:, :, 0])
    if shifts is not None:
        matrix[:, 0, 2] = shifts[:, 0].float() * 2.0 / w
        matrix[:, 1, 2] = shifts[:, 1].float() * 2.0 / h
    grid = F.affine_grid(matrix.to(images.device), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(images: torch.Tensor, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """Random crop (as a shift of up to the padding), optional flip, random rotation; parameters from ``generator``."""
    n, _, size, _ = images.shape
    pad = config.padding_for(size)
    shifts = torch.randint(-pad, pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5 if config.flip else None
    angles = (torch.rand(n, generator=generator) * 2 - 1) * config.rotation
    return affine_resample(images, angles, shifts, flips)


# --- training ---------------------------------------------------------------------------------------


def train_agent(
    images: np.ndarray,
    labels: np.ndarray,
    classes,
    config: TrainConfig,
    name: str = "agent",
    held_out: tuple[np.ndarray, np.ndarray] | None = None,
    device: str = "auto",
    extra_meta: Mapping[str, object] | None = None,
) -> Agent:
    """Train one agent on uint8 images ``(N, H, W, C)`` whose dataset labels are all in ``classes``.

    The model predicts ``len(classes)`` outputs, class ``classes[i]`` as output ``i`` (classes sorted).
    ``held_out`` (images, dataset labels) gives the held-out accuracy recorded with the agent; with
    ``keep: best_test`` it is measured after every epoch and the best epoch's weights are kept.
    """
    config.validate()
    classes = sorted(int(c) for c in classes)
    device = resolve_device(device)
    precision = resolve_precision(config.precision, device, half="bfloat16", where="agents.precision")
    if config.keep == "best_test" and held_out is None:
        raise TaskspaceError(f"agent {name}: keep: best_test needs held-out images to choose the epoch on")
    start = time.perf_counter()
    x, y, normalization = _training_tensors(images, labels, classes, name, device)
    held = None
    if held_out is not None:
        held = (to_float_tensor(held_out[0]), torch.from_numpy(_local_labels(held_out[1], classes, name)))
    agent = _new_agent(config, len(classes), x.shape[1], normalization, name, device)
    _log_start(name, config, len(x), len(classes), device, precision)
    kept_epoch, by_epoch = _fit(agent, x, y, config, precision, held if config.keep == "best_test" else None)
    train_acc = agent.accuracy(x, y)
    held_acc = agent.accuracy(*held) if held is not None else float("nan")
    seconds = time.perf_counter() - start
    log.info(
        "agent %s done in %.1f s: epoch %d kept, train accuracy %.3f, held-out accuracy %.3f (%d images)",
        name,
        seconds,
        kept_epoch,
        train_acc,
        held_acc,
        len(held[1]) if held is not None else 0,
    )
    agent.meta = {
        **_agent_meta(agent, config, classes, x, normalization, device, precision),
        "train_accuracy": train_acc,
        "held_out_images": len(held[1]) if held is not None else 0,
        "held_out_accuracy": None if math.isnan(held_acc) else held_acc,
        "kept_epoch": kept_epoch,
        "train_seconds": round(seconds, 3),
        **({"held_out_accuracy_by_epoch": by_epoch} if by_epoch else {}),
        **dict(extra_meta or {}),
    }
    agent.model.to(memory_format=torch.contiguous_format)
    return agent


def init_seed_of(config: TrainConfig) -> int:
    """The seed of an agent's initial weights: its own ``seed`` (per_agent), or the one ``init_seed`` for all."""
    return config.seed if config.init_seed == "per_agent" else int(config.init_seed)


def _log_start(name, config: TrainConfig, n_images: int, n_classes: int, device, precision) -> None:
    log.info(
        "agent %s: %s on %d images of %d classes, %d epochs of %d steps, device %s, %s, initial weights from "
        "seed %d, keeping the %s weights",
        name,
        config.architecture,
        n_images,
        n_classes,
        config.epochs,
        len(_batches(n_images, config.batch_size)),
        device,
        precision,
        init_seed_of(config),
        "best held-out epoch's" if config.keep == "best_test" else "final",
    )


def _training_tensors(images, labels, classes, name, device):
    """Float images and local labels on ``device``, and the channel statistics of the images.

    Per-agent normalisation, as the paper's ``vision/agents.py``: the mean and std of its own training images.
    """
    local = _local_labels(labels, classes, name)
    x = to_float_tensor(images).to(device)
    y = torch.from_numpy(local).to(device)
    if len(x) < 2:
        raise TaskspaceError(f"agent {name}: {len(x)} training image(s); at least 2 are needed")
    mean = x.mean(dim=(0, 2, 3)).tolist()
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()
    return x, y, {"mean": mean, "std": std}


def _new_agent(config: TrainConfig, num_classes: int, channels: int, normalization, name, device) -> Agent:
    """A freshly initialised model from :func:`init_seed_of` (the paper's ``get_network(..., 0)``)."""
    # fork_rng: the seed fixes this agent's initial weights without touching the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed_of(config))
        model = build_model(config.architecture, num_classes, channels, config.width)
    model.to(device)
    if device == "cuda":
        model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    return Agent(model, {"normalization": normalization, "name": name})


def _fit(agent: Agent, x, y, config: TrainConfig, precision: str, held=None) -> tuple[int, list[float]]:
    """Train for ``config.epochs``; returns the epoch (from 1) whose weights the model ends with.

    With ``held`` (images, local labels: ``keep: best_test``) the held-out accuracy is measured after each
    epoch and the weights of the first epoch with the highest one are restored at the end, as the paper's
    ``vision/agents.py`` saves ``ckpt.pt`` whenever the test accuracy improves; the accuracies are returned.
    """
    model, device = agent.model, str(x.device.type)
    dtype = getattr(torch, precision)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    scaler = torch.amp.GradScaler(device, enabled=dtype == torch.float16)  # float16 gradients underflow
    generator = torch.Generator().manual_seed(config.seed)  # CPU generator: same draws on every device
    batches = _batches(len(x), config.batch_size)
    best, kept, by_epoch = -math.inf, config.epochs, []
    progress = Progress(log, f"agent {agent.name}", config.epochs, "epochs", every_s=0)  # a line every epoch
    for epoch in range(config.epochs):
        epoch_start = time.perf_counter()
        loss_sum, correct = _train_epoch(agent, optimizer, scaler, x, y, batches, config, epoch, generator, dtype)
        accuracy = None
        if held is not None:
            accuracy = agent.accuracy(*held)
            by_epoch.append(accuracy)
            if accuracy > best:  # strictly better: the first epoch of the best accuracy is kept
                best, kept = accuracy, epoch + 1
                state = {key: value.detach().clone() for key, value in model.state_dict().items()}
        seconds, lr = time.perf_counter() - epoch_start, optimizer.param_groups[0]["lr"]
        progress.update(epoch + 1, _epoch_line(batches[-1][1], loss_sum, correct, accuracy, lr, seconds))
    if held is not None:
        model.load_state_dict(state)
    return kept, by_epoch


def _train_epoch(agent, optimizer, scaler, x, y, batches, config, epoch, generator, dtype) -> tuple[float, int]:
    """One pass over the shuffled, augmented training images; returns the summed loss and the hits."""
    model, device = agent.model, x.device.type
    model.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    loss_sum, correct = 0.0, 0
    for step, (low, high) in enumerate(batches):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, epoch, step, len(batches))
        rows = order[low:high]
        batch = agent.normalize(augment(x[rows], config, generator))
        if device == "cuda":
            batch = batch.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
            out = model(batch)
            loss = F.cross_entropy(out.float(), y[rows])
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        loss_sum += float(loss.detach()) * (high - low)
        correct += int((out.argmax(1) == y[rows]).sum())
    return loss_sum, correct


def _epoch_line(seen, loss_sum, correct, held_accuracy, lr, seconds) -> str:
    """An epoch's part of its progress line: mean loss, training (and held-out) accuracy, learning rate, img/s."""
    held = f", held-out acc {held_accuracy:.3f}" if held_accuracy is not None else ""
    return (
        f"loss {loss_sum / seen:.4f}, acc {correct / seen:.3f}{held}, lr {lr:.4g}, "
        f"{seen / max(seconds, 1e-9):.0f} img/s"
    )


def _agent_meta(agent: Agent, config: TrainConfig, classes, x, normalization, device, precision) -> dict:
    """The facts of the agent's JSON file that do not depend on how training went."""
    _, channels, size, _ = x.shape
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": agent.name,
        "architecture": config.architecture,
        "classes": classes,
        "num_classes": len(classes),
        "in_channels": channels,
        "image_size": size,
        "feature_width": agent.model.feature_width,
        "normalization": normalization,
        "train_config": _jsonable(asdict(config)),
        "train_images": len(x),
        "init_seed": init_seed_of(config),
        "precision": precision,
        "device": device,
        "versions": library_versions(*LIBRARIES),
    }


def train_split_agent(data, split, agent: str | int, config: TrainConfig, device: str = "auto") -> Agent:
    """Train one agent of a split: its training images, held-out test-pool images, the split's hash.

    Agent number i trains with seed ``config.seed + i``: its augmentation and batch-order draws, and, with
    ``init_seed: per_agent`` (the default), its initial weights, so agents differ in those as well as in
    classes. ``init_seed: 0`` starts every agent from the same weights, as the paper's ``vision/agents.py``
    (``get_network(args.net, num_classes, 0)``). The held-out images are every test-pool image of the
    agent's classes (the paper's ``agent_test_ids``, ``vision/create_data_split.py``): ``keep: best_test``
    picks the epoch on them.
    """
    split.check_dataset(data)
    classes = split.agent_classes(agent)
    name = agent if isinstance(agent, str) else split.agent_names[agent]
    index = split.agent_names.index(name)
    train_ids, test_ids = split.agent_ids(agent, "train"), split.agent_ids(agent, "test")
    return train_agent(
        data.train.images[train_ids],
        data.train.labels[train_ids],
        classes,
        replace(config, seed=config.seed + index),
        name=name,
        held_out=(data.test.images[test_ids], data.test.labels[test_ids]),
        device=device,
        extra_meta={
            "dataset": data.name,
            "split_hash": split.hash,
            "class_names": [data.class_names[c] for c in classes],
        },
    )


# --- helpers ----------------------------------------------------------------------------------------


def _local_labels(labels: np.ndarray, classes: list[int], name: str) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64)
    local = np.searchsorted(np.asarray(classes), labels)
    if len(labels) and (
        local.max() >= len(classes) or np.any(np.asarray(classes)[np.minimum(local, len(classes) - 1)] != labels)
    ):
        raise TaskspaceError(f"agent {name}: an image's label is not one of the agent's classes {classes}")
    return local


def _batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Row ranges of an epoch; a last batch of one image is dropped (BatchNorm cannot train on it)."""
    bounds = [(low, min(low + batch_size, n)) for low in range(0, n, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < 2:
        bounds.pop()
    return bounds


def _jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value

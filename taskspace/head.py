"""Train many linear heads at once on shared features: step 5 of the method (evaluation).

For one task, every (selection method, seed, k) asks for a linear head on the concatenated features of a
subset of the zoo's members. All those heads see the same items, so they are trained together, in one
process and one loop over the data, instead of one process per head.

Data model
----------
``X`` holds every member's feature block side by side (n items x D columns); ``block_widths`` gives the width
of each member's block in column order, and a *head* is a tuple of member indices into those blocks. A head's
logits are the sum over its members m of ``X_m @ W_{h,m}`` plus a bias. That sum is what a linear layer on the
concatenation ``[X_m1, X_m2, ...]`` computes, so this is exactly "a linear head on the concatenated features".

Vectorisation
-------------
Parameters are stored *per member*: member m keeps one matrix ``(d_m, H_m * C)`` with the columns of every head
that uses it (H_m heads). A training step is one dense matrix product per member (``X_m @ W_m``, all its heads
at once) and one scatter-add of the per-(member, head) logits into the (batch, heads, classes) logits. This
does exactly the useful arithmetic: no padding to the widest head and no per-head copies of the features.
Measured on one CPU thread while writing this module, a training step was 1.8-7.5x faster than either a
padded, gathered ``bmm`` over heads or one dense masked weight matrix, on the demo's shapes and on an
LM-sized one (107 heads of up to 5 x 768 columns, 45 classes, 1500 tokens a batch); on GPU the few large
products per step are what cuBLAS is good at. Heads are split into chunks when parameters, gradients and
optimiser state would exceed ``HeadConfig.memory_budget_mb``; each chunk replays the same seeded batches.
Evaluation runs over row blocks small enough to keep the (rows, heads, outputs) logits within that budget.
The features of all three splits are held on the device as float32 (n x D), so pass only the members
that some head uses. When even those do not fit, ``train_heads_in_feature_groups`` splits the heads into
groups whose members' features fit a feature budget and loads only a group's members for it; as with
chunks, a head's result does not depend on its group (up to the float rounding noted below).

Determinism: on CPU the same inputs, config and thread count give the same numbers. On CUDA, ``index_add_``
sums with atomics, so the last bits can differ from run to run. A head's results agree with training it alone
(``heads=[members]``) up to float rounding (the products of a member's heads are computed together).

Training rules (why they are what they are)
-------------------------------------------
- Zero initialisation: the problem is convex (softmax regression / least squares), so zero is a fine start,
  and it makes a head's result independent of which other heads share its chunk (no per-head random init
  to keep in step). The seed drives only the order of the items.
- Proper epochs: every epoch shuffles once, with a ``torch.Generator`` seeded by ``HeadConfig.seed`` (the
  paper's code reshuffled inside every minibatch, so epochs did not visit every item once).
- Equal budget: every head of a call gets the same epochs, optimiser, learning rate and number of optimiser
  steps, whatever the selection method that produced it (the paper gave MMI 2000 epochs and the baselines
  1500). ``HeadResult.steps`` reports the count so callers and tests can check it.
- Loss: the mean over the (labelled) items of a batch (tokens, not sentences, when batching by sentences):
  cross-entropy for ``kind="classification"``, squared error for ``kind="regression"`` (targets are used as
  given, not standardised). Each head's loss is its own mean and the heads' losses are summed, so a head's
  gradient is the one it would get if trained alone.
- Unlabelled items (token tasks: unannotated tokens) are removed before anything else: they enter neither
  the standardisation statistics, nor the batches, nor the metrics. A sentence without any labelled token
  drops out of the sentence batches.
- Standardisation uses training-split statistics only (after unlabelled items are dropped):
  ``"column"`` (default) z-scores every column (a column with zero training variance is only centred);
  ``"block"`` centres every column and divides each member block by the root mean of its columns' variances,
  so the relative scale of a member's columns is kept; ``"none"`` leaves the features as they are.
  Both are per column or per member block, so a head sees the same inputs whichever other heads run with it.
- Model selection: every head is evaluated on dev and test every ``eval_every`` epochs (and after the last
  epoch). ``best_epoch`` is the evaluated epoch with the highest dev metric (earliest on ties; NaN counts as
  worst); ``dev`` and ``test`` are the metrics at that epoch. ``test_paper_protocol`` is the best test metric
  over the evaluated epochs, which is what the paper reported; it is kept separate and is never used to
  select anything.

Metrics
-------
A metric is a callable, higher is better:

- ``metric_input="flat"`` (default): ``metric(gold, pred) -> float`` with 1-D numpy arrays over the labelled
  items of a split, in the split's row order (class ids for classification, floats for regression).
  A metric with the attribute ``batched = True`` is instead called once per split and evaluation as
  ``metric(gold, preds) -> array (H,)`` with ``preds`` of shape (H, n); ``accuracy``, ``pearson`` and
  ``negative_mse`` below are such metrics.
- ``metric_input="sentences"``: ``metric(gold_sentences, pred_sentences) -> float`` with two lists of 1-D
  arrays, one per sentence (the split's ``groups``, in increasing group id; labelled tokens only, in row order
  within a sentence). For span F1, map class ids to tag strings inside the metric.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, fields, replace
from typing import Callable, Sequence

import numpy as np
import torch

from .device import resolve_device
from .errors import TaskspaceError

log = logging.getLogger(__name__)

KINDS = ("classification", "regression")
OPTIMIZERS = ("adam", "adamw", "sgd")
STANDARDIZE = ("column", "block", "none")
BATCH_UNITS = ("items", "groups")
METRIC_INPUTS = ("flat", "sentences")
SPLITS = ("train", "dev", "test")


# --------------------------------------------------------------------------------------------------- inputs


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
    """How every head of a call is trained. Defaults are the paper's LM probe settings (Adam 1e-3, 40 epochs,
    batches of 64 sentences when ``batch_unit="groups"``)."""

    kind: str = "classification"
    epochs: int = 40
    batch_size: int = 64  # items, or groups (sentences) when batch_unit == "groups"
    batch_unit: str = "items"
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0  # L2 added to the gradient for adam/sgd, decoupled for adamw
    momentum: float = 0.9  # sgd only
    eval_every: int = 1
    standardize: str = "column"
    seed: int = 0
    device: str = "auto"
    memory_budget_mb: float = 1024.0  # parameters + gradients + optimiser state of one chunk of heads
    eval_batch_rows: int = 8192
    ignore_index: int = -100
    log_every_s: float = 10.0

    def __post_init__(self):
        for key, value, allowed in (
            ("kind", self.kind, KINDS),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("standardize", self.standardize, STANDARDIZE),
            ("batch_unit", self.batch_unit, BATCH_UNITS),
        ):
            if value not in allowed:
                raise TaskspaceError(f"heads: {key}={value!r} is not one of {', '.join(allowed)}")
        for key in ("epochs", "batch_size", "eval_every", "eval_batch_rows"):
            if int(getattr(self, key)) < 1:
                raise TaskspaceError(f"heads: {key} must be a positive integer, got {getattr(self, key)!r}")
        for key in ("lr", "memory_budget_mb"):
            if not float(getattr(self, key)) > 0:
                raise TaskspaceError(f"heads: {key} must be positive, got {getattr(self, key)!r}")
        if self.weight_decay < 0:
            raise TaskspaceError(f"heads: weight_decay must be >= 0, got {self.weight_decay!r}")

    @classmethod
    def from_mapping(cls, mapping) -> "HeadConfig":
        """Build from a config section; an unknown key is an error that names it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise TaskspaceError(f"heads: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        return cls(**dict(mapping))


# -------------------------------------------------------------------------------------------------- outputs


@dataclass
class HeadResult:
    """What one head achieved. Epochs count from 1; curves are indexed like ``evaluated_epochs``."""

    head: int  # index into the ``heads`` argument
    members: tuple[int, ...]
    width: int  # number of feature columns the head reads
    best_epoch: int  # selected on dev only
    dev: float  # dev metric at best_epoch
    test: float  # test metric at best_epoch
    test_paper_protocol: float  # best test metric over evaluated epochs (the paper's protocol; not selection)
    paper_protocol_epoch: int
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
            "test_paper_protocol": self.test_paper_protocol,
            "paper_protocol_epoch": self.paper_protocol_epoch,
            "epochs": self.epochs,
            "steps": self.steps,
        }


# -------------------------------------------------------------------------------------------------- metrics


def accuracy(gold, preds) -> np.ndarray:
    """Fraction of equal labels; ``preds`` (n,) or (H, n)."""
    gold, preds = np.asarray(gold), np.asarray(preds)
    return (preds == gold).mean(axis=-1)


def pearson(gold, preds) -> np.ndarray:
    """Pearson correlation; 0 where predictions (or gold) are constant, so early, collapsed heads do not win."""
    gold = np.asarray(gold, dtype=np.float64)
    preds = np.asarray(preds, dtype=np.float64)
    g = gold - gold.mean()
    p = preds - preds.mean(axis=-1, keepdims=True)
    denom = np.sqrt((p * p).sum(axis=-1) * (g * g).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (p * g).sum(axis=-1) / denom
    return np.where(denom > 0, r, 0.0)


def negative_mse(gold, preds) -> np.ndarray:
    """Minus the mean squared error (higher is better, as every metric here)."""
    gold = np.asarray(gold, dtype=np.float64)
    preds = np.asarray(preds, dtype=np.float64)
    return -((preds - gold) ** 2).mean(axis=-1)


for _metric in (accuracy, pearson, negative_mse):
    _metric.batched = True


def stratified_holdout(labels, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Carve a validation split from training items: ``per_class`` items of every class, seeded.

    Returns (train_index, validation_index), both sorted. A class needs at least ``per_class + 1`` items so that
    some remain for training (the vision admin has only S images per class).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(labels):
        where = np.flatnonzero(labels == cls)
        if len(where) <= per_class:
            raise TaskspaceError(
                f"heads: class {cls} has {len(where)} training items, too few to hold out {per_class} for validation"
            )
        held.append(rng.choice(where, size=per_class, replace=False))
    val = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


# ------------------------------------------------------------------------------------------------- training


@dataclass
class _Prepared:
    """A split after dropping unlabelled items and standardising, as torch tensors on the device."""

    name: str
    x: object  # torch.Tensor (n, D) float32
    y: object  # torch.Tensor (n,) long or float32
    gold: np.ndarray  # labels as numpy, for the metrics
    groups: np.ndarray | None
    sentence_order: np.ndarray | None = None  # stable order by group id, for sentence metrics
    sentence_bounds: np.ndarray | None = None
    group_inverse: np.ndarray | None = None  # group number (0..G-1) of every item, for batching by groups
    n_groups: int = 0


def train_heads(
    train: Split,
    dev: Split,
    test: Split,
    block_widths: Sequence[int],
    heads: Sequence[Sequence[int]],
    metric: Callable = accuracy,
    config: HeadConfig = HeadConfig(),
    n_classes: int | None = None,
    metric_input: str = "flat",
    member_names: Sequence[str] | None = None,
) -> list[HeadResult]:
    """Train one linear head per entry of ``heads`` (member indices) on the same items; results in input order.

    See the module docstring for the data model, training rules and the metric interface.
    """
    if metric_input not in METRIC_INPUTS:
        raise TaskspaceError(f"heads: metric_input={metric_input!r} is not one of {', '.join(METRIC_INPUTS)}")
    widths = [int(w) for w in block_widths]
    if not widths or min(widths) < 1:
        raise TaskspaceError(f"heads: block_widths must be positive integers, got {list(block_widths)!r}")
    names = list(member_names) if member_names is not None else [f"member {i}" for i in range(len(widths))]
    if len(names) != len(widths):
        raise TaskspaceError(f"heads: {len(names)} member names for {len(widths)} feature blocks")
    head_members = _check_heads(heads, len(widths))
    offsets = np.concatenate([[0], np.cumsum(widths)])
    device = resolve_device(config.device)

    splits = {"train": train, "dev": dev, "test": test}
    for name, split in splits.items():
        _check_split(name, split, int(offsets[-1]), config, metric_input)
    kept = {name: _labelled(name, split, config) for name, split in splits.items()}
    if config.kind == "classification":
        n_out = _n_classes(kept, n_classes)
    else:
        n_out = 1

    mean, scale = _standardisation(kept["train"][0].features, widths, offsets, config.standardize)
    prepared = {}
    for name, (split, _) in kept.items():
        prepared[name] = _prepare(name, split, mean, scale, config, device, names, offsets)

    batches_per_epoch = _batches_per_epoch(prepared["train"], config)
    steps = batches_per_epoch * config.epochs
    eval_epochs = sorted(set(range(config.eval_every, config.epochs + 1, config.eval_every)) | {config.epochs})

    chunks = _chunks(head_members, widths, n_out, config.memory_budget_mb)
    log.info(
        "heads: %d heads on %d train / %d dev / %d test items, %d columns in %d member blocks, %s with %d outputs; "
        "%d epochs x %d steps, %s lr %g, %d chunk(s) on %s",
        len(head_members), len(prepared["train"].gold), len(prepared["dev"].gold), len(prepared["test"].gold),
        int(offsets[-1]), len(widths), config.kind, n_out, config.epochs, batches_per_epoch, config.optimizer,
        config.lr, len(chunks), device,
    )

    results: list[HeadResult | None] = [None] * len(head_members)
    progress = _Progress(len(head_members), config.epochs, config.log_every_s)
    for chunk in chunks:
        curves = _train_chunk(
            [head_members[h] for h in chunk], widths, offsets, n_out, prepared, config, device,
            metric, metric_input, eval_epochs, progress,
        )
        dev_curve, test_curve, loss_curve = curves
        for j, h in enumerate(chunk):
            results[h] = _result(h, head_members[h], widths, eval_epochs, dev_curve[j], test_curve[j],
                                 loss_curve[j], config.epochs, steps)
        progress.chunk_done(len(chunk))
    progress.finish()
    return results  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ feature groups

def feature_groups(head_members: Sequence[Sequence[int]], member_bytes: Sequence[float],
                   budget_bytes: float) -> list[list[int]]:
    """Groups of heads (indices into ``head_members``) whose members' features together fit ``budget_bytes``.

    Every head is in exactly one group. Greedy: a group starts from the largest remaining head and takes, one by
    one, the head that adds the fewest bytes of members not yet loaded while the group fits. A head whose
    members are all loaded already costs nothing and always joins, so a group exceeds the budget only when its
    first head does alone, and then holds just the heads on that head's members. Ties go to the lower head
    index, so the grouping is deterministic.
    """
    head_bytes = [sum(member_bytes[m] for m in set(members)) for members in head_members]
    remaining = list(range(len(head_members)))
    groups = []
    while remaining:
        first = max(remaining, key=lambda h: head_bytes[h])
        remaining.remove(first)
        group, loaded, used = [first], set(head_members[first]), head_bytes[first]
        while remaining:
            extra = {h: sum(member_bytes[m] for m in set(head_members[h]) - loaded) for h in remaining}
            fitting = [h for h in remaining if used + extra[h] <= budget_bytes or not extra[h]]
            if not fitting:
                break
            best = min(fitting, key=lambda h: extra[h])
            remaining.remove(best)
            group.append(best)
            loaded |= set(head_members[best])
            used += extra[best]
        groups.append(sorted(group))
    return groups


def train_heads_in_feature_groups(
    load_members: Callable[[list[int]], tuple[Split, Split, Split]],
    block_widths: Sequence[int],
    n_items: int,
    heads: Sequence[Sequence[int]],
    feature_budget_mb: float | None,
    label: str,
    metric: Callable = accuracy,
    config: HeadConfig = HeadConfig(),
    n_classes: int | None = None,
    metric_input: str = "flat",
    member_names: Sequence[str] | None = None,
) -> list[HeadResult]:
    """``train_heads`` with at most ``feature_budget_mb`` of features loaded at a time (None: no limit).

    ``load_members(members)`` returns the (train, dev, test) splits with only those members' blocks, in the
    given (increasing) order; its splits hold ``n_items`` rows in all, so member m's features take
    ``n_items x block_widths[m]`` float32s. Heads are grouped by ``feature_groups`` and each group trains on
    its own members only; results come back in the order of ``heads``, with ``head`` and ``members`` as given.
    ``label`` (e.g. the task) names the job in log lines. A head that alone exceeds the budget still trains,
    with the heads on its members, after a warning.
    """
    widths = [int(w) for w in block_widths]
    names = list(member_names) if member_names is not None else [f"member {i}" for i in range(len(widths))]
    head_members = _check_heads(heads, len(widths))
    member_bytes = [4 * n_items * w for w in widths]
    budget_bytes = math.inf if feature_budget_mb is None else feature_budget_mb * 2**20
    groups = feature_groups(head_members, member_bytes, budget_bytes)
    results: list[HeadResult | None] = [None] * len(head_members)
    for number, group in enumerate(groups, 1):
        members = sorted({m for h in group for m in head_members[h]})
        size_mb = sum(member_bytes[m] for m in members) / 2**20
        if size_mb * 2**20 > budget_bytes:
            widest = max(group, key=lambda h: len(head_members[h]))  # the head whose members these are
            log.warning("heads: %s: head %d (%s) alone needs %.1f MB of features, over the feature budget of "
                        "%.1f MB; training it anyway", label, widest, "+".join(names[m] for m in members),
                        size_mb, feature_budget_mb)
        log.info("heads: %s: feature group %d/%d, %d heads on %d members (%.1f MB): %s", label, number,
                 len(groups), len(group), len(members), size_mb, ", ".join(names[m] for m in members))
        local = {m: i for i, m in enumerate(members)}
        # The loaded splits go straight in: no name here keeps a group's features alive into the next group.
        trained = train_heads(*load_members(members), [widths[m] for m in members],
                              [[local[m] for m in head_members[h]] for h in group], metric=metric, config=config,
                              n_classes=n_classes, metric_input=metric_input,
                              member_names=[names[m] for m in members])
        for h, result in zip(group, trained):
            results[h] = replace(result, head=h, members=head_members[h])
    return results  # type: ignore[return-value]


def _check_heads(heads, n_members: int) -> list[tuple[int, ...]]:
    out = []
    for h, members in enumerate(heads):
        members = tuple(int(m) for m in members)
        if not members:
            raise TaskspaceError(f"heads: head {h} has no members")
        if len(set(members)) != len(members):
            raise TaskspaceError(f"heads: head {h} lists a member twice: {members}")
        bad = [m for m in members if not 0 <= m < n_members]
        if bad:
            raise TaskspaceError(f"heads: head {h} names member {bad[0]}, but there are {n_members} feature blocks")
        out.append(members)
    if not out:
        raise TaskspaceError("heads: no heads to train")
    return out


def _labelled(name: str, split: Split, config: HeadConfig) -> tuple[Split, np.ndarray]:
    """Drop unlabelled items (ignore_index / NaN) before anything else looks at the split."""
    labels = np.asarray(split.labels)
    if labels.ndim != 1:
        raise TaskspaceError(f"heads: {name} labels must be 1-D, got shape {labels.shape}")
    if config.kind == "classification":
        if not np.issubdtype(labels.dtype, np.integer):
            if np.issubdtype(labels.dtype, np.floating) and np.all(np.mod(labels[np.isfinite(labels)], 1) == 0):
                labels = np.where(np.isfinite(labels), labels, config.ignore_index).astype(np.int64)
            else:
                raise TaskspaceError(f"heads: {name} labels must be integer class ids for classification")
        keep = labels != config.ignore_index
    else:
        labels = labels.astype(np.float64)
        keep = ~np.isnan(labels)
    if not keep.any():
        raise TaskspaceError(f"heads: the {name} split has no labelled items")
    if keep.all():
        return Split(split.features, labels, split.groups), keep
    groups = None if split.groups is None else np.asarray(split.groups)[keep]
    return Split(np.asarray(split.features)[keep], labels[keep], groups), keep


def _check_split(name, split: Split, n_columns, config, metric_input) -> None:
    x = split.features
    if getattr(x, "ndim", 0) != 2:
        raise TaskspaceError(f"heads: {name} features must be a 2-D array (items x columns)")
    if x.shape[1] != n_columns:
        raise TaskspaceError(f"heads: {name} features have {x.shape[1]} columns, the member blocks add up to {n_columns}")
    if x.shape[0] != len(split.labels):
        raise TaskspaceError(f"heads: {name} has {x.shape[0]} feature rows for {len(split.labels)} labels")
    needs_groups = metric_input == "sentences" or (name == "train" and config.batch_unit == "groups")
    if needs_groups and split.groups is None:
        raise TaskspaceError(f"heads: {name} split needs groups (sentence ids) for "
                             f"{'sentence metrics' if metric_input == 'sentences' else 'batching by groups'}")
    if split.groups is not None and len(split.groups) != x.shape[0]:
        raise TaskspaceError(f"heads: {name} has {len(split.groups)} group ids for {x.shape[0]} items")


def _n_classes(kept, n_classes) -> int:
    top = max(int(split.labels.max()) for split, _ in kept.values())
    low = min(int(split.labels.min()) for split, _ in kept.values())
    if low < 0:
        raise TaskspaceError(f"heads: class id {low} is negative (unlabelled items must use ignore_index)")
    if n_classes is None:
        return max(top + 1, 2)
    if top >= n_classes:
        raise TaskspaceError(f"heads: class id {top} found but n_classes={n_classes}")
    return int(n_classes)


def _standardisation(x_train, widths, offsets, mode):
    """Per-column mean and scale from the training split (float64 accumulation, streamed by row blocks)."""
    n, d = x_train.shape
    if mode == "none":
        return np.zeros(d, np.float32), np.ones(d, np.float32)
    total = np.zeros(d)
    total_sq = np.zeros(d)
    # Blocks of at most 65536 rows and 256 of one member's columns: the float64 copies stay small however wide
    # the features, and a member's columns are summed in the same blocks whichever members are beside it.
    for m, w in enumerate(widths):
        for first in range(offsets[m], offsets[m] + w, 256):
            cols = slice(first, min(first + 256, offsets[m] + w))
            for start in range(0, n, 65536):
                block = np.asarray(x_train[start:start + 65536, cols], dtype=np.float64)
                total[cols] += block.sum(0)
                total_sq[cols] += (block * block).sum(0)
    mean = total / n
    var = np.maximum(total_sq / n - mean * mean, 0.0)
    if mode == "column":
        scale = np.sqrt(var)
        scale[scale < 1e-12] = 1.0  # constant column (e.g. a dead ReLU unit): centre only
    else:  # block
        scale = np.ones(d)
        for m, w in enumerate(widths):
            cols = slice(offsets[m], offsets[m] + w)
            rms = math.sqrt(var[cols].mean())
            scale[cols] = rms if rms > 1e-12 else 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def _prepare(name, split: Split, mean, scale, config, device, names, offsets) -> _Prepared:
    x = np.asarray(split.features, dtype=np.float32) - mean
    x /= scale  # in place: one copy of the features, not two
    if not np.isfinite(x).all():
        col = int(np.flatnonzero(~np.isfinite(x).all(0))[0])
        member = int(np.searchsorted(offsets, col, side="right") - 1)
        raise TaskspaceError(f"heads: {name} features of {names[member]} hold NaN or inf (column {col - offsets[member]})")
    if config.kind == "regression":
        y = torch.as_tensor(split.labels, dtype=torch.float32, device=device)
    else:
        y = torch.as_tensor(split.labels, dtype=torch.long, device=device)
    prepared = _Prepared(name, torch.from_numpy(np.ascontiguousarray(x)).to(device), y, np.asarray(split.labels),
                         None if split.groups is None else np.asarray(split.groups))
    if prepared.groups is not None:
        order = np.argsort(prepared.groups, kind="stable")
        sorted_groups = prepared.groups[order]
        bounds = np.flatnonzero(np.diff(sorted_groups)) + 1
        prepared.sentence_order = order
        prepared.sentence_bounds = bounds
        unique, prepared.group_inverse = np.unique(prepared.groups, return_inverse=True)
        prepared.n_groups = len(unique)
    return prepared


def _batches_per_epoch(train: _Prepared, config: HeadConfig) -> int:
    units = train.n_groups if config.batch_unit == "groups" else len(train.gold)
    return -(-units // config.batch_size)


def _epoch_batches(train: _Prepared, config: HeadConfig, generator):
    """Row indices of every batch of one epoch: one seeded shuffle of items (or of whole groups) per epoch."""
    n = len(train.gold)
    if config.batch_unit == "items":
        perm = torch.randperm(n, generator=generator)
        return list(torch.split(perm, config.batch_size))
    # Shuffle the groups, then lay out their rows group after group (rows keep their order inside a group).
    n_groups = train.n_groups
    group_perm = torch.randperm(n_groups, generator=generator).numpy()
    rank = np.empty(n_groups, dtype=np.int64)
    rank[group_perm] = np.arange(n_groups)
    row_rank = rank[train.group_inverse]
    rows = np.argsort(row_rank, kind="stable")
    counts = np.bincount(row_rank, minlength=n_groups)
    per_batch = np.add.reduceat(counts, np.arange(0, n_groups, config.batch_size))
    return list(torch.split(torch.from_numpy(rows), per_batch.tolist()))


def _chunks(head_members, widths, n_out, budget_mb) -> list[list[int]]:
    """Consecutive groups of heads whose parameters, gradients and two optimiser moments fit the budget."""
    budget = budget_mb * 2**20
    chunks, current, used = [], [], 0.0
    for h, members in enumerate(head_members):
        cost = 4 * 4 * (sum(widths[m] for m in members) + 1) * n_out  # float32 x (param, grad, 2 moments)
        if current and used + cost > budget:
            chunks.append(current)
            current, used = [], 0.0
        current.append(h)
        used += cost
    chunks.append(current)
    return chunks


def _train_chunk(head_members, widths, offsets, n_out, prepared, config, device, metric, metric_input,
                 eval_epochs, progress):
    n_heads = len(head_members)
    # For every member used by this chunk: its column slice and the chunk-local heads that read it.
    users: dict[int, list[int]] = {}
    for j, members in enumerate(head_members):
        for m in members:
            users.setdefault(m, []).append(j)
    used = sorted(users)
    slices = [slice(int(offsets[m]), int(offsets[m] + widths[m])) for m in used]
    head_index = [torch.as_tensor(users[m], dtype=torch.long, device=device) for m in used]
    weights = [torch.zeros(widths[m], len(users[m]) * n_out, device=device, requires_grad=True) for m in used]
    bias = torch.zeros(n_heads, n_out, device=device, requires_grad=True)
    params = weights + [bias]
    if config.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    elif config.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    else:
        opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
                              foreach=True)

    # Member m's product x_m @ W_m gives (rows, heads of m * outputs); a scatter-add over columns puts those into
    # the (rows, heads * outputs) logits. (A transposed layout with one row-wise scatter measured 2x slower on
    # CPU: its products and the argmax over classes ran on strided memory.)
    columns = [(index[:, None] * n_out + torch.arange(n_out, device=device)).reshape(-1) for index in head_index]

    def logits_of(x):
        """(rows, heads, outputs): bias plus, for every member, its contribution to every head that uses it."""
        out = bias.reshape(1, n_heads * n_out).expand(x.shape[0], -1).clone()
        for cols, index, w in zip(slices, columns, weights):
            out.index_add_(1, index, x[:, cols] @ w)
        return out.view(x.shape[0], n_heads, n_out)

    train = prepared["train"]
    generator = torch.Generator().manual_seed(int(config.seed))  # same batches in every chunk and alone
    n_eval = len(eval_epochs)
    dev_curve = np.full((n_heads, n_eval), np.nan)
    test_curve = np.full((n_heads, n_eval), np.nan)
    loss_curve = np.zeros((n_heads, config.epochs))
    eval_at = {e: i for i, e in enumerate(eval_epochs)}
    for epoch in range(1, config.epochs + 1):
        epoch_loss = torch.zeros(n_heads, device=device, dtype=torch.float64)
        for rows in _epoch_batches(train, config, generator):
            rows = rows.to(device)
            x = train.x.index_select(0, rows)
            y = train.y.index_select(0, rows)
            out = logits_of(x)
            if config.kind == "classification":
                # (rows, classes, heads) against (rows, heads): one cross-entropy per (item, head).
                per_item = torch.nn.functional.cross_entropy(
                    out.permute(0, 2, 1), y[:, None].expand(-1, n_heads), reduction="none"
                )
            else:
                per_item = (out[:, :, 0] - y[:, None]) ** 2
            head_loss = per_item.sum(0) / len(rows)  # each head's mean over the batch
            opt.zero_grad(set_to_none=True)
            head_loss.sum().backward()  # heads share no parameters: every head gets its own gradient
            opt.step()
            epoch_loss += head_loss.detach().double() * len(rows)
        loss_curve[:, epoch - 1] = (epoch_loss / len(train.gold)).cpu().numpy()
        if epoch in eval_at:
            i = eval_at[epoch]
            with torch.no_grad():
                for name, curve in (("dev", dev_curve), ("test", test_curve)):
                    curve[:, i] = _evaluate(prepared[name], logits_of, config, metric, metric_input,
                                            n_heads, n_out)
        progress.epoch_done(n_heads)
    return dev_curve, test_curve, loss_curve


def _evaluate(split: _Prepared, logits_of, config, metric, metric_input, n_heads, n_out) -> np.ndarray:
    # Row blocks: at most eval_batch_rows, and few enough that the logits (x2 for the products) fit the budget.
    budget_rows = int(config.memory_budget_mb * 2**20 // (2 * 4 * n_heads * n_out))
    block = max(1, min(config.eval_batch_rows, budget_rows))
    preds = []
    for start in range(0, split.x.shape[0], block):
        out = logits_of(split.x[start:start + block])
        preds.append(out.argmax(-1) if config.kind == "classification" else out[:, :, 0])
    pred = torch.cat(preds).T.cpu().numpy()  # (heads, items)
    if metric_input == "sentences":
        gold_s = np.split(split.gold[split.sentence_order], split.sentence_bounds)
        return np.array([
            float(metric(gold_s, np.split(p[split.sentence_order], split.sentence_bounds))) for p in pred
        ])
    if getattr(metric, "batched", False):
        values = np.asarray(metric(split.gold, pred), dtype=np.float64)
        if values.shape != (n_heads,):
            raise TaskspaceError(f"heads: batched metric {getattr(metric, '__name__', metric)!r} returned shape "
                                 f"{values.shape}, expected ({n_heads},)")
        return values
    return np.array([float(metric(split.gold, p)) for p in pred])


def _result(h, members, widths, eval_epochs, dev, test, loss, epochs, steps) -> HeadResult:
    epochs_arr = np.asarray(eval_epochs)
    dev_sel = np.where(np.isnan(dev), -np.inf, dev)
    best = int(np.argmax(dev_sel))  # first maximum: earliest epoch on ties
    test_sel = np.where(np.isnan(test), -np.inf, test)
    paper = int(np.argmax(test_sel))
    return HeadResult(
        head=h, members=members, width=sum(widths[m] for m in members),
        best_epoch=int(epochs_arr[best]), dev=float(dev[best]), test=float(test[best]),
        test_paper_protocol=float(test[paper]), paper_protocol_epoch=int(epochs_arr[paper]),
        epochs=epochs, steps=steps, evaluated_epochs=epochs_arr, dev_curve=dev, test_curve=test,
        train_loss_curve=loss,
    )


class _Progress:
    """Throttled progress lines: heads done, epochs, head-epochs per second, ETA."""

    def __init__(self, n_heads, epochs, every_s):
        self.total = n_heads * epochs
        self.n_heads, self.epochs, self.every_s = n_heads, epochs, every_s
        self.done = 0
        self.heads_done = 0
        self.start = self.last = time.perf_counter()

    def epoch_done(self, heads):
        self.done += heads
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            rate = self.done / (now - self.start)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info("heads: %d/%d heads done, %d/%d head-epochs, %.1f head-epochs/s, ETA %.0f s",
                     self.heads_done, self.n_heads, self.done, self.total, rate, eta)

    def chunk_done(self, heads):
        self.heads_done += heads

    def finish(self):
        elapsed = time.perf_counter() - self.start
        log.info("heads: %d heads x %d epochs done in %.1f s (%.1f head-epochs/s)", self.n_heads, self.epochs,
                 elapsed, self.total / max(elapsed, 1e-9))

"""The trainer: many linear heads on shared features in one loop over the data (see the package docstring)."""

from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..device import resolve_device
from ..errors import TaskspaceError
from ..progress import Progress
from .metrics import accuracy
from .types import METRIC_INPUTS, HeadConfig, HeadResult, Split

log = logging.getLogger("taskspace.heads")


@dataclass
class _Prepared:
    """A split after dropping unlabelled items and standardising, as torch tensors on the device."""

    name: str
    x: torch.Tensor  # (n, D) float32
    y: torch.Tensor  # (n,) long or float32
    gold: np.ndarray  # labels as numpy, for the metrics
    groups: np.ndarray | None
    sentence_order: np.ndarray | None = None  # stable order by group id, for sentence metrics
    sentence_bounds: np.ndarray | None = None
    group_inverse: np.ndarray | None = None  # group number (0..G-1) of every item, for batching by groups
    n_groups: int = 0


@dataclass
class _Call:
    """What every chunk of one call shares."""

    widths: list[int]
    offsets: np.ndarray
    names: list[str]
    n_out: int
    config: HeadConfig
    device: torch.device
    metric: Callable
    metric_input: str
    eval_epochs: list[int]


def train_heads(
    train: Split,
    dev: Split | None,
    test: Split,
    block_widths: Sequence[int],
    heads: Sequence[Sequence[int]],
    metric: Callable = accuracy,
    config: HeadConfig = HeadConfig(),  # noqa: B008 (frozen: one shared default is safe)
    n_classes: int | None = None,
    metric_input: str = "flat",
    member_names: Sequence[str] | None = None,
) -> list[HeadResult]:
    """Train one linear head per entry of ``heads`` (member indices) on the same items; results in input order.

    ``dev`` may be None when the config selects the epoch on test (the paper's vision protocol); the dev
    metrics are then NaN. See the package docstring for the data model, training rules and metrics.
    """
    call, head_members, prepared = _prepare_call(
        train, dev, test, block_widths, heads, metric, config, n_classes, metric_input, member_names
    )
    batches_per_epoch = _batches_per_epoch(prepared["train"], config)
    chunks = _chunks(head_members, call.widths, call.n_out, config.memory_budget_mb)
    log.info(
        "heads: %d heads on %d train / %s dev / %d test items, %d columns in %d member blocks, %s with %d outputs; "
        "%d epochs x %d steps, %s lr %g, %s init, epoch chosen on %s, %d chunk(s) on %s",
        len(head_members),
        len(prepared["train"].gold),
        len(prepared["dev"].gold) if "dev" in prepared else "no",
        len(prepared["test"].gold),
        int(call.offsets[-1]),
        len(call.widths),
        config.kind,
        call.n_out,
        config.epochs,
        batches_per_epoch,
        config.optimizer,
        config.lr,
        config.init,
        config.select_on,
        len(chunks),
        call.device,
    )
    results: list[HeadResult | None] = [None] * len(head_members)
    progress = Progress(log, "heads", len(head_members) * config.epochs, "head-epochs", config.log_every_s)
    for chunk in chunks:
        members = [head_members[h] for h in chunk]
        dev_curve, test_curve, loss_curve = _train_chunk(members, prepared, call, progress)
        for j, h in enumerate(chunk):
            results[h] = _result(
                h, head_members[h], call, dev_curve[j], test_curve[j], loss_curve[j], batches_per_epoch * config.epochs
            )
    progress.finish()
    return results  # type: ignore[return-value]


def _prepare_call(train, dev, test, block_widths, heads, metric, config, n_classes, metric_input, member_names):
    """Check the inputs, drop unlabelled items, standardise, move to the device."""
    if metric_input not in METRIC_INPUTS:
        raise TaskspaceError(f"heads: metric_input={metric_input!r} is not one of {', '.join(METRIC_INPUTS)}")
    widths = [int(w) for w in block_widths]
    if not widths or min(widths) < 1:
        raise TaskspaceError(f"heads: block_widths must be positive integers, got {list(block_widths)!r}")
    names = list(member_names) if member_names is not None else [f"member {i}" for i in range(len(widths))]
    if len(names) != len(widths):
        raise TaskspaceError(f"heads: {len(names)} member names for {len(widths)} feature blocks")
    if dev is None and config.select_on == "dev":
        raise TaskspaceError("heads: select_on='dev' needs a dev split")
    head_members = check_heads(heads, len(widths))
    offsets = np.concatenate([[0], np.cumsum(widths)])
    splits = {"train": train, "test": test} if dev is None else {"train": train, "dev": dev, "test": test}
    for name, split in splits.items():
        _check_split(name, split, int(offsets[-1]), config, metric_input)
    kept = {name: _labelled(name, split, config) for name, split in splits.items()}
    n_out = _n_classes(kept, n_classes) if config.kind == "classification" else 1
    mean, scale = _standardisation(kept["train"].features, widths, offsets, config.standardize)
    device = resolve_device(config.device)
    prepared = {
        name: _prepare(name, split, mean, scale, config, device, names, offsets) for name, split in kept.items()
    }
    eval_epochs = sorted(set(range(config.eval_every, config.epochs + 1, config.eval_every)) | {config.epochs})
    call = _Call(widths, offsets, names, n_out, config, device, metric, metric_input, eval_epochs)
    return call, head_members, prepared


def check_heads(heads, n_members: int) -> list[tuple[int, ...]]:
    """Heads as tuples of member indices; an empty head, a repeated or unknown member is an error."""
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


def _labelled(name: str, split: Split, config: HeadConfig) -> Split:
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
        return Split(split.features, labels, split.groups)
    groups = None if split.groups is None else np.asarray(split.groups)[keep]
    return Split(np.asarray(split.features)[keep], labels[keep], groups)


def _check_split(name, split: Split, n_columns, config, metric_input) -> None:
    x = split.features
    if getattr(x, "ndim", 0) != 2:
        raise TaskspaceError(f"heads: {name} features must be a 2-D array (items x columns)")
    if x.shape[1] != n_columns:
        raise TaskspaceError(
            f"heads: {name} features have {x.shape[1]} columns, the member blocks add up to {n_columns}"
        )
    if x.shape[0] != len(split.labels):
        raise TaskspaceError(f"heads: {name} has {x.shape[0]} feature rows for {len(split.labels)} labels")
    needs_groups = metric_input == "sentences" or (name == "train" and config.batch_unit == "groups")
    if needs_groups and split.groups is None:
        raise TaskspaceError(
            f"heads: {name} split needs groups (sentence ids) for "
            f"{'sentence metrics' if metric_input == 'sentences' else 'batching by groups'}"
        )
    if split.groups is not None and len(split.groups) != x.shape[0]:
        raise TaskspaceError(f"heads: {name} has {len(split.groups)} group ids for {x.shape[0]} items")


def _n_classes(kept: dict[str, Split], n_classes) -> int:
    top = max(int(split.labels.max()) for split in kept.values())
    low = min(int(split.labels.min()) for split in kept.values())
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
                block = np.asarray(x_train[start : start + 65536, cols], dtype=np.float64)
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
        raise TaskspaceError(
            f"heads: {name} features of {names[member]} hold NaN or inf (column {col - offsets[member]})"
        )
    dtype = torch.float32 if config.kind == "regression" else torch.long
    y = torch.as_tensor(split.labels, dtype=dtype, device=device)
    groups = None if split.groups is None else np.asarray(split.groups)
    prepared = _Prepared(
        name, torch.from_numpy(np.ascontiguousarray(x)).to(device), y, np.asarray(split.labels), groups
    )
    if groups is not None:
        order = np.argsort(groups, kind="stable")
        prepared.sentence_order = order
        prepared.sentence_bounds = np.flatnonzero(np.diff(groups[order])) + 1
        unique, prepared.group_inverse = np.unique(groups, return_inverse=True)
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


def head_seed(seed: int, member_names: Sequence[str]) -> int:
    """The seed of one head's initial weights: a function of the seed and its members (in order) only."""
    key = zlib.crc32("\x1f".join(member_names).encode())
    return int(np.random.SeedSequence([int(seed), key]).generate_state(1)[0])


class _HeadBank:
    """The parameters of a chunk of heads, stored per member: member m keeps one (d_m, H_m * outputs) matrix
    with the columns of every head that reads it, so a step is one dense product per member."""

    def __init__(self, head_members, call: _Call):
        self.n_heads, self.n_out = len(head_members), call.n_out
        device = call.device
        users: dict[int, list[int]] = {}
        for j, members in enumerate(head_members):
            for m in members:
                users.setdefault(m, []).append(j)
        used = sorted(users)
        self.slices = [slice(int(call.offsets[m]), int(call.offsets[m] + call.widths[m])) for m in used]
        arange = torch.arange(self.n_out, device=device)
        # Columns of the (rows, heads * outputs) logits that each member's product adds into.
        self.columns = [
            (torch.as_tensor(users[m], device=device)[:, None] * self.n_out + arange).reshape(-1) for m in used
        ]
        self.weights = [torch.zeros(call.widths[m], len(users[m]) * self.n_out, device=device) for m in used]
        self.bias = torch.zeros(self.n_heads, self.n_out, device=device)
        if call.config.init == "default":
            self._default_init(head_members, users, used, call)
        for tensor in (*self.weights, self.bias):
            tensor.requires_grad_(True)

    def _default_init(self, head_members, users, used, call: _Call) -> None:
        """nn.Linear's init of each head on its concatenated features: U(-1/sqrt(D), 1/sqrt(D)), D its width."""
        position = {m: i for i, m in enumerate(used)}
        for j, members in enumerate(head_members):
            width = sum(call.widths[m] for m in members)
            generator = torch.Generator().manual_seed(head_seed(call.config.seed, [call.names[m] for m in members]))
            bound = 1.0 / math.sqrt(width)
            weight = (torch.rand(width + 1, self.n_out, generator=generator) * 2 - 1) * bound
            start = 0
            for m in members:
                block = self.weights[position[m]]
                col = users[m].index(j) * self.n_out
                block[:, col : col + self.n_out] = weight[start : start + call.widths[m]].to(block.device)
                start += call.widths[m]
            self.bias[j] = weight[width].to(self.bias.device)

    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, self.bias]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, heads, outputs): bias plus, for every member, its contribution to every head that uses it."""
        out = self.bias.reshape(1, -1).expand(x.shape[0], -1).clone()
        for cols, index, w in zip(self.slices, self.columns, self.weights):
            out.index_add_(1, index, x[:, cols] @ w)
        return out.view(x.shape[0], self.n_heads, self.n_out)


def _optimizer(params, config: HeadConfig) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, foreach=True)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, foreach=True
    )


def _train_chunk(head_members, prepared: dict[str, _Prepared], call: _Call, progress: Progress):
    """Train a chunk of heads; return their dev, test curves (heads x evaluated epochs) and loss curves."""
    config, bank = call.config, _HeadBank(head_members, call)
    opt = _optimizer(bank.parameters(), config)
    generator = torch.Generator().manual_seed(int(config.seed))  # same batches in every chunk and alone
    n_heads, n_eval = len(head_members), len(call.eval_epochs)
    curves = {name: np.full((n_heads, n_eval), np.nan) for name in ("dev", "test")}
    loss_curve = np.zeros((n_heads, config.epochs))
    eval_at = {e: i for i, e in enumerate(call.eval_epochs)}
    for epoch in range(1, config.epochs + 1):
        for group in opt.param_groups:
            group["lr"] = config.lr_at(epoch)
        loss_curve[:, epoch - 1] = _train_epoch(bank, opt, prepared["train"], config, call.device, generator)
        if epoch in eval_at:
            with torch.no_grad():
                for name, curve in curves.items():
                    if name in prepared:
                        curve[:, eval_at[epoch]] = _evaluate(prepared[name], bank, call)
        progress.update(progress.done + n_heads)
    return curves["dev"], curves["test"], loss_curve


def _train_epoch(bank: _HeadBank, opt, train: _Prepared, config: HeadConfig, device, generator) -> np.ndarray:
    """One epoch over the training split; every head's mean training loss."""
    epoch_loss = torch.zeros(bank.n_heads, device=device, dtype=torch.float64)
    for rows in _epoch_batches(train, config, generator):
        rows = rows.to(device)
        out = bank.logits(train.x.index_select(0, rows))
        y = train.y.index_select(0, rows)
        if config.kind == "classification":
            # (rows, classes, heads) against (rows, heads): one cross-entropy per (item, head).
            per_item = torch.nn.functional.cross_entropy(
                out.permute(0, 2, 1), y[:, None].expand(-1, bank.n_heads), reduction="none"
            )
        else:
            per_item = (out[:, :, 0] - y[:, None]) ** 2
        head_loss = per_item.sum(0) / len(rows)  # each head's mean over the batch
        opt.zero_grad(set_to_none=True)
        head_loss.sum().backward()  # heads share no parameters: every head gets its own gradient
        opt.step()
        epoch_loss += head_loss.detach().double() * len(rows)
    return (epoch_loss / len(train.gold)).cpu().numpy()


def _evaluate(split: _Prepared, bank: _HeadBank, call: _Call) -> np.ndarray:
    """Every head's metric on a split, over row blocks whose logits (x2 for the products) fit the budget."""
    config, n_heads = call.config, bank.n_heads
    budget_rows = int(config.memory_budget_mb * 2**20 // (2 * 4 * n_heads * bank.n_out))
    block = max(1, min(config.eval_batch_rows, budget_rows))
    preds = []
    for start in range(0, split.x.shape[0], block):
        out = bank.logits(split.x[start : start + block])
        preds.append(out.argmax(-1) if config.kind == "classification" else out[:, :, 0])
    pred = torch.cat(preds).T.cpu().numpy()  # (heads, items)
    metric = call.metric
    if call.metric_input == "sentences":
        gold_s = np.split(split.gold[split.sentence_order], split.sentence_bounds)
        return np.array([float(metric(gold_s, np.split(p[split.sentence_order], split.sentence_bounds))) for p in pred])
    if getattr(metric, "batched", False):
        values = np.asarray(metric(split.gold, pred), dtype=np.float64)
        if values.shape != (n_heads,):
            raise TaskspaceError(
                f"heads: batched metric {getattr(metric, '__name__', metric)!r} returned shape "
                f"{values.shape}, expected ({n_heads},)"
            )
        return values
    return np.array([float(metric(split.gold, p)) for p in pred])


def _result(h, members, call: _Call, dev, test, loss, steps) -> HeadResult:
    """The head's metrics at its best evaluated epoch on ``select_on`` (earliest on ties, NaN worst)."""
    epochs = np.asarray(call.eval_epochs)
    chosen = dev if call.config.select_on == "dev" else test
    best = int(np.argmax(np.where(np.isnan(chosen), -np.inf, chosen)))
    return HeadResult(
        head=h,
        members=members,
        width=sum(call.widths[m] for m in members),
        best_epoch=int(epochs[best]),
        dev=float(dev[best]),
        test=float(test[best]),
        epochs=call.config.epochs,
        steps=steps,
        evaluated_epochs=epochs,
        dev_curve=dev,
        test_curve=test,
        train_loss_curve=loss,
    )

"""Task covariance kappa: linear kernel alignment (linear CKA) between every pair of members.

For centred feature matrices X_i (n x d_i) and X_j (n x d_j) over the same n probe items::

    kappa_ij = ||X_i^T X_j||_F^2 / (||X_i^T X_i||_F ||X_j^T X_j||_F) = <K_i, K_j>_F / (||K_i||_F ||K_j||_F)

with K_i = X_i X_i^T the centred Gram matrix (n x n). Two exact forms of the same numbers, in float64:

- **feature space**: the cross-product matrix G = X^T X of all members side by side (D x D, D = sum of
  widths), accumulated block of items by block of items: n D^2 / 2 multiply-adds (symmetric rank-k updates).
- **sample space**: each member's centred Gram K_i (n^2 d_i / 2), then the m x m matrix of Frobenius
  products <K_i, K_j> (m^2 n^2 / 4, both halves of K by symmetry): n^2 D / 2 + m^2 n^2 / 4.

:func:`choose_form` takes the cheaper from the shapes (n, the widths, the memory budget): feature space when n
is large against the widths (LM words), sample space when n is small (probe images against 2,048-wide
ResNet features). Each feature file is read once in either form.

Feature space, one pass: blocks of items of all members are stacked side by side and G is accumulated with a
symmetric rank-k update; every member is shifted by the mean of its first block, so that the final
correction ``G - s s^T / n`` (s = column sums) does not cancel catastrophically. The debiased variant
replaces HSIC by its unbiased estimator (Song et al. 2012), which needs, besides G and s, the squared row
norms r of each member: ``R^T X`` (N x D) and ``R^T R`` (N x N); it is exactly invariant to the shift. G
takes 8 D^2 bytes: over a memory budget the members are split into groups small enough that the matrix of
two groups fits, and one pass per pair of groups fills the pairs' entries (each file read once per other
group, never once per pair).

Sample space, streamed: rows of every member's Gram are made (or read) a chunk of items at a time, only the
upper triangle (the diagonal block and the block right of it), and the m x m products are accumulated with
one symmetric product per chunk; the chunk is as large as the memory budget allows. A member's Gram may come
from its own job (:func:`sketch_member`, centred over the member's own items): restricted to the items every
member has, it is re-centred exactly through its row sums (``<HAH, HBH> = tr(AB) - 2/n (A1).(B1) +
(1'A1)(1'B1)/n^2``), and the debiased estimator needs only the same row sums and the diagonals.

Spread over jobs (rules/kappa.smk): one job per member reads its feature file once and writes its *sketch*
(:func:`sketch_member`): its centred Gram when the Gram is at most twice its features (n <= 2 d), else only
its item keys; a combine job (:func:`kappa_from_sketches`) reads the Grams, and the feature files of members
without one, and takes the cheaper form for those. A new member costs one member job and the combine.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import TaskspaceError

log = logging.getLogger(__name__)


@dataclass
class KappaResult:
    """kappa with its members in row order and the probe items it used.

    ``dropped[i]``: how many probe items member i lacks (of the items some member has), each of them left
    out of kappa for all members; ``n_items_dropped``: how many items that left out in all (None for a
    bare matrix, or a kappa file written before these were recorded).
    """

    kappa: np.ndarray
    members: list[str]
    n_items: int
    debiased: bool = False
    meta: dict = field(default_factory=dict)
    dropped: np.ndarray | None = None
    n_items_dropped: int | None = None


PANEL_COLUMNS = 2048


def _add_upper_gram(gram: np.ndarray, x: np.ndarray) -> None:
    """G += X^T X on the upper triangle only (half the work of a full product), panel by panel.

    Column panel [a, b) gets rows [0, b): every upper-triangle entry is covered once. numpy's 64-bit-index
    BLAS does the products; scipy's 32-bit-index dsyrk crashed at the paper's D of about 31,000.
    """
    width = x.shape[1]
    for a in range(0, width, PANEL_COLUMNS):
        b = min(a + PANEL_COLUMNS, width)
        gram[:b, a:b] += x[:, :b].T @ x[:, a:b]


class AlignmentAccumulator:
    """Accumulate what kappa needs, block of items by block of items, for members of given widths.

    ``device='cuda'`` keeps the accumulators on the GPU (torch); the default is numpy/BLAS on the CPU.
    """

    def __init__(self, widths, debiased: bool = False, device: str = "cpu", names=None):
        self.widths = [int(w) for w in widths]
        if not self.widths or min(self.widths) < 1:
            raise ValueError(f"member widths must be positive, got {self.widths}")
        self.names = list(names) if names is not None else [str(i) for i in range(len(self.widths))]
        self.offsets = np.concatenate([[0], np.cumsum(self.widths)])
        self.debiased = debiased
        self.device = device
        self.n = 0
        self.shift = None
        total = int(self.offsets[-1])
        members = len(self.widths)
        if device == "cpu":
            self.gram = np.zeros((total, total))  # only the upper triangle is filled
            self.sums = np.zeros(total)
            self.norms_x = np.zeros((members, total))
            self.norms_norms = np.zeros((members, members))
            self.norm_totals = np.zeros(members)
        else:
            import torch

            self._torch = torch
            options = dict(dtype=torch.float64, device=torch_device(device))
            self.gram = torch.zeros((total, total), **options)
            self.sums = torch.zeros(total, **options)
            self.norms_x = torch.zeros((members, total), **options)
            self.norms_norms = torch.zeros((members, members), **options)
            self.norm_totals = torch.zeros(members, **options)

    def add(self, block) -> None:
        """Add one block of items: a list with one (n_b x d_i) array per member, rows are the same items."""
        if len(block) != len(self.widths):
            raise ValueError(f"expected {len(self.widths)} member arrays, got {len(block)}")
        rows = {len(x) for x in block}
        if len(rows) != 1:
            raise ValueError(f"members disagree on the number of items in a block: {sorted(rows)}")
        if rows.pop() == 0:
            return
        for x, width, name in zip(block, self.widths, self.names):
            if x.ndim != 2 or x.shape[1] != width:
                raise ValueError(f"member {name!r}: block of shape {x.shape} for a member of width {width}")
            bad = int((~np.isfinite(np.asarray(x))).sum())
            if bad:
                raise TaskspaceError(f"member {name!r}: {bad} NaN or infinite feature values")
        if self.device == "cpu":
            stacked = np.concatenate([np.asarray(x, dtype=np.float64) for x in block], axis=1)
            if self.shift is None:
                self.shift = stacked.mean(axis=0)
            stacked -= self.shift
            _add_upper_gram(self.gram, stacked)
            self.sums += stacked.sum(axis=0)
            if self.debiased:
                norms = self._row_norms(stacked)
                self.norms_x += norms.T @ stacked
                self.norms_norms += norms.T @ norms
                self.norm_totals += norms.sum(0)
        else:
            torch = self._torch
            stacked = torch.cat(
                [torch.as_tensor(np.asarray(x)).to(self.gram.device, torch.float64) for x in block], dim=1
            )
            if self.shift is None:
                self.shift = stacked.mean(dim=0)
            stacked -= self.shift
            self.gram.addmm_(stacked.T, stacked)
            self.sums += stacked.sum(dim=0)
            if self.debiased:
                norms = self._row_norms(stacked)
                self.norms_x += norms.T @ stacked
                self.norms_norms += norms.T @ norms
                self.norm_totals += norms.sum(0)
        self.n += len(stacked)

    def _row_norms(self, stacked):
        """Squared row norms of each member's part of a block: (n_b x N)."""
        parts = [(stacked[:, a:b] ** 2).sum(1) for a, b in zip(self.offsets[:-1], self.offsets[1:])]
        return np.stack(parts, axis=1) if self.device == "cpu" else self._torch.stack(parts, dim=1)

    def _numpy(self, array) -> np.ndarray:
        return array if self.device == "cpu" else array.cpu().numpy()

    def _pair_moments(self):
        """For every pair of members: ||G_ij||_F^2 and s_i^T G_ij s_j, from the upper triangle of G."""
        members = len(self.widths)
        bounds = list(zip(self.offsets[:-1], self.offsets[1:]))
        sums = self._numpy(self.sums)
        squares = np.zeros((members, members))
        bilinear = np.zeros((members, members))
        for i, (a, b) in enumerate(bounds):
            for j in range(i, members):
                c, d = bounds[j]
                block = self._numpy(self.gram[a:b, c:d])
                if i == j:
                    block = np.triu(block) + np.triu(block, 1).T
                squares[i, j] = squares[j, i] = (block**2).sum()
                bilinear[i, j] = bilinear[j, i] = sums[a:b] @ block @ sums[c:d]
        return squares, bilinear

    def kappa(self) -> np.ndarray:
        """The N x N alignment matrix (plain or debiased) from what has been accumulated."""
        return _normalised(self.hsic(), self.names)

    def hsic(self) -> np.ndarray:
        """The N x N HSIC matrix (plain or debiased, without the 1/n^2 of the plain one)."""
        needed = 4 if self.debiased else 2
        if self.n < needed:
            raise TaskspaceError(f"kappa needs at least {needed} probe items, got {self.n}")
        n = self.n
        squares, bilinear = self._pair_moments()
        sums = self._numpy(self.sums)
        sum_squares = np.array([(sums[a:b] ** 2).sum() for a, b in zip(self.offsets[:-1], self.offsets[1:])])
        if not self.debiased:
            # ||(X - 1 m^T)^T (Y - 1 m'^T)||_F^2 expanded in the uncentred moments.
            hsic = squares - 2.0 * bilinear / n + np.outer(sum_squares, sum_squares) / n**2
        else:
            norms_x = self._numpy(self.norms_x)
            norms_norms = self._numpy(self.norms_norms)  # sum_a r_i[a] r_j[a]
            ones_k_ones = sum_squares - self._numpy(self.norm_totals)  # 1^T K~ 1 per member
            # cross[i, j] = (sum_a r_i[a] x_j[a]) . s_j
            cross = np.array(
                [
                    [norms_x[i, a:b] @ sums[a:b] for a, b in zip(self.offsets[:-1], self.offsets[1:])]
                    for i in range(len(self.widths))
                ]
            )
            trace_kl = squares - norms_norms
            ones_kl_ones = bilinear - cross - cross.T + norms_norms
            hsic = (
                trace_kl + np.outer(ones_k_ones, ones_k_ones) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * ones_kl_ones
            ) / (n * (n - 3))
        return hsic


def _normalised(hsic: np.ndarray, names) -> np.ndarray:
    """kappa from HSIC: unit diagonal, exactly symmetric."""
    scale = np.sqrt(np.clip(np.diag(hsic), 0, None))
    if (scale <= 0).any():
        name = names[int(np.argmin(scale))]
        raise TaskspaceError(f"member {name!r}: zero-variance features on the probe items")
    kappa = hsic / np.outer(scale, scale)
    np.fill_diagonal(kappa, 1.0)
    return (kappa + kappa.T) / 2


def linear_cka(features, debiased: bool = False, block_items: int = 4096, form: str | None = None) -> np.ndarray:
    """kappa of in-memory feature matrices (one n x d_i array per member, same items in the same order), in the
    cheaper form at their shapes (:func:`choose_form`; ``form`` forces one): a task's few training items against
    a thousand members' features (task-aware MMI) is sample space."""
    n = {len(x) for x in features}
    if len(n) != 1:
        raise ValueError(f"members have different numbers of items: {sorted(n)}")
    n = n.pop()
    names = [str(i) for i in range(len(features))]
    choice = choose_form(n, [x.shape[1] for x in features], form=form)
    if choice.form == SAMPLE:
        sources = []
        for i, x in enumerate(features):
            x = np.array(x, dtype=np.float64)
            bad = int((~np.isfinite(x)).sum())
            if bad:
                raise TaskspaceError(f"member {names[i]!r}: {bad} NaN or infinite feature values")
            sources.append(_FeatureRows(x - x.mean(axis=0)))
        return _normalised(_sample_products(sources, n, debiased, _Backend("cpu"), None, block_items), names)
    accumulator = AlignmentAccumulator([x.shape[1] for x in features], debiased=debiased)
    for start in range(0, n, block_items):
        accumulator.add([x[start : start + block_items] for x in features])
    return accumulator.kappa()


def items_lacking(files, set_name: str = "probe") -> tuple[np.ndarray, int]:
    """How many items each feature file lacks of the items some file has, and how many items that is.

    Items every member lacks (e.g. words no tokenizer keeps) are not counted: kappa never had them.
    """
    return _lacking([f.items(set_name) for f in files])


def _lacking(items: list[np.ndarray]) -> tuple[np.ndarray, int]:
    keys = _item_codes(items)
    union = keys[0]
    for k in keys[1:]:
        union = np.union1d(union, k)
    return np.array([len(union) - len(np.unique(k)) for k in keys], dtype=np.int64), len(union)


def _item_codes(items: list[np.ndarray]) -> list[np.ndarray]:
    """One sortable int64 (or void) code per item key row, the same code for the same key in every array."""
    from .features import _row_keys

    if all(i.ndim == 2 and i.shape[1] == 2 for i in items) and sum(len(i) for i in items):
        width = max(int(i[:, 1].max()) + 1 for i in items if len(i))  # (sentence, word): sentence x width + word
        return [i[:, 0].astype(np.int64) * width + i[:, 1] for i in items]
    return [_row_keys(i) for i in items]


# --- which form -----------------------------------------------------------------------------------------------

FEATURE, SAMPLE = "feature", "sample"
FORMS = (FEATURE, SAMPLE)
# A member's own job writes its centred Gram (n x n float64) when that is at most twice its features in float64
# (n <= 2 d): the job then holds at most three times its float64 features, the combine reads at most four times
# the member's float32 file, and the sample form is the cheaper one for any zoo of three or more such members.
GRAM_ITEMS_PER_WIDTH = 2
# Attributes of a feature file that identify the probe data it was made from (LM: the probe text's hash;
# vision: the split's hash and the probe rotations; others may record data_hash or probe_hash).
PROBE_DATA_KEYS = ("text_hash", "split_hash", "probe_rotations", "probe_hash", "data_hash")
# The sample form's buffers of Gram rows (all members, one chunk of items): 1 GiB at most.
CHUNK_BYTES = 2**30
# torch's code path on the CPU (tests): ``device`` values other than "cpu" run through torch.
TORCH_CPU = "torch-cpu"


def torch_device(device: str) -> str:
    """The torch device of a ``device`` value: TORCH_CPU runs the torch code on the CPU."""
    return "cpu" if device == TORCH_CPU else device


@dataclass(frozen=True)
class FormChoice:
    """The form kappa takes and why: multiply-adds of both forms (symmetry used; Grams that member jobs made
    count nothing), member groups of the feature form under the memory budget, and the shapes."""

    form: str
    feature_macs: float
    sample_macs: float
    groups: int
    n: int
    widths: tuple[int, ...]
    reason: str = "the cheaper form"

    def describe(self) -> str:
        what = {
            SAMPLE: "each member's centred n x n Gram, then their Frobenius products",
            FEATURE: "the D x D cross-product matrix of all members, block by block",
        }[self.form]
        feature = f"feature space n D^2/2 = {self.feature_macs:.3g}"
        if self.groups > 1:
            feature += f" in {self.groups} member groups under the memory budget (one pass per pair of groups)"
        return (
            f"kappa in {self.form} space ({what}), {self.reason}: multiply-adds {feature}, "
            f"sample space n^2 D/2 + m^2 n^2/4 = {self.sample_macs:.3g} "
            f"(n = {self.n} items, m = {len(self.widths)} members, D = {sum(self.widths)} columns)"
        )


def form_costs(n: int, widths, memory_budget_mb: float | None = None, grams=None) -> tuple[float, float, int]:
    """(feature-space, sample-space multiply-adds, member groups of the feature form) at these shapes.

    ``grams[i]`` true: member i's Gram exists already (its own job made it), so it costs nothing here.
    Under a memory budget too small for the D x D matrix, the feature form makes one pass per pair of member
    groups, computing each group's own block in every pass that holds it.
    """
    widths = [int(w) for w in widths]
    grams = [False] * len(widths) if grams is None else list(grams)
    groups = member_groups(widths, memory_budget_mb)
    if len(groups) == 1:
        feature = n * sum(widths) ** 2 / 2
    else:
        group_widths = [sum(widths[i] for i in g) for g in groups]
        feature = sum(n * (a + b) ** 2 / 2 for g, a in enumerate(group_widths) for b in group_widths[g + 1 :])
    made = sum(w for w, g in zip(widths, grams) if not g)
    sample = n * n * made / 2 + len(widths) ** 2 * n * n / 4
    return float(feature), float(sample), len(groups)


def choose_form(
    n: int, widths, memory_budget_mb: float | None = None, grams=None, form: str | None = None
) -> FormChoice:
    """The cheaper exact form at these shapes (``form`` forces one; a member Gram that exists forces sample space,
    which is the only form that uses it without reading that member's features again)."""
    feature, sample, groups = form_costs(n, widths, memory_budget_mb, grams)
    made = sum(map(bool, grams or ()))
    if form is not None:
        if form not in FORMS:
            raise TaskspaceError(f"kappa form: {form!r} is not one of {', '.join(FORMS)}")
        reason = "as asked"
    elif made:
        form, reason = SAMPLE, f"the Grams of {made} of {len(widths)} members made by their own jobs"
    else:
        form, reason = (SAMPLE if sample < feature else FEATURE), "the cheaper form"
    return FormChoice(form, feature, sample, groups, int(n), tuple(int(w) for w in widths), reason)


def gram_pays(n: int, width: int, memory_budget_mb: float | None = None) -> bool:
    """Whether a member's own job makes its Gram: at most twice its features (n <= 2 d) and within the budget."""
    fits = memory_budget_mb is None or 8 * n * (n + width) <= memory_budget_mb * 2**20
    return n <= GRAM_ITEMS_PER_WIDTH * width and fits


# --- inputs: what every member brings, checked against the others ----------------------------------------------


@dataclass
class _Member:
    """One member as kappa reads it: its name, item keys, width, provenance, and either a Gram sketch
    (``sketch``: path of the member job's file) or its feature file (``path``)."""

    name: str
    path: str
    items: np.ndarray
    width: int
    provenance: dict
    sketch: str | None = None


class _Keys:
    """Item keys behind the ``items(set_name)`` of a feature file (for taskspace.features.common_items)."""

    def __init__(self, items):
        self._items = items

    def items(self, set_name):
        return self._items


def check_options(block_items: int, memory_budget_mb: float | None) -> None:
    """Refuse options out of range where they enter (a block of no items, a budget of no memory)."""
    if isinstance(block_items, bool) or not isinstance(block_items, (int, np.integer)) or block_items < 1:
        raise TaskspaceError(f"block_items: must be a positive number of items, got {block_items!r}")
    if memory_budget_mb is not None and not (math.isfinite(memory_budget_mb) and memory_budget_mb > 0):
        raise TaskspaceError(f"memory budget: must be a positive number of MB, got {memory_budget_mb!r}")


def check_agree(members: list[_Member]) -> None:
    """Members whose files cannot belong to one kappa end in an error naming the files: the same file twice,
    the same member twice, item keys of different widths, features of different probe data."""
    seen, names = {}, {}
    for member in members:
        real = os.path.realpath(member.path)
        if real in seen:
            raise TaskspaceError(f"{seen[real]} and {member.path}: the same feature file given twice")
        seen[real] = member.path
        if member.name in names:
            raise TaskspaceError(f"{names[member.name]} and {member.path}: both are member {member.name!r}")
        names[member.name] = member.path
    first = members[0]
    for member in members[1:]:
        a, b = first.items.shape[1:] or (1,), member.items.shape[1:] or (1,)
        if a != b:
            raise TaskspaceError(
                f"{first.path} ({a[0]}-column item keys) and {member.path} ({b[0]}-column item keys): "
                "item keys of different widths, made from different probe data"
            )
    for key in PROBE_DATA_KEYS:
        having = [m for m in members if key in m.provenance]
        for member in having[1:]:
            if member.provenance[key] != having[0].provenance[key]:
                raise TaskspaceError(
                    f"{having[0].path} and {member.path}: made from different probe data "
                    f"({key} {_short(having[0].provenance[key])} against {_short(member.provenance[key])})"
                )


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 16 else text[:12] + "..."


def _read_member(path: str, member: str | None, set_name: str) -> _Member:
    """A member's keys, width and provenance from its feature file (vectors are not read here)."""
    from .features import FeatureFile

    with FeatureFile(path) as f:
        if member and "member" in f.provenance:  # a file of another member (copied results, renamed members)
            f.check_provenance({"member": member})
        provenance = f.provenance
        items = f.items(set_name)
        width = f.width(set_name)
        rows = f.vectors(set_name).shape[0]
    if rows != len(items):
        raise TaskspaceError(f"{path}: {rows} {set_name!r} vectors for {len(items)} item keys")
    return _Member(member or provenance.get("member") or path, path, items, width, provenance)


# --- the one-job path -----------------------------------------------------------------------------------------


def kappa_from_feature_files(
    paths,
    members=None,
    set_name: str = "probe",
    debiased: bool = False,
    block_items: int = 4096,
    device: str = "cpu",
    memory_budget_mb: float | None = None,
    form: str | None = None,
) -> KappaResult:
    """kappa over feature files, one per member, in one process; items some member lacks are dropped for all.

    The form is the cheaper at the files' shapes (:func:`choose_form`; ``form`` forces one) and each file is read
    once. The result's ``dropped`` counts, per member, the items it lacks (:func:`items_lacking`).
    Feature space: one pass when the D x D matrix fits ``memory_budget_mb`` (or no budget is given), otherwise
    one pass per pair of member groups (:func:`member_groups`). Sample space: Gram rows a chunk at a time, the
    members' centred features kept in memory or, over the budget, in temporary files.
    """
    check_options(block_items, memory_budget_mb)
    paths = [str(p) for p in paths]
    names = list(members) if members is not None else [None] * len(paths)
    inputs = [_read_member(p, m, set_name) for p, m in zip(paths, names)]
    return _kappa(inputs, set_name, debiased, block_items, device, memory_budget_mb, form)


def _kappa(inputs, set_name, debiased, block_items, device, memory_budget_mb, form=None) -> KappaResult:
    from .features import common_items

    check_agree(inputs)
    names = [m.name for m in inputs]
    rows = common_items([_Keys(m.items) for m in inputs], set_name)
    n_items = len(rows[0])
    if n_items == 0:
        raise TaskspaceError(f"the feature files share no {set_name!r} items: {', '.join(m.path for m in inputs)}")
    widths = [m.width for m in inputs]
    grams = [m.sketch is not None for m in inputs]
    choice = choose_form(n_items, widths, memory_budget_mb, grams if any(grams) else None, form)
    log.info("%s", choice.describe())
    if choice.form == SAMPLE:
        hsic = _sample_hsic(inputs, rows, set_name, debiased, block_items, device, memory_budget_mb)
    else:
        hsic = _feature_hsic(inputs, rows, set_name, debiased, block_items, device, memory_budget_mb)
    kappa = _normalised(hsic, names)
    lacking, n_union = _lacking([m.items for m in inputs])
    totals = [len(m.items) for m in inputs]
    dropped = {m: t - n_items for m, t in zip(names, totals) if t != n_items}  # items it had, left out
    return KappaResult(
        kappa=kappa,
        members=names,
        n_items=n_items,
        debiased=debiased,
        meta={"items_dropped": dropped, "set": set_name, "form": choice.form, "choice": choice},
        dropped=lacking,
        n_items_dropped=n_union - n_items,
    )


def _feature_hsic(inputs, rows, set_name, debiased, block_items, device, memory_budget_mb) -> np.ndarray:
    """HSIC in feature space: one pass over the files, or one per pair of member groups over the budget."""
    from .features import FeatureFile, aligned_blocks

    widths = [m.width for m in inputs]
    groups = member_groups(widths, memory_budget_mb)
    if len(groups) > 1:
        log.info(
            "kappa: the %d x %d cross-product matrix takes %.1f GB, over the budget of %.1f GB: "
            "%d groups of members, %d passes, each file read %d times",
            sum(widths),
            sum(widths),
            8 * sum(widths) ** 2 / 2**30,
            memory_budget_mb / 2**10,
            len(groups),
            len(groups) * (len(groups) - 1) // 2,
            len(groups) - 1,
        )
    hsic = np.zeros((len(inputs), len(inputs)))
    # Every pair of members shares a pass: one pass for one group, else one per pair of groups.
    passes = [groups[0]] if len(groups) == 1 else [a + b for g, a in enumerate(groups) for b in groups[g + 1 :]]
    for number, chosen in enumerate(passes, start=1):
        if len(passes) > 1:
            log.info("kappa pass %d/%d: %d members", number, len(passes), len(chosen))
        accumulator = AlignmentAccumulator(
            [widths[i] for i in chosen], debiased=debiased, device=device, names=[inputs[i].name for i in chosen]
        )
        files = [FeatureFile(inputs[i].path) for i in chosen]
        try:
            for block in aligned_blocks(files, set_name, [rows[i] for i in chosen], block_items):
                accumulator.add(block)
        finally:
            for f in files:
                f.close()
        hsic[np.ix_(chosen, chosen)] = accumulator.hsic()
    return hsic


# --- sample space -----------------------------------------------------------------------------------------------


class _Backend:
    """numpy on the CPU, or torch in float64 on a device: the few array operations of the sample form."""

    def __init__(self, device: str):
        self.torch = None
        if device != "cpu":
            import torch

            self.torch = torch
            self.device = torch.device(torch_device(device))

    def array(self, x):
        x = np.asarray(x, dtype=np.float64)
        return x if self.torch is None else self.torch.from_numpy(x).to(self.device)

    def empty(self, *shape):
        if self.torch is None:
            return np.empty(shape)
        return self.torch.empty(shape, dtype=self.torch.float64, device=self.device)

    def zeros(self, *shape):
        if self.torch is None:
            return np.zeros(shape)
        return self.torch.zeros(shape, dtype=self.torch.float64, device=self.device)

    def matmul(self, a, b, out):
        if self.torch is None:
            np.matmul(a, b, out=out)
        else:
            self.torch.matmul(a, b, out=out)

    def diagonal(self, a):
        return np.diagonal(a) if self.torch is None else self.torch.diagonal(a)

    def numpy(self, x) -> np.ndarray:
        return x if self.torch is None else x.cpu().numpy()


class _FeatureRows:
    """Gram rows of a member from its centred features over the shared items (in memory or a temporary file)."""

    def __init__(self, features):
        self.features = features

    def chunk(self, backend, c0, c1, diagonal_out, right_out) -> None:
        block = self._on(backend, self.features[c0:c1])
        backend.matmul(block, block.T, diagonal_out)  # a symmetric product (syrk)
        if c1 < len(self.features):
            backend.matmul(block, self._on(backend, self.features[c1:]).T, right_out)

    @staticmethod
    def _on(backend, x):
        """Rows of a temporary file (numpy) on the backend's device."""
        return backend.array(x) if backend.torch is not None and isinstance(x, np.ndarray) else x


class _GramRows:
    """Gram rows of a member from the Gram its own job wrote (over its own items), at the shared items' rows."""

    def __init__(self, path: str, rows: np.ndarray):
        self.path, self.rows = path, np.asarray(rows)
        self.identity = bool(np.array_equal(self.rows, np.arange(len(self.rows))))

    def chunk(self, backend, c0, c1, diagonal_out, right_out) -> None:
        import h5py

        wanted = self.rows[c0:c1]
        with h5py.File(self.path, "r") as h5:
            gram = h5["gram"]
            if self.identity:  # the usual case: the shared items are the member's own, in its order
                block = gram[c0:c1, c0 : len(self.rows)]
            else:
                low, high = int(wanted.min()), int(wanted.max()) + 1
                block = gram[low:high][wanted - low][:, self.rows[c0:]]
        diagonal_out[...] = backend.array(block[:, : c1 - c0])
        if c1 < len(self.rows):
            right_out[...] = backend.array(block[:, c1 - c0 :])


def _read_centred(member: _Member, rows: np.ndarray, set_name: str, block_items: int, out=None) -> np.ndarray:
    """A member's features at the shared items, in float64, centred over them; read once."""
    from .features import FeatureFile, aligned_blocks

    out = np.empty((len(rows), member.width)) if out is None else out
    with FeatureFile(member.path) as f:
        start = 0
        for (block,) in aligned_blocks([f], set_name, [rows], block_items):
            bad = int((~np.isfinite(block)).sum())
            if bad:
                raise TaskspaceError(f"member {member.name!r}: {bad} NaN or infinite feature values")
            out[start : start + len(block)] = block
            start += len(block)
    out -= out.mean(axis=0)
    return out


def _sample_hsic(inputs, rows, set_name, debiased, block_items, device, memory_budget_mb) -> np.ndarray:
    """HSIC in sample space from files: Grams that member jobs wrote, the other members' features read once
    (centred, in memory or, over the budget, in temporary files)."""
    m, n = len(inputs), len(rows[0])
    backend = _Backend(device)
    budget = None if memory_budget_mb is None else memory_budget_mb * 2**20
    feature_bytes = sum(8 * n * member.width for member in inputs if member.sketch is None)
    spill = budget is not None and _fixed_bytes(m, n) + feature_bytes + 8 * n * (m + 2) * min(n, 64) > budget
    if spill:
        log.info("kappa in sample space: the members' centred features in temporary files (over the memory budget)")
    with tempfile.TemporaryDirectory(prefix="taskspace-kappa-") if spill else contextlib.nullcontext() as scratch:
        sources = []
        for member, member_rows in zip(inputs, rows):
            if member.sketch is not None:
                sources.append(_GramRows(member.sketch, member_rows))
                continue
            out = None
            if spill:
                out = np.lib.format.open_memmap(
                    Path(scratch) / f"{len(sources)}.npy", mode="w+", dtype=np.float64, shape=(n, member.width)
                )
            features = _read_centred(member, member_rows, set_name, block_items, out)
            sources.append(_FeatureRows(features if spill else backend.array(features)))
        room = None if budget is None else budget - (0 if spill else feature_bytes)
        hsic = _sample_products(sources, n, debiased, backend, room, block_items)
        del sources
    return hsic


def _fixed_bytes(m: int, n: int) -> int:
    """The sample form's accumulators: the m x m products, row sums and diagonals (m x n each), a spare."""
    return 8 * (m * m + 3 * m * n)


def _sample_products(sources, n, debiased, backend, budget_bytes, block_items) -> np.ndarray:
    """HSIC in sample space: Gram rows chunk by chunk (upper triangle), Frobenius products by one symmetric
    product per chunk, row sums and diagonals for the exact re-centring and the debiased estimator."""
    m = len(sources)
    # Gram rows of all members a chunk at a time: at most CHUNK_BYTES (larger chunks are no faster), within budget.
    room = CHUNK_BYTES if budget_bytes is None else min(CHUNK_BYTES, budget_bytes - _fixed_bytes(m, n))
    chunk = max(1, min(n, block_items, int(room // (8 * n * (m + 2)))))
    log.info(
        "kappa in sample space: %d members, %d items, Gram rows %d items at a time (%d chunks)",
        m,
        n,
        chunk,
        -(-n // chunk),
    )
    products = backend.zeros(m, m)
    sums = backend.zeros(m, n)
    diagonals = backend.zeros(m, n)
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        size, rest = c1 - c0, n - c1
        square = backend.empty(m, size * size)
        right = backend.empty(m, size * rest)
        for i, source in enumerate(sources):
            block = square[i].reshape(size, size)
            beside = right[i].reshape(size, rest)
            source.chunk(backend, c0, c1, block, beside)
            diagonals[i, c0:c1] = backend.diagonal(block)
            sums[i, c0:c1] += block.sum(1)
            if rest:
                sums[i, c0:c1] += beside.sum(1)
                sums[i, c1:] += beside.sum(0)
        products += square @ square.T
        if rest:
            products += 2.0 * (right @ right.T)
        del square, right
    products, sums, diagonals = backend.numpy(products), backend.numpy(sums), backend.numpy(diagonals)
    return _hsic_from_grams(products, sums, diagonals, debiased)


def _hsic_from_grams(products, sums, diagonals, debiased: bool) -> np.ndarray:
    """HSIC (plain, without 1/n^2, or debiased) from <A_i, A_j>, the row sums A_i 1 and the diagonals of the
    members' Grams A_i over the shared items (centred up to a shift: both estimators are invariant to it)."""
    n = sums.shape[1]
    needed = 4 if debiased else 2
    if n < needed:
        raise TaskspaceError(f"kappa needs at least {needed} probe items, got {n}")
    totals = sums.sum(1)  # 1' A 1
    if not debiased:
        # <H A H, H B H> = tr(AB) - 2/n (A1).(B1) + (1'A1)(1'B1)/n^2
        return products - 2.0 / n * (sums @ sums.T) + np.outer(totals, totals) / n**2
    # Song et al.'s unbiased HSIC on the Grams with their diagonals zeroed (A~):
    trace_kl = products - diagonals @ diagonals.T  # tr(A~ B~)
    ones_k_ones = totals - diagonals.sum(1)  # 1' A~ 1
    off = sums - diagonals  # A~ 1
    ones_kl_ones = off @ off.T  # 1' A~ B~ 1
    return (trace_kl + np.outer(ones_k_ones, ones_k_ones) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * ones_kl_ones) / (
        n * (n - 3)
    )


# --- spread over jobs: member sketches and the combine ---------------------------------------------------------

SKETCH_FORMAT = "taskspace-kappa-member"
SKETCH_VERSION = 1


@dataclass
class MemberSketch:
    """What a member's own job hands the combine: its item keys and width, its feature file's provenance, and
    its centred Gram over its own items when that pays (:func:`gram_pays`), else None (the combine then reads
    the member's features itself)."""

    member: str
    feature_file: str
    set_name: str
    items: np.ndarray
    width: int
    provenance: dict
    gram: np.ndarray | None = None

    def describe(self) -> str:
        n, d = len(self.items), self.width
        if self.gram is not None:
            return (
                f"member {self.member!r}: {n} items x {d} columns: its {n} x {n} centred Gram "
                f"({8 * n * n / 2**20:.1f} MB, n^2 d/2 = {n * n * d / 2:.2g} multiply-adds; "
                f"n <= {GRAM_ITEMS_PER_WIDTH} d)"
            )
        return (
            f"member {self.member!r}: {n} items x {d} columns: its item keys only (n > {GRAM_ITEMS_PER_WIDTH} d "
            "or over the memory budget: the Gram would outweigh the features; the combine reads them)"
        )


def sketch_member(
    path, member: str | None = None, set_name: str = "probe", memory_budget_mb: float | None = None, gram=None
) -> MemberSketch:
    """A member's sketch from its feature file, read once: the Gram when ``gram`` (default: :func:`gram_pays`)."""
    from .features import FeatureFile

    if memory_budget_mb is not None:
        check_options(1, memory_budget_mb)
    path = str(path)
    with FeatureFile(path) as f:
        if member and "member" in f.provenance:
            f.check_provenance({"member": member})
        provenance = f.provenance
        items = f.items(set_name)
        width = f.width(set_name)
        name = member or provenance.get("member") or path
        made = None
        if gram_pays(len(items), width, memory_budget_mb) if gram is None else gram:
            x = np.asarray(f.vectors(set_name)[()], dtype=np.float64)
            if len(x) != len(items):
                raise TaskspaceError(f"{path}: {len(x)} {set_name!r} vectors for {len(items)} item keys")
            bad = int((~np.isfinite(x)).sum())
            if bad:
                raise TaskspaceError(f"member {name!r}: {bad} NaN or infinite feature values")
            x -= x.mean(axis=0)
            made = x @ x.T  # a symmetric product (syrk)
    return MemberSketch(name, path, set_name, items, width, provenance, made)


def save_sketch(sketch: MemberSketch, path) -> None:
    """The sketch file (HDF5, written under a partial name and renamed when complete)."""
    import json

    import h5py

    from .atomic import atomic_path

    with atomic_path(path) as partial, h5py.File(partial, "w") as h5:
        h5.attrs["format"] = SKETCH_FORMAT
        h5.attrs["format_version"] = SKETCH_VERSION
        h5.attrs["member"] = sketch.member
        h5.attrs["feature_file"] = sketch.feature_file
        h5.attrs["set"] = sketch.set_name
        h5.attrs["width"] = sketch.width
        h5.attrs["provenance"] = json.dumps(sketch.provenance, sort_keys=True, default=str)
        h5.create_dataset("items", data=np.asarray(sketch.items, dtype=np.int64))
        if sketch.gram is not None:
            h5.create_dataset("gram", data=sketch.gram)  # contiguous: rows are read a chunk at a time


def read_sketch(path) -> tuple[MemberSketch, bool]:
    """A sketch file's contents without its Gram, and whether it holds one (the combine reads it by rows)."""
    import json

    import h5py

    path = str(path)
    if not os.path.exists(path):
        raise TaskspaceError(f"{path}: member sketch not found")
    try:
        h5 = h5py.File(path, "r")
    except OSError as error:
        raise TaskspaceError(f"{path}: not a readable HDF5 file (truncated?): {error}") from None
    with h5:
        if h5.attrs.get("format") != SKETCH_FORMAT or h5.attrs.get("format_version") != SKETCH_VERSION:
            raise TaskspaceError(f"{path}: not a kappa member sketch of this version; delete it and rerun")
        sketch = MemberSketch(
            member=str(h5.attrs["member"]),
            feature_file=str(h5.attrs["feature_file"]),
            set_name=str(h5.attrs["set"]),
            items=h5["items"][()],
            width=int(h5.attrs["width"]),
            provenance=json.loads(h5.attrs["provenance"]),
        )
        return sketch, "gram" in h5


def kappa_from_sketches(
    sketches,
    features=None,
    members=None,
    debiased: bool = False,
    block_items: int = 4096,
    device: str = "cpu",
    memory_budget_mb: float | None = None,
    form: str | None = None,
) -> KappaResult:
    """The combine: kappa from the member jobs' sketches (:func:`sketch_member`), in config order.

    ``features``: each member's feature file, as the workflow names it (a sketch made from another file is
    refused); ``members``: the names. Members with a Gram are read from their sketch, the others from their
    feature file (each read once). With a Gram anywhere the form is sample space; without, the cheaper form.
    """
    check_options(block_items, memory_budget_mb)
    sketches = [str(p) for p in sketches]
    features = [str(p) for p in features] if features is not None else [None] * len(sketches)
    names = list(members) if members is not None else [None] * len(sketches)
    if not (len(features) == len(names) == len(sketches)):
        raise ValueError("one feature file and one name per sketch")
    inputs, set_names = [], set()
    for path, feature_file, name in zip(sketches, features, names):
        sketch, has_gram = read_sketch(path)
        if feature_file is not None and os.path.normpath(sketch.feature_file) != os.path.normpath(feature_file):
            raise TaskspaceError(
                f"{path}: made from {sketch.feature_file}, not from {feature_file}; delete it and rerun"
            )
        if name is not None and sketch.member != name:
            raise TaskspaceError(f"{path}: sketch of member {sketch.member!r}, expected {name!r}; delete it and rerun")
        set_names.add(sketch.set_name)
        inputs.append(
            _Member(
                sketch.member,
                sketch.feature_file,
                sketch.items,
                sketch.width,
                sketch.provenance,
                path if has_gram else None,
            )
        )
    if len(set_names) > 1:
        raise TaskspaceError(f"member sketches of different feature sets: {', '.join(sorted(set_names))}")
    return _kappa(inputs, set_names.pop(), debiased, block_items, device, memory_budget_mb, form)


def member_groups(widths, memory_budget_mb: float | None) -> list[list[int]]:
    """Consecutive groups of members such that the cross-product matrix of any two groups fits the budget.

    One group (one pass) when all members fit; a member too wide to share the budget with another gets a
    group of its own (its passes then exceed the budget: nothing smaller is exact).
    """
    total = sum(widths)
    if memory_budget_mb is None or 8 * total**2 <= memory_budget_mb * 2**20:
        return [list(range(len(widths)))]
    pair_width = math.isqrt(int(memory_budget_mb * 2**20 // 8))  # widest two groups together
    groups, width = [[]], 0
    for member, member_width in enumerate(widths):
        if groups[-1] and width + member_width > pair_width // 2:
            groups.append([])
            width = 0
        groups[-1].append(member)
        width += member_width
    return groups


def save_kappa(result: KappaResult, path) -> None:
    """The kappa file (npz, atomic): matrix, member names in row order, number of probe items used and,
    when known, ``dropped`` (per member, aligned with ``members``: the probe items it lacks, which kappa
    left out for all) and ``n_items_dropped`` (how many items kappa left out in all)."""
    from .atomic import atomic_path, partial_path

    if Path(path).is_dir():
        raise TaskspaceError(f"{path}: is a folder; give the kappa file's name, e.g. {Path(path) / 'kappa.npz'}")
    extra = {}
    if result.dropped is not None:
        extra = {"dropped": np.asarray(result.dropped, dtype=np.int64), "n_items_dropped": result.n_items_dropped}
    try:
        with atomic_path(path) as partial, open(partial, "wb") as handle:
            np.savez(
                handle,
                kappa=result.kappa,
                members=np.array(result.members, dtype=str),
                n_items=result.n_items,
                debiased=result.debiased,
                **extra,
            )
    except OSError:
        partial_path(path).unlink(missing_ok=True)  # the rename failed after the file was written
        raise


def load_kappa(path, names=None) -> KappaResult:
    """Read a kappa file of ours (.npz) or a bare matrix (.npy, optionally with a names file)."""
    import zipfile
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise TaskspaceError(f"{path}: kappa file not found")
    with open(path, "rb") as handle:  # numpy reads any other bytes as a pickle, and says so
        magic = handle.read(6)
    if path.suffix == ".npy" and magic != b"\x93NUMPY":
        raise TaskspaceError(
            f"{path}: not a NumPy .npy file (write it with numpy.save; a matrix in a text file: "
            f"numpy.save('kappa.npy', numpy.loadtxt('kappa.txt')))"
        )
    if path.suffix != ".npy" and not magic.startswith(b"PK"):
        raise TaskspaceError(
            f"{path}: not a NumPy .npz file (not a zip archive); give kappa as a .npy matrix "
            f"(numpy.save) or a .npz kappa file"
        )
    try:
        if path.suffix == ".npy":
            kappa = np.load(path, allow_pickle=False)
            result = KappaResult(kappa=kappa, members=[str(i) for i in range(len(kappa))], n_items=0)
        else:
            with np.load(path, allow_pickle=False) as data:
                result = KappaResult(
                    kappa=data["kappa"],
                    members=[str(m) for m in data["members"]],
                    n_items=int(data["n_items"]),
                    debiased=bool(data["debiased"]),
                )
                if "dropped" in data:  # kappa files written before these were recorded lack them
                    result.dropped = data["dropped"]
                    result.n_items_dropped = int(data["n_items_dropped"])
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as error:
        raise TaskspaceError(f"{path}: not a kappa matrix (.npy) or kappa file (.npz): {error}") from None
    if result.kappa.ndim != 2 or result.kappa.shape[0] != result.kappa.shape[1]:
        raise TaskspaceError(f"{path}: kappa must be a square matrix, got shape {result.kappa.shape}")
    if names is not None:
        members = read_names(names)
        if len(members) != len(result.kappa):
            size = len(result.kappa)
            raise TaskspaceError(f"{names}: {len(members)} member names for the {size} x {size} kappa in {path}")
        result.members = members
    return result


def read_names(path) -> list[str]:
    """Member names, one per line (blank lines ignored); duplicates are an error naming the line."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise TaskspaceError(f"{path}: names file not found")
    names = []
    seen = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if name in seen:
            raise TaskspaceError(f"{path}:{number}: member {name!r} repeats line {seen[name]}")
        seen[name] = number
        names.append(name)
    return names


def gaussian_kl(reference: np.ndarray, estimate: np.ndarray) -> float:
    """KL(N(0, reference) || N(0, estimate)) in nats, Fig. 2's measure.

    The paper's LMs/estimate_kappa/diff_two_gaussians.py with S0 = reference (kappa*) and S1 = estimate:
    ``0.5 * (tr(inv(S1) S0) - N + logdet(S1) - logdet(S0))``. The paper asserts that both are positive
    definite (slogdet sign 1); here a singular estimate gives inf and a singular reference NaN.
    """
    m = len(reference)
    sign_reference, logdet_reference = np.linalg.slogdet(reference)
    if sign_reference <= 0 or not np.isfinite(logdet_reference):
        return math.nan
    sign_estimate, logdet_estimate = np.linalg.slogdet(estimate)
    if sign_estimate <= 0 or not np.isfinite(logdet_estimate):
        return math.inf
    trace = np.trace(np.linalg.solve(estimate, reference))
    return float(0.5 * (trace - m + logdet_estimate - logdet_reference))


def _line_words(text, first_file, set_name: str) -> np.ndarray:
    """Words on each probe line, ``len(line.strip().split())`` as the paper's LMs/estimate_kappa/convergence.py
    counts them; without the text, the first member's items per sentence (fewer if it truncated any)."""
    if text is not None:
        with open(text, encoding="utf-8") as handle:
            return np.array([len(line.split()) for line in handle if line.strip()], dtype=np.int64)
    sentence = first_file.items(set_name)[:, 0]
    return np.bincount(sentence.astype(np.int64)) if len(sentence) else np.zeros(0, dtype=np.int64)


def kappa_convergence(
    paths, sentence_counts, members=None, set_name: str = "probe", block_items: int = 4096, text=None
):
    """kappa on the first n sentences for every n, in ONE pass (snapshots of the running accumulator): Fig. 2.

    Returns the full kappa (the paper's kappa*) and a table, one row per n: sentences (n), words (on the
    first n lines of the probe ``text``, Fig. 2's x; LMs/estimate_kappa/convergence.py), items_used (the
    probe items kappa_n used: the words every member kept), kl (KL(kappa* || kappa_n), :func:`gaussian_kl`),
    correlation (Pearson r of the off-diagonal entries of kappa_n and kappa*), identity_kl (KL(kappa* || I),
    the paper's isotropic baseline, drawn at 1 word) and probe_words (all the text's words, where kappa*
    itself is drawn, KL 0). Items are (sentence, word) keys; the first file's order sets the stream.
    """
    import pandas as pd

    from .features import FeatureFile, aligned_blocks, common_items

    files = [FeatureFile(p) for p in paths]
    try:
        names = (
            list(members) if members is not None else [f.provenance.get("member", str(p)) for f, p in zip(files, paths)]
        )
        rows = common_items(files, set_name)
        sentence = files[0].items(set_name)[rows[0], 0]
        if len(sentence) and np.any(np.diff(sentence) < 0):
            raise TaskspaceError(f"{paths[0]}: {set_name!r} items are not in sentence order")
        words = np.cumsum(_line_words(text, files[0], set_name))  # words on the first 1, 2, ... lines
        counts = sorted({int(n) for n in sentence_counts if n > 0})
        stops = [int(np.searchsorted(sentence, n)) for n in counts]  # rows of the first n sentences
        accumulator = AlignmentAccumulator([f.width(set_name) for f in files], names=names)
        snapshots, done = {}, 0
        for stop, n in zip(stops + [len(sentence)], counts + [None]):
            if stop > done:
                cut = [r[done:stop] for r in rows]
                for block in aligned_blocks(files, set_name, cut, block_items):
                    accumulator.add(block)
                done = stop
            if n is not None and accumulator.n >= 2:
                snapshots[n] = (accumulator.n, accumulator.kappa())
        full = accumulator.kappa()
    finally:
        for f in files:
            f.close()
    identity_kl = gaussian_kl(full, np.eye(len(full)))
    if math.isnan(identity_kl):
        log.warning("kappa convergence: the full kappa is singular (duplicate members?): every KL is NaN")
    off = ~np.eye(len(full), dtype=bool)
    words = np.concatenate([[0], words])  # words[n]: on the first n lines
    table = pd.DataFrame(
        [
            dict(
                sentences=n,
                words=int(words[min(n, len(words) - 1)]),
                items_used=items,
                kl=gaussian_kl(full, kappa),
                correlation=float(np.corrcoef(full[off], kappa[off])[0, 1]) if len(full) > 2 else np.nan,
                identity_kl=identity_kl,
                probe_words=int(words[-1]),
            )
            for n, (items, kappa) in sorted(snapshots.items())
        ],
        columns=["sentences", "words", "items_used", "kl", "correlation", "identity_kl", "probe_words"],
    )
    return full, table

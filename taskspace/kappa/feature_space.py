"""kappa in feature space: the D x D cross-product matrix of all members, accumulated block of items by block of
items (:class:`AlignmentAccumulator`), in one pass or one per pair of member groups (:func:`_feature_hsic`)."""

from __future__ import annotations

import logging

import numpy as np

from ..errors import TaskspaceError
from .forms import member_groups, torch_device
from .inputs import check_finite
from .result import _normalised

log = logging.getLogger("taskspace.kappa")


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
            check_finite(np.asarray(x), name)
        if self.device == "cpu":
            stacked = np.concatenate([np.asarray(x, dtype=np.float64) for x in block], axis=1)
        else:
            torch = self._torch
            stacked = torch.cat(
                [torch.as_tensor(np.asarray(x)).to(self.gram.device, torch.float64) for x in block], dim=1
            )
        # numpy arrays and torch tensors share the rest (reductions over axis/dim 0)
        if self.shift is None:
            self.shift = stacked.mean(0)
        stacked -= self.shift
        if self.device == "cpu":
            _add_upper_gram(self.gram, stacked)
        else:
            self.gram.addmm_(stacked.T, stacked)
        self.sums += stacked.sum(0)
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


def _feature_hsic(inputs, rows, set_name, debiased, block_items, device, memory_budget_mb) -> np.ndarray:
    """HSIC in feature space: one pass over the files, or one per pair of member groups over the budget."""
    from ..features import FeatureFile, aligned_blocks

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

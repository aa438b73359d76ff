"""kappa in sample space: rows of every member's centred Gram a chunk of items at a time, from its features or
from the Gram its own job wrote, and the m x m Frobenius products of the Grams (:func:`_sample_products`)."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError
from .forms import torch_device
from .inputs import _Member, check_finite

log = logging.getLogger("taskspace.kappa")


# The sample form's buffers of Gram rows (all members, one chunk of items): 1 GiB at most.
CHUNK_BYTES = 2**30


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
    from ..features import FeatureFile, aligned_blocks

    out = np.empty((len(rows), member.width)) if out is None else out
    with FeatureFile(member.path) as f:
        start = 0
        for (block,) in aligned_blocks([f], set_name, [rows], block_items):
            check_finite(block, member.name)
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

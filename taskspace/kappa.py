"""Task covariance kappa: linear kernel alignment (linear CKA) between every pair of members.

For centred feature matrices X_i (n x d_i) and X_j (n x d_j) over the same n probe items::

    kappa_ij = ||X_i^T X_j||_F^2 / (||X_i^T X_i||_F ||X_j^T X_j||_F)

All pairs come from ONE pass over the items: blocks of items of all members are stacked side by side
(n_b x D, D = sum of widths) and the cross-product matrix G = X^T X (D x D) is accumulated in float64 with a
symmetric rank-k update. Each member's features are read once, however many members there are; the
paper's pairwise loop re-read member j for every i.

Centring in one pass: every member is shifted by the mean of its first block before accumulating, so that
the final correction ``G - s s^T / n`` (s = column sums) does not cancel catastrophically.

The debiased variant replaces HSIC by its unbiased estimator (Song et al. 2012), which needs, besides G and
s, the squared row norms r of each member: ``R^T X`` (N x D) and ``R^T R`` (N x N). It is exactly invariant
to the shift, so the same pass serves both.

G takes 8 D^2 bytes: 7.9 GB for the paper's 34 language models (D = 31,488), but 335 GB for its 100
ResNet-50 agents (D = 204,800). Over a memory budget, the members are split into m groups small enough
that the cross-product matrix of two groups fits, and one pass per pair of groups fills the pairs'
entries: each file is read m - 1 times instead of once (the page cache usually holds them), never once
per pair of members.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

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
            options = dict(dtype=torch.float64, device=device)
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
            bad = int((~np.isfinite(np.asarray(x))).sum()) if self.device == "cpu" else 0
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
            stacked = torch.cat([torch.as_tensor(x).to(self.gram.device, torch.float64) for x in block], dim=1)
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


def linear_cka(features, debiased: bool = False, block_items: int = 4096) -> np.ndarray:
    """kappa of in-memory feature matrices (one n x d_i array per member, same items in the same order)."""
    n = {len(x) for x in features}
    if len(n) != 1:
        raise ValueError(f"members have different numbers of items: {sorted(n)}")
    accumulator = AlignmentAccumulator([x.shape[1] for x in features], debiased=debiased)
    for start in range(0, n.pop(), block_items):
        accumulator.add([x[start : start + block_items] for x in features])
    return accumulator.kappa()


def items_lacking(files, set_name: str = "probe") -> tuple[np.ndarray, int]:
    """How many items each feature file lacks of the items some file has, and how many items that is.

    Items every member lacks (e.g. words no tokenizer keeps) are not counted: kappa never had them.
    """
    keys = _item_codes([f.items(set_name) for f in files])
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


def kappa_from_feature_files(
    paths,
    members=None,
    set_name: str = "probe",
    debiased: bool = False,
    block_items: int = 4096,
    device: str = "cpu",
    memory_budget_mb: float | None = None,
) -> KappaResult:
    """kappa over feature files, one per member; items some member lacks are dropped for all.

    The result's ``dropped`` counts, per member, the items it lacks (:func:`items_lacking`).
    One pass over the files when the D x D cross-product matrix fits ``memory_budget_mb`` (or no budget is
    given), otherwise one pass per pair of member groups (:func:`member_groups`).
    """
    from .features import FeatureFile, aligned_blocks, common_items

    paths = [str(p) for p in paths]
    members = list(members) if members is not None else [None] * len(paths)
    files = [FeatureFile(p) for p in paths]
    try:
        for m, f in zip(members, files):
            if m and "member" in f.provenance:  # a file of another member (copied results, renamed members)
                f.check_provenance({"member": m})
        members = [m or f.provenance.get("member") or p for m, f, p in zip(members, files, paths)]
        rows = common_items(files, set_name)
        totals = [len(f.items(set_name)) for f in files]
        lacking, n_union = items_lacking(files, set_name)
        n_items = len(rows[0])
        if n_items == 0:
            raise TaskspaceError(f"the feature files share no {set_name!r} items: {', '.join(paths)}")
        widths = [f.width(set_name) for f in files]
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
        hsic = np.zeros((len(files), len(files)))
        # Every pair of members shares a pass: one pass for one group, else one per pair of groups.
        passes = [groups[0]] if len(groups) == 1 else [a + b for g, a in enumerate(groups) for b in groups[g + 1 :]]
        for number, chosen in enumerate(passes, start=1):
            if len(passes) > 1:
                log.info("kappa pass %d/%d: %d members", number, len(passes), len(chosen))
            accumulator = AlignmentAccumulator(
                [widths[i] for i in chosen], debiased=debiased, device=device, names=[members[i] for i in chosen]
            )
            for block in aligned_blocks([files[i] for i in chosen], set_name, [rows[i] for i in chosen], block_items):
                accumulator.add(block)
            hsic[np.ix_(chosen, chosen)] = accumulator.hsic()
        kappa = _normalised(hsic, members)
    finally:
        for f in files:
            f.close()
    dropped = {m: t - n_items for m, t in zip(members, totals) if t != n_items}  # items it had, left out
    return KappaResult(
        kappa=kappa,
        members=members,
        n_items=n_items,
        debiased=debiased,
        meta={"items_dropped": dropped, "set": set_name},
        dropped=lacking,
        n_items_dropped=n_union - n_items,
    )


def save_kappa(result: KappaResult, path) -> None:
    """The kappa file (npz, atomic): matrix, member names in row order, number of probe items used and,
    when known, ``dropped`` (per member, aligned with ``members``: the probe items it lacks, which kappa
    left out for all) and ``n_items_dropped`` (how many items kappa left out in all)."""
    from .atomic import atomic_path

    extra = {}
    if result.dropped is not None:
        extra = {"dropped": np.asarray(result.dropped, dtype=np.int64), "n_items_dropped": result.n_items_dropped}
    with atomic_path(path) as partial, open(partial, "wb") as handle:
        np.savez(
            handle,
            kappa=result.kappa,
            members=np.array(result.members, dtype=str),
            n_items=result.n_items,
            debiased=result.debiased,
            **extra,
        )


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

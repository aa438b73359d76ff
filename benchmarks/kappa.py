"""kappa: the paper's pairwise loop (re-reading member j for every i) against taskspace's one pass.

    .venv/bin/python benchmarks/kappa.py [--items 20000] [--folder /tmp/kappa-bench]

N = 34 synthetic members with the widths of the paper's 34 checkpoints, n probe items, float32 feature files
written once with taskspace.features. Rows (same run, same files):
- pairwise: for every pair (i, j), load both members from their files, centre, ||X_i^T X_j||_F^2
  (the paper's estimate_kappa loop); reads sum over pairs.
- one pass: taskspace.kappa.kappa_from_feature_files; every file read once.
- grouped (with --memory-mb): the same under a memory budget too small for the D x D matrix: one pass per
  pair of member groups.
- floor: the same upper-triangle product (X^T X of all members side by side, float64) on data already in
  memory, in one call.
"""

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
from _machine import describe

from taskspace.features import FeatureFile, write_features
from taskspace.kappa import kappa_from_feature_files, member_groups
from taskspace.kappa.feature_space import _add_upper_gram

# Hidden sizes of the paper's 34 checkpoints, in resources/paper-lm-kappa/members.txt order.
PAPER_WIDTHS = [
    768,
    1024,
    768,
    1024,
    1024,
    768,
    768,
    1024,
    1024,
    768,
    768,
    768,
    768,
    1280,
    1024,
    768,
    768,
    768,
    1024,
    1024,
    1024,
    768,
    1024,
    512,
    1024,
    1280,
    1280,
    1024,
    1024,
    1024,
    768,
    1024,
    768,
    1024,
]


class CountingDataset:
    """An h5py dataset that counts the bytes its slices return."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.shape = dataset.shape
        self.dtype = dataset.dtype

    def __getitem__(self, key):
        values = self.dataset[key]
        CountingFile.bytes_read += values.nbytes
        return values


class CountingFile(FeatureFile):
    bytes_read = 0

    def vectors(self, set_name):
        return CountingDataset(super().vectors(set_name))


def make_members(folder: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, 64)).astype(np.float32)
    paths = []
    for i, width in enumerate(PAPER_WIDTHS):
        x = shared @ rng.standard_normal((64, width)).astype(np.float32)
        x += rng.standard_normal((n, width), dtype=np.float32) * rng.uniform(0.5, 3)
        paths.append(folder / f"member{i:02d}.h5")
        write_features(paths[-1], {"probe": (np.arange(n), x)}, {"member": f"member{i:02d}"})
    return paths


def pairwise(paths) -> np.ndarray:
    """The paper's loop: member j is loaded again for every i."""

    def load(path):
        with FeatureFile(path) as f:
            x = np.asarray(f.vectors("probe")[()], dtype=np.float64)
        CountingFile.bytes_read += x.size * 4
        return x - x.mean(0)

    m = len(paths)
    kappa = np.eye(m)
    self_norm = {}
    for i in range(m):
        xi = load(paths[i])
        self_norm[i] = np.linalg.norm(xi.T @ xi)
        for j in range(i + 1, m):
            xj = load(paths[j])
            if j not in self_norm:
                self_norm[j] = np.linalg.norm(xj.T @ xj)
            kappa[i, j] = kappa[j, i] = np.linalg.norm(xi.T @ xj) ** 2 / (self_norm[i] * self_norm[j])
    return kappa


def floor(paths) -> float:
    """Time of the symmetric product alone, on all members side by side already in memory."""
    blocks = []
    for path in paths:
        with FeatureFile(path) as f:
            blocks.append(np.asarray(f.vectors("probe")[()], dtype=np.float64))
    x = np.concatenate(blocks, axis=1)
    del blocks
    x -= x.mean(0)
    gram = np.zeros((x.shape[1], x.shape[1]))
    start = time.perf_counter()
    # The upper-triangle product that kappa needs, in one call on all items. (A plain x.T @ x, which numpy
    # runs as one dsyrk, segfaults inside OpenBLAS at this D on this machine.)
    _add_upper_gram(gram, x)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/taskspace-kappa-bench"))
    parser.add_argument("--skip-pairwise", action="store_true")
    parser.add_argument("--memory-mb", type=float, help="also time kappa under this budget for the matrix")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    print(f"machine: {describe()}")
    print(
        f"N = {len(PAPER_WIDTHS)} members, widths {min(PAPER_WIDTHS)}-{max(PAPER_WIDTHS)} "
        f"(D = {sum(PAPER_WIDTHS)}), n = {args.items} items, float32 files\n"
    )
    paths = make_members(args.folder, args.items)
    file_bytes = sum(np.dtype(np.float32).itemsize * args.items * w for w in PAPER_WIDTHS)

    import taskspace.features as features_module

    original = features_module.FeatureFile
    features_module.FeatureFile = CountingFile
    CountingFile.bytes_read = 0
    start = time.perf_counter()
    one_pass = kappa_from_feature_files(paths).kappa
    one_pass_time = time.perf_counter() - start
    one_pass_read = CountingFile.bytes_read
    if args.memory_mb:
        CountingFile.bytes_read = 0
        start = time.perf_counter()
        grouped = kappa_from_feature_files(paths, memory_budget_mb=args.memory_mb).kappa
        grouped_time = time.perf_counter() - start
        grouped_read = CountingFile.bytes_read
    features_module.FeatureFile = original

    floor_time = floor(paths)
    print("| method | wall (s) | ratio to floor | data read / file bytes |")
    print("|---|---|---|---|")
    print(f"| matrix-product floor (same product, in memory) | {floor_time:.1f} | 1.00 | - |")
    print(
        f"| taskspace one pass | {one_pass_time:.1f} | {one_pass_time / floor_time:.2f} "
        f"| {one_pass_read / file_bytes:.2f} |"
    )
    if args.memory_mb:
        groups = len(member_groups(PAPER_WIDTHS, args.memory_mb))
        print(
            f"| taskspace grouped ({args.memory_mb:.0f} MB: {groups} groups, {groups * (groups - 1) // 2} passes) "
            f"| {grouped_time:.1f} | {grouped_time / floor_time:.2f} | {grouped_read / file_bytes:.2f} |"
        )
    if not args.skip_pairwise:
        CountingFile.bytes_read = 0
        start = time.perf_counter()
        reference = pairwise(paths)
        pairwise_time = time.perf_counter() - start
        print(
            f"| paper's pairwise loop | {pairwise_time:.1f} | {pairwise_time / floor_time:.2f} "
            f"| {CountingFile.bytes_read / file_bytes:.2f} |"
        )
        print(
            f"\nmax |one pass - pairwise| = {np.abs(one_pass - reference).max():.2e}; "
            f"one pass is {pairwise_time / one_pass_time:.1f}x faster"
        )
    if args.memory_mb:
        print(f"\nmax |grouped - one pass| = {np.abs(grouped - one_pass).max():.2e}")
    shutil.rmtree(args.folder)


if __name__ == "__main__":
    main()

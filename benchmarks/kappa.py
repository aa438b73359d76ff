"""kappa at both kinds of shape against the floor of the cheaper form, in the same run, on the same files.

    .venv/bin/python benchmarks/kappa.py [--shapes vision lm] [--repeats 3] [--memory-mb 9830] [--other-form]

Shapes (float32 HDF5 feature files written once with taskspace.features, synthetic members that share a
64-dimensional signal):
- vision: n = 1,000 probe items, 30 members of width 2,048 (D = 61,440): sample space is the cheaper form.
- lm: n = 12,000 items, 8 members of width 768 (D = 6,144): feature space is the cheaper form.

Rows (best of ``--repeats`` rounds, interleaved; ratios to both floors):
- floor: plain numpy of the cheaper form on float64 centred arrays already in memory (sample space: every
  member's Gram ``x @ x.T``, then ``V @ V.T`` over the flattened Grams; feature space: the upper-triangle
  product of all members side by side, ``taskspace.kappa.feature_space._add_upper_gram``, as numpy's one
  ``x.T @ x`` crashed inside OpenBLAS at D = 31,488 on the development machine).
- floor with reads: the floor plus reading each file once into float64 and centring it (plain h5py and
  numpy), the least a job that starts from the files does.
- one job: ``taskspace.kappa.kappa_from_feature_files`` (the form it chooses, under ``--memory-mb``, the
  workflow kappa job's budget by default: 60% of 16 GB), files read and converted included.
- spread: the workflow's per-member jobs (``sketch_member`` + ``save_sketch``, summed: on a cluster they run
  side by side) and the combine (``kappa_from_sketches``), each timed alone.
- the other form (``--other-form``): the same call forced into the dearer form.
Bytes read are counted on the feature files' vectors (1.00 = each file read once).
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import describe

import taskspace.features as features_module
from taskspace.features import FeatureFile, write_features
from taskspace.kappa import (
    SAMPLE,
    choose_form,
    kappa_from_feature_files,
    kappa_from_sketches,
    save_sketch,
    sketch_member,
)
from taskspace.kappa.feature_space import _add_upper_gram
from taskspace.kappa.result import _normalised
from taskspace.resources import MATRIX_SHARE

SHAPES = {"vision": (1000, [2048] * 30), "lm": (12000, [768] * 8)}


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


def make_members(folder: Path, n: int, widths, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n, 64)).astype(np.float32)
    paths = []
    for i, width in enumerate(widths):
        x = shared @ rng.standard_normal((64, width)).astype(np.float32)
        x += rng.standard_normal((n, width), dtype=np.float32) * rng.uniform(0.5, 3)
        paths.append(folder / f"member{i:02d}.h5")
        write_features(paths[-1], {"probe": (np.arange(n), x)}, {"member": f"member{i:02d}"})
    return paths


def in_memory(paths) -> tuple[float, list[np.ndarray]]:
    """Seconds to read every member's features once, in float64, centred (plain h5py and numpy), and the
    arrays: the in-memory floor's starting point, and what a job that starts from the files adds to it."""
    start = time.perf_counter()
    arrays = []
    for path in paths:
        with FeatureFile(path) as f:
            x = np.asarray(f.vectors("probe")[()], dtype=np.float64)
        arrays.append(x - x.mean(0))
    return time.perf_counter() - start, arrays


def floor(arrays, form: str) -> tuple[float, np.ndarray | None]:
    """Seconds of plain numpy of ``form`` on the arrays, and its kappa (sample space; None for feature space)."""
    start = time.perf_counter()
    if form == SAMPLE:
        n = len(arrays[0])
        flat = np.empty((len(arrays), n * n))
        for i, x in enumerate(arrays):
            flat[i].reshape(n, n)[...] = x @ x.T
        products = flat @ flat.T
        seconds = time.perf_counter() - start
        return seconds, _normalised(products, [str(i) for i in range(len(arrays))])
    x = np.concatenate(arrays, axis=1)
    gram = np.zeros((x.shape[1], x.shape[1]))
    start = time.perf_counter()
    _add_upper_gram(gram, x)
    return time.perf_counter() - start, None


def counted(call):
    """(seconds, result, bytes of vectors read) of ``call()``."""
    original = features_module.FeatureFile
    features_module.FeatureFile = CountingFile
    CountingFile.bytes_read = 0
    try:
        start = time.perf_counter()
        result = call()
        return time.perf_counter() - start, result, CountingFile.bytes_read
    finally:
        features_module.FeatureFile = original


def spread(paths, folder: Path, budget_mb: float):
    """The workflow's way: one sketch per member (timed in sum), then the combine."""
    sketches, member_seconds = [], 0.0

    def members():
        nonlocal member_seconds
        for i, path in enumerate(paths):
            start = time.perf_counter()
            sketch = sketch_member(path, memory_budget_mb=budget_mb)
            save_sketch(sketch, folder / f"sketch{i:02d}.h5")
            member_seconds += time.perf_counter() - start
            sketches.append(folder / f"sketch{i:02d}.h5")

    _, _, member_read = counted(members)
    combine_seconds, result, combine_read = counted(
        lambda: kappa_from_sketches(sketches, features=paths, memory_budget_mb=budget_mb)
    )
    for sketch in sketches:
        sketch.unlink()
    return member_seconds, combine_seconds, result, member_read + combine_read


def run_shape(name: str, args, folder: Path) -> None:
    n, widths = SHAPES[name]
    paths = make_members(folder, n, widths)
    file_bytes = sum(4 * n * w for w in widths)
    choice = choose_form(n, widths, args.memory_mb)
    other = "feature" if choice.form == SAMPLE else SAMPLE
    print(f"### {name}: n = {n} items, {len(widths)} members of width {widths[0]} (D = {sum(widths)})\n")
    print(choice.describe() + "\n")
    times = {"floor": [], "floor with reads": [], "one job": [], "members": [], "combine": [], "other": []}
    reads = {}
    for _ in range(args.repeats):
        read_seconds, arrays = in_memory(paths)
        seconds, floor_kappa = floor(arrays, choice.form)
        del arrays
        times["floor"].append(seconds)
        times["floor with reads"].append(read_seconds + seconds)
        seconds, result, read = counted(lambda: kappa_from_feature_files(paths, memory_budget_mb=args.memory_mb))
        times["one job"].append(seconds)
        reads["one job"] = read / file_bytes
        member_seconds, combine_seconds, spread_result, read = spread(paths, folder, args.memory_mb)
        times["members"].append(member_seconds)
        times["combine"].append(combine_seconds)
        reads["spread"] = read / file_bytes
    if args.other_form:
        seconds, other_result, read = counted(
            lambda: kappa_from_feature_files(paths, memory_budget_mb=args.memory_mb, form=other)
        )
        times["other"].append(seconds)
        reads["other"] = read / file_bytes
    best = {key: min(values) for key, values in times.items() if values}
    spread_total = best["members"] + best["combine"]
    floor_s, with_reads = best["floor"], best["floor with reads"]

    def row(label: str, seconds: str, value: float, read: str) -> None:
        print(f"| {label} | {seconds} | {value / floor_s:.2f} | {value / with_reads:.2f} | {read} |")

    print("| method | wall (s) | ratio to floor | ratio to floor with reads | vectors read / file bytes |")
    print("|---|---:|---:|---:|---:|")
    row(f"floor: plain numpy of the {choice.form}-space form, arrays in memory", f"{floor_s:.2f}", floor_s, "-")
    row(
        "floor with reads: the same after reading each file once (h5py, float64, centred)",
        f"{with_reads:.2f}",
        with_reads,
        "1.00",
    )
    row(
        f"one job (`kappa_from_feature_files`, {result.meta['form']} space)",
        f"{best['one job']:.2f}",
        best["one job"],
        f"{reads['one job']:.2f}",
    )
    row(
        f"spread: {len(widths)} member jobs (summed) + combine",
        f"{best['members']:.2f} + {best['combine']:.2f} = {spread_total:.2f}",
        spread_total,
        f"{reads['spread']:.2f}",
    )
    if args.other_form:
        row(f"one job forced into {other} space", f"{best['other']:.2f}", best["other"], f"{reads['other']:.2f}")
    print()
    if floor_kappa is not None:
        print(f"max |one job - floor| = {np.abs(result.kappa - floor_kappa).max():.1e}; ", end="")
    print(f"max |spread - one job| = {np.abs(spread_result.kappa - result.kappa).max():.1e}", end="")
    if args.other_form:
        print(f"; max |other form - one job| = {np.abs(other_result.kappa - result.kappa).max():.1e}", end="")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}\n")
    for path in paths:
        path.unlink()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=["vision", "lm"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-mb", type=float, default=MATRIX_SHARE * 16000)
    parser.add_argument("--other-form", action="store_true", help="also time the dearer form (slow: minutes)")
    parser.add_argument("--folder", type=Path, default=None, help="where the feature files go (default: a temp dir)")
    args = parser.parse_args()
    print(f"machine: {describe()}")
    print(f"load average before: {os.getloadavg()[0]:.1f}; memory budget {args.memory_mb:.0f} MB\n")
    folder = args.folder or Path(tempfile.mkdtemp(prefix="taskspace-kappa-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name in args.shapes:
            run_shape(name, args, folder)
    finally:
        if args.folder is None:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()

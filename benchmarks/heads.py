"""Benchmark: the vision demo's head grid trained (a) batched, one call per task, vs (b) one head at a time.

The grid is shaped like the vision demo: digits images, ``--members`` zoo members, ``--tasks`` admin tasks of
``--ways`` classes with ``--shots`` training images per class (``--val-per-class`` of them held out for epoch
selection), and per task the heads of MMI (1 ordering) + random (``--random-seeds`` subsets per k) + peek
(1 ordering) for k = 1..``--k-max``: 12 heads per k with the defaults, 1200 heads in all.

The members are random two-layer ReLU networks on the pixels (fixed seeds), not trained agents: this
benchmark measures head training, and random features give the heads the same shapes and a realistic spread
of accuracies without training 20 CNNs first. MMI picks come from the real kappa/MMI code on probe images.

(b) is measured two ways:
- ``per-head calls``: ``train_heads`` called once per head in this process (no start-up cost at all);
- ``one process per head``: the per-head call times plus, for every head, the start-up cost of a fresh Python
  process (interpreter, torch and taskspace imports, reading the task's features), measured by spawning
  ``--spawn`` real subprocesses that each train one head; ``--spawn-all`` spawns one process for every head
  instead and reports the measured total (slow: about a second or more per head).

Both modes use the same config, seed and thread count, and the benchmark checks that they give the same
accuracies.

``--layouts`` times instead one training step (forward, loss, backward, Adam) of many heads in three ways of
laying out their parameters: the trainer's (per member one matrix with the columns of every head that reads
it, one product per member, scatter-added into the heads' logits), every head's columns gathered and padded
to the widest head for one ``bmm``, and one dense weight matrix masked to the columns each head may read; on
the demo grid's heads of one task and on an LM-sized call. Usage::

    .venv/bin/python benchmarks/heads.py                   # the demo grid, 1 thread, CPU
    .venv/bin/python benchmarks/heads.py --tasks 2 --spawn 3  # quicker
    .venv/bin/python benchmarks/heads.py --layouts         # training step by parameter layout
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--width", type=int, default=32, help="feature width of every member")
    p.add_argument("--tasks", type=int, default=10)
    p.add_argument("--ways", type=int, default=5)
    p.add_argument("--shots", type=int, default=10, help="training images per class (before the validation holdout)")
    p.add_argument("--val-per-class", type=int, default=2)
    p.add_argument("--probe-per-class", type=int, default=10)
    p.add_argument("--k-max", type=int, default=10)
    p.add_argument("--random-seeds", type=int, default=10)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--threads", type=int, default=1, help="torch threads, the same for both modes")
    p.add_argument("--device", default="cpu")
    p.add_argument("--spawn", type=int, default=5, help="subprocesses spawned to measure per-process start-up")
    p.add_argument("--spawn-all", action="store_true", help="spawn one process for every head (slow)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layouts", action="store_true", help="time one training step in three parameter layouts")
    p.add_argument("--layout-steps", type=int, default=20, help="steps per round (a tenth for the LM shape)")
    p.add_argument("--layout-rounds", type=int, default=3)
    p.add_argument("--one-head", help=argparse.SUPPRESS)  # worker mode: JSON job file
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------------- data


def build_grid(args):
    """Features of every task's splits and, per task, the list of heads (method, seed, k, members)."""
    from sklearn.datasets import load_digits

    from taskspace.heads import stratified_holdout
    from taskspace.kappa import linear_cka
    from taskspace.mmi import greedy_mmi

    images, labels = load_digits(return_X_y=True)
    images = images / 16.0
    rng = np.random.default_rng(args.seed)
    hidden = 64
    nets = [
        (rng.normal(size=(64, hidden)) / 8, rng.normal(size=(hidden, args.width)) / np.sqrt(hidden))
        for _ in range(args.members)
    ]

    def embed(x):
        return np.concatenate([np.maximum(np.maximum(x @ a, 0) @ b, 0) for a, b in nets], axis=1).astype(np.float32)

    # Disjoint roles: probe images, then per class a pool for admin training and the rest for testing.
    order = rng.permutation(len(labels))
    probe = np.concatenate([order[labels[order] == c][: args.probe_per_class] for c in range(10)])
    rest = np.setdiff1d(order, probe)
    rest = rest[rng.permutation(len(rest))]
    train_pool = {c: rest[labels[rest] == c][: args.shots] for c in range(10)}
    test_pool = {c: rest[labels[rest] == c][args.shots :] for c in range(10)}

    features = embed(images)
    widths = [args.width] * args.members
    probe_blocks = [features[probe][:, m * args.width : (m + 1) * args.width] for m in range(args.members)]
    kappa = linear_cka(probe_blocks)
    mmi = [int(i) for i in greedy_mmi(kappa, args.k_max, hub_first=True).order]

    tasks = []
    for t in range(args.tasks):
        classes = np.sort(rng.choice(10, size=args.ways, replace=False))
        train_idx = np.concatenate([train_pool[c] for c in classes])
        test_idx = np.concatenate([test_pool[c] for c in classes])
        remap = {c: i for i, c in enumerate(classes)}
        y_train = np.array([remap[c] for c in labels[train_idx]])
        y_test = np.array([remap[c] for c in labels[test_idx]])
        fit, val = stratified_holdout(y_train, args.val_per_class, seed=args.seed + t)
        tasks.append(
            {
                "classes": classes.tolist(),
                "train": (features[train_idx][fit], y_train[fit]),
                "dev": (features[train_idx][val], y_train[val]),
                "test": (features[test_idx], y_test),
            }
        )
    return tasks, widths, mmi


def peek_order(args, tasks, widths, config):
    """The peek baseline: members ranked by single-member test accuracy on task 0 (as the vision track does)."""
    from taskspace.heads import Split, train_heads

    task = tasks[0]
    results = train_heads(
        *(Split(*task[s]) for s in ("train", "dev", "test")), widths, [(m,) for m in range(len(widths))], config=config
    )
    return [int(i) for i in np.argsort([-best_test(r) for r in results], kind="stable")]


def heads_of(args, mmi, peek, n_members):
    from taskspace.selection import random_subsets

    heads = []
    for k in range(1, args.k_max + 1):
        heads.append(("mmi", 0, k, tuple(mmi[:k])))
        for seed, subset in enumerate(random_subsets(n_members, k, args.random_seeds, args.seed)):
            heads.append(("random", seed, k, tuple(subset)))
        heads.append(("peek", 0, k, tuple(peek[:k])))
    return heads


# ---------------------------------------------------------------------------------------------------- modes


def config_of(args):
    from taskspace.heads import HeadConfig

    return HeadConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, device=args.device, seed=args.seed, log_every_s=3600
    )


def run_batched(tasks, widths, heads, config):
    from taskspace.heads import Split, train_heads

    out = []
    start = time.perf_counter()
    for task in tasks:
        splits = [Split(*task[s]) for s in ("train", "dev", "test")]
        out.append(train_heads(*splits, widths, [h[3] for h in heads], config=config))
    return out, time.perf_counter() - start


def run_per_head(tasks, widths, heads, config):
    from taskspace.heads import Split, train_heads

    out, times = [], []
    for task in tasks:
        splits = [Split(*task[s]) for s in ("train", "dev", "test")]
        row = []
        for head in heads:
            start = time.perf_counter()
            row.append(train_heads(*splits, widths, [head[3]], config=config)[0])
            times.append(time.perf_counter() - start)
        out.append(row)
    return out, np.array(times)


def write_job(folder: Path, args, task, widths, members, name) -> Path:
    data = folder / f"{name}.npz"
    if not data.exists():
        np.savez(data, **{f"{s}_{part}": task[s][i] for s in ("train", "dev", "test") for i, part in enumerate("xy")})
    job = folder / f"{name}-{'-'.join(map(str, members))}.json"
    job.write_text(
        json.dumps(
            {
                "data": str(data),
                "widths": widths,
                "members": list(members),
                "args": {k: v for k, v in vars(args).items() if k != "one_head"},
            }
        )
    )
    return job


def spawn(job: Path, threads: int) -> tuple[float, dict]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--one-head", str(job)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
    )
    wall = time.perf_counter() - start
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def worker(job_path: str) -> None:
    """One head in a fresh process: what a one-process-per-head workflow job would do."""
    import torch

    from taskspace.heads import Split, train_heads

    job = json.loads(Path(job_path).read_text())
    args = argparse.Namespace(**job["args"])
    torch.set_num_threads(args.threads)
    data = np.load(job["data"])
    splits = [Split(data[f"{s}_x"], data[f"{s}_y"]) for s in ("train", "dev", "test")]
    start = time.perf_counter()
    (result,) = train_heads(*splits, job["widths"], [job["members"]], config=config_of(args))
    print(json.dumps({"train_s": time.perf_counter() - start, "test": result.test, "best_epoch": result.best_epoch}))


# -------------------------------------------------------------------------------------------------- layouts
# --layouts: one training step (forward, loss, backward, Adam) of many heads in three parameter layouts.


def layout_shapes(args) -> list[tuple[str, list[int], list[tuple[int, ...]], int, int]]:
    """(name, member widths, heads, classes, batch rows): the demo grid's one task, and an LM-sized call.

    LM-sized as measured when the trainer was written: 107 heads of up to 5 x 768 columns (here 1 to 5 members
    in turn, drawn from 8), 45 classes, 1500 tokens a batch.
    """
    order = list(range(args.members))
    demo = [h[3] for h in heads_of(args, order, order[::-1], args.members)]
    rng = np.random.default_rng(args.seed)
    lm = [tuple(sorted(int(m) for m in rng.choice(8, size=1 + i % 5, replace=False))) for i in range(107)]
    return [
        (
            f"demo: {len(demo)} heads of up to {args.k_max} x {args.width} columns",
            [args.width] * args.members,
            demo,
            args.ways,
            args.batch_size,
        ),
        (f"LM-sized: {len(lm)} heads of up to 5 x 768 columns", [768] * 8, lm, 45, 1500),
    ]


def grouped_layout(widths, heads, n_out):
    """The trainer's layout: per member one (d_m, H_m * C) matrix, one product each, scatter-added into heads."""
    import torch

    offsets = np.concatenate([[0], np.cumsum(widths)])
    users = [[h for h, members in enumerate(heads) if m in members] for m in range(len(widths))]
    weights = [torch.zeros(w, len(u) * n_out, requires_grad=True) for w, u in zip(widths, users)]
    index = [torch.tensor(u, dtype=torch.long) for u in users]

    def logits(x):
        out = torch.zeros(len(x), len(heads), n_out)
        for m, (w, idx) in enumerate(zip(weights, index)):
            if len(idx):
                part = x[:, offsets[m] : offsets[m + 1]] @ w
                out = out.index_add(1, idx, part.view(len(x), len(idx), n_out))
        return out

    return logits, weights


def padded_layout(widths, heads, n_out):
    """Every head's columns gathered and zero-padded to the widest head, one batched product (``bmm``)."""
    import torch

    offsets = np.concatenate([[0], np.cumsum(widths)])
    columns = [np.concatenate([np.arange(offsets[m], offsets[m + 1]) for m in h]) for h in heads]
    widest = max(len(c) for c in columns)
    pad = int(offsets[-1])  # a zero column appended to x
    gather = torch.tensor(np.stack([np.r_[c, [pad] * (widest - len(c))] for c in columns]), dtype=torch.long)
    weight = torch.zeros(len(heads), widest, n_out, requires_grad=True)

    def logits(x):
        padded = torch.cat([x, torch.zeros(len(x), 1)], dim=1)[:, gather]  # (B, H, widest)
        return torch.bmm(padded.transpose(0, 1), weight).transpose(0, 1)

    return logits, [weight]


def masked_layout(widths, heads, n_out):
    """One dense (D, H * C) matrix, masked to the columns each head may read."""
    import torch

    offsets = np.concatenate([[0], np.cumsum(widths)])
    mask = torch.zeros(int(offsets[-1]), len(heads), n_out)
    for h, members in enumerate(heads):
        for m in members:
            mask[offsets[m] : offsets[m + 1], h] = 1
    mask = mask.view(int(offsets[-1]), -1)
    weight = torch.zeros_like(mask, requires_grad=True)

    def logits(x):
        return (x @ (weight * mask)).view(len(x), len(heads), n_out)

    return logits, [weight]


LAYOUTS = {"grouped (the trainer's)": grouped_layout, "padded bmm": padded_layout, "dense masked": masked_layout}


def step_seconds(layout, widths, heads, n_out, rows, steps: int, rounds: int, seed: int) -> dict:
    """Per layout: seconds of one training step (the best of ``rounds`` rounds of ``steps`` steps, interleaved)
    and the largest difference of its logits from the first layout's after training."""
    import torch
    from torch.nn import functional as F

    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, sum(widths), generator=generator)
    y = torch.randint(0, n_out, (rows,), generator=generator)
    built = {name: make(widths, heads, n_out) for name, make in layout.items()}
    optimizers = {name: torch.optim.Adam(params, lr=1e-3) for name, (_, params) in built.items()}
    best = {name: [] for name in built}
    for _ in range(rounds + 1):  # the first round warms up
        for name, (logits, _) in built.items():
            start = time.perf_counter()
            for _ in range(steps):
                out = logits(x)
                loss = F.cross_entropy(out.reshape(-1, n_out), y.repeat_interleave(len(heads)), reduction="sum")
                optimizers[name].zero_grad(set_to_none=True)
                (loss / rows).backward()
                optimizers[name].step()
            best[name].append((time.perf_counter() - start) / steps)
    # Same data, steps and zero start: the layouts do the same arithmetic, so their heads must agree.
    with torch.no_grad():
        out = {name: logits(x) for name, (logits, _) in built.items()}
    first = next(iter(out.values()))
    return {name: (min(times[1:]), float((out[name] - first).abs().max())) for name, times in best.items()}


def layouts(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    print(f"Machine: {machine(args)}")
    print()
    print("| shape | layout | ms per step (best of rounds) | slower than grouped | max abs logit difference |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, widths, heads, n_out, rows in layout_shapes(args):
        steps = max(1, args.layout_steps if rows <= 100 else args.layout_steps // 10)
        timed = step_seconds(LAYOUTS, widths, heads, n_out, rows, steps, args.layout_rounds, args.seed)
        base = timed["grouped (the trainer's)"][0]
        for layout, (s, difference) in timed.items():
            row = f"| {name}, {n_out} classes, {rows} rows | {layout} | {1000 * s:.2f} | {s / base:.2f}x "
            print(row + f"| {difference:.1e} |", flush=True)


# ---------------------------------------------------------------------------------------------------- report


def machine(args) -> str:
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "none used"
    return (
        f"{cpu}, {os.cpu_count()} logical cores visible, torch {torch.__version__} with {args.threads} "
        f"thread(s), device {args.device} (GPU: {gpu}), Python {platform.python_version()}, {platform.system()}"
    )


def best_test(result) -> float:
    """The best test accuracy over the evaluated epochs: the paper's protocol, and the peek baseline's score."""
    return float(np.max(result.test_curve))


def main(argv=None):
    args = parse_args(argv)
    if args.one_head:
        worker(args.one_head)
        return
    if args.layouts:
        layouts(args)
        return
    import torch

    torch.set_num_threads(args.threads)
    config = config_of(args)
    tasks, widths, mmi = build_grid(args)
    heads = heads_of(args, mmi, peek_order(args, tasks, widths, config), len(widths))
    print(grid_line(args, tasks, heads), flush=True)
    batched, batched_s = run_batched(tasks, widths, heads, config)
    print(f"(a) batched: {batched_s:.1f} s", flush=True)
    single, single_times = run_per_head(tasks, widths, heads, config)
    print(f"(b) per-head calls: {single_times.sum():.1f} s", flush=True)
    per_process_s, how = per_process_time(args, tasks, widths, heads, single, single_times)
    print()
    print(f"Machine: {machine(args)}")
    print()
    modes = (
        ("(a) batched: one `train_heads` call per task", batched_s),
        ("(b) one `train_heads` call per head, one process", single_times.sum()),
        (f"(b) one process per head ({how})", per_process_s),
    )
    print_times(len(tasks) * len(heads), modes)
    print_accuracy_check(batched, single)
    print_methods(args, heads, batched)


def grid_line(args, tasks, heads) -> str:
    task = tasks[0]
    return (
        f"grid: {len(tasks)} tasks x {len(heads)} heads = {len(tasks) * len(heads)} heads; {args.members} members "
        f"of width {args.width}; {len(task['train'][1])} train / {len(task['dev'][1])} validation / "
        f"{len(task['test'][1])} test images per task; {args.epochs} epochs, batch {args.batch_size}, Adam lr {args.lr}"
    )


def per_process_time(args, tasks, widths, heads, single, single_times) -> tuple[float, str]:
    """Seconds of one process per head, and how they were had: spawned heads' start-up times the heads, or all."""
    n_heads = len(tasks) * len(heads)
    if args.spawn_all:
        jobs = [(t, h) for t in range(len(tasks)) for h in range(len(heads))]
    else:
        rng = np.random.default_rng(args.seed)
        picks = rng.choice(n_heads, size=min(args.spawn, n_heads), replace=False)
        jobs = [(int(p) // len(heads), int(p) % len(heads)) for p in picks]
    overheads, spawned_wall = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for t, h in jobs:
            job = write_job(Path(tmp), args, tasks[t], widths, heads[h][3], f"task{t}")
            wall, result = spawn(job, args.threads)
            spawned_wall += wall
            overheads.append(wall - result["train_s"])
            assert abs(result["test"] - single[t][h].test) < 1e-9, "a spawned head disagrees with its in-process twin"
    if args.spawn_all:
        return spawned_wall, f"measured, {len(jobs)} processes"
    startup = float(np.mean(overheads))
    how = f"per-head calls + {n_heads} x {startup:.2f} s start-up (mean of {len(jobs)} spawned processes)"
    return single_times.sum() + n_heads * startup, how


def print_times(n_heads: int, modes) -> None:
    """One row per mode: (name, seconds); the first is the baseline."""
    baseline = modes[0][1]
    print("| mode | heads | wall s | heads/s | slower than (a) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, seconds in modes:
        print(f"| {name} | {n_heads} | {seconds:.1f} | {n_heads / seconds:.1f} | {seconds / baseline:.1f}x |")
    print()


def print_accuracy_check(batched, single) -> None:
    """Whether training heads together changed any head's result."""
    a = np.array([[r.test for r in row] for row in batched])
    b = np.array([[r.test for r in row] for row in single])
    a_paper = np.array([[best_test(r) for r in row] for row in batched])
    b_paper = np.array([[best_test(r) for r in row] for row in single])
    same_epoch = np.mean([[x.best_epoch == y.best_epoch for x, y in zip(r1, r2)] for r1, r2 in zip(batched, single)])
    steps = {r.steps for row in batched + single for r in row}
    print("| accuracy check | value |")
    print("| --- | ---: |")
    print(f"| max abs difference in test accuracy at the selected epoch, (a) vs (b) | {np.abs(a - b).max():.2e} |")
    print(f"| max abs difference in paper-protocol test accuracy | {np.abs(a_paper - b_paper).max():.2e} |")
    print(f"| heads with the same selected epoch | {same_epoch:.1%} |")
    print(f"| mean test accuracy (a) / (b) | {a.mean():.4f} / {b.mean():.4f} |")
    print(f"| optimiser steps per head (all heads) | {sorted(steps)} |")
    print()


def print_methods(args, heads, batched) -> None:
    """Mean test accuracy of each selection method at each k, from the batched run."""
    a = np.array([[r.test for r in row] for row in batched])
    print("| method | " + " | ".join(f"k={k}" for k in range(1, args.k_max + 1)) + " |")
    print("| --- |" + " ---: |" * args.k_max)
    for method in ("mmi", "random", "peek"):
        cells = []
        for k in range(1, args.k_max + 1):
            cols = [i for i, h in enumerate(heads) if h[0] == method and h[2] == k]
            cells.append(f"{a[:, cols].mean():.3f}")
        seeds = " and seeds" if method == "random" else ""
        print(f"| {method} (mean test acc over tasks{seeds}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

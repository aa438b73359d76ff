"""A synthetic zoo of many members through the workflow (dry runs of many members: benchmarks/dryrun.py).

    .venv/bin/python benchmarks/synthetic_zoo.py make --members 1000 --folder /tmp/synth-zoo
    .venv/bin/python benchmarks/synthetic_zoo.py run --folder /tmp/synth-zoo [--cores 2]

``make`` writes a zoo space ``zoo/synth`` of precomputed members (the zoo's ``features:`` member kind): per member
a folder with ``probe.h5`` (``--items`` probe items) and ``topic.h5`` (the task's train and test sets), in the
taskspace feature format (taskspace.features.write_features), widths drawn from 64-256, every member a noisy
random mixing of one shared 32-dimensional signal; the probe text (one line an item), the task's tables
(text,label; 5 classes read off the signal), the member sheet (TSV) and ``config.yaml`` beside them.

``run`` times ``snakemake --cores N`` (default 2) in ``<folder>/work`` for kappa, MMI's picks and the task's
rankers (``results/zoo/synth/{kappa.npz,selection.tsv,ranking/topic.tsv}``), then prints the jobs by rule, the
kappa form its log names, and the wall time of each rule's jobs (from Snakemake's benchmark files).
"""

import argparse
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from _machine import describe

REPO = Path(__file__).resolve().parents[1]
TASK = "topic"
SIGNAL = 32
CLASSES = 5


def make(folder: Path, members: int, items: int, train: int, test: int, seed: int) -> Path:
    """Write the zoo's files and its config; returns the config's path."""
    from taskspace.features import write_features

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    signal = {
        name: rng.standard_normal((size, SIGNAL)) for name, size in (("probe", items), ("train", train), ("test", test))
    }
    direction = rng.standard_normal((SIGNAL, CLASSES))
    labels = {split: (signal[split] @ direction).argmax(1) for split in ("train", "test")}
    (folder / "probe.txt").write_text("".join(f"probe item {i}\n" for i in range(items)))
    for split in ("train", "test"):
        rows = "".join(f"{split} item {i},{label}\n" for i, label in enumerate(labels[split]))
        (folder / f"{TASK}-{split}.csv").write_text("text,label\n" + rows)
    sheet = ["name\tfeatures"]
    for m in range(members):
        name = f"s{m:05d}"
        width = int(rng.integers(64, 257))
        mixing = rng.standard_normal((SIGNAL, width)) * rng.uniform(0.5, 2)
        noise = rng.uniform(0.5, 3)

        member_folder = folder / "members" / name
        provenance = {"member": name, "kind": "synthetic", "width": width}
        embedded = {
            split: (x @ mixing + noise * rng.standard_normal((len(x), width))).astype(np.float32)
            for split, x in signal.items()
        }
        write_features(member_folder / "probe.h5", {"probe": (np.arange(items), embedded["probe"])}, provenance)
        sets = {split: (np.arange(len(signal[split])), embedded[split]) for split in ("train", "test")}
        write_features(member_folder / f"{TASK}.h5", sets, provenance)
        sheet.append(f"{name}\t{member_folder}")
    (folder / "members.tsv").write_text("\n".join(sheet) + "\n")
    config = {
        "seed": 0,
        "device": "cpu",
        "figure_formats": ["png"],
        "zoos": {
            "synth": {
                "input": "text",
                "members": str(folder / "members.tsv"),
                "probe": {"text": str(folder / "probe.txt")},
                "tasks": {
                    TASK: {
                        "format": "table",
                        "train": str(folder / f"{TASK}-train.csv"),
                        "test": str(folder / f"{TASK}-test.csv"),
                        "text": "text",
                        "label": "label",
                    }
                },
                "selection": {"k_max": 10, "hub_first": True, "random_rounds": 2},
            }
        },
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, config: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--configfile", str(config), *args]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, result


def run(folder: Path, cores: int) -> None:
    config = folder / "config.yaml"
    workdir = folder / "work"
    workdir.mkdir(exist_ok=True)
    targets = [f"results/zoo/synth/{name}" for name in ("kappa.npz", "selection.tsv", f"ranking/{TASK}.tsv")]
    print(f"machine: {describe()}; load average before: {os.getloadavg()[0]:.1f}")
    seconds, dry = snakemake(workdir, config, "-n", *targets)
    if dry.returncode != 0:
        raise SystemExit(dry.stderr[-3000:])
    jobs = Counter(re.findall(r"^\s*(?:local)?rule (\w+):$", dry.stdout, flags=re.M))
    print(f"dry run: {seconds:.1f} s; jobs: {dict(jobs)} ({sum(jobs.values())} in all)")
    seconds, result = snakemake(workdir, config, "--cores", str(cores), *targets)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-5000:])
    load = os.getloadavg()[0]
    print(f"run on {cores} cores: {seconds:.0f} s wall ({seconds / 60:.1f} min); load average after: {load:.1f}")
    kappa_log = (workdir / "logs/zoo/synth/kappa.log").read_text()
    print("kappa log:", *(line.split(": ", 1)[-1] for line in kappa_log.splitlines() if "space" in line), sep="\n  ")
    per_rule = Counter()
    for path in (workdir / "results/benchmarks").rglob("*.tsv"):
        rule = "kappa_member" if "kappa-members" in path.parts else path.stem
        values = path.read_text().splitlines()[1].split("\t")
        per_rule[rule] += float(values[0])
    print("job seconds by benchmark file (summed):", {k: round(v, 1) for k, v in per_rule.most_common()})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("make")
    p.add_argument("--folder", type=Path, required=True)
    p.add_argument("--members", type=int, default=1000)
    p.add_argument("--items", type=int, default=1000)
    p.add_argument("--train", type=int, default=300)
    p.add_argument("--test", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p = commands.add_parser("run")
    p.add_argument("--folder", type=Path, required=True)
    p.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    if args.command == "make":
        start = time.perf_counter()
        path = make(args.folder, args.members, args.items, args.train, args.test, args.seed)
        print(f"{path} ({args.members} members, {args.items} probe items) in {time.perf_counter() - start:.0f} s")
    else:
        run(args.folder, args.cores)


if __name__ == "__main__":
    main()

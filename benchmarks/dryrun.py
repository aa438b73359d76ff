"""Dry runs at paper scale: how long `snakemake -n` takes, what it lists, and how many Slurm submissions
the jobs become before and after grouping.

    .venv/bin/python benchmarks/dryrun.py [--repeats 3] [--configs lm vision both] [--lm-members 1000 10000]

For configs/paper-lm.yaml, configs/paper-vision.yaml and both together (two --configfile), each in an
empty temporary --directory (no data, no GPU, no network: the user's data files are inputs only when they
exist, and nothing is read at parse time), it runs
- `snakemake -n` (plain: every job on its own) and `snakemake -n --profile profiles/slurm` (the profile's
  `group-components` packs the `evaluation` group), `--repeats` times each, and reports the best and the
  median wall time of the whole command (Python start-up, parsing, DAG, printing);
- `--rulegraph` and `--dag` once each (dot text; the time to produce it).
Cluster submissions = jobs of non-local rules outside groups + group jobs, as the dry run prints them
(`Group job <name>` blocks). Local rules are those the rule files declare `localrule: True` and the
target rules without an action (what Snakemake itself runs on the submit node).
Prints the jobs by rule and one markdown table, with the machine.

``--lm-members M ...`` times instead `snakemake -n` of large zoos: configs/paper-lm.yaml with its 34 members
repeated under new names up to M members and two of its tasks, best of ``--repeats``.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy  # noqa: F401  (loaded so that describe() can name the BLAS)
import yaml
from _machine import describe

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {
    "lm": ["configs/paper-lm.yaml"],
    "vision": ["configs/paper-vision.yaml"],
    "both": ["configs/paper-lm.yaml", "configs/paper-vision.yaml"],
}
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def local_rules() -> set[str]:
    """Rules that run in the Snakemake process: `localrule: True` or no action (shell/script/run/...)."""
    local = set()
    for path in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        text = path.read_text()
        for m in re.finditer(r"^localrules:\s*(.+)$", text, flags=re.M):
            local.update(name.strip() for name in m.group(1).split(","))
        parts = re.split(r"^rule (\w+):", text, flags=re.M)
        for name, body in zip(parts[1::2], parts[2::2]):
            if re.search(r"^\s+localrule:\s*True", body, flags=re.M) or not re.search(
                r"^\s+(shell|script|run|notebook|wrapper|cwl):", body, flags=re.M
            ):
                local.add(name)
    return local


def snakemake(configs, *args, workdir):
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        *(str(REPO / c) for c in configs),
        *args,
    ]
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=workdir)
    seconds = time.perf_counter() - t0
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def parse_dryrun(text):
    """Jobs by rule (top-level and group members) and the group jobs' sizes by group name."""
    rules, grouped, groups = Counter(), Counter(), Counter()
    for line in text.splitlines():
        if m := re.match(r"^\s*\[.*\] Group job (\S+) \(", line):
            groups[m.group(1)] += 1
        elif m := re.match(r"^(\s*)rule (\w+):$", line):
            rules[m.group(2)] += 1
            if m.group(1):
                grouped[m.group(2)] += 1
    return rules, grouped, groups


def submissions(rules, grouped, groups, local):
    cluster_jobs = sum(n for rule, n in rules.items() if rule not in local)
    return cluster_jobs - sum(grouped.values()) + sum(groups.values())


def measure(name, configs, repeats, local):
    with tempfile.TemporaryDirectory(prefix="taskspace-dryrun-") as tmp:
        workdir = Path(tmp)
        plain, profiled = [], []
        for _ in range(repeats):  # interleaved, so that a busy moment of a shared machine hits both
            seconds, plain_text = snakemake(configs, "-n", workdir=workdir)
            plain.append(seconds)
            seconds, profile_text = snakemake(configs, "-n", "--profile", str(REPO / "profiles/slurm"), workdir=workdir)
            profiled.append(seconds)
        rulegraph_s, rulegraph = snakemake(configs, "--rulegraph", workdir=workdir)
        dag_s, dag = snakemake(configs, "--dag", workdir=workdir)
        assert rulegraph.lstrip().startswith("digraph") and dag.lstrip().startswith("digraph")
        assert not any(workdir.iterdir()) or {p.name for p in workdir.iterdir()} <= {".snakemake"}
    rules, grouped_plain, groups_plain = parse_dryrun(plain_text)
    rules_p, grouped, groups = parse_dryrun(profile_text)
    assert rules == rules_p
    return {
        "name": name,
        "configs": configs,
        "rules": rules,
        "jobs": sum(rules.values()),
        "plain": plain,
        "profiled": profiled,
        "before": submissions(rules, grouped_plain, groups_plain, local),
        "after": submissions(rules, grouped, groups, local),
        "groups": dict(groups),
        "grouped": dict(grouped),
        "rulegraph_s": rulegraph_s,
        "dag_s": dag_s,
        "dag_nodes": len(re.findall(r"^\s*\d+\[label", dag, flags=re.M)),
    }


def lm_config(members: int, folder: Path) -> Path:
    """configs/paper-lm.yaml with ``members`` members (its 34 repeated under new names) and two of its tasks."""
    config = yaml.safe_load((REPO / CONFIGS["lm"][0]).read_text())
    paper = config["lm"]["members"]
    config["lm"]["members"] = [dict(paper[i % len(paper)], name=f"m{i:05d}") for i in range(members)]
    config["lm"]["tasks"] = {name: config["lm"]["tasks"][name] for name in list(config["lm"]["tasks"])[:2]}
    config["lm"]["baselines"] = [config["lm"]["members"][0]["name"]]
    path = folder / f"lm-{members}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def many_members(sizes, repeats: int) -> None:
    print(f"machine: {describe()}; load average before: {os.getloadavg()[0]:.1f}\n")
    print("| LM members | tasks | jobs | `snakemake -n` best (s) | all runs (s) |")
    print("|---:|---:|---:|---:|---|")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="taskspace-dryrun-") as tmp:
            config = lm_config(size, Path(tmp))
            workdir = Path(tmp) / "work"
            workdir.mkdir()
            times = []
            for _ in range(repeats):
                seconds, text = snakemake([config], "-n", workdir=workdir)
                times.append(seconds)
        jobs = sum(parse_dryrun(text)[0].values())
        print(f"| {size:,} | 2 | {jobs:,} | {min(times):.1f} | {', '.join(f'{t:.1f}' for t in times)} |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--lm-members", type=int, nargs="+", help="time dry runs of LM zoos of these sizes instead")
    args = parser.parse_args()
    if args.lm_members:
        many_members(args.lm_members, args.repeats)
        return
    local = local_rules()
    results = [measure(name, CONFIGS[name], args.repeats, local) for name in args.configs]

    print(f"machine: {describe()}")
    print(f"local rules (never submitted): {', '.join(sorted(local))}\n")
    for r in results:
        heavy = ", ".join(f"{rule} {n}" for rule, n in r["rules"].most_common() if rule not in local)
        light = ", ".join(f"{rule} {n}" for rule, n in r["rules"].most_common() if rule in local)
        print(f"{r['name']} ({' + '.join(r['configs'])}): {r['jobs']} jobs")
        print(f"  cluster rules: {heavy}")
        print(f"  local rules:   {light}")
        print(f"  packed groups: {r['groups']} holding {r['grouped']}")
    print()
    print(
        "| configs | jobs | cluster submissions before grouping | after grouping | `-n` best / median (s) "
        "| `-n --profile profiles/slurm` best / median (s) | `--rulegraph` (s) | `--dag` (s), nodes |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(
            f"| {' + '.join(Path(c).name for c in r['configs'])} | {r['jobs']} | {r['before']} | {r['after']} "
            f"| {min(r['plain']):.1f} / {statistics.median(r['plain']):.1f} "
            f"| {min(r['profiled']):.1f} / {statistics.median(r['profiled']):.1f} "
            f"| {r['rulegraph_s']:.1f} | {r['dag_s']:.1f}, {r['dag_nodes']} |"
        )
    print(f"\n({args.repeats} repeats of each dry run, interleaved; wall time of the whole command.)")


if __name__ == "__main__":
    main()

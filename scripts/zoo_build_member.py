"""A built zoo member (a small seeded model) and the entry that reads it (taskspace.zoo.build)."""

import torch

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.scripting import run
from taskspace.zoo.build import build_pass


def main(snakemake):
    torch.set_num_threads(snakemake.threads)
    p = snakemake.params
    build_pass(p.entry, p.input, p.probe, snakemake.output.folder, snakemake.output.entry, p.seed)


run(main, snakemake)  # noqa: F821

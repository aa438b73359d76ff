"""One pass of a zoo over one dataset: each member of one checkpoint writes its features (taskspace.zoo.extract)."""

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.device import resolve_device
from taskspace.scripting import run
from taskspace.zoo.extract import extract_pass


def main(snakemake):
    if "features" not in snakemake.params.settings["entries"][0]:  # precomputed passes need no torch
        import torch

        torch.set_num_threads(snakemake.threads)
    extract_pass(snakemake.params.settings, snakemake.output.features, resolve_device(snakemake.params.device))


run(main, snakemake)  # noqa: F821

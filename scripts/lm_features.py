"""Word features of one member on one dataset (the probe text, or a task's train/dev/test), one HDF5."""

import torch

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.lm.extract import extract_features
from taskspace.lm.members import load_member
from taskspace.lm.tasks import read_sentences
from taskspace.lm.text import read_probe_text
from taskspace.scripting import run


def main(snakemake):
    torch.set_num_threads(snakemake.threads)
    if snakemake.wildcards.dataset == "probe":
        sets = {"probe": read_probe_text(snakemake.input.text)}
    else:
        fmt = snakemake.params.format
        sets = {name: read_sentences(fmt, path) for name, path in snakemake.params.files.items()}
    member = load_member(snakemake.params.entry, device=snakemake.params.device, precision=snakemake.params.precision)
    extract_features(member, sets, snakemake.output.features, batch_tokens=snakemake.params.batch_tokens)


run(main, snakemake)  # noqa: F821

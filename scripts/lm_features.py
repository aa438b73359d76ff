"""Word features of one pass (a member, or the members of one checkpoint at several layers or poolings) on one
dataset (the probe text, or a task's train/dev/test): one forward pass a batch, an HDF5 file per member."""

from pathlib import Path

import torch

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.lm.extract import extract_pass
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
    first, *others = snakemake.params.entries
    loaded = load_member(first, device=snakemake.params.device, precision=snakemake.params.precision)
    members = [loaded, *(loaded.for_member(entry) for entry in others)]
    if "folder" in snakemake.output.keys():  # lm_pass: the pass's folder, a file per member
        paths = [Path(snakemake.output.folder) / f"{member.name}.h5" for member in members]
    else:  # lm_features: the member's own file
        paths = [snakemake.output.features]
    extract_pass(members, sets, paths, batch_tokens=snakemake.params.batch_tokens)


run(main, snakemake)  # noqa: F821

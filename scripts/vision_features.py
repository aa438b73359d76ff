"""Penultimate features of one agent: rotated probe images, admin train and test images (one HDF5)."""

import torch

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.device import resolve_device
from taskspace.scripting import run
from taskspace.vision.agents import load_agent
from taskspace.vision.data import load_dataset
from taskspace.vision.extract import extract_agent_features
from taskspace.vision.split import load_split


def main(snakemake):
    torch.set_num_threads(snakemake.threads)
    data = load_dataset(**snakemake.params.experiment["dataset"], seed=snakemake.params.seed)
    agent = load_agent(snakemake.input.weights, snakemake.input.meta, device=resolve_device(snakemake.params.device))
    extract_agent_features(
        agent, data, load_split(snakemake.input.split), snakemake.output.features, weights_path=snakemake.input.weights
    )


run(main, snakemake)  # noqa: F821

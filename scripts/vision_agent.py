"""Train one agent on its classes; weights as safetensors plus a JSON of classes, normalisation, accuracy."""

import torch

import _taskspace_path  # noqa: F401 (the workflow root first on sys.path)
from taskspace.scripting import run
from taskspace.vision.agents import TrainConfig, save_agent, train_split_agent
from taskspace.vision.data import load_dataset
from taskspace.vision.split import load_split


def main(snakemake):
    torch.set_num_threads(snakemake.threads)
    experiment = snakemake.params.experiment
    where = f"vision.experiments.{snakemake.wildcards.experiment}.agents."
    data = load_dataset(**experiment["dataset"], seed=snakemake.params.seed)
    config = TrainConfig.from_mapping({"seed": snakemake.params.seed, **experiment["agents"]}, where=where)
    agent = train_split_agent(
        data, load_split(snakemake.input.split), snakemake.wildcards.agent, config, device=snakemake.params.device
    )
    save_agent(agent, snakemake.output.weights, snakemake.output.meta)


run(main, snakemake)  # noqa: F821

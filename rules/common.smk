# Config validation and the names all rule files share. Nothing here reads results or data,
# because every cluster job parses the Snakefile again.

import re

import taskspace
from taskspace.config import validate_config
from taskspace.errors import TaskspaceError
from taskspace.vision.split import SplitConfig, agent_names, task_names

try:
    config.update(validate_config(config))
except TaskspaceError as error:
    raise WorkflowError(f"config: {error}") from None

# Expensive rules put this in params: so that a new version of the method reruns them.
VERSION = taskspace.__version__

# GPU rules ask the scheduler for a GPU only when the config says cuda (auto cannot be known at parse time).
GPU = {"gpu": 1} if config["device"] == "cuda" else {}


def vision_experiments():
    """Each vision experiment with its split config (validated, defaults filled) and member names."""
    experiments = {}
    for name, experiment in config.get("vision", {"experiments": {}})[
        "experiments"
    ].items():
        where = f"vision.experiments.{name}.split."
        try:
            split = SplitConfig.from_mapping(
                {"seed": config["seed"], **experiment["split"]}, where=where
            )
        except TaskspaceError as error:
            raise WorkflowError(f"config: {error}") from None
        experiments[name] = dict(
            experiment,
            agent_names=agent_names(split.agents),
            task_names=task_names(split.tasks),
        )
    return experiments


VISION = vision_experiments()

# A space is one zoo with its own kappa: results/<space>/kappa.npz, selection.tsv, figures.
SPACES = {
    **{f"given/{name}": entry["selection"] for name, entry in config["given"].items()},
    **{
        f"vision/{name}": experiment["selection"] for name, experiment in VISION.items()
    },
}
# Spaces whose kappa comes from their members' probe features, with those members.
FEATURE_SPACES = {
    f"vision/{name}": experiment["agent_names"] for name, experiment in VISION.items()
}


def pattern(names):
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def figure_paths(stem):
    """One path per configured figure format."""
    return [f"{stem}.{suffix}" for suffix in config["figure_formats"]]


def selection_tables():
    return [f"results/{space}/selection.tsv" for space in SPACES]


def probe_features(wildcards):
    """Feature files of a feature space's members, in kappa's row order."""
    if wildcards.space.startswith("vision/"):
        experiment = wildcards.space.split("/", 1)[1]
        return [
            f"results/vision/{experiment}/features/{agent}.h5"
            for agent in FEATURE_SPACES[wildcards.space]
        ]
    raise WorkflowError(f"no feature files known for space {wildcards.space}")


def selection_inputs(wildcards):
    """A space's kappa and, for vision spaces, the peek ranking."""
    inputs = {"kappa": f"results/{wildcards.space}/kappa.npz"}
    if wildcards.space.startswith("vision/"):
        inputs["ranking"] = f"results/{wildcards.space}/peek.tsv"
    return inputs


def vision_targets():
    paths = []
    for name in VISION:
        paths += [
            f"results/vision/{name}/metrics.tsv",
            f"results/vision/{name}/agents.tsv",
        ]
        paths += figure_paths(f"results/figures/vision/{name}/accuracy")
        paths += figure_paths(f"results/figures/vision/{name}/gain")
    return paths


def all_figures():
    paths = []
    for space in SPACES:
        paths += figure_paths(f"results/figures/{space}/mi-gain")
        paths += figure_paths(f"results/figures/{space}/kappa-dendrogram")
    return paths


def given_inputs(wildcards):
    """The user's kappa and, when the config names one, its member names file."""
    entry = config["given"][wildcards.name]
    inputs = {"kappa": entry["kappa"]}
    if "members" in entry:
        inputs["members"] = entry["members"]
    return inputs

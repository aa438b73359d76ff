# Config validation and the names all rule files share. Nothing here reads results or data,
# because every cluster job parses the Snakefile again.

import re

import taskspace
from taskspace.config import validate_config
from taskspace.errors import TaskspaceError

try:
    config.update(validate_config(config))
except TaskspaceError as error:
    raise WorkflowError(f"config: {error}") from None

# Expensive rules put this in params: so that a new version of the method reruns them.
VERSION = taskspace.__version__

# A space is one zoo with its own kappa: results/<space>/kappa.npz, selection.tsv, figures.
SPACES = {
    f"given/{name}": entry["selection"] for name, entry in config["given"].items()
}


def space_pattern():
    return "|".join(re.escape(space) for space in SPACES) or "(?!)"


def figure_paths(stem):
    """One path per configured figure format."""
    return [f"{stem}.{suffix}" for suffix in config["figure_formats"]]


def selection_tables():
    return [f"results/{space}/selection.tsv" for space in SPACES]


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

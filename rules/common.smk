# Config validation and the names all rule files share. Nothing here reads results or data,
# because every cluster job parses the Snakefile again.

import os
import re

import taskspace
from taskspace.config import DEMO_FORMATS, SPLITS, validate_config
from taskspace.errors import TaskspaceError
from taskspace.resources import FEATURE_SHARE
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
        # validate_config has checked the split; this fills its defaults
        split = SplitConfig.from_mapping(
            {"seed": config["seed"], **experiment["split"]}
        )
        experiments[name] = dict(
            experiment,
            agent_names=agent_names(split.agents),
            task_names=task_names(split.tasks),
        )
    return experiments


VISION = vision_experiments()

# The LM track: members by name, tasks by name.
LM = config.get("lm")
LM_MEMBERS = {entry["name"]: entry for entry in LM["members"]} if LM else {}
LM_TASKS = LM["tasks"] if LM else {}


def lm_task_paths(task):
    """A task's train/dev/test files: from the config, or made by lm_demo_task for demo formats."""
    entry = LM_TASKS[task]
    if entry["format"] in DEMO_FORMATS:
        return {part: f"results/lm/tasks/{task}/{part}.conllx" for part in SPLITS}
    return {part: entry[part] for part in SPLITS}


def existing(paths):
    """Only the user's data files that exist: a dry run lists every job without the data, and a missing
    file is reported by the job that reads it, naming the file."""
    return {key: path for key, path in paths.items() if os.path.exists(path)}


def shared_datasets():
    """Task -> the dataset whose features it uses: tasks reading the same files (the paper's parent,
    grandparent and great-grandparent tasks all read the same trees) share one extraction.
    """
    first_with_files, dataset_of = {}, {}
    for task in LM_TASKS:
        files = tuple(lm_task_paths(task).values())
        dataset_of[task] = first_with_files.setdefault(files, task)
    return dataset_of


LM_DATASET_OF = shared_datasets()
LM_DATASETS = sorted(set(LM_DATASET_OF.values()))


def lm_task_inputs(task):
    paths = lm_task_paths(task)
    return paths if LM_TASKS[task]["format"] in DEMO_FORMATS else existing(paths)


def lm_task_files(wildcards):
    return lm_task_inputs(wildcards.task)


def lm_feature_inputs(wildcards):
    """The text a member embeds (probe text or task files) and, for a built member, its folder."""
    if wildcards.dataset == "probe":
        inputs = {"text": "results/lm/probe.txt"}
    else:
        inputs = lm_task_inputs(wildcards.dataset)
    if "build" in LM_MEMBERS[wildcards.member]:
        inputs["folder"] = f"results/lm/members/{wildcards.member}"
    return inputs


def lm_probes_mem_mb(wildcards, input):
    """Heads train in groups whose members' features fit FEATURE_SHARE of mem_mb: ask for enough that the
    widest head (at most the k_max largest feature files) fits on its own, and at least 8 GB.
    """
    sizes = sorted(map(os.path.getsize, input.features), reverse=True)
    widest_head = sum(sizes[: LM["selection"]["k_max"]])
    return max(8000, int(widest_head / FEATURE_SHARE / 2**20))


def lm_member_entry(name):
    """The member's entry as the loader takes it: a built member's source is the folder a rule makes."""
    entry = dict(LM_MEMBERS[name])
    if "build" in entry:
        entry["source"] = f"results/lm/members/{name}"
        entry.pop("build")
        entry.pop("seed", None)
    return entry


# A space is one zoo with its own kappa: results/<space>/kappa.npz, selection.tsv, figures.
SPACES = {
    **{f"given/{name}": entry["selection"] for name, entry in config["given"].items()},
    **{
        f"vision/{name}": experiment["selection"] for name, experiment in VISION.items()
    },
    **({"lm": LM["selection"]} if LM else {}),
}
# Spaces whose kappa comes from their members' probe features, with those members.
FEATURE_SPACES = {
    **{
        f"vision/{name}": experiment["agent_names"]
        for name, experiment in VISION.items()
    },
    **({"lm": list(LM_MEMBERS)} if LM else {}),
}


def pattern(names):
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def figure_paths(stem):
    """One path per configured figure format."""
    return [f"{stem}.{suffix}" for suffix in config["figure_formats"]]


def figure_outputs(stem, caption, category):
    """A figure's paths, the PNG (or the first format) shown in the Snakemake report with its caption."""
    paths = figure_paths(stem)
    shown = next((i for i, path in enumerate(paths) if path.endswith(".png")), 0)
    caption_file = f"../report/{caption}.rst"
    paths[shown] = report(paths[shown], caption=caption_file, category=category)
    return paths


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
    return [f"results/lm/features/{member}/probe.h5" for member in LM_MEMBERS]


def selection_inputs(wildcards):
    """A space's kappa and, for vision spaces, the peek ranking."""
    inputs = {"kappa": f"results/{wildcards.space}/kappa.npz"}
    if wildcards.space.startswith("vision/"):
        inputs["ranking"] = f"results/{wildcards.space}/peek.tsv"
    return inputs


def selection_baselines(wildcards):
    """Single-member baselines of a space (the LM track's `baselines`)."""
    return LM["baselines"] if wildcards.space == "lm" else []


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


def lm_targets():
    if not LM:
        return []
    paths = ["results/lm/metrics.tsv", "results/lm/table2.tsv", "results/lm/table2.md"]
    if LM["probe"]["convergence"]:
        paths += ["results/lm/convergence.tsv"] + figure_paths(
            "results/figures/lm/convergence"
        )
    for task in LM_TASKS:
        paths += figure_paths(f"results/figures/lm/task-{task}")
    return paths


def experiment_of(wildcards):
    return VISION[wildcards.experiment]


def agent_features(wildcards):
    return [
        f"results/vision/{wildcards.experiment}/features/{agent}.h5"
        for agent in VISION[wildcards.experiment]["agent_names"]
    ]


def evaluation_options(wildcards):
    return VISION[wildcards.experiment]["evaluation"]

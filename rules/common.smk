# Config validation, the plan (taskspace.plan: spaces, members, tasks, targets, resources) and the names all
# rule files share, thin functions that hand wildcards to the plan. Nothing here reads results or data,
# because every cluster job parses the Snakefile again.

import os
import re

import taskspace
from taskspace.config import SPLITS, validate_config
from taskspace.errors import TaskspaceError
from taskspace.kappa_plan import COMBINE_MEM_MB as KAPPA_COMBINE_MEM_MB
from taskspace.kappa_plan import member_mem_mb as kappa_member_mem
from taskspace.plan import PROTOCOLS, Plan

try:
    config.update(validate_config(config))
except TaskspaceError as error:
    raise WorkflowError(f"config: {error}") from None

PLAN = Plan.from_config(config)

# Expensive rules put this in params: so that a new version of the method reruns them.
VERSION = taskspace.__version__

# GPU rules ask the scheduler for a GPU only when the config says cuda (auto cannot be known at parse time).
GPU = PLAN.gpu

# Each vision experiment: its config section with agent_names and task_names (what the scripts get).
VISION = {name: experiment.entry() for name, experiment in PLAN.vision.items()}

# The LM track (None without it): members by name, tasks by name, the dataset each task's features come from.
LM = PLAN.lm
LM_MEMBERS = PLAN.lm_members
LM_TASKS = PLAN.lm_tasks
LM_DATASET_OF = PLAN.lm_dataset_of
LM_DATASETS = PLAN.lm_datasets

# A space is one zoo with its own kappa: results/<space>/kappa.npz, selection.tsv, figures.
SPACES = PLAN.spaces
# Spaces whose kappa comes from their members' probe features, with those members.
FEATURE_SPACES = PLAN.feature_spaces


def pattern(names):
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def figure_paths(stem):
    return PLAN.figure_paths(stem)


def figure_outputs(stem, caption, category):
    """A figure's paths, the PNG (or the first format) shown in the Snakemake report with its caption."""
    paths = figure_paths(stem)
    shown = next((i for i, path in enumerate(paths) if path.endswith(".png")), 0)
    caption_file = f"../report/{caption}.rst"
    paths[shown] = report(paths[shown], caption=caption_file, category=category)
    return paths


# --- targets ---------------------------------------------------------------------------------------------


def selection_tables():
    return PLAN.selection_tables()


def all_figures():
    return PLAN.figures()


def vision_targets():
    return PLAN.vision_targets()


def lm_targets():
    return PLAN.lm_targets()


# --- input functions and params --------------------------------------------------------------------------


def lm_task_paths(task):
    return PLAN.lm_task_paths(task)


def lm_task_files(wildcards):
    """A task's files; of the user's, only those that exist (the job that reads a missing one names it)."""
    return PLAN.lm_task_inputs(wildcards.task, exists=os.path.exists)


def lm_feature_inputs(wildcards):
    """lm_features and lm_pass: a pass reads what its first member would (its text or task files)."""
    member = getattr(wildcards, "member", None) or wildcards.pass_
    return PLAN.lm_feature_inputs(member, wildcards.dataset, exists=os.path.exists)


# The settings of every LM extraction job (lm_features, lm_pass) besides its members' entries.
LM_EXTRACTION = dict(
    format=lambda wildcards: LM_TASKS.get(wildcards.dataset, {}).get("format"),
    files=lambda wildcards: (
        lm_task_paths(wildcards.dataset) if wildcards.dataset in LM_TASKS else {}
    ),
    batch_tokens=LM["extraction"]["batch_tokens"] if LM else None,
    precision=LM["extraction"]["precision"] if LM else "auto",
    device=config["device"],
    version=VERSION,
)


def lm_probes_mem_mb(wildcards, input):
    return PLAN.lm_probes_mem_mb(map(os.path.getsize, input.features))


# kappa (rules/kappa.smk, taskspace.kappa_plan): a job per member of a feature space, and a combine per space.
KAPPA = PLAN.kappa


def kappa_member_feature(wildcards):
    """The rule input holding a member's probe features (the file, or a zoo pass folder)."""
    return PLAN.member_probe_feature(wildcards.space, wildcards.member)[0]


def kappa_member_file(wildcards):
    return PLAN.member_probe_feature(wildcards.space, wildcards.member)[1]


def kappa_member_mem_mb(wildcards, input):
    # FileNotFoundError while the input is not made: Snakemake asks again later.
    os.stat(input.features)
    path = kappa_member_file(wildcards)
    size = os.path.getsize(path) if os.path.exists(path) else 0
    return kappa_member_mem(size)


def kappa_inputs(wildcards):
    return KAPPA.inputs(wildcards.space)


def kappa_files(wildcards):
    return KAPPA.feature_files(wildcards.space)


def selection_inputs(wildcards):
    return PLAN.selection_inputs(wildcards.space)


def ranking_inputs(wildcards):
    return PLAN.ranking_inputs(wildcards.space, wildcards.task, exists=os.path.exists)


def ranking_params(wildcards):
    return PLAN.ranking_params(wildcards.space, wildcards.task)


def ranking_tables(wildcards):
    return [
        PLAN.ranking_table(wildcards.space, task)
        for task in PLAN.tasks(wildcards.space)
    ]


def given_inputs(wildcards):
    return PLAN.given_inputs(wildcards.name)


def experiment_of(wildcards):
    return VISION[wildcards.experiment]


def agent_features(wildcards):
    return PLAN.agent_features(wildcards.experiment)


def evaluation_options(wildcards):
    return VISION[wildcards.experiment]["evaluation"]


# --- zoo spaces (taskspace.zoo.plan) ----------------------------------------------------------------------


def zoo_pass_inputs(wildcards):
    """A pass job's data and weights; of the user's files only those that exist (the job names a missing one)."""
    return PLAN.zoo.pass_inputs(
        wildcards.zoo, wildcards.pass_, wildcards.dataset, exists=os.path.exists
    )


def zoo_pass_params(wildcards):
    return PLAN.zoo.pass_params(wildcards.zoo, wildcards.pass_, wildcards.dataset)


def zoo_task_inputs(wildcards):
    return PLAN.zoo.task_inputs(
        f"zoo/{wildcards.zoo}", wildcards.task, exists=os.path.exists
    )


def zoo_build_inputs(wildcards):
    return PLAN.zoo.build_inputs(wildcards.zoo, exists=os.path.exists)

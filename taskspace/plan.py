"""What the workflow will make, from the validated config alone: spaces, members, tasks, datasets, targets, resources.

rules/common.smk builds one ``Plan`` and its input functions delegate to it; benchmarks/paper_jobs.py builds the
same plan to count the jobs and size their memory, so the two cannot drift apart. A plan reads no results and no
data (every cluster job parses the Snakefile again) and imports no torch: where a rule needs the file system
(which of the user's files exist, how large feature files are), the caller passes that in.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

from .config import DEMO_FORMATS, PROBE_DATASET, SPLITS, load_config
from .kappa_plan import KappaPlan
from .resources import FEATURE_SHARE
from .vision.split import SplitConfig, agent_names, task_names
from .zoo.plan import ZooPlan

__all__ = ["PROTOCOLS", "Plan", "VisionExperiment"]

# Tracks in the order the `all` target lists them; a space that is neither is a given kappa (given/<name>).
TRACKS = ("vision", "lm")
# Every evaluation protocol (taskspace.heads.PROTOCOLS, the schema's `protocols` values), here without importing
# taskspace.heads, which brings pandas into every parse of the Snakefile.
PROTOCOLS = ("validated", "paper")
RUN_CONFIG = "results/config.yaml"
SUMMARY = "results/summary.md"
PROBE_TEXT = "results/lm/probe.txt"
# lm_probes asks for at least this much memory (MB), whatever its feature files.
LM_PROBES_MIN_MB = 8000


def _always(path: str) -> bool:
    return True


@dataclass(frozen=True)
class VisionExperiment:
    """One vision experiment: its validated config section and the agent and task names its split will have."""

    name: str
    settings: dict
    agents: tuple[str, ...]
    tasks: tuple[str, ...]

    @property
    def space(self) -> str:
        return f"vision/{self.name}"

    def entry(self) -> dict:
        """The experiment as the rules pass it to scripts: its config section with agent and task names."""
        return dict(self.settings, agent_names=list(self.agents), task_names=list(self.tasks))


@dataclass(frozen=True)
class Plan:
    """The workflow of one config. Build it with ``Plan.from_config``; treat every field as read-only."""

    config: dict
    vision: dict[str, VisionExperiment]  # experiment name -> experiment
    lm_members: dict[str, dict]  # member name -> config entry, in config order (kappa's row order)
    lm_dataset_of: dict[str, str]  # LM task -> the dataset whose features it reads
    zoo: ZooPlan  # the zoo spaces (zoo/<name>), planned by taskspace.zoo.plan

    @classmethod
    def from_config(cls, config: dict) -> Plan:
        """The plan of a config that ``taskspace.config.validate_config`` returned (defaults filled)."""
        config = copy.deepcopy(config)
        vision = {}
        for name, settings in config.get("vision", {}).get("experiments", {}).items():
            split = SplitConfig.from_mapping({"seed": config["seed"], **settings["split"]})
            vision[name] = VisionExperiment(
                name, settings, tuple(agent_names(split.agents)), tuple(task_names(split.tasks))
            )
        lm = config.get("lm")
        members = {entry["name"]: entry for entry in lm["members"]} if lm else {}
        # Tasks reading the same files (the paper's parent, grandparent and great-grandparent tasks all read
        # the same trees) share one extraction, named after the first of them.
        first_with_files, dataset_of = {}, {}
        for task in lm["tasks"] if lm else {}:
            files = tuple(_lm_task_paths(task, lm["tasks"][task]).values())
            dataset_of[task] = first_with_files.setdefault(files, task)
        return cls(config, vision, members, dataset_of, ZooPlan.from_config(config))

    @classmethod
    def from_file(cls, path) -> Plan:
        """The plan of a config file, validated (errors name the key)."""
        return cls.from_config(load_config(path))

    # --- tracks and spaces ------------------------------------------------------------------------------

    @property
    def lm(self) -> dict | None:
        """The validated `lm` section, or None without the LM track."""
        return self.config.get("lm")

    @property
    def tracks(self) -> tuple[str, ...]:
        return tuple(track for track in TRACKS if self.has(track))

    def has(self, track: str) -> bool:
        """Whether the config has this track (`vision` or `lm`)."""
        if track not in TRACKS:
            raise ValueError(f"unknown track {track!r} (tracks: {', '.join(TRACKS)})")
        return bool(self.vision) if track == "vision" else self.lm is not None

    @property
    def spaces(self) -> dict[str, dict]:
        """Every space (one zoo with its own kappa and selection table) -> its selection settings."""
        return {
            **{f"given/{name}": entry["selection"] for name, entry in self.config["given"].items()},
            **{experiment.space: experiment.settings["selection"] for experiment in self.vision.values()},
            **({"lm": self.lm["selection"]} if self.lm else {}),
            **self.zoo.spaces,
        }

    @property
    def feature_spaces(self) -> dict[str, list[str]]:
        """Spaces whose kappa comes from their members' probe features -> the members, in kappa's row order."""
        return {
            **{experiment.space: list(experiment.agents) for experiment in self.vision.values()},
            **({"lm": list(self.lm_members)} if self.lm else {}),
            **self.zoo.feature_spaces,
        }

    @staticmethod
    def track_of(space: str) -> str:
        """`given`, `vision`, `lm` or `zoo`: the part of the config a space comes from."""
        return space.split("/", 1)[0]

    def tasks(self, space: str) -> tuple[str, ...]:
        """The new tasks whose heads a space trains (none for a given kappa)."""
        track = self.track_of(space)
        if track == "vision":
            return self.vision[space.split("/", 1)[1]].tasks
        if track == "lm":
            return tuple(self.lm_tasks)
        return self.zoo.tasks(space) if track == "zoo" else ()

    def spaces_with_tasks(self) -> list[str]:
        return [space for space in self.spaces if self.tasks(space)]

    def protocols(self, space: str) -> tuple[str, ...]:
        """The evaluation protocols of a space's heads (`evaluation.protocols` of its config section); none for
        a given kappa, which trains no heads."""
        track = self.track_of(space)
        if track == "given":
            return ()
        if track == "zoo":
            return self.zoo.protocols(space)
        section = self.lm if track == "lm" else self.vision[space.split("/", 1)[1]].settings
        return tuple(section["evaluation"]["protocols"])

    @property
    def gpu(self) -> dict:
        """Resources of the rules that run torch on `device`: a GPU only when the config says cuda (what `auto`
        finds cannot be known when the DAG is built)."""
        return {"gpu": 1} if self.config["device"] == "cuda" else {}

    # --- the LM track -----------------------------------------------------------------------------------

    @property
    def lm_tasks(self) -> dict[str, dict]:
        """LM task -> its config entry (format and, for the user's data, the files)."""
        return self.lm["tasks"] if self.lm else {}

    @property
    def lm_datasets(self) -> list[str]:
        """The LM task datasets that get their own extraction (besides the probe text), in task order."""
        return list(dict.fromkeys(self.lm_dataset_of.values()))

    def lm_dataset_tasks(self, dataset: str) -> list[str]:
        """The tasks that read one dataset's features."""
        return [task for task, of in self.lm_dataset_of.items() if of == dataset]

    def lm_extractions(self) -> list[tuple[str, str]]:
        """Every (member, dataset) feature file: the probe text and every task dataset, for every member."""
        return [(member, dataset) for member in self.lm_members for dataset in (PROBE_DATASET, *self.lm_datasets)]

    def lm_task_paths(self, task: str) -> dict[str, str]:
        """A task's train/dev/test files: from the config, or made by lm_demo_task for demo formats."""
        return _lm_task_paths(task, self.lm_tasks[task])

    def lm_task_inputs(self, task: str, exists: Callable[[str], bool] = _always) -> dict[str, str]:
        """A task's files as a rule's input: of the user's files only those that ``exists`` (a dry run lists
        every job without the data; the job that reads a missing file names it); demo files always."""
        paths = self.lm_task_paths(task)
        if self.lm_tasks[task]["format"] in DEMO_FORMATS:
            return paths
        return {part: path for part, path in paths.items() if exists(path)}

    def lm_member_folder(self, name: str) -> str | None:
        """The folder lm_build_member makes for a built member; None for a checkpoint from elsewhere."""
        return f"results/lm/members/{name}" if "build" in self.lm_members[name] else None

    def lm_member_entry(self, name: str) -> dict:
        """The member's entry as the loader takes it: a built member's source is the folder a rule makes."""
        entry = dict(self.lm_members[name])
        if "build" in entry:
            entry["source"] = self.lm_member_folder(name)
            entry.pop("build")
            entry.pop("seed", None)
        return entry

    def lm_feature_file(self, member: str, dataset: str) -> str:
        return f"results/lm/features/{member}/{dataset}.h5"

    def lm_feature_inputs(self, member: str, dataset: str, exists: Callable[[str], bool] = _always) -> dict:
        """What lm_features reads: the probe text or a task's files and, for a built member, its folder."""
        if dataset == PROBE_DATASET:
            inputs = {"text": PROBE_TEXT}
        else:
            inputs = self.lm_task_inputs(dataset, exists)
        folder = self.lm_member_folder(member)
        if folder is not None:
            inputs["folder"] = folder
        return inputs

    @cached_property
    def lm_passes(self) -> dict[str, tuple[str, ...]]:
        """Pass (its first member's name) -> its members, in config order: members of one checkpoint at several
        layers or poolings share one load and one forward pass a batch (taskspace.members.group_passes)."""
        from .members.entries import group_passes

        passes = group_passes(self.lm_member_entry(name) for name in self.lm_members)
        return {name: tuple(entry["name"] for entry in group) for name, group in passes.items()}

    @property
    def lm_shared_passes(self) -> list[str]:
        """The passes of several members: one lm_pass job a dataset writes them all (the others: lm_features)."""
        return [name for name, members in self.lm_passes.items() if len(members) > 1]

    @property
    def lm_solo_members(self) -> list[str]:
        """Members alone in their pass: one lm_features job a dataset writes the member's feature file."""
        return [members[0] for members in self.lm_passes.values() if len(members) == 1]

    @property
    def lm_shared_members(self) -> list[str]:
        """Members that share their pass: lm_pass_member links their feature files from the pass's folder."""
        return [member for name in self.lm_shared_passes for member in self.lm_passes[name]]

    def lm_pass_of(self, member: str) -> str:
        return next(name for name, members in self.lm_passes.items() if member in members)

    def lm_pass_dir(self, pass_name: str, dataset: str) -> str:
        """The folder of a shared pass's feature files on one dataset, ``<member>.h5`` each; lm_pass_member links
        each into ``results/lm/features/<member>/<dataset>.h5``, where every member's file is."""
        return f"results/lm/passes/{pass_name}/{dataset}"

    def lm_pass_entries(self, pass_name: str) -> list[dict]:
        """The loader's entries of a pass's members (one, for a member alone)."""
        return [self.lm_member_entry(member) for member in self.lm_passes[pass_name]]

    def lm_task_features(self, task: str) -> list[str]:
        """The feature files a task's probes read: its dataset's, for every member."""
        return [self.lm_feature_file(member, self.lm_dataset_of[task]) for member in self.lm_members]

    def lm_probes_mem_mb(self, feature_sizes: Iterable[int]) -> int:
        """Heads train in groups whose members' features fit FEATURE_SHARE of mem_mb: ask for enough that the
        widest head (at most the k_max largest feature files, sizes in bytes) fits on its own, and at least 8 GB.
        """
        sizes = sorted(feature_sizes, reverse=True)
        widest_head = sum(sizes[: self.lm["selection"]["k_max"]])
        return max(LM_PROBES_MIN_MB, int(widest_head / FEATURE_SHARE / 2**20))

    # --- inputs of the shared rules ---------------------------------------------------------------------

    def probe_features(self, space: str) -> list[str]:
        """Feature files of a feature space's members, in kappa's row order."""
        if self.track_of(space) == "vision":
            return self.agent_features(space.split("/", 1)[1])
        if self.track_of(space) == "zoo":
            return self.zoo.probe_features(space)
        return [self.lm_feature_file(member, PROBE_DATASET) for member in self.feature_spaces[space]]

    def member_probe_feature(self, space: str, member: str) -> tuple[str, str]:
        """What kappa reads of one member: (the input to ask for, the feature file in it); a zoo member's file
        lies in the folder of its pass."""
        track = self.track_of(space)
        if track == "zoo":
            return self.zoo.member_probe_feature(space, member)
        # Without listing the space's files: every member job asks (thousands of members at parse time).
        if track == "vision" and member in self.vision[space.split("/", 1)[1]].agents:
            path = f"results/vision/{space.split('/', 1)[1]}/features/{member}.h5"
        elif space == "lm" and member in self.lm_members:
            path = self.lm_feature_file(member, PROBE_DATASET)
        else:
            raise KeyError(f"{member!r} is not a member of feature space {space!r}")
        return path, path

    @property
    def kappa(self) -> KappaPlan:
        """kappa's jobs: one per member of every feature space and a combine per space (taskspace.kappa_plan)."""
        return KappaPlan(self)

    def agent_features(self, experiment: str) -> list[str]:
        return [f"results/vision/{experiment}/features/{agent}.h5" for agent in self.vision[experiment].agents]

    def selection_inputs(self, space: str) -> dict[str, str]:
        """A space's kappa and, for vision spaces, the peek ranking."""
        inputs = {"kappa": f"results/{space}/kappa.npz"}
        if self.track_of(space) == "vision":
            inputs["ranking"] = f"results/{space}/peek.tsv"
        return inputs

    def baselines(self, space: str) -> list[str]:
        """Single members that Table 2 and Fig. 3 show beside the picks (the LM track's `baselines`)."""
        return self.lm["baselines"] if space == "lm" else []

    # --- rankers: one ranking table per task, judged per space ------------------------------------------

    def ranking_table(self, space: str, task: str) -> str:
        return f"results/{space}/ranking/{task}.tsv"

    def ranking_inputs(self, space: str, task: str, exists: Callable[[str], bool] = _always) -> dict:
        """What a task's ranking job reads: its members' features of the task, the space's kappa (for the
        label-free MMI order) and, for vision, the split that says which images the task has."""
        if self.track_of(space) == "zoo":
            return self.zoo.ranking_inputs(space, task, exists)
        inputs = {"kappa": f"results/{space}/kappa.npz"}
        if self.track_of(space) == "vision":
            experiment = space.split("/", 1)[1]
            return {
                **inputs,
                "features": self.agent_features(experiment),
                "split": f"results/vision/{experiment}/split.json",
            }
        return {**inputs, "features": self.lm_task_features(task)}

    def ranking_params(self, space: str, task: str) -> dict:
        """The ranking job's settings: the track, the rankers, MMI's hub_first and,
        for an LM task, its format and files."""
        track = self.track_of(space)
        if track == "zoo":
            return self.zoo.ranking_params(space, task)
        section = self.lm if track == "lm" else self.vision[space.split("/", 1)[1]].settings
        params = dict(
            track=track, rankers=list(section["evaluation"]["rankers"]), hub_first=section["selection"]["hub_first"]
        )
        if track == "lm":
            params.update(format=self.lm_tasks[task]["format"], files=self.lm_task_paths(task))
        return params

    def ranker_targets(self, space: str) -> list[str]:
        """A space's transferability table and, per protocol, its rankers' figures (empty without tasks)."""
        if not self.tasks(space):
            return []
        paths = [f"results/{space}/transferability.tsv"]
        for protocol in self.protocols(space):
            for figure in ("transferability", "rankers"):
                paths += self.figure_paths(f"results/figures/{space}/{figure}-{protocol}")
        return paths

    def summary_inputs(self) -> dict[str, list[str]]:
        """What the run's summary reads: every vision experiment's and the LM track's metrics table, every
        space's transferability table (lists, so that a config without a track has none) and the run's config
        file, whose machine block (taskspace.provenance.machine) its first line names."""
        return {
            "config": [RUN_CONFIG],
            "vision": [f"results/vision/{name}/metrics.tsv" for name in self.vision],
            "lm": ["results/lm/metrics.tsv"] if self.tasks("lm") else [],
            "rankers": [f"results/{space}/transferability.tsv" for space in self.spaces_with_tasks()],
            # zoo spaces: the metrics of those with tasks, the picks of those without
            "zoo": [self.zoo.metrics_table(space) for space in self.zoo.spaces if self.tasks(space)],
            "zoo_picks": [f"results/{space}/selection.tsv" for space in self.zoo.spaces if not self.tasks(space)],
        }

    def given_inputs(self, name: str) -> dict[str, str]:
        """The user's kappa and, when the config names one, its member names file."""
        entry = self.config["given"][name]
        return {"kappa": entry["kappa"], **({"members": entry["members"]} if "members" in entry else {})}

    # --- targets ----------------------------------------------------------------------------------------

    def figure_paths(self, stem: str) -> list[str]:
        """One path per configured figure format."""
        return [f"{stem}.{suffix}" for suffix in self.config["figure_formats"]]

    def selection_tables(self) -> list[str]:
        return [f"results/{space}/selection.tsv" for space in self.spaces]

    def figures(self) -> list[str]:
        """The figures every space has (the `figures` target)."""
        paths = []
        for space in self.spaces:
            for figure in ("mi-gain", "kappa-dendrogram"):
                paths += self.figure_paths(f"results/figures/{space}/{figure}")
        return paths

    def vision_targets(self) -> list[str]:
        paths = []
        for name, experiment in self.vision.items():
            paths += [f"results/vision/{name}/metrics.tsv", f"results/vision/{name}/agents.tsv"]
            for protocol in self.protocols(experiment.space):
                for figure in ("accuracy", "gain"):
                    paths += self.figure_paths(f"results/figures/vision/{name}/{figure}-{protocol}")
            paths += self.ranker_targets(experiment.space)
        return paths

    def lm_targets(self) -> list[str]:
        if not self.lm:
            return []
        # metrics, Table 2 and the task figures need tasks; kappa, picks and the space's figures do not
        paths = ["results/lm/metrics.tsv", "results/lm/table2.tsv", "results/lm/table2.md"] if self.lm_tasks else []
        if self.lm["probe"]["convergence"]:
            paths += ["results/lm/convergence.tsv", *self.figure_paths("results/figures/lm/convergence")]
        for task in self.lm_tasks:
            for protocol in self.protocols("lm"):
                paths += self.figure_paths(f"results/figures/lm/task-{task}-{protocol}")
        return paths + self.ranker_targets("lm")

    def track_targets(self, track: str) -> list[str]:
        """Everything a track makes (its named target); empty without the track."""
        return {"vision": self.vision_targets, "lm": self.lm_targets}[track]()

    def targets(self) -> dict[str, list[str]]:
        """Named target -> its files: all, selections, figures and one per track of the config."""
        named = {
            "selections": self.selection_tables(),
            "figures": self.figures(),
            **{track: self.track_targets(track) for track in self.tracks},
            **({"zoos": self.zoo.targets(self.figure_paths, self.ranker_targets)} if self.zoo.zoos else {}),
        }
        summary = [SUMMARY] if self.spaces_with_tasks() or self.zoo.zoos else []
        # dict.fromkeys: the zoos target lists its spaces' picks and figures again (a file once in `all`)
        return {"all": [RUN_CONFIG, *summary, *dict.fromkeys(itertools.chain.from_iterable(named.values()))], **named}


def _lm_task_paths(task: str, entry: dict) -> dict[str, str]:
    if entry["format"] in DEMO_FORMATS:
        return {part: f"results/lm/tasks/{task}/{part}.conllx" for part in SPLITS}
    return {part: entry[part] for part in SPLITS}

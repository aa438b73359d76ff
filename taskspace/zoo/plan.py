"""The zoo part of the plan (taskspace.plan delegates here): spaces zoo/<name>, passes, datasets, files, targets.

A zoo's datasets are ``probe`` and each task. Members whose entries are equal but for ``name``, ``layer`` and
``pooling`` form one *pass* (one checkpoint loaded once, one forward pass a batch for all of them), named after
its first member; the pass job of one dataset writes ``results/zoo/<zoo>/features/<pass>/<dataset>/<member>.h5``
for each of its members. Torch-free and reads nothing: where a rule needs the file system, the caller passes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PROBE = "probe"
ROOT = "results/zoo"
# Data that a rule writes (rule zoo_demo_data, taskspace.zoo.demo): results/zoo/data/<demo>/...
DEMO_DATA = f"{ROOT}/data"
# Weights that a rule writes (rule zoo_seeded_weights): results/zoo/seeded/<stem>-seed<N>.safetensors, a builder's
# module with seeded random weights (demos and tests: a weights file without a download).
SEEDED = f"{ROOT}/seeded"
TASK_FILE_KEYS = ("root", "train", "dev", "test")


def _always(path: str) -> bool:
    return True


def group_passes(entries: list[dict]) -> dict[str, list[dict]]:
    """Pass name (its first member's) -> its members' entries, in config order (taskspace.members.entries)."""
    from ..members.entries import group_passes as members_group_passes

    return {name: list(group) for name, group in members_group_passes(entries).items()}


def demo_of(path: str) -> str | None:
    """The demo data set a path lies in (results/zoo/data/<demo>/...), or None for the user's own file."""
    if not path.startswith(DEMO_DATA + "/"):
        return None
    return path[len(DEMO_DATA) + 1 :].split("/", 1)[0]


@dataclass(frozen=True)
class Zoo:
    """One zoo space: its validated config section, members, passes and tasks."""

    name: str
    settings: dict
    passes: dict[str, tuple[str, ...]]  # pass -> its members' names

    @property
    def space(self) -> str:
        return f"zoo/{self.name}"

    @property
    def input(self) -> str:
        return self.settings["input"]

    @property
    def entries(self) -> dict[str, dict]:
        return {entry["name"]: entry for entry in self.settings["members"]}

    @property
    def members(self) -> list[str]:
        """Member names in config order (kappa's row order)."""
        return [entry["name"] for entry in self.settings["members"]]

    @property
    def tasks(self) -> dict[str, dict]:
        return self.settings["tasks"]

    @property
    def datasets(self) -> list[str]:
        return [PROBE, *self.tasks]

    def pass_of(self, member: str) -> str:
        return next(name for name, members in self.passes.items() if member in members)


@dataclass(frozen=True)
class ZooPlan:
    """Every zoo space of a config."""

    zoos: dict[str, Zoo]

    @classmethod
    def from_config(cls, config: dict) -> ZooPlan:
        zoos = {}
        for name, settings in config.get("zoos", {}).items():
            passes = group_passes(settings["members"])
            zoos[name] = Zoo(name, settings, {p: tuple(e["name"] for e in group) for p, group in passes.items()})
        return cls(zoos)

    # --- spaces -------------------------------------------------------------------------------------------

    @staticmethod
    def zoo_name(space: str) -> str:
        return space.split("/", 1)[1]

    def zoo(self, space_or_name: str) -> Zoo:
        name = self.zoo_name(space_or_name) if space_or_name.startswith("zoo/") else space_or_name
        return self.zoos[name]

    @property
    def spaces(self) -> dict[str, dict]:
        """Space -> its selection settings."""
        return {zoo.space: zoo.settings["selection"] for zoo in self.zoos.values()}

    @property
    def feature_spaces(self) -> dict[str, list[str]]:
        return {zoo.space: zoo.members for zoo in self.zoos.values()}

    def tasks(self, space: str) -> tuple[str, ...]:
        return tuple(self.zoo(space).tasks)

    def protocols(self, space: str) -> tuple[str, ...]:
        return tuple(self.zoo(space).settings["evaluation"]["protocols"])

    # --- names for the wildcards -------------------------------------------------------------------------

    @property
    def passes(self) -> list[str]:
        return list(dict.fromkeys(p for zoo in self.zoos.values() for p in zoo.passes))

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(d for zoo in self.zoos.values() for d in zoo.datasets))

    @property
    def task_names(self) -> list[str]:
        return list(dict.fromkeys(t for zoo in self.zoos.values() for t in zoo.tasks))

    @property
    def member_names(self) -> list[str]:
        return list(dict.fromkeys(m for zoo in self.zoos.values() for m in zoo.members))

    def demos(self) -> list[str]:
        """The demo data sets some zoo reads (rule zoo_demo_data writes each)."""
        return list(dict.fromkeys(d for zoo in self.zoos.values() for d in map(demo_of, _data_paths(zoo)) if d))

    # --- feature files -----------------------------------------------------------------------------------

    def pass_dir(self, zoo: str, pass_name: str, dataset: str) -> str:
        return f"{ROOT}/{zoo}/features/{pass_name}/{dataset}"

    def member_feature(self, space_or_zoo: str, member: str, dataset: str) -> tuple[str, str]:
        """(the pass job's output folder, the member's feature file in it) for one dataset."""
        zoo = self.zoo(space_or_zoo)
        folder = self.pass_dir(zoo.name, zoo.pass_of(member), dataset)
        return folder, f"{folder}/{member}.h5"

    def member_probe_feature(self, space: str, member: str) -> tuple[str, str]:
        """What kappa reads of one member: (the input to ask for, the feature file inside it)."""
        return self.member_feature(space, member, PROBE)

    def feature_dirs(self, space_or_zoo: str, dataset: str) -> list[str]:
        """The pass folders holding every member's features of one dataset (a rule's input)."""
        zoo = self.zoo(space_or_zoo)
        return [self.pass_dir(zoo.name, p, dataset) for p in zoo.passes]

    def feature_files(self, space_or_zoo: str, dataset: str) -> list[str]:
        """Every member's feature file of one dataset, in kappa's row order."""
        zoo = self.zoo(space_or_zoo)
        return [self.member_feature(zoo.name, m, dataset)[1] for m in zoo.members]

    def probe_features(self, space: str) -> list[str]:
        return self.feature_files(space, PROBE)

    # --- the pass job ------------------------------------------------------------------------------------

    def pass_entries(self, zoo: str, pass_name: str) -> list[dict]:
        z = self.zoos[zoo]
        return [dict(z.entries[m]) for m in z.passes[pass_name]]

    def dataset_entry(self, zoo: str, dataset: str) -> dict:
        """The probe section or the task entry of a dataset (what taskspace.zoo.data reads)."""
        z = self.zoos[zoo]
        return dict(z.settings["probe"]) if dataset == PROBE else dict(z.tasks[dataset])

    def pass_inputs(self, zoo: str, pass_name: str, dataset: str, exists: Callable[[str], bool] = _always) -> dict:
        """What one pass job reads: the dataset's files and the members' weights, feature folders or built entry.
        Of the user's files only those that ``exists`` (a dry run lists every job without the data; the job
        that reads a missing one names it); what rules make always (demo data, seeded weights, built members)."""
        entry = self.dataset_entry(zoo, dataset)
        keys = ("images", "text") if dataset == PROBE else TASK_FILE_KEYS
        inputs = _inputs({f"data_{key}": entry[key] for key in keys if key in entry}, exists)
        first = self.pass_entries(zoo, pass_name)[0]
        files = {
            key: first[key]
            for key in ("weights", "features")
            if not str(first.get(key, "package:")).startswith("package:")
        }
        inputs.update(_inputs(files, exists))
        if "build" in first:
            inputs["built"] = self.built_entry(zoo, pass_name)
        return inputs

    def built_entry(self, zoo: str, pass_name: str) -> str:
        """The entry a built pass reads, written beside its folder by rule zoo_build_member."""
        return f"{ROOT}/{zoo}/members/{pass_name}.json"

    def build_inputs(self, zoo: str, exists: Callable[[str], bool] = _always) -> dict:
        """A tiny text family trains its tokenizer on the zoo's probe text."""
        probe = self.zoos[zoo].settings["probe"]
        return _inputs({f"data_{key}": probe[key] for key in ("images", "text") if key in probe}, exists)

    def pass_params(self, zoo: str, pass_name: str, dataset: str) -> dict:
        """What the pass job needs besides its inputs: the members' entries, the dataset, extraction settings."""
        z = self.zoos[zoo]
        return dict(
            zoo=zoo,
            input=z.input,
            entries=self.pass_entries(zoo, pass_name),
            built=self.built_entry(zoo, pass_name) if "build" in z.entries[z.passes[pass_name][0]] else None,
            dataset=dataset,
            data=self.dataset_entry(zoo, dataset),
            extraction=dict(z.settings["extraction"]),
        )

    def seeded_weights(self) -> dict[str, dict]:
        """Seeded weights file -> the builder entry that makes it (rule zoo_seeded_weights)."""
        made = {}
        for zoo in self.zoos.values():
            for entry in zoo.settings["members"]:
                weights = entry.get("weights", "")
                if weights.startswith(SEEDED + "/"):
                    made.setdefault(weights, {"builder": entry["builder"], "kwargs": entry.get("kwargs", {})})
        return made

    # --- tasks: ranking and heads ------------------------------------------------------------------------

    def task_inputs(self, space: str, task: str, exists: Callable[[str], bool] = _always) -> dict:
        """The task's files (as the pass jobs read them) and every member's task features."""
        zoo = self.zoo(space)
        entry = self.dataset_entry(zoo.name, task)
        files = {key: entry[key] for key in TASK_FILE_KEYS if key in entry}
        data = _inputs({f"data_{key}": path for key, path in files.items()}, exists)
        return {**data, "features": self.feature_dirs(zoo.name, task)}

    def ranking_inputs(self, space: str, task: str, exists: Callable[[str], bool] = _always) -> dict:
        return {"kappa": f"results/{space}/kappa.npz", **self.task_inputs(space, task, exists)}

    def task_params(self, space: str, task: str) -> dict:
        """What a zoo task job needs besides its inputs: the zoo's input, the task entry, member names and
        their feature files (inside the pass folders), the validation and head settings."""
        zoo = self.zoo(space)
        return dict(
            track="zoo",
            zoo=zoo.name,
            input=zoo.input,
            task=self.dataset_entry(zoo.name, task),
            members=zoo.members,
            files=self.feature_files(zoo.name, task),
            evaluation=zoo.settings["evaluation"],
        )

    def ranking_params(self, space: str, task: str) -> dict:
        zoo = self.zoo(space)
        return dict(
            self.task_params(space, task),
            rankers=list(zoo.settings["evaluation"]["rankers"]),
            hub_first=zoo.settings["selection"]["hub_first"],
        )

    def metrics_table(self, space: str) -> str:
        return f"{ROOT}/{self.zoo_name(space)}/metrics.tsv"

    def task_metrics(self, zoo: str) -> list[str]:
        return [f"{ROOT}/{zoo}/tasks/{task}.tsv" for task in self.zoos[zoo].tasks]

    # --- targets -----------------------------------------------------------------------------------------

    def targets(self, figure_paths: Callable[[str], list[str]], ranker_targets: Callable[[str], list[str]]):
        """Everything the zoo spaces make beyond kappa, picks and the per-space figures (the `zoos` target)."""
        paths = []
        for zoo in self.zoos.values():
            paths += [f"results/{zoo.space}/selection.tsv"]
            for figure in ("mi-gain", "kappa-dendrogram"):
                paths += figure_paths(f"results/figures/{zoo.space}/{figure}")
            if not zoo.tasks:
                continue
            paths.append(self.metrics_table(zoo.space))
            for protocol in self.protocols(zoo.space):
                for figure in ("accuracy", "gain"):
                    paths += figure_paths(f"results/figures/{zoo.space}/{figure}-{protocol}")
            paths += ranker_targets(zoo.space)
        return paths


def _inputs(paths: dict[str, str], exists: Callable[[str], bool]) -> dict[str, str]:
    """Input name -> path for a rule: what a rule makes (its output), else the user's file when it exists."""
    return {name: _made_by_rule(path) or path for name, path in paths.items() if _made_by_rule(path) or exists(path)}


def _made_by_rule(path: str) -> str | None:
    """The output of the rule that makes ``path`` (demo data folder, seeded weights), or None."""
    demo = demo_of(path)
    if demo is not None:
        return f"{DEMO_DATA}/{demo}"
    if path.startswith(SEEDED + "/"):
        return path
    return None


def _data_paths(zoo: Zoo) -> list[str]:
    paths = [zoo.settings["probe"][k] for k in ("images", "text") if k in zoo.settings["probe"]]
    for entry in zoo.tasks.values():
        paths += [entry[k] for k in TASK_FILE_KEYS if k in entry]
    return paths

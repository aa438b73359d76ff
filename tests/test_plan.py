"""taskspace.plan without Snakemake: spaces, members, datasets, targets and resources of the demo, the paper
configs and configs with one part only; one dry run of the demo checks that the workflow asks for the same."""

import re
import subprocess
import sys
from collections import Counter

import pytest
import yaml
from conftest import REPO, prepare_workdir, snakemake

from taskspace.config import load_config, validate_config
from taskspace.plan import PROTOCOLS, RUN_CONFIG, Plan

DEMO = REPO / "config.yaml"


def demo_with(*parts):
    """The demo config with only these of its parts (given, vision, lm, zoos)."""
    config = yaml.safe_load(DEMO.read_text())
    for part in ("given", "vision", "lm", "zoos"):
        if part not in parts:
            config.pop(part)
    return Plan.from_config(validate_config(config))


@pytest.fixture(scope="module")
def demo():
    return Plan.from_file(DEMO)


@pytest.fixture(scope="module")
def paper_lm():
    return Plan.from_file(REPO / "configs" / "paper-lm.yaml")


@pytest.fixture(scope="module")
def paper_vision():
    return Plan.from_file(REPO / "configs" / "paper-vision.yaml")


def test_the_plan_imports_no_torch():
    code = "import sys, taskspace.plan; sys.exit('torch' in sys.modules or 'pandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_plans_protocols_are_the_heads_and_the_schemas():
    from taskspace.config import load_schema
    from taskspace.heads import PROTOCOLS as HEADS_PROTOCOLS

    assert PROTOCOLS == HEADS_PROTOCOLS == tuple(load_schema()["$defs"]["protocols"]["items"]["enum"])


def test_demo_spaces_members_and_tasks(demo):
    assert demo.tracks == ("vision", "lm")
    assert list(demo.spaces) == ["given/paper-lm", "vision/digits", "lm", "zoo/digits", "zoo/polarity"]
    assert demo.spaces["given/paper-lm"] == {"k_max": 8, "hub_first": False, "random_rounds": 20}
    agents = [f"agent{i:03d}" for i in range(25)]
    lm_members = [
        "minilm-l2",
        "minilm-l4",
        "minilm-l6",
        "minilm-l6-first",
        "tiny-gpt2",
        "tiny-roberta",
        "tiny-t5",
        "tiny-bert",
    ]
    zoos = {space: demo.zoo.zoos[space[4:]].members for space in ("zoo/digits", "zoo/polarity")}
    assert demo.feature_spaces == {"vision/digits": agents, "lm": lm_members, **zoos}
    assert demo.tasks("vision/digits") == tuple(f"task{i:02d}" for i in range(10))
    assert demo.tasks("lm") == ("bigram-shift", "word-replacement")
    assert demo.tasks("given/paper-lm") == ()
    assert demo.spaces_with_tasks() == ["vision/digits", "lm", "zoo/digits", "zoo/polarity"]
    assert demo.protocols("given/paper-lm") == ()
    assert demo.protocols("lm") == demo.protocols("vision/digits") == ("validated", "paper")
    assert demo.gpu == {}  # device: auto cannot ask for a GPU
    config = yaml.safe_load(DEMO.read_text())
    assert Plan.from_config(validate_config({**config, "device": "cpu"})).gpu == {}
    assert Plan.from_config(validate_config({**config, "device": "cuda"})).gpu == {"gpu": 1}


def test_demo_lm_files_entries_and_inputs(demo):
    assert demo.lm_datasets == ["bigram-shift", "word-replacement"]
    assert demo.lm_task_paths("bigram-shift") == {
        part: f"results/lm/tasks/bigram-shift/{part}.conllx" for part in ("train", "dev", "test")
    }
    # demo task files are made by a rule: inputs whatever exists now
    assert demo.lm_task_inputs("bigram-shift", exists=lambda path: False) == demo.lm_task_paths("bigram-shift")
    built = {key: value for key, value in demo.lm_members["tiny-gpt2"].items() if key not in ("build", "seed")}
    assert demo.lm_member_entry("tiny-gpt2") == built | {"source": "results/lm/members/tiny-gpt2"}
    assert "build" in demo.lm_members["tiny-gpt2"]  # the entry is a copy
    assert demo.lm_member_entry("minilm-l2") == demo.lm_members["minilm-l2"]
    assert demo.lm_feature_inputs("tiny-gpt2", "probe") == {
        "text": "results/lm/probe.txt",
        "folder": "results/lm/members/tiny-gpt2",
    }
    assert demo.lm_feature_inputs("minilm-l2", "word-replacement") == demo.lm_task_paths("word-replacement")
    assert demo.lm_task_features("bigram-shift")[0] == "results/lm/features/minilm-l2/bigram-shift.h5"
    assert demo.probe_features("lm")[-1] == "results/lm/features/tiny-bert/probe.h5"
    assert demo.probe_features("vision/digits")[0] == "results/vision/digits/features/agent000.h5"
    assert demo.selection_inputs("vision/digits") == {
        "kappa": "results/vision/digits/kappa.npz",
        "ranking": "results/vision/digits/peek.tsv",
    }
    assert demo.selection_inputs("lm") == {"kappa": "results/lm/kappa.npz"}
    assert demo.baselines("lm") == ["minilm-l6"] and demo.baselines("vision/digits") == []
    assert demo.given_inputs("paper-lm") == {
        "kappa": "resources/paper-lm-kappa/kappa.npy",
        "members": "resources/paper-lm-kappa/members.txt",
    }


def test_demo_targets(demo):
    targets = demo.targets()
    assert list(targets) == ["all", "selections", "figures", "vision", "lm", "zoos"]
    assert targets["all"][:2] == [RUN_CONFIG, "results/summary.md"]
    named = targets["selections"] + targets["figures"] + targets["vision"] + targets["lm"] + targets["zoos"]
    assert targets["all"][2:] == list(dict.fromkeys(named))  # the zoos target repeats its spaces' picks, figures
    for space in ("vision/digits", "lm"):  # every space with tasks: its rankers judged, their figures per protocol
        assert f"results/{space}/transferability.tsv" in targets["all"]
        for protocol in ("validated", "paper"):
            assert f"results/figures/{space}/transferability-{protocol}.png" in targets["all"]
            assert f"results/figures/{space}/rankers-{protocol}.pdf" in targets["all"]
    assert targets["selections"] == [
        f"results/{space}/selection.tsv"
        for space in ("given/paper-lm", "vision/digits", "lm", "zoo/digits", "zoo/polarity")
    ]
    assert len(targets["figures"]) == 5 * 2 * 2  # spaces x (mi-gain, dendrogram) x (pdf, png)
    assert targets["vision"][:2] == ["results/vision/digits/metrics.tsv", "results/vision/digits/agents.tsv"]
    assert "results/figures/vision/digits/gain-paper.png" in targets["vision"]
    assert "results/figures/vision/digits/accuracy-validated.pdf" in targets["vision"]
    assert targets["lm"][:4] == [
        "results/lm/metrics.tsv",
        "results/lm/table2.tsv",
        "results/lm/table2.md",
        "results/lm/convergence.tsv",
    ]
    assert "results/figures/lm/task-word-replacement-paper.pdf" in targets["lm"]
    # config, summary, 5 selection tables, 20 space figures; vision: 3 tables + 4 kinds x 2 protocols x 2 formats;
    # lm: 4 tables + convergence figure + 2 tasks x 2 protocols x 2 formats + transferability + 2 kinds x 2 x 2;
    # per zoo: metrics, transferability, 4 kinds x 1 protocol x 2 formats
    assert len(set(targets["all"])) == len(targets["all"]) == 1 + 1 + 5 + 20 + (3 + 16) + (4 + 2 + 8 + 1 + 8) + 2 * 10


def test_vision_entry_is_what_the_scripts_get(demo):
    experiment = demo.vision["digits"]
    entry = experiment.entry()
    assert experiment.space == "vision/digits"
    assert entry["agent_names"] == list(experiment.agents) and entry["task_names"] == list(experiment.tasks)
    assert {key: value for key, value in entry.items() if not key.endswith("_names")} == experiment.settings
    assert list(entry)[-2:] == ["agent_names", "task_names"]


def test_members_of_one_checkpoint_share_a_pass(demo, paper_lm):
    minilm = ("minilm-l2", "minilm-l4", "minilm-l6", "minilm-l6-first")  # MiniLM at three layers, two poolings
    built = ("tiny-gpt2", "tiny-roberta", "tiny-t5", "tiny-bert")  # each its own folder, so its own pass
    assert demo.lm_passes == {"minilm-l2": minilm, **{name: (name,) for name in built}}
    assert demo.lm_shared_passes == ["minilm-l2"] and demo.lm_shared_members == list(minilm)
    assert demo.lm_solo_members == list(built) and demo.lm_pass_of("minilm-l6") == "minilm-l2"
    assert [entry["name"] for entry in demo.lm_pass_entries("minilm-l2")] == list(minilm)
    assert demo.lm_pass_entries("tiny-t5") == [demo.lm_member_entry("tiny-t5")]
    assert demo.lm_pass_dir("minilm-l2", "probe") == "results/lm/passes/minilm-l2/probe"
    # the paper's 34 checkpoints: a pass each, so its jobs and paths are the per-member ones
    assert paper_lm.lm_shared_passes == [] and paper_lm.lm_solo_members == list(paper_lm.lm_members)


def test_paper_lm_shares_extractions(paper_lm):
    assert paper_lm.tracks == ("lm",) and list(paper_lm.spaces) == ["lm"]
    assert len(paper_lm.lm_members) == 34
    ancestors = ("parent", "grandparent", "great-grandparent")
    assert all(paper_lm.lm_dataset_of[task] == "parent" for task in ancestors)
    assert paper_lm.lm_dataset_tasks("parent") == list(ancestors)
    assert paper_lm.lm_datasets == ["chunking", "ner", "pos", "semtag", "ef", "parent"]
    extractions = paper_lm.lm_extractions()
    assert len(extractions) == len(set(extractions)) == 238 == 34 * 7
    assert {dataset for _, dataset in extractions} == {"probe", *paper_lm.lm_datasets}
    assert paper_lm.lm_task_features("great-grandparent") == paper_lm.lm_task_features("parent")
    # the user's files are inputs only where they exist (a dry run has none)
    assert paper_lm.lm_task_inputs("pos", exists=lambda path: False) == {}
    assert paper_lm.lm_task_inputs("pos") == {part: f"data/lm/pos/{part}.conllx" for part in ("train", "dev", "test")}
    assert paper_lm.lm_member_entry("gpt") == paper_lm.lm_members["gpt"]
    assert paper_lm.gpu == {"gpu": 1}
    assert paper_lm.baselines("lm") == ["bert-base-uncased", "bert-large-cased"]
    assert paper_lm.lm_targets()[3:5] == ["results/lm/convergence.tsv", "results/figures/lm/convergence.pdf"]
    assert len([path for path in paper_lm.lm_targets() if "/task-" in path]) == 8 * 2 * 2


def test_lm_probes_memory_request(paper_lm, demo):
    gib = 2**30
    # k_max = 5: the five largest files, over FEATURE_SHARE (0.35) of the request
    assert paper_lm.lm_probes_mem_mb([gib] * 3 + [2 * gib] * 5 + [10]) == int(10 * 1024 / 0.35)
    assert paper_lm.lm_probes_mem_mb(iter([gib, 3 * gib])) == int(4 * 1024 / 0.35)
    assert demo.lm_probes_mem_mb([2**20] * 8) == 8000  # at least 8 GB
    assert demo.lm_probes_mem_mb([]) == 8000


def test_paper_vision_experiments(paper_vision):
    assert list(paper_vision.vision) == ["c30", "c10", "c50", "c80"]
    assert list(paper_vision.spaces) == [f"vision/{name}" for name in ("c30", "c10", "c50", "c80")]
    assert sum(len(experiment.agents) for experiment in paper_vision.vision.values()) == 400
    assert all(len(experiment.tasks) == 20 for experiment in paper_vision.vision.values())
    assert paper_vision.vision["c10"].agents[-1] == "agent099" and paper_vision.tasks("vision/c80")[-1] == "task19"
    assert paper_vision.feature_spaces["vision/c50"] == list(paper_vision.vision["c50"].agents)
    assert paper_vision.vision["c10"].settings["split"]["agent_classes"] == 10
    assert paper_vision.tracks == ("vision",) and paper_vision.lm is None and paper_vision.lm_targets() == []
    # per experiment: metrics, agents, transferability tables; 4 figures x 2 protocols x 2 formats
    assert len(paper_vision.targets()["vision"]) == 4 * (3 + 4 * 2 * 2)
    assert paper_vision.gpu == {"gpu": 1}


def test_a_config_with_one_part():
    given = demo_with("given")
    assert given.tracks == () and list(given.spaces) == ["given/paper-lm"] and given.feature_spaces == {}
    assert list(given.targets()) == ["all", "selections", "figures"]
    assert given.targets()["all"] == [
        RUN_CONFIG,
        "results/given/paper-lm/selection.tsv",
        *given.figure_paths("results/figures/given/paper-lm/mi-gain"),
        *given.figure_paths("results/figures/given/paper-lm/kappa-dendrogram"),
    ]
    assert given.track_targets("vision") == given.track_targets("lm") == []
    assert not given.has("vision") and not given.has("lm") and given.lm_members == {} and given.lm_tasks == {}
    vision = demo_with("vision")
    assert vision.tracks == ("vision",) and list(vision.spaces) == ["vision/digits"]
    assert list(vision.targets()) == ["all", "selections", "figures", "vision"]
    assert vision.lm_extractions() == [] and vision.lm_datasets == []
    lm = demo_with("lm")
    assert lm.tracks == ("lm",) and list(lm.spaces) == ["lm"] and list(lm.targets())[-1] == "lm"
    assert lm.targets()["lm"] == demo_with("vision", "lm").targets()["lm"]
    assert len(lm.lm_extractions()) == 8 * 3
    with pytest.raises(ValueError, match="unknown track"):
        lm.has("given")


def lm_without_tasks(*parts) -> dict:
    """The demo config's LM track with no tasks (the schema's default `{}`), beside these other parts."""
    config = yaml.safe_load(DEMO.read_text())
    for part in ("given", "vision", "zoos"):
        if part not in parts:
            config.pop(part, None)
    config["lm"].pop("tasks")
    return config


def test_an_lm_without_tasks_asks_for_kappa_picks_and_figures_only():
    plan = Plan.from_config(validate_config(lm_without_tasks()))
    assert plan.tasks("lm") == () and plan.spaces_with_tasks() == []
    assert plan.targets()["all"] == [
        RUN_CONFIG,
        "results/lm/selection.tsv",
        *plan.figure_paths("results/figures/lm/mi-gain"),
        *plan.figure_paths("results/figures/lm/kappa-dendrogram"),
        "results/lm/convergence.tsv",
        *plan.figure_paths("results/figures/lm/convergence"),
    ]  # no metrics, Table 2, task figures or rankers; no summary: nothing to summarise
    with_vision = Plan.from_config(validate_config(lm_without_tasks("vision")))
    assert with_vision.summary_inputs()["lm"] == [] and with_vision.summary_inputs()["vision"]
    assert "results/summary.md" in with_vision.targets()["all"]
    assert not [
        path for path in with_vision.targets()["all"] if path.startswith(("results/lm/metrics", "results/lm/table2"))
    ]


def test_an_lm_without_tasks_dry_runs_without_metrics_jobs(tmp_path):
    result = snakemake(prepare_workdir(tmp_path, lm_without_tasks()), "--dry-run", cores=None)
    rules = set(re.findall(r"^\s*(?:local)?rule (\w+):$", result.stdout, flags=re.M))
    assert {"kappa", "select_members", "figure_mi_gain", "run_config"} <= rules
    assert not rules & {"lm_metrics", "lm_table2", "lm_probes", "summary", "rank_members"}, rules
    assert not (tmp_path / "results").exists()


def test_figures_for_the_protocols_a_space_asks_for():
    config = yaml.safe_load(DEMO.read_text())
    config["vision"]["experiments"]["digits"]["evaluation"]["protocols"] = ["paper"]
    config["lm"]["evaluation"]["protocols"] = ["validated"]
    config.pop("zoos")  # validated only, whatever the tracks ask for
    plan = Plan.from_config(validate_config(config))
    assert plan.protocols("vision/digits") == ("paper",) and plan.protocols("lm") == ("validated",)
    figures = [path for path in plan.targets()["all"] if "-paper." in path or "-validated." in path]
    assert figures == [
        *(
            f"results/figures/vision/digits/{kind}-paper.{suffix}"
            for kind in ("accuracy", "gain", "transferability", "rankers")
            for suffix in ("pdf", "png")
        ),
        *(
            f"results/figures/lm/task-{task}-validated.{suffix}"
            for task in ("bigram-shift", "word-replacement")
            for suffix in ("pdf", "png")
        ),
        *(
            f"results/figures/lm/{kind}-validated.{suffix}"
            for kind in ("transferability", "rankers")
            for suffix in ("pdf", "png")
        ),
    ]


def test_the_plan_does_not_follow_later_edits_of_the_config():
    config = load_config(DEMO)
    plan = Plan.from_config(config)
    config["lm"]["members"].pop()
    config["given"].clear()
    assert len(plan.lm_members) == 8 and list(plan.spaces)[0] == "given/paper-lm"


def dry_run_jobs(workdir):
    """{rule: [(inputs, outputs)]} of a dry run of the demo config."""
    result = snakemake(prepare_workdir(workdir), "--dry-run", config=DEMO, cores=None)
    jobs, rule = {}, None
    for line in result.stdout.splitlines():
        if m := re.match(r"^\s*(?:local)?rule (\w+):$", line):
            rule = m.group(1)
            jobs.setdefault(rule, []).append({"input": [], "output": []})
        elif rule and (m := re.match(r"^\s+(input|output): (.*)$", line)):
            jobs[rule][-1][m.group(1)] = m.group(2).split(", ")
    return jobs


def test_the_workflow_asks_for_the_plans_targets_and_jobs(tmp_path, demo):
    jobs = dry_run_jobs(tmp_path)
    assert sorted(jobs["all"][0]["input"]) == sorted(demo.targets()["all"])
    counts = Counter({rule: len(rule_jobs) for rule, rule_jobs in jobs.items()})
    # every member's feature file on every dataset: its own lm_features job, or linked from its checkpoint's pass
    assert counts["lm_features"] + counts["lm_pass_member"] == len(demo.lm_extractions())
    assert counts["lm_pass"] == len(demo.lm_shared_passes) * (1 + len(demo.lm_datasets))
    assert counts["kappa"] == len(demo.feature_spaces) and counts["select_members"] == len(demo.spaces)
    assert counts["vision_agent"] == sum(len(experiment.agents) for experiment in demo.vision.values())
    assert counts["vision_heads"] == len(demo.tasks("vision/digits")) and counts["lm_probes"] == len(demo.tasks("lm"))
    # kappa: a job per member (its probe features -> its sketch) and a combine per space (sketches and features)
    assert counts["kappa_member"] == sum(len(members) for members in demo.feature_spaces.values())
    kappa_inputs = {tuple(job["input"]) for job in jobs["kappa"]}
    assert kappa_inputs == {tuple(sum(demo.kappa.inputs(space).values(), [])) for space in demo.feature_spaces}
    member_jobs = {(tuple(job["input"]), tuple(job["output"])) for job in jobs["kappa_member"]}
    assert member_jobs == {
        ((demo.member_probe_feature(space, member)[0],), (demo.kappa.sketch(space, member),))
        for space, members in demo.feature_spaces.items()
        for member in members
    }

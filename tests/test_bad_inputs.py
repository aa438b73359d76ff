"""Bad inputs (issue 6, section 2): one test per row of docs/troubleshooting.md.

Every bad input ends in ONE line that names the key, member, file or line at fault, before expensive work
where the workflow can know it, leaves no result that looks finished, and makes Snakemake exit non-zero.

* config rows: ``validate_config`` (the library) and the same rows through ``snakemake --dry-run`` (the
  Snakefile turns the error into a WorkflowError before any job exists);
* data, kappa and member rows: ONE real workflow run with ``--keep-going`` whose config holds one space,
  experiment, task or member per bad input; each failing job's log holds the one-line error;
* feature-file rows: the ``taskspace kappa`` command line and the kappa reader the workflow uses.

Rows that library tests already cover in depth (every CoNLL format's malformed lines, every member-loading
failure, hostile checkpoints) are listed in docs/troubleshooting.md with the test that covers them.
"""

import copy
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, Background, load_config, prepare_workdir, snakemake, started_early

from taskspace.cli import main as cli
from taskspace.config import validate_config
from taskspace.errors import TaskspaceError
from taskspace.features import write_features
from taskspace.kappa import kappa_from_feature_files
from taskspace.mmi import JITTER, greedy_mmi

# The tiny config's tracks, one at a time: the base of each config row (a row changes one key).
LM = {"lm": load_config("tiny")["lm"]}
VISION = {"vision": load_config("tiny")["vision"]}


def lm(config):
    return config["lm"]


def tiny(config):
    return config["vision"]["experiments"]["tiny"]


# (id, base config, change, the message's start). The key at fault starts every message.
CONFIG_ROWS = [
    (
        "unknown-key",
        LM,
        lambda c: lm(c)["probe"].update(min_word=5),
        "lm.probe: unknown key 'min_word' (allowed: convergence, format, max_sentences, min_words, text)",
    ),
    ("unknown-member-key", LM, lambda c: lm(c)["members"][0].update(layers=2), "lm.members.0: unknown key 'layers'"),
    (
        "wrong-type",
        VISION,
        lambda c: tiny(c)["split"].update(tasks="2"),
        "vision.experiments.tiny.split.tasks: expected integer, got '2'",
    ),
    (
        "k-below-1",
        LM,
        lambda c: lm(c)["selection"].update(k_max=0),
        "lm.selection.k_max: 0 is less than the minimum of 1",
    ),
    (
        "k-above-members",
        LM,
        lambda c: lm(c)["selection"].update(k_max=4),
        "lm.selection.k_max: 4 is more than the 3 members of lm.members",
    ),
    (
        "k-above-agents",
        VISION,
        lambda c: tiny(c)["selection"].update(k_max=5),
        "vision.experiments.tiny.selection.k_max: 5 is more than the 4 agents (split.agents)",
    ),
    (
        "N-above-classes",
        VISION,
        lambda c: tiny(c)["split"].update(task_classes=11),
        "vision.experiments.tiny.split.task_classes: 11 is more than the 10 classes of digits",
    ),
    (
        "C-above-classes",
        VISION,
        lambda c: tiny(c)["split"].update(agent_classes=12),
        "vision.experiments.tiny.split.agent_classes: 12 is more than the 10 classes of digits",
    ),
    (
        "T-above-class-sets",
        VISION,
        lambda c: tiny(c)["split"].update(tasks=121),
        "vision.experiments.tiny.split.tasks: 121 distinct sets of 3 classes asked for, but only 120 exist among 10 "
        "classes",
    ),
    (
        "K-above-class-sets",
        VISION,
        lambda c: tiny(c)["split"].update(agents=119),
        "vision.experiments.tiny.split.agents: 119 distinct sets of 3 classes asked for, but only 118 exist among 10 "
        "classes (2 of them are admin tasks)",
    ),
    (
        "agent-pool-too-large",
        VISION,
        lambda c: tiny(c)["split"].update(disjoint_pools=True, agent_pool_classes=10),
        "vision.experiments.tiny.split.agent_pool_classes: 10 leaves no classes for one of the pools",
    ),
    (
        "duplicate-member",
        LM,
        lambda c: lm(c)["members"][1].update(name="minilm-l2"),
        "lm.members.1.name: member name 'minilm-l2' is used twice (lm.members.0)",
    ),
    (
        "member-differs-in-case",
        LM,
        lambda c: lm(c)["members"][1].update(name="MiniLM-L2"),
        "lm.members.1.name: member name 'MiniLM-L2' differs from 'minilm-l2' only in case",
    ),
    (
        "member-name-unsafe",
        LM,
        lambda c: lm(c)["members"][0].update(name="../minilm"),
        "lm.members.0.name: '../minilm' is not a safe name",
    ),
    (
        "member-name-with-slash",
        LM,
        lambda c: lm(c)["members"][0].update(name="org/model"),
        "lm.members.0.name: 'org/model' is not a safe name",
    ),
    (
        "experiment-name-unsafe",
        VISION,
        lambda c: c["vision"].update(experiments={"my run": tiny(c)}),
        "vision.experiments: 'my run' is not a safe name",
    ),
    (
        "source-and-build",
        LM,
        lambda c: lm(c)["members"][2].update(source="gpt2"),
        "lm.members.2: member 'tiny-gpt2' needs exactly one of 'source'",
    ),
    (
        "neither-source-nor-build",
        LM,
        lambda c: lm(c)["members"][0].pop("source"),
        "lm.members.0: member 'minilm-l2' needs exactly one of 'source'",
    ),
    (
        "seed-without-build",
        LM,
        lambda c: lm(c)["members"][0].update(seed=3),
        "lm.members.0.seed: member 'minilm-l2': seed only applies to built members",
    ),
    (
        "baseline-not-a-member",
        LM,
        lambda c: lm(c).update(baselines=["bert-base-uncased"]),
        "lm.baselines: 'bert-base-uncased' is not one of the members (minilm-l2, minilm-l6, tiny-gpt2)",
    ),
    (
        "task-files-missing",
        LM,
        lambda c: lm(c)["tasks"].update(pos={"format": "pos", "train": "pos.train"}),
        "lm.tasks.pos: format pos needs train, dev and test files (missing: dev, test)",
    ),
    (
        "demo-task-with-files",
        LM,
        lambda c: lm(c)["tasks"]["bigram-shift"].update(train="my.txt"),
        "lm.tasks.bigram-shift.train: format bigram_shift makes its own train/dev/test",
    ),
    (
        "task-named-probe",
        LM,
        lambda c: lm(c)["tasks"].update(probe={"format": "word_replacement"}),
        "lm.tasks.probe: the name 'probe' is taken by the probe text's features",
    ),
    (
        "convergence-above-max-sentences",
        LM,
        lambda c: lm(c)["probe"].update(convergence=[30, 100]),
        "lm.probe.convergence: 100 sentences is more than max_sentences (60)",
    ),
    (
        "cifar-without-root",
        VISION,
        lambda c: tiny(c).update(dataset={"name": "cifar100"}),
        "vision.experiments.tiny.dataset.root: cifar100 needs the folder",
    ),
    (
        "peek-task-out-of-range",
        VISION,
        lambda c: tiny(c).update(evaluation={"peek_task": 2}),
        "vision.experiments.tiny.evaluation.peek_task: 2 is not a task index (split.tasks is 2: 0 to 1)",
    ),
    (
        "val-leaves-no-training",
        VISION,
        lambda c: tiny(c)["evaluation"]["validated"].update(val_per_class=4),
        "vision.experiments.tiny.evaluation.validated.val_per_class: 4 leaves no training image of the 4 per class",
    ),
    (
        "method-epochs-misspelt",
        LM,
        lambda c: lm(c)["evaluation"]["paper"].update(method_epochs={"mmmi": 7}),
        "lm.evaluation.paper.method_epochs: 'mmmi' is not one of the methods whose heads the lm track trains "
        "(mmi, mmi-task, random, single, ",
    ),
    (
        "milestones-not-increasing",
        VISION,
        lambda c: tiny(c)["evaluation"]["validated"]["heads"].update(milestones=[20, 5]),
        "vision.experiments.tiny.evaluation.validated.heads: milestones must be strictly increasing positive epochs, "
        "got [20, 5]",
    ),
    (
        "milestone-never-reached",
        VISION,
        lambda c: tiny(c)["evaluation"]["validated"]["heads"].update(milestones=[10, 30]),
        "vision.experiments.tiny.evaluation.validated.heads.milestones: 30 is beyond the last epoch any head trains "
        "(20: heads.epochs)",
    ),
]


def bad_config(base, change):
    config = copy.deepcopy(base)
    change(config)
    return config


def test_the_base_configs_are_valid():
    validate_config(LM)
    validate_config(VISION)


@pytest.mark.parametrize("base, change, message", [row[1:] for row in CONFIG_ROWS], ids=[row[0] for row in CONFIG_ROWS])
def test_config_row(base, change, message):
    with pytest.raises(TaskspaceError) as caught:
        validate_config(bad_config(base, change))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


# Through the Snakefile: a representative row of each kind of check (they all take the same path).
DRY_RUN_ROWS = [
    "unknown-key",
    "wrong-type",
    "k-above-members",
    "k-above-agents",
    "N-above-classes",
    "duplicate-member",
    "member-name-unsafe",
    "source-and-build",
    "milestones-not-increasing",
]


@pytest.mark.parametrize("row", DRY_RUN_ROWS)
def test_config_row_through_snakemake(tmp_path, row):
    _, base, change, message = next(r for r in CONFIG_ROWS if r[0] == row)
    result = snakemake(tmp_path, "--dry-run", config=bad_config(base, change), cores=1, check=False)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("config: ")]
    assert len(lines) == 1 and lines[0].startswith(f"config: {message}"), result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------------------------------------------------
# data, kappa and member rows: one workflow run, --keep-going, one bad input per space/experiment/task/member

TWINS = np.array([[1.0, 0.5, 1.0], [0.5, 1.0, 0.5], [1.0, 0.5, 1.0]])  # members a and c are the same


def write_bad_inputs(folder: Path) -> dict:
    good = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]])
    np.save(folder / "good3.npy", good)
    asym = good.copy()
    asym[0, 1] += 0.1
    np.save(folder / "asym.npy", asym)
    np.save(folder / "notpsd.npy", np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]))
    nan = good.copy()
    nan[0, 1] = nan[1, 0] = np.nan
    np.save(folder / "nan.npy", nan)
    np.save(folder / "rect.npy", np.ones((2, 3)))
    np.save(folder / "twins.npy", TWINS)
    (folder / "text.npy").write_text("1 0.5\n0.5 1\n")  # a text matrix under a .npy name
    np.save(folder / "one.npy", np.ones((1, 1)))
    (folder / "solo.txt").write_text("solo\n")
    (folder / "two-names.txt").write_text("a\nb\n")
    (folder / "dup-names.txt").write_text("a\nb\na\n")
    (folder / "abc.txt").write_text("a\nb\nc\n")
    (folder / "bad.chunk").write_text("He PRP B-NP\nreckons VBZ B-VP\nthe DT\n")
    (folder / "bad.trees").write_text("(S (NP (DT The) (NN cat))\n   (VP (VBD sat))\n")
    shutil.copy(REPO / "tests" / "data" / "lm" / "pos.conllx", folder / "pos.conllx")
    return load_config("bad-inputs")


# (id, target, job log, the message the log's one ERROR line holds)
WORKFLOW_ROWS = [
    (
        "kappa-not-symmetric",
        "results/given/asymmetric/kappa.npz",
        "logs/given/asymmetric/kappa.log",
        "asym.npy: not symmetric: entries (0, 1) and (1, 0) differ by 0.1",
    ),
    (
        "kappa-not-psd",
        "results/given/not-psd/kappa.npz",
        "logs/given/not-psd/kappa.log",
        "notpsd.npy: not positive semi-definite: smallest eigenvalue",
    ),
    (
        "kappa-nan",
        "results/given/nan/kappa.npz",
        "logs/given/nan/kappa.log",
        "nan.npy: 2 entries are NaN or infinite (first at row 0, column 1)",
    ),
    (
        "kappa-not-square",
        "results/given/not-square/kappa.npz",
        "logs/given/not-square/kappa.log",
        "rect.npy: kappa must be a square matrix, got shape (2, 3)",
    ),
    (
        "kappa-not-npy",
        "results/given/text-npy/kappa.npz",
        "logs/given/text-npy/kappa.log",
        "text.npy: not a NumPy .npy file (write it with numpy.save",
    ),
    (
        "kappa-names-count",
        "results/given/names-count/kappa.npz",
        "logs/given/names-count/kappa.log",
        "two-names.txt: 2 member names for the 3 x 3 kappa in good3.npy",
    ),
    (
        "kappa-names-repeat",
        "results/given/names-repeat/kappa.npz",
        "logs/given/names-repeat/kappa.log",
        "dup-names.txt:3: member 'a' repeats line 1",
    ),
    (
        "k-above-kappa-size",
        "results/given/k-above-kappa/selection.tsv",
        "logs/given/k-above-kappa/selection.log",
        "k_max = 4: must be between 1 and the number of members (3)",
    ),
    (
        "S-above-data",
        "results/vision/too-many-S/split.json",
        "logs/vision/too-many-S/split.log",
        "vision.experiments.too-many-S.split.admin_train_per_class: 200 (+ probe_per_class 3 + 1 agent image) is more "
        "than the",
    ),
    (
        "cifar-folder-missing-offline",
        "results/vision/no-cifar/split.json",
        "logs/vision/no-cifar/split.log",
        "no-cifar-here: no CIFAR-100 data there (missing no-cifar-here/cifar-100-python/train",
    ),
    (
        "probe-text-missing",
        "results/lm/probe.txt",
        "logs/lm/probe-text.log",
        "missing-probe.txt: probe text file not found",
    ),
    (
        "conll-malformed-line",
        "results/lm/features/minilm/chunk.h5",
        "logs/lm/features/minilm/chunk.log",
        "bad.chunk:3: expected 3 fields (word POS chunk), got 2",
    ),
    (
        "ptb-tree-unparsable",
        "results/lm/features/minilm/trees.h5",
        "logs/lm/features/minilm/trees.log",
        "bad.trees:1: tree starting here is not closed (missing ')')",
    ),
    (
        "hub-id-unreachable-offline",
        "results/lm/features/far/pos.h5",
        "logs/lm/features/far/pos.log",
        "member far: cannot load the config of no-such-org/no-such-model-4711: not in the local Hugging Face cache "
        "and the hub is offline",
    ),
]


ONE_MEMBER_TABLE = "results/figures/given/one-member/kappa-dendrogram.tsv"


def start_keep_going_run(tmp_path_factory) -> Background:
    """The one workflow run of the data, kappa and member rows (started when the tests are collected)."""
    workdir = tmp_path_factory.mktemp("bad-inputs")
    prepare_workdir(workdir, write_bad_inputs(workdir))
    targets = [row[1] for row in WORKFLOW_ROWS] + ["results/given/twins/selection.tsv", ONE_MEMBER_TABLE]
    return Background(workdir, "--keep-going", *targets, check=False)


keep_going_result, keep_going_result_handle = started_early("keep_going_result", start_keep_going_run)


@pytest.fixture(scope="module")
def keep_going_run(keep_going_result, keep_going_result_handle):
    result = keep_going_result
    assert "config: " not in result.stdout + result.stderr, result.stdout + result.stderr  # the config is valid
    return keep_going_result_handle.workdir, result


@pytest.mark.workflow
@pytest.mark.parametrize(
    "target, log, message", [row[1:] for row in WORKFLOW_ROWS], ids=[row[0] for row in WORKFLOW_ROWS]
)
def test_workflow_row(keep_going_run, target, log, message):
    workdir, result = keep_going_run
    assert result.returncode != 0
    assert "Error in rule" in result.stdout + result.stderr
    errors = [line for line in (workdir / log).read_text().splitlines() if " ERROR " in line]
    assert len(errors) == 1, (workdir / log).read_text()
    assert errors[0].split(": ", 1)[1].startswith(message), errors[0]
    assert not (workdir / target).exists()
    partials = (
        [p for p in (workdir / target).parent.glob(".*") if p.name != ".snakemake_timestamp"]
        if (workdir / target).parent.exists()
        else []
    )
    assert not partials, partials


@pytest.mark.workflow
def test_one_member_zoo_draws_its_figure(keep_going_run):
    """A one-member zoo (a 1 x 1 kappa, k_max 1) is no error: Fig. 1 with a single leaf, a one-row table."""
    workdir, _ = keep_going_run
    assert (workdir / ONE_MEMBER_TABLE).with_suffix(".png").stat().st_size > 1000
    table = pd.read_csv(workdir / ONE_MEMBER_TABLE, sep="\t")
    assert table.to_dict("records") == [{"position": 1, "member": "solo", "cluster": 1}]
    assert " ERROR " not in (workdir / "logs/given/one-member/figure-kappa.log").read_text()


@pytest.mark.workflow
def test_singular_kappa_warns_and_picks_deterministically(keep_going_run):
    """Duplicate members (a and c are the same): a one-line warning naming them, and the documented outcome:
    a small jitter on the diagonal, one twin picked first and the other last, the library's picks."""
    workdir, _ = keep_going_run
    log = (workdir / "logs/given/twins/selection.log").read_text()
    warnings = [line for line in log.splitlines() if " WARNING " in line]
    assert len(warnings) == 1, log
    assert (
        warnings[0]
        .split(" WARNING ", 1)[1]
        .startswith(
            "taskspace.select_members: NearSingularKappaWarning: kappa is near-singular (member 'c' is almost a "
            f"combination of the others; closest: 'a', kappa 1.000000); adding jitter {JITTER:g} to the diagonal"
        )
    ), log
    table = pd.read_csv(workdir / "results/given/twins/selection.tsv", sep="\t")
    mmi = table[(table.method == "mmi") & (table.k == 3)].sort_values("rank")
    with pytest.warns(UserWarning):
        expected = greedy_mmi(TWINS, 3)
    assert list(mmi["index"]) == [int(i) for i in expected.order]
    assert np.isfinite(mmi.cumulative_mi).all()
    assert {mmi.member.iloc[0], mmi.member.iloc[-1]} == {"a", "c"}


def test_missing_kappa_file_fails_the_dry_run(tmp_path):
    config = {"given": {"mine": {"kappa": "nowhere.npy"}}}
    result = snakemake(tmp_path, "--dry-run", config=config, cores=1, check=False)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "MissingInputException" in out and "nowhere.npy" in out


# ---------------------------------------------------------------------------------------------------------
# feature-file rows: the `taskspace kappa` command line and the reader the workflow's kappa rule uses


def features(path, vectors, member, complete=True):
    items = np.arange(len(vectors))
    write_features(path, {"probe": (items, vectors)}, {"member": member})
    if not complete:
        with h5py.File(path, "a") as h5:
            del h5.attrs["complete"]


@pytest.fixture
def good_pair(tmp_path):
    rng = np.random.default_rng(0)
    features(tmp_path / "a.h5", rng.normal(size=(40, 5)), "a")
    features(tmp_path / "b.h5", rng.normal(size=(40, 3)), "b")
    return tmp_path


def run_cli(args, capsys):
    code = cli(args)
    err = capsys.readouterr().err.strip()
    return code, err


def test_features_with_nan_name_member_and_count(good_pair, capsys):
    vectors = np.random.default_rng(1).normal(size=(40, 4))
    vectors[3, 1] = np.nan
    vectors[7, 0] = np.inf
    features(good_pair / "bad.h5", vectors, "bad")
    code, err = run_cli(
        ["kappa", str(good_pair / "a.h5"), str(good_pair / "bad.h5"), "-o", str(good_pair / "k.npz")], capsys
    )
    assert code == 2 and err == "taskspace: error: member 'bad': 2 NaN or infinite feature values"
    assert not (good_pair / "k.npz").exists()


def test_zero_variance_features_name_the_member(good_pair, capsys):
    features(good_pair / "flat.h5", np.ones((40, 4)), "flat")
    code, err = run_cli(
        ["kappa", str(good_pair / "a.h5"), str(good_pair / "flat.h5"), "-o", str(good_pair / "k.npz")], capsys
    )
    assert code == 2 and err == "taskspace: error: member 'flat': zero-variance features on the probe items"


def test_truncated_feature_file(good_pair, capsys):
    data = (good_pair / "b.h5").read_bytes()
    (good_pair / "b.h5").write_bytes(data[: len(data) // 2])
    code, err = run_cli(
        ["kappa", str(good_pair / "a.h5"), str(good_pair / "b.h5"), "-o", str(good_pair / "k.npz")], capsys
    )
    assert code == 2 and err.startswith(
        f"taskspace: error: {good_pair / 'b.h5'}: not a readable HDF5 file (truncated?)"
    )
    assert "\n" not in err


def test_feature_file_without_completeness_marker(good_pair, capsys):
    features(good_pair / "b.h5", np.random.default_rng(2).normal(size=(40, 3)), "b", complete=False)
    code, err = run_cli(
        ["kappa", str(good_pair / "a.h5"), str(good_pair / "b.h5"), "-o", str(good_pair / "k.npz")], capsys
    )
    assert code == 2
    assert err == (
        f"taskspace: error: {good_pair / 'b.h5'}: incomplete feature file (its job was interrupted); "
        "delete it and rerun"
    )


def test_feature_file_made_for_another_member(good_pair):
    """The workflow's kappa rule names each file's member: a file that records another one is refused."""
    with pytest.raises(TaskspaceError) as caught:
        kappa_from_feature_files([good_pair / "a.h5", good_pair / "b.h5"], members=["a", "c"])
    assert str(caught.value) == (
        f"{good_pair / 'b.h5'}: made for another config: member is 'b', expected 'c'; delete it and rerun"
    )

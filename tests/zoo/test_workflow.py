"""Zoo spaces through Snakemake: the tiny zoos of the shared tiny run (tests/configs/zoo.yaml on tests/data/zoo):
a builder with a seeded weights file at two depths (one pass), a built HF ViT, MiniLM at three layers and
poolings (one pass) from a member sheet, precomputed .npy and .h5 features; an ImageFolder task without dev,
`path label` tables with dev, a CSV classification table, JSONL sentence pairs with real-valued labels; and a
zoo without tasks."""

import numpy as np
import pandas as pd
import pytest

from taskspace.features import FeatureFile
from taskspace.heads import METRIC_COLUMNS
from taskspace.kappa import load_kappa

pytestmark = pytest.mark.workflow

IMAGE = ["resnet-fc", "resnet-l3", "tiny-vit"]
TEXT = ["minilm-l3-mean", "minilm-l6-first", "minilm-l6-last", "precomputed-h5", "precomputed-npy"]
PASS = {"resnet-l3": "resnet-fc", "minilm-l6-first": "minilm-l3-mean", "minilm-l6-last": "minilm-l3-mean"}


def feature_file(run, zoo, member, dataset):
    return run / f"zoo/{zoo}/features/{PASS.get(member, member)}/{dataset}/{member}.h5"


def test_feature_files_per_member(tiny_run):
    sizes = {"probe": {"probe": 10}, "folder": {"train": 12, "test": 6}, "list": {"train": 9, "dev": 3, "test": 6}}
    for dataset, sets in sizes.items():
        for member in IMAGE:
            with FeatureFile(feature_file(tiny_run, "tiny-image", member, dataset)) as f:
                assert f.provenance["member"] == member
                for name, n in sets.items():
                    assert len(f.items(name)) == n and f"{name}_source" in f.sets  # every member has a source head
                    np.testing.assert_array_equal(f.items(name)[:, 0], np.arange(n))
    with FeatureFile(feature_file(tiny_run, "tiny-image", "resnet-fc", "probe")) as fc:
        assert fc.width("probe") == 512 and fc.width("probe_source") == 3  # the input of fc; its softmax
    with FeatureFile(feature_file(tiny_run, "tiny-image", "resnet-l3", "probe")) as l3:
        assert l3.width("probe") == 256  # layer3, mean-pooled
    text = {"probe": {"probe": 16}, "polarity": {"train": 12, "test": 8}, "pairs": {"train": 10, "dev": 4, "test": 6}}
    for dataset, sets in text.items():
        for member in TEXT:
            with FeatureFile(feature_file(tiny_run, "tiny-text", member, dataset)) as f:
                assert {name: len(f.items(name)) for name in sets} == sets
    with FeatureFile(feature_file(tiny_run, "tiny-text", "minilm-l6-first", "probe")) as first:
        with FeatureFile(feature_file(tiny_run, "tiny-text", "minilm-l6-last", "probe")) as last:
            assert first.width("probe") == last.width("probe") == 384
            assert not np.allclose(first.vectors("probe")[()], last.vectors("probe")[()])  # poolings differ
    # the seeded weights file, made by its rule
    assert (tiny_run / "zoo/seeded/resnet18-seed1.safetensors").is_file()


def test_kappa_and_selection(tiny_run):
    for zoo, members in (("tiny-image", IMAGE), ("tiny-text", TEXT), ("tiny-notask", ["text-npy", "text-h5"])):
        kappa = load_kappa(tiny_run / f"zoo/{zoo}/kappa.npz")
        assert kappa.members == members
        np.testing.assert_allclose(np.diag(kappa.kappa), 1.0)
        selection = tiny_run.tsv(f"zoo/{zoo}/selection.tsv")
        assert set(selection.method) == {"mmi", "random"}
    assert kappa.n_items == 16


def test_ranking_tables(tiny_run):
    image = tiny_run.tsv("zoo/tiny-image/ranking/list.tsv")
    assert list(image.columns) == ["task", "ranker", "member", "score", "seconds"]
    every = {"logme", "hscore", "hscore-shrinkage", "transrate", "gbc", "sfda", "nce", "leep", "mmi", "mmi-task"}
    assert set(image.ranker) == every  # source heads: LEEP and NCE rank too
    assert image.groupby("ranker").member.apply(sorted).map(tuple).unique().tolist() == [tuple(sorted(IMAGE))]
    text = tiny_run.tsv("zoo/tiny-text/ranking/polarity.tsv")
    assert set(text.ranker) == every - {"nce", "leep"}  # no source heads
    pairs = tiny_run.tsv("zoo/tiny-text/ranking/pairs.tsv")  # real-valued: rankers without a regression form skip
    assert {"mmi", "mmi-task", "logme"} <= set(pairs.ranker) and "gbc" not in set(pairs.ranker)
    assert "leep skipped" in tiny_run.log("zoo/tiny-text/ranking/polarity.log")


def test_metrics_with_single_member_heads(tiny_run):
    for zoo, members, tasks in (("tiny-image", IMAGE, ["folder", "list"]), ("tiny-text", TEXT, ["polarity", "pairs"])):
        metrics = tiny_run.tsv(f"zoo/{zoo}/metrics.tsv")
        assert list(metrics.columns) == METRIC_COLUMNS
        assert list(metrics.task.unique()) == tasks and set(metrics.protocol) == {"validated"}
        single = metrics[metrics.method == "single"]
        assert single.groupby("task").members.apply(list).map(tuple).unique().tolist() == [tuple(members)]
        assert {"mmi", "random", "mmi-task", "logme"} <= set(metrics.method)
        assert metrics.dev.notna().all() and metrics.steps.nunique() <= len(tasks)  # the same budget per task
    text = tiny_run.tsv("zoo/tiny-text/metrics.tsv")
    assert set(text[text.task == "pairs"].metric) == {"pearson"}
    image = tiny_run.tsv("zoo/tiny-image/metrics.tsv")
    assert image.test.between(0, 1).all() and set(image.metric) == {"accuracy"}


def test_transferability_figures_and_summary(tiny_run):
    table = tiny_run.tsv("zoo/tiny-image/transferability.tsv")
    assert set(table.task) == {"folder", "list"} and (table.n_members == len(IMAGE)).all()
    for zoo in ("tiny-image", "tiny-text"):
        for figure in ("accuracy-validated", "gain-validated", "rankers-validated", "transferability-validated"):
            assert (tiny_run / f"figures/zoo/{zoo}/{figure}.png").stat().st_size > 0
    for zoo in ("tiny-image", "tiny-text", "tiny-notask"):
        for figure in ("mi-gain", "kappa-dendrogram"):
            assert (tiny_run / f"figures/zoo/{zoo}/{figure}.png").stat().st_size > 0
    assert not (tiny_run / "zoo/tiny-notask/metrics.tsv").exists()
    summary = tiny_run.text("summary.md")
    assert "#### zoo/tiny-image, task folder, validated protocol (test accuracy)" in summary
    assert "#### zoo/tiny-text, task pairs, validated protocol (test pearson)" in summary
    assert "#### zoo/tiny-notask, MMI picks (no tasks)" in summary
    assert "#### zoo/tiny-text, rankers, validated protocol" in summary


def test_run_config_records_the_sheet_as_a_list(tiny_run):
    import yaml

    config = yaml.safe_load(tiny_run.text("config.yaml"))
    assert [entry["name"] for entry in config["zoos"]["tiny-text"]["members"]] == TEXT


def test_zoo_metrics_are_one_schema_with_the_tracks(tiny_run):
    vision = pd.read_csv(tiny_run / "vision/tiny/metrics.tsv", sep="\t")
    assert list(tiny_run.tsv("zoo/tiny-text/metrics.tsv").columns) == list(vision.columns)

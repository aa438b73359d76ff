"""The vision track through Snakemake: the tiny digits experiment of the shared tiny run (tests/configs/tiny.yaml)."""

import numpy as np
import pandas as pd
import pytest

from taskspace.features import FeatureFile
from taskspace.heads import METRIC_COLUMNS
from taskspace.kappa import load_kappa

pytestmark = pytest.mark.workflow


def test_metrics_table_schema_and_equal_budget(tiny_run):
    metrics = pd.read_csv(tiny_run / "vision/tiny/metrics.tsv", sep="\t")
    assert list(metrics.columns) == METRIC_COLUMNS
    # the rankers' top k are head methods too; vision agents have source heads, so leep and nce rank as well
    rankers = set(metrics.method) - {"mmi", "peek", "random", "single"}
    assert {"mmi-task", "logme", "leep", "nce"} <= rankers
    # per task and protocol: MMI, peek and each ranker for k = 1..3, 3 random rounds for each k, each agent alone
    assert metrics.groupby(["task", "protocol"]).size().tolist() == [3 + 3 + 9 + 4 + 3 * len(rankers)] * 4
    validated, paper = (metrics[metrics.protocol == name] for name in ("validated", "paper"))
    assert validated.steps.nunique() == 1 and validated.epochs.nunique() == 1  # the same budget for every method
    assert validated.dev.between(0, 1).all() and paper.dev.isna().all()  # paper: nothing held out
    epochs = paper.groupby("method").epochs.unique().map(list).to_dict()
    assert epochs == {"mmi": [20]} | {method: [15] for method in {"peek", "random", "single"} | rankers}
    assert metrics.test.between(0, 1).all() and set(metrics.metric) == {"accuracy"}
    assert (metrics.members.str.count(r"\+") + 1 == metrics.k).all()


def test_kappa_selection_and_features(tiny_run):
    kappa = load_kappa(tiny_run / "vision/tiny/kappa.npz")
    assert kappa.members == ["agent000", "agent001", "agent002", "agent003"]
    assert kappa.n_items == 3 * 10 * 7  # P per class x 10 classes x (original + 6 rotations)
    np.testing.assert_allclose(np.diag(kappa.kappa), 1.0)
    selection = pd.read_csv(tiny_run / "vision/tiny/selection.tsv", sep="\t")
    first = selection[(selection.method == "mmi") & (selection["rank"] == 1)].member.iloc[0]
    assert first == kappa.members[int(np.argmax(kappa.kappa.sum(1)))]  # hub-first
    assert set(selection.method) == {"mmi", "random", "peek"}
    with FeatureFile(tiny_run / "vision/tiny/features/agent002.h5") as features:
        assert features.sets == ["probe", "test", "test_source", "train", "train_source"]
        probs = features.vectors("train_source")[:]
        np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)  # the agent's softmax over its classes
        assert features.provenance["member"] == "agent002"
        assert len(features.items("train")) == 4 * 10  # S admin images for each of the 10 classes


def test_figures_and_agents_table(tiny_run):
    per_protocol = [f"{name}-{protocol}" for name in ("accuracy", "gain") for protocol in ("validated", "paper")]
    for name in (*per_protocol, "mi-gain", "kappa-dendrogram"):
        assert (tiny_run / f"figures/vision/tiny/{name}.png").stat().st_size > 5_000
    agents = pd.read_csv(tiny_run / "vision/tiny/agents.tsv", sep="\t")
    assert list(agents.agent) == ["agent000", "agent001", "agent002", "agent003"]
    assert agents.classes.str.split().map(len).eq(3).all()

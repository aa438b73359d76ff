"""The LM track through Snakemake: the shared tiny run (tests/configs/tiny.yaml): MiniLM at two layers and a built
GPT-2, offline."""

import numpy as np
import pandas as pd
import pytest

from taskspace.features import FeatureFile
from taskspace.heads import METRIC_COLUMNS
from taskspace.kappa import load_kappa

pytestmark = pytest.mark.workflow


def test_metrics_table_and_baselines(tiny_run):
    metrics = pd.read_csv(tiny_run / "lm/metrics.tsv", sep="\t")
    assert list(metrics.columns) == METRIC_COLUMNS
    assert sorted(metrics.protocol.unique()) == ["paper", "validated"]
    # the rankers' top k are head methods too; LM members have no source head, so no leep or nce (and no peek)
    rankers = set(metrics.method) - {"mmi", "random", "single"}
    assert {"mmi-task", "logme"} <= rankers and not rankers & {"leep", "nce", "peek"}
    assert metrics.groupby(["protocol", "method"]).size().to_dict() == {
        (protocol, method): {"random": 4, "single": 3}.get(method, 2)  # k = 1, 2; 2 random rounds; each member
        for protocol in ("paper", "validated")
        for method in {"mmi", "random", "single"} | rankers
    }
    singles = metrics[metrics.method == "single"].groupby("protocol").members.apply(sorted).to_dict()
    assert singles == {protocol: ["minilm-l2", "minilm-l6", "tiny-gpt2"] for protocol in ("paper", "validated")}
    assert metrics.metric.unique().tolist() == ["token_f1"]
    assert metrics.steps.nunique() == 1  # the same budget for every head
    assert metrics.test.between(0, 1).all()
    table2 = (tiny_run / "lm/table2.md").read_text()
    assert "| task | metric | k | mmi | random_mean |" in table2 and "single minilm-l6" in table2


def test_kappa_features_and_convergence(tiny_run):
    kappa = load_kappa(tiny_run / "lm/kappa.npz")
    assert kappa.members == ["minilm-l2", "minilm-l6", "tiny-gpt2"]
    np.testing.assert_allclose(np.diag(kappa.kappa), 1.0)
    assert 0 < kappa.kappa[0, 1] < 1
    with FeatureFile(tiny_run / "lm/features/minilm-l2/probe.h5") as features:
        provenance = features.provenance
        assert provenance["member"] == "minilm-l2" and provenance["layer"] == 2 and provenance["pooling"] == "last"
        assert features.items("probe").shape[1] == 2  # (sentence, word)
    with FeatureFile(tiny_run / "lm/features/tiny-gpt2/bigram-shift.h5") as features:
        assert features.sets == ["dev", "test", "train"]
    convergence = pd.read_csv(tiny_run / "lm/convergence.tsv", sep="\t")
    assert convergence.sentences.tolist() == [20, 40]
    assert (convergence.kl >= 0).all() and convergence.kl.iloc[1] < convergence.kl.iloc[0]


def test_figures(tiny_run):
    task = [f"lm/task-bigram-shift-{protocol}" for protocol in ("validated", "paper")]
    for name in ("lm/convergence", *task, "lm/mi-gain", "lm/kappa-dendrogram"):
        assert (tiny_run / f"figures/{name}.png").stat().st_size > 5_000

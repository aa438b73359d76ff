"""The arithmetic of benchmarks/paper_jobs.py (its timings are measured by running it, never here)."""

import sys
from pathlib import Path

import pytest

from taskspace.config import load_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def paper_jobs(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the benchmark's extraction module sets it on import
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import paper_jobs

    yield paper_jobs
    sys.modules.pop("paper_jobs", None)


def linear_weights(module) -> int:
    from torch import nn

    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Linear))


def test_flops_per_token_counts_the_linear_layers_transformers_builds(paper_jobs):
    import transformers as tf

    Shape = paper_jobs.Shape
    bert = tf.BertModel(tf.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48))
    bart = tf.BartModel(tf.BartConfig(d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=2,
                                      decoder_attention_heads=2, encoder_ffn_dim=48, decoder_ffn_dim=48))
    t5 = tf.T5Model(tf.T5Config(d_model=32, d_kv=24, num_heads=4, d_ff=80, num_layers=2))
    assert Shape(2, 32, 48).flops_per_token(0) == 2 * linear_weights(bert.encoder)
    assert Shape(2, 32, 48, decoder_layers=3).flops_per_token(0) == 2 * linear_weights(bart)
    assert Shape(2, 32, 80, attention=96).flops_per_token(0) == 2 * linear_weights(t5.get_encoder())
    # attention over the context: q.k and the weighted values, 2 multiply-adds per context token and channel
    assert Shape(2, 32, 48).flops_per_token(10) - Shape(2, 32, 48).flops_per_token(0) == 2 * 2 * (2 * 10 * 32)


def test_every_paper_member_has_a_shape_and_the_widths_are_the_papers(paper_jobs):
    members = load_config(REPO / "configs" / "paper-lm.yaml")["lm"]["members"]
    widths = [paper_jobs.PUBLISHED_SHAPES[m["source"]].hidden for m in members]
    assert len(widths) == 34 and sum(widths) == 31_488  # D of the paper's kappa (benchmarks/kappa.py)


def test_a_member_is_scaled_from_the_nearer_reference(paper_jobs):
    Shape, Rate = paper_jobs.Shape, paper_jobs.Rate
    references = {
        name: {"shape": shape, "rate": Rate(name, "s / 1,000 words", [seconds]), "padded_tokens": 300, "sentences": 10}
        for name, shape, seconds in (("base", paper_jobs.BASE, 1.0), ("large", paper_jobs.LARGE, 4.0))
    }
    assert paper_jobs.member_seconds_per_word(paper_jobs.BASE, references) == (pytest.approx(1e-3), "base")
    per_word, nearest = paper_jobs.member_seconds_per_word(Shape(6, 768, 3072), references)
    assert nearest == "base" and per_word == pytest.approx(0.5e-3)
    per_word, nearest = paper_jobs.member_seconds_per_word(Shape(48, 1024, 4096), references)
    assert nearest == "large" and per_word == pytest.approx(8e-3)
    # padded to 512 tokens a sentence instead of 30: more than 17x the work of its unpadded shape
    per_word, _ = paper_jobs.member_seconds_per_word(Shape(12, 768, 3072, pads_to=512), references)
    assert per_word > 17 * 1e-3


def test_evaluations_every_few_epochs_and_after_the_last(paper_jobs):
    assert paper_jobs.n_evaluations(2000, 20) == 100
    assert paper_jobs.n_evaluations(40, 1) == 40
    assert paper_jobs.n_evaluations(45, 20) == 3

"""The arithmetic of benchmarks/paper_jobs.py (its timings are measured by running it, never here)."""

import sys

import pytest
from conftest import REPO

from taskspace.config import load_config


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
    bart = tf.BartModel(
        tf.BartConfig(
            d_model=32,
            encoder_layers=2,
            decoder_layers=3,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=48,
            decoder_ffn_dim=48,
        )
    )
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


@pytest.fixture(scope="module")
def plans():
    from taskspace.plan import Plan

    return {name: Plan.from_file(REPO / "configs" / f"{name}.yaml") for name in ("paper-lm", "paper-vision")}


def test_a_protocols_seconds_follow_its_method_epochs(paper_jobs, plans):
    from taskspace.heads import protocol_from_config

    evaluation = plans["paper-vision"].vision["c30"].settings["evaluation"]
    paper = protocol_from_config("paper", evaluation, 0, "cpu")  # 1500 epochs, 2000 for MMI, evaluated every epoch
    validated = protocol_from_config("validated", evaluation, 0, "cpu")  # 2000 epochs, evaluated every 20
    heads = {("mmi", 0, 1): ["a"], ("random", 0, 2): ["a", "b"]}
    assert paper_jobs.protocol_seconds(paper, heads, 1.0, 10.0) == 1 * (2000 + 2000 * 10) + 2 * (1500 + 1500 * 10)
    assert paper_jobs.protocol_seconds(validated, heads, 1.0, 10.0) == 3 * (2000 + 100 * 10)


def test_a_task_trains_the_selection_and_every_member_alone(paper_jobs, plans):
    lm = plans["paper-lm"].lm
    members = list(plans["paper-lm"].lm_members)
    heads = paper_jobs.task_heads(members, lm["selection"], 0, [])
    methods = [method for method, _, _ in heads]
    k_max, rounds = lm["selection"]["k_max"], lm["selection"]["random_rounds"]
    assert methods.count("mmi") == k_max and methods.count("random") == k_max * rounds
    assert [heads[("single", i, 1)] for i in range(34)] == [[name] for name in members]
    assert len(heads) == k_max + k_max * rounds + 34


def test_lm_words_and_memory_come_from_the_plan(paper_jobs, plans):
    from types import SimpleNamespace

    plan = plans["paper-lm"]
    run = SimpleNamespace(args=SimpleNamespace(words=["semtag=1000"]), memory=[])
    words = paper_jobs.lm_words(run, plan)
    # one count per extraction: the three ancestor tasks read one dataset (their files are not here)
    assert list(words) == ["probe", "chunking", "ner", "pos", "semtag", "ef", "parent"]
    assert words["semtag"] == (1000, "--words") and words["ef"][0] is None
    assert words["parent"] == paper_jobs.PTB_WORDS
    widths = [paper_jobs.PUBLISHED_SHAPES[plan.lm_member_entry(name)["source"]].hidden for name in plan.lm_members]
    paper_jobs.lm_memory(run, plan, widths, words)
    rows = {(job, what.split(":")[0]): gigabytes for _, job, what, gigabytes in run.memory}
    ptb = "lm_probes parent, grandparent, great-grandparent"
    assert rows[(ptb, "features of all members, float32")] == pytest.approx(1_046_829 * 31_488 * 4 / 1e9)
    # the five widest members (3 x 1280 + 2 x 1024 columns) within 35% of the request: about 67 GB
    assert rows[(ptb, "its request")] == pytest.approx(1_046_829 * 5_888 * 4 / 0.35 / 2**20 / 1000, abs=1e-3)
    assert not any("ef" in job for job, _ in rows)

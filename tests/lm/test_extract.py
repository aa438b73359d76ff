"""Word features: sub-word -> word alignment per family, truncation, padding side, files, resume."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from taskspace.errors import TaskspaceError
from taskspace.features import FeatureFile, partial_path
from taskspace.lm.extract import (
    ExtractStats,
    expected_provenance,
    extract_features,
    extract_pass,
    text_hash,
    word_vectors,
)
from taskspace.lm.members import load_member

torch.set_num_threads(1)

MEMBERS = ("bert", "gpt2", "roberta", "bart", "t5", "xlnet", "minilm")
# Slow (Python) tokenizers, aligned word by word: fixtures of their own (tests/lm/test_extract_slow.py).
SLOW_MEMBERS = ("bert_slow", "xlm")


def _keys(items):
    return [tuple(int(x) for x in row) for row in items]


@pytest.mark.parametrize("name", MEMBERS + SLOW_MEMBERS)
def test_word_alignment_matches_a_per_word_reference(
    request, zoo, probe_sentences, reference_word_vectors, collect_windows, name
):
    """Batched, bucketed, vectorised pooling == one sentence at a time with a Python loop over words.

    A small token budget and window force many batches of mixed lengths; max_length 40 truncates the
    long sentences, so kept words next to cut ones are checked as well.
    """
    member = dataclasses.replace(zoo[name] if name in zoo else request.getfixturevalue(name), max_length=40)
    for pooling in ("first", "last", "mean"):
        stats = ExtractStats()
        items, vectors = collect_windows(
            word_vectors(
                member,
                probe_sentences,
                pooling=pooling,
                batch_tokens=200,
                window_words=150,
                stats=stats,
                log_every=None,
            )
        )
        expected = reference_word_vectors(member, probe_sentences, pooling, max_length=40)
        assert _keys(items) == sorted(expected), (name, pooling)
        assert vectors.dtype == np.float32 and vectors.shape == (len(expected), member.width)
        np.testing.assert_allclose(vectors, np.stack([expected[k] for k in _keys(items)]), atol=1e-5, rtol=0)
        assert stats.n_words == sum(len(s) for s in probe_sentences)
        assert stats.n_words_kept + stats.n_words_dropped == stats.n_words
        assert stats.n_words_dropped == stats.n_words - len(expected)
        assert stats.n_words_truncated > 0  # the 45- and 70-word sentences do not fit in 40 tokens


def test_pooling_differs_where_words_have_several_sub_words(zoo, collect_windows):
    member = zoo["minilm"]
    sentence = [["Unbelievably", "catastrophic", "bushfires", "a"]]
    first = collect_windows(word_vectors(member, sentence, pooling="first", log_every=None))[1]
    last = collect_windows(word_vectors(member, sentence, pooling="last", log_every=None))[1]
    mean = collect_windows(word_vectors(member, sentence, pooling="mean", log_every=None))[1]
    assert not np.allclose(first[0], last[0])
    np.testing.assert_array_equal(first[3], last[3])  # "a" is one sub-word
    np.testing.assert_allclose(mean[3], first[3], atol=1e-6)


def test_truncation_drops_cut_words_and_keeps_the_rest(zoo, reference_word_vectors, collect_windows):
    member = dataclasses.replace(zoo["minilm"], max_length=16)
    words = (
        "Hundreds of people have been forced to vacate their homes in the Southern Highlands of New South "
        "Wales as strong winds today pushed a huge bushfire towards the town"
    ).split()
    short = ["A", "short", "one"]
    tokens = member.tokenizer([words], is_split_into_words=True, truncation=True, max_length=16).word_ids(0)
    full = member.tokenizer([words], is_split_into_words=True).word_ids(0)
    complete = [w for w in range(len(words)) if tokens.count(w) == full.count(w) and w in tokens]
    assert 0 < len(complete) < len(words) - 10
    stats = ExtractStats()
    items, vectors = collect_windows(word_vectors(member, [short, words], stats=stats, log_every=None))
    assert _keys(items) == [(0, 0), (0, 1), (0, 2)] + [(1, w) for w in complete]
    assert complete == list(range(len(complete)))  # the words kept are the leading ones
    assert stats.n_words_truncated == stats.n_words_dropped == len(words) - len(complete)
    expected = reference_word_vectors(member, [short, words], "last", max_length=16)
    np.testing.assert_allclose(vectors, np.stack([expected[k] for k in _keys(items)]), atol=1e-5)


def test_words_without_sub_words_and_empty_sentences_are_dropped(zoo, collect_windows):
    stats = ExtractStats()
    sentences = [["a", "\x00", "b"], [], ["c"]]
    items, _ = collect_windows(word_vectors(zoo["minilm"], sentences, stats=stats, log_every=None))
    assert _keys(items) == [(0, 0), (0, 2), (2, 0)]
    assert (stats.n_words_empty, stats.n_words_dropped, stats.n_sentences) == (1, 1, 3)


@pytest.mark.parametrize("name", MEMBERS)
def test_left_and_right_padding_give_the_same_vectors(zoo, probe_sentences, collect_windows, name):
    """Padding side is the family's (XLNet: left); a sentence's vectors never depend on its batch."""
    member = zoo[name]
    left, right = (
        collect_windows(word_vectors(member, probe_sentences, padding_side=side, batch_tokens=400, log_every=None))
        for side in ("left", "right")
    )
    assert _keys(left[0]) == _keys(right[0])
    np.testing.assert_allclose(left[1], right[1], atol=1e-5, rtol=0)


def test_batch_budget_and_windows_do_not_change_results(zoo, probe_sentences, collect_windows):
    member = zoo["xlnet"]
    one = collect_windows(word_vectors(member, probe_sentences, batch_tokens=64, window_words=10, log_every=None))
    many = collect_windows(word_vectors(member, probe_sentences, batch_tokens=100_000, log_every=None))
    assert _keys(one[0]) == _keys(many[0])
    np.testing.assert_allclose(one[1], many[1], atol=1e-5, rtol=0)


def test_feature_file_holds_vectors_items_and_provenance(zoo, probe_sentences, tmp_path):
    member = zoo["gpt2"]
    sets = {"probe": probe_sentences[:12], "train": probe_sentences[12:20], "none": []}
    path = tmp_path / "gpt2.h5"
    stats = extract_features(member, sets, path, dtype="float16", log_every=None)
    with FeatureFile(path) as features:
        prov = features.provenance
        assert prov["member"] == "tiny-gpt2" and prov["source"] == member.spec.source
        assert (prov["revision"], prov["layer"], prov["layer_index"], prov["pooling"]) == ("", -1, 2, "last")
        assert prov["n_words_dropped"] == sum(s.n_words_dropped for s in stats.values())
        assert {"torch_version", "transformers_version", "tokenizers_version", "taskspace_version"} <= set(prov)
        assert len(prov["text_hash"]) == 64
        assert features.sets == ["none", "probe", "train"]
        for name, sentences in sets.items():
            items = features.items(name)
            assert items.dtype == np.int64 and items.shape == (stats[name].n_words_kept, 2)
            assert _keys(items) == sorted(_keys(items))  # (sentence, word) order, for aligned reading
            assert features.vectors(name).dtype == np.float16
            assert features.width(name) == member.width
            attrs = features.h5[name].attrs
            assert attrs["text_hash"] == text_hash(sentences)
            assert attrs["n_words_dropped"] == stats[name].n_words_dropped
        # A rule can tell a stale file from the config alone, without loading the model.
        entry = {"name": "tiny-gpt2", "source": member.spec.source}
        features.check_provenance(expected_provenance(entry, sets))
        with pytest.raises(TaskspaceError, match="pooling is 'last', expected 'mean'"):
            features.check_provenance(expected_provenance({**entry, "pooling": "mean"}, sets))
        with pytest.raises(TaskspaceError, match="text_hash"):
            features.check_provenance(expected_provenance(entry, {**sets, "none": [["x"]]}))
    assert not partial_path(path).exists()


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_one_pass_writes_what_each_member_writes_alone(zoo, probe_sentences, tmp_path, name):
    """Members of one checkpoint at several layers and poolings share one forward pass a batch; each file equals
    the member's own extraction, vectors and provenance."""
    loaded = zoo[name]
    entry = dataclasses.asdict(loaded.spec)
    members = [
        loaded.for_member({**entry, "name": "top-last"}),
        loaded.for_member({**entry, "name": "l1-first", "layer": 1, "pooling": "first"}),
        loaded.for_member({**entry, "name": "l0-mean", "layer": 0, "pooling": "mean"}),
    ]
    sets = {"probe": probe_sentences, "test": probe_sentences[:7]}
    shared = [tmp_path / f"pass-{member.name}.h5" for member in members]
    pass_stats = extract_pass(members, sets, shared, batch_tokens=300, log_every=None)
    for member, path in zip(members, shared):
        alone = tmp_path / f"alone-{member.name}.h5"
        alone_stats = extract_features(member, sets, alone, batch_tokens=300, log_every=None)
        assert {k: counts(v) for k, v in alone_stats.items()} == {k: counts(v) for k, v in pass_stats.items()}
        with FeatureFile(path) as got, FeatureFile(alone) as want:
            assert got.provenance == want.provenance
            for set_name in sets:
                assert np.array_equal(got.items(set_name), want.items(set_name))
                assert np.array_equal(got.vectors(set_name)[()], want.vectors(set_name)[()]), (member.name, set_name)
    # the layers and poolings differ, so the files do
    with FeatureFile(shared[0]) as top, FeatureFile(shared[1]) as first:
        assert not np.array_equal(top.vectors("probe")[()], first.vectors("probe")[()])


def counts(stats: ExtractStats) -> dict:
    """The word and token counts, without the seconds."""
    return {k: v for k, v in dataclasses.asdict(stats).items() if k != "seconds"}


def test_a_pass_is_one_checkpoint_and_layers_stay_in_range(zoo):
    loaded = zoo["bert"]
    entry = dataclasses.asdict(loaded.spec)
    with pytest.raises(TaskspaceError, match=r"^members tiny-bert, other: not one pass"):
        loaded.for_member({**entry, "name": "other", "source": str(zoo["gpt2"].spec.source)})
    with pytest.raises(TaskspaceError, match=r"^member deep: layer 9 is out of range: the model has 2 layers"):
        loaded.for_member({**entry, "name": "deep", "layer": 9})
    assert loaded.for_member({**entry, "name": "l-1", "layer": -2}).layer_index == loaded.n_layers - 1


def test_text_hash_sees_words_and_boundaries():
    assert text_hash([["a", "b"], ["c"]]) != text_hash([["a"], ["b", "c"]])
    assert text_hash([["a", "b"]]) != text_hash([["a b"]])
    assert text_hash([["a", "b"]]) == text_hash([("a", "b")])


def test_non_finite_features_name_the_member_and_leave_no_file(zoo, probe_sentences, tmp_path, monkeypatch):
    member = dataclasses.replace(zoo["bert"])
    real = member.read_layer

    def broken(out):
        hidden = real(out).clone()
        hidden[0, :, :3] = float("nan")  # every word of the batch's first sentence
        return hidden

    monkeypatch.setattr(member, "read_layer", broken)
    path = tmp_path / "nan.h5"
    with pytest.raises(TaskspaceError, match=r"member tiny-bert: \d+ feature values are NaN or Inf"):
        extract_features(member, {"probe": probe_sentences}, path, log_every=None)
    assert not path.exists() and not partial_path(path).exists()


def test_progress_is_logged(zoo, probe_sentences, caplog):
    with caplog.at_level("INFO", logger="taskspace.lm.extract"):
        list(word_vectors(zoo["t5"], probe_sentences, window_words=50, log_every=0.0, label="t5/probe"))
    # One line format for every long job (taskspace.progress): sentences done, their rate, words/s, ETA.
    line = re.compile(
        rf"^t5/probe: \d+/{len(probe_sentences)} sentences, [\d.e-]+ sentences/s, \d+ words/s, \d+ words dropped, "
        r"ETA \d+m\d\ds$"
    )
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("t5/probe:")]
    assert lines and all(line.match(text) for text in lines), lines
    assert lines[-1].startswith(f"t5/probe: {len(probe_sentences)}/{len(probe_sentences)} sentences")


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from taskspace.features import FeatureWriter
    from taskspace.lm.extract import extract_features
    from taskspace.lm.members import load_member

    member = load_member({"name": "tiny-roberta", "source": sys.argv[1]})
    sentences = [line.split()[:20] for line in open(sys.argv[3]).read().splitlines() if line.strip()]
    append = FeatureWriter.append
    calls = []

    def append_then_die(self, *args, **kwargs):
        append(self, *args, **kwargs)
        self.h5.flush()
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # as a cluster's OOM killer or scancel -9 would

    FeatureWriter.append = append_then_die
    extract_features(member, {"probe": sentences}, sys.argv[2], window_words=60, log_every=None)
    """
)


def test_killed_extraction_leaves_no_finished_file_and_reruns_cleanly(tmp_path, tiny_member_dir, zoo):
    text = tmp_path / "text.txt"
    lines = [" ".join(f"w{i}x{j}" for j in range(i % 7 + 3)) for i in range(40)]
    text.write_text("\n".join(lines))
    target = tmp_path / "features" / "roberta.h5"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(tiny_member_dir / "roberta"), str(target), str(text)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not target.exists()
    assert partial_path(target).exists()  # what the killed job left behind
    with pytest.raises(TaskspaceError):
        FeatureFile(partial_path(target))  # and it does not pass for a finished file

    sentences = [line.split()[:20] for line in lines]
    extract_features(zoo["roberta"], {"probe": sentences}, target, log_every=None)  # the rerun
    assert not partial_path(target).exists()
    clean = tmp_path / "clean.h5"
    extract_features(zoo["roberta"], {"probe": sentences}, clean, log_every=None)
    with FeatureFile(target) as resumed, FeatureFile(clean) as fresh:
        np.testing.assert_array_equal(resumed.items("probe"), fresh.items("probe"))
        np.testing.assert_array_equal(resumed.vectors("probe")[()], fresh.vectors("probe")[()])
        assert resumed.provenance == fresh.provenance


def test_float32_and_bfloat16_features_agree_on_cpu_and_the_file_records_the_precision(
    tiny_member_dir, minilm_dir, probe_sentences, tmp_path
):
    """lm.extraction.precision: bfloat16 weights and computation on the CPU give the float32 features
    within bfloat16's rounding; each file records the type used and the setting."""
    sets = {"probe": probe_sentences[:12]}
    for name, source in (("tiny-t5", tiny_member_dir / "t5"), ("minilm", minilm_dir)):
        files = {}
        for precision in ("auto", "float32", "bfloat16"):
            member = load_member({"name": name, "source": str(source)}, device="cpu", precision=precision)
            files[precision] = tmp_path / f"{name}-{precision}.h5"
            extract_features(member, sets, files[precision], log_every=None)
        with (
            FeatureFile(files["float32"]) as full,
            FeatureFile(files["bfloat16"]) as half,
            FeatureFile(files["auto"]) as auto,
        ):
            assert (full.provenance["precision"], full.provenance["precision_setting"]) == ("float32", "float32")
            assert (half.provenance["precision"], half.provenance["precision_setting"]) == ("bfloat16", "bfloat16")
            assert (auto.provenance["precision"], auto.provenance["precision_setting"]) == ("float32", "auto")
            np.testing.assert_array_equal(full.items("probe"), half.items("probe"))
            x, y = full.vectors("probe")[()], half.vectors("probe")[()]
            np.testing.assert_array_equal(x, auto.vectors("probe")[()])  # auto is float32 on the CPU
        assert not np.array_equal(x, y)
        cosine = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
        assert cosine.min() > 0.99, (name, cosine.min())
        assert np.linalg.norm(x - y) / np.linalg.norm(x) < 0.05, name


def test_a_member_without_a_maximum_length_is_never_cut(
    tiny_member_dir, reference_word_vectors, collect_windows, tmp_path
):
    """As the paper's truncation=True with no tokenizer limit (XLNet): a sentence past 128 tokens stays whole."""
    import json
    import shutil

    folder = shutil.copytree(tiny_member_dir / "xlnet", tmp_path / "xlnet")
    settings = json.loads((folder / "tokenizer_config.json").read_text())
    settings.pop("model_max_length", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(settings))
    member = load_member({"name": "tiny-xlnet", "source": str(folder)})
    assert member.max_length is None
    long = (
        "Hundreds of people have been forced to vacate their homes in the Southern Highlands of New South "
        "Wales as strong winds today pushed a huge bushfire towards the town"
    ).split() * 8
    assert len(member.tokenizer([long], is_split_into_words=True).input_ids[0]) > 128  # the table-less limit
    stats = ExtractStats()
    items, vectors = collect_windows(word_vectors(member, [long, ["A", "short", "one"]], stats=stats, log_every=None))
    assert _keys(items) == [(0, w) for w in range(len(long))] + [(1, 0), (1, 1), (1, 2)]
    assert stats.n_words_truncated == stats.n_words_dropped == 0
    expected = reference_word_vectors(member, [long, ["A", "short", "one"]], "last")
    np.testing.assert_allclose(vectors, np.stack([expected[k] for k in _keys(items)]), atol=1e-5)
    extract_features(member, {"probe": [long]}, tmp_path / "x.h5", log_every=None)
    with FeatureFile(tmp_path / "x.h5") as features:
        assert features.provenance["max_length"] == 0 and features.provenance["n_words_truncated"] == 0

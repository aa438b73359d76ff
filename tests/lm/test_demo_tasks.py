"""Demo tasks derived from probe text: bigram shift and random-word replacement detection."""

import numpy as np
import pytest

from taskspace.errors import TaskspaceError
from taskspace.lm import demo_tasks
from taskspace.lm.tasks import task_spec

SENTENCES = [f"the quick brown fox number {i} jumps over the lazy dog today".split() for i in range(60)]


def test_bigram_shift_swaps_one_adjacent_pair_and_labels_it():
    rng = np.random.default_rng(0)
    words, labels = demo_tasks.bigram_shift(SENTENCES, rng, perturb_prob=1.0)
    for original, new, tags in zip(SENTENCES, words, labels):
        changed = [j for j, (a, b) in enumerate(zip(original, new)) if a != b]
        assert len(changed) == 2 and changed[1] == changed[0] + 1
        i = changed[0]
        assert new[i] == original[i + 1] and new[i + 1] == original[i]
        assert [j for j, t in enumerate(tags) if t == "SWAP"] == changed
        assert sorted(new) == sorted(original)


def test_bigram_shift_never_swaps_equal_words():
    words, labels = demo_tasks.bigram_shift([["a", "a", "a"], ["b", "b", "c"]], np.random.default_rng(1), 1.0)
    assert words[0] == ["a", "a", "a"] and labels[0] == ["O", "O", "O"]
    assert words[1] == ["b", "c", "b"] and labels[1] == ["O", "SWAP", "SWAP"]


def test_word_replacement_labels_exactly_the_replaced_words():
    vocab = ["alpha", "beta", "gamma", "the"]
    rng = np.random.default_rng(3)
    words, labels = demo_tasks.word_replacement(SENTENCES, vocab, rng, perturb_prob=1.0, replace_rate=0.25)
    for original, new, tags in zip(SENTENCES, words, labels):
        replaced = [j for j, t in enumerate(tags) if t == "REPL"]
        assert len(replaced) == round(0.25 * len(original))  # 11 words -> 3
        assert replaced == [j for j, (a, b) in enumerate(zip(original, new)) if a != b]
        assert all(new[j] in vocab for j in replaced)


def test_make_demo_task_splits_are_seeded_disjoint_and_half_perturbed():
    splits = demo_tasks.make_demo_task(SENTENCES, "bigram_shift", seed=7)
    assert [len(splits[name]) for name in ("train", "dev", "test")] == [36, 12, 12]
    again = demo_tasks.make_demo_task(SENTENCES, "bigram_shift", seed=7)
    assert all(splits[n].sentences == again[n].sentences and splits[n].labels == again[n].labels for n in splits)
    other = demo_tasks.make_demo_task(SENTENCES, "bigram_shift", seed=8)
    assert other["train"].labels != splits["train"].labels
    # every source sentence is unique by its number word, so splits must not share a number
    numbers = {n: {w for s in splits[n].sentences for w in s if w.isdigit()} for n in splits}
    assert sum(map(len, numbers.values())) == 60
    assert not (
        numbers["train"] & numbers["dev"] or numbers["train"] & numbers["test"] or numbers["dev"] & numbers["test"]
    )
    perturbed = sum("SWAP" in labels for split in splits.values() for labels in split.labels)
    assert 15 <= perturbed <= 45  # about half of 60


def test_demo_task_round_trips_through_conllx_reader(tmp_path):
    splits = demo_tasks.make_demo_task(SENTENCES, "word_replacement", seed=0)
    paths = {name: str(tmp_path / f"{name}.conllx") for name in splits}
    demo_tasks.write_demo_task(splits, paths)
    spec = task_spec("word_replacement")
    for name, split in splits.items():
        back = spec.read(paths[name])
        assert back.sentences == split.sentences and back.labels == split.labels
    gold = splits["test"].labels
    assert spec.metric(gold, gold) == 1.0
    assert spec.metric(gold, [["O"] * len(s) for s in gold]) == 0.0


def test_demo_task_errors():
    with pytest.raises(TaskspaceError, match="'shuffle' is not one of"):
        demo_tasks.make_demo_task(SENTENCES, "shuffle", seed=0)
    with pytest.raises(TaskspaceError, match="at least 3 sentences"):
        demo_tasks.make_demo_task(SENTENCES[:2], "bigram_shift", seed=0)

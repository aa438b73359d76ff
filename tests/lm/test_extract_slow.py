"""Word features from slow (Python) tokenizers, which have no word_ids(): XLM's, and BERT's slow one.

Such a tokenizer is aligned word by word; BERT exists in both forms, so its slow features must be the
fast ones, and XLM (BPE with "</w>" word ends, Moses before it) must match a per-word reference.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from taskspace.errors import TaskspaceError
from taskspace.features import FeatureFile
from taskspace.lm.extract import ExtractStats, encode, extract_features, word_vectors

torch.set_num_threads(1)

SLOW = ("bert_slow", "xlm")


def _keys(items):
    return [tuple(int(x) for x in row) for row in items]


def _counts(stats):
    return {k: v for k, v in dataclasses.asdict(stats).items() if k != "seconds"}


@pytest.mark.parametrize("truncation_side", ["right", "left"])
def test_slow_tokenizer_gives_the_fast_tokenizers_features(
    zoo, bert_slow, probe_sentences, collect_windows, truncation_side
):
    """Same vocabulary, slow or fast: the same tokens, word indices, dropped words and vectors.

    max_length 40 truncates the long sentences (on either side), and the probe has a word that BERT turns
    into nothing.
    """
    members = {}
    for name, member in (("fast", zoo["bert"]), ("slow", bert_slow)):
        tokenizer = copy.deepcopy(member.tokenizer)
        tokenizer.truncation_side = truncation_side
        members[name] = dataclasses.replace(member, tokenizer=tokenizer, max_length=40)
    assert not members["slow"].tokenizer.is_fast and members["fast"].tokenizer.is_fast
    fast, slow = (encode(members[name], probe_sentences) for name in ("fast", "slow"))
    for field in ("ids", "word_ids", "offsets", "n_words"):
        np.testing.assert_array_equal(getattr(slow, field), getattr(fast, field), err_msg=field)
    for pooling in ("first", "last", "mean"):
        out, stats = {}, {}
        for name, member in members.items():
            stats[name] = ExtractStats()
            out[name] = collect_windows(
                word_vectors(
                    member,
                    probe_sentences,
                    pooling=pooling,
                    batch_tokens=200,
                    window_words=150,
                    stats=stats[name],
                    log_every=None,
                )
            )
        assert _keys(out["slow"][0]) == _keys(out["fast"][0]), pooling
        assert _counts(stats["slow"]) == _counts(stats["fast"]), pooling
        assert stats["slow"].n_words_truncated > 0 and stats["slow"].n_words_empty == 1
        np.testing.assert_allclose(out["slow"][1], out["fast"][1], atol=1e-6, rtol=0)
    if truncation_side == "left":  # the 70-word sentence keeps its last words
        kept = {w for s, w in _keys(out["slow"][0]) if s == 6}
        assert len(probe_sentences[6]) - 1 in kept and 0 not in kept


@pytest.mark.parametrize("name", SLOW)
def test_slow_path_tokenises_as_the_tokenizer_does(request, probe_sentences, tokens_and_words, name):
    """Word by word, the tokens and specials are the tokenizer's own for the whole sentence."""
    member = dataclasses.replace(request.getfixturevalue(name), max_length=40)
    encoded = encode(member, probe_sentences)
    for i, words in enumerate(probe_sentences):
        tokens = encoded.ids[encoded.offsets[i] : encoded.offsets[i + 1]].tolist()
        if not words:
            assert tokens == []
            continue
        own, kept = tokens_and_words(member.tokenizer, words, truncation=True, max_length=40)
        full = tokens_and_words(member.tokenizer, words)[1]
        assert tokens == own["input_ids"][0].tolist(), (name, i)
        # Every token belongs to the word the tokenizer says, but a word cut in part is no word (-1).
        cut = {w for w in kept if w is not None and kept.count(w) < full.count(w)}
        expected = [-1 if w is None or w in cut else w for w in kept]
        assert encoded.word_ids[encoded.offsets[i] : encoded.offsets[i + 1]].tolist() == expected, (name, i)


def test_xlm_words_are_its_moses_and_bpe_words(xlm):
    """Each word is tokenised on its own, so its sub-words end where the word ends (BPE's "</w>").

    Moses splits "Sydney's" in two, and both halves belong to the word.
    """
    words = ["bushfires", "unbelievably", ",", "Sydney's", "\x00", "a"]
    encoded = encode(xlm, [words])
    tokens = xlm.tokenizer.convert_ids_to_tokens(encoded.ids.tolist())
    assert (tokens[0], tokens[-1]) == ("<s>", "</s>")
    pieces = {w: [t for t, owner in zip(tokens, encoded.word_ids) if owner == w] for w in range(len(words))}
    for w in (0, 1, 2, 5):
        assert [p.endswith("</w>") for p in pieces[w]] == [False] * (len(pieces[w]) - 1) + [True], pieces[w]
    assert sum(p.endswith("</w>") for p in pieces[3]) == 2 and pieces[3][-1] == "'s</w>", pieces[3]
    assert pieces[4] == []  # a control character is no word


def test_xlm_member_extracts_end_to_end(xlm_dir, probe_sentences, tmp_path):
    """From the checkpoint folder to a feature file: one vector per word, dropped words counted."""
    from taskspace.lm.members import load_member

    member = load_member({"name": "tiny-xlm", "source": str(xlm_dir), "max_length": 40, "pooling": "mean"})
    assert type(member.tokenizer).__name__ == "XLMTokenizer" and not member.tokenizer.is_fast
    sets = {"probe": probe_sentences[:20], "train": probe_sentences[20:]}
    stats = extract_features(member, sets, tmp_path / "xlm.h5", log_every=None)
    with FeatureFile(tmp_path / "xlm.h5") as features:
        assert features.provenance["member"] == "tiny-xlm"
        for name, sentences in sets.items():
            items = _keys(features.items(name))
            everything = [(s, w) for s, words in enumerate(sentences) for w in range(len(words))]
            assert set(items) <= set(everything) and items == sorted(items)
            assert len(items) == stats[name].n_words_kept == len(everything) - stats[name].n_words_dropped
            vectors = features.vectors(name)[()]
            assert vectors.shape == (len(items), member.width) and np.isfinite(vectors).all()
            assert features.h5[name].attrs["n_words_dropped"] == stats[name].n_words_dropped
        assert stats["probe"].n_words_truncated > 0


def test_a_special_tokens_mask_that_does_not_fit_the_layout_is_refused(bert_slow):
    """Sub-words are told from specials by the tokenizer's mask; one that does not fit would misalign."""
    tokenizer = copy.deepcopy(bert_slow.tokenizer)
    tokenizer.get_special_tokens_mask = lambda ids: [0] * (len(ids) + 2)  # says [CLS] and [SEP] are words
    member = dataclasses.replace(bert_slow, tokenizer=tokenizer)
    with pytest.raises(
        TaskspaceError,
        match="member tiny-bert-slow: BertTokenizerLegacy's special tokens mask does not match the specials it adds",
    ):
        encode(member, [["Fire", "near", "Sydney"]])

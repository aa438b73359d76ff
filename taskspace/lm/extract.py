"""Word features: sentences (lists of words) -> one vector per word, from a loaded zoo member, or from the
members of one pass (one checkpoint at several layers or poolings) at once, one forward pass a batch.

The pipeline, per window of sentences (a bounded number of words, so memory stays flat):

1. tokenise the window once with the fast tokenizer (``is_split_into_words=True``) and keep each
   sub-word's word index (``word_ids()``) as one flat integer array; a slow (Python) tokenizer, which has
   no ``word_ids()`` (XLM's), tokenises word by word and the word indices are counted as it goes;
2. sentences longer than the member's maximum length are re-tokenised with truncation; a word whose
   sub-words are not all kept is dropped (counted in ``n_words_dropped``), the words before it are kept.
   A member without a maximum (no tokenizer limit, no position table: XLNet) is never cut, as in the
   paper's ``LMs/data.py`` (see :mod:`taskspace.lm.members`);
3. sort the window's sentences by length and cut batches by a token budget (padded batch size x length),
   so little compute goes to padding;
4. one forward pass per batch (for all members of a pass) under ``torch.inference_mode``, in the member's precision
   (``lm.extraction.precision``; ``auto``: half on CUDA, float32 on the CPU; the paper's is float32);
5. pool sub-word vectors into word vectors (first, last or mean sub-word) with index arithmetic on the
   whole batch: no Python loop over words;
6. restore (sentence, word) order and append to the feature file.

Item keys are (sentence index, word index) with int64 entries, counted from 0 within each set. The file
records the precision the vectors were computed in (attribute ``precision``: float32, float16 or bfloat16;
``precision_setting``: the config's value, e.g. auto) and ``max_length`` (0: no maximum, never cut).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import TaskspaceError
from ..features import FeatureWriter
from ..progress import Progress
from ..provenance import library_versions

log = logging.getLogger(__name__)

DEFAULT_BATCH_TOKENS = {"cpu": 4096, "cuda": 65536}
DEFAULT_WINDOW_WORDS = 32768
MAX_BATCH_SENTENCES = 512
# Whose versions a feature file records (taskspace's too), as <library>_version attributes.
LIBRARIES = ("torch", "transformers", "tokenizers")
# What a feature file records of each set's words (ExtractStats' counts).
SET_COUNTS = ("n_sentences", "n_words", "n_words_kept", "n_words_dropped", "n_words_truncated", "n_words_empty")


@dataclass
class ExtractStats:
    """What happened to the words of one set."""

    n_sentences: int = 0
    n_words: int = 0
    n_words_kept: int = 0
    n_words_dropped: int = 0  # truncated by the maximum length, or no sub-words at all
    n_words_truncated: int = 0
    n_words_empty: int = 0  # words the tokenizer turned into nothing (e.g. control characters)
    n_tokens: int = 0
    n_padded_tokens: int = 0
    seconds: float = 0.0

    def add(self, other: ExtractStats) -> None:
        for key in self.__dataclass_fields__:
            setattr(self, key, getattr(self, key) + getattr(other, key))


@dataclass
class Batch:
    """A padded batch of token ids and where each sub-word's word sits."""

    sentences: np.ndarray  # (B,) sentence index within the set
    input_ids: np.ndarray  # (B, T)
    attention_mask: np.ndarray  # (B, T)
    word_ids: np.ndarray  # (B, T) word index within its sentence; -1 for specials, padding, dropped words
    token_type_ids: np.ndarray | None = None
    n_words: np.ndarray = field(default=None)  # (B,) words in each sentence (for unique keys)
    padding_side: str = "right"


def text_hash(sentences: Sequence[Sequence[str]]) -> str:
    """SHA-256 of the words and sentence boundaries: the provenance of a feature set's text."""
    digest = hashlib.sha256()
    for words in sentences:
        digest.update("\x1f".join(words).encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()


def sets_hash(sets: Mapping[str, Sequence[Sequence[str]]]) -> str:
    """One hash over named sets of sentences (the file-level ``text_hash``)."""
    return hashlib.sha256("".join(f"{name}={text_hash(s)};" for name, s in sets.items()).encode()).hexdigest()


def expected_provenance(entry, sets: Mapping[str, Sequence[Sequence[str]]]) -> dict:
    """What a feature file made from this member entry and text must record, without loading the model.

    For ``FeatureFile.check_provenance``: a file made for another member, layer, pooling or text is stale.
    """
    from .members import MemberSpec

    spec = MemberSpec.from_entry(entry)
    return {
        "member": spec.name,
        "source": spec.source,
        "revision": spec.revision or "",
        "layer": spec.layer,
        "pooling": spec.pooling,
        "text_hash": sets_hash(sets),
    }


def provenance(member, sets: Mapping[str, Sequence[Sequence[str]]]) -> dict:
    """The attributes a feature file records before extraction (counts are added when it finishes).

    ``precision``: the dtype the vectors were computed in; ``precision_setting``: the config's value
    (``auto`` resolves by device); ``max_length``: 0 when the member has no maximum (never cut).
    """
    return {
        **expected_provenance(member.spec, sets),
        "commit": str(member.commit or ""),
        "layer_index": member.layer_index,
        "n_layers": member.n_layers,
        "stack": member.stack,
        "max_length": member.max_length or 0,
        "precision": str(member.dtype).replace("torch.", ""),
        "precision_setting": member.precision,
        **library_versions(*LIBRARIES),
    }


def extract_features(member, sets: Mapping[str, Sequence[Sequence[str]]], path, **options) -> dict[str, ExtractStats]:
    """Embed every word of every set and write one feature file at ``path`` (:func:`extract_pass` for one
    member). Returns the statistics per set."""
    return extract_pass([member], sets, [path], **options)


def extract_pass(
    members: Sequence,
    sets: Mapping[str, Sequence[Sequence[str]]],
    paths: Sequence,
    *,
    dtype: str = "float32",
    batch_tokens: int | None = None,
    window_words: int = DEFAULT_WINDOW_WORDS,
    log_every: float = 30.0,
) -> dict[str, ExtractStats]:
    """The members of one pass (one loaded checkpoint at several layers or poolings,
    :meth:`~taskspace.lm.members.LoadedMember.for_member`) embed every word of every set from one forward pass
    a batch; each member's vectors go to its feature file in ``paths``.

    ``sets`` maps a set name (``probe``, ``train``, ...) to its sentences, each a list of words. Each file is
    written under a partial name and moved into place only when complete (a killed job leaves no
    finished-looking file, and a rerun starts over cleanly). Provenance: member, source, revision, layer,
    pooling, text hash, dropped-word counts (file total and per set) and library versions. The members share
    tokenisation, so the statistics (returned per set) are the same for all of them.
    """
    if len(members) != len(paths):
        raise ValueError(f"{len(members)} members but {len(paths)} feature files")
    stats = {}
    with ExitStack() as files:
        writers = [
            files.enter_context(FeatureWriter(p, provenance(m, sets), dtype=dtype)) for m, p in zip(members, paths)
        ]
        for set_name, sentences in sets.items():
            set_stats = ExtractStats()
            wrote = False
            for items, vectors in pass_word_vectors(
                members,
                sentences,
                batch_tokens=batch_tokens,
                window_words=window_words,
                stats=set_stats,
                log_every=log_every,
                label=f"{members[0].name}/{set_name}",
            ):
                for writer, member_vectors in zip(writers, vectors):
                    writer.append(set_name, items, member_vectors)
                wrote = True
            for writer, member in zip(writers, members):
                if not wrote:  # every word dropped, or no sentences: an empty set, not a missing one
                    writer.append(set_name, np.zeros((0, 2), np.int64), np.zeros((0, member.width), np.float32))
                group = writer.h5[set_name]
                group.attrs["text_hash"] = text_hash(sentences)
                for key in SET_COUNTS:
                    group.attrs[key] = getattr(set_stats, key)
            stats[set_name] = set_stats
        total = ExtractStats()
        for s in stats.values():
            total.add(s)
        for writer in writers:
            for key in ("n_words_dropped", "n_words_truncated", "n_words_empty"):
                writer.h5.attrs[key] = getattr(total, key)
    return stats


def word_vectors(member, sentences: Sequence[Sequence[str]], *, pooling: str | None = None, **options):
    """Yield (items, vectors) window by window, in (sentence, word) order, for one member
    (:func:`pass_word_vectors`); ``pooling`` overrides the member's."""
    if pooling is not None:
        member = replace(member, spec=replace(member.spec, pooling=pooling))
    for items, (vectors,) in pass_word_vectors([member], sentences, **options):
        yield items, vectors


def pass_word_vectors(
    members: Sequence,
    sentences: Sequence[Sequence[str]],
    *,
    batch_tokens: int | None = None,
    window_words: int = DEFAULT_WINDOW_WORDS,
    padding_side: str | None = None,
    stats: ExtractStats | None = None,
    log_every: float = 30.0,
    label: str | None = None,
) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """Yield (items, [vectors of each member]) window by window, in (sentence, word) order, from one forward
    pass a batch for all members of one pass.

    items: int64 (n, 2) of (sentence index, word index); vectors: float32 (n, width). Words cut off by
    the maximum length, and words with no sub-words, are left out and counted in ``stats``.
    ``padding_side`` overrides the tokenizer's (tests use it; the family's own side is the default).
    """
    import torch

    from .members import pass_hidden

    for member in members:
        if member.spec.pooling not in ("first", "last", "mean"):
            raise TaskspaceError(
                f"member {member.name}: pooling {member.spec.pooling!r} is not one of first, last, mean"
            )
    first = members[0]
    batch_tokens = batch_tokens or DEFAULT_BATCH_TOKENS.get(first.device, 4096)
    padding_side = padding_side or first.tokenizer.padding_side
    if first.stack == "decoder":
        # A decoder reads the sentence shifted right behind a start token: padding must come after it.
        padding_side = "right"
    stats = stats if stats is not None else ExtractStats()
    progress = Progress(log, label or first.name, len(sentences), "sentences", log_every)
    n_bad = np.zeros(len(members), dtype=np.int64)
    for start, stop in _windows(sentences, window_words):
        t0 = time.perf_counter()
        window = sentences[start:stop]
        encoded = encode(first, window, stats)
        keys, parts = [], [[] for _ in members]
        with torch.inference_mode():
            for batch in batches(encoded, batch_tokens, padding_side, first.tokenizer):
                stats.n_padded_tokens += batch.input_ids.size
                for m, (member, hidden) in enumerate(zip(members, pass_hidden(members, _to_device(first, batch)))):
                    items, vectors = pool(hidden, batch, member.spec.pooling)
                    n_bad[m] += int((~torch.isfinite(vectors)).sum())
                    parts[m].append(vectors.float().cpu().numpy())
                keys.append(items)
        for member, bad in zip(members, n_bad):
            if bad:
                dtype = str(member.dtype).replace("torch.", "")
                hint = "; compute it in float32 or bfloat16 (lm.extraction.precision)" if dtype == "float16" else ""
                raise TaskspaceError(
                    f"member {member.name}: {bad} feature values are NaN or Inf (computed in {dtype}){hint}"
                )
        if keys:
            items = np.concatenate(keys)
            items[:, 0] += start
            order = np.lexsort((items[:, 1], items[:, 0]))
            stats.n_words_kept += len(order)
            yield items[order], [np.concatenate(part)[order] for part in parts]
        stats.seconds += time.perf_counter() - t0
        progress.update(stop, lambda elapsed: _words_line(stats, elapsed))


@dataclass
class Encoded:
    """A window's sub-words, flat: ``ids[offsets[i]:offsets[i+1]]`` are sentence i's tokens."""

    ids: np.ndarray
    word_ids: np.ndarray  # -1 for specials and for sub-words of dropped words
    type_ids: np.ndarray | None
    offsets: np.ndarray  # (n + 1,)
    n_words: np.ndarray  # (n,)


def encode(member, sentences: Sequence[Sequence[str]], stats: ExtractStats | None = None) -> Encoded:
    """Tokenise sentences (lists of words); truncate the overlong ones, dropping cut words."""
    tokenizer = member.tokenizer
    stats = stats if stats is not None else ExtractStats()
    want_types = "token_type_ids" in member.input_names
    sentences = [list(words) for words in sentences]
    n_words = np.fromiter((len(w) for w in sentences), dtype=np.int64, count=len(sentences))
    stats.n_sentences += len(sentences)
    stats.n_words += int(n_words.sum())
    # Empty sentences have nothing to embed, and the tokenizer refuses them as pre-split input.
    present = np.flatnonzero(n_words > 0)
    if tokenizer.is_fast:
        encodings, lengths, truncated = _tokenize_window(tokenizer, sentences, present, member.max_length)
    else:
        encodings, lengths, truncated = _tokenize_word_by_word(member, sentences, present)
    offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    chain = itertools.chain.from_iterable
    used = [e for e in encodings if e is not None]
    ids = np.fromiter(chain(e.ids for e in used), dtype=np.int64, count=int(offsets[-1]))
    # word_ids hold None for specials: as float, None becomes NaN, then -1.
    word_ids = np.array(list(chain(e.word_ids for e in used)), dtype=np.float64)
    word_ids = np.where(np.isnan(word_ids), -1, word_ids).astype(np.int64)
    type_ids = np.fromiter(chain(e.type_ids for e in used), dtype=np.int64, count=len(ids)) if want_types else None

    n_truncated = 0
    for i, (full, _cut) in truncated.items():
        full_counts = np.bincount([w for w in full.word_ids if w is not None], minlength=n_words[i])
        cut_ids = word_ids[offsets[i] : offsets[i + 1]]  # a view: edits below reach word_ids
        cut_counts = np.bincount(cut_ids[cut_ids >= 0], minlength=n_words[i])
        partial = (cut_counts != full_counts) & (full_counts > 0)  # cut in part or entirely
        n_truncated += int(partial.sum())
        cut_ids[partial[np.maximum(cut_ids, 0)] & (cut_ids >= 0)] = -1  # a half-kept word is no word
    # Every word that no kept sub-word points to is dropped: truncated ones (counted above), and the
    # rest, which the tokenizer turned into nothing at all.
    valid = word_ids >= 0
    sentence_of = np.repeat(np.arange(len(sentences)), lengths)
    base = np.zeros(len(sentences) + 1, dtype=np.int64)
    np.cumsum(n_words, out=base[1:])
    seen = np.zeros(int(base[-1]), dtype=bool)
    seen[base[sentence_of[valid]] + word_ids[valid]] = True
    n_empty = int((~seen).sum()) - n_truncated
    stats.n_words_empty += n_empty
    stats.n_words_truncated += n_truncated
    stats.n_words_dropped += n_empty + n_truncated
    stats.n_tokens += len(ids)
    return Encoded(ids, word_ids, type_ids, offsets, n_words)


def _tokenize_window(tokenizer, sentences, present, max_length: int):
    """Tokenise with a fast tokenizer: encodings (None for empty sentences), their lengths, truncated ones.

    The truncated ones map a sentence to its (untruncated, truncated) encodings.
    """

    def encode(rows, **truncation):
        words = [sentences[i] for i in rows]
        return tokenizer(
            words, is_split_into_words=True, add_special_tokens=True, verbose=False, **truncation
        ).encodings

    encodings = [None] * len(sentences)
    if len(present):
        for i, encoding in zip(present, encode(present, truncation=False)):
            encodings[i] = encoding
    lengths = np.array([len(e.ids) if e is not None else 0 for e in encodings], dtype=np.int64)
    # No maximum (None): nothing is cut, as the paper's tokenizer call left such members whole.
    long = np.flatnonzero(lengths > max_length) if max_length is not None else np.zeros(0, np.int64)
    truncated = {}
    if len(long):
        # Only overlong sentences are tokenised twice; the tokenizer puts the specials where the family
        # wants them (XLNet's go at the end) and drops sub-words from the end.
        for i, encoding in zip(long, encode(long, truncation=True, max_length=max_length)):
            truncated[i] = (encodings[i], encoding)
            encodings[i] = encoding
        lengths[long] = [len(encodings[i].ids) for i in long]
    return encodings, lengths, truncated


@dataclass
class _WordEncoding:
    """The part of a fast tokenizer's ``Encoding`` that :func:`encode` reads, built for a slow tokenizer."""

    ids: list
    word_ids: list  # None for specials
    type_ids: list


def _tokenize_word_by_word(member, sentences, present):
    """Like :func:`_tokenize_window`, for a slow (Python) tokenizer, which has no ``word_ids()``.

    Each word is tokenised on its own, as the tokenizer itself does with pre-split words, so its sub-words
    are its own: XLM's BPE ends every word with "</w>", SentencePiece starts every word with "▁". The
    tokenizer's own methods then add the specials and token types. An overlong sentence loses sub-words
    from the end (from the start for a tokenizer that truncates on the left), as a fast tokenizer's does.
    """
    tokenizer = member.tokenizer
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    room = max(0, member.max_length - specials) if member.max_length is not None else None
    left = tokenizer.truncation_side == "left"
    sub_words = {}  # word -> its sub-word ids: words recur, and Python tokenizers are slow
    encodings = [None] * len(sentences)
    truncated = {}
    for i in present:
        ids, word_ids = [], []
        for w, word in enumerate(sentences[i]):
            pieces = sub_words.get(word)
            if pieces is None:
                pieces = sub_words[word] = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))
            ids += pieces
            word_ids += [w] * len(pieces)
        encodings[i] = _with_specials(member, ids, word_ids)
        if room is not None and len(ids) > room:
            kept = slice(len(ids) - room, None) if left else slice(0, room)
            truncated[i] = (encodings[i], _with_specials(member, ids[kept], word_ids[kept]))
            encodings[i] = truncated[i][1]
    lengths = np.array([len(e.ids) if e is not None else 0 for e in encodings], dtype=np.int64)
    return encodings, lengths, truncated


def _with_specials(member, ids: list, word_ids: list) -> _WordEncoding:
    """One sentence's sub-words with the tokenizer's specials around them; word index None for a special."""
    tokenizer = member.tokenizer
    layout = tokenizer.build_inputs_with_special_tokens(ids)
    is_special = tokenizer.get_special_tokens_mask(ids)
    if len(is_special) != len(layout) or is_special.count(0) != len(ids):
        # Without a mask that matches the layout, sub-words could not be told from specials.
        raise TaskspaceError(
            f"member {member.name}: {type(tokenizer).__name__}'s special tokens mask does not match the "
            f"specials it adds, so its sub-words cannot be aligned to words"
        )
    words = iter(word_ids)
    return _WordEncoding(
        layout,
        [None if special else next(words) for special in is_special],
        tokenizer.create_token_type_ids_from_sequences(ids),
    )


def batches(encoded: Encoded, batch_tokens: int, padding_side: str, tokenizer) -> Iterator[Batch]:
    """Padded batches of similar-length sentences, longest first, each within ``batch_tokens``.

    Sentences without any word left are skipped. Longest first: the largest batch runs first, so a
    token budget that does not fit in memory fails at once, not at the end of a long job.
    """
    lengths = np.diff(encoded.offsets)
    has_words = np.zeros(len(lengths), dtype=bool)
    has_words[np.repeat(np.arange(len(lengths)), lengths)[encoded.word_ids >= 0]] = True
    order = np.flatnonzero(has_words)
    order = order[np.argsort(-lengths[order], kind="stable")]
    pad_id = tokenizer.pad_token_id
    pad_type = getattr(tokenizer, "pad_token_type_id", 0) or 0
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        size = int(max(1, min(MAX_BATCH_SENTENCES, batch_tokens // max(1, longest))))
        chosen = order[start : start + size]
        start += size
        yield _pad(encoded, chosen, lengths[chosen], longest, padding_side, pad_id, pad_type)


def _pad(encoded: Encoded, chosen, lengths, width, side, pad_id, pad_type) -> Batch:
    """Scatter the chosen sentences' tokens into (B, width) arrays, left- or right-aligned."""
    rows = np.repeat(np.arange(len(chosen)), lengths)
    within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    source = np.repeat(encoded.offsets[chosen], lengths) + within
    cols = within + (np.repeat(width - lengths, lengths) if side == "left" else 0)
    shape = (len(chosen), width)
    ids = np.full(shape, pad_id, dtype=np.int64)
    ids[rows, cols] = encoded.ids[source]
    mask = np.zeros(shape, dtype=np.int64)
    mask[rows, cols] = 1
    words = np.full(shape, -1, dtype=np.int64)
    words[rows, cols] = encoded.word_ids[source]
    types = None
    if encoded.type_ids is not None:
        types = np.full(shape, pad_type, dtype=np.int64)
        types[rows, cols] = encoded.type_ids[source]
    return Batch(chosen, ids, mask, words, types, encoded.n_words[chosen], side)


def pool(hidden, batch: Batch, pooling: str):
    """Word vectors from a batch's hidden states (B, T, D): the first, last or mean sub-word of each word.

    Returns (items (n, 2) int64 numpy with sentence index within the window and word index, vectors
    (n, D) tensor on the hidden states' device, float32 for ``mean``).
    """
    import torch

    flat_words = batch.word_ids.reshape(-1)
    positions = np.flatnonzero(flat_words >= 0)  # row-major: sentence by sentence, left to right
    rows = positions // batch.word_ids.shape[1]
    words = flat_words[positions]
    # One key per (row, word); within a row word indices never decrease, so keys are sorted already.
    base = np.zeros(len(batch.sentences), dtype=np.int64)
    np.cumsum(batch.n_words[:-1], out=base[1:])
    keys = base[rows] + words
    if len(keys) > 1 and np.any(keys[1:] < keys[:-1]):  # defensive: a tokenizer that reorders words
        order = np.argsort(keys, kind="stable")
        positions, rows, words, keys = positions[order], rows[order], words[order], keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.zeros(0, np.int64)
    items = np.stack([batch.sentences[rows[starts]], words[starts]], axis=1).astype(np.int64)
    flat = hidden.reshape(-1, hidden.shape[-1])
    device = hidden.device
    if pooling == "first":
        vectors = flat[torch.from_numpy(positions[starts]).to(device)]
    elif pooling == "last":
        ends = np.r_[starts[1:], len(keys)] - 1
        vectors = flat[torch.from_numpy(positions[ends]).to(device)]
    else:
        counts = np.diff(np.r_[starts, len(keys)])
        segment = torch.from_numpy(np.repeat(np.arange(len(starts)), counts)).to(device)
        sums = torch.zeros((len(starts), flat.shape[1]), dtype=torch.float32, device=device)
        sums.index_add_(0, segment, flat[torch.from_numpy(positions).to(device)].float())
        vectors = sums / torch.from_numpy(counts).to(device=device, dtype=torch.float32)[:, None]
    return items, vectors


def _to_device(member, batch: Batch) -> dict:
    import torch

    arrays = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
    if batch.token_type_ids is not None:
        arrays["token_type_ids"] = batch.token_type_ids
    inputs = {k: torch.from_numpy(v).to(member.device) for k, v in arrays.items() if k in member.input_names}
    if batch.padding_side == "left" and member.takes_position_ids:
        # Models with absolute positions count from the first column; behind left padding the first
        # real token must still be position 0, or a sentence's vectors would depend on its batch.
        positions = np.maximum(np.cumsum(batch.attention_mask, axis=1) - 1, 0)
        inputs["position_ids"] = torch.from_numpy(positions).to(member.device)
    return inputs


def _windows(sentences, window_words: int) -> Iterator[tuple[int, int]]:
    """Consecutive (start, stop) ranges of sentences holding about ``window_words`` words each."""
    counts = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    ends = np.cumsum(counts)
    start = 0
    while start < len(sentences):
        done = ends[start - 1] if start else 0
        stop = int(np.searchsorted(ends, done + window_words, side="right"))
        stop = max(stop, start + 1)
        yield start, stop
        start = stop


def _words_line(stats: ExtractStats, elapsed: float) -> str:
    """The extraction's part of a progress line: words per second and words dropped so far."""
    return f"{stats.n_words / elapsed:.0f} words/s, {stats.n_words_dropped} words dropped"

"""Probe text: the sentences every zoo member reads before kappa is computed.

The format is plain UTF-8 text, one sentence a line, words separated by whitespace. :func:`read_probe_text`
applies the ``min_words`` filter and an optional cap on the number of sentences.

The paper's probe file, ``text/wiki.train.len_noLess_10.tokens`` (its LMs/estimate_kappa/extract.sh), is
wikitext-2-v1's ``wiki.train.tokens`` filtered with ``awk 'NF>=10'``: whole lines (paragraphs, not split
into sentences) with at least 10 fields. ``format="wikitext"`` reads the raw ``wiki.train.tokens`` that way:
lines end at ``\n`` only and fields are runs of characters other than space and tab, as awk counts them;
headings (`` = = Gameplay = = ``) are lines like any other, kept when they have enough fields, as awk keeps
them; ``<unk>`` and ``@-@`` are words. The words of a kept line are its whitespace-separated tokens, as the
paper's LMs/data.py splits them.

The offline demo needs English that ships with an installed package: :func:`write_demo_probe_text` takes
the Lee news corpus that gensim bundles for its tests (``lee_background.cor``: 300 Australian news
articles; ``lee.cor``: 50 more), one article a line, and splits it into sentences with a small,
deterministic rule-based splitter. gensim is located without importing it (importing it is slow).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from ..errors import TaskspaceError

DEMO_CORPORA = ("lee_background.cor", "lee.cor")

# Words ending in "." that do not end a sentence in news text (titles, ranks, months, common Latin).
ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "jr",
    "sr",
    "prof",
    "gen",
    "lt",
    "col",
    "sgt",
    "capt",
    "cpl",
    "maj",
    "insp",
    "supt",
    "det",
    "const",
    "rev",
    "hon",
    "gov",
    "sen",
    "rep",
    "mt",
    "ft",
    "no",
    "co",
    "corp",
    "inc",
    "ltd",
    "vs",
    "etc",
    "approx",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "e.g",
    "i.e",
}
# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by space and a capital, digit or quote.
_BOUNDARY = re.compile(r"(?<=[.!?])([\"')\]]*)\s+(?=[\"'(\[]?[A-Z0-9])")


PROBE_FORMATS = ("lines", "wikitext")
_AWK_FIELD = re.compile(r"[^ \t\n]+")  # awk's default field splitting (FS = " ")


def read_probe_text(
    path, min_words: int = 1, max_sentences: int | None = None, format: str = "lines"
) -> list[list[str]]:
    """Sentences of a probe-text file as word lists: lines with at least ``min_words`` words, in file order.

    ``format="wikitext"``: the raw wikitext ``*.tokens`` file, lines with at least ``min_words`` fields as
    ``awk 'NF>=min_words'`` counts them (module docstring). ``max_sentences`` keeps only the first that many
    passing lines. Errors name the file: missing, empty, or no line with ``min_words`` words.
    """
    path = Path(path)
    if format not in PROBE_FORMATS:
        raise TaskspaceError(f"{path}: probe text format must be one of {', '.join(PROBE_FORMATS)}, got {format!r}")
    if min_words < 1:
        raise TaskspaceError(f"{path}: min_words must be at least 1, got {min_words}")
    if max_sentences is not None and max_sentences < 1:
        raise TaskspaceError(f"{path}: max_sentences must be at least 1, got {max_sentences}")
    if not path.is_file():
        raise TaskspaceError(f"{path}: probe text file not found")
    sentences: list[list[str]] = []
    any_words = False
    longest = 0
    awk = format == "wikitext"
    with open(path, encoding="utf-8", newline="\n" if awk else None) as handle:
        for line in handle:
            words = line.split()
            if not words:
                continue
            any_words = True
            count = len(_AWK_FIELD.findall(line)) if awk else len(words)
            longest = max(longest, count)
            if count >= min_words:
                sentences.append(words)
                if max_sentences is not None and len(sentences) >= max_sentences:
                    break
    if not any_words:
        raise TaskspaceError(f"{path}: probe text file is empty")
    if not sentences:
        raise TaskspaceError(f"{path}: no sentence has at least min_words={min_words} words (longest has {longest})")
    return sentences


def split_sentences(text: str) -> list[str]:
    """Split running English text into sentences (rule-based; same input, same output)."""
    text = " ".join(text.split())
    pieces, start = [], 0
    for match in _BOUNDARY.finditer(text):
        end = match.start() + len(match.group(1))  # keep closing quotes with their sentence
        candidate = text[start:end]
        # the word before the full stop, after any hyphen ("Staff-Insp." ends in the title "insp")
        last_word = candidate.rsplit(" ", 1)[-1].strip("\"'()[]").rstrip(".!?").lower().rsplit("-", 1)[-1]
        # Not a boundary after an abbreviation, a single initial ("W. Bush") or a dotted acronym ("U.S.").
        if candidate.endswith(".") and (
            last_word in ABBREVIATIONS
            or re.fullmatch(r"[a-z]", last_word)
            or re.fullmatch(r"([a-z]\.)+[a-z]", last_word)
        ):
            continue
        pieces.append(candidate.strip())
        start = match.end()
    pieces.append(text[start:].strip())
    return [piece for piece in pieces if piece]


def gensim_test_data_dir() -> Path:
    """Folder of gensim's bundled test corpora (found without importing gensim)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        raise TaskspaceError("demo probe text: the gensim package (which ships the demo English text) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "test" / "test_data"


def demo_sentences(min_words: int = 1) -> list[str]:
    """Sentences of gensim's bundled Lee news corpora, in corpus order, with at least ``min_words`` words."""
    folder = gensim_test_data_dir()
    sentences = []
    for name in DEMO_CORPORA:
        path = folder / name
        if not path.is_file():
            raise TaskspaceError(f"{path}: gensim test corpus not found (is gensim's test data installed?)")
        for article in path.read_text(encoding="utf-8", errors="replace").splitlines():
            sentences.extend(s for s in split_sentences(article) if len(s.split()) >= min_words)
    return sentences


def write_demo_probe_text(path, min_words: int = 1, max_sentences: int | None = None) -> int:
    """Write the demo probe text (one sentence a line) to ``path`` atomically; return its sentence count."""
    sentences = demo_sentences(min_words)
    if max_sentences is not None:
        sentences = sentences[:max_sentences]
    if not sentences:
        raise TaskspaceError(f"{path}: no demo sentence has at least min_words={min_words} words")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    tmp.replace(path)
    return len(sentences)

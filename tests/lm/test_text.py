"""Probe text: reading with min_words/max_sentences, errors, and the offline demo text from gensim."""

from pathlib import Path

import pytest

from taskspace.errors import TaskspaceError
from taskspace.lm import text

DATA = Path(__file__).resolve().parents[1] / "data" / "lm"


def test_read_probe_text_min_words_and_max_sentences():
    sentences = text.read_probe_text(DATA / "probe.txt", min_words=10)
    assert [s[0] for s in sentences] == ["The", "Stocks", "Rain"]  # "Short line ." and the blank line go
    assert sentences[0][-2:] == ["sun", "."]
    assert len(text.read_probe_text(DATA / "probe.txt")) == 4
    assert text.read_probe_text(DATA / "probe.txt", min_words=10, max_sentences=2)[1][0] == "Stocks"


def test_read_probe_text_errors_name_the_file(tmp_path):
    with pytest.raises(TaskspaceError, match=r"absent\.txt: probe text file not found"):
        text.read_probe_text(tmp_path / "absent.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(TaskspaceError, match=r"empty\.txt: probe text file is empty"):
        text.read_probe_text(empty)
    with pytest.raises(
        TaskspaceError, match=r"probe\.txt: no sentence has at least min_words=50 words \(longest has 13\)"
    ):
        text.read_probe_text(DATA / "probe.txt", min_words=50)


def test_split_sentences_keeps_abbreviations_and_initials():
    got = text.split_sentences(
        'Mr. Smith met U.S. officials. He left!  "Why?" she asked. '
        "George W. Bush spoke, Staff-Insp. Ellis said. 300 came."
    )
    assert got == [
        "Mr. Smith met U.S. officials.",
        "He left!",
        '"Why?" she asked.',
        "George W. Bush spoke, Staff-Insp. Ellis said.",
        "300 came.",
    ]


def test_demo_probe_text_is_real_english_and_deterministic(tmp_path):
    out = tmp_path / "sub" / "probe.txt"
    n = text.write_demo_probe_text(out, min_words=10, max_sentences=200)
    assert n == 200
    lines = out.read_text().splitlines()
    assert len(lines) == 200
    # the Lee corpus opens with this news sentence
    assert lines[0].startswith("Hundreds of people have been forced to vacate their homes")
    assert lines[0].endswith("towards the town of Hill Top.")
    assert (
        lines[1]
        == "A new blaze near Goulburn, south-west of Sydney, has forced the closure of the Hume Highway."
    )
    assert all(len(line.split()) >= 10 for line in lines)
    again = tmp_path / "again.txt"
    text.write_demo_probe_text(again, min_words=10, max_sentences=200)
    assert again.read_bytes() == out.read_bytes()
    assert len(text.read_probe_text(out, min_words=10)) == 200
    # the whole corpus gives a few thousand sentences, enough for the demo's probe set and tasks
    assert len(text.demo_sentences(min_words=10)) > 2000

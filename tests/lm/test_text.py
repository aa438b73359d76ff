"""Probe text: reading with min_words/max_sentences, the wikitext format, errors, and the demo text from gensim."""

import shutil
import subprocess
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
    assert lines[1] == "A new blaze near Goulburn, south-west of Sydney, has forced the closure of the Hume Highway."
    assert all(len(line.split()) >= 10 for line in lines)
    again = tmp_path / "again.txt"
    text.write_demo_probe_text(again, min_words=10, max_sentences=200)
    assert again.read_bytes() == out.read_bytes()
    assert len(text.read_probe_text(out, min_words=10)) == 200
    # the whole corpus gives a few thousand sentences, enough for the demo's probe set and tasks
    assert len(text.demo_sentences(min_words=10)) > 2000


# A wikitext-2-v1 wiki.train.tokens look-alike: a blank line, headings (short and long), paragraphs of 9,
# 10 and more fields, <unk> and @-@ tokens, a tab, a no-break space inside a word (awk: one field; Python's
# split: two), a carriage return, and a last line without a newline.
WIKITEXT = (
    " \n"
    " = Valkyria Chronicles III = \n"
    " \n"
    " Senjō no Valkyria 3 : <unk> Chronicles ( Japanese : 戦場3 , lit . Valkyria of the Battlefield 3 ) \n"
    " = = Gameplay = = \n"
    " one two three four five six seven eight nine \n"
    " one two three four five six seven eight nine ten \n"
    " = = = A heading long enough to have ten fields = = = \n"
    " the 1 @-@ 2\tsplit by a tab : six seven eight nine \n"
    " a\u00a0b c d e f g h i j \n"
    " a b c d e f g h i \r\n"
    " last line with ten fields and no newline at end"
)


def test_wikitext_format_keeps_the_lines_awk_nf_10_keeps(tmp_path):
    """format wikitext = the paper's probe file, wiki.train.tokens through awk 'NF>=10' (LMs/estimate_kappa)."""
    raw = tmp_path / "wiki.train.tokens"
    raw.write_bytes(WIKITEXT.encode("utf-8"))
    kept = text.read_probe_text(raw, min_words=10, format="wikitext")
    assert [" ".join(words) for words in kept] == [
        "Senjō no Valkyria 3 : <unk> Chronicles ( Japanese : 戦場3 , lit . Valkyria of the Battlefield 3 )",
        "one two three four five six seven eight nine ten",
        "= = = A heading long enough to have ten fields = = =",  # a heading is a line like any other
        "the 1 @-@ 2 split by a tab : six seven eight nine",  # the tab separates fields
        "a b c d e f g h i",  # awk counts the carriage return as a tenth field
        "last line with ten fields and no newline at end",
    ]
    # the no-break-space line has 9 awk fields but 10 Python words: only format lines keeps it
    assert any(words[:2] == ["a", "b"] and len(words) == 10 for words in text.read_probe_text(raw, min_words=10))
    assert text.read_probe_text(raw, min_words=10, max_sentences=2, format="wikitext") == kept[:2]
    awk = shutil.which("awk")
    if awk:  # the paper's own filter, where awk is installed
        result = subprocess.run([awk, "NF>=10", str(raw)], capture_output=True, env={"LC_ALL": "C"}, check=True)
        lines = result.stdout.decode("utf-8").splitlines()
        assert [line.split() for line in lines] == kept


def test_wikitext_format_errors(tmp_path):
    raw = tmp_path / "wiki.train.tokens"
    raw.write_text(" = Title = \n \n")
    with pytest.raises(TaskspaceError, match=r"wiki\.train\.tokens: no sentence has at least min_words=10 words"):
        text.read_probe_text(raw, min_words=10, format="wikitext")
    with pytest.raises(TaskspaceError, match=r"format must be one of lines, wikitext, got 'wiki'"):
        text.read_probe_text(raw, format="wiki")

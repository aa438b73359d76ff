"""Readers of the paper's 8 probing tasks on small fixtures in each real format, and their errors."""

import math
from pathlib import Path

import pytest

from taskspace.errors import TaskspaceError
from taskspace.lm import tasks
from taskspace.lm.tasks import TokenSplit

DATA = Path(__file__).resolve().parents[1] / "data" / "lm"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_chunking_conll2000():
    split = tasks.read_conll2000_chunking(DATA / "chunking.conll2000")
    assert len(split) == 2
    assert split.sentences[1] == [
        "He",
        "reckons",
        "the",
        "current",
        "account",
        "deficit",
        "will",
        "narrow",
        ".",
    ]
    assert split.labels[1] == ["B-NP", "B-VP", "B-NP", "I-NP", "I-NP", "I-NP", "B-VP", "I-VP", "O"]
    assert split.kind == "classification"
    assert split.n_words == 13 + 9


def test_ner_conll2003_skips_docstart_keeps_iob1():
    split = tasks.read_conll2003_ner(DATA / "ner.conll2003")
    assert [len(s) for s in split.sentences] == [9, 2, 9]
    assert "-DOCSTART-" not in {w for s in split.sentences for w in s}
    assert split.labels[0][:3] == ["I-ORG", "O", "I-MISC"]
    assert split.labels[2] == ["O", "I-LOC", "I-LOC", "B-LOC", "O", "I-LOC", "O", "O", "O"]
    # IOB1: B-LOC separates Macau from Hong Kong, so gold against itself is perfect and merging costs
    merged = [list(labels) for labels in split.labels]
    merged[2][3] = "I-LOC"
    assert tasks.get_task("ner").metric(split.labels, split.labels) == 1.0
    # gold spans: ORG MISC MISC PER LOC LOC LOC = 7; merged prediction: 6 spans, 5 of them right
    assert tasks.get_task("ner").metric(split.labels, merged) == pytest.approx(2 * 5 / (7 + 6))


def test_pos_conllx_uses_postag_column():
    split = tasks.read_conllx_pos(DATA / "pos.conllx")
    assert split.sentences[1] == ["Mr.", "Vinken", "is", "chairman", "."]
    assert split.labels[1] == ["NNP", "NNP", "VBZ", "NN", "."]
    assert split.label_set()[:3] == [",", ".", "CD"]


def test_semantic_tagging_word_first_and_multiword_split():
    split = tasks.read_semantic_tagging(DATA / "semtag.txt")
    assert split.sentences[0][:3] == ["The", "report", "comes"]
    assert split.labels[0][:3] == ["DEF", "CON", "ENS"]
    # "Prime~Minister<TAB>UNK" becomes two words, both tagged UNK
    assert split.sentences[1][:3] == ["Turkish", "Prime", "Minister"]
    assert split.labels[1][:4] == ["GPE", "UNK", "UNK", "PER"]


def test_event_factuality_json():
    split = tasks.read_event_factuality(DATA / "ef.json")
    assert split.kind == "regression"
    assert len(split) == 2  # the sentence without predicates is skipped
    first = split.labels[0]
    assert first[2] == 3.0 and first[6] == 2.25  # 1-based indices 3 and 7
    assert sum(not math.isnan(v) for v in first) == 2
    assert split.labels[1][6] == -3.0 and split.labels[1][2] == 1.5
    assert split.n_annotated == 4


def test_constituency_ancestors_exact_labels():
    path = DATA / "trees.ptb"
    parent = tasks.read_constituency_ancestors(path, "parent")
    grand = tasks.read_constituency_ancestors(path, "grandparent")
    great = tasks.read_constituency_ancestors(path, "great_grandparent")
    assert parent.sentences[0] == ["Ms.", "Haag", "plays", "Elianti", "."]
    assert parent.labels[0] == ["NP", "NP", "VP", "NP", "S"]
    assert grand.labels[0] == ["S", "S", "S", "VP", "None"]
    assert great.labels[0] == ["None", "None", "None", "S", "None"]
    # second tree spans several lines, has an empty wrapper root and -LRB- mapped to "("
    assert parent.sentences[1] == ["The", "cat", "sat", "on", "the", "mat", "(", "."]
    assert parent.labels[1] == ["NP-SBJ", "NP-SBJ", "VP", "PP", "NP", "NP", "S", "S"]
    assert grand.labels[1] == ["S", "S", "S", "VP", "PP", "PP", "None", "None"]
    assert great.labels[1] == ["None", "None", "None", "S", "VP", "VP", "None", "None"]
    assert tasks.get_task("great_grandparent").read(path).labels == great.labels


def test_generic_formats_take_the_first_column_as_word_and_the_last_as_label(tmp_path):
    text = "-DOCSTART- O\n\nAda NNP B-PER\nLovelace NNP I-PER\nwrote VBD O\n\nIn O\nLondon B-LOC\n"
    path = write(tmp_path, "own.txt", text)
    spans = tasks.get_task("bio").read(path)
    assert spans.sentences == [["Ada", "Lovelace", "wrote"], ["In", "London"]]
    assert spans.labels == [["B-PER", "I-PER", "O"], ["O", "B-LOC"]]
    assert tasks.get_task("bio").metric_name == "span_f1"
    tagged = tasks.get_task("tagging").read(write(tmp_path, "pos.txt", "Ada NNP\nwrote VBD\n\nIn IN\n"))
    assert tagged.labels == [["NNP", "VBD"], ["IN"]]
    assert tasks.get_task("tagging").metric_name == "accuracy"


def test_registry_has_the_papers_eight_tasks_two_generic_and_the_demo_formats():
    assert set(tasks.TASKS) == {
        "bigram_shift",
        "word_replacement",
        "tagging",
        "bio",
        "chunking",
        "ner",
        "pos",
        "semtag",
        "ef",
        "parent",
        "grandparent",
        "great_grandparent",
    }
    assert tasks.TASKS["ef"].kind == "regression" and tasks.TASKS["ef"].metric_name == "pearson"
    assert tasks.TASKS["chunking"].metric_name == "span_f1"
    assert tasks.TASKS["pos"].metric_name == "accuracy"
    with pytest.raises(TaskspaceError, match="'srl' is not one of"):
        tasks.get_task("srl")


@pytest.mark.parametrize(
    "reader, name, text, message",
    [
        (tasks.read_conll2000_chunking, "c.txt", "The DT B-NP\ncat NN\n", r"c\.txt:2: expected 3 fields"),
        (
            tasks.read_conll2000_chunking,
            "c.txt",
            "The DT B-NP\n\ncat NN NP\n",
            r"c\.txt:3: tag 'NP' is not O",
        ),
        (
            tasks.read_conll2003_ner,
            "n.txt",
            "-DOCSTART- -X- -X- O\n\nEU NNP I-NP\n",
            r"n\.txt:3: expected 4 fields",
        ),
        (
            tasks.read_conllx_pos,
            "p.conllx",
            "1\tA\t_\tDT\tDT\n3\tcat\t_\tNN\tNN\n",
            r"p\.conllx:2: token ID '3'",
        ),
        (tasks.read_conllx_pos, "p.conllx", "1 A _ DT DT\n", r"p\.conllx:1: expected 5 to 10 tab-separated"),
        (tasks.read_semantic_tagging, "s.txt", "The\tDEF\ncat CON\n", r"s\.txt:2: expected 'word<TAB>tag'"),
        (
            tasks.read_event_factuality,
            "e.json",
            '{"a": {"sentence": ["x"],\n "labels": [1]}\n',
            r"e\.json:3: invalid JSON",
        ),
        (
            tasks.read_event_factuality,
            "e.json",
            '{"a": {"sentence": ["x"], "labels": [1]}}',
            r"e\.json: sentence 'a': missing key 'predicate_indices'",
        ),
        (
            tasks.read_event_factuality,
            "e.json",
            '{"a": {"sentence": ["x"], "predicate_indices": [2], "labels": [1.0]}}',
            r"predicate index 2 outside 1\.\.1",
        ),
        (
            tasks.read_constituency_ancestors,
            "t.ptb",
            "(S (NP (DT a)))\n(S (NP (DT a) (NN b)\n",
            r"t\.ptb:2: tree starting here",
        ),
        (
            tasks.read_constituency_ancestors,
            "t.ptb",
            "(S (NP (DT a)))\n\n(S (NP (DT a))))\n",
            r"t\.ptb:3: unbalanced",
        ),
        (tasks.read_constituency_ancestors, "t.ptb", "(S (DT a b))\n", r"t\.ptb:1: node 'DT' has a word 'b'"),
        (tasks.read_constituency_ancestors, "t.ptb", "(S (NP))\n", r"t\.ptb:1: empty constituent"),
        (tasks.read_word_label, "w.txt", "The DT\ncat\n", r"w\.txt:2: expected at least 2 fields"),
        (tasks.read_word_bio, "b.txt", "Ada B-PER\nLovelace PER\n", r"b\.txt:2: tag 'PER' is not O"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, reader, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(TaskspaceError, match=message) as error:
        reader(path)
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("spec", list(tasks.TASKS.values()), ids=list(tasks.TASKS))
def test_missing_and_empty_files(tmp_path, spec):
    with pytest.raises(TaskspaceError, match="not found"):
        spec.read(tmp_path / "absent.txt")
    empty = write(tmp_path, "empty.txt", "{}\n" if spec.name == "ef" else "\n\n")
    with pytest.raises(TaskspaceError, match="no (sentences|trees)"):
        spec.read(empty)


def test_token_split_checks_lengths_and_round_trips_conllx(tmp_path):
    with pytest.raises(TaskspaceError, match="sentence 0 has 2 words but 1 labels"):
        TokenSplit([["a", "b"]], [["X"]], source="mine")
    split = tasks.read_semantic_tagging(DATA / "semtag.txt")
    out = tmp_path / "semtag.conllx"
    tasks.write_conllx(split, out)
    back = tasks.read_conllx_pos(out)
    assert back.sentences == split.sentences and back.labels == split.labels


SENTENCE_TSV = "sentence\tlabel\na movie that works\tpos\nsimplistic , silly and tedious .\tneg\n"
SENTENCE_CSV = '"a movie that never quite works .",neg\n"funny , warm and wise .",pos\n'


@pytest.mark.parametrize(
    "fmt, text, where, reason",
    [
        ("tagging", SENTENCE_TSV, 1, "its first line 'sentence\\tlabel' is a table header"),
        ("bio", SENTENCE_TSV, 1, "is a table header"),
        ("tagging", SENTENCE_TSV.split("\n", 1)[1], 1, "the first tab-separated field 'a movie that works' has"),
        ("tagging", SENTENCE_CSV, 1, "a comma-separated row of text and a label"),
        ("tagging", "text,label\nfine,pos\n", 1, "is a table header"),
        ("tagging", "great\tpos\nsimplistic , silly and tedious .,neg\n", 2, "a comma-separated row"),
        ("ner", SENTENCE_TSV, 1, "is a table header"),
        ("chunking", "a b\tB-NP\n", 1, "tab-separated field 'a b'"),
        ("semtag", SENTENCE_TSV, 1, "is a table header"),
    ],
)
def test_a_sentence_table_given_as_a_token_format_is_refused(tmp_path, fmt, text, where, reason):
    """Issue 17: a sentence table read as tokens gave one long sentence of first words, with no warning."""
    path = write(tmp_path, "sentences.txt", text)
    with pytest.raises(TaskspaceError) as error:
        tasks.read_task(fmt, path)
    message = str(error.value)
    assert message.startswith(f"{path}:{where}: this looks like a sentence table") and "\n" not in message
    assert reason in message and "format: table" in message


def test_token_files_with_commas_quotes_and_tabs_still_read(tmp_path):
    text = 'The DT B-NP\n1,000 CD I-NP\n, , O\n" " O\n\nWord\tNN\tO\n'
    split = tasks.read_task("chunking", write(tmp_path, "c.txt", text))
    assert split.sentences == [["The", "1,000", ",", '"'], ["Word"]]
    tagged = tasks.read_task("tagging", write(tmp_path, "t.txt", "text NN\nlabel NN\n"))
    assert tagged.sentences == [["text", "label"]]

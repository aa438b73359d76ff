"""Text task tables (CSV, TSV, JSONL; pairs; classes or real values), text probes, and their one-line errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from taskspace.errors import TaskspaceError
from taskspace.sources import text
from taskspace.sources.tables import class_order


def write(path, content):
    path.write_text(content, encoding="utf-8")
    return path


def raises(match, call, *args, **kwargs):
    with pytest.raises(TaskspaceError, match=match) as error:
        call(*args, **kwargs)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_csv_quotes_tsv_verbatim_and_jsonl(tmp_path):
    train = write(tmp_path / "train.csv", 'text,label\n"a movie, truly ""great""",pos\n\nbad,neg\nfine,pos\n')
    test = write(tmp_path / "test.tsv", 'label\ttext\nneg\t"""quoted"" as pandas writes it"\n')
    dev = write(tmp_path / "dev.jsonl", json.dumps({"text": "ok", "label": "pos"}) + "\n\n")
    splits = text.read_text_task(train, test, dev=dev)
    assert set(splits) == {"train", "dev", "test"}
    assert splits["train"].texts == ['a movie, truly "great"', "bad", "fine"]
    assert splits["train"].classes == ["neg", "pos"] and splits["train"].labels.tolist() == [1, 0, 1]
    assert splits["train"].labels.dtype == np.int64 and not splits["train"].regression
    assert splits["train"].pairs is None
    assert splits["test"].texts == ['"quoted" as pandas writes it'] and splits["test"].labels.tolist() == [0]
    inner = write(tmp_path / "inner.tsv", 'text\tlabel\nfine "so" far\tpos\n')  # a quote inside: as written
    assert text.read_text_task(train, inner)["test"].texts == ['fine "so" far']
    glue = write(tmp_path / "glue.tsv", 'text\tlabel\nfine\tpos\n"quoted" then more\tneg\n')  # unquoted GLUE style
    raises(re.escape(f"{glue}:3: not valid TSV in the row from here"), text.read_text_task, glue, train)
    assert splits["dev"].labels.tolist() == [1] and len(splits["dev"]) == 1


def test_pairs_numeric_classes_and_named_columns(tmp_path):
    rows = [
        {"premise": "A man sleeps.", "hypothesis": "A man rests.", "gold": 10},
        {"premise": "A dog runs.", "hypothesis": "A cat sits.", "gold": 2},
        {"premise": "It rains.", "hypothesis": "It is wet.", "gold": "2"},
    ]
    train = write(tmp_path / "train.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    splits = text.read_text_task(train, train, text="premise", pair="hypothesis", label="gold")
    train_split = splits["train"]
    assert train_split.classes == ["2", "10"]  # numbers numerically
    assert train_split.labels.tolist() == [1, 0, 0]
    assert train_split.pairs == ["A man rests.", "A cat sits.", "It is wet."]


def test_regression_values(tmp_path):
    train = write(tmp_path / "train.tsv", "text\tscore\none\t0.5\ntwo\t-3\nthree\t 1e2 \n")
    split = text.read_text_task(train, train, label="score", kind="regression")["test"]
    assert split.regression and split.classes is None
    assert split.labels.dtype == np.float64 and split.labels.tolist() == [0.5, -3.0, 100.0]
    bad = write(tmp_path / "bad.tsv", "text\tscore\none\t0.5\n\ntwo\thigh\n")
    raises(
        re.escape(f"{bad}:4: label 'high' in column 'score' is not a finite number"),
        text.read_text_task,
        bad,
        train,
        label="score",
        kind="regression",
    )
    nan = write(tmp_path / "nan.jsonl", '{"text": "a", "label": NaN}\n')
    raises(re.escape(f"{nan}:1: label nan"), text.read_text_task, nan, train, kind="regression")
    raises("kind: 'ordinal' is not one of", text.read_text_task, train, train, kind="ordinal")


def test_class_order_is_natural():
    assert class_order(["b", "a", "B"]) == ["B", "a", "b"]
    assert class_order(["10", "2", "-1", "1.5"]) == ["-1", "1.5", "2", "10"]
    assert class_order(["1", "one"]) == ["1", "one"]


def test_text_table_errors(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\ngood,pos\nbad,neg\n")
    test = write(tmp_path / "test.csv", "sentence,label\ngood,pos\n")
    raises(
        re.escape(f"{test}:1: no column 'text' (columns found: 'sentence', 'label')"), text.read_text_task, train, test
    )
    test = write(tmp_path / "test.csv", "text,label\ngood,pos\nmeh,neutral\n")
    raises(
        re.escape(f"{test}:3: class 'neutral' is not among the training classes (neg, pos)"),
        text.read_text_task,
        train,
        test,
    )
    jsonl = write(tmp_path / "test.jsonl", '{"text": "a", "label": "pos"}\n{"sentence": "b", "label": "pos"}\n')
    raises(re.escape(f"{jsonl}:2: no key 'text' (keys found: 'sentence', 'label')"), text.read_text_task, train, jsonl)
    jsonl = write(tmp_path / "test.jsonl", '{"text": "a", "label": "pos"}\n{"text": "b", "label": \n')
    raises(re.escape(f"{jsonl}:2: invalid JSON"), text.read_text_task, train, jsonl)
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("text\tlabel\ncafé\tpos\n".encode("cp1252"))
    raises(re.escape(f"{latin}:2: not UTF-8 text (byte 0xe9)"), text.read_text_task, latin, train)
    empty = write(tmp_path / "empty.csv", "")
    raises(re.escape(f"{empty}: table is empty"), text.read_text_task, empty, train)
    header = write(tmp_path / "header.csv", "text,label\n")
    raises(re.escape(f"{header}: text table has no rows"), text.read_text_task, header, train)
    blank = write(tmp_path / "blank.csv", "text,label\n ,pos\n")
    raises(re.escape(f"{blank}:2: empty text in column 'text'"), text.read_text_task, blank, train)
    raises("no test table given", text.read_text_task, train, None)
    raises(
        re.escape(f"{tmp_path / 'gone.csv'}: text table not found"), text.read_text_task, train, tmp_path / "gone.csv"
    )
    quote = write(tmp_path / "quote.csv", 'text,label\n"open quote,pos\n')
    raises(re.escape(f"{quote}:2: not valid CSV in the row from here"), text.read_text_task, quote, train)
    floats = write(tmp_path / "floats.jsonl", '{"text": "a", "label": 0.5}\n')
    raises(
        re.escape(f"{floats}:1: column 'label': a class label must be a string or an integer"),
        text.read_text_task,
        floats,
        train,
    )


def test_text_probe_plain_and_table(tmp_path):
    plain = write(tmp_path / "probe.txt", "First sentence .\n\n  Second one  \n")
    assert text.read_text_probe(plain) == ["First sentence .", "Second one"]
    assert text.read_text_probe(plain, max_items=1) == ["First sentence ."]
    table = write(tmp_path / "probe.tsv", "id\tsentence\n1\tHello there\n2\tGood bye\n")
    assert text.read_text_probe(table, column="sentence") == ["Hello there", "Good bye"]
    raises(re.escape(f"{table}:1: no column 'text'"), text.read_text_probe, table)
    empty = write(tmp_path / "empty.txt", "\n \n")
    raises(re.escape(f"{empty}: probe text file is empty"), text.read_text_probe, empty)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nalso fine\nna\xefve\n")
    raises(re.escape(f"{bad}:3: not UTF-8 text"), text.read_text_probe, bad)

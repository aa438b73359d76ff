import pytest
import yaml
from conftest import REPO

from taskspace.config import load_config, validate_config
from taskspace.errors import TaskspaceError


def test_defaults_are_filled():
    config = validate_config({"given": {"z": {"kappa": "k.npy"}}})
    assert config["seed"] == 0 and config["device"] == "auto"
    assert config["given"]["z"]["selection"] == {"k_max": 5, "hub_first": False, "random_rounds": 20}


@pytest.mark.parametrize(
    "config, message",
    [
        ({"sed": 1}, "config: unknown key 'sed' (allowed: device, figure_formats, given, lm,"),
        ({"device": "gpu"}, "device: 'gpu' is not one of auto, cpu, cuda"),
        ({"seed": "x"}, "seed: expected integer, got 'x'"),
        ({"seed": -1}, "seed: -1 is less than the minimum of 0"),
        ({"given": {"a/b": {"kappa": "k.npy"}}}, "given: 'a/b' is not a safe name"),
        ({"given": {"z": {}}}, "given.z: 'kappa' is a required property"),
        ({"given": {"z": {"kappa": "k", "selection": {"k_max": 0}}}}, "given.z.selection.k_max: 0 is less than"),
        ({"given": {"z": {"kappa": "k", "selection": {"kmax": 3}}}}, "given.z.selection: unknown key 'kmax'"),
    ],
)
def test_bad_config_names_the_key(config, message):
    with pytest.raises(TaskspaceError) as error:
        validate_config(config)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 0\ndevice: [cpu\n")
    with pytest.raises(TaskspaceError, match=r"c.yaml:\d+: not valid YAML"):
        load_config(path)


REPO_CONFIGS = [REPO / "config.yaml", *sorted((REPO / "configs").glob("*.yaml"))]


@pytest.mark.parametrize("path", REPO_CONFIGS, ids=lambda p: p.name)
def test_every_config_in_the_repo_is_valid(path):
    assert isinstance(load_config(path), dict)
    assert yaml.safe_load(path.read_text())  # not empty


def test_schema_sections_match_the_library_dataclasses():
    """The schema documents exactly the keys the library accepts (split, agents, heads)."""
    from dataclasses import fields

    from taskspace.config import load_schema
    from taskspace.heads import HeadConfig
    from taskspace.vision.agents import TrainConfig
    from taskspace.vision.split import SplitConfig

    schema = load_schema()
    experiment = schema["$defs"]["vision_experiment"]["properties"]
    assert set(experiment["split"]["properties"]) == {f.name for f in fields(SplitConfig)}
    assert set(experiment["agents"]["properties"]) == {f.name for f in fields(TrainConfig)}
    # seed and device come from the config's top level
    assert set(schema["$defs"]["heads"]["properties"]) == {f.name for f in fields(HeadConfig)} - {"seed", "device"}

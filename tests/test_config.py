import re

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


def demo_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


DIGITS = ("vision", "experiments", "digits", "evaluation")


def with_value(config: dict, path: tuple, value) -> dict:
    section = config
    for key in path[:-1]:
        section = section.setdefault(key, {})
    section[path[-1]] = value
    return config


@pytest.mark.parametrize(
    "path, value, message",
    [
        (
            ("lm", "evaluation", "paper", "method_epochs"),
            {"mmmi": 7},
            "lm.evaluation.paper.method_epochs: 'mmmi' is not one of the methods whose heads the lm track trains "
            "(mmi, mmi-task, random, single, logme,",
        ),
        (
            (*DIGITS, "paper", "method_epochs"),
            {"mmi": 2000, "peeek": 3},
            "vision.experiments.digits.evaluation.paper.method_epochs: 'peeek' is not one of the methods whose "
            "heads the vision track trains (mmi, mmi-task, random, peek, single,",
        ),
        (
            (*DIGITS, "validated", "heads", "milestones"),
            [20, 5],
            "vision.experiments.digits.evaluation.validated.heads: milestones must be strictly increasing positive "
            "epochs, got [20, 5]",
        ),
        (
            ("lm", "evaluation", "paper", "heads", "milestones"),
            [5, 5],
            "lm.evaluation.paper.heads: milestones must be strictly increasing",
        ),
        (
            (*DIGITS, "validated", "heads", "milestones"),
            [20, 201],
            "vision.experiments.digits.evaluation.validated.heads.milestones: 201 is beyond the last epoch any head "
            "trains (200: heads.epochs)",
        ),
        (
            ("lm", "evaluation", "validated", "heads", "optimizer"),
            "lbfgs",
            "lm.evaluation.validated.heads.optimizer: 'lbfgs' is not one of adam, adamw, sgd",
        ),
    ],
)
def test_heads_and_method_epochs_fail_at_validation_naming_the_key(path, value, message):
    with pytest.raises(TaskspaceError) as error:
        validate_config(with_value(demo_config(), path, value))
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "agents, message",
    [
        ({"milestones": [12, 8]}, "milestones: [12, 8] must be increasing epochs between 1 and epochs-1 (14)"),
        ({"milestones": [8, 8]}, "milestones: [8, 8] must be increasing"),
        ({"milestones": [8, 15]}, "milestones: [8, 15] must be increasing epochs between 1 and epochs-1 (14)"),
        ({"epochs": 10}, "milestones: [8, 12] must be increasing epochs between 1 and epochs-1 (9)"),
    ],
)
def test_agent_milestones_fail_at_validation_naming_the_key(agents, message):
    """The agents' schedule is checked by TrainConfig, the same check the agent job makes, before any job runs."""
    config = demo_config()
    config["vision"]["experiments"]["digits"]["agents"].update(agents)
    with pytest.raises(TaskspaceError) as error:
        validate_config(config)
    assert str(error.value).startswith(f"vision.experiments.digits.agents.{message}")
    assert "\n" not in str(error.value)


def test_milestones_that_a_longer_method_reaches_are_valid():
    """The paper protocol's [5, 20] stays valid with 15 epochs while MMI's heads train 20 (the tiny config)."""
    config = with_value(demo_config(), (*DIGITS, "paper"), {"heads": {"epochs": 15}, "method_epochs": {"mmi": 20}})
    paper = validate_config(config)["vision"]["experiments"]["digits"]["evaluation"]["paper"]
    assert paper["heads"]["milestones"] == [5, 20]
    with pytest.raises(TaskspaceError, match=r"milestones: 20 is beyond .* \(19: heads.epochs and method_epochs\)"):
        validate_config(
            with_value(demo_config(), (*DIGITS, "paper"), {"heads": {"epochs": 15}, "method_epochs": {"mmi": 19}})
        )


def test_a_ranker_left_out_of_the_config_has_no_method_epochs():
    config = with_value(demo_config(), ("lm", "evaluation", "rankers"), ["gbc"])
    with_value(config, ("lm", "evaluation", "paper", "method_epochs"), {"gbc": 3})
    validate_config(config)
    with_value(config, ("lm", "evaluation", "paper", "method_epochs"), {"logme": 3})
    with pytest.raises(
        TaskspaceError, match="'logme' is not one of the methods .* \\(mmi, mmi-task, random, single, gbc\\)"
    ):
        validate_config(config)


def test_machine_block_of_a_run_config_is_accepted_and_ignored():
    """results/config.yaml (the validated config plus machine:) reruns the run as it is."""
    config = validate_config(demo_config())
    rerun = validate_config({**config, "machine": {"cpu": "AMD EPYC", "blas": [{"kernel": "Zen"}]}})
    assert {key: value for key, value in rerun.items() if key != "machine"} == config


SCHEMA_POINTER = re.compile(r"[\w./-]*schema\.yaml")


@pytest.mark.parametrize(
    "path",
    [*REPO_CONFIGS, REPO / "examples" / "own-zoo" / "config.yaml", REPO / "report" / "config.rst"],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_schema_pointers_name_the_schema(path):
    pointers = SCHEMA_POINTER.findall(path.read_text())
    assert all(pointer == "taskspace/config_schema.yaml" for pointer in pointers), pointers
    assert (REPO / "taskspace" / "config_schema.yaml").is_file()

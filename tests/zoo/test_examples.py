"""The README's zoo examples, run as written in a copy of the checkout: an image zoo of your own
(examples/own-image-zoo) and a sentence task of your own (examples/own-sentence-task)."""

import shutil
import sys

import pandas as pd
import pytest
from conftest import REPO, Commands, started_early, tail

pytestmark = pytest.mark.workflow

EXAMPLES = {"own-image-zoo": "#### An image zoo of your own", "own-sentence-task": "#### A sentence task of your own"}


def readme_commands(title: str) -> list[str]:
    readme = (REPO / "README.md").read_text()
    start = readme.index(f"\n{title}\n")
    section = readme[start : readme.find("\n#", start + len(title) + 2)]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def start_examples(tmp_path_factory) -> Commands:
    """Both examples' commands, one after the other, in a copy of the checkout (started when the tests are
    collected)."""
    folder = tmp_path_factory.mktemp("zoo-examples")
    for name in ("Snakefile", "rules", "scripts", "report", "configs"):
        (folder / name).symlink_to(REPO / name)
    (folder / ".venv").symlink_to(sys.prefix)  # the venv running the tests
    commands = []
    for example, title in EXAMPLES.items():
        shutil.copytree(
            REPO / "examples" / example,
            folder / "examples" / example,
            ignore=shutil.ignore_patterns("checkpoints", "data", "results", "logs", ".snakemake"),
        )
        commands += readme_commands(title)
    return Commands(commands, cwd=folder)


zoo_examples, zoo_examples_handle = started_early("zoo_examples", start_examples)


def test_examples_run_as_the_readme_says(zoo_examples, zoo_examples_handle):
    commands = [command for title in EXAMPLES.values() for command in readme_commands(title)]
    assert sum("snakemake" in command for command in commands) == 2
    for command, result in zoo_examples:
        assert result.returncode == 0, f"{command}\n{tail(result)}"
    assert len(zoo_examples) == len(commands)
    examples = zoo_examples_handle.cwd / "examples"

    image = examples / "own-image-zoo" / "results"
    metrics = pd.read_csv(image / "zoo" / "my-images" / "metrics.tsv", sep="\t")
    singles = metrics[metrics.method == "single"].members.tolist()
    assert singles == ["lite0", "lite0-b10", "lite0-b6", "my-resnet", "my-resnet-l3"]  # the sheet's rows
    ranking = pd.read_csv(image / "zoo" / "my-images" / "ranking" / "digits-3way.tsv", sep="\t")
    assert {"leep", "nce", "logme", "mmi", "mmi-task"} <= set(ranking.ranker)
    # pretrained ImageNet features separate three digits far better than chance
    assert metrics[metrics.members == "lite0"].test.iloc[0] > 0.6
    assert (image / "figures" / "zoo" / "my-images" / "accuracy-validated.png").stat().st_size > 0

    text = examples / "own-sentence-task" / "results"
    metrics = pd.read_csv(text / "zoo" / "my-sentences" / "metrics.tsv", sep="\t")
    assert set(metrics.task) == {"polarity"} and {"mmi", "random", "single"} <= set(metrics.method)
    assert (text / "zoo" / "my-sentences" / "transferability.tsv").is_file()
    assert "#### zoo/my-sentences, task polarity" in (text / "summary.md").read_text()

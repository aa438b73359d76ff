"""The README's promises that can go stale."""

import re
import shutil
import sys

import pandas as pd
from conftest import REPO, Commands, snakemake, started_early, tail

from tools.rulegraph import canonical, embedded


def test_rule_graph_in_readme_is_current():
    result = snakemake(REPO, "--rulegraph", "mermaid-js", cores=None)
    readme = (REPO / "README.md").read_text()
    assert embedded(readme) == canonical(result.stdout), "README rule graph is stale: run `make rulegraph`"


def test_quick_start_commands_are_the_ones_ci_runs():
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci/run").read_text()


def readme_section(title: str) -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index(f"\n{title}\n")
    end = readme.find("\n#", start + len(title) + 2)
    return readme[start:end]


def own_zoo_commands() -> list[str]:
    section = readme_section("### Use your own zoo")
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def start_own_zoo(tmp_path_factory) -> Commands:
    """The README's "Use your own zoo" commands, verbatim, in a copy of the checkout (started when the tests
    are collected: they run beside the tests before this one)."""
    folder = tmp_path_factory.mktemp("own-zoo")
    for name in ("Snakefile", "rules", "scripts", "report", "configs"):
        (folder / name).symlink_to(REPO / name)
    (folder / ".venv").symlink_to(sys.prefix)  # the venv running the tests
    shutil.copytree(
        REPO / "examples" / "own-zoo",
        folder / "examples" / "own-zoo",
        ignore=shutil.ignore_patterns("checkpoints", "results", "logs", ".snakemake"),
    )
    return Commands(own_zoo_commands(), cwd=folder)


own_zoo_run, own_zoo_run_handle = started_early("own_zoo_run", start_own_zoo)


def test_own_zoo_example_runs_as_the_readme_says(own_zoo_run, own_zoo_run_handle):
    """The README's "Use your own zoo" commands, verbatim, in a copy of the checkout."""
    commands = own_zoo_commands()
    assert any("snakemake" in command for command in commands)
    for command, result in own_zoo_run:
        assert result.returncode == 0, f"{command}\n{tail(result)}"
    assert len(own_zoo_run) == len(commands)

    results = own_zoo_run_handle.cwd / "examples" / "own-zoo" / "results"
    table = pd.read_csv(results / "lm" / "table2.tsv", sep="\t")
    assert list(table["task"].unique()) == ["my-ner"]
    assert table.groupby("protocol", sort=False)["k"].apply(list).to_dict() == {
        "validated": [1, 2, 3],
        "paper": [1, 2, 3],
    }
    # The heads learn the hand-tagged entities: span F1 far above the 0 of tagging every word O.
    assert (table["mmi"] > 0.3).all()
    selection = pd.read_csv(results / "lm" / "selection.tsv", sep="\t")
    assert set(selection["method"]) == {"mmi", "random"}
    # every member alone is a head of the task (the baseline minilm-l6 among them)
    metrics = pd.read_csv(results / "lm" / "metrics.tsv", sep="\t")
    assert {"mmi", "random", "single"} <= set(metrics["method"])
    assert "minilm-l6" in set(metrics[metrics["method"] == "single"]["members"])
    for protocol in ("validated", "paper"):
        assert (results / "figures" / "lm" / f"task-my-ner-{protocol}.png").stat().st_size > 0


def test_every_target_in_the_readme_is_one_the_demo_config_knows():
    section = readme_section("## Targets")
    commands = re.findall(r"`snakemake --cores \w+ ([^`&]+?)`", section)
    targets = [word for command in commands for word in command.split()]
    assert len(targets) >= 15
    snakemake(REPO, "-n", *targets, "--quiet", "rules", config=None, cores=None)

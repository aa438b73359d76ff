"""Targeted rebuilds: after one complete run, a deleted figure or an edited zoo member reruns only what
depends on it (the LM part of the shared tiny run: 3 members, one demo task, locally on 2 cores). The tests
work on a copy of the shared tiny run (tests/conftest.py), which Snakemake finds complete."""

import copy
import re
from collections import Counter

import pytest
import yaml
from conftest import copy_run
from conftest import snakemake as run_snakemake

pytestmark = pytest.mark.workflow

# Every job that reads a member's features, directly or through kappa: what an edited member must rerun.
DOWNSTREAM_OF_FEATURES = Counter(
    {
        "kappa_member": 1,  # the new or edited member's own part of kappa, not the others'
        "kappa": 1,
        "lm_convergence": 1,
        "select_members": 1,
        "figure_kappa": 1,
        "figure_mi_gain": 1,
        "lm_probes": 1,
        "lm_metrics": 1,
        "lm_table2": 1,
        "figure_lm_task": 2,  # one per protocol
        "rank_members": 1,  # the rankers read every member's task features
        "transferability": 1,
        "figure_transferability": 2,
        "figure_rankers": 2,
        "summary": 1,
        "all": 1,
    }
)


def snakemake(workdir, *args, config):
    return run_snakemake(workdir, *args, config=config).stdout


def planned(workdir, config, *targets):
    """The jobs a dry run would run: [(rule, wildcards, reason)]."""
    text = snakemake(workdir, "--dry-run", *targets, config=config)
    jobs = []
    for line in text.splitlines():
        if m := re.match(r"^\s*(?:local)?rule (\w+):$", line):
            jobs.append({"rule": m.group(1), "wildcards": {}, "reason": ""})
        elif jobs and (m := re.match(r"^\s+(wildcards|reason): (.*)$", line)):
            key, value = m.groups()
            jobs[-1][key] = dict(i.split("=", 1) for i in value.split(", ")) if key == "wildcards" else value
    return jobs


def mtimes(root):
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def done(tiny_run, tmp_path_factory):
    """A copy of the shared tiny run, complete; returns (workdir, config path, config)."""
    workdir = copy_run(tiny_run, tmp_path_factory.mktemp("rebuilds") / "run").workdir
    path = workdir / "config.yaml"
    assert planned(workdir, path) == [], "a complete run left work to do"
    return workdir, path, yaml.safe_load(path.read_text())


def test_deleted_figure_reruns_only_its_rule(done):
    workdir, config, _ = done
    figure = "results/figures/lm/mi-gain.png"
    (workdir / figure).unlink()
    jobs = planned(workdir, config)
    assert sorted(job["rule"] for job in jobs) == ["all", "figure_mi_gain"]
    assert jobs[[j["rule"] for j in jobs].index("figure_mi_gain")]["wildcards"] == {"space": "lm"}
    # asked for by name, the figure is rebuilt and no other file is touched
    before = mtimes(workdir / "results")
    assert [job["rule"] for job in planned(workdir, config, figure)] == ["figure_mi_gain"]
    snakemake(workdir, figure, config=config)
    after = mtimes(workdir / "results")
    assert set(after) == set(before) | {"figures/lm/mi-gain.png"}
    assert {path for path in before if after[path] != before[path]} == set()
    assert planned(workdir, config) == []


def test_deleted_table_reruns_only_its_rule(done):
    workdir, config, _ = done
    table = "results/lm/table2.md"
    (workdir / table).unlink()
    assert sorted(job["rule"] for job in planned(workdir, config)) == ["all", "lm_table2"]
    snakemake(workdir, table, config=config)
    assert planned(workdir, config) == []


def test_edited_member_reruns_its_pass_and_what_depends_on_it(done, tmp_path):
    """minilm-l2 and minilm-l6 are one checkpoint at two layers, one pass a dataset (lm_pass) for both. Editing
    minilm-l2's layer reruns that pass, relinks both members' files and reruns what reads them; nothing of
    tiny-gpt2, which has a pass of its own (lm_features), nor its build."""
    workdir, _, config = done
    edited = copy.deepcopy(config)
    member = edited["lm"]["members"][0]
    assert member["name"] == "minilm-l2"
    member["layer"] = 4
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(edited, sort_keys=False))
    passes = {"results/lm/passes/minilm-l2/bigram-shift", "results/lm/passes/minilm-l2/probe"}

    # --summary: per output file, why it is out of date ("params changed") and whether it will be redone
    rows = [line.split("\t") for line in snakemake(workdir, "--summary", config=path).splitlines()]
    header, rows = rows[0], [dict(zip(rows[0], row)) for row in rows[1:]]
    assert {"output_file", "rule", "status", "plan"} <= set(header)
    # results/config.yaml records the whole config, so any edit rewrites it; nothing depends on it
    assert {r["output_file"] for r in rows if r["status"] == "params changed"} == passes | {"results/config.yaml"}
    pending = {r["output_file"] for r in rows if r["plan"] == "update pending"}
    linked = {f"results/lm/features/{m}/{d}.h5" for m in ("minilm-l2", "minilm-l6") for d in ("bigram-shift", "probe")}
    assert passes | linked <= pending
    assert not [
        r
        for r in rows
        if r["rule"] in ("lm_features", "lm_build_member", "lm_probe_text", "lm_demo_task") and r["plan"] != "no update"
    ]
    # --list-changes params names them too (Snakemake 9.27.1 also lists every other output that has
    # recorded params, changed or not: docs/cluster.md); no rule's code changed
    assert passes <= set(snakemake(workdir, "--list-changes", "params", config=path).split())
    assert snakemake(workdir, "--list-changes", "code", config=path).split() == []

    jobs = planned(workdir, path)
    pass_jobs = [job for job in jobs if job["rule"] == "lm_pass"]
    assert sorted(job["wildcards"]["dataset"] for job in pass_jobs) == ["bigram-shift", "probe"]
    assert {job["wildcards"]["pass_"] for job in pass_jobs} == {"minilm-l2"}
    assert all("Params have changed" in job["reason"] for job in pass_jobs), pass_jobs
    links = {
        (job["wildcards"]["member"], job["wildcards"]["dataset"]) for job in jobs if job["rule"] == "lm_pass_member"
    }
    assert {f"results/lm/features/{m}/{d}.h5" for m, d in links} == linked
    rest = Counter(job["rule"] for job in jobs if job["rule"] not in ("lm_pass", "lm_pass_member"))
    # both members' kappa sketches; no lm_features (tiny-gpt2), lm_build_member, lm_probe_text, ...
    assert rest == DOWNSTREAM_OF_FEATURES + Counter({"kappa_member": 1, "run_config": 1})

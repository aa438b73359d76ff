# report: what the Snakemake report shows besides the figures and tables (the run's config).


rule run_config:
    """The validated config with its defaults filled in, as the report shows it."""
    output:
        config=report(
            "results/config.yaml", caption="../report/config.rst", category="run"
        ),
    log:
        "logs/run-config.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        config=config,
    script:
        "../scripts/run_config.py"


rule summary:
    """The run's headline numbers in Markdown: the paper's tables per protocol and the rankers' results."""
    input:
        **PLAN.summary_inputs(),
    output:
        summary="results/summary.md",
    log:
        "logs/summary.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        experiments=list(PLAN.vision),
        spaces=PLAN.spaces_with_tasks(),
        baselines=PLAN.baselines("lm") if PLAN.lm else [],
        zoo_spaces=[s for s in PLAN.zoo.spaces if PLAN.tasks(s)],
        zoo_pick_spaces=[s for s in PLAN.zoo.spaces if not PLAN.tasks(s)],
    script:
        "../scripts/summary.py"

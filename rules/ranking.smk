# rankers: every member scored on every task by label-based rankers, the label-free MMI order and the
# task-aware MMI order; judged against every member's own head (weighted Kendall tau, as the field does).


rule rank_members:
    """Every ranker's score of every member on one task's training split (one read of each member)."""
    input:
        unpack(ranking_inputs),
    output:
        ranking="results/{space}/ranking/{task}.tsv",
    log:
        "logs/{space}/ranking/{task}.log",
    benchmark:
        "results/benchmarks/{space}/ranking/{task}.tsv"
    wildcard_constraints:
        space=pattern(PLAN.spaces_with_tasks()),
    # torch: the rankers are numpy, but the tracks' task loaders sit beside their head trainers
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        settings=ranking_params,
        version=VERSION,
    script:
        "../scripts/rank_members.py"


rule transferability:
    """Weighted tau, Pearson and top-1 relative accuracy of every ranker against every member's own head."""
    input:
        rankings=ranking_tables,
        metrics="results/{space}/metrics.tsv",
    output:
        table=report(
            "results/{space}/transferability.tsv",
            caption="../report/transferability-table.rst",
            category="{space}",
        ),
    log:
        "logs/{space}/transferability.log",
    wildcard_constraints:
        space=pattern(PLAN.spaces_with_tasks()),
    localrule: True
    conda:
        "../envs/light.yaml"
    script:
        "../scripts/transferability.py"


rule figure_transferability:
    """Weighted tau of every ranker on every task under one protocol, and its mean over tasks."""
    input:
        table="results/{space}/transferability.tsv",
    output:
        figure_outputs(
            "results/figures/{space}/transferability-{protocol}",
            "transferability",
            "{space}",
        ),
    log:
        "logs/{space}/figure-transferability-{protocol}.log",
    wildcard_constraints:
        space=pattern(PLAN.spaces_with_tasks()),
        protocol=pattern(PROTOCOLS),
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        kind="tau",
    script:
        "../scripts/figure_rankers.py"


rule figure_rankers:
    """Test metric against k of heads on each ranker's top-k members, beside MMI and random."""
    input:
        metrics="results/{space}/metrics.tsv",
    output:
        figure_outputs(
            "results/figures/{space}/rankers-{protocol}", "rankers", "{space}"
        ),
    log:
        "logs/{space}/figure-rankers-{protocol}.log",
    wildcard_constraints:
        space=pattern(PLAN.spaces_with_tasks()),
        protocol=pattern(PROTOCOLS),
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        kind="accuracy",
    script:
        "../scripts/figure_rankers.py"

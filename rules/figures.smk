# figures: one rule per figure kind; every figure is a named target.


rule figure_mi_gain:
    """Cumulative MI against k for MMI and random subsets."""
    input:
        table="results/{space}/selection.tsv",
    output:
        figure_outputs("results/figures/{space}/mi-gain", "mi-gain", "{space}"),
    log:
        "logs/{space}/figure-mi-gain.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        title=lambda wildcards: f"{wildcards.space}: MI of the picked members",
    script:
        "../scripts/figure_mi_gain.py"


rule figure_kappa:
    """The paper's Fig. 1: kappa reordered as the members' Ward tree, the tree, and its leaf order."""
    input:
        kappa="results/{space}/kappa.npz",
    output:
        figure=figure_outputs(
            "results/figures/{space}/kappa-dendrogram", "kappa-dendrogram", "{space}"
        ),
        table=report(
            "results/figures/{space}/kappa-dendrogram.tsv",
            caption="../report/kappa-dendrogram-table.rst",
            category="{space}",
        ),
    log:
        "logs/{space}/figure-kappa.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        title=lambda wildcards: f"{wildcards.space}: task covariance kappa",
    script:
        "../scripts/figure_kappa.py"


rule figures:
    """Every figure."""
    input:
        all_figures(),

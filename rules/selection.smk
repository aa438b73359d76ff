# selection: which members MMI and the random baseline pick for every k.


rule select_members:
    """MMI picks for k = 1..k_max, distinct random k-subsets and peek's top-k, with the MI of each."""
    input:
        unpack(selection_inputs),
    output:
        table=report(
            "results/{space}/selection.tsv",
            caption="../report/selection.rst",
            category="{space}",
        ),
    log:
        "logs/{space}/selection.log",
    localrule: True
    conda:
        "../envs/light.yaml"
    params:
        selection=lambda wildcards: SPACES[wildcards.space],
        seed=config["seed"],
        version=VERSION,
    script:
        "../scripts/select_members.py"


rule selections:
    """Every space's selection table."""
    input:
        selection_tables(),

# taskspace: find the few checkpoints in a zoo that serve unseen tasks best.
# Huang, Qiu, Church, "Exploiting a Zoo of Checkpoints for Unseen Tasks", NeurIPS 2021.
#
#   snakemake --cores all                              the demo (config.yaml)
#   snakemake --cores all --configfile configs/X.yaml  another config
#   snakemake --profile profiles/slurm ...             on a Slurm cluster
#   snakemake --list-target-rules                      named targets (figures, tables)


from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/kappa.smk"
include: "rules/selection.smk"
include: "rules/figures.smk"


rule all:
    input:
        selection_tables(),
        all_figures(),
    default_target: True

# taskspace: find the few checkpoints in a zoo that serve unseen tasks best.
# Huang, Qiu, Church, "Exploiting a Zoo of Checkpoints for Unseen Tasks", NeurIPS 2021.
#
#   snakemake --cores all                              the demo (config.yaml)
#   snakemake --cores all --configfile configs/X.yaml  another config
#   snakemake --profile profiles/slurm ...             on a Slurm cluster
#   snakemake --list-target-rules                      named targets (figures, tables)


from snakemake.utils import min_version

min_version("9.0")


# The demo config unless the command line names one: a --configfile is never merged into the demo's keys.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


wildcard_constraints:
    space=pattern(SPACES),
    experiment=pattern(VISION),
    member=pattern(LM_MEMBERS),
    task=pattern([*LM_TASKS, *PLAN.zoo.task_names]) + "|task[0-9]+",
    zoo=pattern(PLAN.zoo.zoos),
    pass_=pattern(PLAN.zoo.passes),


# A track's rules (and its named target: vision, lm) exist only when the config has the track.
if PLAN.has("vision"):

    include: "rules/vision.smk"


if PLAN.has("lm"):

    include: "rules/lm.smk"


if PLAN.zoo.zoos:

    include: "rules/zoo.smk"


include: "rules/kappa.smk"
include: "rules/selection.smk"
include: "rules/figures.smk"
include: "rules/ranking.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        PLAN.targets()["all"],

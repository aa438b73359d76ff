"""What share of a job's memory (Snakemake's ``mem_mb``) the large arrays of a job may take.

No torch here: the rule files import it to size their memory requests while Snakemake parses them.
"""

# kappa's D x D cross-product matrix; the rest holds blocks of features.
MATRIX_SHARE = 0.6

# One group of heads' features. Measured on CPU, a group's peak was about 2.1x its features (them, their
# standardised copy, a finiteness mask) plus 0.8 GB of torch and the task's data.
FEATURE_SHARE = 0.35

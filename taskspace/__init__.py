"""taskspace: pick the few checkpoints of a zoo that serve unseen tasks best.

The method of Huang, Qiu and Church, "Exploiting a Zoo of Checkpoints for Unseen Tasks" (NeurIPS 2021):
probe features -> task covariance kappa -> greedy MMI selection -> linear heads on new tasks.
"""

__version__ = "0.1.0"

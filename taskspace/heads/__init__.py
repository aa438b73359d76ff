"""Linear heads on members' features: step 5 of the method (evaluation).

For one task, every (selection method, round, k) asks for a linear head on the concatenated features of a
subset of the zoo's members. All those heads see the same items, so they are trained together, in one process
and one loop over the data, instead of one process per head.

- ``types``: ``Split`` (inputs), ``HeadConfig`` (how heads train), ``HeadResult`` (what one head achieved).
- ``metrics``: metrics on flat label arrays, batched over heads. ``holdout``: the validation split.
- ``train``: the trainer, ``train_heads``. ``groups``: ``train_heads_in_feature_groups``, the trainer within a
  feature budget. ``protocol``: the ``validated`` and ``paper`` protocols. ``evaluation``: ``evaluate_heads``,
  the entry point both tracks call. ``table``: the metrics table's schema.

Data model: ``X`` holds every member's feature block side by side (n items x D columns); a head is a tuple of
member indices, and its logits are the sum over its members m of ``X_m @ W_{h,m}`` plus a bias, which is what a
linear layer on the concatenation computes. Parameters are stored per member (one ``(d_m, H_m * C)`` matrix
with the columns of every head that reads m), so a step is one dense product per member and one scatter-add
into the (batch, heads, classes) logits: no padding to the widest head, no per-head copies of the features
(benchmarks/README.md, "Heads"). Heads are split into chunks when parameters, gradients and optimiser state
would exceed ``HeadConfig.memory_budget_mb``; each chunk replays the same seeded batches.

Training rules:

- Proper epochs: one seeded shuffle per epoch (``HeadConfig.seed``); the paper reshuffled inside every
  mini-batch, which cannot change the expected result. A head's start is zero, or nn.Linear's init seeded by
  its own members, so its result does not depend on the heads beside it in a chunk or a feature group (up to
  float rounding: on CUDA, ``index_add_`` sums with atomics).
- Loss: the mean over the labelled items of a batch (tokens, not sentences, when batching by sentences):
  cross-entropy, or squared error for ``kind="regression"``. Heads' losses are summed, so each head's
  gradient is the one it would get if trained alone.
- Unlabelled items (``ignore_index`` / NaN) are removed before anything else, standardisation included.
- Standardisation from training-split statistics only: ``column`` z-scores every column, ``block`` divides a
  member block by the root mean of its columns' variances, ``none`` leaves raw features (the paper's).
- Model selection: heads are evaluated every ``eval_every`` epochs and after the last; ``best_epoch`` is the
  evaluated epoch with the best metric on ``select_on`` (earliest on ties, NaN worst); ``dev`` and ``test``
  are the metrics at that epoch.
- Metrics are callables, higher is better: ``metric_input="flat"`` takes 1-D arrays (or, with the attribute
  ``batched = True``, gold (n,) and predictions (H, n)); ``"sentences"`` takes two lists of per-sentence arrays.
"""

from .holdout import stratified_holdout
from .metrics import accuracy, negative_mse, pearson
from .protocol import PROTOCOLS, Protocol, protocol_from_config, protocols_from_config
from .types import HeadConfig, HeadResult, Split

# Imported on first use: the trainer's functions load torch, the metrics table pandas (config validation checks
# HeadConfig without either).
_LAZY = {
    "train_heads": "train",
    "train_heads_in_feature_groups": "groups",
    "feature_groups": "groups",
    "evaluate_heads": "evaluation",
    "METRIC_COLUMNS": "table",
    "metric_rows": "table",
    "metrics_table": "table",
}

__all__ = [
    "PROTOCOLS",
    "HeadConfig",
    "HeadResult",
    "Protocol",
    "Split",
    "accuracy",
    "negative_mse",
    "pearson",
    "protocol_from_config",
    "protocols_from_config",
    "stratified_holdout",
    *_LAZY,
]


def __getattr__(name):
    """The trainer's functions and the metrics table, imported on first use: ``import taskspace.heads`` loads
    neither torch nor pandas."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

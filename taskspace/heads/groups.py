"""Heads within a feature budget: split the heads into groups whose members' features fit, load one group at
a time. A head's result does not depend on its group (up to the float rounding noted in the package)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from .train import check_heads, train_heads
from .types import HeadResult, Split

log = logging.getLogger("taskspace.heads")


def feature_groups(
    head_members: Sequence[Sequence[int]], member_bytes: Sequence[float], budget_bytes: float
) -> list[list[int]]:
    """Groups of heads (indices into ``head_members``) whose members' features together fit ``budget_bytes``.

    Every head is in exactly one group. Greedy: a group starts from the largest remaining head and takes, one by
    one, the head that adds the fewest bytes of members not yet loaded while the group fits. A head whose
    members are all loaded already costs nothing and always joins, so a group exceeds the budget only when its
    first head does alone, and then holds just the heads on that head's members. Ties go to the lower head
    index, so the grouping is deterministic.
    """
    head_bytes = [sum(member_bytes[m] for m in set(members)) for members in head_members]
    remaining = list(range(len(head_members)))
    groups = []
    while remaining:
        first = max(remaining, key=lambda h: head_bytes[h])
        remaining.remove(first)
        group, loaded, used = [first], set(head_members[first]), head_bytes[first]
        while remaining:
            extra = {h: sum(member_bytes[m] for m in set(head_members[h]) - loaded) for h in remaining}
            fitting = [h for h in remaining if used + extra[h] <= budget_bytes or not extra[h]]
            if not fitting:
                break
            best = min(fitting, key=lambda h: extra[h])
            remaining.remove(best)
            group.append(best)
            loaded |= set(head_members[best])
            used += extra[best]
        groups.append(sorted(group))
    return groups


def train_heads_in_feature_groups(
    load_members: Callable[[list[int]], tuple[Split, Split | None, Split]],
    block_widths: Sequence[int],
    n_items: int,
    heads: Sequence[Sequence[int]],
    feature_budget_mb: float | None,
    label: str,
    member_names: Sequence[str] | None = None,
    **train_options,
) -> list[HeadResult]:
    """``train_heads`` with at most ``feature_budget_mb`` of features loaded at a time (None: no limit).

    ``load_members(members)`` returns the (train, dev, test) splits with only those members' blocks, in the
    given (increasing) order (dev may be None); its splits hold ``n_items`` rows in all, so member m's features
    take ``n_items x block_widths[m]`` float32s. Each group trains on its own members only; results come back in
    the order of ``heads``, with ``head`` and ``members`` as given. ``label`` (e.g. the task) names the job in
    log lines; ``train_options`` (metric, config, n_classes, metric_input) go to ``train_heads``. A head that
    alone exceeds the budget still trains, with the heads on its members, after a warning.
    """
    widths = [int(w) for w in block_widths]
    names = list(member_names) if member_names is not None else [f"member {i}" for i in range(len(widths))]
    head_members = check_heads(heads, len(widths))
    member_bytes = [4 * n_items * w for w in widths]
    budget_bytes = math.inf if feature_budget_mb is None else feature_budget_mb * 2**20
    groups = feature_groups(head_members, member_bytes, budget_bytes)
    results: list[HeadResult | None] = [None] * len(head_members)
    for number, group in enumerate(groups, 1):
        members = sorted({m for h in group for m in head_members[h]})
        size_mb = sum(member_bytes[m] for m in members) / 2**20
        _log_group(
            label, number, len(groups), group, head_members, [names[m] for m in members], size_mb, feature_budget_mb
        )
        local = {m: i for i, m in enumerate(members)}
        # The loaded splits go straight in: no name here keeps a group's features alive into the next group.
        trained = train_heads(
            *load_members(members),
            [widths[m] for m in members],
            [[local[m] for m in head_members[h]] for h in group],
            member_names=[names[m] for m in members],
            **train_options,
        )
        for h, result in zip(group, trained):
            results[h] = replace(result, head=h, members=head_members[h])
    return results  # type: ignore[return-value]


def _log_group(label, number, n_groups, group, head_members, names, size_mb, feature_budget_mb) -> None:
    """One line per feature group; a warning when its first head alone exceeds the budget."""
    if feature_budget_mb is not None and size_mb > feature_budget_mb:
        widest = max(group, key=lambda h: len(head_members[h]))  # the head whose members these are
        log.warning(
            "heads: %s: head %d (%s) alone needs %.1f MB of features, over the feature budget of "
            "%.1f MB; training it anyway",
            label,
            widest,
            "+".join(names),
            size_mb,
            feature_budget_mb,
        )
    log.info(
        "heads: %s: feature group %d/%d, %d heads on %d members (%.1f MB): %s",
        label,
        number,
        n_groups,
        len(group),
        len(names),
        size_mb,
        ", ".join(names),
    )

"""Which form kappa takes: the multiply-adds of both exact forms at the shapes (:func:`form_costs`), the cheaper
one (:func:`choose_form`), whether a member's own job makes its Gram (:func:`gram_pays`), the member groups of the
feature form under a memory budget (:func:`member_groups`), and the device names of the torch code path."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TaskspaceError

FEATURE, SAMPLE = "feature", "sample"
FORMS = (FEATURE, SAMPLE)
# A member's own job writes its centred Gram (n x n float64) when that is at most twice its features in float64
# (n <= 2 d): the job then holds at most three times its float64 features, the combine reads at most four times
# the member's float32 file, and the sample form is the cheaper one for any zoo of three or more such members.
GRAM_ITEMS_PER_WIDTH = 2
# torch's code path on the CPU (tests): ``device`` values other than "cpu" run through torch.
TORCH_CPU = "torch-cpu"


def torch_device(device: str) -> str:
    """The torch device of a ``device`` value: TORCH_CPU runs the torch code on the CPU."""
    return "cpu" if device == TORCH_CPU else device


@dataclass(frozen=True)
class FormChoice:
    """The form kappa takes and why: multiply-adds of both forms (symmetry used; Grams that member jobs made
    count nothing), member groups of the feature form under the memory budget, and the shapes."""

    form: str
    feature_macs: float
    sample_macs: float
    groups: int
    n: int
    widths: tuple[int, ...]
    reason: str = "the cheaper form"

    def describe(self) -> str:
        what = {
            SAMPLE: "each member's centred n x n Gram, then their Frobenius products",
            FEATURE: "the D x D cross-product matrix of all members, block by block",
        }[self.form]
        feature = f"feature space n D^2/2 = {self.feature_macs:.3g}"
        if self.groups > 1:
            feature += f" in {self.groups} member groups under the memory budget (one pass per pair of groups)"
        return (
            f"kappa in {self.form} space ({what}), {self.reason}: multiply-adds {feature}, "
            f"sample space n^2 D/2 + m^2 n^2/4 = {self.sample_macs:.3g} "
            f"(n = {self.n} items, m = {len(self.widths)} members, D = {sum(self.widths)} columns)"
        )


def form_costs(n: int, widths, memory_budget_mb: float | None = None, grams=None) -> tuple[float, float, int]:
    """(feature-space, sample-space multiply-adds, member groups of the feature form) at these shapes.

    ``grams[i]`` true: member i's Gram exists already (its own job made it), so it costs nothing here.
    Under a memory budget too small for the D x D matrix, the feature form makes one pass per pair of member
    groups, computing each group's own block in every pass that holds it.
    """
    widths = [int(w) for w in widths]
    grams = [False] * len(widths) if grams is None else list(grams)
    groups = member_groups(widths, memory_budget_mb)
    if len(groups) == 1:
        feature = n * sum(widths) ** 2 / 2
    else:
        group_widths = [sum(widths[i] for i in g) for g in groups]
        feature = sum(n * (a + b) ** 2 / 2 for g, a in enumerate(group_widths) for b in group_widths[g + 1 :])
    made = sum(w for w, g in zip(widths, grams) if not g)
    sample = n * n * made / 2 + len(widths) ** 2 * n * n / 4
    return float(feature), float(sample), len(groups)


def choose_form(
    n: int, widths, memory_budget_mb: float | None = None, grams=None, form: str | None = None
) -> FormChoice:
    """The cheaper exact form at these shapes (``form`` forces one; a member Gram that exists forces sample space,
    which is the only form that uses it without reading that member's features again)."""
    feature, sample, groups = form_costs(n, widths, memory_budget_mb, grams)
    made = sum(map(bool, grams or ()))
    if form is not None:
        if form not in FORMS:
            raise TaskspaceError(f"kappa form: {form!r} is not one of {', '.join(FORMS)}")
        reason = "as asked"
    elif made:
        form, reason = SAMPLE, f"the Grams of {made} of {len(widths)} members made by their own jobs"
    else:
        form, reason = (SAMPLE if sample < feature else FEATURE), "the cheaper form"
    return FormChoice(form, feature, sample, groups, int(n), tuple(int(w) for w in widths), reason)


def gram_pays(n: int, width: int, memory_budget_mb: float | None = None) -> bool:
    """Whether a member's own job makes its Gram: at most twice its features (n <= 2 d) and within the budget."""
    fits = memory_budget_mb is None or 8 * n * (n + width) <= memory_budget_mb * 2**20
    return n <= GRAM_ITEMS_PER_WIDTH * width and fits


def member_groups(widths, memory_budget_mb: float | None) -> list[list[int]]:
    """Consecutive groups of members such that the cross-product matrix of any two groups fits the budget.

    One group (one pass) when all members fit; a member too wide to share the budget with another gets a
    group of its own (its passes then exceed the budget: nothing smaller is exact).
    """
    total = sum(widths)
    if memory_budget_mb is None or 8 * total**2 <= memory_budget_mb * 2**20:
        return [list(range(len(widths)))]
    pair_width = math.isqrt(int(memory_budget_mb * 2**20 // 8))  # widest two groups together
    groups, width = [[]], 0
    for member, member_width in enumerate(widths):
        if groups[-1] and width + member_width > pair_width // 2:
            groups.append([])
            width = 0
        groups[-1].append(member)
        width += member_width
    return groups

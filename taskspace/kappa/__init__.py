"""Task covariance kappa: linear kernel alignment (linear CKA) between every pair of members.

For centred feature matrices X_i (n x d_i) and X_j (n x d_j) over the same n probe items::

    kappa_ij = ||X_i^T X_j||_F^2 / (||X_i^T X_i||_F ||X_j^T X_j||_F) = <K_i, K_j>_F / (||K_i||_F ||K_j||_F)

with K_i = X_i X_i^T the centred Gram matrix (n x n). Two exact forms of the same numbers, in float64:

- **feature space**: the cross-product matrix G = X^T X of all members side by side (D x D, D = sum of
  widths), accumulated block of items by block of items: n D^2 / 2 multiply-adds (symmetric rank-k updates).
- **sample space**: each member's centred Gram K_i (n^2 d_i / 2), then the m x m matrix of Frobenius
  products <K_i, K_j> (m^2 n^2 / 4, both halves of K by symmetry): n^2 D / 2 + m^2 n^2 / 4.

:func:`choose_form` takes the cheaper from the shapes (n, the widths, the memory budget): feature space when n
is large against the widths (LM words), sample space when n is small (probe images against 2,048-wide
ResNet features). Each feature file is read once in either form.

Feature space, one pass: blocks of items of all members are stacked side by side and G is accumulated with a
symmetric rank-k update; every member is shifted by the mean of its first block, so that the final
correction ``G - s s^T / n`` (s = column sums) does not cancel catastrophically. The debiased variant
replaces HSIC by its unbiased estimator (Song et al. 2012), which needs, besides G and s, the squared row
norms r of each member: ``R^T X`` (N x D) and ``R^T R`` (N x N); it is exactly invariant to the shift. G
takes 8 D^2 bytes: over a memory budget the members are split into groups small enough that the matrix of
two groups fits, and one pass per pair of groups fills the pairs' entries (each file read once per other
group, never once per pair).

Sample space, streamed: rows of every member's Gram are made (or read) a chunk of items at a time, only the
upper triangle (the diagonal block and the block right of it), and the m x m products are accumulated with
one symmetric product per chunk; the chunk is as large as the memory budget allows. A member's Gram may come
from its own job (:func:`sketch_member`, centred over the member's own items): restricted to the items every
member has, it is re-centred exactly through its row sums (``<HAH, HBH> = tr(AB) - 2/n (A1).(B1) +
(1'A1)(1'B1)/n^2``), and the debiased estimator needs only the same row sums and the diagonals.

Spread over jobs (rules/kappa.smk): one job per member reads its feature file once and writes its *sketch*
(:func:`sketch_member`): its centred Gram when the Gram is at most twice its features (n <= 2 d), else only
its item keys; a combine job (:func:`kappa_from_sketches`) reads the Grams, and the feature files of members
without one, and takes the cheaper form for those. A new member costs one member job and the combine.

Modules: ``result`` (:class:`KappaResult` and the kappa file), ``forms`` (which form, at what cost; member groups
under a memory budget), ``inputs`` (what every member brings, read from its feature file and checked against the
others), ``feature_space`` and ``sample_space`` (the two exact forms), ``sketches`` (a member job's sketch),
``compute`` (kappa end to end: :func:`linear_cka`, :func:`kappa_from_feature_files`, :func:`kappa_from_sketches`),
``convergence`` (Fig. 2: :func:`kappa_convergence`, :func:`gaussian_kl`). The API is here.
"""

from __future__ import annotations

__all__ = [
    "AlignmentAccumulator",
    "CHUNK_BYTES",
    "FEATURE",
    "FORMS",
    "FormChoice",
    "GRAM_ITEMS_PER_WIDTH",
    "KappaResult",
    "MemberSketch",
    "PANEL_COLUMNS",
    "PROBE_DATA_KEYS",
    "SAMPLE",
    "SKETCH_FORMAT",
    "SKETCH_VERSION",
    "TORCH_CPU",
    "check_agree",
    "check_options",
    "choose_form",
    "form_costs",
    "gaussian_kl",
    "gram_pays",
    "items_lacking",
    "kappa_convergence",
    "kappa_from_feature_files",
    "kappa_from_sketches",
    "linear_cka",
    "load_kappa",
    "member_groups",
    "read_names",
    "read_sketch",
    "save_kappa",
    "save_sketch",
    "sketch_member",
    "torch_device",
]


def __getattr__(name: str):
    """A name of the API, from its module on first use. Bound here at import, a function would count as used by
    every script that imports this package in the rules' import check (tools/imports.py), and the functions that
    compute kappa can load torch: the scripts that only read or write kappa files or member sketches run in the
    light env."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .compute import kappa_from_feature_files, kappa_from_sketches, linear_cka
    from .convergence import gaussian_kl, kappa_convergence
    from .feature_space import PANEL_COLUMNS, AlignmentAccumulator
    from .forms import (
        FEATURE,
        FORMS,
        GRAM_ITEMS_PER_WIDTH,
        SAMPLE,
        TORCH_CPU,
        FormChoice,
        choose_form,
        form_costs,
        gram_pays,
        member_groups,
        torch_device,
    )
    from .inputs import PROBE_DATA_KEYS, check_agree, check_options, items_lacking
    from .result import KappaResult, load_kappa, read_names, save_kappa
    from .sample_space import CHUNK_BYTES
    from .sketches import SKETCH_FORMAT, SKETCH_VERSION, MemberSketch, read_sketch, save_sketch, sketch_member

    return {
        "AlignmentAccumulator": AlignmentAccumulator,
        "CHUNK_BYTES": CHUNK_BYTES,
        "FEATURE": FEATURE,
        "FORMS": FORMS,
        "FormChoice": FormChoice,
        "GRAM_ITEMS_PER_WIDTH": GRAM_ITEMS_PER_WIDTH,
        "KappaResult": KappaResult,
        "MemberSketch": MemberSketch,
        "PANEL_COLUMNS": PANEL_COLUMNS,
        "PROBE_DATA_KEYS": PROBE_DATA_KEYS,
        "SAMPLE": SAMPLE,
        "SKETCH_FORMAT": SKETCH_FORMAT,
        "SKETCH_VERSION": SKETCH_VERSION,
        "TORCH_CPU": TORCH_CPU,
        "check_agree": check_agree,
        "check_options": check_options,
        "choose_form": choose_form,
        "form_costs": form_costs,
        "gaussian_kl": gaussian_kl,
        "gram_pays": gram_pays,
        "items_lacking": items_lacking,
        "kappa_convergence": kappa_convergence,
        "kappa_from_feature_files": kappa_from_feature_files,
        "kappa_from_sketches": kappa_from_sketches,
        "linear_cka": linear_cka,
        "load_kappa": load_kappa,
        "member_groups": member_groups,
        "read_names": read_names,
        "read_sketch": read_sketch,
        "save_kappa": save_kappa,
        "save_sketch": save_sketch,
        "sketch_member": sketch_member,
        "torch_device": torch_device,
    }[name]


def __dir__():
    return sorted({*globals(), *__all__})

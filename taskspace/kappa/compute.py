"""kappa end to end: the members' inputs read and checked, the cheaper exact form chosen (:func:`choose_form`)
and computed. :func:`linear_cka`: in-memory arrays; :func:`kappa_from_feature_files`: feature files, in one job;
:func:`kappa_from_sketches`: the combine of the member jobs' sketches."""

from __future__ import annotations

import logging
import os

import numpy as np

from ..errors import TaskspaceError
from .feature_space import AlignmentAccumulator, _feature_hsic
from .forms import SAMPLE, choose_form
from .inputs import _Keys, _lacking, _Member, _read_member, check_agree, check_finite, check_options
from .result import KappaResult, _normalised
from .sample_space import _Backend, _FeatureRows, _sample_hsic, _sample_products
from .sketches import read_sketch

log = logging.getLogger("taskspace.kappa")


def linear_cka(features, debiased: bool = False, block_items: int = 4096, form: str | None = None) -> np.ndarray:
    """kappa of in-memory feature matrices (one n x d_i array per member, same items in the same order), in the
    cheaper form at their shapes (:func:`choose_form`; ``form`` forces one): a task's few training items against
    a thousand members' features (task-aware MMI) is sample space."""
    n = {len(x) for x in features}
    if len(n) != 1:
        raise ValueError(f"members have different numbers of items: {sorted(n)}")
    n = n.pop()
    names = [str(i) for i in range(len(features))]
    choice = choose_form(n, [x.shape[1] for x in features], form=form)
    if choice.form == SAMPLE:
        sources = []
        for i, x in enumerate(features):
            x = np.array(x, dtype=np.float64)
            check_finite(x, names[i])
            sources.append(_FeatureRows(x - x.mean(axis=0)))
        return _normalised(_sample_products(sources, n, debiased, _Backend("cpu"), None, block_items), names)
    accumulator = AlignmentAccumulator([x.shape[1] for x in features], debiased=debiased)
    for start in range(0, n, block_items):
        accumulator.add([x[start : start + block_items] for x in features])
    return accumulator.kappa()


# --- the one-job path -----------------------------------------------------------------------------------------


def kappa_from_feature_files(
    paths,
    members=None,
    set_name: str = "probe",
    debiased: bool = False,
    block_items: int = 4096,
    device: str = "cpu",
    memory_budget_mb: float | None = None,
    form: str | None = None,
) -> KappaResult:
    """kappa over feature files, one per member, in one process; items some member lacks are dropped for all.

    The form is the cheaper at the files' shapes (:func:`choose_form`; ``form`` forces one) and each file is read
    once. The result's ``dropped`` counts, per member, the items it lacks (:func:`items_lacking`).
    Feature space: one pass when the D x D matrix fits ``memory_budget_mb`` (or no budget is given), otherwise
    one pass per pair of member groups (:func:`member_groups`). Sample space: Gram rows a chunk at a time, the
    members' centred features kept in memory or, over the budget, in temporary files.
    """
    check_options(block_items, memory_budget_mb)
    paths = [str(p) for p in paths]
    names = list(members) if members is not None else [None] * len(paths)
    inputs = [_read_member(p, m, set_name) for p, m in zip(paths, names)]
    return _kappa(inputs, set_name, debiased, block_items, device, memory_budget_mb, form)


def _kappa(inputs, set_name, debiased, block_items, device, memory_budget_mb, form=None) -> KappaResult:
    from ..features import common_items

    check_agree(inputs)
    names = [m.name for m in inputs]
    rows = common_items([_Keys(m.items) for m in inputs], set_name)
    n_items = len(rows[0])
    if n_items == 0:
        raise TaskspaceError(f"the feature files share no {set_name!r} items: {', '.join(m.path for m in inputs)}")
    widths = [m.width for m in inputs]
    grams = [m.sketch is not None for m in inputs]
    choice = choose_form(n_items, widths, memory_budget_mb, grams if any(grams) else None, form)
    log.info("%s", choice.describe())
    if choice.form == SAMPLE:
        hsic = _sample_hsic(inputs, rows, set_name, debiased, block_items, device, memory_budget_mb)
    else:
        hsic = _feature_hsic(inputs, rows, set_name, debiased, block_items, device, memory_budget_mb)
    kappa = _normalised(hsic, names)
    lacking, n_union = _lacking([m.items for m in inputs])
    totals = [len(m.items) for m in inputs]
    dropped = {m: t - n_items for m, t in zip(names, totals) if t != n_items}  # items it had, left out
    return KappaResult(
        kappa=kappa,
        members=names,
        n_items=n_items,
        debiased=debiased,
        meta={"items_dropped": dropped, "set": set_name, "form": choice.form, "choice": choice},
        dropped=lacking,
        n_items_dropped=n_union - n_items,
    )


# --- spread over jobs: the combine of the member sketches -----------------------------------------------------


def kappa_from_sketches(
    sketches,
    features=None,
    members=None,
    debiased: bool = False,
    block_items: int = 4096,
    device: str = "cpu",
    memory_budget_mb: float | None = None,
    form: str | None = None,
) -> KappaResult:
    """The combine: kappa from the member jobs' sketches (:func:`sketch_member`), in config order.

    ``features``: each member's feature file, as the workflow names it (a sketch made from another file is
    refused); ``members``: the names. Members with a Gram are read from their sketch, the others from their
    feature file (each read once). With a Gram anywhere the form is sample space; without, the cheaper form.
    """
    check_options(block_items, memory_budget_mb)
    sketches = [str(p) for p in sketches]
    features = [str(p) for p in features] if features is not None else [None] * len(sketches)
    names = list(members) if members is not None else [None] * len(sketches)
    if not (len(features) == len(names) == len(sketches)):
        raise ValueError("one feature file and one name per sketch")
    inputs, set_names = [], set()
    for path, feature_file, name in zip(sketches, features, names):
        sketch, has_gram = read_sketch(path)
        if feature_file is not None and os.path.normpath(sketch.feature_file) != os.path.normpath(feature_file):
            raise TaskspaceError(
                f"{path}: made from {sketch.feature_file}, not from {feature_file}; delete it and rerun"
            )
        if name is not None and sketch.member != name:
            raise TaskspaceError(f"{path}: sketch of member {sketch.member!r}, expected {name!r}; delete it and rerun")
        set_names.add(sketch.set_name)
        inputs.append(
            _Member(
                sketch.member,
                sketch.feature_file,
                sketch.items,
                sketch.width,
                sketch.provenance,
                path if has_gram else None,
            )
        )
    if len(set_names) > 1:
        raise TaskspaceError(f"member sketches of different feature sets: {', '.join(sorted(set_names))}")
    return _kappa(inputs, set_names.pop(), debiased, block_items, device, memory_budget_mb, form)

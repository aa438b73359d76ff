"""Fig. 2: kappa on the first n probe sentences for every n, in one pass (:func:`kappa_convergence`), against the
full kappa by the KL divergence of their Gaussians (:func:`gaussian_kl`)."""

from __future__ import annotations

import logging
import math

import numpy as np

from ..errors import TaskspaceError
from .feature_space import AlignmentAccumulator

log = logging.getLogger("taskspace.kappa")


def gaussian_kl(reference: np.ndarray, estimate: np.ndarray) -> float:
    """KL(N(0, reference) || N(0, estimate)) in nats, Fig. 2's measure.

    The paper's LMs/estimate_kappa/diff_two_gaussians.py with S0 = reference (kappa*) and S1 = estimate:
    ``0.5 * (tr(inv(S1) S0) - N + logdet(S1) - logdet(S0))``. The paper asserts that both are positive
    definite (slogdet sign 1); here a singular estimate gives inf and a singular reference NaN.
    """
    m = len(reference)
    sign_reference, logdet_reference = np.linalg.slogdet(reference)
    if sign_reference <= 0 or not np.isfinite(logdet_reference):
        return math.nan
    sign_estimate, logdet_estimate = np.linalg.slogdet(estimate)
    if sign_estimate <= 0 or not np.isfinite(logdet_estimate):
        return math.inf
    trace = np.trace(np.linalg.solve(estimate, reference))
    return float(0.5 * (trace - m + logdet_estimate - logdet_reference))


def _line_words(text, first_file, set_name: str) -> np.ndarray:
    """Words on each probe line, ``len(line.strip().split())`` as the paper's LMs/estimate_kappa/convergence.py
    counts them; without the text, the first member's items per sentence (fewer if it truncated any)."""
    if text is not None:
        with open(text, encoding="utf-8") as handle:
            return np.array([len(line.split()) for line in handle if line.strip()], dtype=np.int64)
    sentence = first_file.items(set_name)[:, 0]
    return np.bincount(sentence.astype(np.int64)) if len(sentence) else np.zeros(0, dtype=np.int64)


def kappa_convergence(
    paths, sentence_counts, members=None, set_name: str = "probe", block_items: int = 4096, text=None
):
    """kappa on the first n sentences for every n, in ONE pass (snapshots of the running accumulator): Fig. 2.

    Returns the full kappa (the paper's kappa*) and a table, one row per n: sentences (n), words (on the
    first n lines of the probe ``text``, Fig. 2's x; LMs/estimate_kappa/convergence.py), items_used (the
    probe items kappa_n used: the words every member kept), kl (KL(kappa* || kappa_n), :func:`gaussian_kl`),
    correlation (Pearson r of the off-diagonal entries of kappa_n and kappa*), identity_kl (KL(kappa* || I),
    the paper's isotropic baseline, drawn at 1 word) and probe_words (all the text's words, where kappa*
    itself is drawn, KL 0). Items are (sentence, word) keys; the first file's order sets the stream.
    """
    import pandas as pd

    from ..features import FeatureFile, aligned_blocks, common_items

    files = [FeatureFile(p) for p in paths]
    try:
        names = (
            list(members) if members is not None else [f.provenance.get("member", str(p)) for f, p in zip(files, paths)]
        )
        rows = common_items(files, set_name)
        sentence = files[0].items(set_name)[rows[0], 0]
        if len(sentence) and np.any(np.diff(sentence) < 0):
            raise TaskspaceError(f"{paths[0]}: {set_name!r} items are not in sentence order")
        words = np.cumsum(_line_words(text, files[0], set_name))  # words on the first 1, 2, ... lines
        counts = sorted({int(n) for n in sentence_counts if n > 0})
        stops = [int(np.searchsorted(sentence, n)) for n in counts]  # rows of the first n sentences
        accumulator = AlignmentAccumulator([f.width(set_name) for f in files], names=names)
        snapshots, done = {}, 0
        for stop, n in zip(stops + [len(sentence)], counts + [None]):
            if stop > done:
                cut = [r[done:stop] for r in rows]
                for block in aligned_blocks(files, set_name, cut, block_items):
                    accumulator.add(block)
                done = stop
            if n is not None and accumulator.n >= 2:
                snapshots[n] = (accumulator.n, accumulator.kappa())
        full = accumulator.kappa()
    finally:
        for f in files:
            f.close()
    identity_kl = gaussian_kl(full, np.eye(len(full)))
    if math.isnan(identity_kl):
        log.warning("kappa convergence: the full kappa is singular (duplicate members?): every KL is NaN")
    off = ~np.eye(len(full), dtype=bool)
    words = np.concatenate([[0], words])  # words[n]: on the first n lines
    table = pd.DataFrame(
        [
            dict(
                sentences=n,
                words=int(words[min(n, len(words) - 1)]),
                items_used=items,
                kl=gaussian_kl(full, kappa),
                correlation=float(np.corrcoef(full[off], kappa[off])[0, 1]) if len(full) > 2 else np.nan,
                identity_kl=identity_kl,
                probe_words=int(words[-1]),
            )
            for n, (items, kappa) in sorted(snapshots.items())
        ],
        columns=["sentences", "words", "items_used", "kl", "correlation", "identity_kl", "probe_words"],
    )
    return full, table

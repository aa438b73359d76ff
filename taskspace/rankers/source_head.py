"""The rankers that read a member's source-head probabilities ``(n, C_source)``: LEEP and NCE."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def _leep(probs: np.ndarray, index: np.ndarray, classes: int) -> float:
    """LEEP, Nguyen et al. (ICML 2020), as thuml/LogME LEEP.py: joint P(y, z) = sum over items of class y of
    theta(z) / n, P(y | z) = P(y, z) / P(z), score = mean log sum_z theta_i(z) P(y_i | z)."""
    n = len(probs)
    onehot = sparse.csr_matrix((np.ones(n), (index, np.arange(n))), shape=(classes, n))
    joint = np.asarray(onehot @ probs) / n
    marginal = joint.sum(axis=0)
    conditional = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    return float(np.log(np.einsum("iz,iz->i", probs, conditional[index])).mean())


def _nce(probs: np.ndarray, index: np.ndarray, classes: int) -> float:
    """NCE, Tran et al. (ICCV 2019), as thuml/LogME NCE.py and tllib/ranking/nce.py: source labels z are the
    argmax of the source head; ``-H(Y | Z) = sum P(y, z) log (P(y, z) / P(z))`` over the empirical joint, empty
    source classes left out and 0 log 0 = 0 (tllib adds 1e-20 inside the log instead)."""
    n, sources = probs.shape
    source = probs.argmax(axis=1)
    joint = np.bincount(index * sources + source, minlength=classes * sources).reshape(classes, sources) / n
    marginal = joint.sum(axis=0, keepdims=True)
    ratio = np.divide(joint, marginal, out=np.ones_like(joint), where=joint > 0)
    return float((joint * np.log(ratio)).sum())

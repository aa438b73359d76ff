"""An agent's penultimate features of the probe set and of the admin's images, as one feature file.

Sets (see ``taskspace.features``):

* ``probe``: every probe image as it is and rotated by each of ``PROBE_ROTATIONS`` degrees (the paper's
  probe set: 10 images per class, 7 views each); item key ``(image id, rotation index)``, where index 0 is
  the unrotated image and index i >= 1 is ``PROBE_ROTATIONS[i - 1]``.
* ``train`` / ``test``: every admin train / test image of the split; item key ``(image id,)`` (ids index
  the dataset's train / test pool respectively).
* ``train_source`` / ``test_source``: the agent's own head on those images, softmax over its C classes (the
  source-head predictions that LEEP and NCE read); same item keys.

Rotations use the same bilinear, zero-filled resampling as training augmentation, applied to the raw
[0, 1] image before the agent's own normalisation. Features are computed in float32 (attribute
``precision``), as the paper's ``vision/utils.py`` ``extract``; ``dtype`` only sets how they are stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import TaskspaceError
from ..features import write_features
from ..provenance import library_versions
from .agents import LIBRARIES, Agent, affine_resample
from .data import ImageDataset, to_float_tensor
from .split import Split

log = logging.getLogger(__name__)

PROBE_ROTATIONS = (-15.0, -10.0, -5.0, 5.0, 10.0, 15.0)
SETS = ("probe", "train", "test", "train_source", "test_source")


def probe_views(images: torch.Tensor, rotations=PROBE_ROTATIONS) -> tuple[torch.Tensor, np.ndarray]:
    """All views of float images ``(N, C, H, W)``: (views ``(N * (1 + R), C, H, W)``, rotation index per view).

    Views are ordered image by image, each image's views by rotation index, matching the item keys.
    """
    n = len(images)
    angles = torch.tensor((0.0, *rotations), dtype=torch.float32)
    repeated = images.repeat_interleave(len(angles), dim=0)
    turned = affine_resample(repeated, angles.repeat(n))
    turned[:: len(angles)] = images  # index 0 is the image itself, not a resampled copy
    return turned, np.tile(np.arange(len(angles)), n)


def agent_features(
    agent: Agent, data: ImageDataset, split: Split, batch_size: int = 512, rotations=PROBE_ROTATIONS
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{set name: (item keys, float32 vectors)}`` for the sets of ``SETS``."""
    sets = {}
    probe_ids = split.probe_ids
    views, rotation_index = probe_views(to_float_tensor(data.train.images[probe_ids]), rotations)
    keys = np.stack([np.repeat(probe_ids, 1 + len(rotations)), rotation_index], axis=1)
    sets["probe"] = (keys, agent.features(views, batch_size).cpu().numpy())
    for part in ("train", "test"):
        ids, _ = split.admin_ids(part)
        images = to_float_tensor(data.pool(part).images[ids])
        sets[part] = (ids[:, None], agent.features(images, batch_size).cpu().numpy())
        sets[f"{part}_source"] = (ids[:, None], torch.softmax(agent.logits(images, batch_size), 1).cpu().numpy())
    return sets


def extract_agent_features(
    agent: Agent,
    data: ImageDataset,
    split: Split,
    out_path,
    weights_path=None,
    batch_size: int = 512,
    dtype: str = "float32",
    rotations=PROBE_ROTATIONS,
) -> dict:
    """Write ``out_path`` (HDF5) with the sets ``probe``, ``train``, ``test``; return the provenance written.

    ``weights_path`` (the agent's safetensors file) is recorded by name and content hash, so a feature file
    can be traced to the exact weights that made it.
    """
    split.check_dataset(data)
    trained_on = agent.meta.get("split_hash")
    if trained_on is not None and trained_on != split.hash:
        raise TaskspaceError(
            f"agent {agent.name}: trained on split {trained_on}, not on this split {split.hash}; retrain it"
        )
    start = time.perf_counter()
    sets = agent_features(agent, data, split, batch_size, rotations)
    provenance = feature_provenance(agent, split, weights_path, rotations)
    write_features(out_path, sets, provenance, dtype=dtype)
    log.info(
        "agent %s: features of %s written to %s in %.1f s",
        agent.name,
        ", ".join(f"{len(v[0])} {k}" for k, v in sets.items()),
        out_path,
        time.perf_counter() - start,
    )
    return provenance


def feature_provenance(agent: Agent, split: Split, weights_path=None, rotations=PROBE_ROTATIONS) -> dict:
    """The attributes of an agent's feature file: what made it, from which split, with which libraries."""
    meta = agent.meta
    provenance = {
        "member": meta["name"],
        "track": "vision",
        "source": Path(weights_path).name if weights_path is not None else "",
        "revision": _file_hash(weights_path) if weights_path is not None else "",
        "architecture": meta["architecture"],
        "classes": json.dumps(meta["classes"]),
        "layer": "penultimate",
        "pooling": "global average",
        "dataset": split.dataset,
        "split_hash": split.hash,
        "probe_rotations": json.dumps(list(rotations)),
        "normalization": json.dumps(meta["normalization"], sort_keys=True),
        # Features are computed in float32 whatever the agent trained in (its JSON's precision), as the paper's.
        "precision": "float32",
    }
    provenance.update(library_versions(*LIBRARIES))
    return provenance


def _file_hash(path) -> str:
    """Hash of the weights a safetensors file holds (names, dtypes, shapes, values, metadata), not of its
    bytes: safetensors writes its metadata keys in a random order, so saving the same agent twice gives
    different bytes, and a byte hash would make the features of identical runs differ."""
    from safetensors import safe_open

    digest = hashlib.sha256()
    with safe_open(str(path), framework="pt") as handle:
        digest.update(json.dumps(handle.metadata() or {}, sort_keys=True).encode())
        for key in sorted(handle.keys()):
            tensor = handle.get_tensor(key).contiguous()
            digest.update(f"{key}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]

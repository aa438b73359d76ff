"""Device and precision of the image kinds' forward passes (the config's ``device`` and ``extraction.precision``).

``auto``: float16 on CUDA, float32 on the CPU, as the LM members (:func:`taskspace.device.resolve_precision`).
The weights stay float32 and the pass runs under ``torch.autocast`` in the half type, which keeps batch
norms, layer norms and softmax in float32: a conv net's statistics do not overflow in float16.
"""

from __future__ import annotations

import contextlib

from ..device import resolve_device, resolve_precision


def resolve(device: str, precision: str, where: str):
    """(device, torch dtype of the computation) for a pass."""
    import torch

    device = resolve_device(device)
    return device, getattr(torch, resolve_precision(precision, device, where=where))


def autocast(device: str, dtype):
    """``torch.autocast`` in ``dtype``, or nothing for float32."""
    import torch

    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=dtype)

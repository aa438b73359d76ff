"""Where torch work runs and in which precision: the config's ``device: auto | cpu | cuda`` and the
``precision: auto | float32 | float16 | bfloat16`` keys of LM extraction and agent training."""

from __future__ import annotations

from .errors import TaskspaceError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "float32", "float16", "bfloat16")


def resolve_device(device: str = "auto") -> str:
    """'auto' means CUDA when a GPU is visible, else CPU; 'cuda' without a GPU is an error."""
    if device not in DEVICES:
        raise TaskspaceError(f"device: {device!r} is not one of {', '.join(DEVICES)}")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise TaskspaceError("device: 'cuda' was asked for but no CUDA GPU is visible (set device: cpu or auto)")
    return "cpu"


def resolve_precision(precision: str, device: str, half: str = "float16", where: str = "precision") -> str:
    """The torch dtype name a ``precision`` key means on a resolved ``device`` (cpu or cuda).

    'auto' is ``half`` on CUDA and float32 on the CPU (where half precision is slow and inexact); the
    other values are taken as they are, on any device. ``where`` names the key in the error.
    """
    if precision not in PRECISIONS:
        raise TaskspaceError(f"{where}: {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return half if device == "cuda" else "float32"

"""Where torch work runs: the config's ``device: auto | cpu | cuda``."""

from __future__ import annotations

from .errors import TaskspaceError

DEVICES = ("auto", "cpu", "cuda")


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

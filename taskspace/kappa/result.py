"""What kappa is handed on as: :class:`KappaResult`, and the kappa file (:func:`save_kappa`, :func:`load_kappa`,
:func:`read_names`); :func:`_normalised` makes kappa of the HSIC matrix of either form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError


@dataclass
class KappaResult:
    """kappa with its members in row order and the probe items it used.

    ``dropped[i]``: how many probe items member i lacks (of the items some member has), each of them left
    out of kappa for all members; ``n_items_dropped``: how many items that left out in all (None for a
    bare matrix, or a kappa file written before these were recorded).
    """

    kappa: np.ndarray
    members: list[str]
    n_items: int
    debiased: bool = False
    meta: dict = field(default_factory=dict)
    dropped: np.ndarray | None = None
    n_items_dropped: int | None = None


def _normalised(hsic: np.ndarray, names) -> np.ndarray:
    """kappa from HSIC: unit diagonal, exactly symmetric."""
    scale = np.sqrt(np.clip(np.diag(hsic), 0, None))
    if (scale <= 0).any():
        name = names[int(np.argmin(scale))]
        raise TaskspaceError(f"member {name!r}: zero-variance features on the probe items")
    kappa = hsic / np.outer(scale, scale)
    np.fill_diagonal(kappa, 1.0)
    return (kappa + kappa.T) / 2


def save_kappa(result: KappaResult, path) -> None:
    """The kappa file (npz, atomic): matrix, member names in row order, number of probe items used and,
    when known, ``dropped`` (per member, aligned with ``members``: the probe items it lacks, which kappa
    left out for all) and ``n_items_dropped`` (how many items kappa left out in all)."""
    from ..atomic import atomic_path, partial_path

    if Path(path).is_dir():
        raise TaskspaceError(f"{path}: is a folder; give the kappa file's name, e.g. {Path(path) / 'kappa.npz'}")
    extra = {}
    if result.dropped is not None:
        extra = {"dropped": np.asarray(result.dropped, dtype=np.int64), "n_items_dropped": result.n_items_dropped}
    try:
        with atomic_path(path) as partial, open(partial, "wb") as handle:
            np.savez(
                handle,
                kappa=result.kappa,
                members=np.array(result.members, dtype=str),
                n_items=result.n_items,
                debiased=result.debiased,
                **extra,
            )
    except OSError:
        partial_path(path).unlink(missing_ok=True)  # the rename failed after the file was written
        raise


def load_kappa(path, names=None) -> KappaResult:
    """Read a kappa file of ours (.npz) or a bare matrix (.npy, optionally with a names file)."""
    import zipfile
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise TaskspaceError(f"{path}: kappa file not found")
    with open(path, "rb") as handle:  # numpy reads any other bytes as a pickle, and says so
        magic = handle.read(6)
    if path.suffix == ".npy" and magic != b"\x93NUMPY":
        raise TaskspaceError(
            f"{path}: not a NumPy .npy file (write it with numpy.save; a matrix in a text file: "
            f"numpy.save('kappa.npy', numpy.loadtxt('kappa.txt')))"
        )
    if path.suffix != ".npy" and not magic.startswith(b"PK"):
        raise TaskspaceError(
            f"{path}: not a NumPy .npz file (not a zip archive); give kappa as a .npy matrix "
            f"(numpy.save) or a .npz kappa file"
        )
    try:
        if path.suffix == ".npy":
            kappa = np.load(path, allow_pickle=False)
            result = KappaResult(kappa=kappa, members=[str(i) for i in range(len(kappa))], n_items=0)
        else:
            with np.load(path, allow_pickle=False) as data:
                result = KappaResult(
                    kappa=data["kappa"],
                    members=[str(m) for m in data["members"]],
                    n_items=int(data["n_items"]),
                    debiased=bool(data["debiased"]),
                )
                if "dropped" in data:  # kappa files written before these were recorded lack them
                    result.dropped = data["dropped"]
                    result.n_items_dropped = int(data["n_items_dropped"])
    except (ValueError, OSError, KeyError, zipfile.BadZipFile) as error:
        raise TaskspaceError(f"{path}: not a kappa matrix (.npy) or kappa file (.npz): {error}") from None
    if result.kappa.ndim != 2 or result.kappa.shape[0] != result.kappa.shape[1]:
        raise TaskspaceError(f"{path}: kappa must be a square matrix, got shape {result.kappa.shape}")
    if names is not None:
        members = read_names(names)
        if len(members) != len(result.kappa):
            size = len(result.kappa)
            raise TaskspaceError(f"{names}: {len(members)} member names for the {size} x {size} kappa in {path}")
        result.members = members
    return result


def read_names(path) -> list[str]:
    """Member names, one per line (blank lines ignored); duplicates are an error naming the line."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise TaskspaceError(f"{path}: names file not found")
    names = []
    seen = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        name = line.strip()
        if not name:
            continue
        if name in seen:
            raise TaskspaceError(f"{path}:{number}: member {name!r} repeats line {seen[name]}")
        seen[name] = number
        names.append(name)
    return names

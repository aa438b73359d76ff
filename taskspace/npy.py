"""A .npy array a user hands over (on the command line): any other file is a one-line error naming it.

numpy reads bytes that do not start with the .npy magic as a pickle and then refuses them ("This file contains
pickled (object) data"), and opens a .npz archive as a mapping whose array is a shape (1,) object: neither names
the file's real problem. So the magic bytes are checked first, as ``taskspace.kappa.load_kappa`` does for kappa.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import TaskspaceError

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK"


def load_npy(path, what: str) -> np.ndarray:
    """The array in ``path`` (``what`` it is, for the message), read without pickles."""
    path = Path(path)
    if not path.exists():
        raise TaskspaceError(f"{path}: file not found ({what})")
    if path.is_dir():
        raise TaskspaceError(f"{path}: a folder; {what} must be a .npy file")
    with open(path, "rb") as handle:
        magic = handle.read(len(NPY_MAGIC))
    if magic.startswith(ZIP_MAGIC):
        raise TaskspaceError(
            f"{path}: a .npz archive; {what} must be one .npy array written by numpy.save "
            f"(one of its arrays: numpy.save('{path.stem}.npy', numpy.load('{path.name}')['NAME']))"
        )
    if magic != NPY_MAGIC:
        raise TaskspaceError(
            f"{path}: not a NumPy .npy file; {what} must be a .npy array written by numpy.save "
            f"(a table in a text file: numpy.save('{path.stem}.npy', numpy.loadtxt('{path.name}', delimiter=',')))"
        )
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise TaskspaceError(f"{path}: not a readable .npy array ({what}): {error}") from None

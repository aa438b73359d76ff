"""Write files so that an interrupted job never leaves one that looks finished."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path


def partial_path(path) -> Path:
    """The hidden name a file is written under until it is complete."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


@contextmanager
def atomic_path(path):
    """Yield a partial path to write to; move it into place only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    partial.unlink(missing_ok=True)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def write_table(table, path) -> None:
    """Write a pandas DataFrame as TSV, atomically."""
    with atomic_path(path) as partial:
        table.to_csv(partial, sep="\t", index=False, float_format="%.10g")


def link_into_place(source, path) -> None:
    """Make ``path`` the file ``source`` by a hard link (a copy where the file system has none), atomically,
    with the time of now: the file is the newer of the two for Snakemake, whose mtime of a ``directory()``
    output is its own timestamp file's."""
    with atomic_path(path) as partial:
        try:
            os.link(source, partial)
        except OSError:  # another file system, or none with hard links
            shutil.copyfile(source, partial)
        os.utime(partial)

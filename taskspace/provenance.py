"""The library versions a feature file or an agent file records: what made it, for provenance.

Its own module rather than :mod:`taskspace.features`: an agent's JSON file records them too, and agent code
should not import h5py for it; nor should this import torch or transformers before a caller asks for them.
"""

from __future__ import annotations

from importlib import import_module


def library_versions(*libraries: str) -> dict[str, str]:
    """``{"taskspace_version": ..., "<library>_version": ...}`` for taskspace and each named library, in order.

    ``libraries`` are import names (``"torch"``, ``"transformers"``); the keys are the attribute names both
    tracks' feature files carry. Values are plain str: torch's version is a str subclass that HDF5 attributes
    do not take.
    """
    from . import __version__

    versions = {"taskspace_version": str(__version__)}
    for name in libraries:
        versions[f"{name}_version"] = str(import_module(name).__version__)
    return versions

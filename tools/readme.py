"""Blocks of the README that a command writes, between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``."""

from __future__ import annotations


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def embed(readme: str, name: str, block: str) -> str:
    """The README with block ``name`` replaced; a README without that block is an error naming it."""
    start, end = markers(name)
    if start not in readme or end not in readme:
        raise ValueError(f"README has no {start} ... {end} block")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{block.strip()}\n{end}{tail}"


def embedded(readme: str, name: str) -> str:
    """What block ``name`` holds now."""
    start, end = markers(name)
    return readme.split(start, 1)[1].split(end, 1)[0].strip()

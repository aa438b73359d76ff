"""Batches for a pass, decoded and preprocessed beside the model: extraction only loops ``pass_.embed(batch)``.

For an image pass, a torch ``DataLoader`` with ``workers`` processes reads each item (``load``: a path -> a
PIL image), runs ``pass_.preprocess`` on it and stacks the batch, while the main process runs the model on
the batch before; nothing is pinned (the model may be on the CPU). Batches come in item order. A text pass
gets its items in batches as they are (tokenising is part of ``embed``).

An item that cannot be read stops the iteration with the loader's one-line :class:`TaskspaceError` (or,
for any other exception, one naming the item), raised in the main process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import TaskspaceError

PREFETCH = 4  # batches each worker prepares ahead


def open_image(path):
    """A path -> a decoded PIL image (the default ``load``)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise TaskspaceError(f"{path}: cannot read the image ({type(error).__name__}: {error})") from None


def preprocessed_batches(
    pass_, items: Sequence, load: Callable[[Any], Any] | None = None, batch_size: int = 32, workers: int = 2
) -> Iterator:
    """Yield what ``pass_.embed`` takes, ``batch_size`` items at a time, in order.

    Image pass: ``load(item)`` (default :func:`open_image`) and ``pass_.preprocess`` run in ``workers``
    DataLoader processes (0: in this process), each batch a float32 CPU tensor (B, C, H, W). Text pass:
    lists of items (``load(item)`` when given: a str or a (text, pair) tuple).
    """
    if batch_size < 1:
        raise TaskspaceError(f"extraction.batch_size: {batch_size} must be at least 1")
    if pass_.modality == "text":
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            yield [load(item) for item in chunk] if load is not None else list(chunk)
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(
        _Items(items, load or open_image, pass_.preprocess),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=False,
        prefetch_factor=PREFETCH if workers else None,
    )
    for batch in loader:
        if isinstance(batch, _Failed):
            raise TaskspaceError(batch.message)
        yield batch


@dataclass(frozen=True)
class _Failed:
    """An item that could not be read, carried back from a worker (its exception would come wrapped)."""

    message: str


@dataclass
class _Items:
    items: Sequence
    load: Callable
    preprocess: Callable

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        item = self.items[index]
        try:
            return self.preprocess(self.load(item))
        except TaskspaceError as error:
            return _Failed(str(error))
        except Exception as error:  # noqa: BLE001 - any failure on one item becomes one line naming it
            return _Failed(f"{item}: cannot preprocess the image: {type(error).__name__}: {error}")


def _collate(samples: list):
    from torch.utils.data import default_collate

    failed = [s for s in samples if isinstance(s, _Failed)]
    # default_collate stacks a worker's batch straight into shared memory (no copy on the way back).
    return failed[0] if failed else default_collate(samples)

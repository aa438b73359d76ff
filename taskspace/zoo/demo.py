"""The demo's zoo data, written from installed packages (rule zoo_demo_data), and seeded weights files.

``results/zoo/data/digits/``: scikit-learn's 8x8 digits as PNG images (upscaled, RGB): ``probe/`` (images of
every class) and two ImageFolder tasks with ``train/`` and ``test/`` (no dev: the heads hold images out),
``digits-0-4`` and ``digits-5-9``, each image used once across probe and tasks.
``results/zoo/data/polarity/``: gensim's ``pang_lee_polarity.cor`` (200 movie-review sentences, 100
``__label__pos``, 100 ``__label__neg``, cp1252) as ``train.tsv`` / ``dev.tsv`` / ``test.tsv`` (text, label),
and ``probe.txt``: sentences of gensim's Lee news corpus (the LM track's demo text).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import TaskspaceError

DIGITS = {"size": 32, "probe_per_class": 10, "train_per_class": 10, "dev_per_class": 0, "test_per_class": 20}
DIGIT_TASKS = {"digits-0-4": [0, 1, 2, 3, 4], "digits-5-9": [5, 6, 7, 8, 9]}
POLARITY = {"dev_per_class": 20, "test_per_class": 30, "probe_sentences": 300}


def write_demo(demo: str, folder, seed: int = 0) -> None:
    """One demo data set into ``folder`` (taskspace.sources.demo writes the files)."""
    from ..sources.demo import write_digits_imagefolder, write_polarity_tables

    if demo == "digits":
        write_digits_imagefolder(folder, DIGIT_TASKS, seed, **DIGITS)
    elif demo == "polarity":
        write_polarity_tables(folder, seed, **POLARITY)
    else:
        raise TaskspaceError(f"{demo}: no such demo data set (digits, polarity)")


def seeded_weights(entry: dict, seed: int, path) -> None:
    """A builder's module (``entry``: builder, kwargs) with weights drawn under ``seed``, as safetensors."""
    import importlib

    import torch
    from safetensors.torch import save_file

    module_name, _, attribute = entry["builder"].partition(":")
    target = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    torch.manual_seed(seed)
    model = target(**entry.get("kwargs", {}))
    state = {key: value.detach().contiguous().clone() for key, value in model.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    partial = Path(path).with_name(f".{Path(path).name}.partial")
    save_file(state, str(partial))
    partial.replace(path)

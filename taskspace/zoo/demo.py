"""The demo's zoo data, written from installed packages (rule zoo_demo_data), and seeded weights files.

``results/zoo/data/digits/``: scikit-learn's 8x8 digits as PNG images (upscaled, RGB): ``probe/`` (images of
every class) and two ImageFolder tasks with ``train/`` and ``test/`` (no dev: the heads hold images out),
``digits-0-4`` and ``digits-5-9``, each image used once across probe and tasks.
``results/zoo/data/polarity/``: gensim's ``pang_lee_polarity.cor`` (200 movie-review sentences, 100
``__label__pos``, 100 ``__label__neg``, cp1252) as ``train.tsv`` / ``dev.tsv`` / ``test.tsv`` (text, label),
and ``probe.txt``: sentences of gensim's Lee news corpus (the LM track's demo text).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import TaskspaceError

DIGITS = {"size": 32, "probe_per_class": 10, "train_per_class": 10, "test_per_class": 20}
DIGIT_TASKS = {"digits-0-4": range(0, 5), "digits-5-9": range(5, 10)}
POLARITY = {"train_per_class": 50, "dev_per_class": 20, "probe_sentences": 300}


def write_demo(demo: str, folder, seed: int = 0) -> None:
    writers = {"digits": write_digits, "polarity": write_polarity}
    if demo not in writers:
        raise TaskspaceError(f"{demo}: no such demo data set ({', '.join(writers)})")
    writers[demo](Path(folder), seed)


def write_digits(folder: Path, seed: int = 0, **options) -> None:
    """Digits as ``probe/`` and one ImageFolder tree per task of DIGIT_TASKS (module docstring)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    o = {**DIGITS, **options}
    digits = load_digits()
    rng = np.random.default_rng(seed)
    by_class = {c: rng.permutation(np.flatnonzero(digits.target == c)) for c in range(10)}

    def save(index: int, path: Path) -> None:
        pixels = (digits.images[index] * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
        image = Image.fromarray(pixels, mode="L").resize((o["size"], o["size"]), Image.BICUBIC).convert("RGB")
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)

    for c, order in by_class.items():
        for i in order[: o["probe_per_class"]]:
            save(int(i), folder / "probe" / f"{c}-{int(i):04d}.png")
    for task, classes in DIGIT_TASKS.items():
        for c in classes:
            rest = by_class[c][o["probe_per_class"] :]
            parts = {"train": rest[: o["train_per_class"]]}
            parts["test"] = rest[o["train_per_class"] : o["train_per_class"] + o["test_per_class"]]
            for split, indices in parts.items():
                for i in indices:
                    save(int(i), folder / task / split / f"digit{c}" / f"{int(i):04d}.png")


def polarity_sentences() -> list[tuple[str, str]]:
    """(sentence, label) of gensim's pang_lee_polarity.cor, labels ``pos`` / ``neg``."""
    from ..lm.text import gensim_test_data_dir

    path = gensim_test_data_dir() / "pang_lee_polarity.cor"
    rows = []
    for line in path.read_bytes().decode("cp1252").splitlines():
        label, _, text = line.strip().partition(" ")
        if text:
            rows.append((" ".join(text.split()), label.removeprefix("__label__")))
    return rows


def write_polarity(folder: Path, seed: int = 0, **options) -> None:
    """Stratified seeded train/dev/test TSV tables of the polarity sentences and a news probe text."""
    from ..lm.text import demo_sentences

    o = {**POLARITY, **options}
    rows = polarity_sentences()
    rng = np.random.default_rng(seed)
    splits: dict[str, list] = {"train": [], "dev": [], "test": []}
    for label in sorted({label for _, label in rows}):
        mine = [rows[i] for i in rng.permutation([i for i, r in enumerate(rows) if r[1] == label])]
        cut = o["train_per_class"] + o["dev_per_class"]
        splits["train"] += mine[: o["train_per_class"]]
        splits["dev"] += mine[o["train_per_class"] : cut]
        splits["test"] += mine[cut:]
    folder.mkdir(parents=True, exist_ok=True)
    for split, split_rows in splits.items():
        with open(folder / f"{split}.tsv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            writer.writerow(["text", "label"])
            writer.writerows(split_rows)
    sentences = demo_sentences(min_words=8)[: o["probe_sentences"]]
    (folder / "probe.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")


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

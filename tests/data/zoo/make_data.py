"""Writes the tiny zoo data of the shared tiny run (tests/configs/zoo.yaml) into this folder; its output is
committed. Every format: an image probe list file, an ImageFolder task without dev, `path label` tables (CSV
and TSV) with dev, a text probe table (TSV), a CSV classification table, JSONL sentence pairs with real-valued
labels, precomputed text features as .npy files and as taskspace feature files (.h5), and a member sheet.

    .venv/bin/python tests/data/zoo/make_data.py
"""

import csv
import json
from pathlib import Path

import h5py
import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from taskspace.sources.demo import polarity_sentences

HERE = Path(__file__).resolve().parent
SIZE = 16


def image(digits, index, path):
    pixels = (digits.images[index] * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="L").resize((SIZE, SIZE), Image.BICUBIC).convert("RGB").save(path)


def images():
    digits = load_digits()
    rng = np.random.default_rng(0)
    pool = {c: list(rng.permutation(np.flatnonzero(digits.target == c))) for c in range(10)}
    probe = [pool[c].pop() for c in range(10)]
    for i in probe:
        image(digits, i, HERE / "images" / "probe" / f"{i:04d}.png")
    (HERE / "images" / "probe.txt").write_text("".join(f"probe/{i:04d}.png\n" for i in probe))
    counts = {"train": 4, "test": 2}
    for split, n in counts.items():
        for c, name in ((0, "zero"), (1, "one"), (7, "seven")):
            for _ in range(n):
                i = pool[c].pop()
                image(digits, i, HERE / "images" / "folder" / split / name / f"{i:04d}.png")
    for split, n, suffix in (("train", 3, "csv"), ("dev", 1, "csv"), ("test", 2, "tsv")):
        rows = []
        for c in (3, 5, 8):
            for _ in range(n):
                i = pool[c].pop()
                image(digits, i, HERE / "images" / "list" / "img" / f"{i:04d}.png")
                rows.append((f"img/{i:04d}.png", f"d{c}"))
        with open(HERE / "images" / "list" / f"{split}.{suffix}", "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="," if suffix == "csv" else "\t", lineterminator="\n")
            writer.writerow(["path", "label"])
            writer.writerows(rows)
    return {"probe": len(probe), "folder": {"train": 12, "test": 6}, "list": {"train": 9, "dev": 3, "test": 6}}


def texts():
    rows = polarity_sentences()
    pos = [text for text, label in rows if label == "pos"]
    neg = [text for text, label in rows if label == "neg"]
    folder = HERE / "text"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "probe.tsv", "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "sentence"])
        writer.writerows((i, text) for i, text in enumerate(pos[:8] + neg[:8]))
    for split, (start, n) in {"train": (8, 6), "test": (14, 4)}.items():
        with open(folder / f"polarity-{split}.csv", "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["sentence", "sentiment"])
            for a, b in zip(pos[start : start + n], neg[start : start + n]):
                writer.writerows([(a, "pos"), (b, "neg")])
    start = 20
    for split, n in (("train", 10), ("dev", 4), ("test", 6)):
        with open(folder / f"pairs-{split}.jsonl", "w") as handle:
            for i in range(n):
                a, b = pos[start + i], (pos if i % 2 else neg)[start + i + 30]
                handle.write(json.dumps({"first": a, "second": b, "score": float(i % 2) + 0.1 * (i % 3)}) + "\n")
            start += n
    return {"probe": 16, "polarity": {"train": 12, "test": 8}, "pairs": {"train": 10, "dev": 4, "test": 6}}


def features(counts_text):
    rng = np.random.default_rng(1)
    npy = HERE / "features" / "text-npy"
    npy.mkdir(parents=True, exist_ok=True)
    np.save(npy / "probe.npy", rng.standard_normal((counts_text["probe"], 6)).astype(np.float32))
    for task in ("polarity", "pairs"):
        (npy / task).mkdir(exist_ok=True)
        for split, n in counts_text[task].items():
            np.save(npy / task / f"{split}.npy", rng.standard_normal((n, 6)).astype(np.float32))
    h5 = HERE / "features" / "text-h5"
    h5.mkdir(parents=True, exist_ok=True)
    write_h5(h5 / "probe.h5", {"probe": counts_text["probe"]}, rng)
    for task in ("polarity", "pairs"):
        write_h5(h5 / f"{task}.h5", counts_text[task], rng)


def write_h5(path, sets, rng):
    """A feature file as README "Precomputed features" describes it, written with h5py alone (small, unchunked)."""
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "taskspace-features", "format_version": 1, "member": "precomputed-h5"})
        for name, n in sets.items():
            f[f"{name}/vectors"] = rng.standard_normal((n, 5)).astype(np.float32)
            f[f"{name}/items"] = np.arange(n, dtype=np.int64)[:, None]
        f.attrs["complete"] = True


if __name__ == "__main__":
    images()
    features(texts())

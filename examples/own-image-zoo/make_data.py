"""Writes this example's data and one checkpoint of "your own": scikit-learn's digits as image folders and a
torchvision ResNet-18 state dict (seeded random weights, standing in for a fine-tuned model of yours).

    .venv/bin/python examples/own-image-zoo/make_data.py examples/own-image-zoo

Writes <folder>/data/probe/ (images of every class, what kappa is built from), <folder>/data/digits-3way/
{train,test}/<class>/*.png (an ImageFolder task; no dev/: the heads hold images out) and
<folder>/checkpoints/resnet18.pth (torch.save of a state dict: read with weights_only=True).
"""

import sys
from pathlib import Path

import torch
import torchvision

from taskspace.sources.demo import write_digits_imagefolder


def main(folder: Path) -> None:
    write_digits_imagefolder(
        folder / "data",
        {"digits-3way": [1, 4, 7]},
        seed=0,
        probe_per_class=3,
        train_per_class=8,
        dev_per_class=0,
        test_per_class=10,
        size=32,
    )
    torch.manual_seed(0)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), folder / "checkpoints" / "resnet18.pth")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

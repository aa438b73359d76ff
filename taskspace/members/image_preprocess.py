"""Image preprocessing of the image kinds: a PIL image -> a float32 CPU tensor (C, H, W).

Both are small picklable objects, so torch DataLoader workers can run them (decoding and preprocessing
beside the model, see :mod:`taskspace.members.batches`):

- :class:`ImageTransform` for builder members: resize the shorter side, crop the centre, scale to [0, 1],
  normalise by mean and std. Defaults are ImageNet's evaluation (resize 256, crop 224, ImageNet mean and
  std); when only one of resize and crop is given, the other keeps ImageNet's ratio (crop = 0.875 x resize).
- :class:`ProcessorTransform` for HF image members: the checkpoint's own ``AutoImageProcessor``.

Every image is converted to RGB first (a grayscale PNG reads as one channel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE, CROP = 256, 224


@dataclass(frozen=True)
class ImageTransform:
    """Resize (shorter side, bilinear with antialiasing), centre crop, [0, 1], normalise."""

    resize: int = RESIZE
    crop: int = CROP
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> ImageTransform:
        resize, crop = entry.get("resize"), entry.get("crop")
        if resize is None and crop is None:
            resize, crop = RESIZE, CROP
        elif resize is None:
            resize = round(crop * RESIZE / CROP)
        elif crop is None:
            crop = round(resize * CROP / RESIZE)
        mean = tuple(float(v) for v in entry.get("mean", IMAGENET_MEAN))
        std = tuple(float(v) for v in entry.get("std", IMAGENET_STD))
        return cls(int(resize), int(crop), mean * (3 // len(mean)), std * (3 // len(std)))

    def __call__(self, image):
        import torch
        from PIL import Image

        image = image.convert("RGB")
        width, height = image.size
        scale = self.resize / min(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if size != image.size:
            image = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
        left, top = (size[0] - self.crop) // 2, (size[1] - self.crop) // 2
        # crop() pads with black where the box leaves the image (a crop larger than the resized side).
        image = image.crop((left, top, left + self.crop, top + self.crop))
        array = np.asarray(image, dtype=np.float32).reshape(self.crop, self.crop, 3)
        mean = np.asarray(self.mean, np.float32) * 255
        scale = 1 / (np.asarray(self.std, np.float32) * 255)
        return torch.from_numpy(((array - mean) * scale).transpose(2, 0, 1).copy())

    def describe(self) -> dict:
        return {"resize": self.resize, "crop": self.crop, "mean": list(self.mean), "std": list(self.std)}


@dataclass
class ProcessorTransform:
    """A Hugging Face image processor applied to one image: its ``pixel_values`` (C, H, W)."""

    processor: Any

    def __call__(self, image):
        return self.processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]


def stack_images(pass_, batch):
    """A batch for an image pass's ``embed``: a (B, C, H, W) tensor as it is, or PIL images preprocessed here."""
    import torch

    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, Sequence) and len(batch) and not isinstance(batch[0], torch.Tensor):
        return torch.stack([pass_.preprocess(image) for image in batch])
    return torch.stack(list(batch))

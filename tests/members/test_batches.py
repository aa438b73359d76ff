"""Image batches decoded and preprocessed in DataLoader workers: the same tensors, in order, and clear errors."""

from __future__ import annotations

import pytest
import torch

from taskspace.errors import TaskspaceError
from taskspace.members import open_pass, preprocessed_batches


def test_workers_give_the_same_batches_in_order(built, image_files):
    pass_ = open_pass([built["vit"]], "image")
    inline = list(preprocessed_batches(pass_, image_files, batch_size=4, workers=0))
    parallel = list(preprocessed_batches(pass_, image_files, batch_size=4, workers=2))
    assert [b.shape for b in inline] == [(4, 3, 32, 32), (2, 3, 32, 32)]
    for a, b in zip(inline, parallel):
        assert torch.equal(a, b)
    features = torch.cat([torch.from_numpy(pass_.embed(b).features["vit"]) for b in parallel])
    from PIL import Image

    direct = pass_.embed([Image.open(p) for p in image_files]).features["vit"]
    torch.testing.assert_close(features, torch.from_numpy(direct), atol=1e-6, rtol=0)


def test_a_broken_image_stops_with_one_line_naming_it(built, image_files):
    pass_ = open_pass([built["cnn"]], "image")
    image_files[3].write_bytes(b"not a png")
    with pytest.raises(TaskspaceError) as caught:
        list(preprocessed_batches(pass_, image_files, batch_size=2, workers=2))
    assert str(caught.value).startswith(f"{image_files[3]}: cannot read the image (UnidentifiedImageError")
    assert "Traceback" not in str(caught.value)

"""Vision datasets: scikit-learn digits (seeded stratified pools) and CIFAR-100 from a folder (never downloaded)."""

import pickle
import urllib.error

import numpy as np
import pytest
import torch
import torchvision

from taskspace.errors import TaskspaceError
from taskspace.vision.data import load_cifar100, load_dataset, load_digits, to_float_tensor


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0, test_fraction=0.3)


def test_digits_pools_are_uint8_images_with_all_classes(digits):
    assert digits.name == "digits"
    assert digits.num_classes == 10 and digits.class_names == tuple(str(i) for i in range(10))
    assert digits.train.images.shape[1:] == (8, 8, 1) and digits.train.images.dtype == np.uint8
    assert digits.image_size == 8 and digits.channels == 1
    assert len(digits.train) + len(digits.test) == 1797
    assert digits.train.images.max() == 255 and digits.train.images.min() == 0


def test_digits_split_is_stratified_and_seeded(digits):
    train_counts = np.bincount(digits.train.labels, minlength=10)
    test_counts = np.bincount(digits.test.labels, minlength=10)
    share = test_counts / (train_counts + test_counts)
    assert np.all(np.abs(share - 0.3) < 0.01)  # every class keeps its share in both pools
    again = load_digits(seed=0, test_fraction=0.3)
    assert np.array_equal(again.test.images, digits.test.images)
    assert again.fingerprint() == digits.fingerprint()
    other = load_digits(seed=1, test_fraction=0.3)
    assert not np.array_equal(other.test.labels, digits.test.labels) or not np.array_equal(
        other.test.images, digits.test.images
    )
    assert other.fingerprint() != digits.fingerprint()


def test_float_tensor_is_nchw_in_unit_range(digits):
    x = to_float_tensor(digits.train.images[:5])
    assert x.shape == (5, 1, 8, 8) and x.dtype == torch.float32
    assert float(x.max()) <= 1.0 and float(x.min()) >= 0.0


def test_bad_names_and_values_are_one_line_errors():
    with pytest.raises(TaskspaceError, match=r"^dataset: 'mnist' is not one of"):
        load_dataset("mnist")
    with pytest.raises(TaskspaceError, match=r"^test_fraction:"):
        load_digits(test_fraction=1.5)
    with pytest.raises(TaskspaceError, match=r"^data_root:"):
        load_cifar100(None)


def test_cifar_missing_folder_names_the_folder(tmp_path):
    folder = tmp_path / "no-cifar-here"
    with pytest.raises(TaskspaceError) as error:
        load_cifar100(folder, download=False)
    message = str(error.value)
    assert str(folder) in message and "\n" not in message and "download" in message


def test_cifar_download_failure_names_the_folder(tmp_path, monkeypatch):
    def offline(self):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets.CIFAR100, "download", offline)
    with pytest.raises(TaskspaceError, match="could not download") as error:
        load_cifar100(tmp_path, download=True)
    assert str(tmp_path) in str(error.value)


def write_fake_cifar100(root, n_train=6, n_test=4, seed=0):
    """A tiny CIFAR-100 folder in the real pickle format (rows of 3072 bytes, channel-major)."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    pools = {}
    for name, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        fine = rng.integers(0, 100, size=n).tolist()
        entry = {
            "filenames": [f"{name}{i}.png" for i in range(n)],
            "batch_label": name,
            "fine_labels": fine,
            "coarse_labels": [f // 5 for f in fine],
            "data": data,
        }
        (folder / name).write_bytes(pickle.dumps(entry))
        pools[name] = (data, fine)
    meta = {
        "fine_label_names": [f"class{i}" for i in range(100)],
        "coarse_label_names": [f"super{i}" for i in range(20)],
    }
    (folder / "meta").write_bytes(pickle.dumps(meta))
    return pools


def test_fake_cifar100_folder_loads_through_torchvision(tmp_path, monkeypatch):
    pools = write_fake_cifar100(tmp_path)
    # The fake files cannot match CIFAR-100's published md5 sums; accept any file that exists.
    monkeypatch.setattr(
        torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: __import__("os").path.isfile(path)
    )
    data = load_dataset("cifar100", root=tmp_path)
    assert data.num_classes == 100 and data.class_names[7] == "class7"
    assert data.train.images.shape == (6, 32, 32, 3) and data.test.images.shape == (4, 32, 32, 3)
    raw, fine = pools["train"]
    assert data.train.labels.tolist() == fine
    # Row layout is R plane, G plane, B plane: pixel (y=1, x=2) of channel G is byte 1024 + 32 + 2.
    assert data.train.images[3, 1, 2, 1] == raw[3, 1024 + 32 + 2]


def test_cifar_files_failing_their_checksums_are_reported_as_corrupted(tmp_path):
    write_fake_cifar100(tmp_path)  # real names, wrong md5 sums: torchvision refuses them
    with pytest.raises(TaskspaceError, match="missing or corrupted") as error:
        load_cifar100(tmp_path)
    assert str(tmp_path) in str(error.value) and "\n" not in str(error.value)


def test_digits_are_exactly_scikit_learns(digits):
    from sklearn.datasets import load_digits as sklearn_digits

    def sorted_rows(pixels, labels):  # (pixels, label) rows in lexicographic order: same multiset of images
        table = np.column_stack([pixels.reshape(len(labels), -1), labels]).astype(np.float64)
        return table[np.lexsort(table.T[::-1])]

    bunch = sklearn_digits()
    ours = sorted_rows(
        np.concatenate([digits.train.images, digits.test.images]),
        np.concatenate([digits.train.labels, digits.test.labels]),
    )
    assert np.array_equal(ours, sorted_rows(np.rint(bunch.data * 255.0 / 16.0), bunch.target))

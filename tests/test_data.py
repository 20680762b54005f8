import gzip
from pathlib import Path

import pytest
import torch

from seelike import data


@pytest.mark.parametrize(("split", "count"), [("train", 60_000), ("test", 10_000)])
def test_fashion_mnist_shapes_dtypes_ranges(split, count):
    images, labels = data.fashion_mnist(split)
    assert images.shape == (count, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (count,) and labels.dtype == torch.int64
    assert images.min().item() == 0.0 and images.max().item() == 1.0
    assert set(labels.unique().tolist()) == set(range(10))
    # Fashion-MNIST is exactly balanced: 6,000 / 1,000 images per class.
    assert torch.bincount(labels).tolist() == [count // 10] * 10


def test_known_first_labels():
    # The first test labels of the canonical files (ankle boot, pullover, trouser, trouser, shirt).
    _, labels = data.fashion_mnist("test")
    assert labels[:5].tolist() == [9, 2, 1, 1, 6]


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        data.fashion_mnist("valid")


def _offline_everywhere(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "_CACHE", {})
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setenv("SEELIKE_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("SEELIKE_CACHE", str(tmp_path / "cache"))


def test_missing_data_error_lists_every_place(monkeypatch, tmp_path):
    _offline_everywhere(monkeypatch, tmp_path)

    def no_network(url, timeout=30.0):
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "_download", no_network)
    with pytest.raises(FileNotFoundError) as error:
        data.fashion_mnist("test")
    message = str(error.value)
    for place in (
        "env",
        "repo",
        "debian",
        "cache",
        data.FASHION_MNIST_URL,
        "apt-get install dataset-fashion-mnist",
    ):
        assert str(place) in message


def test_corrupted_download_is_refused(monkeypatch, tmp_path):
    _offline_everywhere(monkeypatch, tmp_path)
    real = {stem: (data.DEBIAN_DIR_REAL / f"{stem}.gz").read_bytes() for stem, _ in data_files("test")}

    def tampered(url, timeout=30.0):
        stem = url.rsplit("/", 1)[1].removesuffix(".gz")
        raw = bytearray(gzip.decompress(real[stem]))
        raw[-1] ^= 0xFF  # one flipped byte
        return gzip.compress(bytes(raw))

    monkeypatch.setattr(data, "_download", tampered)
    with pytest.raises(data.ChecksumError, match="sha256"):
        data.fashion_mnist("test")
    assert not (tmp_path / "cache" / "fashion-mnist" / "t10k-images-idx3-ubyte").exists()


def test_good_download_is_used(monkeypatch, tmp_path):
    _offline_everywhere(monkeypatch, tmp_path)
    real = {stem: (data.DEBIAN_DIR_REAL / f"{stem}.gz").read_bytes() for stem, _ in data_files("test")}
    monkeypatch.setattr(data, "_download", lambda url, timeout=30.0: real[url.rsplit("/", 1)[1][:-3]])
    images, labels = data.fashion_mnist("test")
    assert images.shape == (10_000, 1, 28, 28) and labels[:5].tolist() == [9, 2, 1, 1, 6]


def test_corrupted_local_file_is_refused(monkeypatch, tmp_path):
    _offline_everywhere(monkeypatch, tmp_path)
    local = tmp_path / "env"
    local.mkdir()
    for stem, _ in data_files("test"):
        raw = bytearray(gzip.decompress((data.DEBIAN_DIR_REAL / f"{stem}.gz").read_bytes()))
        raw[100] ^= 0x01
        (local / stem).write_bytes(bytes(raw))
    with pytest.raises(data.ChecksumError, match="corrupted"):
        data.fashion_mnist("test")


def data_files(split):
    return list(data.FASHION_MNIST_FILES[split].values())


data.DEBIAN_DIR_REAL = next(
    (
        d
        for d in (Path("/usr/share/datasets/fashion-mnist"), data.REPO_ROOT / "data" / "fashion-mnist")
        if d.is_dir()
    ),
    data.DEBIAN_DIR,
)


@pytest.mark.parametrize("seed", [0, 1])
def test_nested_subsets_are_nested_and_balanced(seed):
    _, labels = data.fashion_mnist("train")
    subsets = {f: data.nested_subset(labels, f, seed=seed) for f in (0.03, 0.10, 0.30, 1.0)}
    for small, large in ((0.03, 0.10), (0.10, 0.30), (0.30, 1.0)):
        assert set(subsets[small].tolist()) <= set(subsets[large].tolist())
    for fraction, index in subsets.items():
        counts = torch.bincount(labels[index], minlength=10)
        assert counts.tolist() == [round(fraction * 6000)] * 10
        assert len(index.unique()) == len(index)
    assert len(subsets[1.0]) == 60_000


def test_nested_subset_depends_on_seed_and_rejects_bad_fraction():
    _, labels = data.fashion_mnist("test")
    assert not torch.equal(data.nested_subset(labels, 0.1, 0), data.nested_subset(labels, 0.1, 1))
    assert torch.equal(data.nested_subset(labels, 0.1, 0), data.nested_subset(labels, 0.1, 0))
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            data.nested_subset(labels, bad)


def test_sample_photos_are_colour_images_in_range():
    photos = data.sample_photos()
    assert len(photos) >= 3
    for image in photos.values():
        assert image.shape == (3, 224, 224) and image.dtype == torch.float32
        assert 0.0 <= image.min().item() and image.max().item() <= 1.0
        assert image.std().item() > 0.05  # a real photo, not a blank


def test_cifar10_offline_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SEELIKE_CACHE", str(tmp_path))

    def no_network(url, timeout=30.0):
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "_download", no_network)
    with pytest.raises(FileNotFoundError, match="CIFAR-10 not found"):
        data.cifar10("test")


def test_batches_cover_everything_in_order():
    x = torch.arange(10)
    chunks = list(data.batches(x, 4, x * 2))
    assert [len(c[0]) for c in chunks] == [4, 4, 2]
    assert torch.equal(torch.cat([c[1] for c in chunks]), x * 2)

"""Images for the book: Fashion-MNIST (offline first), CIFAR-10 (online), colour photos, nested subsets.

Every loader returns images as float32 tensors of shape (N, C, H, W) with values in [0, 1] and labels as
int64 tensors of shape (N,). Models in `seelike.zoo` normalise inside themselves, so images go in as-is.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FIX_COMMAND = "sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu), or run online to download"

# sha256 of the *decompressed* idx files: the same bytes whichever mirror or repackaging (Debian recompresses
# the .gz files, so their own hashes differ from upstream's).
FASHION_MNIST_FILES = {
    "train": {
        "images": (
            "train-images-idx3-ubyte",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "labels": (
            "train-labels-idx1-ubyte",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
    },
    "test": {
        "images": (
            "t10k-images-idx3-ubyte",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "labels": (
            "t10k-labels-idx1-ubyte",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

_CACHE: dict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = {}


class ChecksumError(ValueError):
    """A data file's sha256 does not match the expected value."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where downloads go: `$SEELIKE_CACHE`, else `~/.cache/seelike`."""
    return Path(os.environ.get("SEELIKE_CACHE", Path.home() / ".cache" / "seelike"))


def fashion_mnist_dirs() -> list[Path]:
    """The offline places searched for Fashion-MNIST, in order."""
    dirs = []
    if os.environ.get("SEELIKE_DATA"):
        dirs.append(Path(os.environ["SEELIKE_DATA"]))
    dirs += [REPO_ROOT / "data" / "fashion-mnist", DEBIAN_DIR, cache_dir() / "fashion-mnist"]
    return dirs


def _read_idx_bytes(directory: Path, stem: str) -> bytes | None:
    """The decompressed bytes of `stem` (plain or .gz) in `directory`, or None when absent."""
    for name, opener in ((stem, open), (stem + ".gz", gzip.open)):
        path = directory / name
        if path.is_file():
            with opener(path, "rb") as handle:
                return handle.read()
    return None


def _parse_idx(raw: bytes) -> np.ndarray:
    """Parse an IDX file (the MNIST format): magic, dims as big-endian int32, then uint8 data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">i4", count=ndim, offset=4).astype(int)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(dims))


def _download(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https/http URLs)
        return response.read()


def _download_fashion_mnist(target: Path, split: str) -> None:
    """Download one split into `target`, refusing any file whose decompressed sha256 is wrong.

    Every file is verified before any is written, so a failed download leaves nothing half-done behind."""
    verified = {}
    for stem, expected in FASHION_MNIST_FILES[split].values():
        raw = gzip.decompress(_download(FASHION_MNIST_URL + stem + ".gz"))
        if sha256_bytes(raw) != expected:
            raise ChecksumError(f"downloaded {stem} has the wrong sha256; refusing it")
        verified[stem] = raw
    target.mkdir(parents=True, exist_ok=True)
    for stem, raw in verified.items():
        (target / stem).write_bytes(raw)


VALIDATION_SIZE = 5_000  # the last 5,000 training images: recipes are chosen on them, never trained on


def fashion_mnist(split: str = "train", *, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST images and labels.

    Sources, in order: `$SEELIKE_DATA`, `data/fashion-mnist/`, Debian's `/usr/share/datasets/fashion-mnist/`,
    the download cache, then a download (sha256-verified) when `download` is true.

    Args:
        split: "train" (all 60,000 training images), "fit" (the first 55,000: what zoo models train on),
            "validation" (the last 5,000: what recipes are chosen on) or "test" (10,000, for reporting).
        download: try the public download when no offline copy exists.

    Returns:
        images: float32 (N, 1, 28, 28) in [0, 1]; labels: int64 (N,) in 0..9.
    """
    if split in ("fit", "validation"):
        images, labels = fashion_mnist("train", download=download)
        cut = len(images) - VALIDATION_SIZE
        return (images[:cut], labels[:cut]) if split == "fit" else (images[cut:], labels[cut:])
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"split must be 'train', 'fit', 'validation' or 'test', got {split!r}")
    key = ("fashion-mnist", split)
    if key in _CACHE:
        return _CACHE[key]
    tried: list[str] = []
    files = FASHION_MNIST_FILES[split]
    for directory in fashion_mnist_dirs():
        raws = {part: _read_idx_bytes(directory, stem) for part, (stem, _) in files.items()}
        if any(raw is None for raw in raws.values()):
            tried.append(f"{directory} (files missing)")
            continue
        for part, (stem, expected) in files.items():
            if sha256_bytes(raws[part]) != expected:
                raise ChecksumError(f"{directory / stem}: sha256 mismatch; the file is corrupted. Delete it.")
        result = _to_tensors(raws["images"], raws["labels"])
        _CACHE[key] = result
        return result
    if download:
        target = cache_dir() / "fashion-mnist"
        try:
            _download_fashion_mnist(target, split)
            return fashion_mnist(split, download=False)
        except ChecksumError:
            raise
        except OSError as error:
            tried.append(f"{FASHION_MNIST_URL} (download failed: {error})")
    raise FileNotFoundError(
        "Fashion-MNIST not found. Places tried:\n  " + "\n  ".join(tried) + f"\nFix: {FIX_COMMAND}"
    )


def _to_tensors(raw_images: bytes, raw_labels: bytes) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(_parse_idx(raw_images).copy()).float().div_(255.0).unsqueeze(1)
    labels = torch.from_numpy(_parse_idx(raw_labels).astype(np.int64))
    if images.shape[0] != labels.shape[0]:
        raise ValueError("image and label counts differ")
    return images, labels


def nested_subset(labels: torch.Tensor | int, fraction: float, seed: int = 0) -> torch.Tensor:
    """Class-balanced indices of a `fraction` of the data; smaller fractions are subsets of larger ones.

    Each class is shuffled once with `seed`; a fraction takes the first round(fraction * class size) of
    every class, so the subsets for 3% ⊂ 10% ⊂ 30% ⊂ 100% share one order.

    Args:
        labels: int64 (N,) class labels, or an int N to treat all examples as one class.
        fraction: in (0, 1].
        seed: shuffling seed.

    Returns:
        int64 (M,) sorted indices into the data.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if isinstance(labels, int):
        labels = torch.zeros(labels, dtype=torch.int64)
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in torch.unique(labels):
        members = torch.nonzero(labels == cls).flatten()
        order = members[torch.randperm(len(members), generator=generator)]
        chosen.append(order[: max(1, round(fraction * len(members)))])
    return torch.sort(torch.cat(chosen)).values


def sample_photos(size: int | None = 224) -> dict[str, torch.Tensor]:
    """The colour photos bundled with scikit-image (no download), as float32 (3, H, W) in [0, 1].

    Args:
        size: resize (centre crop to square, then bilinear) to size×size; None keeps the original size.
    """
    from skimage import data as skdata

    photos = {}
    for name in ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left"):
        loader = getattr(skdata, name, None)
        if loader is None:
            continue
        try:
            array = loader()
        except Exception:  # some photos need optional downloads; skip those offline  # noqa: BLE001
            continue
        if array.ndim != 3 or array.shape[2] < 3:
            continue
        image = torch.from_numpy(np.ascontiguousarray(array[..., :3])).permute(2, 0, 1).float() / 255.0
        if size is not None:
            side = min(image.shape[1:])
            top, left = (image.shape[1] - side) // 2, (image.shape[2] - side) // 2
            image = image[:, top : top + side, left : left + side]
            image = torch.nn.functional.interpolate(
                image[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )[0].clamp_(0.0, 1.0)  # antialiased resampling can overshoot [0, 1] by rounding
        photos[name.replace("_left", "")] = image
    return photos


def cifar10(split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 (online only; cached after the first download, sha256-verified).

    Returns:
        images: float32 (N, 3, 32, 32) in [0, 1]; labels: int64 (N,).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    archive = cache_dir() / "cifar-10-python.tar.gz"
    if not archive.is_file():
        try:
            raw = _download(CIFAR10_URL, timeout=120)
        except OSError as error:
            raise FileNotFoundError(
                "CIFAR-10 not found. Places tried:\n"
                f"  {archive} (missing)\n  {CIFAR10_URL} (download failed: "
                f"{error})\nFix: run with internet access (e.g. Colab) once; the archive is cached."
            ) from error
        if sha256_bytes(raw) != CIFAR10_SHA256:
            raise ChecksumError("downloaded CIFAR-10 archive has the wrong sha256; refusing it")
        archive.parent.mkdir(parents=True, exist_ok=True)
        archive.write_bytes(raw)
    elif sha256_file(archive) != CIFAR10_SHA256:
        raise ChecksumError(f"{archive}: sha256 mismatch; the file is corrupted. Delete it.")
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    with tarfile.open(archive, "r:gz") as tar:
        for name in names:
            batch = pickle.load(tar.extractfile(f"cifar-10-batches-py/{name}"), encoding="bytes")  # noqa: S301
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    return torch.from_numpy(np.concatenate(images)).float() / 255.0, torch.from_numpy(np.concatenate(labels))


def batches(images: torch.Tensor, batch_size: int, *extra: torch.Tensor) -> Iterator:
    """Consecutive minibatches of `images` (and any tensors with the same first dimension)."""
    for start in range(0, len(images), batch_size):
        if extra:
            yield (images[start : start + batch_size], *(t[start : start + batch_size] for t in extra))
        else:
            yield images[start : start + batch_size]

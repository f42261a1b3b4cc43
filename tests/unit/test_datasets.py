"""Dataset loaders on the real files (../shared/data, Debian's Fashion-MNIST) and on small files in
the exact official formats that the tests write themselves (CIFAR-100, SVHN, image folders)."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from trainfix.data import image_folders, readers
from trainfix.data.catalogue import DATASETS
from trainfix.data.errors import DatasetFormatError, DatasetMissingError, NonOfficialDataError, NonOfficialDataWarning
from trainfix.data.image_folders import CIFAR10_CLASSES
from trainfix.data.loading import load_split

MNIST_TRAIN_HISTOGRAM = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # ../shared/data/README.md
MNIST_TEST_HISTOGRAM = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
# The CIFAR-10 subset (first 1,000 images of each batch): counted from its pickles.
CIFAR10_SUBSET_TRAIN_HISTOGRAM = [508, 515, 478, 484, 527, 469, 497, 512, 518, 492]
CIFAR10_SUBSET_TEST_HISTOGRAM = [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]


@pytest.fixture(scope="module")
def cifar_root(data_dir: Path) -> Path:
    if not (data_dir / "cifar-10-batches-py").is_dir():
        pytest.skip(f"the CIFAR-10 subset is not at {data_dir / 'cifar-10-batches-py'}")
    return data_dir


@pytest.fixture(scope="module")
def debian_fashion() -> Path:
    if not (readers.DEBIAN_FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            f"Debian's Fashion-MNIST is not installed at {readers.DEBIAN_FASHION_MNIST_DIR} (apt-get install "
            "dataset-fashion-mnist)"
        )
    return readers.DEBIAN_FASHION_MNIST_DIR


def assert_pixels(split, n: int, shape: tuple[int, int, int]) -> None:
    assert split.images.dtype == torch.uint8 and split.labels.dtype == torch.int64
    assert split.images.shape == (n, *shape) and split.labels.shape == (n,)
    assert split.images.is_contiguous() and split.images.device.type == "cpu"
    assert int(split.images.min()) == 0 and int(split.images.max()) == 255


# ------------------------------------------------------------------------------------ registry
def test_registry_specs_are_consistent():
    assert set(DATASETS) == {
        "mnist",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "svhn",
        "image_folder",
        "tensor_file",
        "cifar10_jpeg",
    }
    for name, spec in DATASETS.items():
        if spec.mean is not None:
            assert len(spec.mean) == len(spec.std) == spec.channels, name
    assert not DATASETS["mnist"].flip_ok and not DATASETS["svhn"].flip_ok  # mirrored digits are not digits
    assert DATASETS["cifar10"].flip_ok and all(spec.crop_ok for spec in DATASETS.values())
    assert "JPEG" in DATASETS["cifar10_jpeg"].label and "not the official" in DATASETS["cifar10_jpeg"].label


def test_unknown_dataset_and_misused_options_are_named(tmp_path):
    with pytest.raises(ValueError, match="'imagenet' is not known; accepted: .*'cifar10'.*'mnist'"):
        load_split("imagenet", tmp_path, train=True)
    with pytest.raises(ValueError, match="only used by dataset 'image_folder'"):
        load_split("mnist", tmp_path, train=True, folder=tmp_path)
    with pytest.raises(ValueError, match="needs folder="):
        load_split("image_folder", tmp_path, train=True)


# --------------------------------------------------------------------------------------- MNIST
def test_mnist_train_is_the_official_file(data_dir):
    split = load_split("mnist", data_dir, train=True)
    assert_pixels(split, 60_000, (1, 28, 28))
    assert split.official and split.name == "mnist" and "MNIST/raw/train-images-idx3-ubyte" in split.source
    assert split.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert torch.bincount(split.labels).tolist() == MNIST_TRAIN_HISTOGRAM
    mean, std = split.channel_stats()
    assert mean == pytest.approx(DATASETS["mnist"].mean, abs=5e-5) and std == pytest.approx(
        DATASETS["mnist"].std, abs=5e-5
    )


def test_mnist_test_split(data_dir):
    split = load_split("mnist", data_dir, train=False)
    assert_pixels(split, 10_000, (1, 28, 28))
    assert torch.bincount(split.labels).tolist() == MNIST_TEST_HISTOGRAM
    assert split.labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_mnist_with_a_changed_byte_is_refused_then_accepted_with_warning(data_dir, tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(data_dir / "MNIST/raw/t10k-images-idx3-ubyte", raw)
    labels = bytearray((data_dir / "MNIST/raw/t10k-labels-idx1-ubyte").read_bytes())
    labels[8] = 9  # first test label 7 -> 9
    (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes(labels))
    with pytest.raises(NonOfficialDataError) as refused:
        load_split("mnist", tmp_path, train=False)
    message = str(refused.value)
    assert str(raw / "t10k-labels-idx1-ubyte") in message and "27ae3e4e09519cfbb04c329615203637" in message
    assert "t10k-images" not in message  # the images are official; only the changed file is named
    assert "accept_nonofficial=True" in message and "data.accept_nonofficial=true" in message
    with pytest.warns(NonOfficialDataWarning, match="t10k-labels-idx1-ubyte"):
        split = load_split("mnist", tmp_path, train=False, accept_nonofficial=True)
    assert not split.official and split.labels[0] == 9 and len(split) == 10_000


def test_missing_mnist_lists_the_files_and_the_fix(tmp_path):
    with pytest.raises(DatasetMissingError) as missing:
        load_split("mnist", tmp_path, train=True)
    assert isinstance(missing.value, FileNotFoundError)
    message = str(missing.value)
    for file in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        assert str(tmp_path / "MNIST" / "raw" / file) in message
    assert f"Searched: {tmp_path / 'MNIST' / 'raw'}" in message
    assert "paths.data_dir" in message and "TRAINFIX_DATA_DIR" in message


# ------------------------------------------------------------------------------- Fashion-MNIST
@pytest.mark.parametrize("train, count", [(True, 60_000), (False, 10_000)])
def test_fashion_mnist_from_debian_equals_the_idx_copy(data_dir, debian_fashion, tmp_path, train, count):
    from_idx = load_split("fashion_mnist", data_dir, train=train)
    from_debian = load_split("fashion_mnist", tmp_path, train=train)  # nothing under tmp_path: Debian's .gz
    assert from_debian.source.startswith(str(debian_fashion)) and from_debian.source.endswith(".gz")
    assert "FashionMNIST/raw" in from_idx.source
    assert from_idx.official and from_debian.official
    assert_pixels(from_debian, count, (1, 28, 28))
    assert torch.equal(from_debian.images, from_idx.images) and torch.equal(from_debian.labels, from_idx.labels)
    assert torch.bincount(from_debian.labels).tolist() == [count // 10] * 10
    assert from_debian.classes[0] == "T-shirt/top" and from_debian.classes[9] == "Ankle boot"
    if train:
        mean, std = from_debian.channel_stats()
        spec = DATASETS["fashion_mnist"]
        assert mean == pytest.approx(spec.mean, abs=5e-5) and std == pytest.approx(spec.std, abs=5e-5)


def test_fashion_mnist_gz_under_the_root_wins_over_debian(debian_fashion, tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for file in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / file).symlink_to(debian_fashion / file)
    split = load_split("fashion_mnist", tmp_path, train=False)
    assert split.source.startswith(str(raw)) and split.official and len(split) == 10_000
    assert all(path.suffix == ".gz" for path in debian_fashion.iterdir())  # nothing decompressed into /usr/share


def test_missing_fashion_mnist_names_root_debian_and_apt(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian")
    with pytest.raises(DatasetMissingError) as missing:
        load_split("fashion_mnist", tmp_path, train=False)
    message = str(missing.value)
    assert str(tmp_path / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte") in message
    assert str(tmp_path / "no-debian" / "t10k-labels-idx1-ubyte.gz") in message
    assert "apt-get install dataset-fashion-mnist" in message


# ------------------------------------------------------------------------------------ CIFAR-10
def test_cifar10_subset_is_refused_without_the_option(cifar_root):
    with pytest.raises(NonOfficialDataError) as refused:
        load_split("cifar10", cifar_root, train=True)
    message = str(refused.value)
    for batch in range(1, 6):
        assert str(cifar_root / "cifar-10-batches-py" / f"data_batch_{batch}") in message
    assert "batches.meta" not in message  # the meta file is the official one
    assert "accept_nonofficial=True" in message and "data.accept_nonofficial=true" in message


def test_cifar10_subset_loads_with_a_warning_when_accepted(cifar_root):
    with pytest.warns(NonOfficialDataWarning, match="data_batch_1"):
        train = load_split("cifar10", cifar_root, train=True, accept_nonofficial=True)
    with pytest.warns(NonOfficialDataWarning, match="test_batch"):
        test = load_split("cifar10", cifar_root, train=False, accept_nonofficial=True)
    assert_pixels(train, 5_000, (3, 32, 32))
    assert_pixels(test, 1_000, (3, 32, 32))
    assert not train.official and not test.official
    assert tuple(train.classes) == CIFAR10_CLASSES
    assert torch.bincount(train.labels).tolist() == CIFAR10_SUBSET_TRAIN_HISTOGRAM
    assert torch.bincount(test.labels).tolist() == CIFAR10_SUBSET_TEST_HISTOGRAM
    assert train.labels[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]  # the official first labels
    assert test.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    with open(cifar_root / "cifar-10-batches-py" / "data_batch_2", "rb") as stream:
        batch_2 = pickle.load(stream, encoding="latin1")
    # image 1,000 is the first of data_batch_2; the pickle rows are R plane, G plane, B plane
    assert torch.equal(train.images[1000], torch.from_numpy(batch_2["data"][0].reshape(3, 32, 32)))


# ------------------------------------------------------------------- CIFAR-100, SVHN (written here)
def write_cifar100(root: Path, rng: np.random.Generator) -> dict[str, dict]:
    """A tiny CIFAR-100 in the official layout: cifar-100-python/{train,test,meta} pickles."""
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    written = {}
    for split, n in (("train", 30), ("test", 12)):
        content = {
            "filenames": [f"image_{i}.png" for i in range(n)],
            "batch_label": f"{split}ing batch 1 of 1",
            "fine_labels": rng.integers(0, 100, n).tolist(),
            "coarse_labels": rng.integers(0, 20, n).tolist(),
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        }
        content["data"][0, 0], content["data"][0, 1] = 0, 255
        (base / split).write_bytes(pickle.dumps(content))
        written[split] = content
    meta = {
        "fine_label_names": [f"fine_{i:02d}" for i in range(100)],
        "coarse_label_names": [f"coarse_{i}" for i in range(20)],
    }
    (base / "meta").write_bytes(pickle.dumps(meta))
    return written


def test_cifar100_reads_fine_labels(tmp_path):
    written = write_cifar100(tmp_path, np.random.default_rng(0))
    with pytest.raises(NonOfficialDataError, match="cifar-100-python/train"):
        load_split("cifar100", tmp_path, train=True)
    for split_name, train in (("train", True), ("test", False)):
        with pytest.warns(NonOfficialDataWarning, match=f"cifar-100-python/{split_name}"):
            split = load_split("cifar100", tmp_path, train=train, accept_nonofficial=True)
        content = written[split_name]
        n = len(content["fine_labels"])
        assert_pixels(split, n, (3, 32, 32))
        assert split.labels.tolist() == content["fine_labels"]
        assert len(split.classes) == 100 and split.classes[7] == "fine_07"
        assert torch.equal(split.images, torch.from_numpy(content["data"].reshape(n, 3, 32, 32)))
        assert not split.official


def test_missing_cifar100_lists_the_files(tmp_path):
    with pytest.raises(DatasetMissingError) as missing:
        load_split("cifar100", tmp_path, train=False)
    message = str(missing.value)
    assert (
        str(tmp_path / "cifar-100-python" / "test") in message
        and str(tmp_path / "cifar-100-python" / "meta") in message
    )


def write_svhn(path: Path, digits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An SVHN .mat in the official format: X uint8 [32, 32, 3, N], y [N, 1] with 10 for digit 0."""
    images = rng.integers(0, 256, (32, 32, 3, len(digits)), dtype=np.uint8)
    images[0, 0, 0, 0], images[0, 0, 0, 1] = 0, 255
    scipy.io.savemat(path, {"X": images, "y": np.where(digits == 0, 10, digits).astype(np.uint8).reshape(-1, 1)})
    return images


def test_svhn_maps_label_10_to_digit_0(tmp_path):
    rng = np.random.default_rng(1)
    digits = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 5])
    images = write_svhn(tmp_path / "train_32x32.mat", digits, rng)
    with pytest.raises(NonOfficialDataError, match="train_32x32.mat"):
        load_split("svhn", tmp_path, train=True)
    with pytest.warns(NonOfficialDataWarning, match="train_32x32.mat"):
        split = load_split("svhn", tmp_path, train=True, accept_nonofficial=True)
    assert_pixels(split, len(digits), (3, 32, 32))
    assert split.labels.tolist() == digits.tolist()
    assert split.classes == [str(d) for d in range(10)]
    assert torch.equal(
        split.images[4], torch.from_numpy(images[..., 4].transpose(2, 0, 1).copy())
    )  # H, W, C -> C, H, W


def test_svhn_missing_with_failed_download_says_why(tmp_path, monkeypatch):
    from urllib.error import URLError

    import torchvision.datasets as tvd

    def no_network(self):
        raise URLError("no network here")

    monkeypatch.setattr(tvd.SVHN, "download", no_network)
    with pytest.raises(DatasetMissingError) as missing:
        load_split("svhn", tmp_path, train=False, download=True)
    assert str(tmp_path / "test_32x32.mat") in str(missing.value) and "download failed" in str(missing.value)


# -------------------------------------------------------------------------------- image folders
def write_folder(
    root: Path, sizes: dict[str, tuple[int, int]], count: int = 3, mode: str = "RGB", seed: int = 0
) -> dict[str, list[np.ndarray]]:
    """<root>/{train,test}/<class>/NN.png, lossless PNGs of the given (height, width) per class."""
    rng = np.random.default_rng(seed)
    written: dict[str, list[np.ndarray]] = {}
    for split in ("train", "test"):
        for cls, (height, width) in sizes.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                shape = (height, width) if mode == "L" else (height, width, 3)
                pixels = rng.integers(0, 256, shape, dtype=np.uint8)
                pixels.flat[0], pixels.flat[1] = 0, 255
                Image.fromarray(pixels, mode).save(root / split / cls / f"{i:02d}.png")
                written.setdefault(split, []).append(pixels)
    return written


def test_image_folder_decodes_once_then_reuses_and_invalidates_the_cache(tmp_path, monkeypatch):
    folder, cache = tmp_path / "pets", tmp_path / "cache"
    written = write_folder(folder, {"dog": (6, 8), "cat": (6, 8)})
    decoded = []
    decode = image_folders._decode
    monkeypatch.setattr(image_folders, "_decode", lambda path, resize: decoded.append(path) or decode(path, resize))

    first = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=cache)
    assert_pixels(first, 6, (3, 6, 8))
    assert first.classes == ["cat", "dog"] and first.labels.tolist() == [0, 0, 0, 1, 1, 1]  # alphabetical
    # written in class order dog, cat: the folder order is cat (written[3:6]) then dog (written[0:3])
    expected = [written["train"][i] for i in (3, 4, 5, 0, 1, 2)]
    assert torch.equal(first.images, torch.from_numpy(np.stack(expected)).permute(0, 3, 1, 2))
    assert not first.official and str(folder / "train") in first.source and len(decoded) == 6
    assert len(list(cache.glob("*.pt"))) == 1

    again = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=cache)
    assert len(decoded) == 6 and torch.equal(again.images, first.images)  # from the cache, nothing decoded

    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(folder / "train" / "dog" / "99.png")
    grown = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=cache)
    assert len(grown) == 7 and len(decoded) == 6 + 7 and grown.labels.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert len(list(cache.glob("*.pt"))) == 1  # the stale cache was replaced

    test = load_split("image_folder", tmp_path, train=False, folder=folder, cache_dir=cache)
    assert len(test) == 6 and test.classes == ["cat", "dog"]


def test_image_folder_replaces_an_unreadable_cache(tmp_path, caplog):
    folder, cache = tmp_path / "pets", tmp_path / "cache"
    write_folder(folder, {"dog": (4, 4), "cat": (4, 4)}, count=2)
    first = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=cache)
    (cached,) = cache.glob("*train*.pt")
    cached.write_bytes(b"not a torch file")  # e.g. a copy cut short
    with caplog.at_level("WARNING", logger="trainfix.data"):
        again = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=cache)
    assert torch.equal(again.images, first.images) and f"ignoring unreadable cache {cached}" in caplog.text
    assert torch.equal(
        load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=cache).images, first.images
    )
    assert cached.read_bytes() != b"not a torch file"  # decoded again and written back


def test_image_folder_default_cache_is_under_the_root(tmp_path):
    folder = tmp_path / "gray"
    write_folder(folder, {"a": (5, 5), "b": (5, 5)}, count=2, mode="L")
    split = load_split("image_folder", tmp_path, train=True, folder=folder)
    assert_pixels(split, 4, (1, 5, 5))  # gray stays one channel
    assert len(list((tmp_path / ".trainfix-cache").glob("image_folder-*-train-*.pt"))) == 1


def test_image_folder_on_a_read_only_root_caches_in_the_user_cache(tmp_path, monkeypatch):
    root, folder = tmp_path / "data", tmp_path / "data" / "pets"
    write_folder(folder, {"a": (4, 4), "b": (4, 4)}, count=1)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    root.chmod(0o555)  # like a shared data root: not ours to fill, even as root
    try:
        split = load_split("image_folder", root, train=True, folder=folder)
    finally:
        root.chmod(0o755)
    assert len(split) == 2 and not (root / ".trainfix-cache").exists()
    assert len(list((tmp_path / "user-cache" / "trainfix").glob("image_folder-*.pt"))) == 1


def test_image_folder_mixing_gray_and_rgba_loads_as_rgb(tmp_path):
    folder = tmp_path / "modes"
    for split in ("train", "test"):
        (folder / split / "x").mkdir(parents=True)
        Image.fromarray(np.full((4, 4), 200, np.uint8), "L").save(folder / split / "x" / "gray.png")
        Image.fromarray(np.full((4, 4, 4), (10, 20, 30, 0), np.uint8), "RGBA").save(folder / split / "x" / "rgba.png")
    split = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=tmp_path / "cache")
    assert split.images.shape == (2, 3, 4, 4)
    assert split.images[0, :, 0, 0].tolist() == [200, 200, 200] and split.images[1, :, 0, 0].tolist() == [10, 20, 30]


def write_image(path: Path, mode: str, seed: int) -> np.ndarray:
    """A 5x5 PNG of random pixels in `mode` ("L" or "RGB"); returns what was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (5, 5) if mode == "L" else (5, 5, 3), dtype=np.uint8)
    Image.fromarray(pixels, mode).save(path)
    return pixels


def test_image_folder_mixing_gray_and_rgb_converts_both_splits_to_the_majority_mode(tmp_path, caplog):
    """Issue 13: one RGB file in a gray train/ made it 3-channel while test/ stayed 1-channel."""
    folder, cache = tmp_path / "digits", tmp_path / "cache"
    for i in range(3):
        write_image(folder / "train" / "a" / f"{i}.png", "L", seed=i)
        write_image(folder / "train" / "b" / f"{i}.png", "L", seed=10 + i)
        write_image(folder / "test" / "a" / f"{i}.png", "L", seed=20 + i)
        write_image(folder / "test" / "b" / f"{i}.png", "L", seed=30 + i)
    write_image(folder / "train" / "a" / "colour.png", "RGB", seed=99)  # 1 RGB among 13 files: L wins

    with caplog.at_level("WARNING", logger="trainfix.data"):
        train = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=cache)
        test = load_split("image_folder", tmp_path, train=False, folder=folder, cache_dir=cache)
    assert train.images.shape == (7, 1, 5, 5) and test.images.shape == (6, 1, 5, 5)
    with Image.open(folder / "train" / "a" / "colour.png") as image:
        luma = np.array(image.convert("L"))  # Pillow's own RGB -> L
    assert torch.equal(train.images[3, 0], torch.from_numpy(luma))  # a/0, a/1, a/2, a/colour, b/...
    assert torch.equal(
        train.images[0, 0], torch.from_numpy(write_image(tmp_path / "x.png", "L", seed=0))
    )  # gray kept as is
    warnings_ = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert (
        len(warnings_) == 1
        and "converted 1 of 7 images from RGB to L" in warnings_[0]
        and "a/colour.png" in warnings_[0]
    )

    # From the cache: the same pixels, and the same warning.
    caplog.clear()
    with caplog.at_level("WARNING", logger="trainfix.data"):
        again = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=cache)
    assert torch.equal(again.images, train.images) and "a/colour.png" in caplog.text

    # A class of colour files makes RGB the majority (16 RGB, 12 L): both splits turn RGB, the cached one too.
    for i in range(14):
        write_image(folder / "test" / "c" / f"{i}.png", "RGB", seed=40 + i)
    write_image(folder / "train" / "c" / "0.png", "RGB", seed=80)
    with caplog.at_level("WARNING", logger="trainfix.data"):
        caplog.clear()
        train = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=cache)
        test = load_split("image_folder", tmp_path, train=False, folder=folder, cache_dir=cache)
    assert train.images.shape == (8, 3, 5, 5) and test.images.shape == (20, 3, 5, 5)
    gray = write_image(tmp_path / "y.png", "L", seed=0)
    assert all(torch.equal(train.images[0, c], torch.from_numpy(gray)) for c in range(3))  # band repeated
    assert (
        "converted 6 of 8 images from L to RGB" in caplog.text
        and "converted 6 of 20 images from L to RGB" in caplog.text
    )
    assert "a/0.png, a/1.png, a/2.png, b/0.png, b/1.png, ..." in caplog.text  # the first five, then "..."


def test_image_folder_with_mixed_sizes_is_an_error_unless_resized(tmp_path):
    folder = tmp_path / "mixed"
    write_folder(folder, {"big": (10, 12), "small": (6, 8)}, count=2)
    with pytest.raises(
        DatasetFormatError, match=r"2 different sizes .*10x12 \(2 files.*6x8 \(2 files.*resize=\(height, width\)"
    ):
        load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=tmp_path / "cache")
    split = load_split("image_folder", tmp_path, train=True, folder=folder, cache_dir=tmp_path / "cache", resize=(6, 8))
    assert split.images.shape == (4, 3, 6, 8)


def test_image_folder_needs_the_same_classes_in_train_and_test(tmp_path):
    folder = tmp_path / "uneven"
    write_folder(folder, {"a": (4, 4), "b": (4, 4)}, count=1)
    shutil.rmtree(folder / "test" / "b")
    with pytest.raises(DatasetFormatError, match=r"only in train \['b'\], only in test \[\]"):
        load_split("image_folder", tmp_path, train=False, folder=folder, cache_dir=tmp_path / "cache")


def test_image_folder_missing_split_names_the_layout(tmp_path):
    (tmp_path / "only-train" / "train" / "a").mkdir(parents=True)
    with pytest.raises(DatasetMissingError, match=r"only-train/test/<class>/<image>"):
        load_split("image_folder", tmp_path, train=False, folder=tmp_path / "only-train")


# ------------------------------------------------------------------------ CIFAR-10, JPEG copy
@pytest.fixture(scope="module")
def jpeg_root(data_dir: Path) -> Path:
    if not (data_dir / "cifar10-jpeg" / "train").is_dir():
        pytest.skip(f"the CIFAR-10 JPEG copy is not at {data_dir / 'cifar10-jpeg'}")
    return data_dir


def test_cifar10_jpeg_small_copy_keeps_the_cifar10_classes(jpeg_root, tmp_path):
    for split in ("train", "test"):
        for cls in CIFAR10_CLASSES:
            (tmp_path / "cifar10-jpeg" / split / cls).mkdir(parents=True)
            for file in ("0000.jpg", "0001.jpg"):
                shutil.copy(jpeg_root / "cifar10-jpeg" / split / cls / file, tmp_path / "cifar10-jpeg" / split / cls)
    split = load_split("cifar10_jpeg", tmp_path, train=False)
    assert split.images.shape == (20, 3, 32, 32) and split.labels.tolist() == [c for c in range(10) for _ in range(2)]
    assert tuple(split.classes) == CIFAR10_CLASSES and not split.official
    for split_dir in ("train", "test"):
        os.rename(tmp_path / "cifar10-jpeg" / split_dir / "truck", tmp_path / "cifar10-jpeg" / split_dir / "lorry")
    with pytest.raises(DatasetFormatError, match="not CIFAR-10's"):
        load_split("cifar10_jpeg", tmp_path, train=True)


def test_cifar10_jpeg_full_copy(jpeg_root, tmp_path):
    """All 60,000 JPEGs: about 9 s to decode on 2 CPU cores, 0.3 s from the cache."""
    train = load_split("cifar10_jpeg", jpeg_root, train=True, cache_dir=tmp_path)
    test = load_split("cifar10_jpeg", jpeg_root, train=False, cache_dir=tmp_path)
    assert_pixels(train, 50_000, (3, 32, 32))
    assert_pixels(test, 10_000, (3, 32, 32))
    assert (
        torch.bincount(train.labels).tolist() == [5_000] * 10 and torch.bincount(test.labels).tolist() == [1_000] * 10
    )
    assert tuple(train.classes) == CIFAR10_CLASSES and not train.official and not test.official
    mean, std = train.channel_stats()
    spec = DATASETS["cifar10_jpeg"]
    assert mean == pytest.approx(spec.mean, abs=5e-5) and std == pytest.approx(spec.std, abs=5e-5)
    assert std == pytest.approx(
        (0.245, 0.243, 0.261), abs=5e-4
    )  # README: a little below the official 0.247/0.244/0.262


def test_svhn_train_extra_concatenates_train_then_extra(tmp_path):
    # LEAP's SVHN trains on train + extra (data.train_extra=true): train's images first, then extra's, one split.
    rng = np.random.default_rng(2)
    train = write_svhn(tmp_path / "train_32x32.mat", np.array([0, 1, 2]), rng)
    with pytest.raises(DatasetMissingError) as missing:
        load_split("svhn", tmp_path, train=True, extra=True, accept_nonofficial=True)
    assert str(tmp_path / "extra_32x32.mat") in str(missing.value) and "train_32x32.mat" not in str(missing.value)
    extra = write_svhn(tmp_path / "extra_32x32.mat", np.array([9, 0]), rng)
    with pytest.warns(NonOfficialDataWarning):
        split = load_split("svhn", tmp_path, train=True, extra=True, accept_nonofficial=True)
    assert_pixels(split, 5, (3, 32, 32))
    assert (
        split.labels.tolist() == [0, 1, 2, 9, 0]
        and "extra_32x32.mat" in split.source
        and "train_32x32.mat" in split.source
    )
    assert torch.equal(split.images[3], torch.from_numpy(extra[..., 0].transpose(2, 0, 1).copy()))
    assert torch.equal(split.images[2], torch.from_numpy(train[..., 2].transpose(2, 0, 1).copy()))
    with pytest.warns(NonOfficialDataWarning):
        assert len(load_split("svhn", tmp_path, train=True, accept_nonofficial=True)) == 3  # the default: train only


def test_svhn_train_extra_missing_names_both_files_and_is_svhn_only(tmp_path):
    with pytest.raises(DatasetMissingError) as missing:
        load_split("svhn", tmp_path, train=True, extra=True)
    assert str(tmp_path / "train_32x32.mat") in str(missing.value) and str(tmp_path / "extra_32x32.mat") in str(
        missing.value
    )
    with pytest.raises(DatasetMissingError) as test_split:  # the test split is the test split
        load_split("svhn", tmp_path, train=False, extra=True)
    assert "test_32x32.mat" in str(test_split.value) and "extra_32x32.mat" not in str(test_split.value)
    with pytest.raises(ValueError, match=r"data.train_extra=true is only accepted for dataset 'svhn'.*'mnist'"):
        load_split("mnist", tmp_path, train=True, extra=True)

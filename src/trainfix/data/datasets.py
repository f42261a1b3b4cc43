"""The dataset registry and its loaders: real image-classification data as CPU uint8 tensors.

`DATASETS` names every dataset trainfix trains on and what a run needs to know about it (shape,
classes, per-channel statistics, which augmentations keep the labels true). `load_split` reads one
split from the files under a data root into an `ImageTensors` (images uint8 [N, C, H, W], labels
int64 [N]); the DataModule moves it to the training device, where a batch is a gather by index.

Files are found offline, in torchvision's layout below the data root (what torchvision's own
download would leave there), and read with torchvision's dataset classes and parsers:

    mnist          <root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    fashion_mnist  <root>/FashionMNIST/raw/... as for MNIST, then Debian's dataset-fashion-mnist
                   package: /usr/share/datasets/fashion-mnist/*.gz
    cifar10        <root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}
    cifar100       <root>/cifar-100-python/{train,test,meta}
    svhn           <root>/{train,test}_32x32.mat; with extra=True the training split is
                   <root>/train_32x32.mat + <root>/extra_32x32.mat (604,388 images, LEAP's SVHN)
    image_folder   <folder>/{train,test}/<class>/<image>   (any size, all images one size; gray and colour
                   files mixed: every image converted to the mode most files have, see _load_folder)
    cifar10_jpeg   <root>/cifar10-jpeg/{train,test}/<class>/NNNN.jpg   (lossy JPEG copy)

Every file is checked against the official content (md5). A copy that differs is refused, naming
the files, unless `accept_nonofficial=True`; then it loads with a `NonOfficialDataWarning` and the
result says `official=False`. Sample counts always come from the files.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
import torchvision.datasets as tvd
from PIL import Image
from torchvision.datasets.folder import find_classes
from torchvision.datasets.mnist import read_image_file, read_label_file
from torchvision.datasets.utils import calculate_md5

log = logging.getLogger(__name__)

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
CACHE_DIRNAME = ".trainfix-cache"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
DATA_ROOT_HINT = "set the data root with paths.data_dir=<dir> or the TRAINFIX_DATA_DIR environment variable"


# --------------------------------------------------------------------------------------- errors
class DatasetMissingError(FileNotFoundError):
    """The files of a dataset are not where they are looked for; the message lists them and the fix."""


class NonOfficialDataError(ValueError):
    """Files whose checksums are not the official ones, refused because accept_nonofficial is off."""


class NonOfficialDataWarning(UserWarning):
    """Files whose checksums are not the official ones were loaded because accept_nonofficial is on."""


class DatasetFormatError(ValueError):
    """Files that exist but do not hold what the dataset needs (mixed image sizes, wrong classes, ...)."""


# ------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class DatasetSpec:
    """What a run needs to know about a dataset before reading it.

    Attributes:
        label: human-readable name, written into run records and tables.
        channels: image channels; None = read from the files (image_folder).
        image_size: (height, width) in pixels; None = read from the files.
        num_classes: None = the number of class folders (image_folder).
        mean, std: per-channel statistics of the training split, pixels scaled to [0, 1] (population
            std over all pixels of a channel); None = compute from the data (`ImageTensors.channel_stats`).
        flip_ok: a horizontal flip keeps the label true (False for digits: a mirrored 2 is no digit).
        crop_ok: a random crop after zero padding (a shift by a few pixels) keeps the label true.
        official_order: the files hold the samples in the dataset's published order (False for image
            folders, whose order is by class and file name), so index windows can follow it.
    """

    label: str
    channels: int | None
    image_size: tuple[int, int] | None
    num_classes: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    flip_ok: bool
    crop_ok: bool = True
    official_order: bool = True


# Statistics: MNIST, Fashion-MNIST and the JPEG copy recomputed here from the real files with
# `load_split(name, "../shared/data", train=True).channel_stats()`; they agree with the published
# values to the digits shown. CIFAR-10 (full), CIFAR-100 and SVHN: the published train-split values
# (the official full files are not on this machine; the CIFAR-10 subset here gives the same to ~1e-2).
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        label="MNIST",
        channels=1, image_size=(28, 28), num_classes=10,
        mean=(0.1307,), std=(0.3081,),
        flip_ok=False,
    ),
    "fashion_mnist": DatasetSpec(
        label="Fashion-MNIST",
        channels=1, image_size=(28, 28), num_classes=10,
        mean=(0.2860,), std=(0.3530,),
        flip_ok=True,  # a mirrored shoe or shirt is still a shoe or shirt
    ),
    "cifar10": DatasetSpec(
        label="CIFAR-10",
        channels=3, image_size=(32, 32), num_classes=10,
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        flip_ok=True,
    ),
    "cifar100": DatasetSpec(
        label="CIFAR-100",
        channels=3, image_size=(32, 32), num_classes=100,
        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        flip_ok=True,
    ),
    "svhn": DatasetSpec(
        label="SVHN",
        channels=3, image_size=(32, 32), num_classes=10,
        mean=(0.4377, 0.4438, 0.4728), std=(0.1980, 0.2010, 0.1970),
        flip_ok=False,
    ),
    "image_folder": DatasetSpec(
        label="image folder",
        channels=None, image_size=None, num_classes=None,
        mean=None, std=None,
        flip_ok=True,  # natural images; a folder of digits or text should not enable flip
        official_order=False,
    ),
    "cifar10_jpeg": DatasetSpec(
        label="CIFAR-10 (lossy JPEG copy, not the official files)",
        channels=3, image_size=(32, 32), num_classes=10,
        mean=(0.4913, 0.4821, 0.4465), std=(0.2452, 0.2428, 0.2606),
        flip_ok=True,
        official_order=False,  # class folders: all airplanes, then all automobiles, ...
    ),
}


@dataclass
class ImageTensors:
    """One split of a dataset, on the CPU.

    Attributes:
        images: uint8 [N, C, H, W], pixel values 0-255, contiguous.
        labels: int64 [N], class indices into `classes`.
        classes: class names, index = label.
        name: the DATASETS key.
        source: the files or folder that were read.
        official: True when every file read matched the official checksums.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    source: str
    official: bool

    def __post_init__(self) -> None:
        assert self.images.dtype == torch.uint8 and self.images.dim() == 4, (self.images.dtype, self.images.shape)
        assert self.images.device.type == "cpu" and self.images.is_contiguous()
        assert self.labels.dtype == torch.int64 and self.labels.shape == (self.images.shape[0],), self.labels.shape

    def __len__(self) -> int:
        return self.images.shape[0]

    def channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel (mean, std) of the pixels scaled to [0, 1]: population std over all pixels."""
        total = torch.zeros(self.images.shape[1], dtype=torch.float64)
        squares = torch.zeros_like(total)
        for chunk in self.images.split(8192):
            pixels = chunk.transpose(0, 1).reshape(chunk.shape[1], -1).double()
            total += pixels.sum(dim=1)
            squares += pixels.square().sum(dim=1)
        count = self.images.numel() / self.images.shape[1]
        mean = total / count
        std = (squares / count - mean.square()).clamp_min(0).sqrt()
        return tuple((mean / 255).tolist()), tuple((std / 255).tolist())


# -------------------------------------------------------------------------------------- loading
@dataclass(frozen=True)
class _Options:
    """load_split's keyword options, handed to every loader."""

    accept_nonofficial: bool
    folder: str | os.PathLike | None
    cache_dir: str | os.PathLike | None
    download: bool
    resize: tuple[int, int] | None
    extra: bool = False


def load_split(
    name: str,
    root: str | os.PathLike,
    train: bool,
    *,
    accept_nonofficial: bool = False,
    folder: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    download: bool = False,
    resize: tuple[int, int] | None = None,
    extra: bool = False,
) -> ImageTensors:
    """Read the train or test split of dataset `name` from the files under the data root `root`.

    Args:
        name: a key of `DATASETS`.
        root: the data root, torchvision layout below it (see the module docstring).
        train: the training split if True, else the test split.
        accept_nonofficial: load files whose checksums are not the official ones, with a
            `NonOfficialDataWarning` naming them (config: data.accept_nonofficial=true).
        folder: image_folder only: the directory holding train/ and test/ class folders.
        cache_dir: where decoded image folders are cached; default `<root>/.trainfix-cache/`, or
            `~/.cache/trainfix` when the root is read-only.
        download: when files are missing, let torchvision try to download them (needs network).
        resize: image folders only: resize every image to (height, width) pixels; None = the
            images must all have one size.
        extra: svhn only: the training split is the official train split followed by the extra
            split (73,257 + 531,131 images; config: data.train_extra=true). Ignored for the test split.

    Raises:
        DatasetMissingError: files missing; the message lists them, the directory searched and the fix.
        NonOfficialDataError: checksums differ from the official files and accept_nonofficial is off.
        DatasetFormatError: the files do not hold what the dataset needs.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r} is not known; accepted: {sorted(DATASETS)}")
    if folder is not None and name != "image_folder":
        raise ValueError(f"folder={str(folder)!r} is only used by dataset 'image_folder', not {name!r}")
    if resize is not None:
        if name not in ("image_folder", "cifar10_jpeg"):
            raise ValueError(f"resize={resize!r} is only used by image folders (image_folder, cifar10_jpeg), not {name!r}")
        if len(resize) != 2 or not all(isinstance(v, int) and v > 0 for v in resize):
            raise ValueError(f"resize={resize!r}: give (height, width) in pixels, two integers > 0")
        resize = (int(resize[0]), int(resize[1]))
    if extra and name != "svhn":
        raise ValueError(f"data.train_extra=true is only accepted for dataset 'svhn' (its extra split), not {name!r}")
    root = Path(root).expanduser()
    options = _Options(accept_nonofficial, folder, cache_dir, download, resize, extra)
    start = time.perf_counter()
    split = _LOADERS[name](name, root, train, options)
    _check_against_spec(split, DATASETS[name], resize)
    log.info(
        "%s %s: %d images %s from %s (%s) in %.1f s", DATASETS[name].label, "train" if train else "test", len(split),
        tuple(split.images.shape[1:]), split.source, "official" if split.official else "NOT official", time.perf_counter() - start,
    )
    return split


def _check_against_spec(split: ImageTensors, spec: DatasetSpec, resize: tuple[int, int] | None) -> None:
    """Refuse files whose shapes or labels do not fit the dataset (possible in a non-official copy)."""
    _, channels, height, width = split.images.shape
    size = resize or spec.image_size
    problems = []
    if spec.channels is not None and channels != spec.channels:
        problems.append(f"{channels} channels, expected {spec.channels}")
    if size is not None and (height, width) != tuple(size):
        problems.append(f"images of {height}x{width} pixels, expected {size[0]}x{size[1]}")
    if spec.num_classes is not None and len(split.classes) != spec.num_classes:
        problems.append(f"{len(split.classes)} classes, expected {spec.num_classes}")
    if len(split) and (split.labels.min() < 0 or split.labels.max() >= len(split.classes)):
        problems.append(f"labels in [{int(split.labels.min())}, {int(split.labels.max())}], expected [0, {len(split.classes) - 1}]")
    if problems:
        raise DatasetFormatError(f"{split.name} from {split.source}: " + "; ".join(problems))


def _missing_error(name: str, searched: Sequence[Path], expected: Sequence[str], extra_fix: str = "") -> DatasetMissingError:
    lines = [f"{DATASETS[name].label} ({name}): files not found.", "Expected:"]
    lines += [f"  {path}" for path in expected]
    lines.append("Searched: " + ", ".join(str(path) for path in searched))
    lines.append(f"Fix: put the official files there ({DATA_ROOT_HINT})" + (f"; {extra_fix}" if extra_fix else "") + ".")
    return DatasetMissingError("\n".join(lines))


@contextmanager
def _parsing(name: str, paths: Sequence[Path | str]):
    """Turn a parser's failure on malformed files (only possible with accept_nonofficial) into a clear error."""
    try:
        yield
    except Exception as error:  # parsers fail in many ways (assert, pickle, scipy, torch.view); the cause stays chained
        listed = ", ".join(str(path) for path in paths)
        raise DatasetFormatError(f"{name}: cannot read {listed} in the official format ({type(error).__name__}: {error})") from error


def _try_download(name: str, make: Callable[[], object]) -> str:
    """Run a torchvision download; return "" on success, else why it failed (no network here)."""
    try:
        make()
    except (URLError, OSError, RuntimeError) as error:
        return f"download failed: {type(error).__name__}: {error}"
    return ""


def _verify(name: str, files: Sequence[tuple[str, str, str]], accept_nonofficial: bool) -> bool:
    """Compare (path, official md5, actual md5) triples; return True when all are official.

    A mismatch raises `NonOfficialDataError`, or warns when `accept_nonofficial` is set.
    """
    bad = [(path, official, actual) for path, official, actual in files if official != actual]
    if not bad:
        return True
    listing = "\n".join(f"  {path}: md5 {actual}, official {official}" for path, official, actual in bad)
    if not accept_nonofficial:
        raise NonOfficialDataError(
            f"{DATASETS[name].label} ({name}): these files are not the official ones (md5 differs):\n{listing}\n"
            "To use them anyway pass accept_nonofficial=True (config: data.accept_nonofficial=true); "
            "the run is then recorded as official=false."
        )
    warnings.warn(
        f"{DATASETS[name].label} ({name}): loading files that are not the official ones (accept_nonofficial=True); "
        f"results are not on the official data:\n{listing}",
        NonOfficialDataWarning,
        stacklevel=4,
    )
    return False


# ------------------------------------------------------------------------ MNIST, Fashion-MNIST
# md5 of the *uncompressed* idx files. Obtained with `md5sum` of ../shared/data/MNIST/raw/* (byte-identical
# to the official files, per its README) and of ../shared/data/FashionMNIST/raw/*, which equal
# `zcat /usr/share/datasets/fashion-mnist/*.gz | md5sum` (Debian's dataset-fashion-mnist package).
# torchvision lists md5s of the .gz archives only; Debian recompressed them, so the content is compared.
IDX_MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}
_IDX_CLASSES = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST}


def _load_idx(name: str, root: Path, train: bool, options: _Options) -> ImageTensors:
    """MNIST-format idx files: uncompressed or .gz in <root>/<Class>/raw/, then Debian's .gz (Fashion-MNIST)."""
    dataset_class = _IDX_CLASSES[name]
    prefix = "train" if train else "t10k"
    files = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    raw = root / dataset_class.__name__ / "raw"
    candidates = [(raw, ""), (raw, ".gz")]
    if name == "fashion_mnist":
        candidates.append((DEBIAN_FASHION_MNIST_DIR, ".gz"))
    found = _first_complete(candidates, files)
    failure = ""
    if found is None and options.download:
        failure = _try_download(name, lambda: dataset_class(str(root), train=train, download=True))
        found = _first_complete(candidates, files)
    if found is None:
        debian = "or install Debian's package: apt-get install dataset-fashion-mnist" if name == "fashion_mnist" else ""
        extra = "; ".join(part for part in (debian, failure) if part)
        raise _missing_error(
            name,
            searched=list(dict.fromkeys(directory for directory, _ in candidates)),
            expected=[f"{raw / file}  (or {file}.gz)" for file in files] + ([DEBIAN_FASHION_MNIST_DIR / (f + ".gz") for f in files] if name == "fashion_mnist" else []),
            extra_fix=extra,
        )
    directory, suffix = found
    paths = [directory / (file + suffix) for file in files]
    if suffix == "":
        contents = None
        digests = [calculate_md5(path) for path in paths]
    else:
        # torchvision's idx parser reads paths of uncompressed files: decompress in memory (never
        # writing beside the .gz, which may be read-only /usr/share) and hand it a temporary copy.
        contents = [gzip.decompress(path.read_bytes()) for path in paths]
        digests = [hashlib.md5(content, usedforsecurity=False).hexdigest() for content in contents]
    official = _verify(name, [(str(p), IDX_MD5[name][f], d) for p, f, d in zip(paths, files, digests)], options.accept_nonofficial)
    with _parsing(name, paths):
        if contents is None:
            images, labels = read_image_file(str(paths[0])), read_label_file(str(paths[1]))
        else:
            with tempfile.TemporaryDirectory(prefix="trainfix-idx-") as scratch:
                for file, content in zip(files, contents):
                    (Path(scratch) / file).write_bytes(content)
                images, labels = read_image_file(os.path.join(scratch, files[0])), read_label_file(os.path.join(scratch, files[1]))
    if images.shape[0] != labels.shape[0]:
        raise DatasetFormatError(f"{name}: {paths[0]} holds {images.shape[0]} images but {paths[1]} {labels.shape[0]} labels")
    return ImageTensors(
        images=images.unsqueeze(1).contiguous(),
        labels=labels.to(torch.int64),
        classes=list(dataset_class.classes),
        name=name,
        source=", ".join(str(path) for path in paths),
        official=official,
    )


def _first_complete(candidates: Sequence[tuple[Path, str]], files: Sequence[str]) -> tuple[Path, str] | None:
    for directory, suffix in candidates:
        if all((directory / (file + suffix)).is_file() for file in files):
            return directory, suffix
    return None


# ----------------------------------------------------------------------- CIFAR-10, CIFAR-100
# torchvision's readers, with their own md5 checks turned off: `_load_cifar`/`_load_svhn` check the
# split's files against the same md5 lists first and refuse or accept (with a warning) themselves.
class _CheckedCIFAR10(tvd.CIFAR10):
    meta = {**tvd.CIFAR10.meta, "md5": None}

    def _check_integrity(self) -> bool:
        return True


class _CheckedCIFAR100(tvd.CIFAR100):
    meta = {**tvd.CIFAR100.meta, "md5": None}

    def _check_integrity(self) -> bool:
        return True


class _CheckedSVHN(tvd.SVHN):
    def _check_integrity(self) -> bool:
        return True


_CIFAR_CLASSES: dict[str, tuple[type[tvd.CIFAR10], type[tvd.CIFAR10]]] = {
    "cifar10": (tvd.CIFAR10, _CheckedCIFAR10),
    "cifar100": (tvd.CIFAR100, _CheckedCIFAR100),
}


def _load_cifar(name: str, root: Path, train: bool, options: _Options) -> ImageTensors:
    """CIFAR python pickles in <root>/cifar-10-batches-py or <root>/cifar-100-python (CIFAR-100: fine labels)."""
    official_class, reader = _CIFAR_CLASSES[name]
    base = root / official_class.base_folder
    listed = official_class.train_list if train else official_class.test_list
    files = [(base / file, md5) for file, md5 in listed] + [(base / official_class.meta["filename"], official_class.meta["md5"])]
    failure = ""
    if not all(path.is_file() for path, _ in files) and options.download:
        failure = _try_download(name, lambda: official_class(str(root), train=train, download=True))
    missing = [path for path, _ in files if not path.is_file()]
    if missing:
        raise _missing_error(name, [base], [str(path) for path in missing], failure)
    official = _verify(name, [(str(path), md5, calculate_md5(path)) for path, md5 in files], options.accept_nonofficial)
    with _parsing(name, [path for path, _ in files]):
        dataset = reader(str(root), train=train)
    return ImageTensors(
        images=torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous(),
        labels=torch.as_tensor(dataset.targets, dtype=torch.int64),
        classes=list(dataset.classes),
        name=name,
        source=", ".join(str(path) for path, _ in files),
        official=official,
    )


# ------------------------------------------------------------------------------------------ SVHN
def _load_svhn(name: str, root: Path, train: bool, options: _Options) -> ImageTensors:
    """SVHN cropped digits, <root>/{train,test}_32x32.mat (train + extra_32x32.mat with `options.extra`);
    torchvision maps label 10 to digit 0."""
    splits = ("train", "extra") if train and options.extra else ("train",) if train else ("test",)
    files = {split: (root / tvd.SVHN.split_list[split][1], tvd.SVHN.split_list[split][2]) for split in splits}
    failure = ""
    for split, (path, _) in files.items():
        if not path.is_file() and options.download:
            failure = failure or _try_download(name, lambda split=split: tvd.SVHN(str(root), split=split, download=True))
    missing = [str(path) for path, _ in files.values() if not path.is_file()]
    if missing:
        raise _missing_error(name, [root], missing, failure)
    official = _verify(name, [(str(path), md5, calculate_md5(path)) for path, md5 in files.values()], options.accept_nonofficial)
    images, labels = [], []
    for split, (path, _) in files.items():
        with _parsing(name, [path]):
            dataset = _CheckedSVHN(str(root), split=split)
        images.append(torch.from_numpy(dataset.data))
        labels.append(torch.from_numpy(dataset.labels).to(torch.int64))
    return ImageTensors(
        images=torch.cat(images).contiguous(),
        labels=torch.cat(labels),
        classes=[str(digit) for digit in range(10)],
        name=name,
        source=", ".join(str(path) for path, _ in files.values()),
        official=official,
    )


# -------------------------------------------------------------------------------- image folders
# Decoded with Pillow, ImageFolder's own decoder (torchvision.io's decoders are deprecated since 0.29).
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
_CACHE_VERSION = 2  # 2: the cache records the mode its images were converted to and the split's file modes
_MODE_EXAMPLES = 5  # file names a log line gives of the images converted to the dataset's mode


def _load_cifar10_jpeg(name: str, root: Path, train: bool, options: _Options) -> ImageTensors:
    """The lossy JPEG copy of CIFAR-10 at <root>/cifar10-jpeg; never official, whatever its checksums."""
    folder = root / "cifar10-jpeg"
    split = _load_folder(name, folder, root, train, options)
    if tuple(split.classes) != CIFAR10_CLASSES:
        raise DatasetFormatError(
            f"{folder}: class folders {split.classes} are not CIFAR-10's {list(CIFAR10_CLASSES)} (in that order)"
        )
    return split


def _load_image_folder(name: str, root: Path, train: bool, options: _Options) -> ImageTensors:
    """Your own images: <folder>/{train,test}/<class>/<image>, classes in alphabetical order."""
    if options.folder is None:
        raise ValueError("dataset 'image_folder' needs folder=<dir with train/ and test/ class folders> (config: data.folder=...)")
    return _load_folder(name, Path(options.folder).expanduser(), root, train, options)


def _load_folder(name: str, folder: Path, root: Path, train: bool, options: _Options) -> ImageTensors:
    """Decode an image-folder split once with Pillow, then reuse the cached uint8 tensors.

    Gray ("L", and the other one-band modes) and colour files may be mixed: every image of both
    splits is converted to the mode most files of train/ and test/ together have (a tie keeps colour,
    which loses nothing), so both splits have the channel count the network is built for. Gray
    becomes RGB by repeating the band; RGB becomes L by Pillow's ITU-R 601-2 luma. A warning names
    how many files of the split were converted, and the first few.
    """
    folder = folder.resolve()
    split_dir = folder / ("train" if train else "test")
    layout = f"{folder}/train/<class>/<image> and {folder}/test/<class>/<image>"
    if not split_dir.is_dir() or not (folder / "train").is_dir():
        extra = "the folder needs train/ and test/, each with one sub-folder per class"
        raise _missing_error(name, [folder], [layout], extra)
    try:
        classes = find_classes(str(folder / "train"))[0]
        dataset = tvd.ImageFolder(str(split_dir))
    except FileNotFoundError as error:
        raise _missing_error(name, [split_dir], [layout], str(error)) from None
    if dataset.classes != classes:
        only_train = sorted(set(classes) - set(dataset.classes))
        only_test = sorted(set(dataset.classes) - set(classes))
        raise DatasetFormatError(
            f"{folder}: class folders differ between train/ and test/: only in train {only_train}, only in test {only_test}"
        )
    files = [path for path, _ in dataset.samples]
    labels = torch.as_tensor([target for _, target in dataset.samples], dtype=torch.int64)
    key = _folder_key(split_dir, files, options.resize)
    cache = _cache_file(root, options.cache_dir, split_dir, key)
    source = f"{split_dir} ({len(files)} files)"
    official = False  # an image folder has no official checksums; cifar10_jpeg is a lossy copy
    cached = _read_cache(cache, key) if cache is not None and cache.is_file() else None
    if cached is not None and (cached["classes"] != classes or not torch.equal(cached["labels"], labels)):
        cached = None
    arrays = None
    if cached is not None:
        modes = cached["modes"]
    else:
        arrays = _decode_all(files, options.resize, split_dir)
        modes = _mode_summary(files, ["L" if array.ndim == 2 else "RGB" for array in arrays], split_dir)
    other_dir = folder / ("test" if train else "train")
    mode = _majority_mode(modes, _split_modes(other_dir, root, options))
    _log_conversions(split_dir, modes, mode)
    if cached is not None and cached["mode"] == mode:
        return ImageTensors(cached["images"], labels, classes, name, source, official)
    if arrays is None:  # cached in the other mode: the other split changed the majority
        arrays = _decode_all(files, options.resize, split_dir)
    images = _stack(arrays, mode)
    if cache is not None:
        _write_cache(cache, {"version": _CACHE_VERSION, "key": key, "images": images, "labels": labels, "classes": classes, "mode": mode, "modes": modes})
    return ImageTensors(images, labels, classes, name, source, official)


def _mode_summary(files: Sequence[str], modes: Sequence[str], split_dir: Path) -> dict[str, dict]:
    """{"L": {"count": n, "examples": [first few class/file names]}, "RGB": {...}} of one split's files."""
    prefix = len(str(split_dir)) + 1
    summary: dict[str, dict] = {"L": {"count": 0, "examples": []}, "RGB": {"count": 0, "examples": []}}
    for path, mode in zip(files, modes, strict=True):
        summary[mode]["count"] += 1
        if len(summary[mode]["examples"]) < _MODE_EXAMPLES:
            summary[mode]["examples"].append(path[prefix:])
    return summary


def _split_modes(split_dir: Path, root: Path, options: _Options) -> dict[str, dict] | None:
    """The file modes of the other split: from its cache when current, else from the file headers (no decoding)."""
    if not split_dir.is_dir():
        return None
    try:
        files = [path for path, _ in tvd.ImageFolder(str(split_dir)).samples]
    except FileNotFoundError:  # no class folders or no images: that split's own load says so
        return None
    key = _folder_key(split_dir, files, options.resize)
    cache = _cache_file(root, options.cache_dir, split_dir, key)
    if cache is not None and cache.is_file():
        try:  # mmap: only the small entries are read, not the images
            cached = torch.load(cache, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # unreadable: its own load will decode again and replace it
            cached = None
        if isinstance(cached, dict) and cached.get("version") == _CACHE_VERSION and cached.get("key") == key:
            return cached["modes"]
    modes = []
    for path in files:
        try:
            with Image.open(path) as image:  # reads the header only
                modes.append("L" if image.mode in _GRAY_MODES else "RGB")
        except OSError as error:
            raise DatasetFormatError(f"{path}: cannot decode the image ({error})") from None
    return _mode_summary(files, modes, split_dir)


def _majority_mode(own: dict[str, dict], other: dict[str, dict] | None) -> str:
    gray = own["L"]["count"] + (other["L"]["count"] if other else 0)
    colour = own["RGB"]["count"] + (other["RGB"]["count"] if other else 0)
    return "L" if gray > colour else "RGB"


def _log_conversions(split_dir: Path, modes: dict[str, dict], mode: str) -> None:
    source = "RGB" if mode == "L" else "L"
    converted = modes[source]
    if converted["count"]:
        more = ", ..." if converted["count"] > len(converted["examples"]) else ""
        log.warning(
            "%s: converted %d of %d images from %s to %s, the mode most files of train/ and test/ have: %s%s",
            split_dir, converted["count"], converted["count"] + modes[mode]["count"], source, mode,
            ", ".join(converted["examples"]), more,
        )


def _folder_key(split_dir: Path, files: Sequence[str], resize: tuple[int, int] | None) -> str:
    """Identity of a folder's content: absolute path, file count, sorted relative names, sizes, mtimes."""
    digest = hashlib.sha256(f"{split_dir}\n{len(files)}\n{resize}\n".encode())
    prefix = len(str(split_dir)) + 1  # ImageFolder's paths are <split_dir>/<class>/<file>
    for path in sorted(files):
        stat = os.stat(path)
        digest.update(f"{path[prefix:]}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _cache_file(root: Path, cache_dir: str | os.PathLike | None, split_dir: Path, key: str) -> Path | None:
    """`<cache_dir>/image_folder-<folder hash>-<split>-<content key>.pt`; None when no cache dir is writable.

    Without `cache_dir`: `<root>/.trainfix-cache/`, else (a read-only data root) `~/.cache/trainfix/`.
    """
    if cache_dir is not None:
        directories = [Path(cache_dir).expanduser()]
    else:
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trainfix"
        directories = [root / CACHE_DIRNAME, user_cache]
    for directory in directories:
        if _writable(directory):
            directory.mkdir(parents=True, exist_ok=True)
            folder_hash = hashlib.sha256(str(split_dir).encode()).hexdigest()[:12]
            return directory / f"image_folder-{folder_hash}-{split_dir.name}-{key[:16]}.pt"
    if cache_dir is not None:
        raise ValueError(f"cache_dir={str(cache_dir)!r} is not a writable directory")
    log.warning("no writable cache directory (tried %s); decoding %s without caching", [str(d) for d in directories], split_dir)
    return None


def _writable(directory: Path) -> bool:
    """Whether `directory` (or its nearest existing parent) may be written.

    Besides access(), a folder whose mode has no write bit counts as read-only: root may write
    anywhere, but a data folder marked r-x (like a shared data root) is not ours to fill.
    """
    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            return False
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK) and bool(existing.stat().st_mode & 0o222)


def _read_cache(path: Path, key: str) -> dict | None:
    try:
        cached = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: decode again and overwrite it
        log.warning("ignoring unreadable cache %s (%s)", path, error)
        return None
    if not isinstance(cached, dict) or cached.get("version") != _CACHE_VERSION or cached.get("key") != key:
        return None
    return cached


def _write_cache(path: Path, content: dict) -> None:
    """Write atomically (temp file + rename), then drop older caches of the same folder and split."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(content, stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    stem = path.name.rsplit("-", 1)[0]
    for stale in path.parent.glob(f"{stem}-*.pt"):
        if stale != path:
            stale.unlink(missing_ok=True)


def _decode(path: str, resize: tuple[int, int] | None) -> np.ndarray:
    """One image file as uint8 [H, W] (gray) or [H, W, 3] (colour; alpha dropped, palette expanded)."""
    with Image.open(path) as image:
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode in _GRAY_MODES else "RGB")
        if resize is not None and image.size != (resize[1], resize[0]):
            image = image.resize((resize[1], resize[0]), Image.Resampling.BILINEAR)  # antialiased when shrinking
        return np.asarray(image)


def _decode_all(files: Sequence[str], resize: tuple[int, int] | None, split_dir: Path) -> list[np.ndarray]:
    """Decode every file (gray [H, W] or colour [H, W, 3]); mixed sizes are an error unless `resize` is given."""
    if not files:
        raise DatasetFormatError(f"{split_dir}: no images")
    images = []
    for path in files:
        try:
            images.append(_decode(path, resize))
        except OSError as error:  # PIL's UnidentifiedImageError and truncated files are OSErrors
            raise DatasetFormatError(f"{path}: cannot decode the image ({error})") from None
    sizes = Counter(image.shape[:2] for image in images)
    if len(sizes) > 1:
        examples: dict[tuple[int, ...], str] = {}
        for path, image in zip(files, images):
            examples.setdefault(image.shape[:2], path)
        listing = ", ".join(f"{h}x{w} ({count} files, e.g. {examples[(h, w)]})" for (h, w), count in sizes.most_common())
        raise DatasetFormatError(
            f"{split_dir}: images have {len(sizes)} different sizes (height x width): {listing}; all must have one size "
            f"(resize the files, or pass resize=(height, width) to load_split)"
        )
    return images


def _stack(images: Sequence[np.ndarray], mode: str) -> torch.Tensor:
    """One uint8 [N, C, H, W] of `images`, each converted to `mode` ("L": C = 1, "RGB": C = 3) with Pillow."""
    wanted_ndim = 2 if mode == "L" else 3
    images = [image if image.ndim == wanted_ndim else np.asarray(Image.fromarray(image).convert(mode)) for image in images]
    if mode == "L":
        return torch.from_numpy(np.stack(images)).unsqueeze(1)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


_LOADERS: dict[str, Callable[[str, Path, bool, _Options], ImageTensors]] = {
    "mnist": _load_idx,
    "fashion_mnist": _load_idx,
    "cifar10": _load_cifar,
    "cifar100": _load_cifar,
    "svhn": _load_svhn,
    "image_folder": _load_image_folder,
    "cifar10_jpeg": _load_cifar10_jpeg,
}
assert _LOADERS.keys() == DATASETS.keys()

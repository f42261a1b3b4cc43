"""Readers of the official dataset files, each checked against the official content (md5).

Files are found offline, in torchvision's layout below the data root (what torchvision's own
download would leave there), and read with torchvision's dataset classes and parsers:

    mnist          <root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
    fashion_mnist  <root>/FashionMNIST/raw/... as for MNIST, then Debian's dataset-fashion-mnist
                   package: /usr/share/datasets/fashion-mnist/*.gz
    cifar10        <root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}
    cifar100       <root>/cifar-100-python/{train,test,meta}
    svhn           <root>/{train,test}_32x32.mat; with extra=True the training split is
                   <root>/train_32x32.mat + <root>/extra_32x32.mat (604,388 images, LEAP's SVHN)

A copy that differs from the official content is refused, naming the files, unless
`accept_nonofficial=True`; then it loads with a `NonOfficialDataWarning` and the result says
`official=False`. Sample counts always come from the files. `OFFICIAL_READERS` maps each of these
dataset names to its reader; `trainfix.data.loading.load_split` calls them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError

import torch
import torchvision.datasets as tvd
from torchvision.datasets.mnist import read_image_file, read_label_file
from torchvision.datasets.utils import calculate_md5

from trainfix.data.catalogue import DATASETS, ImageTensors, ReadOptions
from trainfix.data.errors import DatasetFormatError, NonOfficialDataError, NonOfficialDataWarning, missing_error

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


# ------------------------------------------------------------------------------------ checksums
@contextmanager
def _parsing(name: str, paths: Sequence[Path | str]):
    """Turn a parser's failure on malformed files (only possible with accept_nonofficial) into a clear error."""
    try:
        yield
    except Exception as error:  # parsers fail in many ways (assert, pickle, scipy, torch.view); the cause stays chained
        listed = ", ".join(str(path) for path in paths)
        raise DatasetFormatError(
            f"{name}: cannot read {listed} in the official format ({type(error).__name__}: {error})"
        ) from error


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


def _load_idx(name: str, root: Path, train: bool, options: ReadOptions) -> ImageTensors:
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
        raise missing_error(
            name,
            searched=list(dict.fromkeys(directory for directory, _ in candidates)),
            expected=[f"{raw / file}  (or {file}.gz)" for file in files]
            + ([DEBIAN_FASHION_MNIST_DIR / (f + ".gz") for f in files] if name == "fashion_mnist" else []),
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
    official = _verify(
        name, [(str(p), IDX_MD5[name][f], d) for p, f, d in zip(paths, files, digests)], options.accept_nonofficial
    )
    with _parsing(name, paths):
        if contents is None:
            images, labels = read_image_file(str(paths[0])), read_label_file(str(paths[1]))
        else:
            with tempfile.TemporaryDirectory(prefix="trainfix-idx-") as scratch:
                for file, content in zip(files, contents):
                    (Path(scratch) / file).write_bytes(content)
                images, labels = (
                    read_image_file(os.path.join(scratch, files[0])),
                    read_label_file(os.path.join(scratch, files[1])),
                )
    if images.shape[0] != labels.shape[0]:
        raise DatasetFormatError(
            f"{name}: {paths[0]} holds {images.shape[0]} images but {paths[1]} {labels.shape[0]} labels"
        )
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


def _load_cifar(name: str, root: Path, train: bool, options: ReadOptions) -> ImageTensors:
    """CIFAR python pickles in <root>/cifar-10-batches-py or <root>/cifar-100-python (CIFAR-100: fine labels)."""
    official_class, reader = _CIFAR_CLASSES[name]
    base = root / official_class.base_folder
    listed = official_class.train_list if train else official_class.test_list
    files = [(base / file, md5) for file, md5 in listed] + [
        (base / official_class.meta["filename"], official_class.meta["md5"])
    ]
    failure = ""
    if not all(path.is_file() for path, _ in files) and options.download:
        failure = _try_download(name, lambda: official_class(str(root), train=train, download=True))
    missing = [path for path, _ in files if not path.is_file()]
    if missing:
        raise missing_error(name, [base], [str(path) for path in missing], failure)
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
def _load_svhn(name: str, root: Path, train: bool, options: ReadOptions) -> ImageTensors:
    """SVHN cropped digits, <root>/{train,test}_32x32.mat (train + extra_32x32.mat with `options.extra`);
    torchvision maps label 10 to digit 0."""
    splits = ("train", "extra") if train and options.extra else ("train",) if train else ("test",)
    files = {split: (root / tvd.SVHN.split_list[split][1], tvd.SVHN.split_list[split][2]) for split in splits}
    failure = ""
    for split, (path, _) in files.items():
        if not path.is_file() and options.download:
            failure = failure or _try_download(
                name, lambda split=split: tvd.SVHN(str(root), split=split, download=True)
            )
    missing = [str(path) for path, _ in files.values() if not path.is_file()]
    if missing:
        raise missing_error(name, [root], missing, failure)
    official = _verify(
        name, [(str(path), md5, calculate_md5(path)) for path, md5 in files.values()], options.accept_nonofficial
    )
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


OFFICIAL_READERS: dict[str, Callable[[str, Path, bool, ReadOptions], ImageTensors]] = {
    "mnist": _load_idx,
    "fashion_mnist": _load_idx,
    "cifar10": _load_cifar,
    "cifar100": _load_cifar,
    "svhn": _load_svhn,
}

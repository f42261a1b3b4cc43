"""Reading one split of a catalogued dataset: `load_split(name, root, train)`.

It checks the options against the dataset, hands them to the dataset's reader (official files:
`trainfix.data.readers`; image folders: `trainfix.data.image_folders`; tensor files:
`trainfix.data.tensor_files`), and refuses a result whose
shapes or labels do not fit the catalogue (`trainfix.data.catalogue.DATASETS`). The data root has
torchvision's layout below it (the readers' docstrings list the files of each dataset).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from trainfix.data.catalogue import DATASETS, DatasetSpec, ImageTensors, ReadOptions
from trainfix.data.errors import DatasetFormatError
from trainfix.data.image_folders import FOLDER_READERS
from trainfix.data.readers import OFFICIAL_READERS
from trainfix.data.tensor_files import TENSOR_READERS

log = logging.getLogger(__name__)

_READERS: dict[str, Callable[[str, Path, bool, ReadOptions], ImageTensors]] = {
    **OFFICIAL_READERS,
    **FOLDER_READERS,
    **TENSOR_READERS,
}
assert _READERS.keys() == DATASETS.keys()


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
    file: str | os.PathLike | None = None,
) -> ImageTensors:
    """Read the train or test split of dataset `name` from the files under the data root `root`.

    Args:
        name: a key of `DATASETS`.
        root: the data root, torchvision layout below it (see `trainfix.data.readers`, `.image_folders`).
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
        file: tensor_file only: the .pt file holding both splits (`trainfix.data.tensor_files`).

    Raises:
        DatasetMissingError: files missing; the message lists them, the directory searched and the fix.
        NonOfficialDataError: checksums differ from the official files and accept_nonofficial is off.
        DatasetFormatError: the files do not hold what the dataset needs.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r} is not known; accepted: {sorted(DATASETS)}")
    if folder is not None and name != "image_folder":
        raise ValueError(f"folder={str(folder)!r} is only used by dataset 'image_folder', not {name!r}")
    if file is not None and name != "tensor_file":
        raise ValueError(f"file={str(file)!r} is only used by dataset 'tensor_file', not {name!r}")
    if resize is not None:
        if name not in ("image_folder", "cifar10_jpeg"):
            raise ValueError(
                f"resize={resize!r} is only used by image folders (image_folder, cifar10_jpeg), not {name!r}"
            )
        if len(resize) != 2 or not all(isinstance(v, int) and v > 0 for v in resize):
            raise ValueError(f"resize={resize!r}: give (height, width) in pixels, two integers > 0")
        resize = (int(resize[0]), int(resize[1]))
    if extra and name != "svhn":
        raise ValueError(f"data.train_extra=true is only accepted for dataset 'svhn' (its extra split), not {name!r}")
    root = Path(root).expanduser()
    options = ReadOptions(accept_nonofficial, folder, cache_dir, download, resize, extra, file)
    start = time.perf_counter()
    split = _READERS[name](name, root, train, options)
    _check_against_spec(split, DATASETS[name], resize)
    log.info(
        "%s %s: %d images %s from %s (%s) in %.1f s",
        DATASETS[name].label,
        "train" if train else "test",
        len(split),
        tuple(split.images.shape[1:]),
        split.source,
        "official" if split.official else "NOT official",
        time.perf_counter() - start,
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
        problems.append(
            f"labels in [{int(split.labels.min())}, {int(split.labels.max())}], expected [0, {len(split.classes) - 1}]"
        )
    if problems:
        raise DatasetFormatError(f"{split.name} from {split.source}: " + "; ".join(problems))

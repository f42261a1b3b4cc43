"""Readers of image folders: your own images, and the lossy JPEG copy of CIFAR-10.

    image_folder   <folder>/{train,test}/<class>/<image>   (any size, all images one size; gray and colour
                   files mixed: every image converted to the mode most files have, see _load_folder)
    cifar10_jpeg   <root>/cifar10-jpeg/{train,test}/<class>/NNNN.jpg   (lossy JPEG copy)

Classes are the sub-folders of train/, in alphabetical order. Images are decoded with Pillow,
ImageFolder's own decoder (torchvision.io's decoders are deprecated since 0.29), once: the uint8
tensors are kept in `trainfix.data.folder_cache`. An image folder has no official checksums, so its
splits are never `official`. `FOLDER_READERS` maps both dataset names to their reader;
`trainfix.data.loading.load_split` calls them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets as tvd
from PIL import Image
from torchvision.datasets.folder import find_classes

from trainfix.data.catalogue import ImageTensors, ReadOptions
from trainfix.data.errors import DatasetFormatError, missing_error
from trainfix.data.folder_cache import cache_file, folder_key, read_cache, read_cached_modes, write_cache

log = logging.getLogger(__name__)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
_MODE_EXAMPLES = 5  # file names a log line gives of the images converted to the dataset's mode


def _load_cifar10_jpeg(name: str, root: Path, train: bool, options: ReadOptions) -> ImageTensors:
    """The lossy JPEG copy of CIFAR-10 at <root>/cifar10-jpeg; never official, whatever its checksums."""
    folder = root / "cifar10-jpeg"
    split = _load_folder(name, folder, root, train, options)
    if tuple(split.classes) != CIFAR10_CLASSES:
        raise DatasetFormatError(
            f"{folder}: class folders {split.classes} are not CIFAR-10's {list(CIFAR10_CLASSES)} (in that order)"
        )
    return split


def _load_image_folder(name: str, root: Path, train: bool, options: ReadOptions) -> ImageTensors:
    """Your own images: <folder>/{train,test}/<class>/<image>, classes in alphabetical order."""
    if options.folder is None:
        raise ValueError(
            "dataset 'image_folder' needs folder=<dir with train/ and test/ class folders> (config: data.folder=...)"
        )
    return _load_folder(name, Path(options.folder).expanduser(), root, train, options)


def _load_folder(name: str, folder: Path, root: Path, train: bool, options: ReadOptions) -> ImageTensors:
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
        raise missing_error(name, [folder], [layout], extra)
    try:
        classes = find_classes(str(folder / "train"))[0]
        dataset = tvd.ImageFolder(str(split_dir))
    except FileNotFoundError as error:
        raise missing_error(name, [split_dir], [layout], str(error)) from None
    if dataset.classes != classes:
        only_train = sorted(set(classes) - set(dataset.classes))
        only_test = sorted(set(dataset.classes) - set(classes))
        raise DatasetFormatError(
            f"{folder}: class folders differ between train/ and test/: only in train {only_train}, "
            f"only in test {only_test}"
        )
    files = [path for path, _ in dataset.samples]
    labels = torch.as_tensor([target for _, target in dataset.samples], dtype=torch.int64)
    key = folder_key(split_dir, files, options.resize)
    cache = cache_file(root, options.cache_dir, split_dir, key)
    source = f"{split_dir} ({len(files)} files)"
    official = False  # an image folder has no official checksums; cifar10_jpeg is a lossy copy
    cached = read_cache(cache, key)
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
        write_cache(cache, key, {"images": images, "labels": labels, "classes": classes, "mode": mode, "modes": modes})
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


def _split_modes(split_dir: Path, root: Path, options: ReadOptions) -> dict[str, dict] | None:
    """The file modes of the other split: from its cache when current, else from the file headers (no decoding)."""
    if not split_dir.is_dir():
        return None
    try:
        files = [path for path, _ in tvd.ImageFolder(str(split_dir)).samples]
    except FileNotFoundError:  # no class folders or no images: that split's own load says so
        return None
    key = folder_key(split_dir, files, options.resize)
    cached = read_cached_modes(cache_file(root, options.cache_dir, split_dir, key), key)
    if cached is not None:
        return cached
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
            split_dir,
            converted["count"],
            converted["count"] + modes[mode]["count"],
            source,
            mode,
            ", ".join(converted["examples"]),
            more,
        )


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
        listing = ", ".join(
            f"{h}x{w} ({count} files, e.g. {examples[(h, w)]})" for (h, w), count in sizes.most_common()
        )
        raise DatasetFormatError(
            f"{split_dir}: images have {len(sizes)} different sizes (height x width): {listing}; "
            "all must have one size (resize the files, or pass resize=(height, width) to load_split)"
        )
    return images


def _stack(images: Sequence[np.ndarray], mode: str) -> torch.Tensor:
    """One uint8 [N, C, H, W] of `images`, each converted to `mode` ("L": C = 1, "RGB": C = 3) with Pillow."""
    wanted_ndim = 2 if mode == "L" else 3
    images = [
        image if image.ndim == wanted_ndim else np.asarray(Image.fromarray(image).convert(mode)) for image in images
    ]
    if mode == "L":
        return torch.from_numpy(np.stack(images)).unsqueeze(1)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


FOLDER_READERS: dict[str, Callable[[str, Path, bool, ReadOptions], ImageTensors]] = {
    "image_folder": _load_image_folder,
    "cifar10_jpeg": _load_cifar10_jpeg,
}

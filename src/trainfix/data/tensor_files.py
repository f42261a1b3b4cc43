"""Reader of your own tensors: one `.pt` file holding both splits (`data=tensor_file data.file=<path>`).

    torch.save({"train": {"images": x_train, "labels": y_train},
                "test": {"images": x_test, "labels": y_test},
                "classes": ["cat", "dog"]}, "pets.pt")                # "classes" optional

Images: uint8 [N, C, H, W] (0-255), or floating point in [0, 1] (rounded to uint8), or [N, H, W] for
one channel; both splits one (C, H, W). Labels: integers [N] in [0, K), K = len(classes), else the
largest label + 1. A split may also be an (images, labels) pair. The file is read with
`torch.load(weights_only=True)`: tensors, lists, dicts and strings only, no pickled objects. Its
splits are never `official` (no published checksums).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from trainfix.data.catalogue import ImageTensors, ReadOptions
from trainfix.data.errors import DatasetFormatError, missing_error

SPLITS = ("train", "test")
LAYOUT = '{"train": {"images": uint8 [N, C, H, W], "labels": int64 [N]}, "test": {...}, "classes": [names] (optional)}'


def _read_file(path: Path) -> dict[str, Any]:
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # not a torch file, truncated, or pickled objects weights_only refuses
        raise DatasetFormatError(
            f"{path}: cannot read it as a tensor file ({type(error).__name__}: {str(error).splitlines()[0]}); "
            f"expected torch.save of {LAYOUT}"
        ) from None
    if not isinstance(content, dict) or not set(SPLITS) <= set(content):
        found = sorted(map(str, content)) if isinstance(content, dict) else type(content).__name__
        raise DatasetFormatError(f"{path}: holds {found}; expected a dict with 'train' and 'test': {LAYOUT}")
    return content


def _split_tensors(path: Path, split: str, entry: Any) -> tuple[torch.Tensor, torch.Tensor]:
    where = f"{path} [{split!r}]"
    if isinstance(entry, dict) and {"images", "labels"} <= set(entry):
        images, labels = entry["images"], entry["labels"]
    elif isinstance(entry, list | tuple) and len(entry) == 2:
        images, labels = entry
    else:
        raise DatasetFormatError(f"{where}: expected {{'images': ..., 'labels': ...}} or (images, labels)")
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise DatasetFormatError(f"{where}: images and labels must be tensors, not {type(images).__name__}")
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4:
        raise DatasetFormatError(f"{where}: images of shape {list(images.shape)}; expected [N, C, H, W] or [N, H, W]")
    if images.shape[-1] in (1, 3, 4) and images.shape[1] not in (1, 3, 4):
        raise DatasetFormatError(
            f"{where}: images of shape {list(images.shape)} look channels-last [N, H, W, C]; expected [N, C, H, W] "
            "(images.permute(0, 3, 1, 2))"
        )
    if images.is_floating_point():
        low, high = (float(images.min()), float(images.max())) if images.numel() else (0.0, 0.0)
        if low < 0 or high > 1:
            raise DatasetFormatError(
                f"{where}: float images with values in [{low:g}, {high:g}]; expected [0, 1] (or uint8 0-255)"
            )
        images = (images * 255).round().to(torch.uint8)
    elif images.dtype != torch.uint8:
        raise DatasetFormatError(f"{where}: images of dtype {images.dtype}; expected uint8 (0-255) or float in [0, 1]")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise DatasetFormatError(f"{where}: labels of dtype {labels.dtype}; expected integers (class indices)")
    if labels.shape != (images.shape[0],):
        raise DatasetFormatError(
            f"{where}: labels of shape {list(labels.shape)} for {images.shape[0]} images; expected [{images.shape[0]}]"
        )
    return images.contiguous(), labels.to(torch.int64).contiguous()


def _load_tensor_file(name: str, root: Path, train: bool, options: ReadOptions) -> ImageTensors:
    """One split of the file `options.file`; checks that both splits agree on (C, H, W)."""
    if options.file is None:
        raise ValueError(f"dataset 'tensor_file' needs file=<a .pt file holding {LAYOUT}> (config: data.file=...)")
    path = Path(options.file).expanduser()
    if not path.is_file():
        raise missing_error(name, [path.parent], [f"{path}: torch.save of {LAYOUT}"])
    content = _read_file(path)
    splits = {split: _split_tensors(path, split, content[split]) for split in SPLITS}
    shapes = {split: tuple(images.shape[1:]) for split, (images, _) in splits.items()}
    if shapes["train"] != shapes["test"]:
        raise DatasetFormatError(f"{path}: train images are {shapes['train']}, test images {shapes['test']} (C, H, W)")
    classes = content.get("classes")
    if classes is None:
        largest = max((int(labels.max()) for _, labels in splits.values() if len(labels)), default=0)
        classes = [str(k) for k in range(largest + 1)]
    elif not isinstance(classes, list | tuple) or not all(isinstance(c, str) for c in classes):
        raise DatasetFormatError(f"{path}: 'classes' must be a list of names, not {classes!r:.80}")
    images, labels = splits["train" if train else "test"]
    return ImageTensors(images, labels, list(classes), name, str(path), official=False)


TENSOR_READERS = {"tensor_file": _load_tensor_file}

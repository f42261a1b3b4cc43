"""The LightningDataModule: datasets resident on the training device, batches gathered by index.

Train batches follow the strategy's batch plan (`PlanBatchSampler`); evaluation sets (test, the
optional validation split, and optionally the training set in evaluation mode) are fixed
consecutive batches, sharded the same way so DDP metrics are exact (no padding duplicates).
After transfer to the device, `on_after_batch_transfer` gathers the uint8 images, scales them,
and augments training batches (random crop with padding, horizontal flip) batched on the device.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from trainfix.core.seeding import derived_seed
from trainfix.data.augment import random_crop, random_flip, to_float
from trainfix.data.catalogue import DATASETS, ImageTensors
from trainfix.data.loading import load_split
from trainfix.data.plan_sampler import IndexDataset, PlanBatchSampler, fixed_batches, identity_collate
from trainfix.data.planner import BatchPlanner
from trainfix.data.windows import TrainWindow, resolve_order, window_indices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Augment:
    """Training-time augmentation: zero-pad by `crop_padding` pixels then crop back; random h-flip."""

    crop_padding: int = 0
    flip: bool = False

    @property
    def enabled(self) -> bool:
        return self.crop_padding > 0 or self.flip


class ImageDataModule(pl.LightningDataModule):
    """A real image-classification dataset on the device, served by batch plans.

    Args:
        dataset: a name in `trainfix.data.catalogue.DATASETS`.
        root: data root (torchvision layout below it); None: $TRAINFIX_DATA_DIR, else `data` (as
            the config's `paths.data_dir`).
        batch_size: global training batch size (split over ranks under DDP).
        eval_batch_size: global batch size of evaluation passes.
        normalize: subtract the dataset's per-channel mean and divide by its std after scaling to
            [0, 1]; False keeps inputs in [0, 1] (the DeepEutaxy setting).
        augment: `Augment` fields (crop_padding, flip) as a mapping.
        val_fraction: fraction of the training set carved out (seeded) as a validation set; 0 = none.
        eval_train: also evaluate the whole training set in evaluation mode after every epoch.
        train_subset / test_subset: keep N samples drawn at random (seeded by `subset_seed`, the
            same for every run seed) and kept in dataset order; None = all. Random, not the first N:
            some copies are ordered by class (the JPEG CIFAR-10), and a prefix would hold one class.
        subset_seed: the seed of those draws (and of `train_window`'s permutation).
        train_window: `{start, size, order}`: keep only `size` consecutive training samples from
            `start` (after `train_subset`, before the validation split), in the published order or a
            seeded permutation (`trainfix.data.windows`; Apricot's reduced models). None/start null = all.
        accept_nonofficial: accept files whose checksums are not the official ones (with a warning).
        train_extra: svhn only: train on the train split followed by the extra split (LEAP's SVHN).
        folder: image-folder root for `dataset=image_folder`.
        file: the .pt file of `dataset=tensor_file` (`trainfix.data.tensor_files`).

    From Python (docs/own_model.md): `ImageDataModule("mnist", batch_size=100)`, then
    `attach(strategy, seed)` before `Trainer.fit`.
    """

    def __init__(
        self,
        dataset: str,
        root: str | os.PathLike | None = None,
        batch_size: int = 1000,
        eval_batch_size: int = 1000,
        normalize: bool = False,
        augment: dict[str, Any] | None = None,
        val_fraction: float = 0.0,
        eval_train: bool = False,
        train_subset: int | None = None,
        test_subset: int | None = None,
        subset_seed: int = 0,
        accept_nonofficial: bool = False,
        folder: str | None = None,
        train_window: dict[str, Any] | None = None,
        train_extra: bool = False,
        file: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        if dataset not in DATASETS:
            raise ValueError(f"data.dataset={dataset!r} is not a known dataset; accepted: {sorted(DATASETS)}")
        if train_extra and dataset != "svhn":
            raise ValueError(
                f"data.train_extra=true is only accepted for dataset 'svhn' (its extra split), not {dataset!r}"
            )
        # Constructor arguments kept as attributes (Lightning's convention; `duplicates` pairs this shape with
        # training/module.py's constructor: the same idiom over different arguments, nothing to share).
        self.spec = DATASETS[dataset]
        self.dataset = dataset
        self.root = Path(root if root is not None else os.environ.get("TRAINFIX_DATA_DIR", "data"))
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.normalize = normalize
        self.augment = Augment(**(augment or {}))
        self.val_fraction = val_fraction
        self.eval_train = eval_train
        # Set by training.callbacks.full_gradient.FullGradientNorm during fit: its pass over the training set
        # (eval mode, at the epoch's final weights) also yields train_eval_*, so no loader for it.
        self.train_eval_in_gradient_pass = False
        self.train_subset = train_subset
        self.test_subset = test_subset
        self.subset_seed = subset_seed
        # load_split's options for both splits (the readers use those that concern their dataset)
        self.read_options = {"accept_nonofficial": accept_nonofficial, "folder": folder, "file": file}
        self.train_extra = train_extra
        self.train_window = TrainWindow(**(train_window or {}))
        self.window_order = resolve_order(self.train_window.order, self.spec.official_order, dataset)
        self.strategy: BatchPlanner | None = None
        self.seed = 0
        self.splits: dict[str, ImageTensors] = {}
        self.on_device: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.augment_generator: torch.Generator | None = None
        self._augment_state: torch.Tensor | None = None

    # ------------------------------------------------------------------ loading
    def attach(self, strategy: BatchPlanner, seed: int) -> None:
        """Give the datamodule the strategy whose plans it serves (any `BatchPlanner`) and the run's seed."""
        self.strategy = strategy
        self.seed = seed

    def load(self) -> None:
        """Read the files (once) into CPU uint8 tensors, carve the validation split, bind the strategy."""
        if self.splits:
            return
        train = load_split(self.dataset, self.root, train=True, extra=self.train_extra, **self.read_options)
        test = load_split(self.dataset, self.root, train=False, **self.read_options)
        train = self._subset(train, self.train_subset, "train")
        test = self._subset(test, self.test_subset, "test")
        if self.train_window.enabled:
            window = self.train_window
            train = _take(
                train, window_indices(len(train.labels), window.start, window.size, self.window_order, self.subset_seed)
            )
            log.info("training window: %d samples from %d in %s order", window.size, window.start, self.window_order)
        if self.val_fraction > 0:
            generator = torch.Generator().manual_seed(derived_seed(self.seed, "val_split"))
            order = torch.randperm(len(train.labels), generator=generator)
            n_val = int(round(self.val_fraction * len(order)))
            val_idx, train_idx = order[:n_val].sort().values, order[n_val:].sort().values
            self.splits["val"] = _take(train, val_idx)
            train = _take(train, train_idx)
        self.splits["train"] = train
        self.splits["test"] = test
        self.normalization: tuple = (None, None)
        if self.normalize:
            # Published statistics where the spec has them; else (image folders) the training split's own.
            self.normalization = (
                (self.spec.mean, self.spec.std) if self.spec.mean is not None else train.channel_stats()
            )
        if self.strategy is not None:
            self.strategy.bind(len(train.labels), self.batch_size, self.seed)

    @property
    def num_classes(self) -> int:
        self.load()
        return len(self.splits["train"].classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        self.load()
        return tuple(self.splits["train"].images.shape[1:])

    @property
    def eval_names(self) -> tuple[str, ...]:
        names = ["test"]
        if self.val_fraction > 0:
            names.append("val")
        if self.eval_train:
            names.append("train_eval")
        return tuple(names)

    def describe(self) -> dict[str, Any]:
        """What was loaded, for run.json: label, source, official flag, sample counts."""
        self.load()
        train, test = self.splits["train"], self.splits["test"]
        return {
            "dataset": self.dataset,
            "label": self.spec.label,
            "source": train.source,
            "official": bool(train.official and test.official),
            "num_train": len(train.labels),
            "num_test": len(test.labels),
            "num_val": len(self.splits["val"].labels) if "val" in self.splits else 0,
            "num_classes": len(train.classes),
            "input_shape": list(train.images.shape[1:]),
            "train_window": (
                {"start": self.train_window.start, "size": self.train_window.size, "order": self.window_order}
                if self.train_window.enabled
                else None
            ),
        }

    def _subset(self, split: ImageTensors, count: int | None, name: str) -> ImageTensors:
        if count is None or count >= len(split.labels):
            return split
        generator = torch.Generator().manual_seed(derived_seed(self.subset_seed, f"subset/{name}"))
        return _take(split, torch.randperm(len(split.labels), generator=generator)[:count].sort().values)

    def __getstate__(self) -> dict[str, Any]:
        # Spawned DDP workers reload from disk instead of receiving the tensors through a pipe.
        state = self.__dict__.copy()
        state["splits"], state["on_device"] = {}, {}
        return state

    # ------------------------------------------------------------- Lightning hooks
    def setup(self, stage: str) -> None:
        self.load()
        device = self.trainer.strategy.root_device if self.trainer is not None else torch.device("cpu")
        for name, split in self.splits.items():
            self.on_device[name] = (split.images.to(device), split.labels.to(device))
        rank = self.trainer.global_rank if self.trainer is not None else 0
        self.augment_generator = torch.Generator(device=device).manual_seed(
            derived_seed(self.seed, f"augment/rank{rank}")
        )
        if self._augment_state is not None:
            self.augment_generator.set_state(self._augment_state)
            self._augment_state = None

    def _current_epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def _rank_and_world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def train_dataloader(self) -> DataLoader:
        assert self.strategy is not None, "attach(strategy, seed) before training"
        rank, world = self._rank_and_world()
        sampler = PlanBatchSampler(
            self.strategy.plan_epoch, self.strategy.num_batches, self._current_epoch, rank, world
        )
        return self._loader("train", sampler)

    def val_dataloader(self) -> list[DataLoader]:
        rank, world = self._rank_and_world()
        loaders = []
        for name in self.eval_names:
            if name == "train_eval" and self.train_eval_in_gradient_pass:
                continue  # always the last name, so the loaders before it keep their dataloader_idx
            split = self.splits["train" if name == "train_eval" else name]
            batches = fixed_batches(len(split.labels), self.eval_batch_size)
            sampler = PlanBatchSampler(
                lambda epoch, b=batches: b, lambda b=batches: len(b), self._current_epoch, rank, world
            )
            loaders.append(self._loader(name, sampler))
        return loaders

    def _loader(self, name: str, sampler: PlanBatchSampler) -> DataLoader:
        """A loader of `name`'s indices with its own random generator.

        Each DataLoader iterator draws one number (its worker base seed) when it starts, from the
        loader's generator or, without one, from the global torch RNG, which also drives dropout.
        With a private generator the global stream, and so the dropout masks of a seeded run, do
        not depend on how many evaluation sets a run has (`data.eval_train`, `data.val_fraction`)
        or on how often it validates."""
        size = len(self.splits["train" if name == "train_eval" else name].labels)
        generator = torch.Generator().manual_seed(derived_seed(self.seed, f"loader/{name}"))
        return DataLoader(IndexDataset(size), batch_sampler=sampler, collate_fn=identity_collate, generator=generator)

    def gather(self, split: str, indices: torch.Tensor, augment: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (scaled, normalized, optionally augmented) and labels of `indices` in `split`, on the device."""
        images, labels = self.on_device[split]
        indices = indices.to(images.device)
        x = to_float(images[indices], *self.normalization)
        if augment and self.augment.enabled:
            if self.augment.crop_padding:
                x = random_crop(x, self.augment.crop_padding, self.augment_generator)
            if self.augment.flip:
                x = random_flip(x, self.augment_generator)
        return x, labels[indices]

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        training = self.trainer is not None and self.trainer.training
        if training:
            split = "train"
        else:
            name = self.eval_names[dataloader_idx]
            split = "train" if name == "train_eval" else name
        x, y = self.gather(split, batch["indices"], augment=training)
        return {**batch, "x": x, "y": y}

    # --------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"augment_generator": self.augment_generator.get_state() if self.augment_generator is not None else None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        saved = state_dict.get("augment_generator")
        if saved is None:
            return
        if self.augment_generator is not None:
            self.augment_generator.set_state(saved)
        else:
            self._augment_state = saved


def _take(split: ImageTensors, index: torch.Tensor) -> ImageTensors:
    return ImageTensors(
        images=split.images[index].contiguous(),
        labels=split.labels[index].contiguous(),
        classes=split.classes,
        name=split.name,
        source=split.source,
        official=split.official,
    )

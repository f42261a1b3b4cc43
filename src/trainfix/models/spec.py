"""What `build_model` needs to rebuild a run's network: saved in every checkpoint and export."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from trainfix.models.registry import build_model


@dataclass(frozen=True)
class NetSpec:
    """What `build_model` needs to rebuild a run's network (saved in checkpoints and exports)."""

    name: str
    num_classes: int
    in_channels: int
    image_size: int
    params: dict[str, Any]
    init: str = "default"  # model.init (checkpoints saved before it existed: the model's own)
    input_noise_std: float = 0.0  # model.input_noise_std
    target: str | None = None  # model=custom: the factory's import path (model.target)

    def build(self) -> nn.Module:
        return build_model(
            self.name,
            num_classes=self.num_classes,
            in_channels=self.in_channels,
            image_size=self.image_size,
            init=self.init,
            input_noise_std=self.input_noise_std,
            target=self.target,
            **self.params,
        )

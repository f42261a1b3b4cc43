"""Parameter counts of every registered model, as a Markdown table.

    python -m trainfix.models.summary [--num-classes 10]

Each model is built for the input its source uses (`ModelSpec.designed_for`). Two counts:
trainable parameters (PyTorch's `parameters()`), and the total Keras' `model.summary()` reports,
which adds BatchNorm's moving mean and variance as non-trainable parameters (the papers built in
Keras quote that total).
"""

from __future__ import annotations

import argparse

from torch import nn

from trainfix.models.registry import MODELS, build_model, model_names


def trainable_parameters(net: nn.Module) -> int:
    """Number of trainable parameters (weights, biases, BatchNorm gamma/beta)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def keras_parameter_count(net: nn.Module) -> int:
    """Total parameters as Keras counts them: all parameters plus BatchNorm moving mean and variance."""
    moving = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in net.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None
    )
    return sum(p.numel() for p in net.parameters()) + moving


def summary_table(num_classes: int = 10) -> str:
    """Markdown table: model, designed input (C x H x W), smallest accepted image side, trainable
    parameters, Keras total, source."""
    rows = [
        "| model | input | min side | trainable params | Keras total (+ BN moving stats) | source |",
        "|---|---|--:|--:|--:|---|",
    ]
    for name in model_names():
        spec = MODELS[name]
        channels, size, _ = spec.designed_for
        net = build_model(name, num_classes=num_classes, in_channels=channels, image_size=size)
        shape = "x".join(map(str, spec.designed_for))
        counts = f"{trainable_parameters(net):,} | {keras_parameter_count(net):,}"
        rows.append(f"| {name} | {shape} | {spec.min_size} | {counts} | {spec.source} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-classes", type=int, default=10, help="number of classes (default 10)")
    print(summary_table(parser.parse_args().num_classes))


if __name__ == "__main__":
    main()

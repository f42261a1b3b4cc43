"""Networks by name: `build_model(name, num_classes, in_channels, image_size, **options)`.

One module per family; every network is a plain `nn.Module` returning logits. `MODELS` is the
explicit registry; `python -m trainfix.models.summary` prints every model's parameter count.
"""

from trainfix.models.registry import MODELS, ModelSpec, build_model, model_names

__all__ = ["MODELS", "ModelSpec", "build_model", "model_names"]

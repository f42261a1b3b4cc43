"""Your own network: any importable factory that returns an `nn.Module` (config: `model=custom model.target=...`).

    python -m trainfix.train model=custom model.target=mypackage.nets.small_cnn +model.params.width=64

or a config file of your own in Hydra's instantiate style (`conf/model/small_cnn.yaml`, or one in a
folder given with `--config-dir`): `name: custom`, `_target_: mypackage.nets.small_cnn`, `width: 64`.

`target` names a function or class as `package.module.name` (a nested attribute such as
`package.module.Class.build` works too). It is called with the core arguments its signature names
(`num_classes`, `in_channels`, `image_size`: taken from the data; a factory with `**kwargs` gets
`num_classes`), plus `model.params`. What it returns must be an `nn.Module` whose forward maps
images [N, C, H, W] (floats, pixels scaled to [0, 1], normalized when `data.normalize=true`) to
logits [N, num_classes]; `build_custom` checks that with one forward pass on two zero images, so a
network that does not fit the data fails before training, with its message.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where a network is built: checking a config needs none (trainfix.cli)
    from torch import nn

CUSTOM = "custom"  # the model name (conf/model/custom.yaml)
CORE_ARGUMENTS = ("num_classes", "in_channels", "image_size")
EXAMPLE = "model.target=torchvision.models.resnet18 or model.target=mypackage.nets.MyNet"
# Keys of a model config that are trainfix's own, not the network's arguments.
MODEL_KEYS = ("name", "target", "_target_", "params", "l2_conv_kernels", "channels_last", "init", "input_noise_std")


def config_network(model: Mapping[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(target, arguments) of a resolved model config: `target` (or Hydra's `_target_`), and `params`
    plus, beside a `_target_`, every key that is not trainfix's own (`MODEL_KEYS`), as Hydra's
    `instantiate` would pass them. (None, params) for a registered model."""
    params = dict(model.get("params") or {})
    if model.get("_target_") is None:
        return model.get("target"), params
    if model.get("target") is not None:
        raise ValueError(f"model.target={model['target']!r} and model._target_={model['_target_']!r}: give one of them")
    own = {k: v for k, v in model.items() if k not in MODEL_KEYS and not (k.startswith("_") and k.endswith("_"))}
    return model["_target_"], {**own, **params}  # Hydra's own keys (_recursive_, _convert_, ...) are not arguments


def import_target(target: object) -> Callable[..., Any]:
    """The callable `target` names ('package.module.name'); a `ValueError` says what could not be found."""
    if not isinstance(target, str) or not all(part.isidentifier() for part in target.split(".")) or "." not in target:
        raise ValueError(
            f"model.target={target!r}: give an importable function or class as 'package.module.name', e.g. {EXAMPLE}"
        )
    parts = target.split(".")
    module, error = None, None
    for split in range(len(parts) - 1, 0, -1):  # the longest importable module prefix
        name = ".".join(parts[:split])
        try:
            module = importlib.import_module(name)
            break
        except ModuleNotFoundError as missing:
            if missing.name is None or not (name == missing.name or name.startswith(missing.name + ".")):
                # a module that the target's module imports is missing
                raise ValueError(f"model.target={target!r}: importing {name} failed: {missing}") from missing
            error = missing
        except Exception as failure:  # the user's module raised while importing
            raise ValueError(
                f"model.target={target!r}: importing {name} failed: {type(failure).__name__}: {failure}"
            ) from failure  # the user's traceback stays attached (HYDRA_FULL_ERROR=1 shows it)
    if module is None:
        raise ValueError(
            f"model.target={target!r}: no module {parts[0]!r} on the Python path ({error}); install the package "
            f"or add its folder to PYTHONPATH"
        )
    found: Any = module
    for depth, attribute in enumerate(parts[split:], start=split):
        if not hasattr(found, attribute):
            where = ".".join(parts[:depth])
            public = sorted(n for n in dir(found) if not n.startswith("_") and callable(getattr(found, n, None)))
            close = difflib.get_close_matches(attribute, public, n=3)
            hint = f"did you mean {' or '.join(map(repr, close))}?" if close else f"its callables: {public[:12]}"
            raise ValueError(f"model.target={target!r}: {where} has no attribute {attribute!r}; {hint}")
        found = getattr(found, attribute)
    if not callable(found):
        raise ValueError(f"model.target={target!r} is a {type(found).__name__}, not a function or class")
    return found


def _arguments(factory: Callable[..., Any], target: str, core: dict[str, int], params: dict[str, Any]) -> dict:
    """The keyword arguments of the call: the core ones the factory names, then `params`."""
    taken = sorted(set(params) & set(core))
    if taken:
        raise ValueError(f"model.params.{taken[0]}: set from the data ({core[taken[0]]}); remove it from model.params")
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to read (some builtins): pass params alone
        return dict(params)
    parameters = signature.parameters
    any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    named = {n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(params) - named)
    if unknown and not any_keyword:
        accepted = sorted(named - set(core)) or "none"
        raise ValueError(f"model.target={target} takes no parameter {', '.join(unknown)}; its parameters: {accepted}")
    passed = {k: v for k, v in core.items() if k in named}
    if any_keyword and "num_classes" not in named:
        passed["num_classes"] = core["num_classes"]
    return {**passed, **params}


def build_custom(
    target: object, num_classes: int, in_channels: int, image_size: int, params: dict[str, Any] | None = None
) -> nn.Module:
    """Call the factory `target` names and check that its network maps the data's images to `num_classes` logits."""
    import torch
    from torch import nn

    factory = import_target(target)
    core = {"num_classes": num_classes, "in_channels": in_channels, "image_size": image_size}
    kwargs = _arguments(factory, str(target), core, dict(params or {}))
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    try:
        net = factory(**kwargs)
    except Exception as error:
        raise ValueError(f"model.target={target}({shown}) raised {type(error).__name__}: {error}") from error
    if not isinstance(net, nn.Module):
        raise ValueError(
            f"model.target={target}({shown}) returned a {type(net).__name__}, not a torch.nn.Module; "
            "give a function or class that builds the network"
        )
    shape = [2, in_channels, image_size, image_size]
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            logits = net(torch.zeros(shape))
    except Exception as error:
        raise ValueError(
            f"model.target={target}: the network fails on images {shape} (N, C, H, W of the data): "
            f"{type(error).__name__}: {error}"
        ) from error
    finally:
        net.train(was_training)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (2, num_classes):
        got = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"model.target={target}: the network maps images {shape} to {got}; expected logits [2, {num_classes}] "
            f"({num_classes} classes in the data)"
        )
    return net

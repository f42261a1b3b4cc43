"""Export a trained run's network: a state_dict file that rebuilds it, and an ONNX graph.

    export/model.pt    {"format", "net": NetSpec fields, "state_dict", "input": preprocessing, "classes", "source"}
    export/model.onnx  input "images" float32 [N, C, H, W] (batch size free), output "logits" [N, classes]

Both networks take what the DataModule feeds the network: pixels scaled to [0, 1], then, when the
run normalized its data, `(x - mean) / std` per channel (model.pt's "input" says which).
`load_exported("export/model.pt")` rebuilds the network without trainfix's configs or data.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainfix.core.records import atomic_write_bytes
from trainfix.models.spec import NetSpec
from trainfix.training.checkpoint import LoadedRun

log = logging.getLogger(__name__)

EXPORT_FORMAT = "trainfix.export/1"
EXPORT_CHOICES = ("state_dict", "onnx", "both")
STATE_DICT_FILE = "model.pt"
ONNX_FILE = "model.onnx"


class ExportError(RuntimeError):
    """A network that cannot be exported in the asked format; the message names it and why."""


def export_run(run: LoadedRun, what: str, out_dir: Path) -> list[Path]:
    """Write the exports `what` ("state_dict", "onnx" or "both") of `run` into `out_dir`; returns their paths."""
    if what not in EXPORT_CHOICES:
        raise ValueError(f"export={what!r}; accepted: {', '.join(EXPORT_CHOICES)}")
    written = []
    if what in ("state_dict", "both"):
        written.append(export_state_dict(run, Path(out_dir) / STATE_DICT_FILE))
    if what in ("onnx", "both"):
        written.append(export_onnx(run, Path(out_dir) / ONNX_FILE))
    return written


def _cpu_net(run: LoadedRun) -> nn.Module:
    # A copy: the run's network may be on a GPU or in channels_last; exports are plain CPU float32.
    return copy.deepcopy(run.net).cpu().float().to(memory_format=torch.contiguous_format).eval()


def input_description(run: LoadedRun) -> dict[str, Any]:
    """How images become the network's input: scale, normalization, shape."""
    mean, std = run.datamodule.normalization
    return {
        "shape": list(run.datamodule.input_shape),
        "scale": "pixels / 255",
        "mean": list(mean) if mean is not None else None,
        "std": list(std) if std is not None else None,
    }


def export_state_dict(run: LoadedRun, path: Path) -> Path:
    """`path` (atomic): the network's weights plus what rebuilds it (`load_exported`)."""
    payload = {
        "format": EXPORT_FORMAT,
        "net": asdict(run.net_spec),
        "state_dict": _cpu_net(run).state_dict(),
        "input": input_description(run),
        "classes": list(run.datamodule.splits["train"].classes),
        "source": {
            "run_dir": str(run.run_dir.resolve()),
            "checkpoint": str(run.checkpoint.resolve()),
            "epoch": run.checkpoint_epoch,
        },
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    log.info("Exported the network's state_dict to %s", path)
    return path


def load_exported(path: str | Path, map_location: Any = "cpu") -> nn.Module:
    """The network of an `export/model.pt`, weights loaded, eval mode."""
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != EXPORT_FORMAT:
        raise ValueError(f"{path}: not a trainfix export (format {EXPORT_FORMAT!r} expected)")
    net = NetSpec(**payload["net"]).build()
    net.load_state_dict(payload["state_dict"])
    return net.to(map_location).eval()


def example_batch(run: LoadedRun, size: int = 8) -> torch.Tensor:
    """The first `size` test images as the network sees them (CPU float32): a real export example."""
    count = min(size, len(run.datamodule.splits["test"].labels))
    x, _ = run.datamodule.gather("test", torch.arange(count))
    return x.cpu().float().contiguous()


def export_onnx(run: LoadedRun, path: Path) -> Path:
    """`path` (atomic): the run's network as ONNX, traced on its first test images."""
    return export_network_onnx(_cpu_net(run), example_batch(run), path, run.net_spec.name)


def export_network_onnx(net: nn.Module, example: torch.Tensor, path: Path, name: str) -> Path:
    """`path` (atomic): `net` (CPU, eval mode) as ONNX via torch.onnx.export (dynamo exporter), traced on
    `example` [N, C, H, W]; the batch size is left free. `name` names the model in errors."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    quiet = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir", "torch.onnx")]
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:  # the exporter's optimizer passes log every step at INFO
            logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
        try:
            torch.onnx.export(
                net,
                (example,),
                tmp,
                input_names=["images"],
                output_names=["logits"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                dynamo=True,
                external_data=False,
                verbose=False,
            )
        except ImportError as error:
            raise ExportError(
                f"export=onnx needs the packages onnx and onnxscript ({error}); pip install onnx onnxscript"
            ) from None
        except Exception as error:  # the exporter raises many types; the user needs the model name and the reason
            raise ExportError(
                f"model {name!r} cannot be exported to ONNX by torch {torch.__version__}: {type(error).__name__}: "
                f"{str(error).strip().splitlines()[0] if str(error).strip() else ''}; export=state_dict still works"
            ) from None
        os.replace(tmp, path)
    finally:
        for logger, level in zip(quiet, levels):
            logger.setLevel(level)
        Path(tmp).unlink(missing_ok=True)
    log.info("Exported the network to ONNX: %s", path)
    return path

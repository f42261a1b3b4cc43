"""Your own network (`model=custom`), your own tensors (`data=tensor_file`), and where the configs are found:
each bad input fails with a message naming it (docs/own_model.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from tests.conftest import compose_train
from trainfix.data.errors import DatasetFormatError, DatasetMissingError
from trainfix.data.loading import load_split
from trainfix.models import build_model
from trainfix.models.custom import build_custom, config_network, import_target
from trainfix.models.spec import NetSpec
from trainfix.training.compose import find_conf_dir
from trainfix.training.config_rules import ConfigError, check_config

HERE = "tests.unit.test_custom_model"


def small_cnn(num_classes: int, in_channels: int, width: int = 8) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, num_classes),
    )


def any_keywords(**kwargs) -> nn.Module:  # as torchvision's model functions: num_classes through **kwargs
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(kwargs["num_classes"]))


def five_logits(num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(5))


def not_a_module(num_classes: int) -> str:
    return "a network"


def test_a_factory_gets_the_core_arguments_it_names_and_its_params():
    net = build_model("custom", num_classes=7, in_channels=3, image_size=12, target=f"{HERE}.small_cnn", width=4)
    assert net[0].in_channels == 3 and net[0].out_channels == 4 and net[-1].out_features == 7
    assert net.training  # the shape check's eval-mode pass leaves the mode as it was
    assert net(torch.rand(5, 3, 12, 12)).shape == (5, 7)
    # **kwargs: num_classes only (in_channels would reach a torchvision constructor that has no such argument)
    net = build_custom(f"{HERE}.any_keywords", num_classes=3, in_channels=1, image_size=4)
    assert net(torch.rand(2, 1, 4, 4)).shape == (2, 3)  # LazyLinear materialized by the check's forward
    # model.init: every kernel but the head's drawn again, biases zero (as for the registered models)
    net = build_model("custom", 4, 1, 6, target=f"{HERE}.small_cnn", init="he_normal")
    assert not net[0].bias.any() and net[-1].bias.abs().sum() > 0


@pytest.mark.parametrize(
    "target,params,message",
    [
        (None, {}, r"model.target=None: give an importable function or class as 'package.module.name'"),
        ("small_cnn", {}, r"give an importable function or class as 'package.module.name'"),
        ("no_such_pkg_xyz.nets.f", {}, r"no module 'no_such_pkg_xyz' on the Python path.*PYTHONPATH"),
        (
            f"{HERE}.smal_cnn",
            {},
            r"tests.unit.test_custom_model has no attribute 'smal_cnn'; did you mean 'small_cnn'\?",
        ),
        (f"{HERE}.HERE", {}, r"is a str, not a function or class"),
        (f"{HERE}.small_cnn", {"depth": 3}, r"small_cnn takes no parameter depth; its parameters: \['width'\]"),
        (f"{HERE}.small_cnn", {"width": "wide"}, r"small_cnn\(num_classes=10, in_channels=1, width='wide'\) raised"),
        (f"{HERE}.not_a_module", {}, r"returned a str, not a torch.nn.Module"),
        (f"{HERE}.five_logits", {}, r"maps images \[2, 1, 28, 28\] to \[2, 5\]; expected logits \[2, 10\]"),
        ("torch.nn.Flatten", {}, r"maps images \[2, 1, 28, 28\] to \[2, 784\]"),
        ("torch.nn.Linear", {"in_features": 5, "out_features": 10}, r"the network fails on images \[2, 1, 28, 28\]"),
    ],
)
def test_a_bad_custom_network_is_named_with_what_is_accepted(target, params, message):
    with pytest.raises(ValueError, match=message):
        build_model("custom", num_classes=10, in_channels=1, image_size=28, target=target, **params)


def test_target_goes_with_custom_only_and_unknown_names_list_custom():
    with pytest.raises(
        ValueError,
        match=r"model.target='tests.unit.test_custom_model.small_cnn' is only used by model=custom, not by model 'len",
    ):
        build_model("lenet5", 10, 1, 28, target=f"{HERE}.small_cnn")
    with pytest.raises(ValueError, match=r"unknown model 'mynet'; accepted: .*lenet5.*custom"):
        build_model("mynet", 10, 1, 28)
    with pytest.raises(ValueError, match="not available for model=custom"):
        build_model("custom", 10, 1, 28, target=f"{HERE}.small_cnn", input_noise_std=0.1)
    assert import_target("torch.nn.functional.relu") is torch.nn.functional.relu  # a module path inside a package
    with pytest.raises(ValueError, match=r"model.params.num_classes: set from the data \(10\); remove it"):
        build_custom(f"{HERE}.small_cnn", 10, 1, 28, {"num_classes": 3})
    with pytest.raises(ValueError, match=r"model.params.in_channels: set from the data \(1\)"):
        build_custom("torch.nn.Conv2d", 10, 1, 28, {"in_channels": 3})


def test_hydra_style_target_and_the_net_spec_rebuild_the_same_network():
    target, params = config_network({"name": "custom", "_target_": f"{HERE}.small_cnn", "width": 6, "params": {}})
    assert (target, params) == (f"{HERE}.small_cnn", {"width": 6})
    assert config_network({"name": "lenet5", "params": {"a": 1}, "l2_conv_kernels": 0.0}) == (None, {"a": 1})
    with pytest.raises(ValueError, match="give one of them"):
        config_network({"target": "a.b", "_target_": "a.c"})
    spec = NetSpec("custom", 10, 1, 28, params, target=target)
    torch.manual_seed(1)
    first = spec.build()
    torch.manual_seed(1)
    again = spec.build()
    x = torch.rand(3, 1, 28, 28)
    assert torch.equal(first(x), again(x)) and first[0].out_channels == 6


def test_a_run_and_its_run_folder_describe_the_same_network(tmp_path):
    # What a checkpoint stores (rebuild_info) and what an old checkpoint's run.json rebuilds (rebuild_from_run_folder)
    # come from one function: the same NetSpec, here for a network of your own with its arguments beside _target_.
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from trainfix.core.records import write_run
    from trainfix.training.rebuild import rebuild_from_run_folder, rebuild_info

    own = ["model=custom", "model.target=null", f"+model._target_={HERE}.small_cnn", "+model.width=6"]
    cfg = compose_train(own, tmp_path)
    config = OmegaConf.to_container(cfg, resolve=True)
    data = SimpleNamespace(input_shape=(1, 28, 28), num_classes=10, eval_names=("test",))
    stored = rebuild_info(cfg, data, config)
    assert stored["net"] == {
        "name": "custom",
        "num_classes": 10,
        "in_channels": 1,
        "image_size": 28,
        "params": {"width": 6},
        "init": "default",
        "input_noise_std": 0.0,
        "target": f"{HERE}.small_cnn",
    }
    write_run(
        tmp_path, {"status": "finished", "config": config, "data": {"input_shape": [1, 28, 28], "num_classes": 10}}
    )
    assert rebuild_from_run_folder(tmp_path / "checkpoints" / "last.ckpt") == stored


def test_config_rules_name_a_missing_or_unimportable_target(tmp_path):
    with pytest.raises(ConfigError, match=r"model=custom needs model.target=<package.module.factory>"):
        check_config(compose_train(["model=custom"], tmp_path))
    with pytest.raises(ConfigError, match=r"model.target='tests.unit.test_custom_model.nope'.*has no attribute"):
        check_config(compose_train(["model=custom", f"model.target={HERE}.nope"], tmp_path))
    with pytest.raises(ConfigError, match=r"model._target_='a.b' goes with model.name=custom, not 'lenet5'"):
        check_config(compose_train(["+model._target_=a.b"], tmp_path))
    with pytest.raises(ConfigError, match=r"model.params.num_classes: set from the data for every model; remove it"):
        check_config(compose_train(["model=mlp", "+model.params.num_classes=3"], tmp_path))
    with pytest.raises(ConfigError, match=r"data=tensor_file needs data.file="):
        check_config(compose_train(["data=tensor_file", "data.file=''"], tmp_path))
    cfg = compose_train(["model=custom", f"model.target={HERE}.small_cnn", "+model.params.width=4"], tmp_path)
    check_config(cfg)
    assert cfg.model.params.width == 4


# ------------------------------------------------------------------------------------ tensor files
def save(path: Path, **content) -> Path:
    torch.save(content, path)
    return path


def test_a_tensor_file_loads_both_splits(tmp_path):
    train_images = torch.randint(0, 256, (6, 3, 5, 5), dtype=torch.uint8)
    test_images = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    path = save(
        tmp_path / "data.pt",
        train={"images": train_images, "labels": torch.tensor([0, 1, 2, 0, 1, 2])},
        test=(test_images, torch.tensor([2, 0], dtype=torch.int32)),
    )
    train = load_split("tensor_file", tmp_path, train=True, file=path)
    assert torch.equal(train.images, train_images) and train.classes == ["0", "1", "2"] and not train.official
    assert train.source == str(path) and train.name == "tensor_file"
    test = load_split("tensor_file", tmp_path, train=False, file=path)
    assert torch.equal(test.images, test_images) and test.labels.tolist() == [2, 0] and test.labels.dtype == torch.int64
    path = save(
        tmp_path / "gray.pt",
        train=(torch.zeros(4, 2, 2), torch.tensor([0, 1, 0, 1])),
        test=(torch.tensor([[[0.0, 1.0], [0.5, 0.2]]]), torch.tensor([1])),
        classes=["cat", "dog"],
    )
    test = load_split("tensor_file", tmp_path, train=False, file=path)
    assert test.images.dtype == torch.uint8 and test.images.tolist() == [[[[0, 255], [128, 51]]]]  # [N, H, W] -> C=1
    assert test.classes == ["cat", "dog"]
    path = save(
        tmp_path / "mixed.pt",
        train=(train_images, torch.zeros(6, dtype=torch.long)),
        test=(torch.zeros(1, 2, 2), torch.tensor([0])),
    )
    with pytest.raises(DatasetFormatError, match=r"train images are \(3, 5, 5\), test images \(1, 2, 2\)"):
        load_split("tensor_file", tmp_path, train=True, file=path)


@pytest.mark.parametrize(
    "content,message",
    [
        ({"train": 1}, r"holds \['train'\]; expected a dict with 'train' and 'test'"),
        (
            {"train": {"x": 1}, "test": {}},
            r"\['train'\]: expected \{'images': ..., 'labels': ...\} or \(images, labels\)",
        ),
        ({"train": ([1], [0])}, r"holds \['train'\]"),
        (
            {"train": (torch.zeros(2, 1, 2, 2, dtype=torch.int32), torch.zeros(2)), "test": None},
            r"\['train'\]: images of dtype torch.int32; expected uint8 \(0-255\) or float in \[0, 1\]",
        ),
        (
            {"train": (torch.full((2, 2, 2), 255.0), torch.zeros(2)), "test": None},
            r"float images with values in \[255, 255\]; expected \[0, 1\]",
        ),
        (
            {"train": (torch.zeros(2, 2, 2), torch.zeros(2)), "test": None},
            r"labels of dtype torch.float32; expected integers",
        ),
        (
            {"train": (torch.zeros(2, 2, 2), torch.zeros(3, dtype=torch.long)), "test": None},
            r"labels of shape \[3\] for 2 images; expected \[2\]",
        ),
        ({"train": (torch.zeros(2, 2), torch.zeros(2, dtype=torch.long)), "test": None}, r"images of shape \[2, 2\]"),
        (
            {"train": (torch.zeros(2, 8, 8, 3), torch.zeros(2, dtype=torch.long)), "test": None},
            r"images of shape \[2, 8, 8, 3\] look channels-last \[N, H, W, C\]; expected \[N, C, H, W\]",
        ),
    ],
)
def test_a_bad_tensor_file_is_named_with_what_is_accepted(tmp_path, content, message):
    path = save(tmp_path / "bad.pt", **content)
    with pytest.raises(DatasetFormatError, match=message):
        load_split("tensor_file", tmp_path, train=True, file=path)


def test_a_missing_or_foreign_tensor_file_and_misplaced_options(tmp_path):
    with pytest.raises(DatasetMissingError, match=r"nowhere.pt: torch.save of \{\"train\""):
        load_split("tensor_file", tmp_path, train=True, file=tmp_path / "nowhere.pt")
    (tmp_path / "text.pt").write_text("not a tensor file")
    with pytest.raises(DatasetFormatError, match=r"text.pt: cannot read it as a tensor file"):
        load_split("tensor_file", tmp_path, train=True, file=tmp_path / "text.pt")
    with pytest.raises(ValueError, match=r"dataset 'tensor_file' needs file="):
        load_split("tensor_file", tmp_path, train=True)
    with pytest.raises(ValueError, match=r"only used by dataset 'tensor_file', not 'mnist'"):
        load_split("mnist", tmp_path, train=True, file=tmp_path / "text.pt")
    split = (torch.zeros(2, 2, 2), torch.tensor([0, 3]))
    path = save(tmp_path / "labels.pt", train=split, test=split, classes=["a", "b"])
    with pytest.raises(DatasetFormatError, match=r"labels in \[0, 3\], expected \[0, 1\]"):
        load_split("tensor_file", tmp_path, train=True, file=path)


# ------------------------------------------------------------------------------------ conf/ location
def test_the_installed_copy_of_conf_wins_then_the_checkout_then_a_clear_error(tmp_path):
    package = tmp_path / "site-packages" / "trainfix"
    (package / "conf").mkdir(parents=True)
    checkout_conf = tmp_path / "conf"
    checkout_conf.mkdir()
    (checkout_conf / "train.yaml").write_text("{}")
    assert find_conf_dir(package) == checkout_conf  # package.parents[1] / conf: a source tree's src/trainfix
    (package / "conf" / "train.yaml").write_text("{}")
    assert find_conf_dir(package) == package / "conf"
    with pytest.raises(FileNotFoundError, match=r"configuration tree is missing: neither .* holds train.yaml"):
        find_conf_dir(tmp_path / "elsewhere" / "lib" / "trainfix")

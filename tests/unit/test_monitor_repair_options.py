"""The config options behind AutoTrainer's repairs (ReduceLR, GN, initial, bn), each against an independent
computation, and the repair list that uses them (no training: crafted sequences, seeded draws)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from trainfix.models import build_model
from trainfix.models.keras_layers import GaussianNoise, keras_init_
from trainfix.monitor.repair import INITIALIZERS, attempts_for, repair, replaced
from trainfix.train import _load_network_weights
from trainfix.training.compose import compose_config


# ------------------------------------------------------------------------------------ GN
def test_gaussian_noise_is_identity_in_eval_and_has_the_std_in_training():
    torch.manual_seed(0)
    x = torch.rand(400, 500)
    layer = GaussianNoise(0.1)
    assert torch.equal(layer.eval()(x), x)
    noise = layer.train()(x) - x
    # 200,000 draws: the std estimate's standard error is 0.1 / sqrt(2 x 200,000) = 1.6e-4
    assert noise.std().item() == pytest.approx(0.1, abs=1e-3) and abs(noise.mean().item()) < 1e-3
    with pytest.raises(ValueError, match="input_noise_std=-0.1"):
        GaussianNoise(-0.1)


def test_input_noise_option_on_any_model_keeps_the_weights_layout():
    torch.manual_seed(1)
    plain = build_model("lenet5", 10, 1, 28)
    noisy = build_model("lenet5", 10, 1, 28, input_noise_std=0.1)
    assert list(plain.state_dict()) == list(noisy.state_dict())
    noisy.load_state_dict(plain.state_dict())
    x = torch.rand(8, 1, 28, 28)
    assert torch.equal(plain.eval()(x), noisy.eval()(x))  # eval: no noise
    torch.manual_seed(2)
    noisy_out = noisy.train()(x)
    torch.manual_seed(2)
    by_hand = plain.train()(x + 0.1 * torch.randn_like(x))  # the same draw, added by hand
    assert torch.allclose(noisy_out, by_hand, atol=1e-6) and not torch.allclose(noisy_out, plain(x), atol=1e-3)
    with pytest.raises(ValueError, match="model.input_noise_std"):
        build_model("mlp", 10, 1, 28, input_noise_std="a")


# ------------------------------------------------------------------------------- initial
def _truncated_std() -> float:
    """Std of N(0, 1) truncated to [-2, 2], from the normal pdf/cdf (independent of keras_layers' constant)."""
    pdf = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    return math.sqrt(1 - 2 * 2 * pdf / mass)


# fan_in 400, fan_out 300 (Linear(400, 300)): Keras' targets written out by hand.
EXPECTED = {
    "he_uniform": ("uniform", math.sqrt(6 / 400)),  # limit sqrt(6 / fan_in)
    "lecun_uniform": ("uniform", math.sqrt(3 / 400)),  # limit sqrt(3 / fan_in)
    "glorot_uniform": ("uniform", math.sqrt(6 / 700)),  # limit sqrt(6 / (fan_in + fan_out))
    "he_normal": ("normal", math.sqrt(2 / 400)),  # std sqrt(2 / fan_in), cut at 2 x std / 0.8796
    "lecun_normal": ("normal", math.sqrt(1 / 400)),
    "glorot_normal": ("normal", math.sqrt(2 / 700)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_keras_initializer_bounds_and_std(name):
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(400, 300), nn.ReLU(), nn.Linear(300, 10))
    head = net[2].weight.detach().clone()
    nn.init.constant_(net[0].bias, 1.0)
    keras_init_(net, name, skip_last=True)
    w = net[0].weight.detach()
    kind, value = EXPECTED[name]
    if kind == "uniform":
        assert w.abs().max().item() <= value and w.abs().max().item() > 0.999 * value
        assert w.std().item() == pytest.approx(value / math.sqrt(3), rel=0.01)
    else:
        drawn = value / _truncated_std()
        assert w.abs().max().item() <= 2 * drawn and w.abs().max().item() > 1.95 * drawn
        assert w.std().item() == pytest.approx(value, rel=0.01)
    assert torch.count_nonzero(net[0].bias) == 0  # biases zero, as Keras
    assert torch.equal(net[2].weight, head)  # the head is left alone (modify_initializer)


def test_conv_fan_in_and_model_option():
    torch.manual_seed(4)
    conv = nn.Sequential(nn.Conv2d(6, 16, 5), nn.Linear(3, 2))
    keras_init_(conv, "he_uniform", skip_last=True)
    limit = math.sqrt(6 / (6 * 5 * 5))  # fan_in = in_channels x kh x kw = 150
    assert conv[0].weight.abs().max().item() <= limit and conv[0].weight.abs().max().item() > 0.99 * limit
    torch.manual_seed(5)
    default = build_model("mlp", 10, 1, 28, hidden_layers=2)
    torch.manual_seed(5)
    lecun = build_model("mlp", 10, 1, 28, hidden_layers=2, init="lecun_uniform")
    assert lecun.layers[1].weight.abs().max().item() <= math.sqrt(3 / 784) < default.layers[1].weight.abs().max().item()
    with pytest.raises(ValueError, match="model.init='xavier'; accepted: default, glorot_uniform"):
        build_model("mlp", 10, 1, 28, init="xavier")


def test_bad_option_values_are_named_at_compose_time(tmp_path):
    from trainfix.training.config_rules import ConfigError, check_config

    cfg = compose_config(
        ["model.init=xavier", "model.input_noise_std=-1", "scheduler=reduce_on_plateau", "scheduler.monitor=val_loss"],
        tmp_path,
    )
    with pytest.raises(ConfigError) as info:
        check_config(cfg)
    message = str(info.value)
    assert (
        "model.init='xavier': accepted: ['default', 'glorot_uniform'" in message
        and "model.input_noise_std=-1" in message
    )
    assert "scheduler.monitor='val_loss': not an evaluation loss this run logs; accepted: ['test_loss']" in message


# ----------------------------------------------------------------------------- ReduceLR
def keras_reduce_lr(
    losses: list[float], lr: float, factor=0.2, patience=5, min_lr=0.001, min_delta=1e-4
) -> list[float]:
    """Keras 2.3 ReduceLROnPlateau.on_epoch_end (mode min, cooldown 0): the lr after each epoch."""
    best, wait, out = math.inf, 0, []
    for loss in losses:
        if loss < best - min_delta:
            best, wait = loss, 0
        else:
            wait += 1
            if wait >= patience:
                if lr > min_lr:
                    lr = max(lr * factor, min_lr)
                wait = 0
        out.append(lr)
    return out


def test_reduce_on_plateau_config_follows_keras(tmp_path):
    cfg = compose_config(["scheduler=reduce_on_plateau", "optimizer=sgd", "optimizer.lr=0.05"], tmp_path)
    assert cfg.scheduler.interval == "epoch" and cfg.scheduler.monitor == "test_loss"
    assert (
        compose_config(["scheduler=reduce_on_plateau", "data.val_fraction=0.1"], tmp_path).scheduler.monitor
        == "val_loss"
    )
    # improves, then 5 epochs without an improvement of more than 1e-4 (0.89995 is not one), ...
    losses = [
        1.0,
        0.9,
        0.95,
        0.89995,
        0.93,
        0.91,
        0.92,
        0.8,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
        0.85,
    ]
    optimizer = instantiate(cfg.optimizer)(params=[nn.Parameter(torch.zeros(1))])
    scheduler = instantiate(cfg.scheduler.scheduler)(optimizer=optimizer)
    ours = []
    for loss in losses:
        scheduler.step(loss)
        ours.append(optimizer.param_groups[0]["lr"])
    expected = keras_reduce_lr(losses, 0.05)
    assert ours == pytest.approx(expected, rel=1e-12)
    assert expected[:6] == [0.05] * 6 and expected[6] == pytest.approx(0.01)  # the 5th epoch without improvement
    assert expected[12] == pytest.approx(0.002) and expected[17] == 0.001  # then floored at min_lr


# ----------------------------------------------------------------------------------- bn
def test_mlp_batch_norm_placement_and_loading_plain_weights(tmp_path):
    torch.manual_seed(6)
    plain = build_model("mlp", 10, 1, 28, hidden_layers=2)
    bn = build_model("mlp", 10, 1, 28, hidden_layers=2, batch_norm=True)
    kinds = [type(m).__name__ for m in bn.layers]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    norm = bn.layers.bn1
    assert (norm.eps, norm.momentum) == (1e-3, 0.01)  # Keras' epsilon, momentum 0.99
    module = SimpleNamespace(net=bn, rebuild=None)
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in plain.state_dict().items()}}, path)
    _load_network_weights(module, path)
    assert all(torch.equal(bn.state_dict()[k], v) for k, v in plain.state_dict().items())
    assert torch.equal(norm.weight, torch.ones(128)) and torch.equal(norm.running_var, torch.ones(128))
    # in eval mode a fresh BatchNorm is x / sqrt(1 + eps): the output is the plain network's on scaled pre-activations
    x = torch.rand(4, 1, 28, 28)
    h = torch.relu(plain.layers[1](x.flatten(1)) / math.sqrt(1 + 1e-3))
    h = torch.relu(plain.layers[3](h) / math.sqrt(1 + 1e-3))
    assert torch.allclose(bn.eval()(x), plain.layers[5](h), atol=1e-5)
    wrong = SimpleNamespace(net=build_model("mlp", 10, 1, 28, hidden_layers=3), rebuild=None)
    with pytest.raises(RuntimeError, match="does not fit"):
        _load_network_weights(wrong, path)


# ------------------------------------------------------------------------- repair list
def test_oscillating_list_yields_every_solution_in_autotrainer_order():
    config = {
        "optimizer": {"_target_": "torch.optim.SGD", "lr": 0.5},
        "data": {"batch_size": 256},
        "model": {"name": "mlp"},
        "scheduler": {"scheduler": None},
    }
    tries = attempts_for("oscillating_loss", config, seed=0)
    assert [t.solution for t in tries] == [
        "adam_1",
        "lr_1",
        "lr_2",
        "lr_3",
        "ReduceLR_1",
        "batch_1",
        "batch_2",
        "batch_3",
        "batch_4",
        "momentum_1",
        "momentum_2",
        "momentum_3",
        "GN_1",
        "initial_1",
        "initial_2",
        "initial_3",
    ]
    skipped = [t.solution for t in tries if t.skipped]
    assert skipped == ["batch_4"]  # 32 x 2^3 = 256 is the run's batch size
    by = {t.solution: t for t in tries}
    assert by["adam_1"].overrides == ["optimizer=adam_keras"]
    assert [by[f"lr_{k}"].overrides for k in (1, 2, 3)] == [
        ["optimizer.lr=0.01"],
        ["optimizer.lr=0.001"],
        ["optimizer.lr=0.0001"],
    ]
    assert by["ReduceLR_1"].overrides == ["scheduler=reduce_on_plateau"]
    assert [by[f"batch_{k}"].overrides for k in (1, 2, 3)] == [
        ["data.batch_size=32"],
        ["data.batch_size=64"],
        ["data.batch_size=128"],
    ]
    momentum = [float(by[f"momentum_{k}"].overrides[2].split("=")[1]) for k in (1, 2, 3)]
    assert all(0.01 <= m <= 0.9 and round(m, 2) == m for m in momentum)
    assert by["momentum_1"].overrides[:2] == ["optimizer=sgd", "optimizer.lr=0.01"]
    assert by["GN_1"].overrides == ["model.input_noise_std=0.1"]
    inits = [by[f"initial_{k}"].overrides[0].split("=")[1] for k in (1, 2, 3)]
    assert set(inits) <= set(INITIALIZERS)
    assert [t.from_detection for t in tries] == [True] * 13 + [False] * 3  # only the re-initialization starts fresh
    assert all(t.from_detection for t in attempts_for("oscillating_loss", config, initial_from="detection"))
    # AutoTrainer's max_try limits the solutions (entries of the list), each with all its tries
    assert [t.solution for t in attempts_for("oscillating_loss", config, max_tries=2)] == [
        "adam_1",
        "lr_1",
        "lr_2",
        "lr_3",
    ]


def test_skips_follow_autotrainer_break():
    config = {
        "optimizer": {"_target_": "torch.optim.SGD", "lr": 0.01},
        "data": {"batch_size": 32},
        "model": {"name": "lenet5", "input_noise_std": 0.1},
        "scheduler": {"scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau"}},
    }
    by = {t.solution: t for t in attempts_for("oscillating_loss", config)}
    # lr_1 = 0.01 and batch_1 = 32 equal the run's: skipped, and with them the rest of lr_3 / batch_4
    assert by["lr_1"].skipped and "lr_2" not in by and by["batch_1"].skipped and "batch_2" not in by
    assert (
        by["ReduceLR_1"].skipped == "already ReduceLROnPlateau"
        and by["GN_1"].skipped == "the model already has input noise"
    )
    dying = {t.solution: t for t in attempts_for("dying_relu", config)}
    assert dying["bn_1"].skipped.startswith("BatchNorm insertion: model=mlp only")
    drawn = [t.overrides for t in attempts_for("not_converge", config)[:3]]  # another of Keras' five, its defaults
    assert all(
        o in (["optimizer=adam_keras"], ["optimizer=nadam_keras"], ["optimizer=adamax_keras"], ["optimizer=rmsprop"])
        for o in drawn
    )
    mlp = attempts_for("vanishing_gradient", {**config, "model": {"name": "mlp", "params": {}}})
    assert [t.overrides for t in mlp] == [
        ["++model.params.activation=selu"],
        ["++model.params.activation=relu"],
        ["++model.params.batch_norm=true"],
    ]


def test_repair_drops_init_from_only_for_reinitialization_and_replaced_overrides(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    config = {
        "optimizer": {"_target_": "torch.optim.SGD", "lr": 0.5},
        "data": {"batch_size": 64},
        "model": {"name": "mlp"},
        "scheduler": {"scheduler": None},
        "monitor": {"repair": {"max_tries": 10}},
    }
    (run / "run.json").write_text(json.dumps({"config": config, "seed": 0, "status": "finished"}))
    (run / "monitor.json").write_text(
        json.dumps({"stopped_at": 4, "checks": [{"epoch": 4, "problems": ["oscillating_loss"]}]})
    )
    calls: list[list[str]] = []
    table = repair(
        run,
        ["model=mlp", "optimizer=sgd", "optimizer.lr=0.5", "init_from=old.ckpt"],
        launcher=lambda o, d: calls.append(o),
    )
    # 16 tries; batch_2 (64, the run's) is skipped and with it batch_3 and batch_4 (AutoTrainer's _break)
    assert len(calls) == 13 and [r["solution"] for r in table if r["outcome"] == "skipped"] == ["batch_2"]
    assert all(row["outcome"] in ("run missing", "skipped") for row in table)  # the stub launcher runs nothing
    assert calls[0][:2] == ["model=mlp", "optimizer=adam_keras"] and not any(
        o.startswith("optimizer.lr=0.5") for o in calls[0]
    )
    for call, row in zip(calls, [r for r in table if r["outcome"] != "skipped"]):
        fresh = row["solution"].startswith("initial")
        assert any(o.startswith("init_from=") for o in call) != fresh and "init_from=old.ckpt" not in call
        assert row["from"] == ("fresh network" if fresh else "detection weights")
    assert replaced(["optimizer=sgd", "optimizer.lr=0.5", "seed=1"], ["optimizer.lr=0.01"]) == [
        "optimizer=sgd",
        "seed=1",
    ]


def test_nadam_keras_is_keras_nadam():
    """conf/optimizer/nadam_keras.yaml against Keras 2.3's Nadam update written out (5 steps, fixed gradients)."""
    cfg = compose_config(["optimizer=nadam_keras"], Path("unused"))
    torch.manual_seed(7)
    grads = [torch.randn(6, dtype=torch.float64) for _ in range(5)]
    p = nn.Parameter(torch.zeros(6, dtype=torch.float64))
    optimizer = instantiate(cfg.optimizer)(params=[p])
    lr, b1, b2, eps, decay = 0.002, 0.9, 0.999, 1e-7, 0.004
    q, m, v, m_schedule = torch.zeros(6, dtype=torch.float64), 0.0, 0.0, 1.0
    for t, g in enumerate(grads, start=1):
        p.grad = g.clone()
        optimizer.step()
        mu_t, mu_next = b1 * (1 - 0.5 * 0.96 ** (t * decay)), b1 * (1 - 0.5 * 0.96 ** ((t + 1) * decay))
        m_schedule_new = m_schedule * mu_t
        m_schedule_next = m_schedule_new * mu_next
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_bar = (1 - mu_t) * g / (1 - m_schedule_new) + mu_next * m / (1 - m_schedule_next)
        q = q - lr * m_bar / (torch.sqrt(v / (1 - b2**t)) + eps)
        m_schedule = m_schedule_new
    # torch keeps the momentum-schedule product in float32: differences ~4e-11 here; mu_t in place of
    # mu_{t+1} would give ~2e-7.
    assert (p.detach() - q).abs().max().item() < 1e-9
    assert not torch.allclose(p.detach(), torch.zeros(6, dtype=torch.float64))

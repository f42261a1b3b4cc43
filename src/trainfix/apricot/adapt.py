"""Apricot's weight adaptation (Zhang & Chan, ASE 2019; seeds/apricot.txt Algorithm 2, Eqs. 1-4).

For every training sample that the current model misclassifies and at least one reduced model
(rDLM) classifies correctly, the rDLMs are split into the correct and the incorrect group, each
group's weights are averaged (Eq. 1, divided by the group's size), and every weight moves by

    strategy 1 (Eq. 2): w <- w + r (p_corr (w - avg_corr) - p_incorr (w - avg_incorr))
    strategy 2 (Eq. 3): w <- w + r p_corr (w - avg_corr)
    strategy 3 (Eq. 4): w <- w - r p_incorr (w - avg_incorr)

with r = 0.001, p_corr = a / n, p_incorr = b / n (a + b = n rDLMs); an empty incorrect group drops
its term. These are the printed equations (`direction="printed"`): they move *away* from the correct
average. The text says *toward* it four times (L17, L115, L228, L416); `direction="toward"` (the
default) negates the step, which is exactly the text's reading (docs/deviations.md).

Vectorized: a network's adaptable tensors (parameters, and float buffers such as BatchNorm's
running statistics unless `parameters_only`) are one flat vector; the n rDLMs are an [n, P] matrix
on the device, and each group's sum is the matrix's row sum minus the other group's (running sums),
summing the smaller group's rows. rDLM predictions on the training set come from one batched pass
(`reduced_predictions`), not per sample. `naive_adjust_batch` is the per-sample, per-tensor Python
reference that the tests and `benchmarks/bench_apricot.py` compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

STRATEGIES = (1, 2, 3)
DIRECTIONS = ("toward", "printed")


# ------------------------------------------------------------------------------ flat weights
def adaptable_tensors(net: nn.Module, parameters_only: bool = False) -> list[torch.Tensor]:
    """The tensors Apricot adapts, in a fixed order: every parameter, then the floating-point buffers
    (BatchNorm's running mean/var; Keras' `get_weights` includes them) unless `parameters_only`.
    Integer buffers (BatchNorm's batch counter) are never weights."""
    tensors = [p for p in net.parameters()]
    if not parameters_only:
        tensors += [b for b in net.buffers() if b.is_floating_point()]
    return tensors


def get_flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """One new flat float32 vector holding `tensors` in order."""
    return torch.cat([t.detach().reshape(-1).float() for t in tensors])


@torch.no_grad()
def set_flat(tensors: Sequence[torch.Tensor], flat: torch.Tensor) -> None:
    """Copy `flat` into `tensors` in place (their order and sizes as in `get_flat`)."""
    pieces = flat.split([t.numel() for t in tensors])
    torch._foreach_copy_(list(tensors), [p.view_as(t).to(t.dtype) for p, t in zip(pieces, tensors, strict=True)])


@dataclass
class ReducedWeights:
    """The n rDLMs' adaptable tensors as one [n, P] matrix and its row sum (for running group sums)."""

    matrix: torch.Tensor
    total: torch.Tensor

    @classmethod
    def from_nets(cls, nets: Sequence[nn.Module], parameters_only: bool = False, device: torch.device | str = "cpu") -> ReducedWeights:
        if not nets:
            raise ValueError("Apricot needs at least one reduced model; none was given")
        matrix = torch.stack([get_flat(adaptable_tensors(net, parameters_only)) for net in nets]).to(device)
        return cls(matrix, matrix.sum(dim=0))

    @property
    def count(self) -> int:
        return self.matrix.shape[0]

    def group_sums(self, correct: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum over the correct rDLMs, sum over the incorrect ones) for a boolean mask [n]: the
        smaller group is summed directly, the other is the total minus it."""
        a = int(correct.sum())
        if a <= self.count - a:
            sum_correct = self.matrix[correct].sum(dim=0)
            return sum_correct, self.total - sum_correct
        sum_incorrect = self.matrix[~correct].sum(dim=0)
        return self.total - sum_incorrect, sum_incorrect


# ------------------------------------------------------------------------------ Eqs. 1-4
def check_choice(strategy: int, direction: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"apricot_strategy={strategy!r} is not an Apricot strategy; accepted: {list(STRATEGIES)} (Eqs. 2-4)")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r}; accepted: {list(DIRECTIONS)} (toward: the text's reading, printed: Eqs. 2-4 as printed)")


def step(
    weights: torch.Tensor,
    avg_correct: torch.Tensor,
    avg_incorrect: torch.Tensor | None,
    p_correct: float,
    p_incorrect: float,
    strategy: int,
    direction: str,
    r: float,
) -> torch.Tensor:
    """The new weights after one Apricot adjustment (Eqs. 2-4), out of place. `avg_incorrect=None`
    (empty incorrect group) drops the incorrect term."""
    corr_diff = weights - avg_correct
    if strategy == 1:
        delta = p_correct * corr_diff
        if avg_incorrect is not None:
            delta = delta - p_incorrect * (weights - avg_incorrect)
    elif strategy == 2:
        delta = p_correct * corr_diff
    else:
        delta = -p_incorrect * (weights - avg_incorrect) if avg_incorrect is not None else torch.zeros_like(weights)
    sign = 1.0 if direction == "printed" else -1.0
    return weights + (sign * r) * delta


@torch.no_grad()
def adjust_sample(flat: torch.Tensor, reduced: ReducedWeights, correct: torch.Tensor, strategy: int, direction: str, r: float) -> torch.Tensor:
    """Eqs. 1-4 for one failing sample whose rDLM correctness mask is `correct` [n] (at least one True).

    With p_corr = a/n, p_incorr = b/n and group averages S/a, S/b, every strategy is affine in w:
    S1: delta = ((a - b) w - (S_corr - S_incorr)) / n; S2: delta = (a w - S_corr) / n;
    S3: delta = -(b w - S_incorr) / n (zero when b = 0). So the new weights are one fused
    `alpha * w + beta_c * S_corr + beta_i * S_incorr` (identical to `step`, which the tests check),
    with the group sums from `ReducedWeights.group_sums` (running sums)."""
    n = reduced.count
    a = int(correct.sum())
    b = n - a
    sign = (1.0 if direction == "printed" else -1.0) * r / n
    if strategy == 3 and b == 0:
        return flat.clone()
    sum_correct, sum_incorrect = reduced.group_sums(correct)
    if strategy == 1:
        alpha, beta_c, beta_i = 1.0 + sign * (a - b), -sign, sign
    elif strategy == 2:
        alpha, beta_c, beta_i = 1.0 + sign * a, -sign, 0.0
    else:
        alpha, beta_c, beta_i = 1.0 - sign * b, 0.0, sign
    out = flat * alpha
    if beta_c:
        out.add_(sum_correct, alpha=beta_c)
    if beta_i:
        out.add_(sum_incorrect, alpha=beta_i)
    return out


@dataclass
class BatchOutcome:
    """What one batch's adjustment did: samples the model failed, samples that changed the weights."""

    failing: int
    adjusted: int


@torch.no_grad()
def adjust_batch(
    net: nn.Module,
    tensors: Sequence[torch.Tensor],
    reduced: ReducedWeights,
    x: torch.Tensor,
    y: torch.Tensor,
    reduced_correct: torch.Tensor,
    strategy: int,
    direction: str,
    r: float,
    sequential: bool = True,
) -> BatchOutcome:
    """Algorithm 2 lines 4-23 for one batch (x [B, ...], y [B], reduced_correct [n, B] bool).

    `sequential` (the algorithm as printed): sample k is predicted by the model carrying the
    adjustments of samples 1..k-1; False predicts the whole batch before adjusting (the public port).
    The network's tensors are updated in place; the network must be in eval mode.
    """
    check_choice(strategy, direction)
    flat = get_flat(tensors).to(reduced.matrix.device)
    predicted_upfront = None if sequential else net(x).argmax(dim=1)
    failing = adjusted = 0
    changed = False
    for k in range(len(y)):
        if sequential:
            if changed:
                set_flat(tensors, flat)
                changed = False
            prediction = int(net(x[k : k + 1]).argmax(dim=1))
        else:
            prediction = int(predicted_upfront[k])
        if prediction == int(y[k]):
            continue
        failing += 1
        correct = reduced_correct[:, k].to(reduced.matrix.device)
        if not bool(correct.any()):  # no rDLM gets it right: no direction to move in (lines 12-13)
            continue
        flat = adjust_sample(flat, reduced, correct, strategy, direction, r)
        adjusted += 1
        changed = True
    if adjusted:
        set_flat(tensors, flat)
    return BatchOutcome(failing, adjusted)


# ------------------------------------------------------------------------------ predictions
@torch.no_grad()
def predictions(net: nn.Module, inputs: Callable[[torch.Tensor], torch.Tensor], count: int, batch_size: int = 1000) -> torch.Tensor:
    """Class predictions [count] of `net` (eval mode) on samples 0..count-1; `inputs(indices)` gives the
    model's input tensors for those indices."""
    was_training = net.training
    net.eval()
    out = []
    for start in range(0, count, batch_size):
        index = torch.arange(start, min(start + batch_size, count))
        out.append(net(inputs(index)).argmax(dim=1).cpu())
    net.train(was_training)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def reduced_predictions(nets: Sequence[nn.Module], inputs: Callable[[torch.Tensor], torch.Tensor], count: int, batch_size: int = 1000) -> torch.Tensor:
    """Predictions [n, count] of every rDLM on samples 0..count-1, computed once per adaptation pass."""
    return torch.stack([predictions(net, inputs, count, batch_size) for net in nets])


# ------------------------------------------------------------------------------ naive reference
@torch.no_grad()
def naive_adjust_batch(
    net: nn.Module,
    reduced_nets: Sequence[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    strategy: int,
    direction: str,
    r: float,
    parameters_only: bool = False,
    reduced_correct: torch.Tensor | None = None,
) -> BatchOutcome:
    """Algorithm 2 lines 4-23 written out per sample and per tensor, as the public port does: every
    rDLM predicts every sample (unless `reduced_correct` [n, B] is given), each group's average is a
    Python sum over models for each tensor. The reference for tests and the benchmark; `adjust_batch`
    must give the same weights."""
    check_choice(strategy, direction)
    n = len(reduced_nets)
    own = adaptable_tensors(net, parameters_only)
    theirs = [adaptable_tensors(m, parameters_only) for m in reduced_nets]
    sign = 1.0 if direction == "printed" else -1.0
    failing = adjusted = 0
    for k in range(len(y)):
        xk, yk = x[k : k + 1], int(y[k])
        if reduced_correct is None:
            sub_right = [int(m(xk).argmax(dim=1)) == yk for m in reduced_nets]
        else:
            sub_right = [bool(v) for v in reduced_correct[:, k]]
        if int(net(xk).argmax(dim=1)) == yk:
            continue
        failing += 1
        correct = [i for i in range(n) if sub_right[i]]
        incorrect = [i for i in range(n) if not sub_right[i]]
        if not correct:
            continue
        a, b = len(correct), len(incorrect)
        for j, w in enumerate(own):
            avg_c = sum(theirs[i][j].float() for i in correct) / a
            corr_diff = w.float() - avg_c
            incorr_diff = (w.float() - sum(theirs[i][j].float() for i in incorrect) / b) if b else None
            if strategy == 1:
                delta = (a / n) * corr_diff - ((b / n) * incorr_diff if b else 0.0)
            elif strategy == 2:
                delta = (a / n) * corr_diff
            else:
                delta = -(b / n) * incorr_diff if b else torch.zeros_like(corr_diff)
            w.copy_((w.float() + sign * r * delta).to(w.dtype))
        adjusted += 1
    return BatchOutcome(failing, adjusted)

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
M on the device. Each sample's update is an affine map w -> alpha w + c @ M (`sample_map`), applied
from running sums (the smaller group's rows and M's row sum; `ReducedWeights.apply`); maps made
before the next prediction that needs the weights are composed and applied in one pass over M
(`PendingUpdate`: a whole batch when predicting up front). The adapted model predicts in batched
forward passes, also in the sequential mode (`adjust_batch`). rDLM predictions come from batched
passes, of the whole training set once per pass (`reduced_predictions`) or of the failing samples
only (`LazyReducedCorrect`), never per sample. The per-sample, per-tensor Python reference that the
tests and `benchmarks/bench_apricot.py` compare against is `benchmarks/apricot_naive.py`
(docs/apricot.md, "Adaptation cost", has the measured ratios).
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
    def from_nets(
        cls, nets: Sequence[nn.Module], parameters_only: bool = False, device: torch.device | str = "cpu"
    ) -> ReducedWeights:
        if not nets:
            raise ValueError("Apricot needs at least one reduced model; none was given")
        matrix = torch.stack([get_flat(adaptable_tensors(net, parameters_only)) for net in nets]).to(device)
        return cls(matrix, matrix.sum(dim=0))

    @property
    def count(self) -> int:
        return self.matrix.shape[0]

    @torch.no_grad()
    def apply(self, flat: torch.Tensor, alpha: float, coeff: torch.Tensor) -> torch.Tensor:
        """`alpha * flat + coeff @ matrix`, written into `flat` (and returned): one Apricot update, or a
        composition of several (`sample_map`, `PendingUpdate`).

        Running sums, generalised: with v the most frequent value in `coeff`, coeff @ matrix =
        v * total + the sum over rows i with coeff_i != v of (coeff_i - v) * row_i. For one sample coeff
        takes one value per group, so this reads the smaller group's rows and the total ("sum of all
        minus sum of the other group"). When more than half the rows differ from v (several samples
        composed), one matrix-vector product over all n rows is cheaper."""
        coeff = coeff.to(torch.float64).cpu()
        values, counts = coeff.unique(return_counts=True)
        v = float(values[counts.argmax()])
        rows = (coeff != v).nonzero().flatten().tolist()
        if len(rows) + 1 > self.count // 2:
            vector = coeff.to(device=self.matrix.device, dtype=self.matrix.dtype)
            return flat.addmv_(self.matrix.t(), vector, beta=alpha)
        flat.mul_(alpha)
        if v:
            flat.add_(self.total, alpha=v)
        for i in rows:  # a loop over at most n/2 rDLMs, each one fused pass over the P weights
            flat.add_(self.matrix[i], alpha=float(coeff[i]) - v)
        return flat


# ------------------------------------------------------------------------------ Eqs. 1-4
def check_choice(strategy: int, direction: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(
            f"apricot_strategy={strategy!r} is not an Apricot strategy; accepted: {list(STRATEGIES)} (Eqs. 2-4)"
        )
    if direction not in DIRECTIONS:
        raise ValueError(
            f"direction={direction!r}; accepted: {list(DIRECTIONS)} (toward: the text's reading, printed: "
            "Eqs. 2-4 as printed)"
        )


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


def sample_map(correct: torch.Tensor, strategy: int, direction: str, r: float) -> tuple[float, torch.Tensor] | None:
    """Eqs. 1-4 for one failing sample (rDLM correctness mask `correct` [n], at least one True) as an
    affine map of the flat weights: new w = alpha * w + coeff @ M (M: the rDLMs' [n, P] matrix).

    With p_corr = a/n, p_incorr = b/n and group averages S/a, S/b every strategy is affine in w:
    S1: delta = ((a - b) w - (S_corr - S_incorr)) / n; S2: delta = (a w - S_corr) / n;
    S3: delta = -(b w - S_incorr) / n (zero when b = 0); w += s r delta with s = +1 (printed) or -1
    (toward). So alpha = 1 + s r (a - b) / n (S1), 1 + s r a / n (S2), 1 - s r b / n (S3), and coeff
    is -s r / n on the correct rows (S1, S2; 0 for S3) and +s r / n on the incorrect rows (S1, S3; 0 for
    S2). Returns None when the weights do not move (S3 with an empty incorrect group). float64."""
    n = correct.numel()
    a = int(correct.sum())
    b = n - a
    if strategy == 3 and b == 0:
        return None
    sign = (1.0 if direction == "printed" else -1.0) * r / n
    if strategy == 1:
        alpha, beta_c, beta_i = 1.0 + sign * (a - b), -sign, sign
    elif strategy == 2:
        alpha, beta_c, beta_i = 1.0 + sign * a, -sign, 0.0
    else:
        alpha, beta_c, beta_i = 1.0 - sign * b, 0.0, sign
    coeff = torch.where(
        correct.cpu(), torch.tensor(beta_c, dtype=torch.float64), torch.tensor(beta_i, dtype=torch.float64)
    )
    return alpha, coeff


@torch.no_grad()
def adjust_sample(
    flat: torch.Tensor, reduced: ReducedWeights, correct: torch.Tensor, strategy: int, direction: str, r: float
) -> torch.Tensor:
    """Eqs. 1-4 for one failing sample whose rDLM correctness mask is `correct` [n] (at least one True):
    the new weights, out of place (identical to `step`, which the tests check). One fused expression
    over the smaller group's rows and the rDLMs' total (running sums; `ReducedWeights.apply`)."""
    mapping = sample_map(correct, strategy, direction, r)
    if mapping is None:
        return flat.clone()
    return reduced.apply(flat.clone(), *mapping)


class PendingUpdate:
    """Several samples' Apricot maps composed, not yet applied: w -> alpha * w + coeff @ M.

    Applying (alpha1, c1) then (alpha2, c2) gives alpha2 alpha1 w + (alpha2 c1 + c2) @ M, so a whole
    batch's adjustments (those made before the next prediction that needs the weights) cost one pass
    over the rDLMs' matrix instead of one per sample. Coefficients are composed in float64."""

    def __init__(self, n: int) -> None:
        self.alpha = 1.0
        self.coeff = torch.zeros(n, dtype=torch.float64)
        self.samples = 0

    def then(self, alpha: float, coeff: torch.Tensor) -> None:
        self.alpha *= alpha
        self.coeff.mul_(alpha).add_(coeff)
        self.samples += 1

    def apply_to(self, flat: torch.Tensor, reduced: ReducedWeights) -> None:
        """Write the composed map into `flat` (in place) and reset to the identity."""
        if self.samples:
            reduced.apply(flat, self.alpha, self.coeff)
        self.alpha, self.samples = 1.0, 0
        self.coeff.zero_()


ReducedCorrect = torch.Tensor | Callable[[torch.Tensor], torch.Tensor]


class LazyReducedCorrect:
    """Which rDLMs classify given training samples correctly, predicted on demand and cached.

    Algorithm 2 needs the rDLMs' predictions only for samples the current model fails, so a pass can
    predict just those (in batches) instead of the whole training set. `inputs(indices)` gives the
    networks' input for training indices (in the memory format the networks run fastest in);
    `labels` [N]. `for_batch(index)` is what `adjust_batch` takes as `reduced_correct`. `predicted`
    counts the samples predicted so far (each by every rDLM)."""

    def __init__(
        self,
        nets: Sequence[nn.Module],
        inputs: Callable[[torch.Tensor], torch.Tensor],
        labels: torch.Tensor,
        batch_size: int = 1000,
    ) -> None:
        self.nets, self.inputs, self.labels, self.batch_size = list(nets), inputs, labels.cpu(), batch_size
        self.pred = torch.full((len(self.nets), len(labels)), -1, dtype=torch.long)
        self.predicted = 0

    @torch.inference_mode()
    def __call__(self, indices: torch.Tensor) -> torch.Tensor:
        """[n, len(indices)] bool: rDLM i classifies training sample indices[j] correctly."""
        indices = indices.cpu()
        missing = indices[self.pred[0, indices] < 0].unique()
        for chunk in missing.split(self.batch_size):
            x = self.inputs(chunk)
            for i, net in enumerate(self.nets):
                self.pred[i, chunk] = net(x).argmax(dim=1).cpu()
            self.predicted += len(chunk)
        return self.pred[:, indices] == self.labels[indices].unsqueeze(0)

    def for_batch(self, index: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """`reduced_correct` for `adjust_batch` on the batch of training indices `index`: positions in
        the batch -> [n, len(positions)]."""
        return lambda positions: self(index.cpu()[positions])


@dataclass
class BatchOutcome:
    """What one batch's adjustment did: samples the model failed, samples that changed the weights,
    and the forward passes of the adjusted model it took (`forwards`) over `predicted` samples."""

    failing: int
    adjusted: int
    forwards: int = 0
    predicted: int = 0


@torch.no_grad()
def adjust_batch(
    net: nn.Module,
    tensors: Sequence[torch.Tensor],
    reduced: ReducedWeights,
    x: torch.Tensor,
    y: torch.Tensor,
    reduced_correct: ReducedCorrect,
    strategy: int,
    direction: str,
    r: float,
    sequential: bool = True,
) -> BatchOutcome:
    """Algorithm 2 lines 4-23 for one batch (x [B, ...], y [B]).

    `reduced_correct`: [n, B] bool (rDLM i right on sample k), or a callable mapping positions in the
    batch to that tensor's columns (`LazyReducedCorrect.for_batch`: only failing samples are predicted).
    `sequential` (the algorithm as printed): sample k is predicted by the model carrying the
    adjustments of samples 1..k-1; False predicts the whole batch before adjusting (the public port).
    The network's tensors (`adaptable_tensors(net)`, taken after any memory-format change) are updated
    in place; the network must be in eval mode.

    Cost: the batch is predicted once by the starting weights. Up front, that is all, and the batch's
    adjustments compose into one map applied once (`PendingUpdate`). Sequentially, predictions stay
    valid until the weights change; after an adjustment the weights are written back and the samples
    up to the next one the starting model failed are predicted in one forward pass (predictions in
    between rarely flip; when one does, the rest is predicted again), so a batch takes about
    (adjustments + 1) forward passes over at most 2 B samples in all, instead of B single-sample passes.
    A batched pass can differ from a single-sample one in the last float bits, so an exact tie between
    two classes could be broken differently (not seen in the tests or the benchmark).
    """
    check_choice(strategy, direction)
    y_list = [int(v) for v in y]
    size = len(y_list)
    flat = get_flat(tensors).to(reduced.matrix.device)
    pending = PendingUpdate(reduced.count)
    pred = net(x).argmax(dim=1).tolist()
    forwards, predicted = 1, size
    guessed = [k for k in range(size) if pred[k] != y_list[k]]  # what the starting weights fail
    if isinstance(reduced_correct, torch.Tensor):
        column = lambda k: reduced_correct[:, k]  # noqa: E731
    else:
        known = (
            dict(zip(guessed, reduced_correct(torch.tensor(guessed, dtype=torch.long)).t(), strict=True))
            if guessed
            else {}
        )
        column = lambda k: known[k] if k in known else reduced_correct(torch.tensor([k]))[:, 0]  # noqa: E731
    valid_to = size  # pred[k] holds for the current weights for k < valid_to
    failing = adjusted = 0
    for k in range(size):
        if k >= valid_to:
            pending.apply_to(flat, reduced)
            set_flat(tensors, flat)
            upto = next((j for j in guessed if j >= k), size - 1) + 1
            pred[k:upto] = net(x[k:upto]).argmax(dim=1).tolist()
            forwards, predicted, valid_to = forwards + 1, predicted + upto - k, upto
        if pred[k] == y_list[k]:
            continue
        failing += 1
        correct = column(k).to(torch.bool)
        if not bool(correct.any()):  # no rDLM gets it right: no direction to move in (lines 12-13)
            continue
        adjusted += 1
        mapping = sample_map(correct, strategy, direction, r)
        if mapping is None:  # S3 with no incorrect rDLM: delta is zero
            continue
        pending.then(*mapping)
        if sequential:
            valid_to = k + 1
    if pending.samples:
        pending.apply_to(flat, reduced)
        set_flat(tensors, flat)
    return BatchOutcome(failing, adjusted, forwards, predicted)


# ------------------------------------------------------------------------------ predictions
def channels_last_input(x: torch.Tensor) -> torch.Tensor:
    """Images [B, C, H, W] in channels-last memory format; other tensors as they are. With the network in
    that format too (`net.to(memory_format=torch.channels_last)`), inference on this CPU is ~1.3-1.9x
    faster (docs/apricot.md), with the same outputs up to float rounding. Convert a network before
    taking its `adaptable_tensors`: the conversion replaces them."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


@torch.inference_mode()
def predictions(
    net: nn.Module, inputs: Callable[[torch.Tensor], torch.Tensor], count: int, batch_size: int = 1000
) -> torch.Tensor:
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


def reduced_predictions(
    nets: Sequence[nn.Module], inputs: Callable[[torch.Tensor], torch.Tensor], count: int, batch_size: int = 1000
) -> torch.Tensor:
    """Predictions [n, count] of every rDLM on samples 0..count-1, computed once per adaptation pass."""
    return torch.stack([predictions(net, inputs, count, batch_size) for net in nets])

"""The naive Apricot update: seeds/apricot.txt Algorithm 2 lines 4-23 written out per sample and per tensor,
as the public PyTorch port (coinse/arachne apricot/) does. Not used by trainfix itself: the reference that
`tests/unit/test_apricot_adapt.py` compares the vectorized `trainfix.procedures.apricot.adapt.adjust_batch`
against, and the naive sides of `benchmarks/bench_apricot.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trainfix.procedures.apricot.adapt import BatchOutcome, adaptable_tensors, check_choice


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
    sequential: bool = True,
    model_first: bool = True,
) -> BatchOutcome:
    """Algorithm 2 lines 4-23 per sample: the rDLMs predict the sample (batch of one) unless
    `reduced_correct` [n, B] is given, each group's average is a Python sum over models for each tensor.
    `adjust_batch` must give the same weights.

    `model_first`: the model predicts the sample first and the rDLMs only a sample it fails (the same
    result, since a sample the model gets right changes nothing); False is lines 6-7 as printed, every
    rDLM predicting every sample before the model. `sequential=False`: the model predicts every sample
    (batch of one) before any adjustment, as `adjust_batch(..., sequential=False)`."""
    check_choice(strategy, direction)
    n = len(reduced_nets)
    own = adaptable_tensors(net, parameters_only)
    theirs = [adaptable_tensors(m, parameters_only) for m in reduced_nets]
    sign = 1.0 if direction == "printed" else -1.0
    failing = adjusted = 0
    upfront = None if sequential else [int(net(x[k : k + 1]).argmax(dim=1)) for k in range(len(y))]

    def reduced_right(k: int) -> list[bool]:
        if reduced_correct is not None:
            return [bool(v) for v in reduced_correct[:, k]]
        return [int(m(x[k : k + 1]).argmax(dim=1)) == int(y[k]) for m in reduced_nets]

    for k in range(len(y)):
        sub_right = None if model_first else reduced_right(k)
        if (int(net(x[k : k + 1]).argmax(dim=1)) if upfront is None else upfront[k]) == int(y[k]):
            continue
        failing += 1
        sub_right = reduced_right(k) if sub_right is None else sub_right
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

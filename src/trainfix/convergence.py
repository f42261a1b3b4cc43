"""The convergence criterion of DeepEutaxy (Eq. 12): ||grad L||_2 <= epsilon, epsilon = 0.01.

The paper evaluates the gradient "in each step" and reports the first epoch that satisfies the
criterion; it does not say whether that is the last step's gradient or the epoch's. Both readings
are recorded: `last` (the gradient norm of the epoch's last step) and `mean` (the mean over the
epoch's steps). `convergence.json` in the run folder holds the first epoch (0-based) of each,
which reading the tables use, and epsilon. Training continues to max_epochs (the paper's 200)
unless `stop=True`.
"""

from __future__ import annotations

import math

READINGS = {"last": "grad_norm_last", "mean": "grad_norm_mean"}
CONVERGENCE_FILE = "convergence.json"


def first_converged_epoch(norms: list[float], epsilon: float) -> int | None:
    """The first index whose norm is <= epsilon, or None. NaN (an epoch without any optimizer
    step, e.g. SPL selected no sample) never counts as converged."""
    return next((epoch for epoch, norm in enumerate(norms) if not math.isnan(norm) and norm <= epsilon), None)

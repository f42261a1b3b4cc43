"""Eq. 12 convergence: first epoch with gradient norm <= epsilon, both readings."""

from trainfix.training.callbacks.convergence import first_converged_epoch


def test_first_converged_epoch_on_crafted_history():
    assert first_converged_epoch([0.5, 0.02, 0.0101, 0.01, 0.001], 0.01) == 3
    assert first_converged_epoch([0.5, 0.02], 0.01) is None
    assert first_converged_epoch([0.001], 0.01) == 0


def test_epoch_without_any_step_never_counts_as_converged():
    nan = float("nan")
    assert first_converged_epoch([nan, nan, 0.5, 0.001], 0.01) == 3

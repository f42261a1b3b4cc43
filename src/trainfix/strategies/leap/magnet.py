"""The Magnet loss (Rippel et al. 2015) as LEAP's Eq. 1 writes it.

A batch holds M clusters of D samples each, in M consecutive blocks of D rows. For sample r of
cluster m, with mu_m the mean of block m and sigma^2 = sum ||r - mu_own||^2 / (MD - 1) over the batch:

    l(r) = { -log [ exp(-||r - mu_own||^2 / (2 sigma^2) - alpha)
                    / sum_{mu: class(mu) != class(r)} exp(-||r - mu||^2 / (2 sigma^2)) ] }_+      (Eq. 1)

and the batch loss is the mean of l over the MD samples. `sigma_power=2` divides by 2 sigma^2 as
printed; `sigma_power=4` divides by 2 (sigma^2)^2, as the authors' code does (a deviation kept as
`variant=authors_code`, which also uses the code's epsilons: relu(-log(num / (den + 1e-8) + 1e-8))).
Neither detaches sigma or the means: gradients flow through both, as in the code.
"""

from __future__ import annotations

import torch

SIGMA_POWERS = (2, 4)


def magnet_loss(
    r: torch.Tensor,
    block_classes: torch.Tensor,
    samples_per_cluster: int,
    alpha: float = 1.0,
    sigma_power: int = 2,
    code_epsilons: bool = False,
) -> torch.Tensor:
    """Per-sample Magnet losses [M*D] of embeddings `r` [M*D, dim] in M blocks of D.

    Args:
        r: embeddings, block m = rows m*D .. m*D + D - 1.
        block_classes: [M] the class of each block's cluster.
        samples_per_cluster: D.
        alpha: the margin (the code's 1.0; the paper gives none).
        sigma_power: 2 (Eq. 1 as printed) or 4 (the authors' code).
        code_epsilons: the code's numerics (exp, +1e-8 twice) instead of the log-sum-exp form.
    """
    if sigma_power not in SIGMA_POWERS:
        raise ValueError(f"strategy.sigma_power={sigma_power!r} is not accepted; use one of {list(SIGMA_POWERS)}")
    d = samples_per_cluster
    m = block_classes.numel()
    if r.shape[0] != m * d or m * d < 2:
        raise ValueError(f"magnet_loss: {r.shape[0]} embeddings for {m} clusters x {d} samples")
    means = r.view(m, d, -1).mean(dim=1)  # [M, dim]
    block = torch.arange(m, device=r.device).repeat_interleave(d)  # [MD]
    dist = (r[:, None, :] - means[None, :, :]).pow(2).sum(dim=2)  # [MD, M] squared distances to every mean
    own = dist.gather(1, block[:, None]).squeeze(1)
    variance = own.sum() / (m * d - 1)
    scale = 2 * variance.pow(sigma_power // 2)
    other = block_classes[None, :] != block_classes[block][:, None]  # [MD, M] means of other classes
    if not bool(other.any(dim=1).all()):
        raise ValueError("magnet_loss: every sample needs at least one cluster of another class in its batch")
    if code_epsilons:
        numerator = torch.exp(-own / scale - alpha)
        denominator = (torch.exp(-dist / scale) * other).sum(dim=1)
        return torch.relu(-torch.log(numerator / (denominator + 1e-8) + 1e-8))
    log_denominator = torch.logsumexp((-dist / scale).masked_fill(~other, float("-inf")), dim=1)
    return torch.relu(own / scale + alpha + log_denominator)

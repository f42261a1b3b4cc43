"""The oscillating-loss study's figure: per (hidden layers, budget), the pair index (ours vs the thesis) and the
online detection epoch under each checking schedule (`trainfix.monitor.study`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trainfix.monitor.study import SCHEDULES


def histograms(study: pd.DataFrame, paper: dict[str, Any]):
    """Per (hidden layers, budget): pair index (ours vs the thesis) and online detection epochs per schedule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(study.groupby(["hidden_layers", "budget"])) if len(study) else []
    figure, axes = plt.subplots(max(1, len(groups)), 2, figsize=(11, 3.2 * max(1, len(groups))), squeeze=False)
    for i, ((layers, budget), group) in enumerate(groups):
        left, right = axes[i]
        ours = [int(p) for p in group["pair_index"].dropna()]
        thesis = [
            p for c in paper["cases"] if c["epochs"] == budget and c["hidden_layers"] == layers for p in c["pair_index"]
        ]
        bins = np.arange(0, budget + 2) - 0.5
        if thesis:
            left.hist(thesis, bins=bins, alpha=0.5, density=True, label=f"thesis ({len(thesis)} flagged)")
        if ours:
            left.hist(ours, bins=bins, alpha=0.6, density=True, label=f"ours ({len(ours)}/{len(group)} flagged)")
        else:
            left.text(0.5, 0.5, f"ours: 0/{len(group)} flagged", transform=left.transAxes, ha="center")
        left.set(
            title=f"{layers} hidden layers, {budget} epochs: pair index",
            xlabel="pair index (thesis 'detection epoch')",
            ylabel="share",
        )
        left.legend(fontsize=8)
        for name in SCHEDULES:
            for gate_name, style in (("at_once", "-"), ("gated", ":")):
                values = [int(v) for v in group[f"validation_{name}_{gate_name}_detect"].dropna()]
                if values:
                    right.hist(
                        values,
                        bins=bins,
                        histtype="step",
                        linewidth=2,
                        linestyle=style,
                        label=f"{name}{', warm-up gate' if gate_name == 'gated' else ''} ({len(values)})",
                    )
        firing = [int(v) for v in group["validation_first_firing"].dropna()]
        if firing:
            right.hist(firing, bins=bins, histtype="step", color="black", label=f"first firing ({len(firing)})")
        right.set(title="online detection epoch per schedule (validation reading)", xlabel="epoch", ylabel="runs")
        if firing:
            right.legend(fontsize=8)
    figure.tight_layout()
    return figure

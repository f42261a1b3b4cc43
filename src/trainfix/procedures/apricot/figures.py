"""Apricot's Figures 2 and 3 (seeds/apricot.txt §IV-B) from the records `records` reads."""

from __future__ import annotations

from trainfix.procedures.apricot.records import ApricotRuns, table_rows
from trainfix.procedures.apricot.tables import passes


def figure_2(data: ApricotRuns):
    """Histograms of rDLM train (green) and test (blue) accuracy per row (the paper's Fig. 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table_rows(data) if any(k[0] == r for k in data.reduced_facts)]
    fig, axes = plt.subplots(max(1, len(rows)), 2, figsize=(8, 2.6 * max(1, len(rows))), squeeze=False)
    for i, row in enumerate(rows):
        models = [m for (r, _), f in sorted(data.reduced_facts.items()) if r == row for m in f["reduced"]]
        for j, (key, color, label) in enumerate(
            (("train_acc_window", "tab:green", "train"), ("test_acc", "tab:blue", "test"))
        ):
            ax = axes[i][j]
            ax.hist([100 * m[key] for m in models], bins=10, color=color)
            ax.set_title(f"{row}: rDLM {label} accuracy ({len(models)} rDLMs)", fontsize=9)
            ax.set_xlabel("accuracy %")
            ax.set_ylabel("rDLMs")
    fig.tight_layout()
    return fig


def figure_3(data: ApricotRuns):
    """Box plots of train and test accuracy: input model vs strategies 1-3, per row and sign convention (Fig. 3)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adapt, controls = passes(data)
    keys = (
        sorted(
            {(r, d) for r, d in zip(adapt["row"], adapt["direction"], strict=True)},
            key=lambda k: (table_rows(data).index(k[0]), k[1]),
        )
        if len(adapt)
        else []
    )
    fig, axes = plt.subplots(max(1, len(keys)), 2, figsize=(8, 2.8 * max(1, len(keys))), squeeze=False)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:gray"]
    for i, (row, direction) in enumerate(keys):
        mine = adapt[(adapt["row"] == row) & (adapt["direction"] == direction)]
        for j, metric in enumerate(("train_acc", "test_acc")):
            original = mine.drop_duplicates("model_seed")[f"input_{metric}"] * 100
            groups = [original] + [mine.loc[mine["strategy"] == k, metric] * 100 for k in (1, 2, 3)]
            labels = ["original", "S1", "S2", "S3"]
            control = controls[controls["row"] == row] if len(controls) else controls
            if len(control):
                groups.append(control[metric] * 100)
                labels.append("control")
            ax = axes[i][j]
            box = ax.boxplot([list(g) for g in groups], patch_artist=True, tick_labels=labels)
            for patch, color in zip(box["boxes"], colors, strict=False):
                patch.set_facecolor(color)
            ax.set_title(f"{row} ({direction}): {metric.replace('_acc', '')} accuracy %", fontsize=9)
    fig.tight_layout()
    return fig

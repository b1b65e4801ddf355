"""Training curves from a run folder's metrics.jsonl: one panel per loss term, train and test lines.

Terms live on different scales (the VAE's weighted reconstruction is a thousand times its MSE), so each
term gets its own panel rather than sharing one axis.
"""

from __future__ import annotations

import math

from genkit.errors import GenkitError
from genkit.plots.context import PlotContext
from genkit.plots.figure import new_figure, suptitle


def loss_curves(context: PlotContext):
    records = context.source.metrics()
    if not records:
        raise GenkitError(f"{context.source.path} has no finished epoch in metrics.jsonl yet: nothing to plot")
    terms = list(records[0].get("train", {}))
    epochs = [r["epoch"] for r in records]
    columns = min(len(terms), 2)
    rows = math.ceil(len(terms) / columns)
    figure = new_figure(5.0 * columns, 3.2 * rows + 0.5)
    axes = figure.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(terms):
            ax.set_axis_off()
            continue
        term = terms[index]
        for part, style in (("train", "-"), ("test", "--")):
            values = [r.get(part, {}).get(term) for r in records]
            if any(v is not None for v in values):
                ax.plot(epochs, values, style, marker="o", markersize=3, label=part)
        ax.set_title(term, fontsize=10)
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel(term, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    suptitle(figure, f"Loss terms of {context.recipe_title()} per epoch (train: mean over the epoch's batches; "
                    f"test: after the epoch)", fontsize=10)
    return figure

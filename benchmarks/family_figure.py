"""The families scenario as one picture: a panel per claim, a dot per seed and a bar at the mean.

``benchmarks.figures`` draws it beside the result JSON (``RESULT-families.png``), as the run does and as
``python -m benchmarks.figures RESULT.json`` does again from a committed result.
"""

from __future__ import annotations

from typing import Any

SWEEP = ("beta-vae, β = 0.5", "vae, z = 10", "beta-vae, β = 4", "beta-vae, β = 16")  # β = 0.5, 1, 4, 16
# (title, the column drawn (two: one model under its own prior and the other rule), the models compared)
PANELS = (
    ("β-VAE: active units as β rises (β = 1 is vae)", "active units", SWEEP),
    ("β-VAE: reconstruction MSE as β rises", "recon MSE", SWEEP),
    ("β-TCVAE: total correlation (z = 10)", "TC", ("vae, z = 10", "beta-tcvae, β = 1.5", "beta-tcvae, β = 6")),
    ("β-TCVAE: reconstruction MSE (z = 10)", "recon MSE", ("vae, z = 10", "beta-tcvae, β = 1.5",
                                                            "beta-tcvae, β = 6")),
    ("IWAE: test NLL, nats (z = 16)", "NLL (nats)", ("vae, z = 16", "iwae")),
    ("WAE-MMD: reconstruction MSE (z = 8)", "recon MSE", ("vae, z = 8", "wae-mmd")),
    ("WAE-MMD: prior gap (z = 8)", "prior gap", ("vae, z = 8", "wae-mmd")),
    ("RAE: prior gap, mixture vs fitted Gaussian", ("prior gap", "other rule's gap"), ("rae",)),
    ("VQ-VAE: reconstruction MSE", "recon MSE", ("vae, z = 2", "vae, z = 16", "vq-vae")),
    ("VQ-VAE: prior gap, PixelCNN vs uniform codes", ("prior gap", "other rule's gap"), ("vq-vae",)),
    ("cVAE: generated images classified as their label", "label accuracy", ("cvae",)),
)


def _bars(scenario: dict[str, Any], column: Any, labels: tuple[str, ...]) -> list[tuple[str, list[float]]]:
    details = scenario["details"]
    if isinstance(column, tuple):  # one model under two sampling rules
        runs = details.get(labels[0], [])
        names = ("its own prior", "the other rule")
        return [(name, [r[c] for r in runs if r.get(c) is not None]) for name, c in zip(names, column)]
    return [(label, [r[column] for r in details.get(label, []) if r.get(column) is not None]) for label in labels]


def figure(scenario: dict[str, Any]) -> bytes:
    from genkit.plots.figure import new_figure, png_bytes, suptitle

    columns = 2
    rows = -(-len(PANELS) // columns)
    fig = new_figure(11.0, 2.1 * rows + 0.8)
    for index, (title, column, labels) in enumerate(PANELS):
        ax = fig.add_subplot(rows, columns, index + 1)
        bars = _bars(scenario, column, labels)
        for row, (_, values) in enumerate(bars):
            if values:
                ax.barh(row, sum(values) / len(values), color="tab:blue" if row else "tab:grey", alpha=0.35,
                        height=0.6)
                ax.plot(values, [row] * len(values), "o", color="black", markersize=3)
        names = [name for name, _ in bars]
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
        if column == "label accuracy":
            ax.axvline(0.85, color="tab:red", linewidth=1)
    seeds = max((len(runs) for runs in scenario["details"].values()), default=0)
    met = sum(1 for t in scenario["targets"] if t["met"])
    suptitle(fig, f"Model families on Fashion-MNIST: {met} of {len(scenario['targets'])} claim targets met, "
                  f"{seeds} seed(s) per model (dots), mean (bar)")
    return png_bytes(fig)


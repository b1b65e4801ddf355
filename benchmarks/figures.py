"""Pictures of a result document: the ablation's distances per model, one dot per seed.

``python -m benchmarks`` draws them next to the JSON it writes; ``python -m benchmarks.figures
RESULT.json`` draws them again from a committed result.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# The two distances the ablation separates: where the samples land against real images, and against
# what the model's own decoder makes of real codes.
PANELS = (("frechet_distance", "Fréchet distance to real test images", "decoder blur + prior"),
          ("frechet_distance_to_reconstructions", "prior gap: to the model's own reconstructions", "prior alone"))
COLOURS = {"vae": "tab:blue", "ae": "tab:orange"}


def ablation_png(scenario: dict[str, Any]) -> bytes:
    """Both distances for each row of the ablation: a dot per seed, a bar at their mean."""
    from genkit.plots.figure import new_figure, png_bytes, suptitle

    # A run per seed; results from before seeds were counted hold one run per row.
    details = {label: runs if isinstance(runs, list) else [runs] for label, runs in scenario["details"].items()}
    labels = list(details)
    figure = new_figure(5.2 * len(PANELS), 0.5 * len(labels) + 1.8)
    for index, (key, title, meaning) in enumerate(PANELS):
        ax = figure.add_subplot(1, len(PANELS), index + 1)
        for row, label in enumerate(labels):
            values = [run["generation"].get(key) for run in details[label]]
            values = [v for v in values if v is not None]
            if not values:
                continue
            colour = COLOURS.get(label.split(",")[0], "tab:grey")
            ax.barh(row, sum(values) / len(values), color=colour, alpha=0.35, height=0.6)
            ax.plot(values, [row] * len(values), "o", color=colour, markersize=4)
        ax.set_yticks(range(len(labels)), labels if index == 0 else [""] * len(labels))
        ax.invert_yaxis()
        ax.set_xlabel(f"Fréchet distance, classifier features ({meaning}); lower is better", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    seeds = max(len(runs) for runs in details.values())
    suptitle(figure, f"VAE against its AE ablation: images decoded from each model's prior, "
                     f"{seeds} seed(s) per model (dots), mean (bar)")
    return png_bytes(figure)


def figures(document: dict[str, Any]) -> dict[str, bytes]:
    """The document's figures as PNG bytes by name; only scenarios that ran and have details."""
    from . import family_figure

    drawers = {"ablation": ablation_png, "families": family_figure.figure}
    pictures = {}
    for name, draw in drawers.items():
        scenario = document["scenarios"].get(name)
        if scenario and scenario.get("status") == "ok" and scenario.get("details"):
            pictures[name] = draw(scenario)
    return pictures


def write_figures(pictures: dict[str, bytes], json_path: Path) -> list[Path]:
    """``pictures`` beside the result JSON they come from, named after it."""
    from genkit.files.atomic import write_bytes

    paths = []
    for name, png in pictures.items():
        paths.append(json_path.with_name(f"{json_path.stem}-{name}.png"))
        write_bytes(paths[-1], png)
    return paths


def main(argv: list[str] | None = None) -> int:
    import json

    paths = [Path(a) for a in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        print("usage: python -m benchmarks.figures RESULT.json ...", file=sys.stderr)
        return 2
    for path in paths:
        try:
            pictures = figures(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            print(f"{path}: not a benchmark result document ({exc}); give a JSON file from benchmarks/results/",
                  file=sys.stderr)
            return 1
        written = write_figures(pictures, path)
        print("\n".join(str(p) for p in written) or f"{path}: no scenario here has a figure", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Latent arithmetic: the direction from one group's mean code to another's, added to images.

The groups are two classes of a labelled dataset (``--positive``/``--negative``), or the images with and
without a CelebA-style attribute (``--attributes FILE.csv --column Smiling``; rows are matched to the
image folder's file names by the CSV's first column, values > 0 mean the attribute is present). The
direction is normalised to unit length, so the factors -4..4 are distances in latent units; it is added
to images of the negative group, which factor 0 reconstructs. Codes of any latent shape are moved as
flat vectors; a conditional model decodes each row with its image's own label.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from genkit.evaluation import data as evaldata
from genkit.plots.context import PlotContext, PlotOptionError
from genkit.plots.figure import mosaic, new_figure, show, suptitle
from genkit.plots.latent import DEFAULT_LIMIT

FACTORS = (-4, -3, -2, -1, 0, 1, 2, 3, 4)


def read_attribute(path: str, column: str, names: list[str]) -> np.ndarray:
    """A boolean per file name: whether the CSV's ``column`` is positive for it."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise PlotOptionError(f"--attributes {path}: cannot read it ({exc.strerror or exc})") from None
    if len(rows) < 2:
        raise PlotOptionError(f"--attributes {path}: expected a header row and one row per image")
    header = [h.strip() for h in rows[0]]
    if column not in header[1:]:
        raise PlotOptionError(f"--column {column!r} is not a column of {path}; columns: {', '.join(header[1:])}")
    k = header.index(column)
    table = {}
    for number, row in enumerate(rows[1:], 2):
        if len(row) <= k:
            continue
        try:
            table[Path(row[0].strip()).name] = float(row[k]) > 0
        except ValueError:
            raise PlotOptionError(f"--attributes {path} line {number}: {column} is {row[k]!r}, not a number") from None
    found = [table.get(name) for name in names]
    if not any(v is not None for v in found):
        raise PlotOptionError(f"--attributes {path}: none of its rows names an image of the split "
                              f"(first column must hold file names such as {names[0]!r})")
    return np.array([v if v is not None else np.nan for v in found], dtype=np.float64)


def groups(context: PlotContext, limit: int) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Boolean masks over the first ``limit`` images for the positive and negative group, and their names."""
    attributes, column = context.get("attributes"), context.get("column")
    if attributes or column:
        if not (attributes and column):
            raise PlotOptionError("--attributes and --column go together: the CSV file and the attribute column")
        if context.get("positive") is not None or context.get("negative") is not None:
            raise PlotOptionError("--positive/--negative choose classes; with --attributes use --column alone")
        names = evaldata.file_names(context.split.limit(limit))
        if names is None:
            raise PlotOptionError("--attributes needs an image-folder dataset (--data folder:PATH), whose file "
                                  "names the CSV rows refer to")
        present = read_attribute(attributes, column, names)
        return present == 1, present == 0, column, f"not {column}"
    if context.get("positive") is None or context.get("negative") is None:
        raise PlotOptionError("--positive and --negative name the two classes (index or name), or use "
                              "--attributes FILE.csv --column NAME")
    positive = context.class_index("--positive", context.get("positive"))
    negative = context.class_index("--negative", context.get("negative"))
    if positive == negative:
        raise PlotOptionError("--positive and --negative must be different classes")
    _, labels = context.encoded(limit)
    names = context.class_names or []
    return labels == positive, labels == negative, names[positive], names[negative]


def attribute(context: PlotContext):
    limit = context.get("limit", DEFAULT_LIMIT)
    codes, labels = context.encoded(limit)
    positive, negative, pos_name, neg_name = groups(context, limit)
    for mask, option, name in ((positive, "--positive", pos_name), (negative, "--negative", neg_name)):
        if not mask.any():
            raise PlotOptionError(f"{option}: no image among the first {len(codes)} of the {context.split_name} "
                                  f"split is {name!r}; raise --limit")
    direction = codes[positive].mean(axis=0) - codes[negative].mean(axis=0)
    distance = float(np.linalg.norm(direction))
    unit = direction / max(distance, 1e-12)
    chosen = np.flatnonzero(negative)[:context.get("count", 5)]
    base = codes[chosen]
    shape = (len(chosen), *context.source.latent_shape)
    own = None if labels is None else labels[chosen]
    decoded = np.stack([context.source.decode((base + f * unit).astype(np.float32).reshape(shape), own)
                        for f in FACTORS], axis=1)
    count = len(chosen)
    figure = new_figure(1.0 * len(FACTORS) + 1.2, 1.0 * count + 1.2)
    ax = figure.subplots()
    tiled = mosaic(decoded.reshape(count * len(FACTORS), *decoded.shape[2:]), count, len(FACTORS))
    show(ax, tiled)
    step_x, step_y = (tiled.shape[2] + 1) / len(FACTORS), (tiled.shape[1] + 1) / count
    ax.set_xticks([(c + 0.5) * step_x for c in range(len(FACTORS))], [f"{f:+d}" for f in FACTORS], fontsize=8)
    ax.set_yticks([(r + 0.5) * step_y for r in range(count)], [f"image {int(i)}" for i in chosen], fontsize=7)
    ax.set_xlabel("factor along the direction (0: the image's own code)", fontsize=8)
    suptitle(figure, f"{context.recipe_title()}: codes of {neg_name!r} images moved along the unit direction "
                    f"from mean({neg_name}) to mean({pos_name}) (distance {distance:.2f}), factors -4..4",
                    fontsize=10)
    return figure

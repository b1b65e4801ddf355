"""The latent grid: images decoded at evenly spaced points over two latent dimensions.

For a Gaussian prior the points are its quantiles, Φ⁻¹(linspace(0.01, 0.99, n)) scaled by the prior, so
each cell covers the same prior probability (as in the book). An autoencoder's codes have no such prior
shape, so its grid spans the bounding box of the encoded test codes, and so does a model whose prior is
no diagonal Gaussian. Every other dimension stays at the prior's mean (the test codes' mean when the
prior has no single mean).

The grid walks two dimensions of a flat latent; a spatial latent (D, h, w) is refused in one line. A
conditional model decodes the whole grid with one label (``--label``, class 0 by default).
"""

from __future__ import annotations

import numpy as np

from genkit.evaluation.normal import normal_ppf
from genkit.plots.context import PlotContext, PlotOptionError
from genkit.plots.figure import mosaic, new_figure, suptitle
from genkit.plots.latent import DEFAULT_LIMIT

QUANTILES = (0.01, 0.99)


def axis_values(context: PlotContext, dim: int, size: int) -> tuple[np.ndarray, str]:
    source = context.source
    # a generator-only model has no posterior to be Gaussian: its prior alone decides
    if source.fits_prior or not (source.is_gaussian or source.generator_only) or source.prior_mean is None:
        codes, _ = context.encoded(context.get("limit", DEFAULT_LIMIT))
        low, high = float(codes[:, dim].min()), float(codes[:, dim].max())
        return np.linspace(low, high, size), "the bounding box of the test codes"
    quantiles = normal_ppf(np.linspace(*QUANTILES, size))
    return source.prior_mean[dim] + source.prior_std[dim] * quantiles, "prior quantiles 1%..99%"


def latent_grid(context: PlotContext):
    source = context.source
    context.require_flat_latent("the latent grid", "a flat latent (z,) to walk two of its dimensions")
    if source.latent_numel < 2:
        raise PlotOptionError("--dims: a latent grid needs two latent dimensions; this model has one")
    i, j = context.dims()
    size = context.get("size", 20)
    label = context.label()
    xs, how = axis_values(context, i, size)
    ys, _ = axis_values(context, j, size)
    centre = source.prior_mean if source.prior_mean is not None else \
        context.encoded(context.get("limit", DEFAULT_LIMIT))[0].mean(axis=0)
    points = np.tile(np.asarray(centre, np.float32).reshape(-1), (size * size, 1))
    # rows run from the largest z[j] at the top to the smallest at the bottom, like a y axis
    for r, y in enumerate(ys[::-1]):
        for c, x in enumerate(xs):
            points[r * size + c, i], points[r * size + c, j] = x, y
    images = source.decode(points, None if label is None else np.full(len(points), label, np.int64))
    tiled = mosaic(images, size, size)
    figure = new_figure(9.0, 9.5)
    ax = figure.subplots()
    channels, height, width = tiled.shape
    pixels = tiled[0] if channels == 1 else tiled.transpose(1, 2, 0)
    ax.imshow(pixels, cmap="gray" if channels == 1 else None, vmin=0, vmax=1, interpolation="nearest")
    cell_w, cell_h = (width + 1) / size, (height + 1) / size
    ticks = list(range(0, size, max(1, size // 5)))
    ax.set_xticks([(t + 0.5) * cell_w for t in ticks], [f"{xs[t]:.2f}" for t in ticks], fontsize=8)
    ax.set_yticks([(t + 0.5) * cell_h for t in ticks], [f"{ys[::-1][t]:.2f}" for t in ticks], fontsize=8)
    ax.set_xlabel(f"z[{i}]")
    ax.set_ylabel(f"z[{j}]")
    at = "the prior mean" if source.prior_mean is not None else "the test codes' mean"
    others = "" if source.latent_numel == 2 else f"; other dimensions at {at}"
    condition = "" if label is None else f"; every image decoded with label {label} ({context.class_name(label)})"
    suptitle(figure, f"Latent grid of {context.recipe_title()}: {size}×{size} images decoded over z[{i}], z[{j}] "
                 f"at {how}{others}{condition}", fontsize=10)
    return figure

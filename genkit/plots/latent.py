"""Plots of where the encoder puts the data: scatter, CDF view and per-dimension histograms.

A VAE's codes should fill its N(0, I) prior: a round cloud, uniform after Φ, histograms that follow the
normal density. An autoencoder's codes need not, which is why sampling its prior goes wrong.

The scatter needs a flat latent (a spatial latent's positions are not dimensions to project); the CDF
view needs a diagonal Gaussian prior to standardise by. Both refuse anything else in one line. The
histograms work on flattened codes of any shape.
"""

from __future__ import annotations

import math

import numpy as np

from genkit.evaluation.normal import normal_cdf
from genkit.plots.context import LatentShapeError, PlotContext
from genkit.plots.figure import new_figure, suptitle

DEFAULT_LIMIT = 5000


def colour_map(count: int):
    from matplotlib import colormaps

    return colormaps["tab10" if count <= 10 else "tab20" if count <= 20 else "hsv"]


def scatter_by_label(ax, points: np.ndarray, labels: np.ndarray | None, names: list[str] | None,
                     size: float = 3.0) -> None:
    """Points coloured by class, with a legend naming the classes."""
    if labels is None or names is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, alpha=0.6, color="tab:blue", label="test images")
        return
    cmap = colour_map(len(names))
    for index, name in enumerate(names):
        chosen = labels == index
        if chosen.any():
            colour = cmap(index / max(len(names) - 1, 1)) if len(names) > 20 else cmap(index)
            ax.scatter(points[chosen, 0], points[chosen, 1], s=size, alpha=0.6, color=colour, label=name)


def _legend(ax) -> None:
    ax.legend(fontsize=7, markerscale=3, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def _plane(context: PlotContext, codes: np.ndarray):
    """A function mapping codes to 2-d points, and the axis labels: raw dims or principal components."""
    z = context.source.latent_numel
    if z == 1:
        jitter = np.random.default_rng(context.seed)
        return (lambda c: np.stack([c[:, 0], jitter.uniform(-0.5, 0.5, len(c))], axis=1)), ("z[0]", "jitter")
    if z == 2 or context.options.get("dims") is not None:
        i, j = context.dims()
        return (lambda c: c[:, [i, j]]), (f"z[{i}]", f"z[{j}]")
    centre = codes.mean(axis=0)
    _, singular, vt = np.linalg.svd(codes - centre, full_matrices=False)
    share = singular ** 2 / max(float((singular ** 2).sum()), 1e-12)
    return (lambda c: (c - centre) @ vt[:2].T), (f"PC 1 ({share[0]:.0%} of variance)",
                                                 f"PC 2 ({share[1]:.0%} of variance)")


def scatter(context: PlotContext):
    context.require_flat_latent("the latent scatter", "a flat latent (z,) to project onto a plane")
    codes, labels = context.encoded(context.get("limit", DEFAULT_LIMIT))
    project, (xlabel, ylabel) = _plane(context, codes)
    figure = new_figure(7.5, 6.0)
    ax = figure.subplots()
    scatter_by_label(ax, project(codes), labels, context.class_names)
    if context.get("prior", False):
        drawn = context.source.draw_prior(min(len(codes), 2000), context.seed)
        prior = project(drawn.reshape(len(drawn), -1))
        ax.scatter(prior[:, 0], prior[:, 1], s=12, marker="+", linewidths=0.8, color="black", alpha=0.6,
                   label="prior samples")
    _legend(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    suptitle(figure, f"Latent space of {context.recipe_title()}: codes of {len(codes)} {context.split_name} images "
                 f"(latent shape {context.source.latent_shape_text()})", fontsize=10)
    return figure


def cdf(context: PlotContext):
    source = context.source
    if source.prior_mean is None:
        raise LatentShapeError(f"the latent CDF view standardises codes by a diagonal Gaussian prior; this model's "
                               f"prior is a {source.prior_family}")
    codes, labels = context.encoded(context.get("limit", DEFAULT_LIMIT))
    i, j = context.dims() if source.latent_numel >= 2 else (0, 0)
    mean, std = source.prior_mean.reshape(-1), source.prior_std.reshape(-1)
    standard = (codes - mean) / np.where(std > 0, std, 1.0)
    uniform = normal_cdf(standard)
    figure = new_figure(12.0, 5.5)
    left, right = figure.subplots(1, 2)
    scatter_by_label(left, codes[:, [i, j]], labels, context.class_names)
    scatter_by_label(right, uniform[:, [i, j]], labels, context.class_names)
    left.set_xlabel(f"z[{i}]")
    left.set_ylabel(f"z[{j}]")
    left.set_title("codes z", fontsize=10)
    right.set_xlabel(f"Φ(z[{i}])")
    right.set_ylabel(f"Φ(z[{j}])")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.set_title("Φ(z), standardised by the prior: uniform if the codes follow it", fontsize=10)
    _legend(right)
    suptitle(figure, f"Latent codes of {len(codes)} {context.split_name} images by {context.recipe_title()} "
                    f"and their prior CDF values", fontsize=11)
    return figure


def histograms(context: PlotContext):
    codes, _ = context.encoded(context.get("limit", DEFAULT_LIMIT))
    k = min(context.get("k", 8), context.source.latent_numel)
    columns = min(k, 4)
    rows = math.ceil(k / columns)
    figure = new_figure(3.2 * columns, 2.6 * rows + 0.6)
    axes = figure.subplots(rows, columns, squeeze=False)
    grid = np.linspace(-4, 4, 200)
    density = np.exp(-grid ** 2 / 2) / math.sqrt(2 * math.pi)
    for d, ax in enumerate(axes.flat):
        if d >= k:
            ax.set_axis_off()
            continue
        values = codes[:, d]
        low, high = min(-4.0, float(values.min())), max(4.0, float(values.max()))
        ax.hist(values, bins=50, range=(low, high), density=True, color="tab:blue", alpha=0.7, label="codes")
        ax.plot(grid, density, color="black", linewidth=1.2, label="N(0, 1)")
        ax.set_title(f"z[{d}]: mean {values.mean():.2f}, std {values.std():.2f}", fontsize=9)
        ax.set_xlabel(f"z[{d}]", fontsize=8)
        ax.set_ylabel("density", fontsize=8)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    flattened = "" if context.source.flat_latent else f" (flattened from {context.source.latent_shape_text()})"
    suptitle(figure, f"Histograms of the first {k} latent dimensions{flattened} of {len(codes)} {context.split_name} "
                    f"codes by {context.recipe_title()}, against the N(0, 1) density", fontsize=10)
    return figure

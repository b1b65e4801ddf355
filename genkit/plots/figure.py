"""Matplotlib set up for files, not windows: the Agg backend, figures rendered to PNG bytes.

Figures are built with ``matplotlib.figure.Figure`` directly rather than through pyplot, so rendering
a report's dozen figures keeps no global figure registry alive and never touches a display. The Agg
backend is still selected before anything could import pyplot, unless the host program (a notebook)
already chose its own.
"""

from __future__ import annotations

import io
import sys

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

DPI = 100


def new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def as_display(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A (C, H, W) image in [0, 1] as what ``imshow`` takes, and the colour map it needs."""
    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if image.shape[0] == 1:
        return image[0], "gray"
    return image.transpose(1, 2, 0), None


def show(ax, image: np.ndarray, title: str | None = None, fontsize: int = 8) -> None:
    pixels, cmap = as_display(image)
    ax.imshow(pixels, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def mosaic(images: np.ndarray, rows: int, columns: int, padding: int = 1) -> np.ndarray:
    """(rows·columns, C, H, W) images tiled into one (C, H', W') image, separated by white lines."""
    count, c, h, w = images.shape
    out = np.ones((c, rows * (h + padding) - padding, columns * (w + padding) - padding), np.float32)
    for index in range(min(count, rows * columns)):
        r, col = divmod(index, columns)
        out[:, r * (h + padding):r * (h + padding) + h, col * (w + padding):col * (w + padding) + w] = images[index]
    return out


def suptitle(figure: Figure, text: str, fontsize: int = 10) -> None:
    """A figure title wrapped to the figure's width, so a long, self-explaining title is never cut off."""
    import textwrap

    width = max(30, int(figure.get_figwidth() * 120 / fontsize))
    figure.suptitle("\n".join(textwrap.wrap(text, width)), fontsize=fontsize)

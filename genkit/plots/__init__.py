"""The book's analysis figures, one registered kind each, rendered to PNG bytes.

``KINDS`` maps a kind's name to its drawing function (``"module:function"``, imported when drawn, so
listing kinds imports neither matplotlib nor torch), the options it reads and a one-line help. A
function takes a ``PlotContext`` and returns a matplotlib ``Figure``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from genkit import lazy


@dataclasses.dataclass(frozen=True)
class PlotKind:
    name: str
    target: str
    help: str
    options: tuple[str, ...] = ()
    runs_only: bool = False  # needs the training log, which an export does not carry


COMMON_OPTIONS = ("data", "split", "seed")

KINDS: dict[str, PlotKind] = {kind.name: kind for kind in (
    PlotKind("reconstructions", "genkit.plots.images:reconstructions",
             "test images (top row) above their reconstructions (bottom row)", ("count",)),
    PlotKind("samples", "genkit.plots.images:samples",
             "images decoded from latent points drawn from the prior (a conditional model: one row per class)",
             ("count",)),
    PlotKind("morph", "genkit.plots.images:morph",
             "a straight path in latent space between two test images, decoded", ("from_index", "to_index", "steps")),
    PlotKind("latent-scatter", "genkit.plots.latent:scatter",
             "encoded test images coloured by label (first two principal components above 2-d; flat latents)",
             ("limit", "dims", "prior")),
    PlotKind("latent-cdf", "genkit.plots.latent:cdf",
             "codes z and Φ(z) side by side: how uniformly the codes fill the prior (a diagonal Gaussian)",
             ("limit", "dims")),
    PlotKind("latent-histograms", "genkit.plots.latent:histograms",
             "histograms of the first k latent dimensions against the N(0, 1) density", ("limit", "k")),
    PlotKind("latent-grid", "genkit.plots.grid:latent_grid",
             "images decoded on a grid over two latent dimensions (prior quantiles; the codes' box for an AE; "
             "flat latents)", ("limit", "dims", "size", "label")),
    PlotKind("attribute", "genkit.plots.attribute:attribute",
             "a latent direction between two groups' mean codes, added to images at factors -4..4",
             ("limit", "count", "positive", "negative", "attributes", "column")),
    PlotKind("loss-curves", "genkit.plots.curves:loss_curves",
             "training and test loss terms per epoch from metrics.jsonl (run folders only)", (), runs_only=True),
)}


def draw(kind: str, context: Any):
    """Draw ``kind`` for ``context`` (a ``genkit.plots.context.PlotContext``) as a matplotlib Figure."""
    from genkit.errors import GenkitError

    entry = KINDS[kind]
    if entry.runs_only and context.source.kind != "run":
        raise GenkitError(f"plot kind {kind!r} needs a run folder's training log; {context.source.path} is an "
                          f"ONNX export: plot the run folder it was exported from")
    return lazy.resolve(entry.target)(context)


def render(kind: str, context: Any) -> bytes:
    """Draw ``kind`` and return the PNG file's bytes."""
    from genkit.plots.figure import png_bytes

    return png_bytes(draw(kind, context))

"""The book's analysis figures, one registered kind each, rendered to PNG bytes.

``KINDS`` maps a kind's name to its drawing function (``"module:function"``, imported when drawn, so
listing kinds imports neither matplotlib nor torch), the options it reads and a one-line help. A
function takes a ``PlotContext`` and returns a matplotlib ``Figure``. A kind that encodes real images
(``needs_encoder``) is refused in one line for a generator-only model, before any image is read.
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
    needs_encoder: bool = True  # encodes or reconstructs real images, which a generator-only model cannot


COMMON_OPTIONS = ("data", "split", "seed")

KINDS: dict[str, PlotKind] = {kind.name: kind for kind in (
    PlotKind("reconstructions", "genkit.plots.images:reconstructions",
             "test images (top row) above their reconstructions (bottom row)", ("count",)),
    PlotKind("samples", "genkit.plots.images:samples",
             "images decoded from latent points drawn from the prior (a conditional model: one row per class)",
             ("count",), needs_encoder=False),
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
    # the grid encodes only where the prior is no diagonal Gaussian to take quantiles of (the source refuses then)
    PlotKind("latent-grid", "genkit.plots.grid:latent_grid",
             "images decoded on a grid over two latent dimensions (prior quantiles; the codes' box for an AE; "
             "flat latents)", ("limit", "dims", "size", "label"), needs_encoder=False),
    PlotKind("attribute", "genkit.plots.attribute:attribute",
             "a latent direction between two groups' mean codes, added to images at factors -4..4",
             ("limit", "count", "positive", "negative", "attributes", "column")),
    PlotKind("loss-curves", "genkit.plots.curves:loss_curves",
             "training and test loss terms per epoch from metrics.jsonl (run folders only)", (), runs_only=True,
             needs_encoder=False),
)}


def draw(kind: str, context: Any):
    """Draw ``kind`` for ``context`` (a ``genkit.plots.context.PlotContext``) as a matplotlib Figure."""
    from genkit.errors import GenkitError

    entry = KINDS[kind]
    if entry.runs_only and context.source.kind != "run":
        raise GenkitError(f"plot kind {kind!r} needs a run folder's training log; {context.source.path} is an "
                          f"ONNX export: plot the run folder it was exported from")
    if entry.needs_encoder:
        context.source.require_encoder(f"draw plot kind {kind!r}, which encodes real images")
    return lazy.resolve(entry.target)(context)


def render(kind: str, context: Any) -> bytes:
    """Draw ``kind`` and return the PNG file's bytes."""
    from genkit.plots.figure import png_bytes

    return png_bytes(draw(kind, context))

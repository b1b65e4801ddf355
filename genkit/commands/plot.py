"""``genkit plot SOURCE KIND -o FILE.png``: one of the book's analysis figures of a run or an export."""

from __future__ import annotations

import click

from genkit.plots import COMMON_OPTIONS, KINDS

# The options of every kind; each kind reads only those it lists in genkit.plots.KINDS.
KIND_OPTIONS = ("count", "limit", "dims", "prior", "k", "from_index", "to_index", "steps", "size", "label",
                "positive", "negative", "attributes", "column")


def _kinds_help() -> str:
    lines = []
    for kind in KINDS.values():
        flags = ", ".join(_flag(name) for name in kind.options)
        lines.append(f"  {kind.name:<18} {kind.help}" + (f" [{flags}]" if flags else ""))
    return "\n".join(lines)


def _flag(name: str) -> str:
    return {"from_index": "--from", "to_index": "--to"}.get(name, "--" + name.replace("_", "-"))


@click.command("plot", epilog="\b\nKinds:\n" + _kinds_help())
@click.argument("source", metavar="SOURCE", type=click.Path(file_okay=False))
@click.argument("kind", metavar="KIND", type=click.Choice(sorted(KINDS)))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="PNG file to write (default: KIND.png).")
@click.option("--data", help="Dataset to draw images from (default: the one the model was trained on).")
@click.option("--split", default="test", show_default=True, help="Dataset split.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of prior draws.")
@click.option("--count", type=click.IntRange(1, 400), help="Images: reconstructions 10, samples 64, attribute 5.")
@click.option("--limit", type=click.IntRange(min=2), help="Test images encoded for latent plots (default 5000).")
@click.option("--dims", metavar="I,J", help="Two latent dimensions (default 0,1).")
@click.option("--prior", is_flag=True, default=None, help="latent-scatter: overlay points drawn from the prior.")
@click.option("--k", "k", type=click.IntRange(1, 64), help="latent-histograms: how many dimensions (default 8).")
@click.option("--from", "from_index", type=click.IntRange(min=0), help="morph: index of the first image (default 0).")
@click.option("--to", "to_index", type=click.IntRange(min=0), help="morph: index of the last image (default 1).")
@click.option("--steps", type=click.IntRange(2, 50), help="morph: interpolation steps (default 10).")
@click.option("--size", type=click.IntRange(2, 40), help="latent-grid: images per side (default 20).")
@click.option("--label", metavar="CLASS", help="latent-grid of a conditional model: the class (index or name) "
                                              "every image is decoded with (default 0).")
@click.option("--positive", metavar="CLASS", help="attribute: class (index or name) the direction points to.")
@click.option("--negative", metavar="CLASS", help="attribute: class (index or name) the direction points from.")
@click.option("--attributes", type=click.Path(dir_okay=False), help="attribute: CSV of per-image attributes.")
@click.option("--column", help="attribute: the CSV column of the attribute (e.g. Smiling).")
@click.pass_context
def plot_command(ctx, source, kind, out, data, split, seed, **options):
    """Draw the figure KIND of SOURCE (a run folder or an ONNX export folder) into a PNG file."""
    from pathlib import Path

    from genkit.evaluation.source import open_source
    from genkit.files import atomic
    from genkit.files.outputs import check_output, spec_path
    from genkit.plots import render
    from genkit.plots.context import PlotContext
    from genkit.runtime.source import source_kind

    entry = KINDS[kind]
    for name in KIND_OPTIONS:
        given = ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
        if given and name not in entry.options:
            accepted = ", ".join(_flag(n) for n in (*COMMON_OPTIONS, *entry.options))
            raise click.UsageError(f"{_flag(name)} does not apply to plot kind {kind!r} (it takes {accepted})")
    path = Path(out or f"{kind}.png")
    if path.suffix.lower() != ".png":
        raise click.BadParameter(f"{path} must be a .png file", param_hint="'-o' / '--out'")
    source_kind(source)  # a source that is no source is the first thing to say
    check_output(path, inputs=(source, options.get("attributes"), spec_path(data)), what="figure")
    context = PlotContext(open_source(source), data, split, seed, {k: v for k, v in options.items() if v is not None})
    png = render(kind, context)
    atomic.write_bytes(path, png)
    click.echo(str(path))

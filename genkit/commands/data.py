"""``genkit data download`` and ``genkit data info``."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("data")
def data_group() -> None:
    """Download and inspect datasets.

    Named datasets are looked for in $GENKIT_DATA/NAME/, then in the user cache
    ($XDG_CACHE_HOME/genkit/datasets/NAME/), then in /usr/share/datasets/NAME/.
    """


@data_group.command("download")
@click.argument("name")
@click.option("--force", is_flag=True, help="Download again even if verified files are already there.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Data root to write into (files go to DIR/NAME/; point GENKIT_DATA at DIR). "
                   "Default: the user cache.")
def download_command(name: str, force: bool, directory: Path | None) -> None:
    """Download dataset NAME (fashion-mnist, mnist) from its mirrors, verifying every file's checksum.

    GENKIT_DATA_MIRROR replaces the mirror list with one base URL.
    """
    from genkit.data.download import download
    from genkit.files.outputs import check_output

    if directory is not None:
        check_output(directory, what="data folder")
    folder = download(name, directory, force=force)
    click.echo(f"{name} is in {folder}")


@data_group.command("info")
@click.argument("spec", metavar="NAME")
@click.option("--recipe", help="Read the data as this recipe would (its input shape).")
@click.option("--shape", metavar="C,H,W", help="Read the data at this input shape, e.g. 3,64,64.")
def info_command(spec: str, recipe: str | None, shape: str | None) -> None:
    """Where dataset NAME (fashion-mnist, folder:PATH, ...) was found, its splits, shape, classes and checksum."""
    from genkit.contract.host import get_registry
    from genkit.data import load_dataset
    from genkit.data.dataset import format_shape

    registry = get_registry()
    input_shape = _parse_shape(shape) if shape else (registry.recipe(recipe).input_shape if recipe else None)
    dataset = load_dataset(spec, input_shape, registry)
    click.echo(f"dataset:  {dataset.name}")
    click.echo(f"location: {dataset.location or '(not on disk)'}")
    click.echo(f"shape:    {format_shape(dataset.image_shape)}")
    class_names = None
    for name in dataset.split_names:
        split = dataset.split(name)
        kind = "in memory" if split.in_memory else "read lazily"
        click.echo(f"{name + ':':<9} {len(split)} images ({kind})")
        class_names = class_names or split.class_names
    if class_names:
        click.echo(f"classes:  {len(class_names)}: {', '.join(class_names)}")
    else:
        click.echo("classes:  none (unlabelled)")
    click.echo(f"checksum: {dataset.checksum()}")


def _parse_shape(text: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.replace("x", ",").replace("×", ",").split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        raise click.BadParameter(f"expected C,H,W such as 3,64,64, got {text!r}", param_hint="--shape")
    return values  # type: ignore[return-value]

"""``genkit generate``, ``genkit reconstruct`` and ``genkit encode`` on a run folder or an export folder.

SOURCE is told apart by its files (``genkit.runtime.source``): an export folder runs on onnxruntime
and imports no torch (so ``generate`` works where torch is not installed), a run folder runs on torch.
Every output is computed before anything is written, and written atomically, so a failure never
leaves a half-written or clobbered file.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
import numpy as np

from genkit import atomic
from genkit.runtime.sessions import PROVIDERS


def model_options(command):
    """--provider and --threads, shared by the three commands."""
    command = click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
                           help="CPU threads (0: the runtime's default).")(command)
    return click.option("--provider", type=click.Choice(PROVIDERS), default="auto", show_default=True,
                        help="Export folder: onnxruntime's CUDA or CPU provider (auto: CUDA where it works). "
                             "Run folder: the torch device.")(command)


def image_options(command):
    """Where reconstruct and encode read images: a dataset split (default: the source's) or an .npy file."""
    for decorator in reversed((
        click.option("--data", help="Dataset (default: the one the source was trained on), e.g. fashion-mnist, "
                                    "npz:PATH, folder:PATH."),
        click.option("--split", default="test", show_default=True, help="Dataset split."),
        click.option("--images", "images_file", type=click.Path(dir_okay=False),
                     help="Read images from an .npy array (N, C, H, W), uint8 or floats in [0, 1], instead of a "
                          "dataset (needs no torch with an export folder)."),
    )):
        command = decorator(command)
    return command


def _open(source: str, provider: str, threads: int):
    from genkit.runtime.source import open_source

    return open_source(source, provider, threads)


def _check_outputs(outputs, source, images_file=None, data=None) -> None:
    """Refuse, before any work, an output that would overwrite what the command reads (see genkit.outputs)."""
    from genkit.outputs import check_output, spec_path
    from genkit.runtime.source import source_kind

    source_kind(source)  # a source that is no source is the first thing to say
    for path in outputs:
        if path:
            check_output(path, inputs=(source, images_file, spec_path(data)))


def _read_images(model, data, split, images_file, count):
    from genkit.commands.image_inputs import dataset_images, npy_images

    if images_file and data:
        raise click.UsageError("give either --images or --data, not both")
    if images_file:
        return npy_images(images_file, count)
    return dataset_images(model, data, split, count)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array, allow_pickle=False)


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _backend(model) -> str:
    return ", ".join(model.providers)


@click.command("generate")
@click.argument("source", type=click.Path())
@click.option("-n", "count", type=click.IntRange(min=1), default=64, show_default=True, help="Number of images.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the prior draw: the same seed gives the same images from a run and from its export.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="PNG grid to write.")
@click.option("--npy", type=click.Path(dir_okay=False), help="Also (or only) write the images as .npy (N, C, H, W).")
@click.option("--columns", type=click.IntRange(min=1), help="Grid columns (default: about the square root of -n).")
@model_options
def generate_command(source, count, seed, out, npy, columns, provider, threads):
    """Decode -n points drawn from SOURCE's prior into a PNG grid (and/or an .npy array).

    SOURCE is an export folder (onnxruntime, no torch needed) or a run folder (torch).
    """
    if not out and not npy:
        raise click.UsageError("name an output: -o grid.png and/or --npy samples.npy")
    _check_outputs((out, npy), source)
    model = _open(source, provider, threads)
    images = model.generate(count, seed=seed)
    if out:
        from genkit.images import save_grid

        save_grid(images, out, columns=columns)
    if npy:
        _save_npy(Path(npy), images)
    click.echo(f"generated {count} images with {_backend(model)}: {', '.join(p for p in (out, npy) if p)}")


@click.command("reconstruct")
@click.argument("source", type=click.Path())
@image_options
@click.option("-n", "count", type=click.IntRange(min=1), default=16, show_default=True,
              help="Number of images (the first ones of the split).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="PNG to write.")
@click.option("--columns", type=click.IntRange(min=1), help="Images per row (default: up to 8).")
@model_options
def reconstruct_command(source, data, split, images_file, count, out, columns, provider, threads):
    """Show images of a dataset split above their reconstructions by SOURCE.

    Rows come in pairs: a row of originals, then the row of their reconstructions.
    """
    from genkit.images import save_grid

    _check_outputs((out,), source, images_file, data)
    model = _open(source, provider, threads)
    images, _, described = _read_images(model, data, split, images_file, count)
    recon = model.reconstruct(images)
    columns = columns or min(len(images), 8)
    save_grid(pair_rows(images, recon, columns), out, columns=columns)
    click.echo(f"reconstructed {len(images)} images of {described} with {_backend(model)}: {out}")


def pair_rows(originals: np.ndarray, recon: np.ndarray, columns: int) -> np.ndarray:
    """Interleave rows: ``columns`` originals, then their reconstructions; a short last row is padded white."""
    rows = math.ceil(len(originals) / columns)
    pad = rows * columns - len(originals)
    blank = np.ones((pad, *originals.shape[1:]), np.float32)
    a = np.concatenate([originals, blank]).reshape(rows, columns, *originals.shape[1:])
    b = np.concatenate([recon, blank]).reshape(rows, columns, *originals.shape[1:])
    return np.stack([a, b], axis=1).reshape(-1, *originals.shape[1:])


@click.command("encode")
@click.argument("source", type=click.Path())
@image_options
@click.option("-n", "count", type=click.IntRange(min=1), help="Encode only the first N images.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True,
              help="codes.npy: the codes (N, z_dim), and the labels in codes.labels.npy when the data has them; "
                   "codes.npz: arrays 'codes', 'labels' and every encoder output by name.")
@model_options
def encode_command(source, data, split, images_file, count, out, provider, threads):
    """Encode a dataset split (or an .npy array) into SOURCE's deterministic latent codes.

    The code is the encoder output the sampler uses at inference (mu for a VAE, the code for an AE).
    """
    _check_outputs((out, labels_path(Path(out))), source, images_file, data)
    model = _open(source, provider, threads)
    images, labels, described = _read_images(model, data, split, images_file, count)
    params = model.encode(images)
    codes = params[model.code_name] if model.code_name else model.codes(images)
    out = Path(out)
    if out.suffix == ".npz":
        arrays = {"codes": codes, **params}
        if labels is not None:
            arrays["labels"] = labels
        _save_npz(out, arrays)
        written = [out]
    else:
        _save_npy(out, codes)
        written = [out]
        if labels is not None:
            written.append(labels_path(out))
            _save_npy(written[-1], labels)
    click.echo(f"encoded {len(images)} images of {described} with {_backend(model)}: "
               f"{', '.join(str(p) for p in written)}")


def labels_path(codes: Path) -> Path:
    """``codes.npy`` -> ``codes.labels.npy``."""
    stem = codes.name[:-4] if codes.name.endswith(".npy") else codes.name
    return codes.with_name(f"{stem}.labels.npy")


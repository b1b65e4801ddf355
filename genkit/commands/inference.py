"""``genkit generate``, ``genkit reconstruct`` and ``genkit encode`` on a run folder or an export folder.

SOURCE is told apart by its files (``genkit.runtime.source``): an export folder runs on onnxruntime
and imports no torch (so ``generate`` works where torch is not installed), a run folder runs on torch.
Every output is computed before anything is written, and written atomically, so a failure never
leaves a half-written or clobbered file.

A generator-only model (no encoder) generates; ``reconstruct`` and ``encode`` refuse it in one line
before reading any image or writing anything.

A conditional model (one that takes a class label) generates with ``--label N`` (every image of class
N) or ``--label all`` (one row per class); it encodes and reconstructs with the dataset's labels, or
``--label N`` for images that have none.
"""

from __future__ import annotations

import math
from pathlib import Path

import click
import numpy as np

from genkit.commands.precision_options import check_fits, describe_precision, runtime_precision_option
from genkit.errors import GenkitError
from genkit.export_contract import LATENT
from genkit.files import atomic
from genkit.runtime.sessions import PROVIDERS


def model_options(command):
    """--provider, --threads and --precision, shared by the three commands."""
    command = runtime_precision_option(command)
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


def _open(source: str, provider: str, threads: int, precision: str = "auto"):
    from genkit.runtime.source import open_source

    check_fits(source, precision)
    return open_source(source, provider, threads, precision=precision)


def _check_outputs(outputs, source, images_file=None, data=None) -> None:
    """Refuse, before any work, an output that would overwrite what the command reads (see genkit.files.outputs)."""
    from genkit.files.outputs import check_output, spec_path
    from genkit.runtime.source import source_kind

    source_kind(source)  # a source that is no source is the first thing to say
    for path in outputs:
        if path:
            check_output(path, inputs=(source, images_file, spec_path(data)))


def label_option(help: str):
    return click.option("--label", metavar="N" if "all" not in help else "N|all", help=help)


def _label(value: str | None, model, allow_all: bool) -> int | str | None:
    """``--label`` as a class number (or ``"all"``), checked against the model; None when not given."""
    from genkit.runtime.inputs import InputError

    if value is None:
        return None
    if not model.classes:
        raise GenkitError("this model is unconditional: it takes no --label")
    if allow_all and value == "all":
        return value
    try:
        label = int(value)
    except ValueError:
        raise InputError(f"--label must be a class number{' or all' if allow_all else ''}; got {value!r}") from None
    if not 0 <= label < model.classes:
        raise InputError(f"label {label} is out of range: this model's labels are 0 to {model.classes - 1}")
    return label


def _generation_labels(label, model, count: int, columns: int | None):
    """The labels of the images to generate, how many, and the grid's columns (``all``: a row per class)."""
    if label != "all":
        return label, count, columns
    per_class = columns or math.ceil(count / model.classes)
    return np.repeat(np.arange(model.classes, dtype=np.int64), per_class), per_class * model.classes, per_class


def _image_labels(label, model, data_labels, n: int):
    """The condition of images read for encode and reconstruct: --label, else the data's own labels."""
    if not model.classes:
        return None
    if label is not None:
        return label
    if data_labels is None:
        raise GenkitError(f"this model is conditional on a class label in [0, {model.classes}) and these images "
                          f"have no labels: give --label N")
    return data_labels[:n]


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
    return ", ".join(model.providers) + describe_precision(model)


@click.command("generate")
@click.argument("source", type=click.Path())
@click.option("-n", "count", type=click.IntRange(min=1), default=64, show_default=True, help="Number of images.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the prior draw: the same seed gives the same images from a run and from its export.")
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="PNG grid to write.")
@click.option("--npy", type=click.Path(dir_okay=False), help="Also (or only) write the images as .npy (N, C, H, W).")
@click.option("--columns", type=click.IntRange(min=1), help="Grid columns (default: about the square root of -n; "
                                                            "with --label all: -n / classes).")
@label_option("Conditional models: the class of every image, or 'all' for one row per class (-n spread over "
              "the rows, or --columns images each).")
@model_options
def generate_command(source, count, seed, out, npy, columns, label, provider, threads, precision):
    """Decode -n points drawn from SOURCE's prior into a PNG grid (and/or an .npy array).

    SOURCE is an export folder (onnxruntime, no torch needed) or a run folder (torch).
    """
    if not out and not npy:
        raise click.UsageError("name an output: -o grid.png and/or --npy samples.npy")
    _check_outputs((out, npy), source)
    model = _open(source, provider, threads, precision)
    labels, count, columns = _generation_labels(_label(label, model, allow_all=True), model, count, columns)
    images = model.generate(count, seed=seed, labels=labels)
    if out:
        from genkit.files.images import save_grid

        save_grid(images, out, columns=columns)
    if npy:
        _save_npy(Path(npy), images)
    which = "" if label is None else f" of class {label}" if label != "all" else f", a row per class ({model.classes})"
    click.echo(f"generated {count} images{which} with {_backend(model)}: {', '.join(p for p in (out, npy) if p)}")


@click.command("reconstruct")
@click.argument("source", type=click.Path())
@image_options
@click.option("-n", "count", type=click.IntRange(min=1), default=16, show_default=True,
              help="Number of images (the first ones of the split).")
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="PNG to write.")
@click.option("--columns", type=click.IntRange(min=1), help="Images per row (default: up to 8).")
@label_option("Conditional models: the class of every image (default: the dataset's labels).")
@model_options
def reconstruct_command(source, data, split, images_file, count, out, columns, label, provider, threads, precision):
    """Show images of a dataset split above their reconstructions by SOURCE.

    Rows come in pairs: a row of originals, then the row of their reconstructions.
    """
    from genkit.files.images import save_grid

    _check_outputs((out,), source, images_file, data)
    model = _open(source, provider, threads, precision)
    model.require_encoder("reconstruct images")  # a generator-only model: one line, before any image is read
    label = _label(label, model, allow_all=False)
    images, data_labels, described = _read_images(model, data, split, images_file, count)
    recon = model.reconstruct(images, _image_labels(label, model, data_labels, len(images)))
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
              help="codes.npy: the codes (N, *latent_shape), and the labels in codes.labels.npy when the data has "
                   "them; codes.npz: arrays 'codes', 'labels' and every encoder output by name.")
@label_option("Conditional models: the class of every image (default: the dataset's labels).")
@model_options
def encode_command(source, data, split, images_file, count, out, label, provider, threads, precision):
    """Encode a dataset split (or an .npy array) into SOURCE's deterministic latent codes.

    The code is the sampler's deterministic code of the encoder's outputs (mu for a VAE, the code for an
    AE, the nearest codebook entries for a vector quantiser), of shape (N, *latent_shape).
    """
    _check_outputs((out, labels_path(Path(out))), source, images_file, data)
    model = _open(source, provider, threads, precision)
    model.require_encoder("encode images")  # a generator-only model: one line, before any image is read
    label = _label(label, model, allow_all=False)
    images, labels, described = _read_images(model, data, split, images_file, count)
    params = model.encode(images, _image_labels(label, model, labels, len(images)))
    codes = params.pop(LATENT)  # the encoder graph's last output: the deterministic code
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


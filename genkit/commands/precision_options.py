"""``--precision`` and its companions: which graph variants ``genkit export`` writes and the other commands run.

Importing this module imports neither torch nor onnxruntime: ``--help`` stays fast, and the inference
commands keep working where torch is not installed.
"""

from __future__ import annotations

import math

import click

from genkit.runtime.variants import CHOICES, PRECISIONS

TOLERANCE_HELP = "2 %"  # genkit.onnx.variants.DEFAULT_TOLERANCE, stated here without importing onnx


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def export_precision_options(command):
    """--precision, --accept-loss, --calibration-images and the evaluation classifier's settings."""
    from genkit.commands.evaluate import classifier_options

    command = classifier_options(command)
    for decorator in reversed((
        click.option("--precision", type=click.Choice([*PRECISIONS, "all"]), default="fp32", show_default=True,
                     help="Also write reduced-precision variants beside the fp32 graphs: fp16 (float16 inside, "
                          "float32 inputs and outputs; for CUDA), int8 (static QDQ quantization calibrated on the "
                          "run's training images; for the CPU), or all. Each variant is checked against the torch "
                          "model on real test images and written only when its outputs are finite, (fp16) no "
                          "activation exceeds float16's range, and it worsens the reconstruction MSE and the "
                          f"Fréchet distance of generated images by at most {TOLERANCE_HELP} (a generator-only "
                          f"model, which reconstructs nothing: the Fréchet distance). A variant that "
                          "misses this is not written (one line says why; the exit status is 1, the fp32 graphs "
                          "are written)."),
        click.option("--accept-loss", type=click.FloatRange(min=0.0), callback=_finite, default=None,
                     help=f"Accept variants that worsen reconstruction MSE and Fréchet distance by up to this "
                          f"fraction (0.05: 5 %) instead of {TOLERANCE_HELP}. Non-finite outputs and float16 "
                          f"overflow are refused whatever it says."),
        click.option("--calibration-images", type=click.IntRange(min=1), default=512, show_default=True,
                     help="Training images int8 ranges are calibrated on, spread evenly over the train split."),
    )):
        command = decorator(command)
    return command


def variant_options(precision: str, accept_loss: float | None, calibration_images: int, classifier_epochs: int,
                    classifier_limit: int):
    """The ``VariantOptions`` these command-line values ask for."""
    from genkit.evaluation.classifier import ClassifierSettings
    from genkit.onnx.export_variants import VariantOptions

    classifier = ClassifierSettings(epochs=classifier_epochs, limit=classifier_limit)
    return VariantOptions.parse(precision, accept_loss, calibration=calibration_images, classifier=classifier)


def report_variants(stage, quiet: bool) -> int:
    """Print what was written and rejected; the exit status (1 when a variant asked for was not written)."""
    if stage is None:
        return 0
    if not quiet:
        for graph, written in stage.written.items():
            click.echo(f"{graph}: {', '.join(written)}", err=True)
    for line in stage.rejected:
        click.echo(f"Error: {line}", err=True)
    return 1 if stage.rejected else 0


def runtime_precision_option(command):
    """--precision for the commands that run an export folder (generate, reconstruct, encode, evaluate)."""
    return click.option("--precision", type=click.Choice(CHOICES), default="auto", show_default=True,
                        help="Export folder: which graph files run. auto: int8 on the CPU, fp16 on CUDA, where "
                             "`genkit export --precision` wrote them, else fp32 (the command says which it used); "
                             "an explicit precision missing from the folder is an error. A run folder runs in "
                             "torch (auto or fp32).")(command)


def check_fits(source: str, precision: str) -> None:
    """A run folder runs in torch: an explicit reduced precision for one is a usage error, not ignored."""
    from genkit.runtime.source import source_kind

    if precision not in ("auto", "fp32") and source_kind(source) == "run":
        raise click.UsageError(f"--precision {precision} chooses an export folder's graph files; {source} is a run "
                               f"folder, which runs in torch (export it with `genkit export --onnx RUN "
                               f"--precision {precision}`)")


def describe_precision(model) -> str:
    """`` (int8)`` or `` (encoder int8, decoder fp32)`` for an export, empty for a run folder."""
    chosen = getattr(model, "precisions", None)
    if not chosen:
        return ""
    from genkit.runtime.variants import describe

    return f" ({describe(chosen)})"

"""``genkit export --onnx RUN``: write and verify the graphs of a trained run (``genkit.export_contract``)."""

from __future__ import annotations

import math

import click

from genkit.commands.precision_options import export_precision_options, report_variants, variant_options
from genkit.export_contract import DEFAULT_OPSET, EXPORTERS  # the contract, not the exporter: --help imports no torch


def _finite(ctx: click.Context, param: click.Parameter, value: float) -> float:
    # FloatRange lets NaN through (it fails every comparison) and inf would accept any difference
    if not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


@click.command("export")
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False))
@click.option("--onnx", "to_onnx", is_flag=True, required=True,
              help="Export to ONNX (the only format so far; required so that others can be added).")
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Export folder (default: RUN/onnx).")
@click.option("--opset", type=click.IntRange(min=7), default=DEFAULT_OPSET, show_default=True,
              help="ONNX opset the graphs import (the dynamo exporter writes 18 and later); an opset no exporter "
                   "writes is an error.")
@click.option("--exporter", type=click.Choice(["auto", *EXPORTERS]), default="auto", show_default=True,
              help="auto: torch's dynamo exporter, falling back to the TorchScript one when it fails or mismatches.")
@click.option("--atol", type=click.FloatRange(min=0.0), default=1e-5, show_default=True, callback=_finite,
              help="Largest absolute difference from torch (float32) that verification accepts.")
@click.option("--quiet", is_flag=True, help="Print only the export folder.")
@export_precision_options
def export_command(run_dir, to_onnx, out, opset, exporter, atol, quiet, precision, accept_loss, calibration_images,
                   classifier_epochs, classifier_limit):
    """Export RUN to OUT/encoder.onnx and OUT/decoder.onnx (and OUT/prior.onnx for a network prior),
    verified against the torch model; a generator-only model (no encoder) exports OUT/decoder.onnx alone,
    verified on prior draws.

    The graphs are checked with onnx.checker and compared with onnxruntime (CPU) on real test images
    and latent points in batches of 1, 2, 7 and 256; an export that differs by more than --atol is not
    written, and an earlier export in OUT is replaced only by one that passed.
    """
    from genkit.onnx.export_run import export_run

    log = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    variants = variant_options(precision, accept_loss, calibration_images, classifier_epochs, classifier_limit)
    report = export_run(run_dir, out, opset=opset, exporter=exporter, atol=atol, log=log, variants=variants)
    if not report.real_data:
        click.echo(f"warning: verified on {report.data}", err=True)
    if not quiet:
        for graph, info in report.graphs.items():
            click.echo(f"{graph}.onnx: {info.exporter} exporter, max abs difference {info.max_abs_diff:.3g}", err=True)
        click.echo(f"exported in {report.seconds:.1f} s (opset {report.opset})", err=True)
    click.echo(str(report.out))
    status = report_variants(report.variants, quiet)  # a variant asked for and not written: status 1
    if status:
        raise SystemExit(status)

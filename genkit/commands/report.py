"""``genkit report SOURCE [SOURCE_B]``: the evaluation and all figures in one HTML page."""

from __future__ import annotations

import click

from genkit.commands.evaluate import classifier_options, likelihood_options, likelihood_settings, prior_option


@click.command("report")
@click.argument("source", metavar="SOURCE", type=click.Path(file_okay=False))
@click.argument("source_b", metavar="[SOURCE_B]", required=False, type=click.Path(file_okay=False))
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Folder for report.html (default: SOURCE/report).")
@click.option("--data", help="Dataset (default: the one each model was trained on).")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="Evaluate on the first N test images (0: all).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise and the prior draws.")
@prior_option()
@classifier_options
@likelihood_options
def report_command(source, source_b, out, data, limit, seed, prior, classifier_epochs, classifier_limit, nll_samples,
                   nll_images):
    """Write OUT/report.html: metrics and every applicable figure of SOURCE, self-contained.

    With SOURCE_B the two models stand side by side (the ablation view, e.g. `genkit report runs/vae
    runs/ae`), with a summary of which is better on each headline metric.
    """
    from genkit.evaluation.classifier import ClassifierSettings
    from genkit.plots.report import build_report

    if limit == 1:
        raise click.BadParameter("evaluation needs at least two images", param_hint="'--limit'")
    paths = [source] + ([source_b] if source_b else [])
    settings = ClassifierSettings(epochs=classifier_epochs, limit=classifier_limit)
    path = build_report(paths, out, data=data, limit=limit, seed=seed, classifier=settings, prior=prior,
                        log=lambda line: click.echo(line, err=True), nll=likelihood_settings(nll_samples, nll_images))
    click.echo(str(path))

"""``genkit evaluate SOURCE``: loss terms, reconstruction, latent diagnostics and generation quality."""

from __future__ import annotations

import click


def classifier_options(function):
    """The feature classifier's training size: one shared pair of options for evaluate and report."""
    function = click.option("--classifier-epochs", type=click.IntRange(min=1), default=3, show_default=True,
                            envvar="GENKIT_CLASSIFIER_EPOCHS",
                            help="Epochs the feature classifier trains (once per dataset; then cached).")(function)
    return click.option("--classifier-limit", type=click.IntRange(min=0), default=0, envvar="GENKIT_CLASSIFIER_LIMIT",
                        help="Train the feature classifier on the first N training images (0: all).")(function)


def prior_option(multiple: bool = False):
    """The sampling rule of the generation metrics; shared by evaluate (repeatable) and report."""
    from genkit.evaluation.priors import PRIORS

    more = (" Repeat it to score several rules in one pass; the first is the headline, the others follow it."
            if multiple else "")
    return click.option("--prior", type=click.Choice(PRIORS), multiple=multiple,
                        default=("model",) if multiple else "model", show_default=True,
                        help="Where generated images' codes come from: the model's own prior, N(0, I), or "
                             "uniform over the training codes' bounding box (the book's AE sampling)." + more)


@click.command("evaluate")
@click.argument("source", metavar="SOURCE", type=click.Path(file_okay=False))
@click.option("--data", help="Dataset (default: the one the model was trained on).")
@click.option("--split", default="test", show_default=True, help="Dataset split to evaluate on.")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="Evaluate on the first N images (0: all).")
@click.option("--samples", type=click.IntRange(min=0), default=0,
              help="Images decoded from the prior for the generation metrics (0: as many as evaluated).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise and the prior draws.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@prior_option(multiple=True)
@classifier_options
def evaluate_command(source, data, split, limit, samples, seed, as_json, prior, classifier_epochs, classifier_limit):
    """Evaluate SOURCE (a run folder or an ONNX export folder) on a dataset split.

    \b
    Reports every loss term (mean and std over images, and per class), the reconstruction MSE and PSNR,
    for Gaussian samplers the KL per latent dimension and the active dimensions, and the generation
    quality: the Fréchet distance between classifier features of images decoded from the prior and of
    real images, split into the decoder's floor (reconstructions against real images) and the prior's
    own gap (samples against reconstructions, with precision and recall on their manifold), and the
    classifier's confidence and class coverage. The classifier is trained on the dataset the first
    time (progress on stderr) and cached in ~/.cache/genkit/classifiers/.
    """
    import json

    from genkit.evaluation.classifier import ClassifierSettings
    from genkit.evaluation.metrics import evaluate
    from genkit.evaluation.source import open_source
    from genkit.evaluation.table import format_table

    if limit == 1:
        raise click.BadParameter("evaluation needs at least two images", param_hint="'--limit'")
    settings = ClassifierSettings(epochs=classifier_epochs, limit=classifier_limit)
    log = lambda line: click.echo(line, err=True)  # noqa: E731
    result = evaluate(open_source(source), data=data, split=split, limit=limit, seed=seed, samples=samples,
                      classifier=settings, log=log, prior=prior[0], other_priors=prior[1:])
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))

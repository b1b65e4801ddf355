"""``genkit evaluate SOURCE``: loss terms, reconstruction, latent diagnostics and generation quality."""

from __future__ import annotations

import click

from genkit.commands.precision_options import check_fits, describe_precision, runtime_precision_option


def classifier_options(function):
    """The feature classifier's training size: one shared pair of options for evaluate and report."""
    function = click.option("--classifier-epochs", type=click.IntRange(min=1), default=3, show_default=True,
                            envvar="GENKIT_CLASSIFIER_EPOCHS",
                            help="Epochs the feature classifier trains (once per dataset; then cached).")(function)
    return click.option("--classifier-limit", type=click.IntRange(min=0), default=0, envvar="GENKIT_CLASSIFIER_LIMIT",
                        help="Train the feature classifier on the first N training images (0: all).")(function)


# genkit.evaluation.likelihood's defaults, stated here so that --help imports neither numpy nor torch
NLL_SAMPLES, NLL_IMAGES = 50, 2000


def likelihood_options(function):
    """The importance sampling of the likelihood: one shared pair of options for evaluate and report."""
    function = click.option("--nll-samples", type=click.IntRange(min=0), default=NLL_SAMPLES, show_default=True,
                            envvar="GENKIT_NLL_SAMPLES",
                            help="Importance samples K per image for the negative log-likelihood (the IWAE bound "
                                 "L_K; papers use 1000-5000; 0: no likelihood). Each costs one decode per "
                                 "image.")(function)
    return click.option("--nll-images", type=click.IntRange(min=0), default=NLL_IMAGES, show_default=True,
                        envvar="GENKIT_NLL_IMAGES",
                        help="Estimate the likelihood on the first N evaluated images (0: all of them).")(function)


def likelihood_settings(samples: int, images: int):
    from genkit.evaluation.likelihood import LikelihoodSettings

    return LikelihoodSettings(samples=samples, images=images)


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
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the noise and the prior draws (the loss terms' noise: the run's training seed plus "
                   "this).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@prior_option(multiple=True)
@classifier_options
@likelihood_options
@runtime_precision_option
def evaluate_command(source, data, split, limit, samples, seed, as_json, prior, classifier_epochs, classifier_limit,
                     nll_samples, nll_images, precision):
    """Evaluate SOURCE (a run folder or an ONNX export folder) on a dataset split.

    \b
    Reports every loss term, scored as the trainer scores its test split (its batches and noise: the
    same weights give the test scores of metrics.jsonl; mean and std over images, and per class, or
    per batch for a term that is a statistic of the batch, Loss.batch_terms), the reconstruction MSE
    and PSNR, for Gaussian samplers the KL per latent dimension and the active dimensions, and the
    generation quality: the Fréchet distance between classifier features of images decoded from the
    prior and of real images, split into the decoder's floor (reconstructions
    against real images) and the prior's own gap (samples against reconstructions, with precision and
    recall on their manifold), and the classifier's confidence and class coverage, each distance also
    as KID. The classifier is trained on the dataset the first time (progress on stderr) and cached
    in $XDG_CACHE_HOME/genkit/classifiers/ (~/.cache/genkit/classifiers/ when XDG_CACHE_HOME is unset).

    \b
    For a model with a density (a posterior q(z|x), a decoder likelihood and a prior density:
    Sampler.log_posterior, Loss.log_likelihood and prior().log_prob, called with the shapes
    docs/plugins.md gives): the negative log-likelihood by importance sampling with the encoder as
    proposal (nats per image and bits per dimension, with the ELBO and the IWAE bounds at K = 5 and
    50), and the mutual information and total correlation of the aggregate posterior. A model without
    one says so in one line.

    \b
    A generator-only model (no encoder) gets the generation metrics, with precision and recall against
    the real images, and (from a run folder) the loss terms of each of its players, scored per batch as
    the trainer scores them; reconstruction, the latent diagnostics and the likelihood need an encoder
    and say so in one line each.
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
    check_fits(source, precision)
    scored = open_source(source, precision=precision)
    result = evaluate(scored, data=data, split=split, limit=limit, seed=seed, samples=samples,
                      classifier=settings, log=log, prior=prior[0], other_priors=prior[1:],
                      nll=likelihood_settings(nll_samples, nll_images))
    if describe_precision(scored.backend):  # an export: which graph files were scored
        log(f"scored {source}{describe_precision(scored.backend)}")
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))

"""``evaluate``: every metric of one source on one dataset split, as one JSON-able dictionary.

The loss terms are scored as the trainer scores its test split (``split_terms``: its batches, its
noise, terms that are statistics of a batch reported per batch). One pass over the split gathers each
image's deterministic reconstruction error, its posterior parameters and the classifier's view of it;
then N latent points drawn from the prior are decoded and scored against the real images. The same
``seed`` gives the same numbers for a run folder and for its export.

A model whose sampler, loss and prior define a density (``genkit.evaluation.density``) also gets the
importance-sampled negative log-likelihood with the ELBO and IWAE bounds (``likelihood``, a second pass
over the first images of the split) and the mutual information and total correlation of its aggregate
posterior (``aggregate``); a model without one gets one line saying which member is missing.

A generator-only model (no encoder) is scored on what it generates: the generation metrics against the
real images (precision and recall against them, there being no reconstructions), its loss terms by the
run's own model (``generator_terms``), and the sections that need an encoder with the reason instead
of numbers (``no_encoder``).

Codes of any latent shape are flattened to (N, prod(latent_shape)) for the per-dimension measures
(KL per dimension, active units). A conditional model is encoded and reconstructed with the split's
own labels, and generates with labels cycling over its classes (``generation.condition`` says so),
so the class histogram of its samples is near uniform by construction.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from genkit.errors import DataError, GenkitError
from genkit.evaluation.aggregate import AGGREGATE_IMAGES, aggregate_statistics
from genkit.evaluation.classifier import ClassifierSettings
from genkit.evaluation.data import BATCH_SIZE, class_names, dataset_name, open_dataset, walk
from genkit.evaluation.density import density_of
from genkit.evaluation.generation import generation_metrics
from genkit.evaluation.generator_terms import generator_terms
from genkit.evaluation.latent import latent_statistics
from genkit.evaluation.likelihood import LikelihoodSettings, likelihood
from genkit.evaluation.likelihood import check_fits as check_likelihood_fits
from genkit.evaluation.no_encoder import encoder_sections
from genkit.evaluation.priors import check_prior, prior_rule
from genkit.evaluation.reconstruction import mean_std, per_class, per_image_mse, psnr
from genkit.evaluation.source import Source
from genkit.evaluation.split_terms import split_terms


def evaluate(source: Source, data: str | None = None, split: str = "test", limit: int = 0, seed: int = 0,
             samples: int = 0, classifier: ClassifierSettings | None = None,
             log: Callable[[str], None] | None = None, prior: str = "model",
             other_priors: Sequence[str] = (), nll: LikelihoodSettings | None = None) -> dict[str, Any]:
    """All metrics of ``source`` on ``split`` (its first ``limit`` images when > 0).

    ``samples`` images are decoded from the prior for the generation metrics (0: as many as the split
    has images). ``classifier`` sets how the feature classifier is trained the first time. ``prior``
    names the sampling rule of the generation metrics (``genkit.evaluation.priors``); each of
    ``other_priors`` is scored as well, against the same real and reconstructed features, under
    ``generation_by_prior``, so comparing sampling rules costs one pass over the split.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    rules = list(dict.fromkeys([prior, *other_priors]))
    for name in rules:
        check_prior(name, source)  # before minutes of work, not after
    dataset = open_dataset(source, data)
    chosen = dataset.split(split)
    if limit:
        chosen = chosen.limit(limit)
    if len(chosen) < 2:
        raise DataError(f"evaluation needs at least two images; the {split} split has {len(chosen)}")
    check_likelihood_fits(nll or LikelihoodSettings(), len(chosen))  # before minutes of work, not after
    names = class_names(chosen)
    if source.conditional and chosen.labels is None:
        raise DataError(f"{source.recipe} is conditional on class labels, and the {split} split of "
                        f"{dataset_name(source, data)} has none: evaluate it on a labelled dataset (--data)")
    judge, judge_note = _classifier(dataset, classifier, log)
    workers = int(source.config.data.workers)

    from genkit.progress import Progress

    progress = Progress(-(-len(chosen) // BATCH_SIZE), f"evaluating {source.path.name}")
    mse, labels, mus, log_vars, features, probabilities, recon_features = [], [], [], [], [], [], []
    posterior_means, density, encoding = [], None, not source.generator_only
    for step, (x, y) in enumerate(walk(chosen, BATCH_SIZE, workers), 1):
        progress.update(step)
        if not encoding:  # a generator-only model: the real images' features alone
            if judge is not None:
                f, p = judge.features_and_probabilities(x)
                features.append(f)
                probabilities.append(p)
            continue
        params = source.encode(x, y)
        if density is None:
            density = density_of(source, x, y, params)
        codes = source.codes(x, y)
        x_hat = source.decode(codes, y)
        mse.append(per_image_mse(x, x_hat))
        mus.append(flat(codes))
        if source.is_gaussian:
            log_vars.append(flat(params["log_var"]))
            posterior_means.append(flat(params["mu"]))
        if y is not None:
            labels.append(y)
        if judge is not None:
            f, p = judge.features_and_probabilities(x)
            features.append(f)
            probabilities.append(p)
            recon_features.append(judge.features_and_probabilities(x_hat)[0])
    progress.close()
    scored = split_terms(source, chosen, seed, workers) if encoding else generator_terms(source, chosen, seed, workers)
    result: dict[str, Any] = {
        "source": {"path": str(source.path), "kind": source.kind, "recipe": source.recipe,
                   "sampler": source.sampler_name, "latent_shape": list(source.latent_shape),
                   "classes": source.classes, "prior": source.prior_family, "generator_only": not encoding},
        "data": {"name": dataset_name(source, data), "split": split, "images": len(chosen)},
        "seed": seed,
        "loss": scored["loss"],
        "loss_note": scored["note"],
        "loss_scoring": scored["scoring"],
    }
    if encoding:
        mse_all = np.concatenate(mse)
        label_all = np.concatenate(labels) if labels else None
        result["loss_per_class"] = per_class(scored["per_image"], mse_all, label_all, names)
        result["reconstruction"] = {"mse": mean_std(mse_all), "psnr": mean_std(psnr(mse_all))}
        result["latent"] = latent_statistics(source, np.concatenate(mus),
                                             np.concatenate(log_vars) if log_vars else None)
        posterior = (np.concatenate(posterior_means)[:AGGREGATE_IMAGES],
                     np.concatenate(log_vars)[:AGGREGATE_IMAGES]) if log_vars else (None, None)
        result["latent"]["aggregate"] = aggregate_statistics(source, density, *posterior, seed=seed)
        result["likelihood"] = likelihood(source, chosen, nll or LikelihoodSettings(), seed, workers, log=log)
    else:
        result.update(encoder_sections(source, len(chosen), nll))
    count = samples or len(chosen)
    condition = generation_condition(source)
    if judge is None:
        result["generation"] = {"frechet_distance": None, "samples": count, "note": judge_note, "prior": prior,
                                "condition": condition}
    else:
        real = np.concatenate(features), np.concatenate(probabilities)
        recon_f = np.concatenate(recon_features) if recon_features else None  # none without an encoder
        by_prior = {}
        for name in rules:
            fake = _generated_features(source, judge, count, seed, prior_rule(name, source, dataset, workers))
            by_prior[name] = {**generation_metrics(*real, *fake, recon_f, seed=seed), "note": None, "prior": name,
                              "condition": condition}
        result["generation"] = by_prior.pop(prior)
        if by_prior:
            result["generation_by_prior"] = by_prior
    result["classifier"] = _classifier_summary(judge, judge_note)
    _check_finite(result)
    return result


def _classifier(dataset, settings: ClassifierSettings | None, log):
    from genkit.evaluation.classifier import get_classifier

    try:
        return get_classifier(dataset, settings or ClassifierSettings(), log), None
    except DataError as exc:
        return None, str(exc)


def _classifier_summary(judge, note: str | None) -> dict[str, Any]:
    """The feature extractor of every generation distance, named so no figure passes for Inception FID/KID."""
    from genkit.evaluation.classifier import FEATURE_EXTRACTOR

    if judge is None:
        return {"feature_extractor": FEATURE_EXTRACTOR, "accuracy": None, "cached": None, "path": None,
                "train_images": None, "epochs": None, "note": note}
    info = judge.info
    return {"feature_extractor": FEATURE_EXTRACTOR, "accuracy": info["accuracy"], "cached": info["cached"],
            "path": info["path"], "train_images": info["train_images"], "epochs": info["epochs"], "note": None}


def flat(codes: np.ndarray) -> np.ndarray:
    """Latent points (N, *latent_shape) as (N, prod(latent_shape)): the per-dimension measures' view."""
    return np.asarray(codes).reshape(len(codes), -1)


def generation_condition(source: Source) -> dict[str, Any] | None:
    """How generated images were conditioned: labels cycling over the classes, or None (unconditional)."""
    return {"classes": source.classes, "labels": "cycled"} if source.conditional else None


def _generated_features(source: Source, judge, count: int, seed: int, prior) -> tuple[np.ndarray, np.ndarray]:
    z = prior(count, seed)
    labels = source.generation_labels(count)
    features, probabilities = [], []
    for start in range(0, count, BATCH_SIZE):
        chunk = slice(start, start + BATCH_SIZE)
        images = source.decode(z[chunk], None if labels is None else labels[chunk])
        f, p = judge.features_and_probabilities(images)
        features.append(f)
        probabilities.append(p)
    return np.concatenate(features), np.concatenate(probabilities)


def _check_finite(value: Any, where: str = "") -> None:
    """A NaN or infinity in a report means a broken model; say which metric rather than print 'nan'."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for item in value:
            _check_finite(item, where)
    elif isinstance(value, float) and not math.isfinite(value):
        raise GenkitError(f"evaluation produced {value} for {where}: the model's outputs are not finite")

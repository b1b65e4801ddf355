"""``evaluate``: every metric of one source on one dataset split, as one JSON-able dictionary.

One pass over the split gathers each image's loss terms (with host-drawn noise), its deterministic
reconstruction error, its posterior parameters and the classifier's view of it; then N latent points
drawn from the prior are decoded and scored against the real images. The same ``seed`` gives the same
numbers for a run folder and for its export.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from genkit.errors import DataError, GenkitError
from genkit.evaluation.classifier import ClassifierSettings
from genkit.evaluation.data import BATCH_SIZE, class_names, dataset_name, open_dataset, walk
from genkit.evaluation.generation import generation_metrics
from genkit.evaluation.latent import latent_statistics
from genkit.evaluation.priors import check_prior, prior_rule
from genkit.evaluation.reconstruction import mean_std, per_class, per_image_mse, psnr
from genkit.evaluation.source import Source


def evaluate(source: Source, data: str | None = None, split: str = "test", limit: int = 0, seed: int = 0,
             samples: int = 0, classifier: ClassifierSettings | None = None,
             log: Callable[[str], None] | None = None, prior: str = "model",
             other_priors: Sequence[str] = ()) -> dict[str, Any]:
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
        check_prior(name)  # before minutes of work, not after
    dataset = open_dataset(source, data)
    chosen = dataset.split(split)
    if limit:
        chosen = chosen.limit(limit)
    if len(chosen) < 2:
        raise DataError(f"evaluation needs at least two images; the {split} split has {len(chosen)}")
    names = class_names(chosen)
    judge, judge_note = _classifier(dataset, classifier, log)
    workers = int(source.config.get("data", {}).get("workers", 0))

    from genkit.progress import Progress

    generator = source.noise_generator(seed)
    progress = Progress(-(-len(chosen) // BATCH_SIZE), f"evaluating {source.path.name}")
    terms: dict[str, list[np.ndarray]] = {t: [] for t in source.loss_terms}
    mse, labels, mus, log_vars, features, probabilities, recon_features = [], [], [], [], [], [], []
    for step, (x, y) in enumerate(walk(chosen, BATCH_SIZE, workers), 1):
        progress.update(step)
        params = source.encode(x)
        codes = source.codes(x, params)
        x_hat = source.decode(codes)
        mse.append(per_image_mse(x, x_hat))
        for name, values in source.per_image_terms(x, generator, params).items():
            terms[name].append(values)
        mus.append(codes)
        if source.is_gaussian:
            log_vars.append(params["log_var"])
        if y is not None:
            labels.append(y)
        if judge is not None:
            f, p = judge.features_and_probabilities(x)
            features.append(f)
            probabilities.append(p)
            recon_features.append(judge.features_and_probabilities(x_hat)[0])
    progress.close()
    per_image = {name: np.concatenate(parts) for name, parts in terms.items()}
    mse_all = np.concatenate(mse)
    label_all = np.concatenate(labels) if labels else None

    result: dict[str, Any] = {
        "source": {"path": str(source.path), "kind": source.kind, "recipe": source.recipe,
                   "sampler": source.sampler_name, "z_dim": source.z_dim},
        "data": {"name": dataset_name(source, data), "split": split, "images": len(mse_all)},
        "seed": seed,
        "loss": {name: mean_std(values) for name, values in per_image.items()},
        "loss_per_class": per_class(per_image, mse_all, label_all, names),
        "reconstruction": {"mse": mean_std(mse_all), "psnr": mean_std(psnr(mse_all))},
        "latent": latent_statistics(source, np.concatenate(mus), np.concatenate(log_vars) if log_vars else None),
    }
    count = samples or len(mse_all)
    if judge is None:
        result["generation"] = {"frechet_distance": None, "samples": count, "note": judge_note, "prior": prior}
    else:
        real = np.concatenate(features), np.concatenate(probabilities)
        recon_f = np.concatenate(recon_features)
        by_prior = {}
        for name in rules:
            fake = _generated_features(source, judge, count, seed, prior_rule(name, source, dataset, workers))
            by_prior[name] = {**generation_metrics(*real, *fake, recon_f), "note": None, "prior": name}
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
    if judge is None:
        return {"accuracy": None, "cached": None, "path": None, "train_images": None, "epochs": None, "note": note}
    info = judge.info
    return {"accuracy": info["accuracy"], "cached": info["cached"], "path": info["path"],
            "train_images": info["train_images"], "epochs": info["epochs"], "note": None}


def _generated_features(source: Source, judge, count: int, seed: int, prior) -> tuple[np.ndarray, np.ndarray]:
    z = prior(count, seed)
    features, probabilities = [], []
    for start in range(0, count, BATCH_SIZE):
        f, p = judge.features_and_probabilities(source.decode(z[start:start + BATCH_SIZE]))
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

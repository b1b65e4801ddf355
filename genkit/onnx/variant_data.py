"""The data fp16 and int8 variants are calibrated and checked on: the run's own dataset, never noise.

- **Calibration**: ``calibration`` training images spread evenly over the train split (int8 ranges
  must cover what the model sees; the first images of a sorted split would not). The decoder is
  calibrated on their codes and on as many prior draws, since it decodes both.
- **Checks**: up to ``check_images`` images of the test split, and ``samples`` prior draws for the
  Fréchet distance of generated images.
- **Features** of the Fréchet distance: the evaluation's classifier (``genkit evaluate``'s, cached per
  dataset) where the data has labels; otherwise the fp32 torch encoder's codes, and the metadata says so.

A generator-only model (no encoder graph) has no codes of real images: its decoder is calibrated on
twice as many prior draws, and its variants need labelled data for the classifier's features.

A run whose dataset cannot be loaded here gets no variants: calibrating int8 ranges on random images
would ship a graph tuned to noise.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from genkit.errors import ExportError, GenkitError
from genkit.onnx.variants import CheckData

Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]  # feeds -> outputs by name


@dataclasses.dataclass(frozen=True)
class VariantSettings:
    calibration: int = 512  # training images int8 ranges are calibrated on
    check_images: int = 1000  # test images each variant is compared on
    samples: int = 1000  # prior draws for the Fréchet distance
    classifier: Any = None  # genkit.evaluation.classifier.ClassifierSettings; None: its defaults
    seed: int = 0


def check_data(dataset_name: str | None, input_shape: Sequence[int], classes: int, reference: dict[str, Run],
               inputs: dict[str, Sequence[str]], code: str, output: str, sample_prior: Callable[[int, int], np.ndarray],
               settings: VariantSettings = VariantSettings(), log: Callable[[str], None] = lambda line: None
               ) -> CheckData:
    """``CheckData`` for a model: ``reference`` runs its encoder and decoder in torch on feeds, ``inputs``
    names each graph's inputs (the first the array, a second the labels of a conditional model)."""
    if not dataset_name:
        raise ExportError("fp16 and int8 variants are calibrated and checked on the run's dataset, and the run "
                          "records none; export with --precision fp32")
    try:
        from genkit.data import load_dataset

        dataset = load_dataset(dataset_name, tuple(input_shape))
        train, test = _split(dataset, "train"), _split(dataset, "test") or _split(dataset, "train")
    except (GenkitError, OSError, ValueError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise ExportError(f"fp16 and int8 variants need the run's dataset {dataset_name}, which cannot be loaded "
                          f"here ({reason}); export with --precision fp32 or make the data available") from None
    if train is None or test is None:
        raise ExportError(f"dataset {dataset_name} has no images to calibrate and check variants on")
    conditional = classes > 0

    def feeds(graph: str) -> Callable[[np.ndarray, np.ndarray | None], dict[str, np.ndarray]]:
        names = inputs[graph]

        def make(array: np.ndarray, labels: np.ndarray | None) -> dict[str, np.ndarray]:
            out = {names[0]: np.ascontiguousarray(array)}
            if conditional:
                out[names[1]] = np.ascontiguousarray(labels, dtype=np.int64)
            return out
        return make

    encoding = "encoder" in reference  # False: a generator-only model, whose decoder alone has variants
    encoder_feeds, decoder_feeds = feeds("encoder") if encoding else None, feeds("decoder")
    calibration, calibration_labels = _images(train, settings.calibration, conditional)
    images, labels = _images(test, settings.check_images, conditional)
    prior_labels = _cycle(settings.samples, classes)
    calibrated: dict[str, list[dict[str, np.ndarray]]] = {}
    encode = None
    if encoding:
        encode = _chunked(lambda x, y: reference["encoder"](encoder_feeds(x, y)))
        draws = np.concatenate([encode(calibration, calibration_labels)[code],
                                sample_prior(len(calibration), settings.seed + 1)])
        draws_labels = None if not conditional else np.concatenate([calibration_labels,
                                                                    _cycle(len(calibration), classes)])
        calibrated["encoder"] = _batches(encoder_feeds, calibration, calibration_labels)
    else:  # no codes of real images: as many prior draws in their place
        draws = sample_prior(2 * len(calibration), settings.seed + 1)
        draws_labels = _cycle(len(draws), classes)
    calibrated["decoder"] = _batches(decoder_feeds, draws, draws_labels)
    features, space = _features(dataset, dataset_name, settings, encode, code, classes, log)
    return CheckData(
        images=images, labels=labels, prior_z=sample_prior(settings.samples, settings.seed), prior_labels=prior_labels,
        encoder_feeds=encoder_feeds, decoder_feeds=decoder_feeds, reference=reference, code=code, output=output,
        features=features, real_features=features(images), feature_space=space, calibration=calibrated,
        calibration_source=f"{len(calibration)} images of {dataset_name}, train split",
        data=f"{len(images)} real images of {dataset_name}, {test.name} split",
    )


def _batches(make, array: np.ndarray, labels: np.ndarray | None, size: int = 64) -> list[dict[str, np.ndarray]]:
    return [make(array[i:i + size], None if labels is None else labels[i:i + size]) for i in range(0, len(array), size)]


def _cycle(n: int, classes: int) -> np.ndarray | None:
    return np.arange(n, dtype=np.int64) % classes if classes > 0 else None


def _chunked(run: Callable[[np.ndarray, np.ndarray | None], dict[str, np.ndarray]], size: int = 256):
    """``run`` ``size`` rows at a time (a few thousand 128x128 images at once would take gigabytes)."""
    def chunks(array: np.ndarray, labels: np.ndarray | None) -> dict[str, np.ndarray]:
        parts = [run(array[i:i + size], None if labels is None else labels[i:i + size])
                 for i in range(0, len(array), size)]
        return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    return chunks


def _split(dataset, name: str):
    if name not in dataset.split_names:
        return None
    split = dataset.split(name)
    return split if len(split) else None


def _images(split, count: int, with_labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``count`` images spread evenly over ``split`` (all of them when it holds fewer), and their labels."""
    import torch

    from genkit.data import batches

    chosen = np.unique(np.linspace(0, len(split) - 1, min(count, len(split))).round().astype(np.int64))
    images, labels = [], []
    for x, y in batches(split, 512, torch.from_numpy(chosen)):
        images.append(x.float().cpu().numpy())
        if y is not None:
            labels.append(y.cpu().numpy().astype(np.int64))
    if with_labels and len(labels) != len(images):
        raise ExportError(f"the {split.name} split has no labels, which a conditional model's variants need")
    return (np.ascontiguousarray(np.concatenate(images), dtype=np.float32),
            np.concatenate(labels) if with_labels else None)


def _features(dataset, name: str, settings: VariantSettings, encode, code: str, classes: int, log):
    """The feature function of the Fréchet distance and a description of its space."""
    train = dataset.split("train")
    if train.labels is not None and "test" in dataset.split_names and dataset.split("test").labels is not None:
        from genkit.evaluation.classifier import ClassifierSettings, get_classifier

        judge = get_classifier(dataset, settings.classifier or ClassifierSettings(), log)

        def classifier_features(images: np.ndarray) -> np.ndarray:
            return np.concatenate([judge.features_and_probabilities(images[i:i + 512])[0]
                                   for i in range(0, len(images), 512)])

        return classifier_features, f"the evaluation classifier of {name} (accuracy {judge.info['accuracy']:.3f})"
    if encode is None:
        raise ExportError(f"the variants of a generator-only model are judged by the Fréchet distance in the "
                          f"evaluation classifier's features, which needs labels, and {name} has none; export with "
                          f"--precision fp32")

    def code_features(images: np.ndarray) -> np.ndarray:
        values = encode(images, _cycle(len(images), classes))[code]
        return values.reshape(len(values), -1).astype(np.float64)

    return code_features, f"the fp32 encoder's codes ({name} has no labels for the evaluation classifier)"

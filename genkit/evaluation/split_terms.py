"""The loss terms of a split, scored as the trainer scores its test split after every epoch.

``genkit.training.scoring.score_split`` does the scoring: batches of max(256, the training batch size) in
split order, noise from a generator seeded with the run's training seed (plus ``seed``) and
``EVAL_SEED_OFFSET``, each batch's means weighted by its rows. Here it calls the host sampler and loss of
``genkit.evaluation.terms`` in place of the torch model, so a run folder and its export go through the
same code; for the same weights and split the means are the trainer's recorded test scores.

A term the loss lists in ``batch_terms`` is a statistic of its batch (an MMD, a minibatch estimate): it
is reported per batch, its spread over the batches weighted by rows. Every other term also has a value
per image, for its spread over images and the per-class table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from genkit.data.splits import Split
    from genkit.evaluation.source import Source


class _Unavailable(Exception):
    """The source cannot compute its loss terms (``terms.missing`` says why): stop scoring."""


class _HostModel:
    """What ``score_split`` calls (``compute_loss``), on the host; keeps each batch's and each image's terms."""

    def __init__(self, source: Source):
        self.source = source
        self.batches: list[tuple[int, dict[str, float]]] = []  # rows, then the batch's value of each term
        self.per_image: dict[str, list[np.ndarray]] = {}

    def compute_loss(self, x, labels=None, generator=None, stage=None, player=None):
        images = x.numpy()
        y = None if labels is None else labels.numpy()
        batch, singles = self.source.terms.score(self.source, images, self.source.encode(images, y), y, generator)
        if not batch:
            raise _Unavailable
        self.batches.append((len(images), {t: float(v) for t, v in batch.items()}))
        for name, values in singles.items():
            self.per_image.setdefault(name, []).append(values)
        return batch


def split_terms(source: Source, split: Split, seed: int = 0, workers: int = 0) -> dict[str, Any]:
    """Every loss term of ``source`` on ``split``, scored as the trainer scores its test split.

    Returns ``loss`` (term -> mean and std; a batch term also ``per_batch``, the rows of a full batch,
    and ``batches``), ``per_image`` (term -> N values, per-image terms only), ``scoring`` (the rows of
    a full batch, the noise seed, the batch terms) and ``note`` (why there are no terms, else None).
    """
    import torch

    from genkit.training.distributed import Distributed
    from genkit.training.scoring import score_split

    terms = source.terms
    config = source.config.training
    scoring = {"batch_size": None, "seed": int(config.seed) + seed, "batch_terms": list(terms.batch_names)}
    empty = {"loss": {}, "per_image": {}, "scoring": scoring, "note": terms.missing}
    if terms.missing is not None:
        return empty
    host = _HostModel(source)
    try:
        means = score_split(host, split, stage=None, terms=terms.names, seed=scoring["seed"],
                            batch_size=int(config.batch_size), precision="fp32", workers=workers,
                            device=torch.device("cpu"), dist=Distributed())
    except _Unavailable:
        return {**empty, "note": terms.missing}
    per_image = {name: np.concatenate(parts) for name, parts in host.per_image.items()}
    rows = np.asarray([count for count, _ in host.batches], np.float64)
    scoring["batch_size"] = int(rows.max())  # the rows of a full batch (of all of them when fewer)
    loss = {}
    for name in terms.names:
        if name in per_image:
            loss[name] = {"mean": means[name], "std": float(per_image[name].std())}
            continue
        values = np.asarray([batch[name] for _, batch in host.batches], np.float64)
        spread = float(np.sqrt(np.average((values - means[name]) ** 2, weights=rows)))
        loss[name] = {"mean": means[name], "std": spread, "per_batch": scoring["batch_size"], "batches": len(rows)}
    return {"loss": loss, "per_image": per_image, "scoring": scoring, "note": None}

"""The loss terms of a generator-only model, scored by the run's own torch model as the trainer scores them.

``split_terms`` scores on the host over the backend's encoder and decoder; a generator-only model has no
encoder, and its losses may need modules no export holds (a critic that a player's loss owns). So its
terms are scored by the trained model itself (a run folder only), through the trainer's own
``score_split``: each player's loss over the whole split with the same noise (the run's training seed
plus ``seed``), labelled ``PLAYER.TERM`` when the recipe has several players, as metrics.jsonl labels
them. A model without players scores its own loss. Every term is reported per batch (its mean and its
spread over the batches, weighted by rows): a loss that draws one prior point per image scores a batch,
not an image. An export gets a note instead of numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from genkit.data.splits import Split
    from genkit.evaluation.source import Source


class _Recorder:
    """The model as ``score_split`` calls it, keeping each batch's rows and terms for their spread."""

    def __init__(self, model: Any):
        self.model = model
        self.batches: list[tuple[int, dict[str, float]]] = []

    def compute_loss(self, x, labels=None, generator=None, stage=None, player=None):
        values = self.model.compute_loss(x, labels, generator=generator, stage=stage, player=player)
        self.batches.append((len(x), {name: float(value) for name, value in values.items()}))
        return values


def _players(model: Any) -> list[tuple[str | None, str]]:
    """(player name or None, its label prefix) of every loss to score: each player's, or the model's own."""
    players = [p.name for p in model.config.players] if model.config is not None else []
    if not players:
        return [(None, "")]
    return [(name, f"{name}." if len(players) > 1 else "") for name in players]


def generator_terms(source: Source, split: Split, seed: int = 0, workers: int = 0) -> dict[str, Any]:
    """The loss terms of generator-only ``source`` on ``split``: the keys of ``split_terms``' result."""
    config = source.config.training
    scoring = {"batch_size": None, "seed": int(config.seed) + seed, "batch_terms": []}
    if source.kind != "run":
        note = ("the export holds the decoder alone, and a generator-only model's loss terms need the run's "
                "losses (and whatever they own); evaluate the run folder for them")
        return {"loss": {}, "per_image": {}, "scoring": scoring, "note": note}
    import torch

    from genkit.training.distributed import Distributed
    from genkit.training.scoring import score_split

    model = source.backend.model
    loss: dict[str, dict[str, Any]] = {}
    for player, prefix in _players(model):
        terms = tuple(model.loss_named(player=player).terms)
        recorder = _Recorder(model)
        means = score_split(recorder, split, stage=None, player=player, terms=terms, seed=scoring["seed"],
                            batch_size=int(config.batch_size), precision="fp32", workers=workers,
                            device=torch.device("cpu"), dist=Distributed())
        rows = np.asarray([count for count, _ in recorder.batches], np.float64)
        scoring["batch_size"] = int(rows.max())
        for name in terms:
            values = np.asarray([batch[name] for _, batch in recorder.batches], np.float64)
            spread = float(np.sqrt(np.average((values - means[name]) ** 2, weights=rows)))
            loss[prefix + name] = {"mean": means[name], "std": spread, "per_batch": scoring["batch_size"],
                                   "batches": len(rows)}
    scoring["batch_terms"] = list(loss)
    return {"loss": loss, "per_image": {}, "scoring": scoring, "note": None}

"""What the loop measures between epochs: the test split's loss terms and the training set's codes."""

from __future__ import annotations

import math

import torch

from genkit.training import distributed
from genkit.training.device import autocast
from genkit.training.random_state import keep_global_rng

EVAL_SEED_OFFSET = 104729  # the noise of the test-set evaluation: fixed, so test losses are comparable


@torch.no_grad()
def score_split(model, split, *, stage: str | None, terms: tuple[str, ...], seed: int, batch_size: int,
                precision: str, workers: int, device: torch.device, dist: distributed.Distributed,
                player: str | None = None) -> dict[str, float]:
    """Mean loss terms (of stage ``stage``'s loss, player ``player``'s, or the model's) over ``split``; each rank
    scores its rows of every batch, with the same noise. It runs without gradients: a loss that needs some (a
    gradient penalty's input gradient) computes them under ``torch.enable_grad()``."""
    from genkit.data import batches

    gen = torch.Generator(device=device).manual_seed(seed + EVAL_SEED_OFFSET)
    world = dist.world_size
    batch = world * math.ceil(max(256, batch_size) / world)
    order, shards = dist.shard(torch.arange(len(split)), batch)
    totals = torch.zeros(len(terms) + 1, dtype=torch.float64, device=device)
    loader = batches(split, batch // world, order, workers, device)
    for shard, (x, labels) in zip(shards, keep_global_rng(loader), strict=True):
        with dist.global_batch(shard), autocast(device, precision):
            values = model.compute_loss(x, labels, generator=gen, stage=stage, player=player)
        if shard.counted:
            totals[:-1] += torch.stack([values[k].double() for k in terms]) * shard.counted
            totals[-1] += shard.counted
    totals = dist.all_reduce_sum(totals).cpu()
    return dict(zip(terms, (totals[:-1] / max(float(totals[-1]), 1.0)).tolist()))


@torch.no_grad()
def collect_codes(model, split, *, workers: int, device: torch.device, dist: distributed.Distributed) -> torch.Tensor:
    """Every image's latent code, in split order; each rank encodes one contiguous part."""
    from genkit.data import batches

    part = torch.tensor_split(torch.arange(len(split)), dist.world_size)[dist.rank]
    codes = [model.codes(x, labels) for x, labels in keep_global_rng(batches(split, 1024, part, workers, device))]
    local = torch.cat(codes).float() if codes else torch.zeros((0, *model.spec.latent_shape), device=device)
    return dist.gather_rows(local)

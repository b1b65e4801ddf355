"""The epoch's running loss sums: what the progress line shows, the epoch's record averages, and a mid-epoch
checkpoint carries so that a resumed epoch's means are exact.

Players take turns, so each player's terms are averaged over the images of its own steps: the sums are
one vector over every player's terms, with an image count per player.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from genkit.training import distributed


class RunningTerms:
    """Sums of every player's terms over the images each trained on so far this epoch (this rank's share)."""

    def __init__(self, players: Sequence[Any], device: torch.device, carried: dict[str, Any] | None = None):
        self.players, self.several = list(players), len(players) > 1
        width = sum(len(p.terms) for p in players)
        self.totals = torch.tensor(carried["totals"] if carried else [0.0] * width, device=device)
        self.seen = carried["seen"] if carried else 0  # images, all players together
        # a checkpoint of a run without players has no counts: its one player trained every image
        self.counts = list(carried.get("counts", [self.seen])) if carried else [0] * len(self.players)

    def add(self, player: Any, values: torch.Tensor, images: int) -> None:
        """``player``'s terms ``values`` (batch means) over a step of ``images`` images."""
        if self.several:
            self.totals[player.offset:player.offset + len(values)] += values * images
            self.counts[self.players.index(player)] += images
        else:  # one player: the whole vector, without indexing on the hot path
            self.totals += values * images
            self.counts[0] += images
        self.seen += images

    def per_term(self, counts: torch.Tensor) -> torch.Tensor:
        """Each term's image count: its player's (at least 1, so a player yet to step reads 0, not NaN)."""
        return torch.cat([counts[i:i + 1].expand(len(p.terms)) for i, p in enumerate(self.players)]).clamp(min=1)

    def local_means(self) -> torch.Tensor:
        return self.totals / self.per_term(torch.tensor(self.counts, dtype=self.totals.dtype,
                                                         device=self.totals.device))

    def summed(self, dist: distributed.Distributed) -> tuple[torch.Tensor, torch.Tensor]:
        """The sums and each player's image count over every rank (a collective: every rank calls it)."""
        device = self.totals.device
        summed = dist.all_reduce_sum(torch.cat([self.totals.double(), torch.tensor(
            self.counts, dtype=torch.float64, device=device)]))
        width = len(self.totals)
        return summed[:width], summed[width:]

    def means(self, dist: distributed.Distributed) -> tuple[torch.Tensor, int]:
        """The epoch's mean of every term over every rank, and the images trained on (a collective)."""
        totals, counts = self.summed(dist)
        return (totals.float() / self.per_term(counts).float()).cpu(), int(counts.sum().item())

    def carried(self, dist: distributed.Distributed) -> dict[str, Any]:
        """What a mid-epoch checkpoint keeps of the sums of all ranks (a collective)."""
        totals, counts = self.summed(dist)
        return {"totals": totals.float().tolist(), "seen": int(counts.sum().item()),
                "counts": [int(c) for c in counts.tolist()]}

"""How one global batch is split among the processes of a distributed run.

Every rank draws the same global permutation from the shared seed and takes its rows of each global
batch; the last, partial batch is split as evenly as it can be, and a rank left without rows trains
on one row with weight 0 so that every rank joins every all-reduce. Pure arithmetic on index
tensors, so it is tested without a process group.
"""

from __future__ import annotations

import dataclasses

import torch

from genkit.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Shard:
    """One rank's share of one global batch: rows ``offset:offset + size`` of ``global_size``.

    ``counted`` is how many of those rows count in the loss averages (0 for a padding row) and
    ``weight`` scales the rank's mean loss so that DDP's average over ranks is the batch mean.
    """

    offset: int
    size: int
    global_size: int
    counted: int
    weight: float = 1.0

    @property
    def whole(self) -> bool:
        return self.offset == 0 and self.size == self.global_size


def split_sizes(count: int, world_size: int) -> list[int]:
    """Rows of a batch of ``count`` for each rank: as even as possible, the larger shares first."""
    base, extra = divmod(count, world_size)
    return [base + (rank < extra) for rank in range(world_size)]


def check_batch_size(batch_size: int, world_size: int) -> None:
    """The global batch must split evenly: every full step gives each rank the same number of images."""
    if batch_size % world_size:
        raise ConfigError(f"training.batch_size {batch_size} (the global batch) is not divisible by the "
                          f"{world_size} processes; choose a multiple of {world_size}")


def shard_order(order: torch.Tensor, batch_size: int, world_size: int, rank: int
                ) -> tuple[torch.Tensor, list[Shard]]:
    """This rank's indices, in the order it trains on them, and its ``Shard`` of each global batch.

    Batching the returned indices ``batch_size // world_size`` at a time gives exactly one local batch
    per global batch (only the last global batch may be partial, and its shares are never larger).
    """
    check_batch_size(batch_size, world_size)
    local, total = batch_size // world_size, len(order)
    full = total // batch_size
    head = order[:full * batch_size].view(full, world_size, local)[:, rank].reshape(-1)
    shards = [Shard(rank * local, local, batch_size, local)] * full
    rest = order[full * batch_size:]
    if len(rest):
        sizes = split_sizes(len(rest), world_size)
        offset = sum(sizes[:rank])
        if sizes[rank]:
            mine = rest[offset:offset + sizes[rank]]
            weight = world_size * sizes[rank] / len(rest)
            shards.append(Shard(offset, sizes[rank], len(rest), sizes[rank], weight))
        else:  # nothing left for this rank: one row of the batch, weighted 0, keeps the collectives paired
            mine = rest[:1]
            shards.append(Shard(0, 1, len(rest), 0, 0.0))
        head = torch.cat([head, mine])
    return head, shards

"""The arithmetic of distributed training, without a process group: sharding and global-batch noise.

N processes with B/N images each must train like one process with batch B: every rank takes its rows
of each global batch exactly once, and its random draws are its rows of one draw for the whole batch.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from genkit.errors import ConfigError
from genkit.training.global_batch_noise import GlobalBatchNoise
from genkit.training.sharding import Shard, shard_order, split_sizes


@pytest.mark.parametrize("count, batch, world", [(512, 64, 2), (100, 32, 2), (101, 30, 3), (65, 64, 2),
                                                 (5, 4, 4), (7, 8, 8), (1, 2, 2)])
def test_shards_cover_each_global_batch_once(count, batch, world):
    order = torch.randperm(count, generator=torch.Generator().manual_seed(count))
    parts = [shard_order(order, batch, world, rank) for rank in range(world)]
    local = batch // world
    steps = -(-count // batch)
    assert all(len(shards) == steps for _, shards in parts)
    for step in range(steps):
        expected = order[step * batch:(step + 1) * batch]
        rows, counted = torch.zeros(len(expected), dtype=torch.int64), 0
        for indices, shards in parts:
            shard = shards[step]
            mine = indices[step * local:step * local + shard.size]
            assert shard.global_size == len(expected)
            assert torch.equal(mine, expected[shard.offset:shard.offset + shard.size])
            if shard.counted:
                rows[shard.offset:shard.offset + shard.size] += 1
                counted += shard.counted
            assert shard.weight == pytest.approx(world * shard.counted / len(expected))
        assert counted == len(expected) and bool((rows == 1).all())
    assert sum(split_sizes(count % batch or batch, world)) == (count % batch or batch)


def test_batch_must_divide_among_processes():
    with pytest.raises(ConfigError, match="not divisible by the 3 processes"):
        shard_order(torch.arange(10), 64, 3, 0)


def test_each_rank_draws_its_rows_of_the_global_noise():
    gen = torch.Generator().manual_seed(5)
    full, full_like = torch.randn((6, 3), generator=gen), torch.rand((6, 2), generator=gen)
    torch.manual_seed(0)  # dropout draws from the global generator
    mask = torch.nn.functional.dropout(torch.ones(6, 4), 0.5, True)
    for offset, size in ((0, 3), (3, 3), (4, 2)):
        gen = torch.Generator().manual_seed(5)
        with GlobalBatchNoise(Shard(offset, size, 6, size)):
            mine = torch.randn(torch.Size([size, 3]), generator=gen)
            mine_like = torch.rand_like(torch.zeros(size, 2), generator=gen)
            torch.manual_seed(0)
            dropped = torch.nn.functional.dropout(torch.full((size, 4), 2.0), 0.5, True)
            unbatched = torch.randn(5, generator=gen)  # its first dimension is not the batch: left alone
        assert torch.equal(mine, full[offset:offset + size])
        assert torch.equal(mine_like, full_like[offset:offset + size])
        assert torch.equal(dropped, 2.0 * mask[offset:offset + size])
        assert unbatched.shape == (5,)


def test_noise_follows_the_memory_layout_of_the_batch():
    """Random fills follow memory order: a channels-last batch must see its rows of a channels-last draw."""
    x = torch.rand(6, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    torch.manual_seed(1)
    mask = torch.nn.functional.dropout(torch.ones_like(x), 0.5, True)
    noise = torch.randn_like(x, generator=torch.Generator().manual_seed(2))
    for offset, size in ((0, 3), (3, 3), (4, 2)):
        rows = x[offset:offset + size]
        with GlobalBatchNoise(Shard(offset, size, 6, size)):
            torch.manual_seed(1)
            dropped = torch.nn.functional.dropout(rows, 0.5, True)
            mine = torch.randn_like(rows, generator=torch.Generator().manual_seed(2))
        assert torch.equal(dropped, rows * mask[offset:offset + size])
        assert torch.equal(mine, noise[offset:offset + size])
        assert mine.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("shard, whole", [
    (Shard(0, 4, 4, 4), True),
    (Shard(0, 2, 4, 2), False),  # the first part of a batch split over ranks
    (Shard(2, 2, 4, 2), False),
    (Shard(1, 4, 4, 4), False),
    (Shard(0, 1, 1, 0, 0.0), True),  # a padding row that is its rank's whole batch
])
def test_a_shard_is_whole_only_when_it_is_the_entire_batch(shard, whole):
    assert shard.whole is whole


def test_a_shard_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Shard(0, 4, 4, 4).size = 2


@pytest.mark.parametrize("count, batch, world", [(5, 4, 4), (6, 4, 4), (11, 8, 4), (1, 2, 2)])
def test_a_rank_with_no_row_left_trains_one_padding_row_with_weight_zero(count, batch, world):
    order = torch.randperm(count, generator=torch.Generator().manual_seed(0))
    rest = count % batch
    local, full = batch // world, count // batch
    for rank in range(rest, world):  # ranks beyond the last row of the partial batch
        indices, shards = shard_order(order, batch, world, rank)
        assert len(indices) == full * local + 1
        assert indices[-1] == order[full * batch]  # the partial batch's first row, as padding
        assert shards[-1] == Shard(0, 1, rest, 0, 0.0)

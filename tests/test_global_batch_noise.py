"""GlobalBatchNoise in every form a model may call it: which draws it widens to the global batch and
which it must leave alone.

A rank holding rows ``offset:offset + size`` of a global batch of ``global_size`` must draw exactly its
rows of the one-process draw, whatever way the sampler or network asks for the noise (a size tuple,
sizes as arguments, ``size=``, ``*_like``, dropout with positional or keyword arguments); and a draw
that is not shaped like the local batch (a larger or smaller first dimension, no dimension at all) is
not batch noise and must come out as a single process would draw it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genkit.training.global_batch_noise import GlobalBatchNoise, _requested_size
from genkit.training.sharding import Shard

SHARD = Shard(offset=2, size=3, global_size=8, counted=3)
ROWS = slice(SHARD.offset, SHARD.offset + SHARD.size)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(7)


@pytest.mark.parametrize("factory, draw", [
    (torch.randn, lambda g: torch.randn(3, generator=g).unsqueeze(1)),  # one number per image
    (torch.randn, lambda g: torch.randn((3, 4), generator=g)),
    (torch.randn, lambda g: torch.randn(3, 4, generator=g)),
    (torch.randn, lambda g: torch.randn(size=(3, 4), generator=g)),
    (torch.rand, lambda g: torch.rand(torch.Size([3, 4]), generator=g)),
], ids=["one-per-image", "tuple", "varargs", "size-keyword", "torch.Size"])
def test_a_draw_for_the_local_batch_is_this_ranks_rows_of_the_global_draw(factory, draw):
    with GlobalBatchNoise(SHARD):
        mine = draw(_gen())
    full = factory((SHARD.global_size, mine.shape[1]), generator=_gen())
    assert torch.equal(mine, full[ROWS])


@pytest.mark.parametrize("rows", [1, 2, 4, 8], ids=lambda r: f"first-dim-{r}")
def test_draws_not_shaped_like_the_local_batch_are_left_alone(rows):
    with GlobalBatchNoise(SHARD):
        mine = torch.randn((rows, 4), generator=_gen())
        like = torch.randn_like(torch.zeros(rows, 4), generator=_gen())
        scalar = torch.randn((), generator=_gen())
    assert torch.equal(mine, torch.randn((rows, 4), generator=_gen()))
    assert torch.equal(like, torch.randn((rows, 4), generator=_gen()))
    assert scalar.shape == ()


def test_a_like_draw_takes_its_rows_and_keeps_dtype_and_arguments():
    x = torch.zeros(3, 5, dtype=torch.float64)
    full = torch.rand((SHARD.global_size, 5), generator=_gen(), dtype=torch.float64)
    with GlobalBatchNoise(SHARD):
        mine = torch.rand_like(x, generator=_gen())
    assert mine.dtype == torch.float64 and torch.equal(mine, full[ROWS])


def _global_mask(p: float, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)  # dropout draws from the global generator
    return F.dropout(torch.ones(SHARD.global_size, 6), p, True)


@pytest.mark.parametrize("call, p", [
    (lambda x: F.dropout(x, 0.3, True), 0.3),
    (lambda x: F.dropout(x, p=0.3, training=True), 0.3),
    (lambda x: F.dropout(x, 0.3, training=True), 0.3),
    (lambda x: F.dropout(x), 0.5),  # torch's defaults: p = 0.5, training
    (lambda x: F.dropout(x, 0.3, True, False), 0.3),
], ids=["positional", "keywords", "mixed", "defaults", "inplace-false"])
def test_dropout_masks_are_this_ranks_rows_of_the_global_mask(call, p):
    x = torch.full((SHARD.size, 6), 2.0)
    with GlobalBatchNoise(SHARD):
        torch.manual_seed(3)
        dropped = call(x)
    assert torch.equal(dropped, 2.0 * _global_mask(p, 3)[ROWS])
    assert torch.equal(x, torch.full((SHARD.size, 6), 2.0))  # the input is not changed in place


@pytest.mark.parametrize("call", [
    lambda x: F.dropout(x, 0.3, False),
    lambda x: F.dropout(x, 0.3, training=False),
    lambda x: F.dropout(x, 0.0, True),
], ids=["eval-positional", "eval-keyword", "p-zero"])
def test_dropout_that_drops_nothing_draws_nothing(call):
    x = torch.full((SHARD.size, 6), 2.0)
    torch.manual_seed(4)
    with GlobalBatchNoise(SHARD):
        out = call(x)
    after = torch.rand(1)
    torch.manual_seed(4)
    assert torch.equal(out, x) and torch.equal(after, torch.rand(1))  # the global stream was not consumed


@pytest.mark.parametrize("rows", [1, SHARD.global_size])
def test_dropout_of_another_first_dimension_is_left_alone(rows):
    x = torch.full((rows, 6), 2.0)
    torch.manual_seed(5)
    expected = F.dropout(x, 0.3, True)
    with GlobalBatchNoise(SHARD):
        torch.manual_seed(5)
        assert torch.equal(F.dropout(x, 0.3, True), expected)


@pytest.mark.parametrize("args, kwargs", [((None,), {}), (("three",), {}), ((), {"size": (2.5j,)})])
def test_sizes_that_are_not_integers_are_not_taken_for_a_batch(args, kwargs):
    assert _requested_size(args, kwargs) is None

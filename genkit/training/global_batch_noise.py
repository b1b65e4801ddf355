"""Random draws that do not depend on the number of processes a batch is split over.

A rank's random draws shaped like its slice of the batch are taken as its rows of one draw for the
whole global batch, so the sampler's noise and the dropout masks are those a single process with the
whole batch would draw, without the samplers or the networks knowing about it.
"""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from genkit.training.sharding import Shard


def _requested_size(args: tuple, kwargs: dict) -> tuple[int, ...] | None:
    if "size" in kwargs:
        size = kwargs["size"]
    elif len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)):
        size = args[0]
    else:
        size = args
    try:
        return tuple(int(v) for v in size)
    except (TypeError, ValueError):
        return None


def _widened(x: torch.Tensor, rows: int) -> torch.Tensor:
    """An uninitialised tensor like ``x`` with ``rows`` rows, its dimensions laid out in memory as in ``x``.

    Random fills (a dropout mask, ``randn_like``) follow memory order, so a channels-last batch gets
    other values at an index than a contiguous one: the global draw must be laid out as the batch is.
    The batch dimension stays outermost, whatever stride a batch of one row happens to report.
    """
    inner = sorted(range(1, x.dim()), key=lambda d: -x.stride(d))
    order = [0, *inner]
    full = torch.empty([rows, *(x.shape[d] for d in inner)], dtype=x.dtype, device=x.device)
    return full.permute(*(order.index(d) for d in range(x.dim())))


class GlobalBatchNoise(TorchFunctionMode):
    """Turns random draws for this rank's rows into its slice of one draw for the whole global batch.

    Intercepted: ``torch.randn``/``rand`` (and their ``_like`` forms) whose first dimension is the
    local batch, and dropout masks. Every rank then consumes its generators exactly as a single
    process with the whole batch would, which is what keeps the noise independent of world size.
    """

    LIKE = (torch.randn_like, torch.rand_like)

    def __init__(self, shard: Shard) -> None:
        super().__init__()
        self.shard = shard

    def _rows(self, full: torch.Tensor) -> torch.Tensor:
        return full[self.shard.offset:self.shard.offset + self.shard.size]

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        shard = self.shard
        if func in (torch.randn, torch.rand) and "out" not in kwargs:
            size = _requested_size(args, kwargs)
            if size and size[0] == shard.size:
                kwargs.pop("size", None)
                return self._rows(func((shard.global_size, *size[1:]), **kwargs))
        elif func in self.LIKE and args and args[0].dim() and args[0].shape[0] == shard.size:
            return self._rows(func(_widened(args[0], shard.global_size), *args[1:], **kwargs))
        elif func is torch.nn.functional.dropout and args and args[0].dim() and args[0].shape[0] == shard.size:
            # F.dropout hands itself over as (input,) with p, training and inplace always as keywords
            x, p, training = args[0], kwargs["p"], kwargs["training"]
            if training and p > 0:
                return x * self._rows(func(_widened(x, shard.global_size).fill_(1), p, True, False))
        return func(*args, **kwargs)

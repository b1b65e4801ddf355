"""BatchNorm whose training statistics are those of the whole global batch of a distributed run, on CPU too.

``torch.nn.SyncBatchNorm`` gives every rank the statistics of the global batch, but only on CUDA: its
kernels (``torch.batch_norm_stats`` and the rest) have no CPU implementation in torch 2.13. Under gloo
each process would then normalise its rows by their own mean and variance, a different function of the
data than one process computes with the whole batch. ``GlobalBatchNorm`` computes the statistics with
ordinary tensor operations and sums them over the ranks with a differentiable all-reduce, whose
backward all-reduces the gradient: autograd then gives each rank its share of the gradient of the
global-batch loss, and DistributedDataParallel's average of those is the single-process gradient.

The statistics take two passes: the global mean first, then the global sum of squared deviations from
it (not ``E[x^2] - E[x]^2``, which cancels catastrophically when the mean is large against the spread).
Both sums are accumulated in float64, as torch's CPU kernel accumulates its statistics, so how the
batch is split over ranks changes them only below float32's resolution.

Computed this way the layer is also more exact than torch's CPU kernel where the gradient reaching it
has a large mean per channel, as a VAE's does early in training: on the 28x28 VAE with BatchNorm the
kernel's gradients are 1e-3 to 4e-3 away from float64, this layer's 6e-6. A process group of one
therefore uses this layer too: a run under torchrun computes the same numbers with one process as
with several, and a plain single process differs from both by that kernel's rounding.

A rank whose share of a partial last batch is empty trains on one padding row (see ``Shard``);
``counted_rows`` tells the layers how many leading rows count, so the padding row is normalised with
the global statistics but does not enter them. Parameters, buffers and ``state_dict`` keys are those
of ``torch.nn.BatchNorm1d/2d/3d``: a run folder does not record how many processes trained it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from contextvars import ContextVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

_COUNTED_ROWS: ContextVar[int | None] = ContextVar("genkit_batch_norm_counted_rows", default=None)


@contextlib.contextmanager
def counted_rows(rows: int | None) -> Iterator[None]:
    """Within the block, only the first ``rows`` rows of a batch enter the statistics (None: every row)."""
    token = _COUNTED_ROWS.set(rows)
    try:
        yield
    finally:
        _COUNTED_ROWS.reset(token)


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) that autograd can differentiate.

    Every rank's output is the same sum, so the gradient with respect to one rank's term is the sum
    of every rank's gradient with respect to the output: the backward is an all-reduce as well. This is
    ``torch.distributed.nn.functional.all_reduce``, which torch 2.13 deprecates (with a warning) in
    favour of a functional collective that has no backward.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        total = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, group=ctx.group)
        return total, None


class GlobalBatchNorm(_BatchNorm):
    """BatchNorm over the batch dimension of every rank together; a plain BatchNorm outside training.

    In evaluation, and in a process without a process group, it is ``BatchNorm`` exactly. In training
    under a process group, even a group of one, it computes the statistics itself, so that its rounding
    does not depend on the number of processes. Every rank must then call it at the same point of its
    forward pass: each call all-reduces twice forwards and twice backwards.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group=None, device=None, dtype=None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device, dtype=dtype)
        self.process_group = process_group

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected a batch with a channel dimension (2 or more dimensions); got {input.dim()}")

    def _group(self):
        """The process group to all-reduce over; None outside training or outside a process group."""
        if self.training and dist.is_initialized():
            return self.process_group or dist.group.WORLD
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        group = self._group()
        if group is None:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = (1, -1) + (1,) * (x.dim() - 2)
        work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # autocast: statistics in fp32
        rows = _COUNTED_ROWS.get()
        counted = work if rows is None else work[:rows]
        per_channel = counted.shape[0] * math.prod(x.shape[2:])
        first = _SumOverRanks.apply(torch.cat([counted.sum(dims, dtype=torch.float64), torch.tensor(
            [per_channel], dtype=torch.float64, device=x.device)]), group)
        count = int(first[-1].item())
        if count < 2:
            raise ValueError(f"BatchNorm needs more than 1 value per channel in training; the global batch "
                             f"gives {count} (this rank's input has size {list(x.shape)})")
        mean = first[:-1] / count
        centered = work - mean.to(work.dtype).view(shape)
        deviations = centered if rows is None else centered[:rows]
        squares = _SumOverRanks.apply(deviations.square().sum(dims, dtype=torch.float64), group)
        scale = torch.rsqrt(squares / count + self.eps).to(work.dtype)
        if self.affine:
            y = centered * (scale * self.weight).view(shape) + self.bias.view(shape)
        else:
            y = centered * scale.view(shape)
        if self.track_running_stats:
            self._update_running_stats(mean.detach(), squares.detach() / (count - 1))
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        """What ``BatchNorm`` does with the batch's statistics, in float64 as torch's CPU kernel does."""
        self.num_batches_tracked.add_(1)
        factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        for buffer, value in ((self.running_mean, mean), (self.running_var, unbiased_var)):
            buffer.copy_(factor * value + (1.0 - factor) * buffer.double())


def convert_global_batchnorm(module: nn.Module, process_group=None) -> nn.Module:
    """``module`` with every BatchNorm in it made a ``GlobalBatchNorm`` sharing its parameters and buffers.

    Children are replaced in place, so an optimizer built over ``module.parameters()`` still holds the
    parameters that train; the returned module is ``module`` unless ``module`` itself is a BatchNorm.
    """
    if isinstance(module, _BatchNorm) and not isinstance(module, (GlobalBatchNorm, nn.SyncBatchNorm)):
        converted = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                    module.track_running_stats, process_group)
        if module.affine:
            converted.weight, converted.bias = module.weight, module.bias
        if module.track_running_stats:
            converted.running_mean, converted.running_var = module.running_mean, module.running_var
            converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        module.add_module(name, convert_global_batchnorm(child, process_group))
    return module

"""One torchrun-style worker for tests/test_distributed_weights.py (started with RANK, WORLD_SIZE, ...).

    python tests/distributed_worker.py train RUN_DIR VARIANT OVERRIDES_JSON [RECIPE]
    python tests/distributed_worker.py batch-norm

``train`` trains RECIPE (``vae`` by default; the players fixture's ``fixture-wgan`` when its plugin is on the
path) with the given ``--set`` overrides into RUN_DIR, as a worker of
``genkit train --nproc`` would, after breaking the run as VARIANT says. The broken variants are made
here, from outside (patches of genkit.training.distributed, or a callback given to the trainer), so that production
code carries no switch for them:

- ``exact``: nothing changed;
- ``local-batch-norm``: BatchNorm layers stay per-rank (each normalises by its own rows' statistics);
- ``summed-gradients``: DDP sums the gradients over ranks instead of averaging them;
- ``local-noise``: every rank draws noise (and dropout masks) for its own rows from the shared seed.

``batch-norm`` checks ``GlobalBatchNorm`` alone in float64 against ``torch.nn.BatchNorm2d`` given the
whole batch, with uneven shares and a padding row; rank 0 prints the largest differences as JSON.
"""

from __future__ import annotations

import json
import sys

import torch

from genkit.training import distributed


def summed_gradients(state, bucket):
    """DDP's communication hook with the division by the world size left out."""
    import torch.distributed as dist

    work = dist.all_reduce(bucket.buffer(), async_op=True)
    return work.get_future().then(lambda future: future.value()[0])


def summing_gradients():
    """A callback that makes each stage's DistributedDataParallel sum its gradients (every rank runs it)."""
    from genkit.training import Callback

    class SummingGradients(Callback):
        writes = False

        def on_stage_start(self, trainer, stage):
            for player in trainer.players:
                player.loss_of.register_comm_hook(None, summed_gradients)

    return SummingGradients()


def train(run_dir: str, variant: str, overrides: list[str], recipe: str = "vae") -> None:
    from genkit.config import build_config
    from genkit.contract.host import get_registry
    from genkit.training import Trainer

    if variant == "local-batch-norm":
        distributed.convert_global_batchnorm = lambda module: module
    elif variant == "local-noise":
        distributed.GlobalBatchNoise.__torch_function__ = lambda self, func, types, args=(), kwargs=None: func(
            *args, **(kwargs or {}))
    elif variant not in ("exact", "summed-gradients"):
        raise SystemExit(f"unknown variant {variant!r}")
    config = build_config(get_registry(), recipe, None, overrides)
    context = distributed.start(torch.device("cpu"))
    callbacks = [summing_gradients()] if variant == "summed-gradients" else []
    Trainer(config, run_dir, dist=context, progress=False, callbacks=callbacks).run()
    distributed.stop(context)


def batch_norm() -> None:
    """Two steps (a batch of 5 over the ranks, then a partial batch of 2) against one BatchNorm2d."""
    import torch.distributed as dist

    from genkit.training.global_batch_norm import GlobalBatchNorm

    torch.set_default_dtype(torch.float64)
    context = distributed.start(torch.device("cpu"))
    gen = torch.Generator().manual_seed(3)
    channels = 3
    layers = [torch.nn.BatchNorm2d(channels, momentum=0.3), GlobalBatchNorm(channels, momentum=0.3)]
    weight, bias = torch.rand(channels, generator=gen) + 0.5, torch.randn(channels, generator=gen)
    for layer in layers:
        layer.weight.data.copy_(weight)
        layer.bias.data.copy_(bias)
    worst = {"output": 0.0, "input_grad": 0.0, "weight_grad": 0.0, "bias_grad": 0.0,
             "running_mean": 0.0, "running_var": 0.0}

    def note(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
        worst[name] = max(worst[name], float((a - b).detach().abs().max()))

    for size in (5, 2):
        x = torch.randn(size, channels, 4, 4, generator=gen) * 3 + 2
        target = torch.randn(size, channels, 4, 4, generator=gen)
        # the reference: one process holding the whole batch, loss = mean over rows
        ref_x = x.clone().requires_grad_()
        ref_y = layers[0](ref_x)
        ((ref_y * target).sum((1, 2, 3)).mean()).backward()
        # this rank: its rows as the trainer gets them, the loss weighted as the trainer weighs it
        indices, (shard,) = distributed.shard_order(torch.arange(size), 6, context.world_size, context.rank)
        mine = x[indices].clone().requires_grad_()
        with context.global_batch(shard):
            y = layers[1](mine)
        (shard.weight * (y * target[indices]).sum((1, 2, 3)).mean()).backward()
        grads = torch.cat([layers[1].weight.grad, layers[1].bias.grad]) / context.world_size  # DDP's average
        dist.all_reduce(grads)
        if shard.counted:
            note("output", y, ref_y[indices].detach())
            note("input_grad", mine.grad / context.world_size, ref_x.grad[indices])  # the sum of all ranks' losses
        note("weight_grad", grads[:channels], layers[0].weight.grad)
        note("bias_grad", grads[channels:], layers[0].bias.grad)
        for layer in layers:
            layer.zero_grad()
    note("running_mean", layers[1].running_mean, layers[0].running_mean)
    note("running_var", layers[1].running_var, layers[0].running_var)
    assert int(layers[1].num_batches_tracked) == int(layers[0].num_batches_tracked) == 2
    if context.is_main:
        print(json.dumps(worst), flush=True)
    distributed.stop(context)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]), *sys.argv[5:6])
    else:
        batch_norm()
    distributed.exit_process(0)

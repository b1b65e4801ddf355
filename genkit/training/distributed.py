"""One training run spread over several processes with torch.distributed, as torchrun starts them.

The contract is that ``world_size`` processes with ``B / world_size`` images each train exactly like
one process with batch ``B``: the same data order, the same random noise, the same averaged gradient.

- Data: every rank draws the same global permutation from the shared seed and takes its rows of
  each global batch (``shard_order``); the last, partial batch is split as evenly as it can be, and a
  rank left without rows trains on one row with weight 0 so that every rank joins every all-reduce.
- Noise: a rank's random draws shaped like its slice of the batch are taken as its rows of one draw
  for the whole batch (``GlobalBatchNoise``), so the sampler's noise does not depend on the number of
  processes, without the samplers knowing about it.
- Gradients: DistributedDataParallel averages them over ranks; a rank whose share of a partial
  batch differs scales its loss (``Shard.weight``) so the average is the mean over the whole batch.
- BatchNorm: the statistics are those of the global batch, through ``torch.nn.SyncBatchNorm`` on CUDA
  and ``GlobalBatchNorm`` on CPU (torch has no CPU SyncBatchNorm); a padding row does not enter them.

The process group uses NCCL on CUDA (device from LOCAL_RANK) and gloo on CPU. Only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

import torch

from genkit.errors import ConfigError, RunFolderError
from genkit.training.global_batch_noise import GlobalBatchNoise
from genkit.training.global_batch_norm import convert_global_batchnorm, counted_rows
from genkit.training.sharding import Shard, shard_order


def under_torchrun() -> bool:
    """True in a worker that torchrun (or another launcher setting its variables) started."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"))


def restart_count() -> int:
    """How many times torchrun's elastic agent has restarted this worker group (0 at first launch)."""
    try:
        return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError:
        return 0


def launch_id() -> str | None:
    """The rendezvous id shared by every worker and every restart of one launch, when it is unique."""
    value = os.environ.get("TORCHELASTIC_RUN_ID", "")
    return value if value and value != "none" else None  # "none" is torchrun's default, shared by all


class LossOf(torch.nn.Module):
    """A model's loss as ``forward``: DistributedDataParallel synchronises what goes through forward."""

    def __init__(self, model: torch.nn.Module, stage: str | None = None, player: str | None = None) -> None:
        super().__init__()
        self.model, self.stage, self.player = model, stage, player

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return self.model.compute_loss(x, labels, generator=generator, stage=self.stage, player=self.player)


@dataclasses.dataclass(frozen=True)
class Distributed:
    """Where this process stands in the run; the default is a single process with no process group."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    backend: str | None = None

    @property
    def active(self) -> bool:
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """``device`` made specific to this rank: each process on one node drives its own GPU."""
        if self.active and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def shard(self, order: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, list[Shard]]:
        return shard_order(order, batch_size, self.world_size, self.rank)

    @contextlib.contextmanager
    def global_batch(self, shard: Shard) -> Iterator[None]:
        """A forward pass over this rank's ``shard`` computed as part of the global batch.

        Its random draws are its rows of one draw for the global batch, and BatchNorm's statistics
        count only its counted rows (none for a padding row), which the layers all-reduce.
        """
        if shard.whole and shard.counted == shard.size:  # a padding row can be a whole batch of one
            yield
            return
        with GlobalBatchNoise(shard), counted_rows(shard.counted):
            yield

    def wrap_loss(self, model: torch.nn.Module, device: torch.device, stage: str | None = None,
                  find_unused: bool = False, player: str | None = None) -> torch.nn.Module | None:
        """``model.compute_loss`` (of training stage ``stage`` or player ``player``) as a DistributedDataParallel
        module (None for a single process); build it after the stage (or player) froze what it does not train:
        DDP syncs what requires grad, so each player's gradients are averaged by its own wrapper."""
        if not self.active:
            return None
        from torch.nn.parallel import DistributedDataParallel

        # BatchNorm statistics of the global batch; both convert in place below the root, same parameters
        if device.type == "cuda":
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:  # torch.nn.SyncBatchNorm has no CPU kernels
            convert_global_batchnorm(model)
        ids = [device.index] if device.type == "cuda" else None
        # find_unused: a staged recipe's first stage never reaches the modules only later stages train
        return DistributedDataParallel(LossOf(model, stage, player), device_ids=ids,
                                       find_unused_parameters=find_unused)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over ranks (a new tensor; the argument is left as it was)."""
        total = tensor.clone()
        if self.active:
            import torch.distributed as dist

            dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total

    def gather_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """Every rank's ``rows`` concatenated in rank order (their numbers of rows may differ)."""
        if not self.active or self.world_size == 1:
            return rows
        import torch.distributed as dist

        counts = [torch.zeros(1, dtype=torch.int64, device=rows.device) for _ in range(self.world_size)]
        dist.all_gather(counts, torch.tensor([len(rows)], dtype=torch.int64, device=rows.device))
        most = int(max(c.item() for c in counts))
        padded = torch.zeros((most, *rows.shape[1:]), dtype=rows.dtype, device=rows.device)
        padded[:len(rows)] = rows
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        return torch.cat([part[:int(c.item())] for part, c in zip(parts, counts)])

    def decide_on_main(self, decide: Callable[[], str], device: torch.device) -> str:
        """Run ``decide`` on rank 0 and hand its answer (or its error) to every rank.

        Rank 0 alone chooses and creates the run folder; a failure there must reach the others,
        which would otherwise wait forever for an answer.
        """
        if not self.active:
            return decide()
        import torch.distributed as dist

        answer = ""
        if self.is_main:
            try:
                answer = "ok:" + decide()
            except RunFolderError as exc:
                answer = "error:" + str(exc)
        data = answer.encode("utf-8")
        size = torch.tensor([len(data)], dtype=torch.int64, device=device)
        dist.broadcast(size, 0)
        buffer = torch.zeros(int(size.item()), dtype=torch.uint8, device=device)
        if self.is_main:
            buffer.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        dist.broadcast(buffer, 0)
        status, _, text = bytes(buffer.cpu().tolist()).decode("utf-8").partition(":")
        if status != "ok":
            raise RunFolderError(text)
        return text

    def barrier(self) -> None:
        if self.active:
            import torch.distributed as dist

            dist.barrier()


SINGLE = Distributed()


def start(device: torch.device) -> Distributed:
    """Join torchrun's process group when launched by it (NCCL on CUDA, gloo on CPU); else ``SINGLE``."""
    if not under_torchrun():
        return SINGLE
    import torch.distributed as dist

    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local} has no GPU: this node has {torch.cuda.device_count()}; "
                              f"start at most that many processes per node")
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        # torchrun's agent keeps one key-value store across restarts of the worker group, and the keys
        # a process group publishes (each rank's address) are not scoped to an attempt: a restarted
        # group could read its predecessors' addresses and connect to dead workers, or wait forever.
        store, rank, world = next(dist.rendezvous("env://"))
        store = dist.PrefixStore(f"genkit/attempt-{restart_count()}", store)
        # NCCL is told its device up front, so that its collectives never guess it
        dist.init_process_group(backend, store=store, rank=rank, world_size=world,
                                device_id=torch.device("cuda", local) if backend == "nccl" else None)
    return Distributed(world, rank, local, backend)


def lost_peer(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective failing because another worker went away (not a bug here)."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        mark in text for mark in ("gloo", "NCCL", "Connection reset by peer", "Connection closed by peer"))


def stop(context: Distributed) -> None:
    if context.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def exit_process(code: int) -> NoReturn:
    """End a torchrun worker now, once its output is flushed.

    With torch 2.13 on CPU, gloo sometimes aborts (``terminate called without an active exception``)
    while the interpreter tears down after the process group is gone, turning a finished run into a
    failed worker. Everything is written by this point, so the teardown is skipped.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)

"""A model's averaged weights: an exponential moving average of chosen modules' parameters (``training.ema``).

Diffusion models (DDPM's 0.9999) and GANs are evaluated and shipped with an average of their recent
weights rather than the last step's. The average lives in the model as buffers of this module, so the
checkpoint and model.safetensors hold it beside the trained weights, a resumed run continues it exactly
and every process of a distributed run keeps the same one. After each optimizer step the trainer calls
``update``: before ``start`` steps the average is a copy of the weights, from then on
``average <- decay * average + (1 - decay) * weights``. Sample grids, the test scores of each epoch,
``genkit.load``, ``genkit evaluate`` and ``genkit export`` use the average (``genkit.load(...,
weights="trained")`` gives the last step's weights instead); ``swapped_in`` puts it in place for a while.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn


def _key(name: str) -> str:
    return name.replace(".", "/")  # a buffer's name holds no '.'; the parameter's path stays readable


class AveragedWeights(nn.Module):
    """The exponential moving average of ``model``'s parameters under ``paths`` (all its modules for none)."""

    def __init__(self, model: nn.Module, decay: float, start: int = 0, paths: Sequence[str] = ()):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the average's decay must be in (0, 1), got {decay}")
        self.decay, self.start = float(decay), int(start)
        self.names = [name for name, _ in self._averaged(model, paths)]
        for name, param in self._averaged(model, paths):
            self.register_buffer(_key(name), param.detach().clone())

    @staticmethod
    def _averaged(model: nn.Module, paths: Sequence[str]) -> list[tuple[str, nn.Parameter]]:
        if not paths:
            owned = ("averaged.", "stage_losses.", "player_losses.")  # the average itself; networks losses own
            return [(n, p) for n, p in model.named_parameters() if not n.startswith(owned)]
        chosen = []
        for path in paths:
            module = model.get_submodule(path)  # AttributeError for a path that is no module: the caller says so
            chosen += [(f"{path}.{n}", p) for n, p in module.named_parameters()]
        return chosen

    def pairs(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(averages, the model's parameters they follow), in one order."""
        params = dict(model.named_parameters())
        return [getattr(self, _key(n)) for n in self.names], [params[n] for n in self.names]

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """After optimizer step ``step`` (1-based over the run): follow the weights."""
        averages, params = self.pairs(model)
        if step <= self.start:
            torch._foreach_copy_(averages, [p.detach() for p in params])
        else:
            torch._foreach_lerp_(averages, [p.detach() for p in params], 1.0 - self.decay)

    @contextlib.contextmanager
    def swapped_in(self, model: nn.Module) -> Iterator[None]:
        """The averages in the model's parameters inside the block, the trained weights back after it."""
        averages, params = self.pairs(model)
        with torch.no_grad():
            trained = [p.detach().clone() for p in params]
            torch._foreach_copy_([p.data for p in params], averages)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.data for p in params], trained)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Put the averages in the model's parameters for good (a model loaded to be evaluated or exported)."""
        averages, params = self.pairs(model)
        torch._foreach_copy_([p.data for p in params], averages)


def swapped_in(model: nn.Module) -> contextlib.AbstractContextManager:
    """``model``'s averaged weights in place inside the block; nothing changes for a model without them."""
    averaged = getattr(model, "averaged", None)
    return averaged.swapped_in(model) if averaged is not None else contextlib.nullcontext()

"""The random-number state a checkpoint saves, so that a resumed run draws what the original would.

Training draws from the global torch RNG (weight initialisation, dropout) and from the trainer's own
generators (data order, sampler noise). All of them are saved with each checkpoint and restored on
resume; ``keep_global_rng`` stops a DataLoader from moving the global one as it starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch

from genkit.errors import RunFolderError


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state(), **{k: g.get_state() for k, g in generators.items()}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng(state: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    try:
        if "torch" in state:
            torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])
        for name, gen in generators.items():
            if name in state:
                gen.set_state(state[name])
    except (RuntimeError, TypeError, ValueError) as exc:
        raise RunFolderError(f"the checkpoint's random-number state is corrupt ({exc})") from None


def keep_global_rng(batches: Iterable) -> Iterator:
    """``batches`` without the draw a DataLoader takes from the global RNG when it starts.

    Dropout uses the global RNG; if starting the loader moved it, a run resumed mid-epoch (which starts
    a loader where the uninterrupted run did not) would draw other dropout masks.
    """
    state = torch.get_rng_state()
    iterator = iter(batches)
    try:
        first = next(iterator)
    except StopIteration:
        return
    finally:
        torch.set_rng_state(state)
    yield first
    yield from iterator

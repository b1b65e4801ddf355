"""Determinism under a seed: what ``training.seed`` promises a run.

- Two models built after the same ``torch.manual_seed`` have bitwise equal weights and buffers (a
  component that initialises from its own, unseeded generator or from another library's RNG fails).
- A training-mode forward with equally seeded generators, and the global RNG equally seeded (dropout
  draws from it), gives bitwise equal latent points, reconstructions and loss terms.
- The draw depends on the generator alone: in eval mode, with equally seeded generators but the
  global RNG in different states, the forward's latent points and ``generate`` are equal (a sampler
  that draws from the global RNG instead of ``generator`` fails).

Equality is exact: the same weights through the same kernels on the same inputs in one process give
the same bits on the CPU. The global RNG is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from genkit.testing._asserts import (
    failures_as_assertions,
    generator,
    model_name,
    require_close,
    require_equal_states,
    uniform_images,
)
from genkit.testing.inputs import labels_for


def _seeded(seed: int, call: Callable[[], Any]) -> Any:
    torch.manual_seed(seed)
    return call()


def check_seed_determinism(build: Callable[[], Any], images: torch.Tensor | None = None, *, seed: int = 0) -> None:
    """``build()`` makes a fresh model (e.g. from a recipe); see the module docstring for what is checked."""
    with torch.random.fork_rng(devices=[]):
        first = _seeded(seed, build)
        second = _seeded(seed, build)
        who = model_name(first)
        require_equal_states(second, first, who, f"two models built after torch.manual_seed({seed})")
        x = images if images is not None else uniform_images(first.spec.input_shape, 3, seed)
        labels = labels_for(first.spec, len(x))

        def step(model: Any) -> dict[str, torch.Tensor]:
            model.train()
            out = model(x, labels, generator=generator(seed))
            losses = model.loss(x, out)
            return {"sampled z": out.z, "decoder output": out.x_hat,
                    **{f"extra {k!r}": v for k, v in out.extras.items()},
                    **{f"loss term {k!r}": v for k, v in losses.items()}}

        with failures_as_assertions(who, "the training forward"):
            a, b = _seeded(seed + 1, lambda: step(first)), _seeded(seed + 1, lambda: step(second))
        for key, value in a.items():
            require_close(b[key], value, who, f"training forward with equal seeds: {key}", atol=0.0)

        def draws(model: Any) -> dict[str, torch.Tensor]:
            model.eval()
            with torch.no_grad():
                return {"sampled z": model(x, labels, generator=generator(seed)).z,
                        "generate(4)": model.generate(4, generator=generator(seed),
                                                      labels=labels_for(model.spec, 4))}

        with failures_as_assertions(who, "the eval forward"):
            a, b = _seeded(seed + 2, lambda: draws(first)), _seeded(seed + 3, lambda: draws(first))
        for key, value in a.items():
            require_close(b[key], value, who, f"{key} with equally seeded generators but another global RNG state "
                                              f"(draw from `generator`, not the global RNG)", atol=0.0)

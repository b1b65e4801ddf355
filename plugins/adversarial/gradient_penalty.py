"""WGAN-GP's gradient penalty (Gulrajani et al. 2017): the critic's input gradient kept at norm 1."""

from __future__ import annotations

import torch
from torch import nn


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, *condition: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Per image, (||grad_x D(x_between)|| - 1)^2 at a uniformly drawn point between a real and a fake image.

    The weights come from ``generator`` (the pass's noise generator), so a seeded run and its resume draw the
    same points. The gradient is taken in float32 and with gradients on whatever the caller runs under: the
    test scores and ``genkit evaluate`` call the loss without gradients, and training may run under bf16 or
    fp16 autocast, whose rounding would swamp a norm compared with 1. A conditional critic is given the same
    labels at every point (``condition``); only the image is differentiated.
    """
    device = generator.device if generator is not None else real.device
    alpha = torch.rand(len(real), 1, 1, 1, generator=generator, device=device).to(real.device)
    training = torch.is_grad_enabled()  # read before enable_grad: scoring needs no second-order graph
    with torch.enable_grad(), torch.autocast(real.device.type, enabled=False):
        between = (alpha * real.float() + (1 - alpha) * fake.float()).requires_grad_(True)
        scores = critic(between, *condition).float()
        # create_graph so that the penalty itself trains the critic (second-order gradients)
        grad, = torch.autograd.grad(scores.sum(), between, create_graph=training)
        return (grad.flatten(1).norm(dim=1) - 1.0) ** 2

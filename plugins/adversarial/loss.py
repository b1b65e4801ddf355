"""The WGAN-GP objective (Gulrajani et al. 2017) as two players' losses.

- ``CriticLoss`` (the ``critic`` player's): D(fake) - D(real) + lambda * (||grad D(x_between)|| - 1)^2. It
  builds and owns the critic network, which the model keeps at ``player_losses.critic.network``: saved with
  the weights, trained by the critic player, never exported.
- ``GeneratorLoss`` (the model's loss, minimised by the ``generator`` player): -D(G(z)), scored by the critic
  that the critic player's loss owns (``out.losses["critic"]``).

A conditional model's critic scores an image together with its label (``out.labels``): the real batch's
labels, with which the model also generated the fakes.
"""

from __future__ import annotations

import dataclasses

import torch

from genkit.config import field
from genkit.contract.components import Loss, ModelOutput, ModelSpec

from .critic import ConvCritic
from .gradient_penalty import gradient_penalty


def _condition(spec: ModelSpec, out: ModelOutput) -> tuple[torch.Tensor, ...]:
    if not spec.conditional:
        return ()
    if out.labels is None:
        raise ValueError(f"this critic is conditional on a class label in [0, {spec.classes}): the pass has no labels")
    return (out.labels,)


class CriticLoss(Loss):
    """The critic's loss; ``wasserstein`` is its estimate of the distance, D(real) - D(fake), which it maximises."""

    terms = ("loss", "wasserstein", "gradient_penalty")

    @dataclasses.dataclass(frozen=True)
    class Settings:
        penalty: float = field(10.0, "lambda, the gradient penalty's weight (the paper's 10)", min=0.0)
        filters: list[int] = field([64, 128], "output channels of the critic's stride-2 convolutions",
                                   positive_items=True)
        layer_norm: bool = field(False, "layer normalisation after each critic convolution (the paper's "
                                 "alternative to BatchNorm; the book uses none)")
        leaky_relu_slope: float = field(0.2, "negative slope of the critic's LeakyReLU activations", min=0.0)

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        s = self.settings
        self.network = ConvCritic(spec.input_shape, spec.classes, list(s.filters), s.leaky_relu_slope, s.layer_norm)

    def forward(self, x: torch.Tensor, out: ModelOutput) -> dict[str, torch.Tensor]:
        condition = _condition(self.spec, out)
        # the critic's turn does not train the generator; detached, its images are data to the critic
        fake = out.x_hat.detach()
        wasserstein = self.network(x, *condition).float().mean() - self.network(fake, *condition).float().mean()
        penalty = gradient_penalty(self.network, x, fake, *condition, generator=out.generator).mean()
        # read from self.settings at every call, so a schedule of the penalty takes effect
        return {"loss": self.settings.penalty * penalty - wasserstein, "wasserstein": wasserstein,
                "gradient_penalty": penalty}


class GeneratorLoss(Loss):
    """-D(G(z)): the generator's images scored by the critic another player's loss owns."""

    terms = ("loss",)

    @dataclasses.dataclass(frozen=True)
    class Settings:
        critic: str = field("critic", "the player whose loss owns the critic")

    def forward(self, x: torch.Tensor, out: ModelOutput) -> dict[str, torch.Tensor]:
        name = self.settings.critic
        if name not in out.losses or not hasattr(out.losses[name], "network"):
            raise ValueError(f"the generator's loss scores images with the critic of player {name!r}'s loss, which "
                             f"this pass does not have (players: {sorted(out.losses) or 'none'})")
        critic = out.losses[name].network
        return {"loss": -critic(out.x_hat, *_condition(self.spec, out)).float().mean()}

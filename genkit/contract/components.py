"""The four component interfaces every genkit model is built from.

Each component is a ``torch.nn.Module`` whose ``forward`` takes and returns plain tensors, so that the
encoder and decoder export to ONNX unchanged. Concrete implementations live in plugins; the core only
knows these contracts.

Construction contract: the model builder (``genkit.contract.model.build_model``) constructs every component
with keyword arguments only: the shared ``ModelSpec`` as ``spec`` plus the component's own settings
(the recipe's defaults overridden by the user's config). A component declares its settings as a
dataclass in the class attribute ``Settings``; the config layer validates user values against it.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import ClassVar

import torch
from torch import nn

from genkit.contract.priors import DiagonalGaussianPrior, Prior


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What every component of one model must agree on.

    ``latent_shape`` is the shape of one latent point: ``(z,)`` for a flat latent, ``(D, h, w)`` for a
    spatial one. ``parameter_names`` are the names of the encoder's outputs, chosen by the sampler
    (``mu``, ``log_var`` for a Gaussian sampler, ``code`` for a deterministic one). ``classes`` is the
    number of class labels a conditional model takes (0: unconditional). ``feature_shape`` is the
    encoder's pre-flatten feature map (C, H, W), filled in by the builder after the encoder exists so
    the decoder can mirror it.
    """

    input_shape: tuple[int, int, int]  # (C, H, W)
    latent_shape: tuple[int, ...]
    parameter_names: tuple[str, ...]
    feature_shape: tuple[int, ...] | None = None
    classes: int = 0

    @property
    def conditional(self) -> bool:
        return self.classes > 0

    @property
    def latent_numel(self) -> int:
        """Numbers in one latent point (the width of a flat latent)."""
        return math.prod(self.latent_shape)


@dataclasses.dataclass
class SamplerOutput:
    """What a sampler's ``forward`` returns: the latent points and named extras.

    ``extras`` carries what a loss may need besides z, by name: loss terms computed in the sampler (a
    codebook or commitment loss), the integer ``codes`` that chose z, log q(z|x), log p(z). A sampler
    lists the names in its ``extras`` class attribute.
    """

    z: torch.Tensor
    extras: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ModelOutput:
    """One forward pass, as the loss sees it.

    ``x_hat`` is the decoder's output (None when the loss declares ``needs_reconstruction = False``);
    ``params`` the encoder's outputs by name; ``z`` and ``extras`` the sampler's output; ``labels`` the
    condition (None for an unconditional model); ``prior`` the sampler's prior, for losses that score
    z under it.
    """

    x_hat: torch.Tensor | None
    params: dict[str, torch.Tensor]
    z: torch.Tensor
    extras: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    labels: torch.Tensor | None = None
    prior: Prior | None = None


class Component(nn.Module, abc.ABC):
    """Base of the four kinds: holds the settings dataclass and the shared spec."""

    kind: ClassVar[str] = ""

    @dataclasses.dataclass(frozen=True)
    class Settings:
        """No settings by default."""

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__()
        self.spec = spec
        self.settings = self.Settings(**settings)


class Encoder(Component):
    """Maps an image batch to the latent distribution's parameters.

    ``forward(x)``, or ``forward(x, labels)`` in a conditional model: ``x`` is a float tensor
    (N, C, H, W) with values in [0, 1], ``labels`` int64 (N,) in [0, spec.classes). Returns a tuple of
    tensors, one per name in ``spec.parameter_names`` and in that order, each (N, ...). The tuple is
    what the sampler consumes and what the exported encoder graph outputs.

    ``feature_shape`` is the (C, H, W) shape before the final flatten, for the decoder to mirror.
    """

    kind = "encoder"

    @property
    @abc.abstractmethod
    def feature_shape(self) -> tuple[int, ...]: ...

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, *condition: torch.Tensor) -> tuple[torch.Tensor, ...]: ...


class Sampler(Component):
    """Turns the encoder's parameters into latent points, and declares the prior latent points come from.

    ``parameter_names`` (class attribute) names the encoder outputs this sampler consumes; ``extras``
    the names of the extras its ``forward`` returns.

    ``forward(*params, generator=None)`` returns a ``SamplerOutput`` (or just z): z is
    (N, *latent_shape), or (K·N, *latent_shape) for a sampler that draws K points per image (the
    first N rows the first draw of each image, and so on). It may be random (a reparameterised draw)
    and must let gradients reach ``params`` (straight through a non-differentiable step where there
    is one). ``mean(*params)`` returns the deterministic code used to encode and reconstruct at
    inference; it goes into the exported encoder graph. ``prior()`` returns one of the families in
    ``genkit.contract.priors``, which the export describes and the torch-free runtime samples.

    A sampler whose prior is learnt from data (``fits_prior = True``) gets ``fit_prior(codes)`` with
    the training set's codes after each epoch; its prior parameters are buffers, so they are saved
    with the weights.
    """

    kind = "sampler"
    parameter_names: ClassVar[tuple[str, ...]] = ()
    extras: ClassVar[tuple[str, ...]] = ()
    fits_prior: ClassVar[bool] = False

    @abc.abstractmethod
    def forward(self, *params: torch.Tensor,
                generator: torch.Generator | None = None) -> SamplerOutput | torch.Tensor: ...

    @abc.abstractmethod
    def mean(self, *params: torch.Tensor) -> torch.Tensor: ...

    @abc.abstractmethod
    def prior(self) -> Prior:
        """The prior latent points are drawn from, as one of ``genkit.contract.priors``' families."""

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` points (n, *latent_shape) from ``prior()``."""
        return self.prior().sample(n, generator)

    def fit_prior(self, codes: torch.Tensor) -> None:  # pragma: no cover - default is a no-op
        """Fit the prior to the training codes (N, *latent_shape); only called when ``fits_prior``."""

    def log_posterior(self, z: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        """log q(z|x) (N,) of points z (N, *latent_shape) under the posterior ``params`` describe.

        A sampler that defines a density implements it (with ``forward`` drawing from that density), so
        likelihoods can be estimated by importance sampling with the encoder as proposal; one that
        does not (a deterministic code) leaves this, and the model has no density.
        """
        raise NotImplementedError(f"{type(self).__name__} defines no posterior density q(z|x)")


def standard_normal_prior(spec: ModelSpec, like: torch.Tensor | None = None) -> DiagonalGaussianPrior:
    """N(0, I) over ``spec.latent_shape``, on ``like``'s device and dtype."""
    kwargs = {"device": like.device, "dtype": like.dtype} if like is not None else {}
    return DiagonalGaussianPrior(torch.zeros(spec.latent_shape, **kwargs), torch.ones(spec.latent_shape, **kwargs))


class Decoder(Component):
    """Maps latent points (N, *latent_shape), and labels in a conditional model, to images (N, C, H, W) in [0, 1]."""

    kind = "decoder"

    @abc.abstractmethod
    def forward(self, z: torch.Tensor, *condition: torch.Tensor) -> torch.Tensor: ...


class Loss(Component):
    """Scores a forward pass.

    ``forward(x, out)``: ``x`` is the image batch (N, C, H, W) and ``out`` the ``ModelOutput`` of the
    pass (reconstruction, encoder parameters, z, the sampler's extras, labels, prior). Returns a dict
    of scalar tensors, each averaged over the batch: ``loss`` (the total that is minimised) and every
    term it is made of, so training logs each. ``terms`` (class attribute) lists the keys, ``loss``
    first. A loss that does not look at the reconstruction (a prior's likelihood, say) sets
    ``needs_reconstruction = False`` and the model skips the decoder.
    """

    kind = "loss"
    terms: ClassVar[tuple[str, ...]] = ("loss",)
    needs_reconstruction: ClassVar[bool] = True
    likelihood: ClassVar[str] = ""  # the decoder likelihood log_likelihood computes, e.g. "gaussian (sigma 0.63)"

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, out: ModelOutput) -> dict[str, torch.Tensor]: ...

    def log_likelihood(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """log p(x|z) (N,) in nats of images x under the decoder's output x_hat, for the likelihood the
        loss implies (say which in ``likelihood``); a loss that implies none leaves this."""
        raise NotImplementedError(f"{type(self).__name__} implies no decoder likelihood p(x|z)")


KINDS: dict[str, type[Component]] = {
    "encoder": Encoder,
    "sampler": Sampler,
    "decoder": Decoder,
    "loss": Loss,
}
COMPONENT_KINDS: tuple[str, ...] = tuple(KINDS)

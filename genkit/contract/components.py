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
import inspect
import math
from typing import Any, ClassVar

import torch
from torch import nn

from genkit.contract.priors import DiagonalGaussianPrior, Prior
from genkit.deprecation import warn_deprecated


def _shape(value: Any, what: str, rank: int | None = None) -> tuple[int, ...]:
    """``value`` as a tuple of positive ints (a bare int is a rank-1 shape), or a ValueError saying why not."""
    items = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        raise ValueError(f"ModelSpec {what} must be a shape (a tuple of positive ints), got {value!r}") from None
    if not items or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items) or (
            rank is not None and len(items) != rank):
        form = f"{rank} positive ints" if rank else "positive ints, e.g. (2,) or (16, 7, 7)"
        raise ValueError(f"ModelSpec {what} must be {form}, got {value!r}")
    return tuple(int(v) for v in items)


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

    def __post_init__(self) -> None:
        # Normalised (a bare int latent is (N,), lists are tuples) or refused here, not in a component later.
        names = (self.parameter_names,) if isinstance(self.parameter_names, str) else self.parameter_names
        if not (isinstance(names, (tuple, list)) and all(isinstance(n, str) and n for n in names)):
            raise ValueError(f"ModelSpec parameter_names must be a tuple of names, got {self.parameter_names!r}")
        if not (isinstance(self.classes, int) and not isinstance(self.classes, bool) and self.classes >= 0):
            raise ValueError(f"ModelSpec classes must be an int >= 0 (0: unconditional), got {self.classes!r}")
        values = {"input_shape": _shape(self.input_shape, "input_shape", 3),
                  "latent_shape": _shape(self.latent_shape, "latent_shape"), "parameter_names": tuple(names),
                  "feature_shape": None if self.feature_shape is None else _shape(self.feature_shape,
                                                                                  "feature_shape")}
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @property
    def z_dim(self) -> int:
        """Deprecated (0.1): the width of a flat latent; use ``latent_shape`` or ``latent_numel``."""
        warn_deprecated("ModelSpec.z_dim", "ModelSpec.latent_shape (or latent_numel, its width when flat)")
        if len(self.latent_shape) != 1:
            raise AttributeError(f"ModelSpec.z_dim is only defined for a flat latent; this one is "
                                 f"{list(self.latent_shape)}: use latent_shape")
        return self.latent_shape[0]

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
    z under it. ``losses`` holds the loss of every player of a recipe with players, by player name, so
    that one player's loss can use a network another's owns (a generator's loss scores its images with
    the critic of the critic player's loss); it is empty without players. ``generator`` is the noise
    generator the pass drew with: a loss that draws noise of its own (a gradient penalty's interpolation)
    draws it from there, so a run is deterministic for its seed and resumes exactly.

    In a generator-only model (no encoder) ``params`` is empty, ``z`` is a draw from the prior, one row
    per image of the batch, and ``x_hat`` the images the decoder generates from it.
    """

    x_hat: torch.Tensor | None
    params: dict[str, torch.Tensor]
    z: torch.Tensor
    extras: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    labels: torch.Tensor | None = None
    prior: Prior | None = None
    losses: dict[str, Loss] = dataclasses.field(default_factory=dict)
    generator: torch.Generator | None = None  # the noise generator of the pass, for a loss's own draws


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

    def after_step(self, step: int) -> None:
        """An update without gradients after each optimizer step (a codebook's moving average, say).

        The trainer calls it on every component, under ``torch.no_grad()``, after optimizer step ``step``
        (1-based over the whole run) and before the model's averaged weights follow; on every process of a
        distributed run alike. It must be deterministic (no unseeded randomness) and keep its state in
        buffers, so that the checkpoint holds it and a resumed run continues it exactly. Default: nothing.
        """


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

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "prior" in cls.__dict__:
            cls.prior = _prior_from_dict(cls.__dict__["prior"], cls)

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
        """log q(z|x) (K·N,) of points z (K·N, *latent_shape) under the posteriors of N images.

        ``params`` are the encoder's outputs of the N images, once each: (N, ...). z holds K points of
        every image, draw-major as ``forward`` lays out its rows (row k·N + i is draw k of image i), so
        row r is scored under the posterior of image r mod N (tile the params K times). Evaluation's
        likelihood passes up to 256 images and K·N up to 8192 rows a call; its check beforehand passes
        one image's code (K = N = 1).

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
    ``needs_reconstruction = False`` and the model skips the decoder. ``needs_extras`` names the sampler
    extras ``forward`` reads (a sampler that does not give them is refused before training). ``forward``
    reads the loss's settings from ``self.settings`` each time, so a numeric one can follow a schedule
    (``[schedules]``: the trainer replaces ``self.settings`` as training goes).

    ``batch_terms`` (class attribute) lists the terms that are statistics of the batch rather than means
    of per-image values (an MMD between the batch's codes and prior draws, a minibatch estimate of a
    total correlation, a discriminator's accuracy): such a term means something only on a batch of the
    training batch size, so evaluation scores it on the trainer's test batches and reports it per batch.
    ``loss`` is in it when any term it is made of is; every other term is a mean over images.
    """

    kind = "loss"
    terms: ClassVar[tuple[str, ...]] = ("loss",)
    batch_terms: ClassVar[tuple[str, ...]] = ()  # terms that are statistics of the batch (see above)
    needs_reconstruction: ClassVar[bool] = True
    needs_extras: ClassVar[tuple[str, ...]] = ()  # the sampler extras forward reads (checked before training)
    likelihood: ClassVar[str] = ""  # the decoder likelihood log_likelihood computes, e.g. "gaussian (sigma 0.63)"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        forward = cls.__dict__.get("forward")
        if forward is not None and _takes_three_tensors(forward):
            cls.forward = _forward_from_0_1(forward, cls)

    @abc.abstractmethod
    def forward(self, x: torch.Tensor, out: ModelOutput) -> dict[str, torch.Tensor]: ...

    def log_likelihood(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """log p(x|z) (N,) in nats of images x under the decoder's output x_hat, for the likelihood the
        loss implies (say which in ``likelihood``); a loss that implies none leaves this."""
        raise NotImplementedError(f"{type(self).__name__} implies no decoder likelihood p(x|z)")


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _defined_at(function) -> str:
    """Where ``function`` is defined, for a warning about the method itself (not about one call of it)."""
    code = function.__code__
    return f"{code.co_filename}:{code.co_firstlineno}"


def _prior_from_dict(prior, cls: type):
    """0.1's ``Sampler.prior()`` returned ``{"mean": ..., "std": ...}``: read it as the diagonal Gaussian it meant."""
    def wrapper(self):
        value = prior(self)
        if isinstance(value, dict):
            warn_deprecated(f"{_qualname(cls)}.prior() returning a dict",
                            "a prior family of genkit.contract.priors (here DiagonalGaussianPrior(mean, std))",
                            where=_defined_at(prior))
            mean = value["mean"]
            return DiagonalGaussianPrior(mean.reshape(self.spec.latent_shape),
                                         value["std"].expand_as(mean).reshape(self.spec.latent_shape))
        return value

    wrapper.__doc__, wrapper.__name__, wrapper.__qualname__ = prior.__doc__, prior.__name__, prior.__qualname__
    return wrapper


def _takes_three_tensors(forward) -> bool:
    """Whether ``forward`` has 0.1's signature ``(self, x, x_hat, params)`` rather than ``(self, x, out)``."""
    try:
        params = list(inspect.signature(forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 3


def _forward_from_0_1(forward, cls: type):
    """0.1's ``Loss.forward(x, x_hat, params)``, called with today's ``(x, out)``."""
    warn_deprecated(f"{_qualname(cls)}.forward(x, x_hat, params)",
                    "forward(x, out) with out a genkit.contract.components.ModelOutput (out.x_hat, out.params)",
                    where=_defined_at(forward))

    def adapted(self, x: torch.Tensor, out: ModelOutput) -> dict[str, torch.Tensor]:
        return forward(self, x, out.x_hat, out.params)

    adapted.__doc__, adapted.__name__, adapted.__qualname__ = forward.__doc__, forward.__name__, forward.__qualname__
    return adapted


KINDS: dict[str, type[Component]] = {
    "encoder": Encoder,
    "sampler": Sampler,
    "decoder": Decoder,
    "loss": Loss,
}
COMPONENT_KINDS: tuple[str, ...] = tuple(KINDS)

"""Conformance checks for plugin authors: does a component or recipe keep genkit's contracts?

Call the ``check_*`` functions from your own tests, or subclass ``ComponentConformance`` to get test
methods for free. A violated contract raises ``AssertionError`` naming the component and the rule, e.g.
``MyDecoder: output must lie in [0, 1] (end with a sigmoid); got values in [-0.8, 1.3]``.

The contracts are those of ``genkit.components``; each check builds the component the way
``genkit.model.build_model`` does (settings validated by the config layer, keyword arguments only).
To grow the module, add one ``check_*`` function per contract and, where it applies to every
component of a kind, one ``test_*`` method on the mixin.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from genkit.components import KINDS, Component, ModelSpec
from genkit.config import build_config, validate_section
from genkit.errors import GenkitError
from genkit.model import GenerativeModel, build_model
from genkit.registry import Registry

DEFAULT_SPEC = ModelSpec(input_shape=(1, 28, 28), z_dim=2, parameter_names=("mu", "log_var"), feature_shape=(64, 7, 7))
"""The book's 28x28 model; ``feature_shape`` is what its default conv encoder produces."""


def _name(cls: Any) -> str:
    return getattr(cls, "__name__", repr(cls))


def _require(condition: Any, who: str, rule: str) -> None:
    if not condition:
        raise AssertionError(f"{who}: {rule}")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(spec: ModelSpec, n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, *spec.input_shape, generator=_generator(seed))


def _check_tensor(t: Any, shape: tuple[int, ...], who: str, what: str) -> None:
    _require(isinstance(t, torch.Tensor), who, f"{what} must be a tensor; got {type(t).__name__}")
    _require(tuple(t.shape) == tuple(shape), who, f"{what} must have shape {tuple(shape)}; got {tuple(t.shape)}")
    _require(t.dtype == torch.float32, who, f"{what} must be float32 for float32 inputs; got {t.dtype}")
    _require(bool(torch.isfinite(t).all()), who, f"{what} has non-finite values")


def _check_unit_range(t: torch.Tensor, who: str, what: str) -> None:
    lo, hi = float(t.detach().min()), float(t.detach().max())
    _require(lo >= 0.0 and hi <= 1.0, who, f"{what} must lie in [0, 1] (end with a sigmoid); "
                                           f"got values in [{lo:.3g}, {hi:.3g}]")


def _backward(t: torch.Tensor, who: str, what: str) -> None:
    _require(t.requires_grad, who, f"{what} must be differentiable (it is detached from the graph)")
    t.backward()


def _check_gradients(module: torch.nn.Module, who: str) -> None:
    missing = [name for name, p in module.named_parameters() if p.requires_grad and p.grad is None]
    _require(not missing, who, f"no gradient reached {missing[:5]}: every trainable parameter must take "
                               f"part in the loss (DistributedDataParallel requires it)")
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    _require(not grads or any(bool(g.abs().sum() > 0) for g in grads), who, "all gradients are zero")


def _check_eval_determinism(module: torch.nn.Module, call: Any, who: str, what: str) -> None:
    module.eval()
    with torch.no_grad():
        first, second = call(), call()
    pairs = zip(first, second) if isinstance(first, tuple) else [(first, second)]
    _require(all(torch.equal(a, b) for a, b in pairs), who,
             f"{what} must be deterministic in eval mode (exported graphs and reconstructions rely on it)")


def check_loss_terms(out: Any, terms: Sequence[str], who: str) -> None:
    """``out`` is a dict with ``loss`` first and exactly the declared ``terms``, each a finite scalar."""
    _require(isinstance(out, dict), who, f"loss must return a dict of named terms; got {type(out).__name__}")
    _require(list(out)[:1] == ["loss"], who, f"the first term must be 'loss' (the total); got {list(out)}")
    _require(set(out) == set(terms), who, f"returned terms {list(out)} differ from the declared terms {list(terms)}")
    for name, value in out.items():
        _require(isinstance(value, torch.Tensor) and value.dim() == 0, who, f"term {name!r} must be a scalar tensor")
        _require(value.is_floating_point() and bool(torch.isfinite(value)), who, f"term {name!r} is not finite")


# -- components ------------------------------------------------------------------------------------


def build_component(cls: type, kind: str, spec: ModelSpec, settings: dict[str, Any] | None = None) -> Component:
    """Construct ``cls`` as the model builder does, after validating ``settings`` like a user's config."""
    who = _name(cls)
    base = KINDS[kind]
    _require(isinstance(cls, type) and issubclass(cls, base), who,
             f"must be a subclass of genkit.components.{base.__name__}")
    _require(dataclasses.is_dataclass(cls.Settings), who, "Settings must be a dataclass")
    try:
        validated = validate_section(cls.Settings, dict(settings or {}), kind)
    except GenkitError as exc:
        raise AssertionError(f"{who}: the config layer rejects the settings {settings!r}: {exc}") from exc
    try:
        return cls(spec=spec, **validated)
    except Exception as exc:
        raise AssertionError(f"{who}: construction with {validated!r} failed: {type(exc).__name__}: {exc}") from exc


def check_encoder(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
                  batch_size: int = 2, seed: int = 0):
    """Outputs: one (N, z_dim) float tensor per ``spec.parameter_names``; gradients; determinism."""
    who = _name(cls)
    spec = dataclasses.replace(spec or DEFAULT_SPEC, feature_shape=None)  # unknown until the encoder exists
    encoder = build_component(cls, "encoder", spec, settings)
    shape = encoder.feature_shape
    _require(isinstance(shape, (tuple, list)) and all(isinstance(d, int) and d > 0 for d in shape), who,
             f"feature_shape must be a tuple of positive ints; got {shape!r}")
    x = _images(spec, batch_size, seed)
    encoder.train()
    out = encoder(x)
    names = spec.parameter_names
    _require(isinstance(out, tuple) and len(out) == len(names), who,
             f"forward must return a tuple of {len(names)} tensors {names}; got {type(out).__name__}"
             f"{f' of {len(out)}' if isinstance(out, tuple) else ''}")
    for name, t in zip(names, out):
        _check_tensor(t, (batch_size, spec.z_dim), who, f"output {name!r}")
    _backward(sum(t.sum() for t in out), who, "forward")
    _check_gradients(encoder, who)
    _check_eval_determinism(encoder, lambda: encoder(x), who, "forward")
    return encoder


def check_sampler(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
                  batch_size: int = 4, seed: int = 0):
    """Seeded reparameterised draws, a deterministic mean, prior draws, and a fitted prior if any."""
    who = _name(cls)
    names = getattr(cls, "parameter_names", ())
    _require(isinstance(names, tuple) and names and all(isinstance(n, str) for n in names), who,
             f"parameter_names must be a non-empty tuple of names; got {names!r}")
    spec = dataclasses.replace(spec or DEFAULT_SPEC, parameter_names=names)
    sampler = build_component(cls, "sampler", spec, settings)
    shape = (batch_size, spec.z_dim)
    gen = _generator(seed)
    params = [torch.randn(shape, generator=gen).requires_grad_() for _ in names]
    z = sampler(*params, generator=_generator(seed))
    _check_tensor(z, shape, who, "forward")
    _require(torch.equal(z, sampler(*params, generator=_generator(seed))), who,
             "forward must give equal draws for equally seeded generators (draw noise from `generator`)")
    _backward(z.sum(), who, "forward (a reparameterised draw)")
    _require(any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in params), who,
             "forward must be differentiable with respect to the encoder's outputs (reparameterise)")
    with torch.no_grad():
        mean = sampler.mean(*params)
        _check_tensor(mean, shape, who, "mean")
        _require(torch.equal(mean, sampler.mean(*params)), who, "mean must be deterministic")
    prior = sampler.prior()
    _require(isinstance(prior, dict) and all(isinstance(v, torch.Tensor) for v in prior.values()), who,
             "prior() must return a dict of named tensors")
    draws = sampler.sample_prior(5, generator=_generator(seed))
    _check_tensor(draws, (5, spec.z_dim), who, "sample_prior(5)")
    _require(torch.equal(draws, sampler.sample_prior(5, generator=_generator(seed))), who,
             "sample_prior must give equal draws for equally seeded generators")
    if getattr(cls, "fits_prior", False):
        _check_fit_prior(sampler, who, seed)
    return sampler


def _check_fit_prior(sampler, who: str, seed: int) -> None:
    z_dim = sampler.spec.z_dim
    codes = torch.randn(512, z_dim, generator=_generator(seed)) * 3.0 + 2.0
    before = {k: v.clone() for k, v in sampler.state_dict().items()}
    sampler.fit_prior(codes)
    after = sampler.state_dict()
    _require(any(k not in before or not torch.equal(before[k], v) for k, v in after.items()), who,
             "fit_prior must store the fitted prior in buffers saved with the weights (the state_dict)")
    draws = sampler.sample_prior(4096, generator=_generator(seed))
    _require(torch.allclose(draws.mean(0), codes.mean(0), atol=0.5), who,
             "after fit_prior, sample_prior must follow the codes it was fitted to (means differ)")


def check_decoder(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
                  batch_size: int = 2, seed: int = 0):
    """Output (N, C, H, W) float32 in [0, 1] even for far-out latent points; gradients; determinism."""
    who = _name(cls)
    spec = spec or DEFAULT_SPEC
    if spec.feature_shape is None:
        raise ValueError("check_decoder needs spec.feature_shape (the encoder's pre-flatten shape)")
    decoder = build_component(cls, "decoder", spec, settings)
    z = torch.randn(batch_size, spec.z_dim, generator=_generator(seed))
    decoder.train()
    out = decoder(z)
    _check_tensor(out, (batch_size, *spec.input_shape), who, "output")
    _check_unit_range(out, who, "output")
    _backward(out.sum(), who, "forward")
    _check_gradients(decoder, who)
    _check_eval_determinism(decoder, lambda: decoder(z), who, "forward")
    with torch.no_grad():
        _check_unit_range(decoder(z * 100.0), who, "output for latent points far from the prior")
    return decoder


def check_loss(cls: type, spec: ModelSpec | None = None, settings: dict[str, Any] | None = None,
               batch_size: int = 2, seed: int = 0):
    """``loss`` first, exactly the declared ``terms`` as finite scalars, and a gradient to ``x_hat``."""
    who = _name(cls)
    terms = getattr(cls, "terms", ())
    _require(isinstance(terms, tuple) and terms[:1] == ("loss",) and len(set(terms)) == len(terms), who,
             f"terms must be a tuple of distinct names starting with 'loss'; got {terms!r}")
    spec = spec or DEFAULT_SPEC
    loss = build_component(cls, "loss", spec, settings)
    gen = _generator(seed)
    x = torch.rand(batch_size, *spec.input_shape, generator=gen)
    x_hat = torch.rand(x.shape, generator=gen).requires_grad_()  # same generator: differs from x
    params = {n: torch.randn(batch_size, spec.z_dim, generator=gen).requires_grad_() for n in spec.parameter_names}
    out = loss(x, x_hat, params)
    check_loss_terms(out, terms, who)
    _backward(out["loss"], who, "the total 'loss'")
    _require(x_hat.grad is not None and bool(x_hat.grad.abs().sum() > 0), who,
             "the total 'loss' must depend on the reconstruction x_hat")
    return loss


COMPONENT_CHECKS = {"encoder": check_encoder, "sampler": check_sampler, "decoder": check_decoder, "loss": check_loss}


# -- recipes ---------------------------------------------------------------------------------------


def check_recipe(recipe: str | Registry, registry: Registry | str | None = None, *, overrides: Sequence[str] = (),
                 batch_size: int = 2, seed: int = 0) -> GenerativeModel:
    """Build a recipe's model and run the whole contract through it: forward, loss, backward, inference.

    ``check_recipe("vae")`` uses the installed plugins; ``check_recipe(registry, "vae")`` or
    ``check_recipe("vae", registry)`` a registry of your own. Returns the model.
    """
    if isinstance(recipe, Registry):
        recipe, registry = registry, recipe
    if registry is None:
        from genkit.plugins import get_registry

        registry = get_registry()
    who = f"recipe {recipe!r}"
    try:
        model = build_model(build_config(registry, recipe, overrides=overrides), registry)
    except GenkitError as exc:
        raise AssertionError(f"{who} cannot be built: {exc}") from exc
    spec = model.spec
    _require(spec.parameter_names == tuple(model.sampler.parameter_names), who,
             "the encoder's outputs must be the sampler's parameter_names")
    x = _images(spec, batch_size, seed)
    model.train()
    out = model(x, generator=_generator(seed))
    _require(list(out.params) == list(spec.parameter_names), who,
             f"encoder outputs {list(out.params)} must be named {list(spec.parameter_names)}")
    for name, t in out.params.items():
        _check_tensor(t, (batch_size, spec.z_dim), who, f"encoder output {name!r}")
    _check_tensor(out.z, (batch_size, spec.z_dim), who, "sampled z")
    _check_tensor(out.x_hat, tuple(x.shape), who, "decoder output")
    _check_unit_range(out.x_hat, who, "decoder output")
    losses = model.loss(x, out.x_hat, out.params)
    check_loss_terms(losses, model.loss.terms, who)
    _backward(losses["loss"], who, "the total 'loss'")
    _check_gradients(model.encoder, f"{who} encoder")
    _check_gradients(model.decoder, f"{who} decoder")
    model.eval()
    codes = model.codes(x)
    _check_tensor(codes, (batch_size, spec.z_dim), who, "codes (the sampler's mean)")
    _require(torch.equal(codes, model.codes(x)), who, "codes must be deterministic in eval mode")
    _check_unit_range(model.reconstruct(x), who, "reconstruction")
    with torch.no_grad():
        _check_tensor(model.sampler.sample_prior(3, generator=_generator(seed)), (3, spec.z_dim), who,
                      "sample_prior(3)")
    generated = model.generate(3, generator=_generator(seed))
    _check_tensor(generated, (3, *spec.input_shape), who, "generate(3)")
    _check_unit_range(generated, who, "generated images")
    return model


# -- pytest mixin ----------------------------------------------------------------------------------


class ComponentConformance:
    """Test methods for one component class; subclass it in a test module::

        class TestMyEncoder(ComponentConformance):
            component_class = MyEncoder
            settings = {"filters": [8, 16], "kernels": [3, 3], "strides": [2, 2]}
            spec = ModelSpec((1, 28, 28), 2, ("mu", "log_var"))  # optional, defaults to DEFAULT_SPEC

    The kind (encoder, sampler, decoder or loss) comes from the class.
    """

    component_class: ClassVar[type | None] = None
    spec: ClassVar[ModelSpec | None] = None
    settings: ClassVar[dict[str, Any]] = {}

    def _component(self) -> type:
        cls = self.component_class
        if cls is None:
            raise TypeError(f"{type(self).__name__} must set component_class")
        return cls

    def test_default_settings_are_valid(self):
        """Every setting has a default, so a recipe may leave any of them out."""
        cls = self._component()
        try:
            validate_section(cls.Settings, {}, cls.kind)
        except GenkitError as exc:
            raise AssertionError(f"{cls.__name__}: default settings are rejected: {exc}") from exc

    def test_settings_are_valid(self):
        """The test's settings pass the config layer, as a user's TOML file would have to."""
        cls = self._component()
        try:
            validate_section(cls.Settings, dict(self.settings), cls.kind)
        except GenkitError as exc:
            raise AssertionError(f"{cls.__name__}: settings {self.settings!r} are rejected: {exc}") from exc

    def test_contract(self):
        cls = self._component()
        COMPONENT_CHECKS[cls.kind](cls, spec=self.spec, settings=self.settings)


def check_onnx_parity(model: GenerativeModel, images: Any = None, atol: float = 1e-5, **options: Any) -> dict[str, Any]:
    """The model's encoder and decoder export to ONNX and compute what torch computes, within ``atol``.

    Raises ``AssertionError`` naming the component and the largest difference (or why neither of torch's
    exporters could export it). The check itself, and its options, live in ``genkit.onnx.parity``.
    """
    from genkit.onnx.parity import check_onnx_parity as check

    return check(model, images, atol, **options)

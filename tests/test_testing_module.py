"""genkit.testing: the conformance checks pass for sound components and catch each broken contract."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from genkit.config import field
from genkit.contract.components import Decoder, Encoder, Loss, ModelSpec, Sampler
from genkit.contract.priors import DiagonalGaussianPrior
from genkit.contract.registry import Registry
from genkit.testing import (
    DEFAULT_SPEC,
    ComponentConformance,
    DecoderConformance,
    EncoderConformance,
    LossConformance,
    SamplerConformance,
    check_decoder,
    check_encoder,
    check_loss,
    check_recipe,
    check_sampler,
    installed_registry,
    registry_installed,
)
from genkit_plugins.vae.recipes import VAE

# -- small sound components, as a third-party plugin might write them ------------------------------


class DenseEncoder(Encoder):
    @dataclasses.dataclass(frozen=True)
    class Settings:
        hidden: int = field(16, "hidden units", min=1)

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        pixels = math.prod(spec.input_shape)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(pixels, self.settings.hidden), nn.ReLU())
        self.heads = nn.ModuleList(nn.Linear(self.settings.hidden, spec.latent_numel) for _ in spec.parameter_names)

    @property
    def feature_shape(self):
        return (self.settings.hidden,)

    def forward(self, x):
        h = self.body(x)
        return tuple(head(h).unflatten(1, self.spec.latent_shape) for head in self.heads)


class DenseDecoder(Decoder):
    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        self.body = nn.Linear(spec.latent_numel, math.prod(spec.input_shape))

    def forward(self, z):
        return torch.sigmoid(self.body(z.flatten(1))).view(-1, *self.spec.input_shape)


class TestDenseEncoderConformance(EncoderConformance):
    component_class = DenseEncoder
    settings = {"hidden": 8}


class TestDenseDecoderConformance(DecoderConformance):
    component_class = DenseDecoder


class TestDenseDecoderBaseConformance(ComponentConformance):
    """The base mixin takes a component of any kind and gives the three contract tests."""

    component_class = DenseDecoder


# -- broken components: each violates one contract -------------------------------------------------


class OneHeadEncoder(DenseEncoder):
    def forward(self, x):
        return (self.heads[0](self.body(x)),)


class UnusedParameterEncoder(DenseEncoder):
    def __init__(self, spec, **settings):
        super().__init__(spec, **settings)
        self.unused = nn.Linear(2, 2)


class RandomInEvalEncoder(DenseEncoder):
    def forward(self, x):
        return tuple(nn.functional.dropout(t, 0.5, training=True) for t in super().forward(x))


class WideEncoder(DenseEncoder):
    def forward(self, x):
        return tuple(torch.cat([t, t], dim=1) for t in super().forward(x))


class UnboundedDecoder(DenseDecoder):
    def forward(self, z):
        return self.body(z.flatten(1)).view(-1, *self.spec.input_shape)


class FlatDecoder(DenseDecoder):
    def forward(self, z):
        return torch.sigmoid(self.body(z.flatten(1)))


class GaussianLike(Sampler):
    parameter_names = ("mu", "log_var")

    def forward(self, mu, log_var, generator=None):
        eps = torch.randn(mu.shape, generator=generator)
        return mu + torch.exp(log_var / 2) * eps

    def mean(self, mu, log_var):
        return mu

    def prior(self):
        return DiagonalGaussianPrior(torch.zeros(self.spec.latent_shape), torch.ones(self.spec.latent_shape))


class TestGaussianLikeConformance(SamplerConformance):
    component_class = GaussianLike


class IgnoresGeneratorSampler(GaussianLike):
    def forward(self, mu, log_var, generator=None):
        return mu + torch.exp(log_var / 2) * torch.randn_like(mu)


class DetachedSampler(GaussianLike):
    def forward(self, mu, log_var, generator=None):
        return super().forward(mu, log_var, generator).detach()


class RandomMeanSampler(GaussianLike):
    def mean(self, mu, log_var):
        return mu + torch.randn_like(mu)


class UnsavedPriorSampler(GaussianLike):
    fits_prior = True

    def fit_prior(self, codes):
        self.fitted = codes.mean(0), codes.std(0)  # plain attributes: lost when the weights are saved


class BadTermsLoss(Loss):
    terms = ("loss", "mse")

    def forward(self, x, out):
        mse = (x - out.x_hat).square().mean()
        return self.terms_of(mse)

    def terms_of(self, mse):
        return {"loss": mse, "mse": mse}


class TestMSELossConformance(LossConformance):
    component_class = BadTermsLoss  # sound: the broken variants below change what it returns


class LossNotFirst(BadTermsLoss):
    def terms_of(self, mse):
        return {"mse": mse, "loss": mse}


class MissingTermLoss(BadTermsLoss):
    def terms_of(self, mse):
        return {"loss": mse}


class NanTermLoss(BadTermsLoss):
    def terms_of(self, mse):
        return {"loss": mse, "mse": mse * float("nan")}


class VectorLoss(Loss):
    def forward(self, x, out):
        return {"loss": (x - out.x_hat).square().flatten(1).mean(1)}


class ConstantLoss(Loss):
    def forward(self, x, out):
        return {"loss": out.params["mu"].square().mean()}


class TermsWithoutLoss(Loss):
    terms = ("mse",)

    def forward(self, x, out):
        return {"mse": (x - out.x_hat).square().mean()}


@pytest.mark.parametrize(("check", "cls", "pattern"), [
    (check_encoder, OneHeadEncoder, r"OneHeadEncoder: forward must return a tuple of 2 tensors"),
    (check_encoder, UnusedParameterEncoder, r"no gradient reached \['unused.weight'"),
    (check_encoder, RandomInEvalEncoder, r"must be deterministic in eval mode"),
    (check_encoder, WideEncoder, r"output 'mu' must have shape \(2, 2\); got \(2, 4\)"),
    (check_encoder, DenseDecoder, r"must be a subclass of genkit.contract.components.Encoder"),
    (check_decoder, UnboundedDecoder, r"output must lie in \[0, 1\]"),
    (check_decoder, FlatDecoder, r"output must have shape \(2, 1, 28, 28\); got \(2, 784\)"),
    (check_sampler, IgnoresGeneratorSampler, r"equally seeded generators"),
    (check_sampler, DetachedSampler, r"differentiable"),
    (check_sampler, RandomMeanSampler, r"mean must be deterministic"),
    (check_sampler, UnsavedPriorSampler, r"fit_prior must store the fitted prior in buffers"),
    (check_loss, LossNotFirst, r"the first term must be 'loss'"),
    (check_loss, MissingTermLoss, r"returned terms \['loss'\] differ from the declared terms \['loss', 'mse'\]"),
    (check_loss, NanTermLoss, r"term 'mse' is not finite"),
    (check_loss, VectorLoss, r"term 'loss' must be a scalar tensor"),
    (check_loss, ConstantLoss, r"must depend on the reconstruction"),
    (check_loss, TermsWithoutLoss, r"terms must be a tuple of distinct names starting with 'loss'"),
])
def test_checks_reject_broken_components(check, cls, pattern):
    with pytest.raises(AssertionError, match=pattern):
        check(cls)


def test_checks_accept_the_sound_examples():
    check_encoder(DenseEncoder, settings={"hidden": 4})
    check_decoder(DenseDecoder)
    check_sampler(GaussianLike)
    check_loss(BadTermsLoss)


def test_settings_the_config_layer_rejects_fail_the_check():
    with pytest.raises(AssertionError, match=r"config layer rejects.*encoder.hidden must be >= 1"):
        check_encoder(DenseEncoder, settings={"hidden": 0})
    with pytest.raises(AssertionError, match=r"unknown setting encoder.hiden; did you mean encoder.hidden"):
        check_encoder(DenseEncoder, settings={"hiden": 4})


def test_check_decoder_needs_a_feature_shape():
    with pytest.raises(ValueError, match="feature_shape"):
        check_decoder(DenseDecoder, spec=dataclasses.replace(DEFAULT_SPEC, feature_shape=None))


def test_the_mixin_fails_for_a_broken_component():
    class TestBroken(ComponentConformance):
        component_class = UnboundedDecoder

    TestBroken().test_settings_are_valid()
    with pytest.raises(AssertionError, match=r"UnboundedDecoder: output must lie in \[0, 1\]"):
        TestBroken().test_contract()


def test_the_mixin_needs_a_component_class():
    with pytest.raises(TypeError, match="must set component_class"):
        ComponentConformance().test_contract()


# -- recipes ---------------------------------------------------------------------------------------


def vae_registry(decoder: object = "genkit_plugins.vae.decoder:TransposedConvDecoder") -> Registry:
    """The vae recipe in a private registry, with a decoder of the test's choice."""
    registry = Registry()
    registry.add_component("encoder", "conv", "genkit_plugins.vae.encoder:ConvEncoder", "vae")
    registry.add_component("sampler", "gaussian", "genkit_plugins.vae.sampler:GaussianSampler", "vae")
    registry.add_component("decoder", "transposed-conv", decoder, "test")
    registry.add_component("loss", "vae", "genkit_plugins.vae.loss:VAELoss", "vae")
    registry.add_recipe("vae", plugin="vae", **{k: v for k, v in VAE.items() if k != "settings"},
                        settings={**VAE["settings"], "decoder": {}})
    return registry


def test_check_recipe_accepts_a_sound_recipe():
    model = check_recipe(vae_registry(), "vae", overrides=["encoder.filters=[8,8,8,8]"])
    assert model.spec.latent_shape == (2,)


def test_check_recipe_rejects_a_decoder_outside_the_unit_range():
    with pytest.raises(AssertionError, match=r"recipe 'vae': decoder output must lie in \[0, 1\]"):
        check_recipe("vae", vae_registry(UnboundedDecoder))


def test_check_recipe_reports_a_recipe_that_cannot_be_built():
    with pytest.raises(AssertionError, match=r"recipe 'nope' cannot be built: unknown recipe 'nope'"):
        check_recipe(vae_registry(), "nope")


def test_a_non_class_fails_with_a_clear_message():
    with pytest.raises(AssertionError, match=r"'conv': must be a subclass of genkit.contract.components.Encoder"):
        check_encoder("conv")


# -- the package -----------------------------------------------------------------------------------


def test_the_public_names_are_importable_from_genkit_testing():
    import genkit.testing
    from genkit.testing.cuda import CudaRecipeConformance

    for name in genkit.testing.__all__:
        assert getattr(genkit.testing, name) is not None, name
    assert genkit.testing.CudaRecipeConformance is CudaRecipeConformance
    assert issubclass(CudaRecipeConformance, genkit.testing.RecipeConformance)
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        genkit.testing.nope  # noqa: B018


def test_importing_genkit_stays_torch_free_and_the_kit_needs_no_pytest():
    code = ("import sys; import genkit; torch_free = 'torch' not in sys.modules; import genkit.testing; "
            "print(torch_free, 'pytest' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]


# -- the registries tests work with ----------------------------------------------------------------------------


def test_installed_registry_sees_every_installed_plugin_whatever_the_environment(monkeypatch):
    monkeypatch.setenv("GENKIT_DISABLE_PLUGINS", "genkit")  # would block every built-in plugin of the CLI
    monkeypatch.setenv("GENKIT_STRICT_PLUGINS", "1")
    registry = installed_registry()
    assert {"vae", "vae-faces", "ae"} <= set(registry.recipes)
    assert registry.recipe("vae").plugin == "vae" and registry is not installed_registry()  # fresh each time


def test_registry_installed_is_the_process_wide_registry_for_the_block_only():
    from genkit.contract.host import get_registry

    before, private = get_registry(), vae_registry()
    with registry_installed(private):
        assert get_registry() is private
    assert get_registry() is before
    with pytest.raises(RuntimeError), registry_installed(private):
        raise RuntimeError("the block fails")
    assert get_registry() is before

"""The reference VAE plugin: Keras 'same' padding, book parameter counts, sampler, loss and recipes."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys

import pytest
import torch
from torch import nn

from genkit.config import build_config
from genkit.contract.components import ModelOutput, ModelSpec
from genkit.contract.model import build_model
from genkit.contract.priors import DiagonalGaussianPrior
from genkit.errors import ConfigError
from genkit.testing import ComponentConformance, check_recipe, installed_registry
from genkit_plugins.vae.conv_stack import check_layer_lists
from genkit_plugins.vae.decoder import TransposedConvDecoder
from genkit_plugins.vae.encoder import ConvEncoder
from genkit_plugins.vae.keras_compat import CropEnd2d, same_conv_padding, same_transposed_padding
from genkit_plugins.vae.loss import VAELoss
from genkit_plugins.vae.recipes import VAE, VAE_FACES
from genkit_plugins.vae.sampler import GaussianSampler

MNIST = ModelSpec((1, 28, 28), (2,), ("mu", "log_var"))
FACES_ENCODER = VAE_FACES["settings"]["encoder"]


@pytest.fixture(scope="module")
def registry():
    """The installed plugins, whatever GENKIT_DISABLE_PLUGINS says (genkit.testing's one registry helper)."""
    return installed_registry()


def counts(module: nn.Module) -> tuple[int, int]:
    """(trainable parameters, BatchNorm running statistics) of a module."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    stats = sum(b.numel() for name, b in module.named_buffers() if name.endswith(("running_mean", "running_var")))
    return trainable, stats


# -- Keras 'same' padding --------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [
    (28, 3, 1, (1, 1)), (28, 3, 2, (0, 1)), (27, 3, 2, (1, 1)), (14, 3, 2, (0, 1)),
    (28, 4, 1, (1, 2)), (5, 1, 2, (0, 0)), (7, 5, 3, (2, 2)),
])
def test_same_conv_padding_matches_tensorflow(size, kernel, stride, expected):
    assert same_conv_padding(size, kernel, stride) == expected


def test_encoder_pads_explicitly_only_where_keras_pads_asymmetrically():
    encoder = ConvEncoder(spec=MNIST)
    names = list(dict(encoder.features.named_children()))
    assert [n for n in names if n.startswith("pad_")] == ["pad_1", "pad_2"]  # the two stride-2 layers
    assert encoder.features.conv_0.padding == (1, 1)
    assert encoder.features.pad_1.padding == (0, 1, 0, 1)
    assert encoder.feature_shape == (64, 7, 7)


@pytest.mark.parametrize(("shape", "strides", "feature"), [
    ((1, 27, 27), [2, 2], (16, 7, 7)), ((3, 20, 30), [2, 2], (16, 5, 8)), ((1, 28, 28), [1, 1], (16, 28, 28)),
])
def test_encoder_output_size_is_ceil_of_input_over_stride(shape, strides, feature):
    spec = ModelSpec(shape, (3,), ("mu", "log_var"))
    encoder = ConvEncoder(spec=spec, filters=[8, 16], kernels=[3, 4], strides=strides)
    mu, log_var = encoder(torch.rand(2, *shape))
    assert encoder.feature_shape == feature
    assert encoder.flatten(encoder.features(torch.rand(1, *shape))).shape[1] == math.prod(feature)
    assert mu.shape == log_var.shape == (2, 3)


def test_encoder_and_decoder_carry_a_spatial_latent_through_their_dense_layers():
    spec = ModelSpec((1, 28, 28), (2, 3, 3), ("mu", "log_var"))
    encoder = ConvEncoder(spec=spec, filters=[8, 16], kernels=[3, 3], strides=[2, 2])
    mu, _ = encoder(torch.rand(4, 1, 28, 28))
    assert mu.shape == (4, 2, 3, 3)
    decoder = TransposedConvDecoder(spec=dataclasses.replace(spec, feature_shape=encoder.feature_shape),
                                    filters=[8, 1], kernels=[3, 3], strides=[2, 2])
    assert decoder.dense.in_features == 18 and decoder(mu).shape == (4, 1, 28, 28)


@pytest.mark.parametrize(("kernel", "stride"), [(3, 2), (3, 1), (4, 2), (1, 2), (5, 3), (2, 2)])
def test_transposed_conv_is_the_gradient_of_a_same_conv(kernel, stride):
    """Keras' Conv2DTranspose(padding='same') is by definition the input gradient of a 'same' Conv2D."""
    n, big = 5, 5 * stride
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, kernel, stride, bias=False)
    pad = same_conv_padding(big, kernel, stride)
    x = torch.rand(1, 3, big, big, requires_grad=True)
    y = conv(nn.functional.pad(x, (pad[0], pad[1], pad[0], pad[1])))
    assert y.shape[-1] == n
    g = torch.randn_like(y)
    (expected,) = torch.autograd.grad(y, x, g)

    padding, output_padding, crop = same_transposed_padding(kernel, stride)
    transposed = nn.ConvTranspose2d(4, 3, kernel, stride, padding, output_padding, bias=False)
    transposed.weight.data.copy_(conv.weight.data)
    got = CropEnd2d(crop)(transposed(g))
    assert got.shape == expected.shape == (1, 3, big, big)
    torch.testing.assert_close(got, expected)


# -- decoder shape rules ---------------------------------------------------------------------------


def test_decoder_rejects_wrong_channel_count():
    spec = ModelSpec((3, 28, 28), (2,), ("mu", "log_var"), (64, 7, 7))
    with pytest.raises(ValueError, match=r"last decoder.filters entry is 1 but images have 3 channel"):
        TransposedConvDecoder(spec=spec)


def test_decoder_rejects_wrong_final_size():
    spec = ModelSpec((1, 28, 28), (2,), ("mu", "log_var"), (64, 7, 7))
    with pytest.raises(ValueError, match=r"upsample the encoder's 7x7 feature map to 56x56, but images are 28x28"):
        TransposedConvDecoder(spec=spec, strides=[2, 2, 2, 1])


def test_decoder_needs_the_feature_shape():
    with pytest.raises(ValueError, match="feature_shape"):
        TransposedConvDecoder(spec=MNIST)


def test_decoder_shape_error_reaches_the_user_as_config_error(registry):
    config = build_config(registry, "vae", overrides=["decoder.filters=[64,64,32,3]"])
    with pytest.raises(ConfigError, match="decoder TransposedConvDecoder cannot be built.*set it to 1"):
        build_model(config, registry)


# -- settings validation ---------------------------------------------------------------------------


def test_layer_lists_of_different_lengths_name_the_fields(registry):
    with pytest.raises(ConfigError) as info:
        build_config(registry, "vae", overrides=["encoder.filters=[32,64]"])
    message = str(info.value)
    assert "encoder.filters has 2" in message and "encoder.strides has 4" in message
    assert "one entry per layer" in message


@pytest.mark.parametrize(("override", "pattern"), [
    ("encoder.filters=abc", r"encoder.filters must be a list of integers, got 'abc'"),
    ("decoder.kernels=[3,0,3,3]", r"decoder.kernels must contain only positive"),
    ("encoder.filters=[]", r"encoder.filters must list at least one layer"),
    ("encoder.leaky_relu_slope=-1", r"encoder.leaky_relu_slope must be >= 0"),
    ("loss.r_loss_factor=-1", r"loss.r_loss_factor must be >= 0"),
    ("encoder.batchnorm=true", r"did you mean encoder.batch_norm"),
])
def test_bad_settings_are_config_errors(registry, override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_config(registry, "vae", overrides=[override])


def test_constructors_apply_the_layer_rule_without_the_config_layer():
    with pytest.raises(ConfigError, match="encoder.kernels has 3"):
        ConvEncoder(spec=MNIST, kernels=[3, 3, 3])
    with pytest.raises(ConfigError, match="decoder.strides must contain only positive"):
        check_layer_lists({"filters": [1], "kernels": [3], "strides": [-1]}, "decoder")


# -- fidelity with the book's Keras models ---------------------------------------------------------


def test_vae_parameter_counts_match_keras(registry):
    model = build_model(build_config(registry, "vae"), registry)
    assert counts(model.encoder) == (105_220, 0)
    assert counts(model.decoder) == (102_017, 0)


def test_vae_faces_parameter_counts_match_keras(registry):
    model = build_model(build_config(registry, "vae-faces"), registry)
    assert counts(model.encoder) == (1_732_496, 448)
    assert counts(model.decoder) == (916_803, 320)


def test_layers_follow_keras_order_and_defaults():
    encoder = ConvEncoder(spec=ModelSpec((3, 128, 128), (200,), ("mu", "log_var")), **FACES_ENCODER)
    names = [n for n in dict(encoder.features.named_children()) if n.endswith("_0")]
    assert names == ["pad_0", "conv_0", "batch_norm_0", "leaky_relu_0", "dropout_0"]
    bn, act, drop = encoder.features.batch_norm_0, encoder.features.leaky_relu_0, encoder.features.dropout_0
    assert (bn.eps, bn.momentum, act.negative_slope, drop.p) == (1e-3, 0.01, 0.3, 0.25)
    assert all(not m.bias.detach().any() for m in encoder.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


# -- sampler and loss ------------------------------------------------------------------------------


def test_gaussian_sampler_draws_from_mu_and_exp_half_log_var():
    sampler = GaussianSampler(spec=MNIST)
    mu = torch.full((20_000, 2), 1.0)
    log_var = torch.full((20_000, 2), math.log(4.0))
    z = sampler(mu, log_var, generator=torch.Generator().manual_seed(1))
    assert abs(float(z.mean()) - 1.0) < 0.05 and abs(float(z.std()) - 2.0) < 0.05
    again = sampler(mu, log_var, generator=torch.Generator().manual_seed(1))
    assert torch.equal(z, again)
    assert torch.equal(sampler.mean(mu, log_var), mu)


def test_gaussian_prior_is_standard_normal_on_the_module_device_and_not_saved():
    sampler = GaussianSampler(spec=ModelSpec((1, 28, 28), (5,), ("mu", "log_var"))).to(torch.float64)
    prior = sampler.prior()
    assert isinstance(prior, DiagonalGaussianPrior)
    assert torch.equal(prior.mean, torch.zeros(5, dtype=torch.float64))
    assert torch.equal(prior.std, torch.ones(5, dtype=torch.float64))
    assert sampler.state_dict() == {}
    assert sampler.sample_prior(3, generator=torch.Generator().manual_seed(0)).dtype == torch.float64


def test_vae_loss_terms_by_hand():
    loss = VAELoss(spec=MNIST, r_loss_factor=1000.0)
    x = torch.zeros(4, 1, 28, 28)
    x_hat = torch.full_like(x, 0.5)
    params = {"mu": torch.ones(4, 2), "log_var": torch.zeros(4, 2)}
    out = loss(x, ModelOutput(x_hat, params, params["mu"]))
    assert list(out) == list(VAELoss.terms)
    assert float(out["mse"]) == pytest.approx(0.25)
    assert float(out["reconstruction"]) == pytest.approx(250.0)
    assert float(out["kl"]) == pytest.approx(1.0)  # -0.5 * sum(1 + 0 - 1 - 1) over 2 dims
    assert float(out["loss"]) == pytest.approx(251.0)


def test_vae_loss_is_float32_for_bfloat16_inputs():
    loss = VAELoss(spec=MNIST)
    x = torch.rand(2, 1, 28, 28).bfloat16()
    params = {"mu": torch.randn(2, 2).bfloat16(), "log_var": torch.randn(2, 2).bfloat16()}
    out = loss(x, ModelOutput(torch.rand(2, 1, 28, 28).bfloat16(), params, params["mu"]))
    assert all(v.dtype == torch.float32 for v in out.values())


def test_vae_loss_needs_a_gaussian_sampler():
    with pytest.raises(ValueError, match="needs the encoder outputs mu and log_var"):
        VAELoss(spec=ModelSpec((1, 28, 28), (2,), ("code",)))


# -- recipes and registration ----------------------------------------------------------------------


def test_recipes_carry_the_book_settings(registry):
    vae, faces = registry.recipe("vae"), registry.recipe("vae-faces")
    assert (vae.input_shape, vae.latent_shape, faces.input_shape, faces.latent_shape) == \
        ((1, 28, 28), (2,), (3, 128, 128), (200,))
    assert vae.classes == faces.classes == 0 and vae.stages == faces.stages == ()
    assert vae.components() == {"encoder": "conv", "sampler": "gaussian", "decoder": "transposed-conv", "loss": "vae"}
    assert vae.settings["loss"] == {"r_loss_factor": 1000.0} and faces.settings["loss"] == {"r_loss_factor": 10000.0}
    assert vae.settings["training"] == {"lr": 5e-4, "batch_size": 32, "epochs": 10}
    assert faces.settings["encoder"]["strides"] == [2, 2, 2, 2] and faces.settings["decoder"]["filters"][-1] == 3
    assert vae.settings["data"] == {"name": "fashion-mnist"}
    assert "folder:PATH" in faces.description


def test_registered_recipes_do_not_share_lists_with_the_module(registry):
    assert registry.recipe("vae").settings["encoder"]["filters"] is not VAE["settings"]["encoder"]["filters"]


@pytest.mark.parametrize("recipe", ["vae", "vae-faces"])
def test_recipe_passes_conformance(registry, recipe):
    check_recipe(recipe, registry)


def test_plugin_modules_do_not_import_torch():
    code = "import sys, genkit_plugins.vae, genkit_plugins.ae; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the conformance mixin on the real components --------------------------------------------------


class TestConvEncoderConformance(ComponentConformance):
    component_class = ConvEncoder
    settings = VAE["settings"]["encoder"]


class TestConvEncoderWithBatchNormAndDropoutConformance(ComponentConformance):
    component_class = ConvEncoder
    spec = ModelSpec((3, 32, 32), (8,), ("mu", "log_var"))
    settings = {**FACES_ENCODER, "filters": [8, 8, 8, 8]}


class TestTransposedConvDecoderConformance(ComponentConformance):
    component_class = TransposedConvDecoder
    settings = VAE["settings"]["decoder"]


class TestGaussianSamplerConformance(ComponentConformance):
    component_class = GaussianSampler


class TestVAELossConformance(ComponentConformance):
    component_class = VAELoss
    settings = {"r_loss_factor": 10000.0}

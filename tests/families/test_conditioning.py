"""Class conditioning in the book's conv networks: labels reach the encoder and the decoder of a conditional
model, and an unconditional model is built exactly as before."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from genkit.contract.components import ModelSpec
from genkit.testing import build_recipe
from genkit_plugins.vae.conv_stack import label_maps, one_hot
from genkit_plugins.vae.decoder import TransposedConvDecoder
from genkit_plugins.vae.encoder import ConvEncoder

SPEC = ModelSpec((1, 28, 28), (2,), ("mu", "log_var"), classes=10)


def test_one_hot_and_label_maps():
    labels = torch.tensor([0, 3, 9])
    like = torch.zeros(3, 1, 5, 4)
    code = one_hot((labels,), 10, like)
    assert torch.equal(code, torch.nn.functional.one_hot(labels, 10).float())
    maps = label_maps((labels,), 10, like)
    assert maps.shape == (3, 10, 5, 4) and torch.equal(maps[:, :, 2, 1], code)
    with pytest.raises(ValueError, match="pass labels"):
        one_hot((), 10, like)


def test_the_vae_is_unchanged_and_the_cvae_adds_only_the_label_inputs():
    torch.manual_seed(0)
    vae = build_recipe("vae")
    torch.manual_seed(0)
    cvae = build_recipe("cvae")
    count = sum(p.numel() for p in vae.parameters())
    assert count == 207237  # the book's model, as before conditioning existed
    # the first convolution sees 10 more input planes (32 filters of 3x3), the dense layer 10 more inputs
    extra = 10 * 32 * 3 * 3 + 10 * 64 * 7 * 7
    assert sum(p.numel() for p in cvae.parameters()) == count + extra
    assert cvae.encoder.features.conv_0.in_channels == 11 and cvae.decoder.dense.in_features == 12


def test_labels_change_what_encoder_and_decoder_compute():
    torch.manual_seed(0)
    encoder = ConvEncoder(SPEC).eval()
    decoder = TransposedConvDecoder(dataclasses.replace(SPEC, feature_shape=encoder.feature_shape)).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        mu_a, _ = encoder(x, torch.tensor([1, 1]))
        mu_b, _ = encoder(x, torch.tensor([1, 2]))
        assert torch.equal(mu_a[0], mu_b[0]) and not torch.equal(mu_a[1], mu_b[1])  # row by row
        z = torch.randn(2, 2)
        assert not torch.equal(decoder(z, torch.tensor([0, 0])), decoder(z, torch.tensor([5, 5])))
        with pytest.raises(ValueError, match="labels"):
            decoder(z)

"""The built-in components through the component mixins of the conformance kit."""

from __future__ import annotations

from genkit.contract.components import ModelSpec
from genkit.testing import DecoderConformance, EncoderConformance, LossConformance, SamplerConformance
from genkit_plugins.ae.loss import ReconstructionLoss
from genkit_plugins.ae.sampler import DeterministicSampler
from genkit_plugins.vae.decoder import TransposedConvDecoder
from genkit_plugins.vae.encoder import ConvEncoder
from genkit_plugins.vae.loss import VAELoss
from genkit_plugins.vae.sampler import GaussianSampler

# The faces recipe's layer switches on a 32x32 RGB input: batch norm and dropout in every block.
FACES = {"filters": [8, 8, 8], "kernels": [3, 3, 3], "strides": [2, 2, 2], "batch_norm": True, "dropout": True}
FACES_SPEC = ModelSpec((3, 32, 32), (16,), ("mu", "log_var"), (8, 4, 4))


class TestConvEncoder(EncoderConformance):
    component_class = ConvEncoder


class TestConvEncoderWithBatchNormAndDropout(EncoderConformance):
    component_class = ConvEncoder
    spec = FACES_SPEC
    settings = FACES


class TestTransposedConvDecoder(DecoderConformance):
    component_class = TransposedConvDecoder


class TestTransposedConvDecoderWithBatchNormAndDropout(DecoderConformance):
    component_class = TransposedConvDecoder
    spec = FACES_SPEC
    settings = {**FACES, "filters": [8, 8, 3]}


class TestGaussianSampler(SamplerConformance):
    component_class = GaussianSampler
    spec = ModelSpec((1, 28, 28), (6,), ("mu", "log_var"))


class TestDeterministicSampler(SamplerConformance):
    component_class = DeterministicSampler
    spec = ModelSpec((1, 28, 28), (6,), ("code",))


class TestVAELoss(LossConformance):
    component_class = VAELoss


class TestVAELossFacesFactor(LossConformance):
    component_class = VAELoss
    settings = {"r_loss_factor": 10000.0}


class TestReconstructionLoss(LossConformance):
    component_class = ReconstructionLoss
    spec = ModelSpec((1, 28, 28), (2,), ("code",))

"""TransposedConvDecoder: a dense layer to the encoder's feature map, then Conv2DTranspose layers."""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict

import torch
from torch import nn

from genkit.config import field
from genkit.contract.components import Decoder, ModelSpec

from .conv_stack import ConvStackSettings, check_layer_lists, one_hot, post_conv_layers
from .keras_compat import CropEnd2d, init_like_keras_, same_transposed_padding
from .transposed_conv import ConvTranspose2dBiasAfter


class TransposedConvDecoder(Decoder):
    """Mirror of ``ConvEncoder``: each 'same' transposed conv multiplies the spatial size by its stride.

    Every layer but the last is followed by the same BatchNorm/LeakyReLU/Dropout block as the encoder;
    the last one has as many filters as the image has channels and ends in a sigmoid, so pixels lie in
    [0, 1].

    A conditional model (``spec.classes`` K > 0) concatenates the one-hot label to z before the dense
    layer (Sohn et al. 2015's generation network p(x | z, y)); an unconditional one is built exactly as
    before.
    """

    @dataclasses.dataclass(frozen=True)
    class Settings(ConvStackSettings):
        filters: list[int] = field([64, 64, 32, 1], "output channels of each layer; the last one must equal "
                                   "the image channels", positive_items=True)
        batch_norm: bool = field(False, "BatchNorm2d after each transposed convolution but the last")

    def __init__(self, spec: ModelSpec, **settings):
        super().__init__(spec, **settings)
        s = self.settings
        check_layer_lists(dataclasses.asdict(s), "decoder")
        if spec.feature_shape is None or len(spec.feature_shape) != 3:
            raise ValueError(f"TransposedConvDecoder mirrors a (C, H, W) encoder feature map; "
                             f"the model spec gives feature_shape={spec.feature_shape}")
        channels, height, width = spec.feature_shape
        self.dense = self.make_input()
        self.unflatten = nn.Unflatten(1, tuple(spec.feature_shape))
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        last = len(s.filters) - 1
        for i, (filters, kernel, stride) in enumerate(zip(s.filters, s.kernels, s.strides)):
            padding, output_padding, crop = same_transposed_padding(kernel, stride)
            layers[f"conv_t_{i}"] = ConvTranspose2dBiasAfter(channels, filters, kernel, stride, padding,
                                                             output_padding)
            if crop:
                layers[f"crop_{i}"] = CropEnd2d(crop)
            if i < last:
                layers.update(post_conv_layers(i, filters, s.batch_norm, s.dropout, s.leaky_relu_slope))
            channels, height, width = filters, height * stride, width * stride
        layers["sigmoid"] = nn.Sigmoid()
        self._check_output_shape((channels, height, width))
        self.layers = nn.Sequential(layers)
        init_like_keras_(self)

    def make_input(self) -> nn.Module:
        """The layer from a latent point (and the one-hot label) to the encoder's feature map (here: dense)."""
        return nn.Linear(self.spec.latent_numel + self.spec.classes, math.prod(self.spec.feature_shape))

    def project(self, z: torch.Tensor, condition: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """z (and the label) through the input layer, as the (N, C, H, W) feature map the stack upsamples."""
        h = z.flatten(1)
        if self.spec.classes:
            h = torch.cat([h, one_hot(condition, self.spec.classes, h)], dim=1)
        return self.unflatten(self.dense(h))

    def _check_output_shape(self, produced: tuple[int, int, int]) -> None:
        c, h, w = self.spec.input_shape
        if produced[0] != c:
            raise ValueError(f"the last decoder.filters entry is {produced[0]} but images have {c} channel(s); "
                             f"set it to {c}")
        if produced[1:] != (h, w):
            fh, fw = self.spec.feature_shape[1:]
            raise ValueError(
                f"decoder.strides {list(self.settings.strides)} upsample the encoder's {fh}x{fw} feature map "
                f"to {produced[1]}x{produced[2]}, but images are {h}x{w}; the strides' product must turn "
                f"{fh}x{fw} into {h}x{w} (usually decoder.strides = encoder.strides reversed)"
            )

    def forward(self, z: torch.Tensor, *condition: torch.Tensor) -> torch.Tensor:
        return self.layers(self.project(z, condition))

"""A gated PixelCNN over a grid of integer codes (van den Oord et al. 2016), the VQ-VAE's learnt prior.

codes (N, h, w) int64 -> logits (N, M, h, w), where the logits at a position depend only on the codes
before it in raster order, so that the runtime can sample the grid one position at a time.

Each gated layer has a vertical stack, which sees the rows above, and a horizontal stack, which sees the
positions to the left in the current row; the vertical stack reaches the horizontal one shifted down one
row, so no position sees itself or what follows it, and, unlike a plain masked convolution, there is no
blind spot. The first layer is of type A (a position does not see its own code), the others of type B
with a residual connection in the horizontal stack. Activations are gated: tanh(a) · sigmoid(b).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class MaskedConv2d(nn.Conv2d):
    """A convolution whose kernel is multiplied by a fixed 0/1 mask (a buffer, so it follows .to())."""

    def __init__(self, mask: torch.Tensor, in_channels: int, out_channels: int, padding: tuple[int, int]):
        super().__init__(in_channels, out_channels, tuple(mask.shape), padding=padding)
        self.register_buffer("mask", mask[None, None].expand_as(self.weight).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, self.stride, self.padding)


def vertical_mask(kernel: int) -> torch.Tensor:
    """k x k: the rows up to and including the centre row (the shift down one row removes the centre row)."""
    mask = torch.zeros(kernel, kernel)
    mask[: kernel // 2 + 1] = 1
    return mask


def horizontal_mask(kernel: int, first: bool) -> torch.Tensor:
    """1 x k: the positions left of the centre, and the centre itself after the first layer."""
    mask = torch.zeros(1, kernel)
    mask[0, : kernel // 2 + (0 if first else 1)] = 1
    return mask


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Row r takes row r - 1's values (row 0 zeros): what the horizontal stack may see of the vertical one."""
    return F.pad(x, (0, 0, 1, 0))[:, :, : x.shape[2], :]


class GatedLayer(nn.Module):
    def __init__(self, width: int, kernel: int, first: bool):
        super().__init__()
        self.first = first
        self.vertical = MaskedConv2d(vertical_mask(kernel), width, 2 * width, (kernel // 2, kernel // 2))
        self.horizontal = MaskedConv2d(horizontal_mask(kernel, first), width, 2 * width, (0, kernel // 2))
        self.vertical_to_horizontal = nn.Conv2d(2 * width, 2 * width, 1)
        self.out = nn.Conv2d(width, width, 1)

    @staticmethod
    def gate(x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def forward(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v_pre = self.vertical(v)
        h_pre = self.horizontal(h) + self.vertical_to_horizontal(shift_down(v_pre))
        h_out = self.out(self.gate(h_pre))
        return self.gate(v_pre), h_out if self.first else h + h_out


class GatedPixelCNN(nn.Module):
    """codes (N, h, w) int64 -> logits (N, codes, h, w); ``layers`` gated layers of ``width`` channels."""

    def __init__(self, codes: int, width: int = 64, layers: int = 6, first_kernel: int = 7, kernel: int = 3):
        super().__init__()
        self.embed = nn.Embedding(codes, width)
        self.layers = nn.ModuleList([GatedLayer(width, first_kernel if i == 0 else kernel, first=i == 0)
                                     for i in range(layers)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(width, width, 1), nn.ReLU(), nn.Conv2d(width, codes, 1))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        x = self.embed(codes).movedim(-1, 1)  # (N, width, h, w)
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

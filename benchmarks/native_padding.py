"""Swap a ``vae`` model's Keras 'same' alignment for PyTorch's usual symmetric padding, in place.

A diagnostic, never a training option: it changes which pixels each kernel sees (the weights keep
their shapes), so that genkit's loop can run exactly the layers of the hand-written model. Comparing
that with the stock recipe separates what the training loop costs from what Keras' asymmetric
padding costs (an explicit pad before each stride-2 convolution and a crop after each stride-2
transposed convolution).
"""

from __future__ import annotations

from torch import nn


def use_native_padding_(model: nn.Module) -> int:
    """Replace pads and crops by Identity and pad stride-2 layers symmetrically; returns layers changed."""
    changed = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ZeroPad2d) or type(child).__name__ == "CropEnd2d":
                setattr(parent, name, nn.Identity())
                changed += 1
            elif isinstance(child, (nn.Conv2d, nn.ConvTranspose2d)) and child.stride != (1, 1):
                k = child.kernel_size[0]
                child.padding = (k // 2, k // 2)
                if isinstance(child, nn.ConvTranspose2d):
                    child.output_padding = (child.stride[0] + 2 * (k // 2) - k,) * 2
                changed += 1
            if isinstance(child, nn.ConvTranspose2d):
                child.__class__ = nn.ConvTranspose2d  # the plain layer, as the hand-written model has it
    return changed

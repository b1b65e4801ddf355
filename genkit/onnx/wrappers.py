"""The torch modules that become the export's graphs: a model's parts in the shape of the export contract.

``graph_modules(model)`` gives, by graph name, the module each graph is exported from and compared
with: the encoder followed by the sampler's ``mean`` (so the encoder graph also outputs ``latent``,
the deterministic code, and the runtime never needs the sampler), the decoder, and for a network
prior its network. ``genkit export`` and ``genkit.testing``'s parity check both export these, through
``genkit.onnx.export_model``: there is one copy of what a graph computes.
"""

from __future__ import annotations

import torch
from torch import nn

from genkit.export_contract import DECODER, ENCODER, IMAGES, LATENT, LOGITS, PRIOR


def _condition(labels: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    # named parameters, not *args: torch.export matches dynamic shapes to the signature's structure
    return () if labels is None else (labels,)


class EncoderGraph(nn.Module):
    """``images [, labels] -> (*encoder parameters, latent)``."""

    def __init__(self, encoder: nn.Module, sampler: nn.Module):
        super().__init__()
        self.encoder, self.sampler = encoder, sampler

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        params = tuple(self.encoder(images, *_condition(labels)))
        return (*params, self.sampler.mean(*params))


class DecoderGraph(nn.Module):
    """``z [, labels] -> images``."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z, *_condition(labels))


class PriorGraph(nn.Module):
    """``codes -> logits``: a network prior's network."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.network(codes)


def graph_modules(model: nn.Module, network: nn.Module | None = None) -> dict[str, nn.Module]:
    """The module of each graph of ``model``'s export; ``network`` is a network prior's network.

    A generator-only model (``encoder`` None) has no encoder graph. Nothing else of the model (its losses,
    a critic one of them owns) is reachable from these modules, so it never reaches a graph.
    """
    modules = {DECODER: DecoderGraph(model.decoder)}
    if model.encoder is not None:
        modules = {ENCODER: EncoderGraph(model.encoder, model.sampler), **modules}
    if network is not None:
        modules[PRIOR] = PriorGraph(network)
    return modules


def output_names(graph: str, parameter_names: tuple[str, ...]) -> tuple[str, ...]:
    """The outputs of ``graph``, in order."""
    return {ENCODER: (*parameter_names, LATENT), DECODER: (IMAGES,), PRIOR: (LOGITS,)}[graph]

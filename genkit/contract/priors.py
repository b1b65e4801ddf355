"""The priors a sampler can declare: a small closed set the torch-free runtime knows how to sample.

A sampler's ``prior()`` returns one of these. Each is *described*, not coded, in an export: its
``family`` and arrays go into the metadata (``describe``), and the runtime draws from it with numpy
(``genkit.runtime.prior``). Anything richer than a fixed distribution is a network, exported as a
third graph ``prior.onnx`` that the runtime runs. A sampler whose prior is none of these cannot be
exported; ``genkit.testing`` says so before a user's export does.

Every prior draws latent points of the model's ``latent_shape`` and scores them with ``log_prob``
(differentiable with respect to its parameters, so a training stage can fit a prior network).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
from torch import nn

from genkit.export_contract import GRAPH_FILES, PRIOR


def _noise(shape: tuple[int, ...], generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
    """Standard normal noise, drawn on the generator's device in float32 (so seeds agree across dtypes)."""
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=torch.float32).to(like.device, like.dtype)


def _categorical(logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One index per row of ``logits`` (..., M), by inverse-CDF sampling with ``generator``.

    The runtime draws the same way with numpy (a uniform, then a search of the cumulative
    probabilities), so a seeded draw can be compared between torch and onnxruntime.
    """
    probs = torch.softmax(logits.float(), dim=-1)
    device = generator.device if generator is not None else probs.device
    u = torch.rand(probs.shape[:-1], generator=generator, device=device, dtype=torch.float64).to(probs.device)
    cdf = probs.double().cumsum(-1)
    return torch.searchsorted(cdf, u.unsqueeze(-1)).squeeze(-1).clamp_(max=probs.shape[-1] - 1)


def _array(t: torch.Tensor) -> list:
    return t.detach().float().cpu().tolist()


class Prior:
    """Base of the prior families; ``latent_shape`` is the shape of one latent point."""

    family: ClassVar[str] = ""
    discrete: ClassVar[bool] = False  # points are codebook entries chosen by integer codes

    @property
    def latent_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latent points (n, *latent_shape)."""
        raise NotImplementedError

    def log_prob(self, z: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z) per point (N,); discrete priors score the integer ``codes`` that chose z."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The JSON description the export's metadata carries (``family`` plus its arrays)."""
        raise NotImplementedError


@dataclasses.dataclass
class DiagonalGaussianPrior(Prior):
    """N(mean, diag(std²)); ``mean`` and ``std`` have the latent shape."""

    mean: torch.Tensor
    std: torch.Tensor
    family: ClassVar[str] = "diagonal-gaussian"

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.mean.shape)

    def sample(self, n, generator=None):
        return self.mean + self.std * _noise((n, *self.mean.shape), generator, self.mean)

    def log_prob(self, z, codes=None):
        dist = torch.distributions.Normal(self.mean.float(), self.std.float().clamp_min(1e-12))
        return dist.log_prob(z.float()).flatten(1).sum(1)

    def describe(self):
        return {"family": self.family, "mean": _array(self.mean), "std": _array(self.std)}


@dataclasses.dataclass
class GaussianMixturePrior(Prior):
    """Σ_k weights[k] · N(means[k], diag(stds[k]²)); ``means``/``stds`` are (K, *latent_shape)."""

    weights: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor
    family: ClassVar[str] = "gaussian-mixture"

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return tuple(self.means.shape[1:])

    def sample(self, n, generator=None):
        component = _categorical(self.weights.clamp_min(1e-30).log().expand(n, -1), generator)
        eps = _noise((n, *self.latent_shape), generator, self.means)
        return self.means[component] + self.stds[component] * eps

    def log_prob(self, z, codes=None):
        z = z.float().unsqueeze(1)  # (N, 1, *L) against (K, *L)
        per_component = torch.distributions.Normal(self.means.float(), self.stds.float().clamp_min(1e-12))
        log_pdf = per_component.log_prob(z).flatten(2).sum(2)  # (N, K)
        # log 0 = -inf for an empty component: logsumexp leaves it out, as it should
        return torch.logsumexp(log_pdf + self.weights.float().log(), dim=1)

    def describe(self):
        return {"family": self.family, "weights": _array(self.weights), "means": _array(self.means),
                "stds": _array(self.stds)}


def lookup(codebook: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Latent points from integer codes: (N, *grid) codes over an (M, D) codebook give (N, D, *grid)."""
    z = codebook[codes]  # (N, *grid, D)
    return z.movedim(-1, 1) if codes.dim() > 1 else z


@dataclasses.dataclass
class CategoricalPrior(Prior):
    """Independent codes per grid position: ``logits`` (*grid, M) over an (M, D) ``codebook``.

    A latent point is (D, *grid): at each position the codebook entry of the drawn code. With an
    empty grid the point is one entry (D,).
    """

    codebook: torch.Tensor
    logits: torch.Tensor
    family: ClassVar[str] = "categorical"
    discrete: ClassVar[bool] = True

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(self.logits.shape[:-1])

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.codebook.shape[1], *self.grid)

    def sample_codes(self, n, generator=None):
        return _categorical(self.logits.expand(n, *self.logits.shape), generator)

    def sample(self, n, generator=None):
        return lookup(self.codebook, self.sample_codes(n, generator))

    def log_prob(self, z, codes=None):
        if codes is None:
            raise ValueError("a categorical prior scores the integer codes that chose z; pass codes=")
        log_p = torch.log_softmax(self.logits.float(), dim=-1).expand(len(codes), *self.logits.shape)
        return log_p.gather(-1, codes.unsqueeze(-1)).squeeze(-1).reshape(len(codes), -1).sum(1)

    def describe(self):
        return {"family": self.family, "codebook": _array(self.codebook), "logits": _array(self.logits)}


@dataclasses.dataclass
class NetworkPrior(Prior):
    """A learnt prior over a grid of integer codes, exported as the graph ``prior.onnx``.

    ``network(codes)`` maps (N, *grid) int64 codes to (N, M, *grid) logits. When ``autoregressive``
    the logits at a position may depend only on the codes before it in raster order (a PixelCNN's
    masked convolutions), and sampling fills the grid one position at a time; otherwise every
    position is drawn at once from the logits of an all-zero grid.
    """

    network: nn.Module
    codebook: torch.Tensor
    grid: tuple[int, ...]
    autoregressive: bool = True
    family: ClassVar[str] = "network"
    discrete: ClassVar[bool] = True

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.codebook.shape[1], *self.grid)

    @property
    def codes(self) -> int:
        return self.codebook.shape[0]

    def sample_codes(self, n, generator=None):
        device = self.codebook.device
        codes = torch.zeros((n, *self.grid), dtype=torch.int64, device=device)
        positions = range(math.prod(self.grid)) if self.autoregressive else [None]
        for position in positions:
            logits = self.network(codes).movedim(1, -1)  # (N, *grid, M)
            drawn = _categorical(logits, generator)
            if position is None:
                codes = drawn
            else:
                index = torch.unravel_index(torch.tensor(position), self.grid)
                where = (slice(None), *(int(i) for i in index))
                codes[where] = drawn[where]
        return codes

    def sample(self, n, generator=None):
        return lookup(self.codebook, self.sample_codes(n, generator))

    def log_prob(self, z, codes=None):
        if codes is None:
            raise ValueError("a network prior scores the integer codes that chose z; pass codes=")
        log_p = torch.log_softmax(self.network(codes).float(), dim=1)  # (N, M, *grid)
        return log_p.gather(1, codes.unsqueeze(1)).squeeze(1).reshape(len(codes), -1).sum(1)

    def describe(self):
        return {"family": self.family, "graph": GRAPH_FILES[PRIOR], "codebook": _array(self.codebook),
                "grid": list(self.grid), "codes": self.codes, "autoregressive": bool(self.autoregressive)}


FAMILIES: dict[str, type[Prior]] = {cls.family: cls for cls in
                                    (DiagonalGaussianPrior, GaussianMixturePrior, CategoricalPrior, NetworkPrior)}

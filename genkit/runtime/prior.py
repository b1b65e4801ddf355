"""Latent points drawn on the host from an export's prior, the same way for every backend (numpy only).

Sampling never goes into a graph. Drawing with numpy from a seeded generator makes ``genkit generate
--seed S`` give the same latent points whether a run folder (torch) or its export (onnxruntime) decodes
them, on any device. Each family of ``genkit.export_contract.priors`` has its rule:

- diagonal Gaussian: mean + std * eps;
- Gaussian mixture: a component per point (by its weight), then that component's Gaussian;
- categorical: a code per grid position from its logits, then the codebook entry of each code;
- network: codes from the prior graph's logits — filled one position at a time in raster order when
  the network is autoregressive (each position drawn from the logits the graph gives for it once the
  positions before it are filled), else every position at once from the logits of an all-zero grid.

A categorical draw is inverse-CDF: one uniform per position, then the first code whose cumulative
probability reaches it (as ``genkit.contract.priors`` draws in torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from genkit.export_contract.priors import parse_prior

Network = Callable[[np.ndarray], np.ndarray]  # codes int64 (N, *grid) -> logits (N, M, *grid)


def categorical(logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of ``logits`` (..., M): int64 (...)."""
    logits = np.asarray(logits, dtype=np.float64)
    probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
    cdf = np.cumsum(probs / probs.sum(axis=-1, keepdims=True), axis=-1)
    u = rng.random(logits.shape[:-1])
    return np.minimum((cdf < u[..., None]).sum(axis=-1), logits.shape[-1] - 1).astype(np.int64)


def lookup(codebook: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Latent points from codes: (N, *grid) codes over an (M, D) codebook give float32 (N, D, *grid)."""
    z = codebook[codes]  # (N, *grid, D)
    return np.ascontiguousarray(np.moveaxis(z, -1, 1) if codes.ndim > 1 else z, dtype=np.float32)


def draw_prior(mean: np.ndarray, std: np.ndarray, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n`` points of the diagonal Gaussian N(mean, diag(std²)): float32 (n, *mean.shape)."""
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    eps = np.random.default_rng(seed).standard_normal((int(n), *mean.shape), dtype=np.float32)
    return (mean + std * eps).astype(np.float32, copy=False)


class HostPrior:
    """An export's prior, sampled with numpy; ``network`` runs the prior graph of a network prior."""

    def __init__(self, description: dict[str, Any], latent_shape: tuple[int, ...], network: Network | None = None):
        self.description = description
        self.latent_shape = tuple(latent_shape)
        self.parsed = parse_prior(description, self.latent_shape)
        self.family = self.parsed["family"]
        if self.family == "network" and network is None:
            raise ValueError("a network prior is sampled by running its prior graph: pass network=")
        self.network = network

    @property
    def discrete(self) -> bool:
        """Whether latent points are codebook entries chosen by integer codes."""
        return "codebook" in self.parsed

    @property
    def grid(self) -> tuple[int, ...]:
        return self.latent_shape[1:] if self.discrete else ()

    def sample(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        """``n`` latent points, float32 (n, *latent_shape)."""
        rng = np.random.default_rng(seed)
        p = self.parsed
        if self.family == "diagonal-gaussian":
            return draw_prior(p["mean"], p["std"], n, rng)
        if self.family == "gaussian-mixture":
            component = categorical(np.log(np.maximum(p["weights"], 1e-300))[None].repeat(int(n), 0), rng)
            eps = rng.standard_normal((int(n), *self.latent_shape), dtype=np.float32)
            return (p["means"][component] + p["stds"][component] * eps).astype(np.float32, copy=False)
        return lookup(p["codebook"], self.sample_codes(n, rng))

    def sample_codes(self, n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
        """``n`` grids of integer codes, int64 (n, *grid), for a categorical or network prior."""
        rng = np.random.default_rng(seed)
        p = self.parsed
        if self.family == "categorical":
            return categorical(np.broadcast_to(p["logits"], (int(n), *p["logits"].shape)), rng)
        if self.family != "network":
            raise ValueError(f"a {self.family} prior has no codes")
        codes = np.zeros((int(n), *self.grid), np.int64)
        if not p["autoregressive"] or not self.grid:
            return categorical(np.moveaxis(self._logits(codes), 1, -1), rng)
        for position in range(p["positions"]):
            where = (slice(None), *np.unravel_index(position, self.grid))
            logits = self._logits(codes)  # (n, M, *grid): only this position's logits are used
            codes[where] = categorical(logits[(where[0], slice(None), *where[1:])], rng)
        return codes

    def _logits(self, codes: np.ndarray) -> np.ndarray:
        logits = np.asarray(self.network(codes))
        want = (len(codes), self.parsed["codes"], *self.grid)
        if logits.shape != want:
            raise ValueError(f"the prior network gave logits of shape {logits.shape}; expected {want}")
        return logits

"""Each image's loss terms, computed on the host over the backend's encoder and decoder.

The Loss contract averages over its batch, so the sampler and the loss run on one image at a time to
get each image's own terms (a sampler's extras, such as a commitment loss, are batch averages too);
the latent points of a batch are then decoded together. A sampler that draws K points per image
returns K rows, decoded with the image's label repeated K times, as the model's forward does.

For a run folder the sampler, the loss and the prior are the trained model's own. An export holds the
encoder and decoder graphs only, so there they are built from the configuration through the registry,
and the prior is rebuilt from the export's description. That is exact for components whose state, if
any, is the prior the export describes (the Gaussian and deterministic samplers, the VAE and
reconstruction losses). A sampler or loss with trained weights is not in an export: the host copy is
checked against the export's own codes, and where it cannot be the trained one the loss terms are
reported as unavailable, with the reason, rather than computed with untrained weights.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from genkit.evaluation.source import Source

CODE_TOLERANCE = 1e-4  # the host sampler's mean against the export's codes (float32 graphs vs torch)


@dataclasses.dataclass
class LossTerms:
    sampler: Any
    loss: Any
    prior: Any  # a genkit.contract.priors.Prior, or None where the export's description cannot be rebuilt
    missing: str | None = None  # why the terms cannot be computed for this source
    verify: bool = False  # compare the host sampler with the export's codes (exports only)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.loss.terms)

    @classmethod
    def of(cls, source: Source) -> LossTerms:
        if source.kind == "run":
            model = source.backend.model
            return cls(model.sampler, model.loss, model.sampler.prior())
        from genkit.contract.components import ModelSpec
        from genkit.contract.host import get_registry

        registry = get_registry()
        config = source.config
        loss_cls = registry.component_class("loss", config.model.loss)
        # Sampler and loss never look at the encoder's feature shape (only the decoder mirrors it).
        spec = ModelSpec(source.input_shape, source.latent_shape, source.parameter_names, classes=source.classes)
        sampler = source.sampler_class(spec=spec, **config.component_settings("sampler")).eval()
        loss = loss_cls(spec=spec, **config.component_settings("loss")).eval()
        weighted = [f"{kind} {name!r}" for kind, name, module in
                    (("sampler", config.model.sampler, sampler), ("loss", config.model.loss, loss))
                    if any(True for _ in module.parameters())]
        missing = None
        if weighted:
            missing = (f"the export holds no weights of the {' and the '.join(weighted)}, which the loss terms "
                       f"need; evaluate the run folder for them")
        return cls(sampler, loss, host_prior(source.prior), missing, verify=True)

    def per_image(self, source: Source, images: np.ndarray, params: dict[str, np.ndarray],
                  labels: np.ndarray | None, generator, codes: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each term's value per image; empty (and ``missing`` set) when they cannot be computed."""
        import torch

        from genkit.contract.components import ModelOutput, SamplerOutput

        if self.missing is not None:
            return {}
        tensors = [torch.from_numpy(np.ascontiguousarray(params[n])) for n in source.parameter_names]
        if self.verify and not self.matches(source, images, labels, tensors, codes):
            return {}
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        y = torch.from_numpy(np.asarray(labels, np.int64)) if source.conditional else None
        with torch.no_grad():
            draws = []
            for i in range(len(x)):
                drawn = self.sampler(*(t[i:i + 1] for t in tensors), generator=generator)
                draws.append(drawn if isinstance(drawn, SamplerOutput) else SamplerOutput(drawn))
            x_hat = self._decode(source, draws, labels)
            rows = []
            for i, drawn in enumerate(draws):
                out = ModelOutput(None if x_hat is None else x_hat[i], {n: t[i:i + 1] for n, t in
                                                                        zip(source.parameter_names, tensors)},
                                  drawn.z, drawn.extras, None if y is None else y[i:i + 1], self.prior)
                values = self.loss(x[i:i + 1], out)
                rows.append([float(values[t]) for t in self.names])
        table = np.asarray(rows, dtype=np.float64).reshape(len(x), len(self.names))
        return {t: table[:, k] for k, t in enumerate(self.names)}

    def _decode(self, source: Source, draws: list, labels: np.ndarray | None) -> list | None:
        """Every image's latent points decoded in one call, split back per image (None: not needed)."""
        import torch

        if not self.loss.needs_reconstruction:
            return None
        counts = [len(d.z) for d in draws]
        z = torch.cat([d.z for d in draws]).float().numpy()
        repeated = np.repeat(np.asarray(labels), counts) if source.conditional else None
        decoded = torch.from_numpy(source.decode(z, repeated))
        return list(torch.split(decoded, counts))

    def matches(self, source: Source, images, labels, tensors, codes=None) -> bool:
        """Whether the host sampler's deterministic code is the export's (else it is not the trained one).

        On a mismatch ``missing`` says why, and the loss terms and the density are not computed.
        """
        import torch

        with torch.no_grad():
            host = self.sampler.mean(*tensors).float().numpy()
        codes = source.codes(images, labels) if codes is None else codes
        if host.shape == codes.shape and np.allclose(host, codes, rtol=CODE_TOLERANCE, atol=CODE_TOLERANCE):
            return True
        self.missing = (f"sampler {source.sampler_name!r} built from the export's configuration does not give the "
                        f"export's codes (its trained state is not in the export); evaluate the run folder for "
                        f"the loss terms")
        return False


def host_prior(description: dict[str, Any]):
    """A ``genkit.contract.priors.Prior`` rebuilt from its JSON description; None where that needs more than arrays.

    Every field of the family's class must be in the description (a prior network is a graph, not an
    array, so it is not rebuilt).
    """
    import torch

    from genkit.contract.priors import FAMILIES

    cls = FAMILIES.get(description.get("family", ""))
    if cls is None:
        return None
    values = {}
    for field in dataclasses.fields(cls):
        if field.name not in description:
            return None
        value = description[field.name]
        values[field.name] = torch.tensor(value, dtype=torch.float32) if isinstance(value, list) else value
    return cls(**values)

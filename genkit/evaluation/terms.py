"""A batch's loss terms, and each image's own, computed on the host over the backend's encoder and decoder.

The sampler draws for the whole batch at once and the loss scores the batch, as the model's forward and
the trainer do, so a batch's values are the trainer's for the same batch and noise. A sampler that draws
K points per image returns K·N rows (the first N the first draw of each image), decoded with the labels
tiled K times, as the model's forward does. The Loss contract averages over its batch, so each image's
own terms are the loss on that image's rows of the same pass; the terms the loss lists in
``batch_terms`` are statistics of the batch and have no per-image value.

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

    @property
    def batch_names(self) -> tuple[str, ...]:
        """The terms that are statistics of a batch (``Loss.batch_terms``): scored per batch, not per image."""
        declared = set(getattr(self.loss, "batch_terms", ()))
        return tuple(t for t in self.names if t in declared)

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

    def score(self, source: Source, images: np.ndarray, params: dict[str, np.ndarray], labels: np.ndarray | None,
              generator, codes: np.ndarray | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The batch's terms (0-d tensors, as the loss returns them) and each per-image term's N values.

        One sampler draw for the whole batch with ``generator``, as the model's forward draws. An image's
        own terms are the loss on its rows of that draw; a sampler extra that is a batch average (a 0-d
        tensor, such as a commitment loss) is recomputed by the sampler on the image alone. Both empty
        (and ``missing`` set) when this source cannot compute them.
        """
        import torch

        from genkit.contract.components import ModelOutput, SamplerOutput

        if self.missing is not None:
            return {}, {}
        tensors = [torch.from_numpy(np.ascontiguousarray(params[n])) for n in source.parameter_names]
        if self.verify and not self.matches(source, images, labels, tensors, codes):
            return {}, {}
        x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
        y = torch.from_numpy(np.asarray(labels, np.int64)) if source.conditional else None
        singles = [t for t in self.names if t not in self.batch_names]
        with torch.no_grad():
            drawn = self.sampler(*tensors, generator=generator)
            drawn = drawn if isinstance(drawn, SamplerOutput) else SamplerOutput(drawn)
            x_hat = self._decode(source, drawn.z, labels)
            named = dict(zip(source.parameter_names, tensors))
            values = self.loss(x, ModelOutput(x_hat, named, drawn.z, drawn.extras, y, self.prior))
            rows = []
            for i in range(len(x) if singles else 0):
                picked = _rows_of(len(drawn.z), len(x), i)
                extras = self._image_extras(drawn.extras, tensors, picked, i, len(drawn.z))
                out = ModelOutput(None if x_hat is None else x_hat[picked], {n: t[i:i + 1] for n, t in named.items()},
                                  drawn.z[picked], extras, None if y is None else y[i:i + 1], self.prior)
                own = self.loss(x[i:i + 1], out)
                rows.append([float(own[t]) for t in singles])
        table = np.asarray(rows, dtype=np.float64).reshape(len(x), len(singles))
        return dict(values), {t: table[:, k] for k, t in enumerate(singles)}

    def _image_extras(self, extras: dict, tensors: list, picked, i: int, rows: int) -> dict:
        """Image ``i``'s extras: its rows of each per-row extra, batch averages recomputed on the image alone."""
        import torch

        alone = None
        if any(v.dim() == 0 for v in extras.values()):
            drawn = self.sampler(*(t[i:i + 1] for t in tensors), generator=torch.Generator().manual_seed(0))
            alone = getattr(drawn, "extras", {})
        return {name: alone[name] if value.dim() == 0 else value[picked] if len(value) == rows else value[i:i + 1]
                for name, value in extras.items()}

    def _decode(self, source: Source, z, labels: np.ndarray | None):
        """The batch's latent rows decoded in one call, labels tiled as the model's forward does (None: not needed)."""
        import torch

        if not self.loss.needs_reconstruction:
            return None
        tiled = np.tile(np.asarray(labels), len(z) // len(labels)) if source.conditional else None
        return torch.from_numpy(source.decode(z.float().numpy(), tiled))

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


def _rows_of(rows: int, images: int, i: int):
    """Image ``i``'s rows of a draw with ``rows`` = K·N rows: i, i + N, ..., i + (K-1)·N."""
    import torch

    return torch.arange(rows // images) * images + i


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

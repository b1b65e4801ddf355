"""Conformance checks for plugin authors: does a component or recipe keep genkit's contracts?

Call the ``check_*`` functions from your own tests, or subclass a mixin to get test methods for free:
``ComponentConformance`` (or ``EncoderConformance``, ``SamplerConformance``, ``DecoderConformance``,
``LossConformance`` for a kind's own tests) for a component class, ``RecipeConformance`` for a recipe
and ``CudaRecipeConformance`` for a recipe on a GPU as well. A violated contract raises
``AssertionError`` naming the component and the rule, e.g. ``MyDecoder: output must lie in [0, 1]
(end with a sigmoid); got values in [-0.8, 1.3]``.

One concept per module:

    inputs       DEFAULT_SPEC, build_component, labels and encoder outputs the checks feed components
    components   the contract of encoders and decoders (check_encoder, check_decoder) and COMPONENT_CHECKS
    sampler      the sampler contract (check_sampler): z, extras, gradients, mean, prior, fit_prior
    priors       the prior contract (check_prior): a family the export describes and the runtime samples
    losses       check_loss, check_loss_minimum, check_loss_extremes
    recipe       check_recipe: a recipe's model end to end, its stages and ONNX export parity
    players      check_players (each player's step changes exactly its modules),
                 check_loss_networks_not_exported, check_averaged_export
    persistence  check_save_load: the run folder round trip through genkit.load
    batching     check_batch_independence
    precision    check_autocast (bf16 on the CPU, fp16 on CUDA)
    determinism  check_seed_determinism
    devices      check_dtype_round_trip, check_device_move
    sampling     check_draw_statistics, check_prior_statistics
    prior_draws  check_prior_draws: points against a prior of each family
    statistics   the one-sample tests they use, with a stated false-alarm rate
    registry     installed_registry, registry_installed: the registries tests work with
    mixins       the pytest mixins; cuda: their CUDA variants

To grow the kit, add one ``check_*`` function per contract and, where it applies to every component
of a kind or to every recipe, one ``test_*`` method on the matching mixin.
"""

from __future__ import annotations

from typing import Any

from genkit.testing._asserts import check_loss_terms
from genkit.testing.batching import check_batch_independence, check_component_batch_independence
from genkit.testing.components import COMPONENT_CHECKS, check_decoder, check_encoder
from genkit.testing.determinism import check_seed_determinism
from genkit.testing.devices import check_device_move, check_dtype_round_trip
from genkit.testing.inputs import DEFAULT_SPEC, build_component
from genkit.testing.losses import check_loss, check_loss_extremes, check_loss_minimum
from genkit.testing.mixins import (
    ComponentConformance,
    DecoderConformance,
    EncoderConformance,
    LossConformance,
    RecipeConformance,
    SamplerConformance,
)
from genkit.testing.persistence import check_save_load
from genkit.testing.players import check_averaged_export, check_loss_networks_not_exported, check_players
from genkit.testing.precision import check_autocast
from genkit.testing.prior_draws import check_prior_draws
from genkit.testing.priors import check_exportable_sampler, check_prior
from genkit.testing.recipe import build_recipe, check_onnx_parity, check_recipe
from genkit.testing.registry import installed_registry, registry_installed
from genkit.testing.sampler import check_sampler
from genkit.testing.sampling import DRAW_DISTRIBUTIONS, check_draw_statistics, check_prior_statistics

__all__ = [
    "COMPONENT_CHECKS", "DEFAULT_SPEC", "DRAW_DISTRIBUTIONS", "ComponentConformance", "CudaRecipeConformance",
    "DecoderConformance", "EncoderConformance", "LossConformance", "RecipeConformance", "SamplerConformance",
    "build_component", "build_recipe", "check_autocast", "check_batch_independence",
    "check_component_batch_independence", "check_decoder", "check_device_move", "check_draw_statistics",
    "check_averaged_export", "check_dtype_round_trip", "check_encoder", "check_loss_networks_not_exported",
    "check_exportable_sampler", "check_loss", "check_loss_extremes",
    "check_loss_minimum", "check_loss_terms", "check_onnx_parity", "check_players", "check_prior", "check_prior_draws",
    "check_prior_statistics", "check_recipe", "check_sampler", "check_save_load", "check_seed_determinism",
    "installed_registry", "registry_installed",
]


def __getattr__(name: str) -> Any:
    # The CUDA mixin needs pytest (to skip without a GPU); the rest of the kit does not.
    if name == "CudaRecipeConformance":
        from genkit.testing.cuda import CudaRecipeConformance

        return CudaRecipeConformance
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

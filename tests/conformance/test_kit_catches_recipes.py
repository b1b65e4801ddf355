"""Each recipe check of the kit fails on a recipe broken in the way it looks for, and passes the sound one.

Every broken recipe is the vae with one part swapped for a class of ``broken.py``, in a private
registry; it passes ``check_recipe`` (without the ONNX export, which one of them is built to fail), so
each failure below is a fault that only the newer check sees.
"""

from __future__ import annotations

import pytest

from genkit.testing import RecipeConformance, check_recipe

from . import broken
from .broken import recipe_registry


class TestSoundRecipeInAPrivateRegistry(RecipeConformance):
    """The mixin on a registry of its own: the run folder round trip works without installed plugins."""

    recipe = "broken"
    registry = recipe_registry()


class TestSoundAutoencoderInAPrivateRegistry(RecipeConformance):
    recipe = "broken"
    registry = recipe_registry(sampler=broken.DeterministicSampler, loss=broken.ReconstructionLoss)


AE = {"sampler": broken.DeterministicSampler, "loss": broken.ReconstructionLoss}

CASES = [
    ("test_save_load_round_trip", {**AE, "sampler": broken.ForgetfulPriorSampler},
     r"recipe 'broken': after saving and loading the run folder: sampler.prior_mean differs"),
    ("test_save_load_round_trip", {**AE, "sampler": broken.UnsavedPriorSampler},
     r"recipe 'broken': generate\(4\) with a seeded generator after saving and loading the run folder must "
     r"match exactly"),
    ("test_batch_independence", {"decoder": broken.BatchMeanDecoder},
     r"recipe 'broken': reconstruction: row 0 of a batch of 5 against the same input alone"),
    ("test_batch_independence", {"encoder": broken.BatchStatisticsEncoder},
     r"recipe 'broken': encoder output 'mu': row 0 of a batch of 5 against the same input alone"),
    ("test_batch_independence", {"sampler": broken.CentredMeanSampler},
     r"recipe 'broken': codes \(the sampler's mean\): row 0 of a batch of 5"),
    ("test_bf16_autocast", {"decoder": broken.BrightDecoder, "loss": broken.UnclampedBCELoss},
     r"recipe 'broken' under bfloat16 autocast on cpu: loss term 'loss' of a forward with a seeded generator has "
     r"non-finite"),
    ("test_bf16_autocast", {"encoder": broken.LargeOffsetEncoder},
     r"recipe 'broken' under bfloat16 autocast on cpu: encoder output 'mu' differs from float32 by .*, more than"),
    ("test_seed_determinism", {"encoder": broken.UnseededInitEncoder},
     r"recipe 'broken': two models built after torch.manual_seed\(0\): encoder.heads.mu.weight differs"),
    ("test_seed_determinism", {"sampler": broken.GlobalRNGSampler},
     r"recipe 'broken': sampled z with equally seeded generators but another global RNG state"),
    ("test_seed_determinism", {"encoder": broken.UnseededDropoutEncoder},
     r"recipe 'broken': training forward with equal seeds: sampled z must match exactly"),
    ("test_move_to_cpu", {"sampler": broken.GlobalRNGSampler},
     r"recipe 'broken' moved to cpu: forward's sampled z with a seeded generator on cpu with a CPU generator "
     r"against the CPU must match exactly"),
    ("test_float64_round_trip", {"sampler": broken.PlainTensorPriorSampler},
     r"recipe 'broken': the forward in float64 .* failed: RuntimeError"),
    ("test_sampler_draw_statistics", {"sampler": broken.StdAsVarianceSampler},
     r"StdAsVarianceSampler: reparameterised draws for parameter_names \('mu', 'log_var'\) do not follow the "
     r"declared Gaussian: dimension \d: sample std"),
    ("test_sampler_prior_statistics", {"sampler": broken.WidePriorSampler},
     r"WidePriorSampler: sample_prior's draws \(against prior\(\)\) do not follow the declared Gaussian"),
    ("test_sampler_prior_statistics", {**AE, "sampler": broken.VarianceFitSampler},
     r"VarianceFitSampler: the codes given to fit_prior \(against the fitted prior\(\)\) do not follow"),
    ("test_loss_minimal_at_perfect_reconstruction", {"loss": broken.ShiftedTargetLoss},
     r"ShiftedTargetLoss: the loss must be minimal at x_hat = x, but x_hat = .* gives"),
    ("test_loss_finite_on_extreme_inputs", {"loss": broken.UnclampedBCELoss},
     r"UnclampedBCELoss \(x all zeros, x_hat exactly 0, every encoder output \+20\): term 'loss' is not finite"),
    ("test_contract", {"decoder": broken.NoisyDecoder},
     r"recipe 'broken': ONNX export parity: .*decoder .*random operators"),
]


def _label(parts: dict) -> str:
    return next(iter(parts.values())).__name__


@pytest.mark.parametrize(("test", "parts", "pattern"), CASES, ids=[f"{c[0]}-{_label(c[1])}" for c in CASES])
def test_the_check_fails_on_its_broken_recipe(test, parts, pattern, tmp_path):
    mixin = type("TestBroken", (RecipeConformance,), {"recipe": "broken", "registry": recipe_registry(**parts)})()
    method = getattr(mixin, test)
    with pytest.raises(AssertionError, match=pattern):
        method(tmp_path) if test == "test_save_load_round_trip" else method()


# WidePriorSampler also breaks the export contract, which check_recipe names (see test_kit_catches_components)
BROKEN = {_label(parts): parts for _, parts, _ in CASES if _label(parts) != "WidePriorSampler"}


@pytest.mark.parametrize("parts", BROKEN.values(), ids=BROKEN.keys())
def test_the_broken_recipes_keep_the_basic_contract(parts):
    check_recipe("broken", recipe_registry(**parts), onnx=False)

"""pytest mixins: subclass one in a test module and its ``test_*`` methods test your component or recipe.

    class TestMyDecoder(DecoderConformance):
        component_class = MyDecoder
        settings = {"hidden": [32, 16]}

    class TestMyRecipe(RecipeConformance):
        recipe = "my-vae"
        overrides = ["encoder.filters=[8,16]"]   # --set style, to make a big recipe small

Every test is one assertion about behaviour and fails with ``AssertionError`` naming the component or
recipe and the broken rule. A ``spec`` with ``classes`` K > 0 tests a conditional encoder or decoder (it gets
labels in [0, K)); a recipe with ``classes`` is tested with labels throughout. ``ComponentConformance`` takes a
class of any kind; the kind mixins add the tests that only make sense for their kind. The CUDA variants of the
recipe tests are in ``genkit.testing.cuda`` (they need pytest to skip where no GPU is present).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from genkit.config import validate_section
from genkit.contract.components import ModelSpec
from genkit.contract.model import GenerativeModel
from genkit.contract.registry import Registry
from genkit.errors import GenkitError
from genkit.testing._asserts import require, uniform_images
from genkit.testing.batching import check_batch_independence, check_component_batch_independence
from genkit.testing.components import COMPONENT_CHECKS
from genkit.testing.determinism import check_seed_determinism
from genkit.testing.devices import check_device_move, check_dtype_round_trip
from genkit.testing.inputs import DEFAULT_SPEC, build_component, labels_for
from genkit.testing.losses import check_loss_extremes, check_loss_minimum
from genkit.testing.persistence import check_save_load
from genkit.testing.precision import check_autocast
from genkit.testing.priors import check_exportable_sampler
from genkit.testing.recipe import build_recipe, check_recipe
from genkit.testing.sampling import DRAW_DISTRIBUTIONS, check_draw_statistics, check_prior_statistics


class ComponentConformance:
    """Test methods for one component class; subclass it in a test module::

        class TestMyEncoder(ComponentConformance):
            component_class = MyEncoder
            settings = {"filters": [8, 16], "kernels": [3, 3], "strides": [2, 2]}
            spec = ModelSpec((1, 28, 28), (2,), ("mu", "log_var"))  # optional, defaults to DEFAULT_SPEC

    The kind (encoder, sampler, decoder or loss) comes from the class. ``EncoderConformance``,
    ``SamplerConformance``, ``DecoderConformance`` and ``LossConformance`` add that kind's own tests.
    ``params`` (encoders and samplers): one row (1, ...) per encoder output, where the outputs are not latent
    points of ``spec.latent_shape`` (a sampler of logits, say): the checks use their shapes, and the draw
    statistics their values. ``sampler_class`` and ``sampler_settings`` (losses): the sampler whose z, extras and
    prior the loss reads, when it reads any.
    """

    component_class: ClassVar[type | None] = None
    spec: ClassVar[ModelSpec | None] = None
    settings: ClassVar[dict[str, Any]] = {}
    params: ClassVar[Sequence[torch.Tensor] | None] = None
    sampler_class: ClassVar[type | None] = None
    sampler_settings: ClassVar[dict[str, Any]] = {}
    kind: ClassVar[str] = ""  # set by the kind mixins: the kind component_class must be

    def _component(self) -> type:
        cls = self.component_class
        if cls is None:
            raise TypeError(f"{type(self).__name__} must set component_class")
        kind = getattr(cls, "kind", None)
        if self.kind and kind != self.kind:
            advice = f"a {kind}; use {kind.capitalize()}Conformance" if kind else "not a component"
            raise TypeError(f"{type(self).__name__} tests a {self.kind}, but {getattr(cls, '__name__', cls)} "
                            f"is {advice}")
        return cls

    def test_default_settings_are_valid(self):
        """Every setting has a default, so a recipe may leave any of them out."""
        cls = self._component()
        try:
            validate_section(cls.Settings, {}, cls.kind)
        except GenkitError as exc:
            raise AssertionError(f"{cls.__name__}: default settings are rejected: {exc}") from exc

    def test_settings_are_valid(self):
        """The test's settings pass the config layer, as a user's TOML file would have to."""
        cls = self._component()
        try:
            validate_section(cls.Settings, dict(self.settings), cls.kind)
        except GenkitError as exc:
            raise AssertionError(f"{cls.__name__}: settings {self.settings!r} are rejected: {exc}") from exc

    def test_contract(self):
        """Shapes, dtypes, gradients, eval-mode determinism and the kind's rules (genkit.testing.components)."""
        cls = self._component()
        options: dict[str, Any] = {}
        if cls.kind in ("encoder", "sampler"):
            options["params"] = type(self).params
        if cls.kind == "loss":
            options.update(sampler=self.sampler_class, sampler_settings=self.sampler_settings)
        COMPONENT_CHECKS[cls.kind](cls, spec=self.spec, settings=self.settings, **options)


class EncoderConformance(ComponentConformance):
    kind = "encoder"

    def test_batch_independence(self):
        """In eval mode each image's outputs equal its outputs alone (1e-5), for a batch of 5."""
        check_component_batch_independence(self._component(), self.spec, self.settings)


class DecoderConformance(ComponentConformance):
    kind = "decoder"

    def test_batch_independence(self):
        """In eval mode each latent point's image equals its image alone (1e-5), for a batch of 5."""
        check_component_batch_independence(self._component(), self.spec, self.settings)


class SamplerConformance(ComponentConformance):
    """``draw_distribution`` (``(*params) -> (mean, std)``) and ``params`` are needed only for parameter_names
    other than ``(mu, log_var)`` and ``(code,)``."""

    kind = "sampler"
    draw_distribution: ClassVar[Any] = None

    def test_prior_can_be_exported(self):
        """prior() is one of the prior families, of the latent shape, as the export describes it, with valid
        values; sample_prior is prior().sample (the runtime draws from the description alone)."""
        cls = self._component()
        spec = dataclasses.replace(self.spec or DEFAULT_SPEC, parameter_names=tuple(cls.parameter_names))
        check_exportable_sampler(build_component(cls, "sampler", spec, self.settings), cls.__name__)

    def test_draw_statistics(self):
        """Draws for fixed params follow the declared distribution (z and χ² tests, false alarms 1e-6)."""
        check_draw_statistics(self._component(), self.spec, self.settings, params=type(self).params,
                              draw_distribution=type(self).draw_distribution)

    def test_prior_statistics(self):
        """sample_prior follows prior(), whatever its family; a fitted prior describes its codes (false alarms 1e-6)."""
        check_prior_statistics(self._component(), self.spec, self.settings, params=type(self).params)

    def test_batch_independence(self):
        """mean(*params) row by row equals the row alone (1e-5)."""
        check_component_batch_independence(self._component(), self.spec, self.settings, params=type(self).params)


class LossConformance(ComponentConformance):
    kind = "loss"

    def test_minimal_at_perfect_reconstruction(self):
        """loss at x_hat = x <= loss at x_hat near x, and < for far-off reconstructions (fixed z and params)."""
        check_loss_minimum(self._component(), self.spec, self.settings, sampler=self.sampler_class,
                           sampler_settings=self.sampler_settings)

    def test_finite_on_extreme_inputs(self):
        """Finite terms and gradients for black/white images, x_hat of exactly 0 or 1, outputs of ±20."""
        check_loss_extremes(self._component(), self.spec, self.settings, sampler=self.sampler_class,
                            sampler_settings=self.sampler_settings)


class RecipeConformance:
    """Test methods for one recipe, each on a freshly built, seeded model::

        class TestMyRecipe(RecipeConformance):
            recipe = "my-vae"
            overrides = ["encoder.filters=[8,16]"]   # optional, --set style
            registry = my_registry()                  # optional; default: the installed plugins

    Override ``images(input_shape, n)`` to test on real images instead of seeded uniform noise. A sampler of
    parameter_names other than ``(mu, log_var)`` and ``(code,)`` needs ``draw_distribution`` (``(*params) ->
    (mean, std)``) for its draw statistics, which run on the encoder's outputs for the first test image.
    """

    recipe: ClassVar[str | None] = None
    overrides: ClassVar[Sequence[str]] = ()
    registry: ClassVar[Registry | None] = None
    seed: ClassVar[int] = 0
    draw_distribution: ClassVar[Any] = None

    def images(self, input_shape: tuple[int, ...], n: int) -> torch.Tensor:
        """``n`` images (n, C, H, W) in [0, 1] to run the checks on."""
        return uniform_images(input_shape, n, self.seed)

    def build(self) -> GenerativeModel:
        """A fresh model of the recipe, initialised after ``torch.manual_seed(seed)``."""
        if self.recipe is None:
            raise TypeError(f"{type(self).__name__} must set recipe")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return build_recipe(self.recipe, self.registry, overrides=self.overrides)

    def _model_and_images(self, n: int) -> tuple[GenerativeModel, torch.Tensor]:
        model = self.build()
        return model, self.images(tuple(model.spec.input_shape), n)

    def test_contract(self):
        """Forward, loss, backward, codes, reconstruction, generation, and ONNX export parity (1e-5)."""
        model, x = self._model_and_images(2)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            check_recipe(self.recipe, self.registry, overrides=self.overrides, images=x, seed=self.seed, onnx=True)

    def test_save_load_round_trip(self, tmp_path: Path):
        """Saved with genkit.run.checkpoint, loaded with genkit.load: bitwise equal state and seeded outputs."""
        model, x = self._model_and_images(4)
        check_save_load(model, tmp_path / "run", self.registry, x, seed=self.seed)

    def test_batch_independence(self):
        """In eval mode each row of a batch of 5 equals the image alone (1e-5 + 1e-5·|value|)."""
        model, x = self._model_and_images(5)
        check_batch_independence(model, x, seed=self.seed)

    def test_bf16_autocast(self):
        """CPU bf16 autocast: outputs within 2 % of float32's scale; finite terms and gradients."""
        model, x = self._model_and_images(4)
        check_autocast(model, "cpu", torch.bfloat16, x, seed=self.seed)

    def test_seed_determinism(self):
        """Equal seeds: bitwise equal weights, training forwards and loss; draws come from the generator."""
        model, x = self._model_and_images(3)
        check_seed_determinism(self.build, x, seed=self.seed)

    def test_float64_round_trip(self):
        """float64 follows every tensor (outputs within 1e-5); back to float32 bitwise as before."""
        model, x = self._model_and_images(3)
        check_dtype_round_trip(model, x, seed=self.seed)

    def test_move_to_cpu(self):
        """.to(torch.device('cpu')) keeps every seeded output bitwise."""
        model, x = self._model_and_images(3)
        check_device_move(model, torch.device("cpu"), x, seed=self.seed)

    def _encoder_rows(self, model: GenerativeModel, x: torch.Tensor) -> list[torch.Tensor] | None:
        """The encoder's outputs for the first image: realistic parameters of the right shapes (none without one)."""
        if model.generator_only:
            return None
        with torch.no_grad():
            return [t[:1] for t in model.eval().encode(x[:1], labels_for(model.spec, 1)).values()]

    def test_prior_can_be_exported(self):
        """The model's prior is one of the prior families as the export describes it, of the latent shape."""
        check_exportable_sampler(self.build().sampler, f"recipe {self.recipe!r}")

    def test_sampler_draw_statistics(self):
        """The model's sampler: draws follow the declared distribution (false alarms 1e-6)."""
        model, x = self._model_and_images(1)
        if model.generator_only:  # its sampler draws only from the prior, so the prior's draws are what is checked
            check_prior_statistics(model.sampler, seed=self.seed)
            return
        distribution = type(self).draw_distribution
        # the known parametrisations get spread-out parameters that expose a std taken for a variance; others
        # the encoder's outputs for a test image, which have the shapes the sampler expects
        known = distribution is None and tuple(model.sampler.parameter_names) in DRAW_DISTRIBUTIONS
        check_draw_statistics(model.sampler, params=None if known else self._encoder_rows(model, x),
                              draw_distribution=distribution, seed=self.seed)

    def test_sampler_prior_statistics(self):
        """The model's sampler: sample_prior follows prior(), fitted or not, whatever its family (false alarms 1e-6)."""
        model, x = self._model_and_images(1)
        check_prior_statistics(model.sampler, params=self._encoder_rows(model, x), seed=self.seed)

    def test_loss_minimal_at_perfect_reconstruction(self):
        """The model's loss, at the encoder's outputs for the test images and their draws, is smallest at x_hat = x."""
        model, x = self._model_and_images(4)
        if model.generator_only:  # no reconstruction to be minimal at: its players' steps are what is checked
            from genkit.testing.players import check_players

            require(model.config.players, f"recipe {self.recipe!r}", "a generator-only recipe without players has no "
                    "reconstruction for its loss to be minimal at; declare players or test its loss yourself")
            check_players(model, x, labels_for(model.spec, len(x)))
            return
        with torch.no_grad():
            params = model.eval().encode(x, labels_for(model.spec, len(x)))
        check_loss_minimum(model.loss, images=x, params=params, sampler=model.sampler, seed=self.seed)

    def test_loss_finite_on_extreme_inputs(self):
        """The model's loss: finite terms and gradients at the extremes (genkit.testing.losses)."""
        model = self.build()
        players = model.player_loss_map()  # a player's loss may read another player's network
        for loss in dict.fromkeys([model.loss, *players.values()]):
            check_loss_extremes(loss, sampler=model.sampler, seed=self.seed, losses=players)

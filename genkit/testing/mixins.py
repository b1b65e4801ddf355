"""pytest mixins: subclass one in a test module and its ``test_*`` methods test your component or recipe.

    class TestMyDecoder(DecoderConformance):
        component_class = MyDecoder
        settings = {"hidden": [32, 16]}

    class TestMyRecipe(RecipeConformance):
        recipe = "my-vae"
        overrides = ["encoder.filters=[8,16]"]   # --set style, to make a big recipe small

Every test is one assertion about behaviour and fails with ``AssertionError`` naming the component or
recipe and the broken rule. ``ComponentConformance`` takes a class of any kind; the kind mixins add
the tests that only make sense for their kind. The CUDA variants of the recipe tests are in
``genkit.testing.cuda`` (they need pytest to skip where no GPU is present).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from genkit.components import ModelSpec
from genkit.config import validate_section
from genkit.errors import GenkitError
from genkit.model import GenerativeModel
from genkit.registry import Registry
from genkit.testing._asserts import uniform_images
from genkit.testing.batching import check_batch_independence, check_component_batch_independence
from genkit.testing.components import COMPONENT_CHECKS
from genkit.testing.determinism import check_seed_determinism
from genkit.testing.devices import check_device_move, check_dtype_round_trip
from genkit.testing.losses import check_loss_extremes, check_loss_minimum
from genkit.testing.persistence import check_save_load
from genkit.testing.precision import check_autocast
from genkit.testing.recipe import build_recipe, check_recipe
from genkit.testing.sampling import check_draw_statistics, check_prior_statistics


class ComponentConformance:
    """Test methods for one component class; subclass it in a test module::

        class TestMyEncoder(ComponentConformance):
            component_class = MyEncoder
            settings = {"filters": [8, 16], "kernels": [3, 3], "strides": [2, 2]}
            spec = ModelSpec((1, 28, 28), 2, ("mu", "log_var"))  # optional, defaults to DEFAULT_SPEC

    The kind (encoder, sampler, decoder or loss) comes from the class. ``EncoderConformance``,
    ``SamplerConformance``, ``DecoderConformance`` and ``LossConformance`` add that kind's own tests.
    """

    component_class: ClassVar[type | None] = None
    spec: ClassVar[ModelSpec | None] = None
    settings: ClassVar[dict[str, Any]] = {}
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
        COMPONENT_CHECKS[cls.kind](cls, spec=self.spec, settings=self.settings)


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
    """``draw_distribution`` (``(*params) -> (mean, std)``) and ``draw_params`` are needed only for
    parameter_names other than ``(mu, log_var)`` and ``(code,)``."""

    kind = "sampler"
    draw_distribution: ClassVar[Any] = None
    draw_params: ClassVar[Sequence[torch.Tensor] | None] = None

    def test_draw_statistics(self):
        """Reparameterised draws follow the declared distribution (z and χ² tests, false alarms 1e-6)."""
        check_draw_statistics(self._component(), self.spec, self.settings, params=type(self).draw_params,
                              draw_distribution=type(self).draw_distribution)

    def test_prior_statistics(self):
        """sample_prior follows prior(); a fitted prior describes its codes (false alarms 1e-6)."""
        check_prior_statistics(self._component(), self.spec, self.settings)

    def test_batch_independence(self):
        """mean(*params) row by row equals the row alone (1e-5)."""
        check_component_batch_independence(self._component(), self.spec, self.settings)


class LossConformance(ComponentConformance):
    kind = "loss"

    def test_minimal_at_perfect_reconstruction(self):
        """loss(x, x, params) <= loss(x, x_hat, params) around x, and < for far-off reconstructions."""
        check_loss_minimum(self._component(), self.spec, self.settings)

    def test_finite_on_extreme_inputs(self):
        """Finite terms and gradients for black/white images, x_hat of exactly 0 or 1, outputs of ±20."""
        check_loss_extremes(self._component(), self.spec, self.settings)


class RecipeConformance:
    """Test methods for one recipe, each on a freshly built, seeded model::

        class TestMyRecipe(RecipeConformance):
            recipe = "my-vae"
            overrides = ["encoder.filters=[8,16]"]   # optional, --set style
            registry = my_registry()                  # optional; default: the installed plugins

    Override ``images(input_shape, n)`` to test on real images instead of seeded uniform noise.
    """

    recipe: ClassVar[str | None] = None
    overrides: ClassVar[Sequence[str]] = ()
    registry: ClassVar[Registry | None] = None
    seed: ClassVar[int] = 0

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
        """Saved with genkit.checkpoint, loaded with genkit.load: bitwise equal state and seeded outputs."""
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

    def test_sampler_draw_statistics(self):
        """The model's sampler: reparameterised draws follow the declared distribution (false alarms 1e-6)."""
        check_draw_statistics(self.build().sampler, seed=self.seed)

    def test_sampler_prior_statistics(self):
        """The model's sampler: sample_prior follows prior(), fitted or not (false alarms 1e-6)."""
        check_prior_statistics(self.build().sampler, seed=self.seed)

    def test_loss_minimal_at_perfect_reconstruction(self):
        """The model's loss, at the encoder's outputs for the test images, is smallest at x_hat = x."""
        model, x = self._model_and_images(4)
        with torch.no_grad():
            params = model.eval().encode(x)
        check_loss_minimum(model.loss, images=x, params=params, seed=self.seed)

    def test_loss_finite_on_extreme_inputs(self):
        """The model's loss: finite terms and gradients at the extremes (genkit.testing.losses)."""
        check_loss_extremes(self.build().loss, seed=self.seed)

"""What a plot kind is given: the source, the images it is drawn on, and its checked options.

Option values that click cannot check alone (a pair of latent dimensions, an image index beyond the
split, a class name) are checked here, and a bad one raises ``PlotOptionError`` whose one line starts
with the option's name, so ``genkit plot`` and ``genkit report`` fail the same clear way.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from genkit.errors import GenkitError
from genkit.evaluation import data as evaldata
from genkit.evaluation.source import Source


class PlotOptionError(GenkitError):
    """A plot option with a value the plot cannot use; the message names the option."""


class LatentShapeError(GenkitError):
    """A plot that cannot draw this model's latent shape (or prior); the message says what it needs."""


@dataclasses.dataclass
class PlotContext:
    source: Source
    data: str | None = None  # dataset override; the source's own dataset when None
    split_name: str = "test"
    seed: int = 0
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    _codes: dict[int, tuple[np.ndarray, np.ndarray | None]] = dataclasses.field(default_factory=dict, repr=False)

    def get(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name)
        return default if value is None else value

    @functools.cached_property
    def split(self):
        return evaldata.open_split(self.source, self.data, self.split_name)

    @property
    def class_names(self) -> list[str] | None:
        return evaldata.class_names(self.split)

    @property
    def labels(self) -> np.ndarray | None:
        return self.split.labels.numpy() if self.split.labels is not None else None

    def first(self, count: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The first ``count`` images of the split and their labels."""
        return evaldata.take(self.split, count)

    def encoded(self, limit: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The flattened codes (N, prod(latent_shape)) of the first ``limit`` images and their labels.

        Kept: a report draws several plots from the same codes.
        """
        if limit not in self._codes:
            codes, labels = [], []
            for x, y in evaldata.walk(self.split.limit(limit)):
                codes.append(self.source.codes(x, y).reshape(len(x), -1))
                if y is not None:
                    labels.append(y)
            self._codes[limit] = (np.concatenate(codes), np.concatenate(labels) if labels else None)
        return self._codes[limit]

    def images_at(self, indices) -> tuple[np.ndarray, np.ndarray | None]:
        """The images at ``indices`` of the split, read one by one (works for folders too), and their labels."""
        dataset = self.split.torch_dataset()
        images = np.stack([dataset[int(i)][0].numpy() for i in indices]).astype(np.float32)
        labels = self.labels
        return images, (None if labels is None else labels[np.asarray(indices, np.int64)])

    def require_flat_latent(self, what: str, need: str = "a flat latent (z,)") -> None:
        """Refuse, in one line, a plot that cannot draw a spatial latent."""
        if not self.source.flat_latent:
            raise LatentShapeError(f"{what} needs {need}; this model's latent_shape is "
                                   f"{self.source.latent_shape_text()}")

    def label(self) -> int | None:
        """The class a conditional model decodes a latent walk with: ``--label`` (index or name), else 0.

        None for an unconditional model, which takes no ``--label``.
        """
        value = self.options.get("label")
        classes = self.source.classes
        if not classes:
            if value is not None:
                raise PlotOptionError(f"--label {value}: {self.source.recipe} is not conditional; it takes no label")
            return None
        if value is None:
            return 0
        text = str(value).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if not 0 <= index < classes:
                raise PlotOptionError(f"--label {text}: this model's labels run 0..{classes - 1}")
            return index
        return self.class_index("--label", text)

    def class_name(self, index: int) -> str:
        names = self.class_names
        return names[index] if names and index < len(names) else f"class {index}"

    def index(self, option: str, value: int) -> int:
        if not 0 <= value < len(self.split):
            raise PlotOptionError(f"{option} {value} is out of range: the {self.split_name} split has "
                                  f"{len(self.split)} images (0..{len(self.split) - 1})")
        return value

    def dims(self, default: tuple[int, int] = (0, 1)) -> tuple[int, int]:
        """The ``--dims i,j`` pair, checked against the number of (flattened) latent dimensions."""
        text = self.options.get("dims")
        if text is None:
            return default
        parts = [p.strip() for p in str(text).split(",")]
        try:
            i, j = (int(p) for p in parts)
        except ValueError:
            raise PlotOptionError(f"--dims must be two latent dimensions as i,j (e.g. 0,1); got {text!r}") from None
        z = self.source.latent_numel
        if not (0 <= i < z and 0 <= j < z):
            raise PlotOptionError(f"--dims {text}: the latent space has {z} dimensions, numbered 0..{z - 1}")
        if i == j:
            raise PlotOptionError(f"--dims {text}: name two different dimensions")
        return i, j

    def class_index(self, option: str, value: str) -> int:
        """A class given by index or by name (case-insensitive)."""
        names = self.class_names
        if names is None:
            raise PlotOptionError(f"{option}: the {self.split_name} split has no labels; use --attributes FILE.csv "
                                  f"--column NAME for an image folder")
        text = str(value).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if not 0 <= index < len(names):
                raise PlotOptionError(f"{option} {text}: class indices run 0..{len(names) - 1}")
            return index
        lowered = [n.lower() for n in names]
        if text.lower() in lowered:
            return lowered.index(text.lower())
        raise PlotOptionError(f"{option} {text!r} is not a class; classes: {', '.join(names)}")

    def recipe_title(self) -> str:
        return f"{self.source.recipe} ({self.source.kind})"

"""``ImageDataset``: a named set of splits with one image shape and a content checksum; and ``load_dataset``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from genkit.errors import DataError, GenkitError, PluginError

if TYPE_CHECKING:
    from genkit.contract.registry import Registry
    from genkit.data.splits import Split

Shape = tuple[int, int, int]


def format_shape(shape: Sequence[int]) -> str:
    return "×".join(str(int(v)) for v in shape)


def check_image_shape(name: str, actual: Sequence[int], expected: Sequence[int] | None) -> None:
    """Raise the standard ``DataError`` when a fixed-shape dataset does not fit the recipe."""
    if expected is None or tuple(int(v) for v in actual) == tuple(int(v) for v in expected):
        return
    raise DataError(
        f"dataset {name} has {format_shape(actual)} images but recipe expects {format_shape(expected)}; "
        f"use --data folder:PATH (resized to fit) or a recipe with input_shape {[int(v) for v in actual]}"
    )


def require_images(split: Split, dataset: str) -> Split:
    """``split`` when it holds images; a ``DataError`` otherwise, since a score over no images would be 0."""
    if not len(split):
        raise DataError(f"the {split.name} split of {dataset} holds no images; a run needs images to train on "
                        f"and test images to measure its test loss")
    return split


def require_labels(split: Split, classes: int, dataset: str) -> Split:
    """``split`` when every image has a label in [0, classes); a ``DataError`` naming what is wrong otherwise."""
    if split.labels is None:
        raise DataError(f"the model is conditional on {classes} classes but the {split.name} split of {dataset} "
                        f"has no labels; train it on a labelled dataset (e.g. fashion-mnist, or npz:PATH with labels)")
    if len(split.labels):
        low, high = int(split.labels.min()), int(split.labels.max())
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise DataError(f"the {split.name} split of {dataset} has label {bad}, outside [0, {classes}) of the "
                            f"model's model.classes; set --set model.classes={high + 1} or relabel the data")
    return split


class ImageDataset:
    """A dataset's splits (built on first request and kept), its image shape and its checksum.

    ``splits`` maps a split name to a ``Split`` or to a function that builds one, so a dataset whose
    test split is never used never reads it. ``checksum`` is a hex string or a function computing it
    (called at most once). ``location`` says where the data was found, for ``genkit data info``.
    """

    def __init__(self, name: str, image_shape: Sequence[int], splits: Mapping[str, Split | Callable[[], Split]],
                 checksum: str | Callable[[], str], location: str = "") -> None:
        self.name = name
        self.image_shape: Shape = tuple(int(v) for v in image_shape)  # type: ignore[assignment]
        self.location = location
        self._splits = dict(splits)
        self._checksum = checksum

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(self._splits)

    def split(self, name: str) -> Split:
        """The split called ``name`` (``train`` or ``test``); ``DataError`` for any other name."""
        if name not in self._splits:
            raise DataError(f"dataset {self.name} has no split {name!r}; known splits: {', '.join(self._splits)}")
        split = self._splits[name]
        if callable(split):
            split = self._splits[name] = split()
        return split

    def checksum(self) -> str:
        """A stable hex digest identifying the dataset's content (computed once)."""
        if callable(self._checksum):
            self._checksum = self._checksum()
        return self._checksum

    def __repr__(self) -> str:
        return f"ImageDataset({self.name!r}, {format_shape(self.image_shape)}, splits={list(self._splits)})"


def load_dataset(spec: str, input_shape: Sequence[int] | None, registry: Registry | None = None) -> ImageDataset:
    """Resolve ``spec`` (``NAME`` or ``NAME:ARGUMENT``) and call the dataset's factory with ``input_shape``."""
    if registry is None:
        from genkit.contract.host import get_registry

        registry = get_registry()
    entry, argument = registry.dataset(spec)
    factory = entry.load()
    shape = tuple(int(v) for v in input_shape) if input_shape is not None else None
    try:
        dataset = factory(argument, shape)
    except GenkitError:
        raise
    except (ValueError, TypeError, OSError, LookupError) as exc:
        # the documented kinds of a plugin's refusal: one line naming the plugin, not a traceback
        given = f" with argument {argument!r}" if argument is not None else ""
        raise DataError(f"dataset {entry.name!r} of plugin {entry.plugin!r} could not be loaded{given}: "
                        f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(dataset, ImageDataset):
        raise PluginError(f"dataset {entry.name!r} of plugin {entry.plugin!r} returned "
                          f"{type(dataset).__name__}, not a genkit.data.ImageDataset")
    # The factories shipped with genkit check this themselves; a third-party one may not.
    check_image_shape(spec, dataset.image_shape, shape)
    return dataset

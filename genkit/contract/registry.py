"""Named implementations per kind, recipes and datasets, and the lookup and collision rules.

The registry is filled by plugins through ``genkit.contract.host``; it knows nothing about pluggy. Entries
can point at their implementation with a ``"module:attr"`` string, so that listing what is registered
imports no torch.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any

from genkit import lazy
from genkit.deprecation import warn_deprecated
from genkit.errors import ConfigError, PluginError, UnknownNameError

COMPONENT_KINDS = ("encoder", "sampler", "decoder", "loss")
NO_ENCODER = "none"  # the encoder of a generator-only recipe (``encoder=None`` when registering one)
COMPONENT_HOOKS = {f"register_{kind}{'es' if kind == 'loss' else 's'}": kind for kind in COMPONENT_KINDS}
RECIPE_SECTIONS = ("encoder", "sampler", "decoder", "loss", "training", "data")
# Names travel through command lines, TOML files and NAME:ARGUMENT dataset specs: no ':' or spaces.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def resolve_target(target: Any) -> Any:
    """Import a ``"module:attr"`` string; return anything else unchanged."""
    if not isinstance(target, str):
        return target
    try:
        return lazy.resolve(target)
    except ValueError as exc:
        raise PluginError(str(exc)) from None


def check_target(target: Any, what: str) -> None:
    """Reject a target string that can never be imported, at registration rather than at first use."""
    if isinstance(target, str):
        if not lazy.is_target(target):
            raise PluginError(f"{what} has target {target!r}, which is not of the form 'package.module:Attribute'")
    elif target is None:
        raise PluginError(f"{what} has no target")


def _target_label(target: Any) -> str:
    if isinstance(target, str):
        return target
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"


@dataclasses.dataclass
class Entry:
    """One registered component or dataset."""

    kind: str
    name: str
    target: Any
    plugin: str
    description: str = ""
    takes_argument: bool = False
    argument: str = "PATH"  # how help and errors name a dataset's argument: folder:PATH, noise:N

    @property
    def usage(self) -> str:
        """How a user writes this dataset: ``NAME`` or ``NAME:ARGUMENT``."""
        return f"{self.name}:{self.argument}" if self.takes_argument else self.name

    def load(self) -> Any:
        try:
            return resolve_target(self.target)
        except Exception as exc:  # noqa: BLE001 - a broken plugin module is the plugin's error, not a crash
            raise PluginError(
                f"{self.kind} {self.name!r} of plugin {self.plugin!r} cannot be imported from "
                f"{_target_label(self.target)}: {type(exc).__name__}: {exc}"
            ) from exc

    def as_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "plugin": self.plugin, "target": _target_label(self.target),
                "description": self.description}
        if self.kind == "dataset":
            data["takes_argument"] = self.takes_argument
            if self.takes_argument:
                data["argument"] = self.argument
        return data


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A model recipe: one component of each kind plus default hyper-parameters."""

    name: str
    encoder: str
    sampler: str
    decoder: str
    loss: str
    input_shape: tuple[int, int, int]
    latent_shape: tuple[int, ...]
    settings: dict[str, dict[str, Any]]
    plugin: str
    description: str = ""
    classes: int = 0
    stages: tuple[dict[str, Any], ...] = ()
    players: tuple[dict[str, Any], ...] = ()

    @property
    def generator_only(self) -> bool:
        return self.encoder == NO_ENCODER

    def components(self) -> dict[str, str]:
        return {kind: getattr(self, kind) for kind in COMPONENT_KINDS}

    @property
    def z_dim(self) -> int:
        """Deprecated (0.1): the width of a flat latent; ``latent_shape`` is the latent's one name."""
        warn_deprecated("Recipe.z_dim", "Recipe.latent_shape")
        return _flat_width(self.latent_shape, "Recipe.z_dim")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "plugin": self.plugin, "description": self.description,
                **self.components(), "input_shape": list(self.input_shape),
                "latent_shape": list(self.latent_shape), "classes": self.classes, "settings": self.settings,
                "stages": [dict(stage) for stage in self.stages], "players": [dict(p) for p in self.players]}


def _check_stages(stages: Any, what: str, section: str = "stages") -> tuple[dict[str, Any], ...]:
    """A recipe's later training stages (or its players): a list of tables, each with a distinct valid ``name``."""
    one = section[:-1]
    if not isinstance(stages, (list, tuple)) or not all(isinstance(s, dict) for s in stages):
        raise PluginError(f"{what} has {section} {stages!r}; expected a list of dicts (name, loss, trains, ...)")
    names = [s.get("name") for s in stages]
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name) or name == "main":
            raise PluginError(f"{what} has a {one} named {name!r}; use letters, digits, '-' and '_' (not 'main')")
    if len(set(names)) != len(names):
        raise PluginError(f"{what} names two {section} alike: {names}")
    return tuple(dict(s) for s in stages)


def _flat_width(latent_shape: tuple[int, ...], what: str) -> int:
    if len(latent_shape) != 1:
        raise AttributeError(f"{what} is only defined for a flat latent; this one is {list(latent_shape)}: "
                             f"use latent_shape")
    return latent_shape[0]


class NameClashError(PluginError):
    """A name already registered in its kind by another plugin: the later registration is skipped."""


class Registry:
    """What the loaded plugins provide, by kind and name."""

    def __init__(self) -> None:
        self.components: dict[str, dict[str, Entry]] = {kind: {} for kind in COMPONENT_KINDS}
        self.recipes: dict[str, Recipe] = {}
        self.datasets: dict[str, Entry] = {}

    # -- registration (called through the plugin loader's callbacks) ------------------------------

    @staticmethod
    def _claim(table: dict[str, Any], kind: str, name: str, plugin: str) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise PluginError(f"plugin {plugin!r} registered an invalid {kind} name {name!r} "
                              f"(use letters, digits, '-', '_' and '.')")
        if name in table:
            raise NameClashError(
                f"{kind} {name!r} is registered by both plugin {table[name].plugin!r} and plugin "
                f"{plugin!r}; rename one (a plugin's names should be its own, e.g. '{plugin}-{name}'), or "
                f"disable one with GENKIT_DISABLE_PLUGINS"
            )

    def add_component(self, kind: str, name: str, target: Any, plugin: str, description: str = "") -> Entry:
        self._claim(self.components[kind], kind, name, plugin)
        check_target(target, f"{kind} {name!r} of plugin {plugin!r}")
        entry = Entry(kind, name, target, plugin, str(description))
        self.components[kind][name] = entry
        return entry

    def add_recipe(self, name: str, *, plugin: str, encoder: str, sampler: str, decoder: str, loss: str,
                   input_shape, latent_shape, settings: dict | None = None, description: str = "",
                   classes: int = 0, stages: Any = (), players: Any = ()) -> Recipe:
        self._claim(self.recipes, "recipe", name, plugin)
        what = f"recipe {name!r} of plugin {plugin!r}"
        encoder = NO_ENCODER if encoder is None else encoder  # a generator-only recipe
        parts = {"encoder": encoder, "sampler": sampler, "decoder": decoder, "loss": loss}
        for kind, part in parts.items():
            if not isinstance(part, str) or not _NAME.fullmatch(part):
                raise PluginError(f"{what} names an invalid {kind} {part!r}")
        settings = {} if settings is None else settings
        if not isinstance(settings, dict):
            raise PluginError(f"{what} has settings {settings!r}; expected a dict of sections")
        unknown = sorted(set(settings) - set(RECIPE_SECTIONS))
        if unknown:
            raise PluginError(f"{what} has unknown settings sections {unknown}; allowed: {', '.join(RECIPE_SECTIONS)}")
        if not all(isinstance(values, dict) for values in settings.values()):
            raise PluginError(f"{what}: every settings section must be a dict")
        shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else ()
        if len(shape) != 3 or not all(_positive_int(v) for v in shape):
            raise PluginError(f"{what} has input_shape {input_shape!r}; expected (channels, height, width)")
        latent = (latent_shape,) if _positive_int(latent_shape) else latent_shape
        if not (isinstance(latent, (list, tuple)) and latent and all(_positive_int(v) for v in latent)):
            raise PluginError(f"{what} has latent_shape {latent_shape!r}; expected a positive integer or a "
                              f"tuple of them, e.g. 2 or (16, 7, 7)")
        if not (isinstance(classes, int) and not isinstance(classes, bool) and classes >= 0):
            raise PluginError(f"{what} has classes {classes!r}; expected 0 (unconditional) or the number of labels")
        recipe = Recipe(name, encoder, sampler, decoder, loss, tuple(int(v) for v in shape),
                        tuple(int(v) for v in latent),
                        {section: dict(settings.get(section, {})) for section in RECIPE_SECTIONS},
                        plugin, str(description), classes, _check_stages(stages, what),
                        _check_stages(players, what, "players"))
        self.recipes[name] = recipe
        return recipe

    def add_dataset(self, name: str, target: Any, plugin: str, description: str = "",
                    takes_argument: bool = False, argument: str = "PATH") -> Entry:
        self._claim(self.datasets, "dataset", name, plugin)
        check_target(target, f"dataset {name!r} of plugin {plugin!r}")
        if not (isinstance(argument, str) and _NAME.fullmatch(argument)):
            raise PluginError(f"dataset {name!r} of plugin {plugin!r} names its argument {argument!r}; use a word "
                              f"such as PATH or N")
        entry = Entry("dataset", name, target, plugin, str(description), bool(takes_argument), argument)
        self.datasets[name] = entry
        return entry

    def remove_plugin(self, plugin: str) -> None:
        """Forget everything a plugin registered (after its hook raised part-way)."""
        for table in (*self.components.values(), self.recipes, self.datasets):
            for name in [n for n, e in table.items() if e.plugin == plugin]:
                del table[name]

    # -- lookup -----------------------------------------------------------------------------------

    def component(self, kind: str, name: str) -> Entry:
        table = self.components[kind]
        if name not in table:
            raise UnknownNameError(kind, name, list(table), "Run `genkit list` to see what is installed.")
        return table[name]

    def component_class(self, kind: str, name: str) -> type:
        from genkit.contract.components import KINDS  # torch is needed from here on

        entry = self.component(kind, name)
        cls = entry.load()
        if not (isinstance(cls, type) and issubclass(cls, KINDS[kind])):
            raise PluginError(f"{kind} {name!r} of plugin {entry.plugin!r} is not a genkit {KINDS[kind].__name__}")
        return cls

    def recipe(self, name: str) -> Recipe:
        if name not in self.recipes:
            raise UnknownNameError("recipe", name, list(self.recipes), "Run `genkit list` to see what is installed.")
        return self.recipes[name]

    def dataset(self, spec: str) -> tuple[Entry, str | None]:
        """Resolve ``NAME`` or ``NAME:ARGUMENT`` to its entry and argument."""
        name, sep, argument = spec.partition(":")
        known = [e.usage for e in self.datasets.values()]
        entry = self.datasets.get(name)
        if entry is None:
            # Suggest from the bare name, so 'foldr:/x' still finds 'folder:PATH'.
            raise UnknownNameError("dataset", name, known, "Run `genkit list` to see what is installed.")
        if entry.takes_argument and not argument:
            raise ConfigError(f"dataset {name!r} needs an argument: write {entry.usage}")
        if not entry.takes_argument and sep:
            raise ConfigError(f"dataset {name!r} takes no argument: write {name}, not {spec!r}")
        return entry, (argument if entry.takes_argument else None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "components": {kind: [e.as_dict() for e in table.values()] for kind, table in self.components.items()},
            "recipes": [r.as_dict() for r in self.recipes.values()],
            "datasets": [e.as_dict() for e in self.datasets.values()],
        }


def _recipe_kwargs(kwargs: dict[str, Any], what: str) -> dict[str, Any]:
    """A recipe registration's keywords in today's names (0.1's ``z_dim=N`` is ``latent_shape=N``), checked
    here so that a wrong one is named as the plugin's mistake, not as an internal method's."""
    if "z_dim" in kwargs:
        if "latent_shape" in kwargs:
            raise PluginError(f"{what} gives both z_dim and latent_shape; give latent_shape only")
        warn_deprecated("register(..., z_dim=N) in register_recipes", "register(..., latent_shape=N)")
        kwargs = {("latent_shape" if k == "z_dim" else k): v for k, v in kwargs.items()}
    params = {n: p for n, p in inspect.signature(Registry.add_recipe).parameters.items() if n not in ("self", "name",
                                                                                                       "plugin")}
    unknown = sorted(set(kwargs) - set(params))
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in kwargs]
    if unknown or missing:
        problem = f"unknown keyword {', '.join(unknown)}" if unknown else f"no {', '.join(missing)}"
        raise PluginError(f"{what} has {problem}; register_recipes' register takes name and the keywords "
                          f"{', '.join(params)}")
    return kwargs


def make_register(registry: Registry, hook: str, plugin: str,
                  on_clash: Callable[[NameClashError], None] | None = None) -> Callable[..., Any]:
    """The ``register`` callback a hook of ``plugin`` receives.

    A name another plugin registered first goes to ``on_clash`` (which skips that one registration,
    and the rest of the plugin loads); without ``on_clash`` it raises ``NameClashError``.
    """
    if hook == "register_recipes":
        def add(name, **kwargs):
            return registry.add_recipe(name, plugin=plugin, **_recipe_kwargs(kwargs, f"recipe {name!r} of plugin "
                                                                                      f"{plugin!r}"))
    elif hook == "register_datasets":
        def add(name, target, description="", takes_argument=False, argument="PATH"):
            return registry.add_dataset(name, target, plugin, description, takes_argument, argument)
    else:
        kind = COMPONENT_HOOKS[hook]

        def add(name, target, description=""):
            return registry.add_component(kind, name, target, plugin, description)

    def register(*args, **kwargs):
        try:
            inspect.signature(add).bind(*args, **kwargs)
        except TypeError as exc:
            raise PluginError(f"{hook}'s register{inspect.signature(add)} was called wrongly: {exc}") from None
        try:
            return add(*args, **kwargs)
        except NameClashError as exc:
            if on_clash is None:
                raise
            on_clash(exc)
            return None

    register.__doc__ = add.__doc__
    return register

"""Plugin discovery and loading: entry points of group ``genkit``, each behind its own guard.

A plugin that fails to import, implements a hook that does not exist, or raises inside a hook is
reported as one warning line and in ``genkit plugins``; everything else keeps working. Environment:

A name another plugin registered first skips only that registration, with a warning line; a plugin
that declares the plugin API versions it supports (``genkit_api``, see ``genkit.contract.hookspecs``)
and does not include this genkit's gets a warning line but loads.

- ``GENKIT_STRICT_PLUGINS=1`` turns such a failure (a clash and an API mismatch too) into an error.
- ``GENKIT_DISABLE_PLUGINS=name1,name2`` blocks plugins by entry-point or distribution name; a
  blocked plugin is not even imported, so this also rescues a CLI that a plugin breaks at import.
- ``GENKIT_DEBUG=1`` prints the traceback of each plugin failure above its warning line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import re
import sys
import traceback
from collections.abc import Iterable, Iterator
from importlib import metadata
from typing import Any

import pluggy

from genkit import __version__
from genkit.contract import hookspecs
from genkit.contract.hookspecs import API_VERSION
from genkit.contract.registry import COMPONENT_HOOKS, NameClashError, Registry, make_register
from genkit.environment import env_flag
from genkit.errors import PluginError

ENTRY_POINT_GROUP = "genkit"
# The distribution that ships the built-in plugins: they load first, so that a third-party plugin
# claiming a built-in name is the one reported, whatever the order of sys.path.
CORE_DISTRIBUTION = "genkit"
# Order matters only for the report: components first, then the recipes that name them.
REGISTRATION_HOOKS = (*COMPONENT_HOOKS, "register_recipes", "register_datasets")


@dataclasses.dataclass
class PluginInfo:
    """What ``genkit plugins`` reports about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    module: str
    hooks: list[str] = dataclasses.field(default_factory=list)
    registered: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    error: str | None = None
    disabled: bool = False
    api: str | None = None  # the plugin API versions the plugin declares it supports (``genkit_api``)
    warnings: list[str] = dataclasses.field(default_factory=list)  # registrations skipped, API mismatch

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class StrictModeError(PluginError):
    """A plugin problem that strict mode turns into an error: it ends loading as it is, not wrapped again."""


def strict_mode() -> bool:
    return env_flag("GENKIT_STRICT_PLUGINS")


def normalize_name(name: str) -> str:
    """PEP 503 form, so ``genkit_example``, ``Genkit.Example`` and ``genkit-example`` all match."""
    return re.sub(r"[-_.]+", "-", name).lower()


def disabled_names() -> set[str]:
    return {normalize_name(n.strip()) for n in os.environ.get("GENKIT_DISABLE_PLUGINS", "").split(",") if n.strip()}


def _describe(exc: BaseException) -> str:
    """``Type: first line of the message``: enough to recognise the failure in one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _entry_point_order(ep: metadata.EntryPoint) -> tuple[bool, str, str]:
    dist = getattr(ep, "dist", None)
    dist_name = normalize_name(dist.name) if dist else ""
    return (dist_name != CORE_DISTRIBUTION, dist_name, ep.name)


class PluginHost:
    """Owns the pluggy manager, the registry it fills and what went wrong on the way."""

    def __init__(self, strict: bool | None = None, disabled: Iterable[str] | None = None,
                 debug: bool | None = None) -> None:
        self.strict = strict_mode() if strict is None else strict
        self.disabled = disabled_names() if disabled is None else {normalize_name(n) for n in disabled}
        self.debug = env_flag("GENKIT_DEBUG") if debug is None else debug
        self.manager = pluggy.PluginManager("genkit")
        self.manager.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}
        self.command_owners: dict[str, str] = {}

    # -- failures ---------------------------------------------------------------------------------

    def _fail(self, info: PluginInfo, message: str, exc: BaseException | None = None) -> None:
        """Take ``info``'s plugin out entirely, then warn (or, in strict mode, raise)."""
        info.error = message
        info.registered = {}
        owns_name = self.plugins.get(info.name) is info  # not so for a second plugin reusing a taken name
        if owns_name:
            if self.manager.has_plugin(info.name):
                self.manager.unregister(name=info.name)
            self.registry.remove_plugin(info.name)
            self.command_owners = {c: p for c, p in self.command_owners.items() if p != info.name}
        if self.strict:
            raise StrictModeError(
                f"plugin {info.name!r}: {message} (strict mode: GENKIT_STRICT_PLUGINS is set)"
            ) from exc
        if self.debug and exc is not None:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        hide = info.name if owns_name or not info.distribution else info.distribution
        print(
            f"genkit: warning: plugin {info.name!r} skipped: {message} "
            f"(details: `genkit plugins`; hide it: GENKIT_DISABLE_PLUGINS={hide})",
            file=sys.stderr,
        )

    def _warn(self, info: PluginInfo, message: str, exc: BaseException | None = None) -> None:
        """Something about ``info``'s plugin that does not stop it loading: one warning line (strict: an error)."""
        info.warnings.append(message)
        if self.strict:
            raise StrictModeError(f"plugin {info.name!r}: {message} (strict mode: GENKIT_STRICT_PLUGINS is set)") \
                from exc
        print(f"genkit: warning: plugin {info.name!r}: {message}", file=sys.stderr)

    def _check_api(self, plugin: Any, info: PluginInfo) -> None:
        declared = getattr(plugin, "genkit_api", None)
        if declared is None:
            return
        from packaging.specifiers import InvalidSpecifier, SpecifierSet  # only for plugins that declare

        info.api = str(declared)
        try:
            supported = SpecifierSet(str(declared))
        except InvalidSpecifier:
            self._warn(info, f"declares genkit_api = {declared!r}, which is not a version specifier "
                             f"(write e.g. '>=1.1,<2')")
            return
        if API_VERSION not in supported:
            self._warn(info, f"supports genkit plugin API {declared} but this genkit ({__version__}) has plugin "
                             f"API {API_VERSION}; it may not work: install a version of "
                             f"{info.distribution or info.name} made for plugin API {API_VERSION}")

    def is_disabled(self, info: PluginInfo) -> bool:
        names = {normalize_name(info.name)}
        if info.distribution:
            names.add(normalize_name(info.distribution))
        return bool(names & self.disabled)

    # -- loading ----------------------------------------------------------------------------------

    def load_entry_points(self) -> None:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=_entry_point_order):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None, ep.value)
            if ep.name in self.plugins:
                # Keep the first; report the second under a key of its own so both stay visible.
                self.plugins[f"{ep.name} ({info.distribution})"] = info
                if not self.is_disabled(info):
                    first = self.plugins[ep.name].distribution
                    self._fail(info, f"entry point name {ep.name!r} is already used by distribution {first!r}")
                else:
                    info.disabled = True
                continue
            self.plugins[ep.name] = info
            if self.is_disabled(info):
                info.disabled = True
                continue
            if ep.pattern.match(ep.value) is None:
                self._fail(info, f"malformed entry point {ep.value!r} (expected 'package.module' or "
                                 f"'package.module:attribute')")
                continue
            try:
                plugin = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything at import, even SystemExit
                self._fail(info, f"import of {ep.value!r} failed: {_describe(exc)}", exc)
                continue
            self.add_plugin(plugin, info)

    def add_plugin(self, plugin: Any, info: PluginInfo) -> None:
        """Register one plugin object with pluggy and validate its hook names and signatures."""
        self.plugins.setdefault(info.name, info)
        try:
            self.manager.register(plugin, name=info.name)
            unknown = [c.name for c in self.manager.get_hookcallers(plugin) or [] if not c.has_spec()]
            if unknown:
                raise pluggy.PluginValidationError(plugin, self._unknown_hooks_message(unknown))
            self.manager.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:  # ValueError: registered twice
            self._fail(info, f"invalid hooks: {' '.join(str(exc).split())}", exc)
            return
        info.hooks = sorted(c.name for c in self.manager.get_hookcallers(plugin) or [])
        self._check_api(plugin, info)

    @staticmethod
    def _unknown_hooks_message(names: list[str]) -> str:
        known = sorted(n for n in dir(hookspecs) if n.startswith("register_"))
        parts = []
        for name in names:
            close = difflib.get_close_matches(name, known, n=1)
            parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return f"implements unknown hook {', '.join(parts)}; genkit's hooks are {', '.join(known)}"

    def _call(self, impl: pluggy.HookImpl, hook: str, **kwargs: Any) -> None:
        """Call one plugin's implementation of ``hook``, isolating its failures."""
        info = self.plugins[impl.plugin_name]
        if info.error:
            return
        try:
            if impl.wrapper or impl.hookwrapper:
                raise PluginError(f"{hook} must be a plain hook implementation, not a wrapper")
            result = impl.function(*(kwargs[name] for name in impl.argnames))
            if result is not None:
                raise PluginError(f"{hook} returned a value; call register(...) for each entry instead")
        except (KeyboardInterrupt, StrictModeError):
            raise
        except BaseException as exc:  # noqa: BLE001 - isolate the plugin, keep the rest working
            self._fail(info, f"hook {hook} raised {_describe(exc)}", exc)

    def run_registrations(self) -> None:
        for hook in REGISTRATION_HOOKS:
            # get_hookimpls() is in registration (= load) order; pluggy itself would call them in
            # reverse, which would let a third-party plugin claim a name before a built-in.
            for impl in getattr(self.manager.hook, hook).get_hookimpls():
                info = self.plugins[impl.plugin_name]
                register = make_register(self.registry, hook, impl.plugin_name,
                                         on_clash=lambda exc, info=info: self._skip_registration(info, exc))
                self._call(impl, hook, register=register)
        if self.strict:
            self.check_targets()
        self._record_registered()

    def _skip_registration(self, info: PluginInfo, exc: NameClashError) -> None:
        self._warn(info, f"one registration skipped: {exc}", exc)

    def check_targets(self) -> None:
        """Strict mode: import every registered ``"module:Class"`` target now, not at a user's first use."""
        tables = [*self.registry.components.values(), self.registry.datasets]
        for entry in [e for table in tables for e in table.values()]:
            info = self.plugins.get(entry.plugin)
            if info is None or info.error:
                continue
            try:
                entry.load()
            except PluginError as exc:
                self._fail(info, str(exc), exc)

    def register_commands(self, cli: Any, reserved: Iterable[str] = ()) -> None:
        """Let each plugin add commands to ``cli``; a name already taken fails the later plugin."""
        reserved = set(reserved)
        for impl in self.manager.hook.register_commands.get_hookimpls():
            before = dict(cli.commands)
            self._call(impl, "register_commands", cli=cli)
            info = self.plugins[impl.plugin_name]
            added = {name: cmd for name, cmd in cli.commands.items() if before.get(name) is not cmd}
            clashes = [name for name in added if name in reserved or name in before]
            if not info.error and clashes:
                owners = [f"built-in command {n!r}" if n in reserved else
                          f"command {n!r} of plugin {self.command_owners[n]!r}" if n in self.command_owners else
                          f"existing command {n!r}" for n in clashes]
                cli.commands.clear()
                cli.commands.update(before)
                self._fail(info, f"register_commands adds {', '.join(map(repr, clashes))}, which clashes "
                                 f"with the {', '.join(owners)}")
                continue
            if info.error:  # whatever it added before raising goes with it
                cli.commands.clear()
                cli.commands.update(before)
                continue
            for name in added:
                self.command_owners[name] = info.name
        self._record_registered()

    def _record_registered(self) -> None:
        for info in self.plugins.values():
            info.registered = {}
        tables = {**self.registry.components, "recipe": self.registry.recipes, "dataset": self.registry.datasets}
        for kind, table in tables.items():
            for name, entry in table.items():
                self.plugins[entry.plugin].registered.setdefault(kind, []).append(name)
        for name, plugin in sorted(self.command_owners.items()):
            self.plugins[plugin].registered.setdefault("command", []).append(name)

    def distribution_of(self, plugin: str) -> tuple[str | None, str | None]:
        info = self.plugins.get(plugin)
        return (info.distribution, info.version) if info else (None, None)


_HOST: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _HOST
    if _HOST is None:
        host = PluginHost()
        host.load_entry_points()
        host.run_registrations()
        _HOST = host
    return _HOST


def loaded_host() -> PluginHost | None:
    """The process-wide plugin host if plugins have been loaded, else None (loads nothing)."""
    return _HOST


def get_registry() -> Registry:
    return get_host().registry


@contextlib.contextmanager
def hosting(host: PluginHost) -> Iterator[PluginHost]:
    """Make ``host`` the process-wide plugin host inside the ``with`` block (a private set of plugins:
    an application embedding genkit, or a plugin's own tests), and restore the previous one after."""
    global _HOST
    saved, _HOST = _HOST, host
    try:
        yield host
    finally:
        _HOST = saved


def reset() -> None:
    """Forget the loaded plugins (tests use it after changing the environment)."""
    global _HOST
    _HOST = None

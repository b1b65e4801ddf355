"""Plugin discovery and loading: entry points of group ``genkit``, each behind its own guard.

A plugin that fails to import, implements a hook that does not exist, or raises inside a hook is
reported as one warning line and in ``genkit plugins``; everything else keeps working. Environment:

- ``GENKIT_STRICT_PLUGINS=1`` turns such a failure into an error.
- ``GENKIT_DISABLE_PLUGINS=name1,name2`` blocks plugins by entry-point or distribution name.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from importlib import metadata
from typing import Any

import pluggy

from genkit import hookspecs
from genkit.errors import PluginError
from genkit.registry import COMPONENT_HOOKS, Registry, make_register

ENTRY_POINT_GROUP = "genkit"
# Order matters: recipes may name components, so components come first (lookups are lazy anyway).
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

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def strict_mode() -> bool:
    return _env_flag("GENKIT_STRICT_PLUGINS")


def disabled_names() -> set[str]:
    return {n.strip() for n in os.environ.get("GENKIT_DISABLE_PLUGINS", "").split(",") if n.strip()}


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class PluginHost:
    """Owns the pluggy manager, the registry it fills and what went wrong on the way."""

    def __init__(self, strict: bool | None = None, disabled: set[str] | None = None) -> None:
        self.strict = strict_mode() if strict is None else strict
        self.disabled = disabled_names() if disabled is None else disabled
        self.manager = pluggy.PluginManager("genkit")
        self.manager.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.plugins: dict[str, PluginInfo] = {}

    # -- failures ---------------------------------------------------------------------------------

    def _fail(self, info: PluginInfo, message: str, exc: BaseException | None = None) -> None:
        info.error = message
        if self.manager.has_plugin(info.name):
            self.manager.unregister(name=info.name)
        self.registry.remove_plugin(info.name)
        info.registered = {}
        if self.strict:
            raise PluginError(f"plugin {info.name!r}: {message}") from exc
        print(
            f"genkit: warning: plugin {info.name!r} disabled: {message} "
            f"(see `genkit plugins`; hide it with GENKIT_DISABLE_PLUGINS={info.name})",
            file=sys.stderr,
        )

    # -- loading ----------------------------------------------------------------------------------

    def load_entry_points(self) -> None:
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None, ep.value)
            if ep.name in self.plugins:
                info.error = f"entry point name also used by distribution {self.plugins[ep.name].distribution!r}"
                self._fail(info, info.error)
                continue
            self.plugins[ep.name] = info
            if ep.name in self.disabled or (info.distribution and info.distribution in self.disabled):
                info.disabled = True
                continue
            try:
                module = ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a plugin may raise anything at import, even SystemExit
                self._fail(info, f"import failed: {_describe(exc)}", exc)
                continue
            self.add_plugin(module, info)

    def add_plugin(self, module: Any, info: PluginInfo) -> None:
        """Register one plugin object with pluggy and validate its hook names."""
        self.plugins.setdefault(info.name, info)
        try:
            self.manager.register(module, name=info.name)
            self.manager.check_pending()
        except Exception as exc:  # pluggy.PluginValidationError, ValueError for duplicates
            self._fail(info, f"invalid hooks: {_describe(exc)}", exc)
            return
        info.hooks = sorted(c.name for c in self.manager.get_hookcallers(module) or [])

    def run_registrations(self) -> None:
        for hook in REGISTRATION_HOOKS:
            for impl in reversed(getattr(self.manager.hook, hook).get_hookimpls()):
                info = self.plugins[impl.plugin_name]
                if info.error:
                    continue
                try:
                    impl.function(register=make_register(self.registry, hook, info.name))
                except Exception as exc:  # noqa: BLE001 - isolate the plugin, keep the rest working
                    self._fail(info, f"hook {hook} raised {_describe(exc)}", exc)
        self._record_registered()

    def register_commands(self, cli: Any) -> None:
        for impl in reversed(self.manager.hook.register_commands.get_hookimpls()):
            info = self.plugins[impl.plugin_name]
            try:
                impl.function(cli=cli)
            except Exception as exc:  # noqa: BLE001
                self._fail(info, f"hook register_commands raised {_describe(exc)}", exc)

    def _record_registered(self) -> None:
        for info in self.plugins.values():
            info.registered = {}
        tables = {**self.registry.components, "recipe": self.registry.recipes, "dataset": self.registry.datasets}
        for kind, table in tables.items():
            for name, entry in table.items():
                self.plugins[entry.plugin].registered.setdefault(kind, []).append(name)

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


def get_registry() -> Registry:
    return get_host().registry


def reset() -> None:
    """Forget the loaded plugins (tests use it after changing the environment)."""
    global _HOST
    _HOST = None

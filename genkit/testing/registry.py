"""The registries tests work with: the installed plugins', read afresh, and a private one made process-wide.

- ``installed_registry()``: what the installed plugins register, loaded independently of the process-wide host
  and of ``GENKIT_DISABLE_PLUGINS`` / ``GENKIT_STRICT_PLUGINS`` in the environment, so that a test sees every
  installed plugin whatever the shell it runs in says. ``strict=True`` makes any plugin failure raise.
- ``registry_installed(registry)``: within the ``with`` block, ``registry`` is the one genkit's process-wide
  functions consult (``genkit.load``, a run folder's config.json and its provenance), so that a model of a
  private registry can be saved and loaded the way training and ``genkit.load`` do it.

A test suite makes its fixture from the first::

    @pytest.fixture(scope="module")
    def registry():
        return installed_registry()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from genkit.contract.registry import Registry


def _host(strict: bool):
    from genkit.contract.host import PluginHost

    return PluginHost(strict=strict, disabled=(), debug=False)


def installed_registry(strict: bool = False) -> Registry:
    """A fresh registry of every installed plugin (see the module docstring)."""
    host = _host(strict)
    host.load_entry_points()
    host.run_registrations()
    return host.registry


@contextlib.contextmanager
def registry_installed(registry: Registry | None) -> Iterator[None]:
    """Make ``registry`` the process-wide one for the ``with`` block (``None``: leave the installed plugins')."""
    from genkit.contract import host as plugins

    if registry is None:
        yield
        return
    host = _host(strict=True)
    host.registry = registry
    with plugins.hosting(host):
        yield

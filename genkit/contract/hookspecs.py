"""The hooks a genkit plugin may implement (a tutorial is in docs/plugins.md).

A plugin is a module (or object) named by an entry point in the group ``genkit``; mark each hook
implementation with ``@genkit.contract.hookspecs.hookimpl``. A marked function whose name is not one of the
hooks below is an error (a misspelt hook would otherwise be silently ignored).

Every hook is a *register callback* hook: genkit calls it with a ``register`` function bound to the
calling plugin, and the plugin calls ``register`` once per thing it provides and returns nothing. The
core, not the plugin, decides what a registration means:

- names use letters, digits, ``-``, ``_`` and ``.``; each kind has its own namespace;
- a name already taken in its kind is an error naming both plugins, and the later registration is
  skipped, with a warning line; the rest of the plugin loads (built-in plugins load first, then the
  others in order of distribution name);
- a plugin whose hook raises is skipped as a whole: what it registered before raising is withdrawn.

The plugin API has a version of its own, ``API_VERSION`` (major.minor): the minor number moves when the
API grows or a name is deprecated (a shim keeps the old name working, with a warning), the major number
when a deprecated name is removed. A plugin module may declare the API versions it supports as a
version specifier in ``genkit_api`` (``genkit_api = ">=1.1,<2"``); ``genkit plugins`` shows it, and a
genkit whose API is outside it says so in one warning line (the plugin still loads).

Plugin modules are imported for every ``genkit`` command, ``--help`` included, so they must stay cheap
to import: register components as ``"package.module:ClassName"`` strings and import torch inside the
modules those strings point at.
"""

from __future__ import annotations

import pluggy

API_VERSION = "1.2"

hookspec = pluggy.HookspecMarker("genkit")
hookimpl = pluggy.HookimplMarker("genkit")


@hookspec
def register_encoders(register):
    """Register Encoder implementations.

    ``register(name, target, description="")``: ``target`` is a subclass of
    ``genkit.contract.components.Encoder`` or a ``"module:ClassName"`` string naming one, imported on first
    use; a string that cannot be imported then is reported as an error naming the plugin.
    ``description`` is the one line ``genkit list`` shows.
    """


@hookspec
def register_samplers(register):
    """Register Sampler implementations (``genkit.contract.components.Sampler``); same form as encoders."""


@hookspec
def register_decoders(register):
    """Register Decoder implementations (``genkit.contract.components.Decoder``); same form as encoders."""


@hookspec
def register_losses(register):
    """Register Loss implementations (``genkit.contract.components.Loss``); same form as encoders."""


@hookspec
def register_recipes(register):
    """Register model recipes: one component of each kind plus default hyper-parameters.

    ``register(name, *, encoder, sampler, decoder, loss, input_shape, latent_shape, settings=None,
    description="", classes=0, stages=(), players=())`` (``z_dim=N``, the 0.1 name of ``latent_shape=N``, still
    works until genkit 0.4, with a deprecation warning). The four parts are component names, of any plugin; they
    are looked up when a model is built. ``input_shape`` is (C, H, W); ``latent_shape`` the shape of one
    latent point, ``N`` or ``(N,)`` for a flat latent, ``(D, h, w)`` for a spatial one. ``classes`` > 0
    makes the model conditional on a class label in [0, classes). ``settings`` maps some of
    ``encoder``, ``sampler``, ``decoder``, ``loss``, ``training`` and ``data`` to dicts of defaults;
    every one of them can be overridden by the user's TOML file or ``--set section.key=value``.
    ``stages`` lists later training stages on the first one's frozen result, each a dict of
    ``genkit.config.StageSettings`` fields (``name``, ``loss``, ``trains``, ``epochs``, ...),
    overridable with ``--set stages.NAME.key=value``. ``players`` lists the groups of modules that train in
    turns, each with its own loss and optimizer (a critic and a generator), each a dict of
    ``genkit.config.PlayerSettings`` fields (``name``, ``loss``, ``trains``, ``steps``, ``lr``, ``betas``, ...),
    overridable with ``--set players.NAME.key=value``. ``encoder=None`` registers a generator-only recipe: no
    encoder, the decoder draws from the sampler's prior. A malformed recipe is rejected at registration.
    """


@hookspec
def register_datasets(register):
    """Register datasets.

    ``register(name, target, description="", takes_argument=False, argument="PATH")``: ``target`` is a
    callable or a ``"module:function"`` string; genkit calls it as ``target(argument, input_shape)`` and
    expects a ``genkit.data.ImageDataset``. With ``takes_argument=True`` the user writes
    ``NAME:ARGUMENT`` and ``argument`` receives what follows the first colon (otherwise it is ``None``);
    help and errors spell it ``NAME:`` + the ``argument`` word (``folder:PATH``, ``noise:N``).
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``genkit`` CLI: ``cli`` is the root ``click.Group`` (``@cli.command(...)``).

    Called at most once per process: to resolve a command name that is not built in, to show the
    help, or for ``genkit plugins``. A command
    name taken by a built-in command or another plugin skips the later plugin. Import heavy modules
    inside the command functions, not at the top of the plugin module.
    """

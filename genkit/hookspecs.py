"""The hooks a genkit plugin may implement.

Every hook is a *register callback* hook: genkit calls it with a ``register`` function bound to the
calling plugin, and the plugin calls ``register`` once per thing it provides. The core, not the plugin,
decides what a registration means: a name already taken by another plugin is an error naming both, and
the plugin that caused it is reported in ``genkit plugins``.

Plugin modules are imported for every ``genkit`` command, ``--help`` included, so they must stay cheap
to import: register components as ``"package.module:ClassName"`` strings and import torch inside the
modules those strings point at.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("genkit")
hookimpl = pluggy.HookimplMarker("genkit")


@hookspec
def register_encoders(register):
    """Register Encoder implementations.

    ``register(name, target, description="")``: ``target`` is a subclass of
    ``genkit.components.Encoder`` or a ``"module:ClassName"`` string naming one (imported on first use).
    """


@hookspec
def register_samplers(register):
    """Register Sampler implementations (``genkit.components.Sampler``); same form as encoders."""


@hookspec
def register_decoders(register):
    """Register Decoder implementations (``genkit.components.Decoder``); same form as encoders."""


@hookspec
def register_losses(register):
    """Register Loss implementations (``genkit.components.Loss``); same form as encoders."""


@hookspec
def register_recipes(register):
    """Register model recipes: one component of each kind plus default hyper-parameters.

    ``register(name, *, encoder, sampler, decoder, loss, input_shape, z_dim, settings=None,
    description="")``. ``input_shape`` is (C, H, W). ``settings`` maps ``encoder``, ``sampler``,
    ``decoder``, ``loss``, ``training`` and ``data`` to dicts of defaults; every one of them can be
    overridden by the user's TOML file or ``--set section.key=value``.
    """


@hookspec
def register_datasets(register):
    """Register datasets.

    ``register(name, target, description="", takes_argument=False)``: ``target`` is a callable or a
    ``"module:function"`` string; genkit calls it as ``target(argument, input_shape)`` and expects a
    ``genkit.data.ImageDataset``. With ``takes_argument=True`` the user writes ``NAME:ARGUMENT``
    (``folder:PATH``) and ``argument`` receives what follows the colon; otherwise it is ``None``.
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``genkit`` CLI: ``cli`` is the root ``click.Group``.

    Import heavy modules inside the command functions, not at the top of the plugin module.
    """

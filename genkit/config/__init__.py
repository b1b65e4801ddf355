"""Typed run configuration: recipe defaults, a TOML file and ``--set key=value`` overrides, validated.

The validated configuration is a ``RunConfig``: a tree of frozen dataclasses with the sections
``model`` (component names, input shape, latent shape, classes), ``encoder``, ``sampler``,
``decoder``, ``loss`` (each component's own ``Settings``), ``training``, ``data``, ``stages`` (the
training stages after the first) and ``players`` (the groups of modules that train in turns). It is
validated once, where it is built (``build_config``) or read
back (``RunConfig.from_dict``); validation names the offending field and the values it accepts.
``to_dict`` gives the JSON a run folder and an export record.
"""

from __future__ import annotations

from genkit.config.fields import coerce, field, validate_section
from genkit.config.resolve import (
    SECTIONS,
    build_config,
    merge,
    override_table,
    parse_override,
    read_toml,
    recipe_defaults,
    stage_tables,
    toml_value,
    validate,
)
from genkit.config.sections import (
    CORE_SECTIONS,
    FAST_TRAINING,
    STAGE_FIELDS,
    DataSettings,
    ModelSettings,
    PlayerSettings,
    RunConfig,
    StageSettings,
    TrainingSettings,
)

__all__ = ["CORE_SECTIONS", "FAST_TRAINING", "SECTIONS", "STAGE_FIELDS", "DataSettings", "ModelSettings",
           "PlayerSettings", "RunConfig",
           "StageSettings", "TrainingSettings", "build_config", "coerce", "field", "merge", "override_table",
           "parse_override", "read_toml", "recipe_defaults", "stage_tables", "toml_value", "validate",
           "validate_section"]

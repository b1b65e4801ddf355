"""A run folder's ``config.json``: what was trained, with which components, by which genkit.

    {"format_version": 1, "genkit_version": "0.1.0", "recipe": "vae",
     "components": {KIND: {"name", "class", "plugin", "distribution", "version"}, ...},
     "config": {the validated configuration}, "launch_id": "..." (torchrun launches only)}

Reading one checks that it is a genkit document of a format this genkit reads, and that its parts
agree: the recipe named at the top is the configuration's, and each component recorded in
``components`` is the one the configuration names. A run written by a newer genkit, or whose component
is now provided by another class, is read with a warning line.

Torch-free, so that commands which only need to recognise a run folder do not import torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genkit import __version__
from genkit.contract.registry import COMPONENT_KINDS as KINDS
from genkit.contract.registry import NO_ENCODER
from genkit.errors import GenkitError, RunFolderError, warn
from genkit.files import atomic
from genkit.versions import warn_if_newer

if TYPE_CHECKING:
    from genkit.config import RunConfig

# 2: the latent is ``model.latent_shape`` (format 1 had ``model.z_dim``, read as latent_shape [z_dim])
FORMAT_VERSION = 2
CONFIG_FILE = "config.json"


def provenance(config: RunConfig) -> dict[str, Any]:
    """Each component's registered name, class and the plugin distribution that provided it."""
    from genkit.contract.host import get_host

    host = get_host()
    out = {}
    for kind in KINDS:
        if getattr(config.model, kind) == NO_ENCODER:  # a generator-only model has no encoder to record
            continue
        entry = host.registry.component(kind, getattr(config.model, kind))
        cls = host.registry.component_class(kind, entry.name)
        dist, version = host.distribution_of(entry.plugin)
        out[kind] = {"name": entry.name, "class": f"{cls.__module__}.{cls.__qualname__}",
                     "plugin": entry.plugin, "distribution": dist, "version": version}
    return out


def write_config(run_dir: Path, config: RunConfig, launch_id: str | None = None) -> None:
    """Write config.json; ``launch_id`` (torchrun's rendezvous id) lets restarted workers find the run."""
    document = {"format_version": FORMAT_VERSION, "genkit_version": __version__, "recipe": config.recipe,
                "components": provenance(config), "config": config.to_dict()}
    if launch_id:
        document["launch_id"] = launch_id
    atomic.write_text(run_dir / CONFIG_FILE, json.dumps(document, indent=2) + "\n")


def find_launch_run(root: str | Path, launch_id: str) -> Path | None:
    """The newest run folder under ``root`` whose config.json records ``launch_id``."""
    found = []
    for config_path in Path(root).glob(f"*/{CONFIG_FILE}"):
        try:
            document = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(document, dict) and document.get("launch_id") == launch_id:
            found.append((config_path.stat().st_mtime, config_path.parent))
    return max(found)[1] if found else None


def _check_consistent(document: dict[str, Any], path: Path) -> None:
    """Refuse a document whose recipe or recorded components disagree with its own configuration."""
    config = document["config"]
    if document.get("recipe") != config.get("recipe"):
        raise RunFolderError(f"{path} names recipe {document.get('recipe')!r} but its configuration is of recipe "
                             f"{config.get('recipe')!r}: the file was edited; restore it or train the run anew")
    components, model = document.get("components"), config.get("model")
    if not isinstance(components, dict) or not isinstance(model, dict):
        raise RunFolderError(f"{path} has no components or model table; it is not a genkit run configuration")
    for kind in KINDS:
        recorded = components.get(kind)
        name = recorded.get("name") if isinstance(recorded, dict) else None
        if name is None and model.get(kind) == NO_ENCODER:  # a generator-only model records no encoder
            continue
        if name != model.get(kind):
            raise RunFolderError(f"{path}: recipe {config.get('recipe')!r} records {kind} {name!r} but its "
                                 f"configuration names {model.get(kind)!r}: the file was edited; restore it "
                                 f"or train the run anew")


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The run folder's config.json document, checked for presence, syntax, format and consistency."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunFolderError(f"run folder {run_dir} does not exist (train one with `genkit train RECIPE`)")
    path = run_dir / CONFIG_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{run_dir} is not a genkit run folder: {CONFIG_FILE} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} is corrupt ({exc}); the run folder cannot be used") from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise RunFolderError(f"{path} is not a genkit run configuration")
    version = document.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise RunFolderError(
            f"{path} has run-folder format {version!r} (written by genkit {document.get('genkit_version')}); "
            f"this genkit {__version__} reads format {FORMAT_VERSION} or older: upgrade genkit"
        )
    _check_consistent(document, path)
    warn_if_newer(str(run_dir), document.get("genkit_version"), f"it is read as format {version}")
    return document


def upgraded(document: dict[str, Any]) -> dict[str, Any]:
    """The raw configuration of a document of any format this genkit reads, in today's form."""
    config = document["config"]
    model = config.get("model")
    if document.get("format_version", 1) < 2 and isinstance(model, dict) and "z_dim" in model:
        model = {k: v for k, v in model.items() if k != "z_dim"}
        model["latent_shape"] = [config["model"]["z_dim"]]
        config = {**config, "model": model}
    return config


def validated_config(run_dir: str | Path) -> RunConfig:
    """The run's configuration, validated against the installed plugins.

    A component whose registered class is no longer the one recorded (another plugin, a renamed
    class) is built from today's class, with a warning line.
    """
    from genkit.config import validate
    from genkit.contract.host import get_registry

    document = read_config(run_dir)
    registry = get_registry()
    try:
        config = validate(registry, upgraded(document))
    except GenkitError as exc:
        raise RunFolderError(f"{Path(run_dir) / CONFIG_FILE}: {exc}") from None
    for kind in KINDS:
        if getattr(config.model, kind) == NO_ENCODER:
            continue
        recorded = document["components"][kind].get("class")
        cls = registry.component_class(kind, getattr(config.model, kind))
        if recorded and recorded != f"{cls.__module__}.{cls.__qualname__}":
            warn(f"{run_dir}: {kind} {getattr(config.model, kind)!r} was {recorded} when trained and is now "
                 f"{cls.__module__}.{cls.__qualname__}")
    return config


def is_genkit_run(path: str | Path) -> bool:
    """True for a folder holding a genkit config.json (read, not just seen: other tools write one too)."""
    try:
        document = json.loads((Path(path) / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(document, dict) and "format_version" in document and isinstance(document.get("config"), dict)

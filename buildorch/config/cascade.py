"""The cascade: built-in < host profile < buildorch.yaml < BUILDORCH_* < flags.

Each layer is validated by the schema on its own, so an error names the layer it came from,
then the layers are merged in order, each value recording where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from buildorch.buildx_flags import merged as merged_flags
from buildorch.config.options import CiSettings, Options, Origin, RunSettings
from buildorch.config.schema import ConfigFile, Overrides, did_you_mean, refused
from buildorch.errors import ConfigError
from buildorch.profiles import Profile

CONFIG_FILE = "buildorch.yaml"

# the BUILDORCH_* variable of each option (`ci:` and `builders:` are mappings: the file only)
_VARIABLES = {
    "targets": "BUILDORCH_TARGETS",
    "dockerfile": "BUILDORCH_DOCKERFILE",
    "context": "BUILDORCH_CONTEXT",
    "build_target": "BUILDORCH_BUILD_TARGET",
    "tags": "BUILDORCH_TAGS",
    "output": "BUILDORCH_OUTPUT",
    "strategy": "BUILDORCH_STRATEGY",
    "prefer": "BUILDORCH_PREFER",
    "build_args": "BUILDORCH_BUILD_ARGS",
    "builder": "BUILDORCH_BUILDER",
    "profile": "BUILDORCH_PROFILE",
    "use_template": "BUILDORCH_USE_TEMPLATE",
    "sources": "BUILDORCH_SOURCES",
    "run_image": "BUILDORCH_RUN_IMAGE",
    "keep": "BUILDORCH_KEEP",
    "collect": "BUILDORCH_COLLECT",
    "trust_emulator": "BUILDORCH_TRUST_EMULATOR",
}
# read elsewhere (the CLI, the engine layer, the provisioning script and the tests)
_OTHER_ENV = {
    "BUILDORCH_DEBUG",
    "BUILDORCH_DOCKER",
    "BUILDORCH_DEBIAN_MIRROR",
    "BUILDORCH_CLASSIC_HOST",
    "BUILDORCH_CONTAINERD_HOST",
    "BUILDORCH_CONTAINERD_BRIDGE",
    "BUILDORCH_CONTAINERD_BRIDGE_CIDR",
    "BUILDORCH_REGISTRY",
}


def profile_name_from(
    flags: Mapping[str, object], env: Mapping[str, str], project_dir: Path
) -> str | None:
    """The profile the user asked for, if any: flag > env > buildorch.yaml."""
    if flags.get("profile"):
        return str(flags["profile"])
    if env.get("BUILDORCH_PROFILE"):
        return env["BUILDORCH_PROFILE"]
    config = read_config_file(project_dir)
    return config.profile if config is not None else None


def trust_emulator_from(env: Mapping[str, str], project_dir: Path) -> bool:
    """Whether the user trusts a known-bad emulator, for `doctor`, which reads no options:
    env > buildorch.yaml, each checked as the cascade checks it."""
    variable = _VARIABLES["trust_emulator"]
    if variable in env:
        name = f"env {variable}"
        return bool(_overrides({"trust_emulator": env[variable]}, name).trust_emulator)
    config = read_config_file(project_dir)
    return bool(config is not None and config.trust_emulator)


def load_options(
    *,
    project_dir: Path,
    flags: Mapping[str, object],
    env: Mapping[str, str],
    profile: Profile | None = None,
) -> Options:
    """The options of a command. A host profile, given to commands that weigh strategies,
    orders them under buildorch.yaml's `prefer`; without one the order is Strategy's own."""
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("default", {"context": ".", "output": "none", "targets": (), "tags": ()}),
    ]
    if profile is not None:
        layers.append((f"profile {profile.name}", {"prefer": profile.prefer}))
    config = read_config_file(project_dir)
    if config is not None:
        layers.append((CONFIG_FILE, config.layer(project_dir)))
    layers.extend(_env_layers(env))
    layers.append(("flag", _overrides(flags, "flag").settings()))
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, layer in layers:
        for key, value in layer.items():
            # buildx options add up across layers; every other setting replaces
            merged[key] = merged_flags(merged.get(key, ()), value) if key == "buildx" else value
            origin[key] = name
    if merged["output"] == "push" and not merged["tags"]:
        raise ConfigError(
            "--push needs a tag to push to",
            why="the registry and repository come from the tag",
            fix="add --tag REGISTRY/NAME:TAG (or `tags:` in buildorch.yaml)",
        )
    sources = merged.get("sources", "auto")
    return Options(
        project_dir=project_dir,
        targets=merged["targets"],
        dockerfile=merged.get("dockerfile"),
        context=merged["context"],
        build_target=merged.get("build_target"),
        tags=merged["tags"],
        output=merged["output"],
        output_dir=merged.get("output_dir"),
        strategy=merged.get("strategy"),
        prefer=merged.get("prefer", ()),
        build_args=merged.get("build_args", ()),
        builder=merged.get("builder"),
        native_builders=merged.get("builders", ()),
        use_template=merged.get("use_template", False),
        sources=None if sources == "auto" else sources,
        buildx=merged.get("buildx", ()),
        cache=merged.get("cache"),
        trust_emulator=merged.get("trust_emulator", False),
        origins=tuple(Origin(key, layer) for key, layer in sorted(origin.items())),
        run=RunSettings(
            image=merged.get("run_image"),
            keep=merged.get("keep"),
            collect=merged.get("collect", ()),
        ),
        ci=merged.get("ci", CiSettings()),
    )


def read_config_file(project_dir: Path) -> ConfigFile | None:
    """buildorch.yaml, validated; None when the project has none."""
    path = project_dir / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(
            f"{path} is not valid YAML{line}",
            why=str(getattr(exc, "problem", exc)),
            fix=f"repair {CONFIG_FILE}; `buildorch plan` checks it",
        ) from exc
    if data is None:
        return ConfigFile()
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must be a mapping of option names to values",
            why=f"it holds a {type(data).__name__}",
            fix="write it as `key: value` lines, e.g. `targets: [linux/arm64]`",
        )
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise refused(exc, CONFIG_FILE, where=str(path)) from None


def _overrides(values: Mapping[str, object], layer: str) -> Overrides:
    try:
        return Overrides.model_validate(values)
    except ValidationError as exc:
        raise refused(exc, layer, where=layer) from None


def _env_layers(env: Mapping[str, str]) -> list[tuple[str, Mapping[str, Any]]]:
    known = {variable: key for key, variable in _VARIABLES.items()}
    layers: list[tuple[str, Mapping[str, Any]]] = []
    for variable, value in sorted(env.items()):
        if not variable.startswith("BUILDORCH_") or variable in _OTHER_ENV:
            continue
        if variable not in known:
            raise ConfigError(
                f"unknown environment variable {variable}",
                why="buildorch reads " + ", ".join([*known, *sorted(_OTHER_ENV)]),
                fix=did_you_mean(variable, [*known, *_OTHER_ENV]) + f"; or unset {variable}",
            )
        key = known[variable]
        raw: dict[str, object] = {key: value}
        if key == "output" and value.startswith("dir:"):
            raw = {"output": "dir", "output_dir": str(Path(value[4:]).absolute())}
        name = f"env {variable}"
        layers.append((name, _overrides(raw, name).settings()))
    return layers

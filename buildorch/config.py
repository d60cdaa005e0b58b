"""Options, from five layers: built-in < host profile < buildorch.yaml < BUILDORCH_* < flags.

Each layer is a partial mapping of option names to raw values; they are merged in order and
then validated once, so a value is checked the same way wherever it came from. Unknown keys
in any layer are errors with a "did you mean".
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

import yaml

from buildorch.errors import ConfigError
from buildorch.plan import OutputKind, Sources, Strategy
from buildorch.platforms import Platform, parse_targets
from buildorch.profiles import Profile

CONFIG_FILE = "buildorch.yaml"

# buildorch.yaml keys and the BUILDORCH_* variable of each
_KEYS = {
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
    "ci": None,  # a mapping: buildorch.yaml only
    "builders": None,  # a mapping: buildorch.yaml only
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


# GitHub's hosted runners by platform; arm64 ones are free for public repositories only
GITHUB_AMD64_RUNNER = "ubuntu-24.04"
DEFAULT_RUNNERS = (("linux/amd64", GITHUB_AMD64_RUNNER), ("linux/arm64", "ubuntu-24.04-arm"))
# what the workflow and the shortcuts build when no targets are named: what teams ship
SHARED_TARGETS = (Platform("linux", "amd64"), Platform("linux", "arm64"))


@dataclass(frozen=True, kw_only=True, slots=True)
class CiSettings:
    runners: tuple[tuple[str, str], ...] = DEFAULT_RUNNERS
    """(platform, runner label) of the platforms a native runner builds."""
    cache: Literal["gha", "registry"] = "gha"
    cache_ref: str | None = None
    """`registry` cache: the image the cache is kept in (a tag per platform is added)."""
    branches: tuple[str, ...] = ("main",)
    """Pushes to these build (and push images); pull requests build without pushing."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    project_dir: Path
    targets: tuple[Platform, ...]
    """Empty: the engine's own platform."""
    dockerfile: str | None
    context: str
    build_target: str | None
    tags: tuple[str, ...]
    output: OutputKind
    output_dir: str | None
    strategy: Strategy | None
    prefer: tuple[Strategy, ...]
    build_args: tuple[tuple[str, str], ...]
    builder: str | None
    profile: str
    slow_stat_us: float
    cost_cross: float
    cost_qemu: float
    cost_rosetta: float
    cost_remote: float = 1.15
    native_builders: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(builder, platforms) the user says a buildx builder builds natively (buildorch.yaml
    `builders:`), for nodes whose machine buildx cannot see (a remote BuildKit, a VM)."""
    profile_notes: tuple[str, ...]
    use_template: bool
    """Build with buildorch's template when the project's Dockerfile cannot cross-compile."""
    cost_origin: tuple[tuple[str, str], ...] = ()
    """(emulator, where its cost figure comes from) when not the profile: a measurement."""
    origins: tuple[tuple[str, str], ...]
    """(option, where its value came from): default, profile NAME, buildorch.yaml, env X, flag."""
    sources: Sources | None = None
    """How the build reaches the sources; None: the planner chooses."""
    mirror_min_seconds: float = 1.0
    """Mirror a slow share when reading the context from it would cost more than this."""
    run_image: str | None = None
    """`buildorch run`: the image the command runs in."""
    keep: tuple[str, ...] | None = None
    """`buildorch run`: output folders kept in volumes of their own; None: by language."""
    collect: tuple[str, ...] = ()
    """`buildorch run`: paths copied back to the output folder after the command."""
    ci: CiSettings = field(default_factory=CiSettings)
    """`buildorch ci github`: runners, cache, branches."""


def profile_name_from(
    flags: Mapping[str, object], env: Mapping[str, str], project_dir: Path
) -> str | None:
    """The profile the user asked for, if any: flag > env > buildorch.yaml."""
    if flags.get("profile"):
        return str(flags["profile"])
    if env.get("BUILDORCH_PROFILE"):
        return env["BUILDORCH_PROFILE"]
    value = _read_file(project_dir).get("profile")
    return str(value) if value else None


def load_options(
    *,
    project_dir: Path,
    flags: Mapping[str, object],
    env: Mapping[str, str],
    profile: Profile,
) -> Options:
    layers: list[tuple[str, Mapping[str, Any]]] = [
        ("default", {"context": ".", "output": "none", "targets": (), "tags": ()}),
        (f"profile {profile.name}", {"prefer": profile.prefer}),
        (CONFIG_FILE, _read_file(project_dir)),
        *_env_layers(env),
        ("flag", flags),
    ]
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name, layer in layers:
        for key, value in layer.items():
            if value is not None:
                merged[key] = value
                origin[key] = name
    return _validate(merged, origin, project_dir, profile)


def _read_file(project_dir: Path) -> dict[str, Any]:
    path = project_dir / CONFIG_FILE
    if not path.is_file():
        return {}
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
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path} must be a mapping of option names to values",
            why=f"it holds a {type(data).__name__}",
            fix="write it as `key: value` lines, e.g. `targets: [linux/arm64]`",
        )
    for key in data:
        if key not in _KEYS:
            raise ConfigError(
                f"unknown key `{key}` in {path}",
                why="known keys: " + ", ".join(_KEYS),
                fix=_did_you_mean(str(key), list(_KEYS)),
            )
    if isinstance(data.get("output"), dict):
        output = data["output"]
        if set(output) != {"dir"} or not isinstance(output["dir"], str):
            raise ConfigError(
                f"`output` in {path} must be load, push, none or {{dir: PATH}}",
                why=f"it is {output!r}",
                fix="write e.g. `output: {dir: out}`",
            )
        # a folder named in buildorch.yaml is the project's own
        data = {**data, "output": "dir", "output_dir": str(project_dir / output["dir"])}
    return cast(dict[str, Any], data)


def _env_layers(env: Mapping[str, str]) -> list[tuple[str, Mapping[str, Any]]]:
    known = {variable: key for key, variable in _KEYS.items() if variable is not None}
    layers: list[tuple[str, Mapping[str, Any]]] = []
    for variable, value in sorted(env.items()):
        if not variable.startswith("BUILDORCH_") or variable in _OTHER_ENV:
            continue
        if variable not in known:
            raise ConfigError(
                f"unknown environment variable {variable}",
                why="buildorch reads " + ", ".join([*known, *sorted(_OTHER_ENV)]),
                fix=_did_you_mean(variable, [*known, *_OTHER_ENV]) + f"; or unset {variable}",
            )
        key = known[variable]
        layer: dict[str, Any] = {key: value}
        if key == "output" and value.startswith("dir:"):
            layer = {"output": "dir", "output_dir": str(Path(value[4:]).absolute())}
        elif key == "build_args":
            layer = {key: [item for item in value.split(",") if item]}
        layers.append((f"env {variable}", layer))
    return layers


def _validate(
    merged: dict[str, Any], origin: dict[str, str], project_dir: Path, profile: Profile
) -> Options:
    def fail(key: str, why: str, fix: str) -> ConfigError:
        where = origin.get(key, "default")
        return ConfigError(f"bad value for `{key}` (from {where})", why=why, fix=fix)

    targets_raw = merged.get("targets", ())
    if isinstance(targets_raw, str):
        targets_raw = [targets_raw]
    if not isinstance(targets_raw, list | tuple) or not all(
        isinstance(t, str) for t in targets_raw
    ):
        raise fail("targets", f"got {targets_raw!r}", "give platforms, e.g. [linux/arm64, amd64]")
    targets = parse_targets(list(targets_raw))

    tags_raw = merged.get("tags", ())
    if isinstance(tags_raw, str):
        tags_raw = [t for t in tags_raw.split(",") if t]
    if not isinstance(tags_raw, list | tuple) or not all(isinstance(t, str) for t in tags_raw):
        raise fail("tags", f"got {tags_raw!r}", "give image names, e.g. [registry/app:1.0]")
    tags = tuple(tags_raw)

    output = merged.get("output", "none")
    if output not in ("none", "load", "push", "dir"):
        raise fail("output", f"got {output!r}", "use load, push, none, or {dir: PATH}")
    if output == "push" and not tags:
        raise ConfigError(
            "--push needs a tag to push to",
            why="the registry and repository come from the tag",
            fix="add --tag REGISTRY/NAME:TAG (or `tags:` in buildorch.yaml)",
        )

    strategy = _strategy(merged.get("strategy"), fail)
    prefer_raw = merged.get("prefer", ())
    if isinstance(prefer_raw, str):
        prefer_raw = [p for p in prefer_raw.split(",") if p]
    if not isinstance(prefer_raw, list | tuple):
        raise fail("prefer", f"got {prefer_raw!r}", "give strategies, e.g. [native, cross, qemu]")
    prefer = tuple(s for s in (_strategy(p, fail, key="prefer") for p in prefer_raw) if s)

    build_args = _build_args(merged.get("build_args", {}), fail)
    for key in ("dockerfile", "context", "build_target", "builder"):
        if key in merged and not isinstance(merged[key], str):
            raise fail(key, f"got {merged[key]!r}", f"give `{key}` as a string")

    return Options(
        project_dir=project_dir,
        targets=targets,
        dockerfile=merged.get("dockerfile"),
        context=merged.get("context", "."),
        build_target=merged.get("build_target"),
        tags=tags,
        output=cast(Literal["none", "load", "push", "dir"], output),
        output_dir=merged.get("output_dir"),
        strategy=strategy,
        prefer=prefer,
        build_args=build_args,
        builder=merged.get("builder"),
        profile=profile.name,
        slow_stat_us=profile.thresholds.slow_stat_us,
        cost_cross=profile.costs.cross,
        cost_qemu=profile.costs.qemu,
        cost_rosetta=profile.costs.rosetta,
        cost_remote=profile.costs.remote,
        native_builders=_native_builders(merged.get("builders"), fail),
        profile_notes=profile.notes,
        use_template=_boolean(merged.get("use_template", False), fail),
        origins=tuple(sorted(origin.items())),
        sources=_sources(merged.get("sources"), fail),
        mirror_min_seconds=profile.thresholds.mirror_min_seconds,
        run_image=_text(merged, "run_image", fail),
        keep=None if merged.get("keep") is None else _paths(merged["keep"], "keep", fail),
        collect=_paths(merged.get("collect", ()), "collect", fail),
        ci=_ci(merged.get("ci"), fail),
    )


def _native_builders(value: object, fail: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, list | str) for v in value.values()):
        raise fail("builders", f"got {value!r}",
                   "map builder names to the platforms they build natively, "
                   "e.g. `builders: {arm-box: [linux/arm64]}`")  # fmt: skip
    return tuple(
        (
            str(name),
            tuple(
                str(p)
                for p in parse_targets([platforms] if isinstance(platforms, str) else platforms)
            ),
        )
        for name, platforms in value.items()
    )


def _ci(value: object, fail: Any) -> CiSettings:
    if value is None:
        return CiSettings()
    known = ("runners", "cache", "cache_ref", "branches")
    if not isinstance(value, dict):
        raise fail("ci", f"got {value!r}", "give a mapping, e.g. `ci: {cache: gha}`")
    for key in value:
        if key not in known:
            raise fail("ci", f"unknown key `{key}` (known: {', '.join(known)})",
                       _did_you_mean(str(key), list(known)))  # fmt: skip
    runners = dict(DEFAULT_RUNNERS)
    given = value.get("runners") or {}
    if not isinstance(given, dict):
        raise fail("ci", f"runners: got {given!r}", "map platforms to labels, e.g. "
                   "`runners: {linux/arm64: ubuntu-24.04-arm}`")  # fmt: skip
    for platform, label in given.items():
        (parsed,) = parse_targets([str(platform)])
        if label is None:  # no native runner: QEMU or cross-compiling on the amd64 one
            runners.pop(str(parsed), None)
        elif isinstance(label, str) and label:
            runners[str(parsed)] = label
        else:
            raise fail("ci", f"runners: {platform}: got {label!r}",
                       "give a runner label, or null for none")  # fmt: skip
    cache = value.get("cache", "gha")
    if cache not in ("gha", "registry"):
        raise fail("ci", f"cache: got {cache!r}", "use gha or registry")
    cache_ref = value.get("cache_ref")
    if cache == "registry" and not isinstance(cache_ref, str):
        raise fail("ci", "cache: registry needs cache_ref", "add e.g. "
                   "`cache_ref: ghcr.io/OWNER/APP:buildcache`")  # fmt: skip
    branches = value.get("branches", ["main"])
    if isinstance(branches, str):
        branches = [branches]
    if not isinstance(branches, list) or not all(isinstance(b, str) for b in branches):
        raise fail("ci", f"branches: got {branches!r}", "give branch names, e.g. [main]")
    return CiSettings(
        runners=tuple(sorted(runners.items())),
        cache=cast(Literal["gha", "registry"], cache),
        cache_ref=cache_ref if isinstance(cache_ref, str) else None,
        branches=tuple(branches),
    )


def _strategy(value: object, fail: Any, key: str = "strategy") -> Strategy | None:
    if value is None:
        return None
    try:
        return Strategy(str(value))
    except ValueError:
        names = [s.value for s in Strategy]
        raise fail(
            key,
            f"`{value}` is not a strategy ({', '.join(names)})",
            _did_you_mean(str(value), names),
        ) from None


def _text(merged: Mapping[str, Any], key: str, fail: Any) -> str | None:
    value = merged.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(key, f"got {value!r}", f"give `{key}` as a string")
    return value


def _paths(value: object, key: str, fail: Any) -> tuple[str, ...]:
    """Paths inside the project, as `keep` and `collect` take them."""
    items = [v for v in value.split(",") if v] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise fail(key, f"got {value!r}", "give paths relative to the project, e.g. [target]")
    cleaned = []
    for item in items:
        path = PurePosixPath(item)
        if path.is_absolute() or ".." in path.parts or str(path) == ".":
            raise fail(
                key,
                f"`{item}` is not a path inside the project",
                "give it relative to the project, without `..`, e.g. `target` or `build/app`",
            )
        cleaned.append(str(path))
    return tuple(cleaned)


def _sources(value: object, fail: Any) -> Sources | None:
    if value is None or value == "auto":
        return None
    try:
        return Sources(str(value))
    except ValueError:
        names = ["auto", *(s.value for s in Sources)]
        raise fail(
            "sources",
            f"`{value}` is not a way to reach the sources ({', '.join(names)})",
            _did_you_mean(str(value), names),
        ) from None


def _build_args(value: object, fail: Any) -> tuple[tuple[str, str], ...]:
    if isinstance(value, dict):
        return tuple((str(k), str(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        pairs = []
        for item in value:
            if not isinstance(item, str) or "=" not in item:
                raise fail("build_args", f"`{item}` is not KEY=VALUE", "write KEY=VALUE")
            key, _, val = item.partition("=")
            pairs.append((key, val))
        return tuple(pairs)
    raise fail("build_args", f"got {value!r}", "give a mapping or KEY=VALUE items")


def _boolean(value: object, fail: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in (
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
        "",
    ):
        return value.lower() in ("1", "true", "yes", "on")
    raise fail("use_template", f"got {value!r}", "use true or false")


def _did_you_mean(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.5)
    return f"did you mean `{close[0]}`?" if close else "use one of: " + ", ".join(known)

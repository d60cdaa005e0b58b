"""The schema of buildorch.yaml, and of what a BUILDORCH_* variable or a flag sets.

One validator per kind of value, each accepting every layer's form (a YAML list, or a
comma-separated string from the environment), so a value is checked the same way wherever it
came from. The models are pydantic's, frozen, with unknown keys refused; `refused` turns
pydantic's first problem into the user's ConfigError: the key, the layer, why and a fix.
"""

from __future__ import annotations

import difflib
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from buildorch.buildx_flags import PASS_THROUGH, BuildxFlag, anchored, refusal
from buildorch.config.options import (
    DEFAULT_RUNNERS,
    CiSettings,
    NativeBuilder,
    RegistryCache,
    Runner,
)
from buildorch.errors import ConfigError
from buildorch.plan import BuildArg, OutputKind, Sources, Strategy
from buildorch.platforms import Platform, parse_targets


def _bad(why: str, fix: str) -> PydanticCustomError:
    """A refused value: `why` and `fix` reach the user's ConfigError."""
    return PydanticCustomError("buildorch", "{why}", {"why": why, "fix": fix})


def _items(value: object) -> object:
    """A comma-separated string (an environment variable) as the list YAML would give."""
    return [item for item in value.split(",") if item] if isinstance(value, str) else value


def _strings(value: object, fix: str) -> tuple[str, ...]:
    items = _items(value)
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise _bad(f"got {value!r}", fix)
    return tuple(items)


def _targets(value: object) -> tuple[Platform, ...]:
    return parse_targets(_strings(value, "give platforms, e.g. [linux/arm64, amd64]"))


def _tags(value: object) -> tuple[str, ...]:
    return _strings(value, "give image names, e.g. [registry/app:1.0]")


def _text(value: object, info: ValidationInfo) -> str:
    if not isinstance(value, str):
        raise _bad(f"got {value!r}", f"give `{info.field_name}` as a string")
    return value


def _strategy(value: object) -> Strategy:
    try:
        return Strategy(str(value))
    except ValueError:
        names = [s.value for s in Strategy]
        raise _bad(
            f"`{value}` is not a strategy ({', '.join(names)})", did_you_mean(str(value), names)
        ) from None


def _strategies(value: object) -> tuple[Strategy, ...]:
    items = _items(value)
    if not isinstance(items, list | tuple):
        raise _bad(f"got {value!r}", "give strategies, e.g. [native, cross, qemu]")
    return tuple(_strategy(item) for item in items)


def _sources(value: object) -> Sources | Literal["auto"]:
    if value == "auto":
        return "auto"
    try:
        return Sources(str(value))
    except ValueError:
        names = ["auto", *(s.value for s in Sources)]
        raise _bad(
            f"`{value}` is not a way to reach the sources ({', '.join(names)})",
            did_you_mean(str(value), names),
        ) from None


def _build_args(value: object) -> tuple[BuildArg, ...]:
    if isinstance(value, dict):
        return tuple(BuildArg(str(k), str(v)) for k, v in value.items())
    items = _items(value)
    if not isinstance(items, list | tuple):
        raise _bad(f"got {value!r}", "give a mapping or KEY=VALUE items")
    pairs = []
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise _bad(f"`{item}` is not KEY=VALUE", "write KEY=VALUE")
        name, _, text = item.partition("=")
        pairs.append(BuildArg(name, text))
    return tuple(pairs)


def _buildx(value: object) -> tuple[BuildxFlag, ...]:
    """buildx options: from the flags as parsed, or buildorch.yaml's mapping of option names
    (without dashes) to a value, a list of values, or true for a switch."""
    if isinstance(value, tuple) and all(isinstance(v, BuildxFlag) for v in value):
        return value
    if not isinstance(value, dict):
        raise _bad(f"got {value!r}", "give a mapping, e.g. `buildx: {network: host}`")
    flags: list[BuildxFlag] = []
    for name, given in value.items():
        flag = f"--{name}"
        spec = PASS_THROUGH.get(flag)
        if spec is None:
            why = refusal(flag) or f"`{name}` is not a buildx option buildorch passes on"
            raise _bad(why, did_you_mean(str(name), [f[2:] for f in PASS_THROUGH]))
        values = given if isinstance(given, list) else [given]
        if spec.kind == "switch":
            if values != [True]:
                raise _bad(f"`{name}` is a switch; got {given!r}", f"write `{name}: true`")
            flags.append(BuildxFlag(flag=flag))
            continue
        if len(values) > 1 and not spec.repeatable:
            raise _bad(f"`{name}` takes one value; got {given!r}", "give one value")
        for item in values:
            if not isinstance(item, str | int) or isinstance(item, bool):
                raise _bad(f"`{name}: {item!r}` is not a value", f"write e.g. `{name}: VALUE`")
            flags.append(BuildxFlag(flag=flag, value=str(item)))
    return tuple(flags)


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise _bad(f"got {value!r}", "use true or false")


def _paths(value: object) -> tuple[str, ...]:
    """Paths inside the project, as `keep` and `collect` take them."""
    cleaned = []
    for item in _strings(value, "give paths relative to the project, e.g. [target]"):
        path = PurePosixPath(item)
        if path.is_absolute() or ".." in path.parts or str(path) == ".":
            raise _bad(
                f"`{item}` is not a path inside the project",
                "give it relative to the project, without `..`, e.g. `target` or `build/app`",
            )
        cleaned.append(str(path))
    return tuple(cleaned)


def _output(value: object) -> OutputKind:
    if value in ("none", "load", "push", "dir"):
        return value
    raise _bad(f"got {value!r}", "use load, push, none, or {dir: PATH}")


def _native_builders(value: object) -> tuple[NativeBuilder, ...]:
    if not isinstance(value, dict) or not all(isinstance(v, list | str) for v in value.values()):
        raise _bad(f"got {value!r}", "map builder names to the platforms they build natively, "
                   "e.g. `builders: {arm-box: [linux/arm64]}`")  # fmt: skip
    return tuple(
        NativeBuilder(str(name), tuple(str(p) for p in _targets(platforms)))
        for name, platforms in value.items()
    )


def _runners(value: object) -> tuple[Runner, ...]:
    """GitHub's runners, changed by a mapping of platform to label (null: no native runner,
    so QEMU or cross-compiling on the amd64 one)."""
    if not isinstance(value, dict):
        raise _bad(f"got {value!r}", "map platforms to labels, e.g. "
                   "`runners: {linux/arm64: ubuntu-24.04-arm}`")  # fmt: skip
    runners = dict(DEFAULT_RUNNERS)
    for platform, label in value.items():
        (parsed,) = parse_targets([str(platform)])
        if label is None:
            runners.pop(str(parsed), None)
        elif isinstance(label, str) and label:
            runners[str(parsed)] = label
        else:
            raise _bad(f"{platform}: got {label!r}", "give a runner label, or null for none")
    return tuple(Runner(p, label) for p, label in sorted(runners.items()))


def _branches(value: object) -> tuple[str, ...]:
    return _strings([value] if isinstance(value, str) else value, "give branch names, e.g. [main]")


def _cache(value: object) -> Literal["gha", "registry"]:
    if value not in ("gha", "registry"):
        raise _bad(f"got {value!r}", "use gha or registry")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class OutputDir(_Strict):
    """buildorch.yaml's `output: {dir: PATH}`, PATH relative to the project."""

    dir: str


def _file_output(value: object) -> OutputKind | OutputDir:
    if value in ("load", "push", "none"):
        return value
    if isinstance(value, dict) and set(value) == {"dir"} and isinstance(value["dir"], str):
        return OutputDir(dir=value["dir"])
    raise _bad(
        f"`output` must be load, push, none or {{dir: PATH}}; it is {value!r}",
        "write e.g. `output: {dir: out}`",
    )


# each kind of value, checked (and converted) by its function above
_Targets = Annotated[tuple[Platform, ...], PlainValidator(_targets)]
_Text = Annotated[str, PlainValidator(_text)]
_Tags = Annotated[tuple[str, ...], PlainValidator(_tags)]
_Strategy = Annotated[Strategy, PlainValidator(_strategy)]
_Prefer = Annotated[tuple[Strategy, ...], PlainValidator(_strategies)]
_BuildArgs = Annotated[tuple[BuildArg, ...], PlainValidator(_build_args)]
_Boolean = Annotated[bool, PlainValidator(_boolean)]
_Sources = Annotated[Sources | Literal["auto"], PlainValidator(_sources)]
_Paths = Annotated[tuple[str, ...], PlainValidator(_paths)]
_Output = Annotated[OutputKind, PlainValidator(_output)]
_FileOutput = Annotated[OutputKind | OutputDir, PlainValidator(_file_output)]
_NativeBuilders = Annotated[tuple[NativeBuilder, ...], PlainValidator(_native_builders)]
_Runners = Annotated[tuple[Runner, ...], PlainValidator(_runners)]
_Cache = Annotated[Literal["gha", "registry"], PlainValidator(_cache)]
_Branches = Annotated[tuple[str, ...], PlainValidator(_branches)]
_Buildx = Annotated[tuple[BuildxFlag, ...], PlainValidator(_buildx)]


class _CacheFile(_Strict):
    """buildorch.yaml's `cache: {ref: REGISTRY/NAME[:TAG], mode: max}`: a registry cache that
    every build reads and writes, a tag of its own per platform."""

    ref: _Text
    mode: Literal["min", "max"] = "max"


class _Choices(_Strict):
    """What buildorch.yaml, BUILDORCH_* variables and flags can all set; None: not set."""

    targets: _Targets | None = None
    dockerfile: _Text | None = None
    context: _Text | None = None
    build_target: _Text | None = None
    tags: _Tags | None = None
    strategy: _Strategy | None = None
    prefer: _Prefer | None = None
    build_args: _BuildArgs | None = None
    builder: _Text | None = None
    profile: _Text | None = None
    use_template: _Boolean | None = None
    sources: _Sources | None = None
    run_image: _Text | None = None
    keep: _Paths | None = None
    collect: _Paths | None = None
    buildx: _Buildx | None = None
    trust_emulator: _Boolean | None = None

    def settings(self) -> dict[str, Any]:
        """The options this layer sets, as validated."""
        return {key: value for key, value in self if value is not None}


class _CiFile(_Strict):
    """buildorch.yaml's `ci:`."""

    runners: _Runners = DEFAULT_RUNNERS
    cache: _Cache = "gha"
    cache_ref: _Text | None = None
    branches: _Branches = ("main",)

    @model_validator(mode="after")
    def _registry_has_a_ref(self) -> Self:
        if self.cache == "registry" and self.cache_ref is None:
            raise _bad("cache: registry needs cache_ref",
                       "add e.g. `cache_ref: ghcr.io/OWNER/APP:buildcache`")  # fmt: skip
        return self


class ConfigFile(_Choices):
    """The schema of buildorch.yaml."""

    output: _FileOutput | None = None
    ci: _CiFile | None = None
    cache: _CacheFile | None = None
    builders: _NativeBuilders | None = None

    def layer(self, project_dir: Path) -> dict[str, Any]:
        """The options it sets, as the cascade merges them."""
        layer = self.settings()
        if isinstance(self.output, OutputDir):
            # a folder named in buildorch.yaml is the project's own
            layer.update(output="dir", output_dir=str(project_dir / self.output.dir))
        if self.ci is not None:
            layer["ci"] = CiSettings(**dict(self.ci))
        if self.cache is not None:
            layer["cache"] = RegistryCache(**dict(self.cache))
        if self.buildx is not None:
            layer["buildx"] = anchored(self.buildx, project_dir)
        return layer


class Overrides(_Choices):
    """What a BUILDORCH_* variable or the flags set (an output folder comes absolute)."""

    output: _Output | None = None
    output_dir: _Text | None = None


_FILE_KEYS = list(ConfigFile.model_fields)
_CI_KEYS = list(_CiFile.model_fields)


def refused(exc: ValidationError, layer: str, *, where: str) -> ConfigError:
    """pydantic's first problem as the user's ConfigError: the key, the layer, why, the fix."""
    problem = exc.errors()[0]
    key = ".".join(str(part) for part in problem["loc"])
    if problem["type"] == "extra_forbidden":
        known = _CI_KEYS if len(problem["loc"]) > 1 else _FILE_KEYS
        return ConfigError(
            f"unknown key `{key}` in {where}",
            why="known keys: " + ", ".join(known),
            fix=did_you_mean(str(problem["loc"][-1]), known),
        )
    context = problem.get("ctx") or {}
    why = str(context.get("why", f"got {problem['input']!r}"))
    if problem["type"] == "model_type":  # `ci:` and `cache:` are the mappings of settings
        example = "ref: REGISTRY/NAME:buildcache" if key == "cache" else "cache: gha"
        fix = f"give a mapping, e.g. `{key}: {{{example}}}`"
    else:
        fix = str(context.get("fix", f"{problem['msg']}; see buildorch's README"))
    others = sorted({str(p["loc"][0]) for p in exc.errors()[1:]} - {key})
    if others:
        why += "; also refused: " + ", ".join(f"`{other}`" for other in others)
    return ConfigError(f"bad value for `{key}` (from {layer})", why=why, fix=fix)


def parse_build_args(value: object, layer: str) -> tuple[BuildArg, ...]:
    """build_args in any layer's form (a mapping, KEY=VALUE items), read as the cascade reads
    them: an item that is not KEY=VALUE is the same ConfigError, naming `layer`."""
    try:
        return Overrides.model_validate({"build_args": value}).build_args or ()
    except ValidationError as exc:
        raise refused(exc, layer, where=layer) from None


def did_you_mean(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word, known, n=1, cutoff=0.5)
    return f"did you mean `{close[0]}`?" if close else "use one of: " + ", ".join(known)

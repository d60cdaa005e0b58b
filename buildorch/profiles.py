"""Host profiles: per host class, the thresholds and cost figures the planner weighs.

They live in `profiles/*.yaml` (shipped inside the package as `buildorch.profiles`) and are
validated at start: a bad profile is a ConfigError naming the file and the key.
"""

from __future__ import annotations

import difflib
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from buildorch.errors import ConfigError
from buildorch.plan import Strategy

FALLBACK = "linux-amd64"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    os: Literal["macos", "wsl2", "wsl1", "linux", "windows"] | None = None
    arch: str | None = None
    ci: str | None = None


class Thresholds(_Strict):
    slow_stat_us: float = Field(gt=0)
    """Median µs per stat above which the sources count as a slow share."""
    mirror_min_seconds: float = Field(default=1.0, gt=0)
    """Mirror a slow share when reading the build context from it would cost more than this
    many seconds per build (a mirror costs a copy once and a parallel walk per build)."""


class Costs(_Strict):
    """Estimated build time relative to a native build."""

    cross: float = Field(ge=1)
    qemu: float = Field(ge=1)
    rosetta: float = Field(ge=1)
    remote: float = Field(default=1.15, ge=1)
    """A native node elsewhere: the build itself at native speed, plus sending the context
    and bringing the result back."""


class Profile(_Strict):
    name: str
    description: str
    match: Match
    thresholds: Thresholds
    costs: Costs
    prefer: tuple[Strategy, ...]
    notes: tuple[str, ...] = ()


_PROFILE_KEYS = [key for model in (Profile, Match, Thresholds, Costs) for key in model.model_fields]


def load_profiles() -> dict[str, Profile]:
    """Every profile shipped with buildorch, by name."""
    profiles: dict[str, Profile] = {}
    folder = shipped("profiles")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            profile = parse_profile(entry.read_text(encoding="utf-8"), entry.name)
            profiles[profile.name] = profile
    return profiles


def shipped(name: str) -> Traversable:
    """A folder of data shipped with buildorch (`profiles`, `dockerfiles`)."""
    try:
        return resources.files(f"buildorch.shipped.{name}")
    except ModuleNotFoundError:
        # an editable install runs from the repository, where the folder sits at the top
        return Path(__file__).resolve().parents[1] / name


def parse_profile(text: str, source: str) -> Profile:
    try:
        data = yaml.safe_load(text)
        return Profile.model_validate(data)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"profile {source} is not valid YAML",
            why=str(exc),
            fix=f"repair profiles/{source}",
        ) from exc
    except ValidationError as exc:
        raise ConfigError(
            f"profile {source} is malformed",
            why=describe_validation(exc, known=_PROFILE_KEYS),
            fix=f"repair profiles/{source}",
        ) from exc


def describe_validation(exc: ValidationError, *, known: list[str]) -> str:
    """pydantic's errors as `key: problem` lines, with a suggestion for unknown keys."""
    lines = []
    for problem in exc.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top)"
        if problem["type"] == "extra_forbidden":
            key = str(problem["loc"][-1])
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            lines.append(f"unknown key `{where}`{hint}")
        else:
            lines.append(f"`{where}`: {problem['msg']}")
    return "; ".join(lines)


def select_profile(
    profiles: dict[str, Profile],
    *,
    os: str,
    arch: str,
    ci: str | None,
    name: str | None,
) -> Profile:
    """An explicit name wins; then the CI provider; then OS and arch; then a fallback."""
    if name is not None:
        if name not in profiles:
            close = difflib.get_close_matches(name, list(profiles), n=1)
            hint = f"did you mean `{close[0]}`? " if close else ""
            raise ConfigError(
                f"unknown profile `{name}`",
                why="profiles: " + ", ".join(sorted(profiles)),
                fix=f"{hint}pass --profile with one of those",
            )
        return profiles[name]
    for profile in profiles.values():
        if ci is not None and profile.match.ci == ci:
            return profile
    for profile in profiles.values():
        if profile.match.ci is None and (profile.match.os, profile.match.arch) == (os, arch):
            return profile
    return profiles[FALLBACK]

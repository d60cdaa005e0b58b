"""Host profiles: per host class, the thresholds and cost figures the planner weighs.

They live in `profiles/*.yaml` (shipped inside the package as `buildorch.profiles`) and are
validated at start: a bad profile is a ConfigError naming the file and the key. `costs_for`
makes a profile's figures, and what this host measured, the planner's `Costs`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from buildorch.errors import ConfigError
from buildorch.history import Measured
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


class CostFigures(_Strict):
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
    costs: CostFigures
    prefer: tuple[Strategy, ...]
    notes: tuple[str, ...] = ()


_PROFILE_KEYS = [
    key for model in (Profile, Match, Thresholds, CostFigures) for key in model.model_fields
]


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


@dataclass(frozen=True, slots=True)
class Cost:
    """A strategy's estimated build time relative to a native build, and whence the figure."""

    factor: float
    origin: str
    """As a plan cites it: "profile NAME's figure", or what was measured on this host."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Costs:
    """What the planner weighs: each strategy's cost, and when a mirror pays off."""

    cross: Cost
    qemu: Cost
    rosetta: Cost
    remote: Cost
    mirror_min_seconds: float
    """Mirror a slow share when reading the context from it would cost more than this."""

    def emulated(self, emulator: str | None) -> Cost:
        """A whole build under the emulator (Rosetta, or else QEMU)."""
        return self.rosetta if emulator == "rosetta" else self.qemu


def costs_for(profile: Profile, measured: Mapping[str, Measured]) -> Costs:
    """The profile's figures, with this host's own factors where earlier builds of the project
    measured them (`history.measured_factors`)."""
    from_profile = f"profile {profile.name}'s figure"

    def cost(way: str, figure: float) -> Cost:
        found = measured.get(way)
        return Cost(figure, from_profile) if found is None else Cost(found.factor, found.why)

    return Costs(
        cross=cost("cross", profile.costs.cross),
        qemu=cost("qemu", profile.costs.qemu),
        rosetta=cost("rosetta", profile.costs.rosetta),
        remote=Cost(profile.costs.remote, from_profile),
        mirror_min_seconds=profile.thresholds.mirror_min_seconds,
    )

"""The options of a command, as frozen records: the build's choices (`Options`), with what only
`buildorch run` (`RunSettings`) and only `buildorch ci github` (`CiSettings`) read.

The cascade (`cascade.py`) fills them; the profile's cost figures are not options
(`profiles.costs_for` makes them the planner's `Costs`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from buildorch.buildx_flags import BuildxFlag
from buildorch.plan import BuildArg, OutputKind, Sources, Strategy
from buildorch.platforms import Platform

# GitHub's hosted runners by platform; arm64 ones are free for public repositories only
GITHUB_AMD64_RUNNER = "ubuntu-24.04"
# what the workflow and the shortcuts build when no targets are named: what teams ship
SHARED_TARGETS = (Platform("linux", "amd64"), Platform("linux", "arm64"))


class Runner(NamedTuple):
    """A GitHub Actions runner that builds `platform` natively."""

    platform: str
    label: str


class NativeBuilder(NamedTuple):
    """A buildx builder the user says builds these platforms natively (buildorch.yaml
    `builders:`), for nodes whose machine buildx cannot see (a remote BuildKit, a VM)."""

    builder: str
    platforms: tuple[str, ...]


class Origin(NamedTuple):
    """Where an option's value came from: default, profile NAME, buildorch.yaml, env X, flag."""

    option: str
    layer: str


DEFAULT_RUNNERS = (
    Runner("linux/amd64", GITHUB_AMD64_RUNNER),
    Runner("linux/arm64", "ubuntu-24.04-arm"),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class RegistryCache:
    """A registry cache every build reads and writes (`cache:` in buildorch.yaml); each
    platform gets a tag of its own, so platforms never overwrite each other's cache."""

    ref: str
    mode: Literal["min", "max"] = "max"


@dataclass(frozen=True, kw_only=True, slots=True)
class CiSettings:
    """`buildorch ci github`: runners, cache, branches."""

    runners: tuple[Runner, ...] = DEFAULT_RUNNERS
    """The platforms a native runner builds, and its label."""
    cache: Literal["gha", "registry"] = "gha"
    cache_ref: str | None = None
    """`registry` cache: the image the cache is kept in (a tag per platform is added)."""
    branches: tuple[str, ...] = ("main",)
    """Pushes to these build (and push images); pull requests build without pushing."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSettings:
    """`buildorch run`: what only a command run in a container reads."""

    image: str | None = None
    """The image the command runs in."""
    keep: tuple[str, ...] | None = None
    """Output folders kept in volumes of their own; None: by language."""
    collect: tuple[str, ...] = ()
    """Paths copied back to the output folder after the command."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Options:
    """What the user chose, from every layer of the cascade."""

    project_dir: Path
    targets: tuple[Platform, ...] = ()
    """Empty: the engine's own platform."""
    dockerfile: str | None = None
    context: str = "."
    build_target: str | None = None
    tags: tuple[str, ...] = ()
    output: OutputKind = "none"
    output_dir: str | None = None
    strategy: Strategy | None = None
    prefer: tuple[Strategy, ...] = ()
    """Which strategy wins between equal costs."""
    build_args: tuple[BuildArg, ...] = ()
    builder: str | None = None
    native_builders: tuple[NativeBuilder, ...] = ()
    use_template: bool = False
    """Build with buildorch's template when the project's Dockerfile cannot cross-compile."""
    sources: Sources | None = None
    """How the build reaches the sources; None: the planner chooses."""
    buildx: tuple[BuildxFlag, ...] = ()
    """buildx options passed to every build, as the user spelt them."""
    cache: RegistryCache | None = None
    trust_emulator: bool = False
    """Build on an emulator of a release known to break builds (detect/emulator_versions.py)."""
    origins: tuple[Origin, ...] = ()
    run: RunSettings = field(default_factory=RunSettings)
    ci: CiSettings = field(default_factory=CiSettings)

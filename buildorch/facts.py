"""What buildorch knows about the host and the project: plain frozen values.

Detection fills these in; the planner reads them; `doctor --json` prints them. Each value that
was inferred carries the reason it was inferred, so users can argue with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from buildorch.cross_derive import Derivation
from buildorch.tree import Listing, SpecialFile

OsClass = Literal["macos", "wsl2", "wsl1", "linux", "windows"]
ImageStore = Literal["classic", "containerd"]
# how a platform's binaries run on the engine: natively, through QEMU binfmt, through Rosetta
EmulationKind = Literal["native", "qemu", "rosetta"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DockerFacts:
    binary: bool
    """A docker CLI was found."""
    available: bool
    """The daemon answered `docker info`."""
    desktop: bool = False
    version: str | None = None
    arch: str | None = None
    """The engine's own architecture in OCI names (not the shell's: Rosetta can disguise it)."""
    image_store: ImageStore | None = None
    context: str | None = None
    operating_system: str | None = None
    kernel: str | None = None
    product: str | None = None
    """The engine's product and release where it says (`Docker Desktop 4.37.1 (178610)`)."""
    error: str | None = None
    """Why the engine is not available, in the engine's own words."""


@dataclass(frozen=True, kw_only=True, slots=True)
class BuildxFacts:
    available: bool
    version: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class BuilderFacts:
    name: str
    driver: str
    status: str
    platforms: tuple[str, ...]
    current: bool = False
    endpoint: str = ""
    native: tuple[str, ...] = ()
    """What its nodes build without emulation: each node's first platform, the one BuildKit
    reports for the machine it runs on."""

    @property
    def is_context(self) -> bool:
        """A docker-driver builder other than `default`: a docker context's own engine."""
        return self.driver == "docker" and self.name != "default"


@dataclass(frozen=True, kw_only=True, slots=True)
class ContextFacts:
    """A docker context: an engine reached by name (`docker --context NAME`)."""

    name: str
    endpoint: str
    current: bool = False
    error: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class EmulationFact:
    platform: str
    kind: EmulationKind | None
    """None: nothing here can run this platform's binaries."""
    emulator: str | None = None
    """The emulator's own version (`qemu-aarch64 version 7.2.22`), when it could be read."""
    works: bool | None = None
    """A program of the platform ran through it (None: not checked, e.g. Docker Desktop)."""
    flagged: str | None = None
    """The known fault of its version (detect/emulator_versions.py), and where it was reported:
    such an emulator is not planned on unless the user trusts it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class SourceFacts:
    path: str
    mount_point: str | None
    fs_type: str | None
    """The mount's type as the kernel names it (`9p`, `fuse.grpcfuse`, `ext4`)."""
    fs: str
    """Its class: 9p, virtiofs, fakeowner, grpcfuse, osxfs, fuse, nfs, smb, drvfs, or a disk."""
    slow: bool
    stat_us: float | None
    """Median microseconds per `stat` measured on the project directory."""


class Reason(NamedTuple):
    """How detection reached one fact: `os`, `docker`, ... and why it is what it is."""

    fact: str
    why: str


@dataclass(frozen=True, kw_only=True, slots=True)
class HostFacts:
    os: OsClass
    arch: str
    """The CPU's architecture in OCI names (Rosetta-translated shells report the real CPU)."""
    ci: str | None
    docker: DockerFacts
    buildx: BuildxFacts
    builders: tuple[BuilderFacts, ...]
    emulation: tuple[EmulationFact, ...]
    source: SourceFacts
    contexts: tuple[ContextFacts, ...] = ()
    reasons: tuple[Reason, ...] = ()
    """How each inferred value was reached."""

    def emulation_for(self, platform: str) -> EmulationKind | None:
        fact = self.emulation_fact(platform)
        return fact.kind if fact is not None else None

    def emulation_fact(self, platform: str) -> EmulationFact | None:
        return next((fact for fact in self.emulation if fact.platform == platform), None)

    def reason(self, key: str) -> str:
        return dict(self.reasons).get(key, "")

    @property
    def current_builder(self) -> BuilderFacts | None:
        for builder in self.builders:
            if builder.current:
                return builder
        return None

    def to_json(self) -> dict[str, Any]:
        """The stable `doctor --json` form."""
        return {
            "os": self.os,
            "arch": self.arch,
            "ci": self.ci,
            "docker": {
                "binary": self.docker.binary,
                "available": self.docker.available,
                "desktop": self.docker.desktop,
                "version": self.docker.version,
                "arch": self.docker.arch,
                "image_store": self.docker.image_store,
                "context": self.docker.context,
                "operating_system": self.docker.operating_system,
                "kernel": self.docker.kernel,
                "product": self.docker.product,
                "error": self.docker.error,
            },
            "buildx": {"available": self.buildx.available, "version": self.buildx.version},
            "builders": [
                {
                    "name": b.name,
                    "driver": b.driver,
                    "status": b.status,
                    "platforms": list(b.platforms),
                    "current": b.current,
                    "endpoint": b.endpoint,
                    "native": list(b.native),
                }
                for b in self.builders
            ],
            "contexts": [
                {"name": c.name, "endpoint": c.endpoint, "current": c.current, "error": c.error}
                for c in self.contexts
            ],
            "emulation": {e.platform: e.kind for e in self.emulation},
            "emulators": {
                e.platform: {"emulator": e.emulator, "works": e.works, "flagged": e.flagged}
                for e in self.emulation
                if e.emulator is not None or e.works is not None
            },
            "source": {
                "path": self.source.path,
                "mount_point": self.source.mount_point,
                "fs_type": self.source.fs_type,
                "fs": self.source.fs,
                "slow": self.source.slow,
                "stat_us": self.source.stat_us,
            },
            "reasons": dict(self.reasons),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class StageFacts:
    index: int
    name: str | None
    base: str
    """The FROM image as written (`golang:1.22`, `$BASE`, or an earlier stage's name)."""
    platform: str | None
    """The FROM --platform value as written (`$BUILDPLATFORM`), or None."""
    on_build_platform: bool
    """Runs on the machine doing the build whatever the target: never emulated."""
    run_steps: int
    uses_target_args: bool
    """Reads TARGETPLATFORM/TARGETARCH/TARGETOS/TARGETVARIANT: it builds *for* the target."""
    depends_on: tuple[int, ...] = ()
    """Earlier stages it builds on (FROM stage, COPY --from=stage, RUN --mount from=stage)."""


class CacheMount(NamedTuple):
    """A `RUN --mount=type=cache` folder: its id ("" when unnamed) and where it is mounted."""

    id: str
    target: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DockerfileFacts:
    path: str
    stages: tuple[StageFacts, ...]
    target_stage: int
    """The stage that is built: the last, or the one `--build-target` names."""
    cross_capable: bool
    """A reached stage runs on $BUILDPLATFORM and builds for $TARGETARCH."""
    emulated_run_steps: int
    """RUN steps in reached stages that run on the target platform (emulated when foreign)."""
    findings: tuple[str, ...] = ()
    """Things worth telling the user about this Dockerfile."""
    context_reads: tuple[str, ...] | None = None
    """The context paths COPY, ADD and bind mounts read; None: any of it (`COPY . .`)."""
    cache_mounts: tuple[CacheMount, ...] = ()
    """Each cache mount of the stages that are built, once."""
    derivation: Derivation | None = None
    """The Dockerfile with its builder stages moved to the build machine, cross-compiling;
    None when the Dockerfile cross-compiles on its own."""

    @property
    def derived_emulated_run_steps(self) -> int:
        """RUN steps left on the target platform when the derived Dockerfile is built."""
        if self.derivation is None:
            return self.emulated_run_steps
        moved = {s.index for s in self.derivation.moved}
        return sum(
            s.run_steps
            for s in self.stages
            if s.index in self.derivation.reached
            and not s.on_build_platform
            and s.index not in moved
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class HeavyTree:
    """A folder the context sends that builds seldom need (.git, node_modules, target)."""

    path: str
    files: int
    bytes: int
    ignore_line: str
    """The .dockerignore line that leaves it out."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ProjectFacts:
    dir: str
    context: str
    dockerfile: DockerfileFacts | None
    languages: tuple[str, ...] = ()
    template: str | None = None
    """Why a template is built instead of a Dockerfile of the project's, when one is."""
    template_hint: str | None = None
    """A template that would cross-compile a project whose Dockerfile cannot."""
    context_files: int = 0
    """Files the build reads from the context, after .dockerignore."""
    context_bytes: int = 0
    context_walk_seconds: float = 0.0
    """How long listing them took (a parallel walk)."""
    heavy: tuple[HeavyTree, ...] = ()
    special_files: tuple[SpecialFile, ...] = ()
    """Sockets, fifos and devices in what the build reads: never sent, nor mirrored."""
    listing: Listing = field(default_factory=dict, compare=False, repr=False)
    """Every entry the build reads, by path relative to the context (what a mirror holds)."""

    def to_json(self) -> dict[str, Any]:
        df = self.dockerfile
        return {
            "dir": self.dir,
            "context": self.context,
            "languages": list(self.languages),
            "template": self.template,
            "template_hint": self.template_hint,
            "context_files": self.context_files,
            "context_bytes": self.context_bytes,
            "context_walk_seconds": round(self.context_walk_seconds, 3),
            "heavy": [
                {"path": h.path, "files": h.files, "bytes": h.bytes, "ignore_line": h.ignore_line}
                for h in self.heavy
            ],
            "dockerfile": None
            if df is None
            else {
                "path": df.path,
                "cross_capable": df.cross_capable,
                "emulated_run_steps": df.emulated_run_steps,
                "target_stage": df.target_stage,
                "findings": list(df.findings),
                "context_reads": None if df.context_reads is None else list(df.context_reads),
                "stages": [
                    {
                        "index": s.index,
                        "name": s.name,
                        "base": s.base,
                        "platform": s.platform,
                        "on_build_platform": s.on_build_platform,
                        "run_steps": s.run_steps,
                        "uses_target_args": s.uses_target_args,
                        "depends_on": list(s.depends_on),
                    }
                    for s in df.stages
                ],
            },
        }

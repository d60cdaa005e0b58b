"""The plan: what will be built, how, and why. Frozen values the planner returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from buildorch.buildx_flags import BuildxFlag
from buildorch.cross_derive import Derivation
from buildorch.facts import CacheMount
from buildorch.platforms import Platform
from buildorch.tree import SpecialFile

SPECIAL_NAMED = 3
"""Special files named in the plan (its note, its JSON); the rest are counted."""


def first_few(names: Sequence[str], count: int = SPECIAL_NAMED) -> str:
    """`a, b, c and 4 more`: a list said once, however long."""
    more = f" and {len(names) - count} more" if len(names) > count else ""
    return ", ".join(names[:count]) + more


def skipped_json(special: Sequence[SpecialFile]) -> dict[str, object]:
    """Special files left out, as JSON: how many, and the first few."""
    return {
        "count": len(special),
        "first": [{"path": s.path, "kind": s.kind} for s in special[:SPECIAL_NAMED]],
    }


def skipped_note(special: Sequence[SpecialFile]) -> str:
    """Special files left out, said once however many there are."""
    named = first_few([f"{s.path} ({s.kind})" for s in special])
    return (
        f"{len(special)} special file(s) in the context are skipped: {named}; sockets, "
        "fifos and devices are not sent by `docker build` nor copied to a mirror or "
        "volume, so a step that needs one will not find it (list them in .dockerignore "
        "to silence this)"
    )


class BuildArg(NamedTuple):
    """A `--build-arg NAME=VALUE`."""

    name: str
    value: str


class KeptFolder(NamedTuple):
    """A build output folder of `buildorch run` (a path under the sources), kept in a volume
    of its own."""

    path: str
    volume: str


class Strategy(StrEnum):
    NATIVE = "native"
    """The engine's own architecture: nothing emulated."""
    CROSS = "cross"
    """Compile stages run on $BUILDPLATFORM and cross-compile for the target."""
    QEMU = "qemu"
    """The whole build runs under an emulator (QEMU binfmt, or Rosetta on Docker Desktop)."""
    REMOTE = "remote"
    """A buildx builder with a node of the target's architecture."""
    OFFLOAD = "offload"
    """GitHub Actions' native runners."""


class Sources(StrEnum):
    DIRECT = "direct"
    """The build reads the project where it is."""
    MIRROR = "mirror"
    """The build reads a copy of the project on a local disk, kept in step before each build."""
    VOLUME = "volume"
    """`buildorch run`: the sources are copied into a named volume the container works in."""


OutputKind = Literal["none", "load", "push", "dir"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Rejected:
    strategy: Strategy
    why: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PlatformStep:
    """The decision for one target platform."""

    platform: Platform
    strategy: Strategy
    sources: Sources
    reasons: tuple[str, ...]
    rejected: tuple[Rejected, ...]
    cost: float
    """Estimated build time relative to a native build of the same project."""
    emulator: str | None = None
    """`qemu` or `rosetta` when anything runs emulated for this platform."""
    builder: str | None = None
    """The buildx builder of a `remote` step (its native node builds this platform)."""
    derived: bool = False
    """A `cross` step built from buildorch's derivation of the Dockerfile (builder stages
    moved to the build machine) rather than the Dockerfile as written."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Output:
    kind: OutputKind
    tags: tuple[str, ...] = ()
    dest: str | None = None
    """The folder files are written to, for kind `dir`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Invocation:
    """One `docker buildx build` call."""

    platforms: tuple[Platform, ...]
    context: str
    dockerfile: str
    build_target: str | None
    build_args: tuple[BuildArg, ...]
    builder: str | None
    output: Output
    """What this call writes: for one platform of a multi-platform push on the classic
    store, that platform's own tag; for a folder, the folder (staged, then moved)."""
    label: str
    buildx: tuple[BuildxFlag, ...] = ()
    """The user's own buildx options (`--network host`, `--secret ...`), and the cache this
    build reads and writes."""
    docker_context: str | None = None
    """Run buildx in this docker context: a remote engine's own builder (buildx refuses
    `--builder` for another context's docker-driver builder)."""
    derived_dockerfile: str | None = None
    """Build this text (buildorch's cross-compiling derivation of `dockerfile`) instead of
    `dockerfile` itself."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Merge:
    """Join the per-platform images already pushed into one manifest list per tag."""

    tags: tuple[str, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Mirror:
    """Keep `path` (a local disk) equal to what the build reads of `source`, then build there."""

    source: str
    path: str
    why: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    steps: tuple[PlatformStep, ...]
    invocations: tuple[Invocation, ...]
    merge: Merge | None
    output: Output
    mirror: Mirror | None = None
    notes: tuple[str, ...] = ()
    """Host-wide findings: slow share, Dockerfile findings, how builds were grouped and why."""
    cross: Derivation | None = None
    """Which stages of the Dockerfile can move to the build machine, and why."""
    special_files: tuple[SpecialFile, ...] = ()
    """Sockets, fifos and devices the build would read: skipped (a note says so)."""

    def to_json(self) -> dict[str, Any]:
        """The stable `plan --json` form."""
        return {
            "steps": [
                {
                    "platform": str(step.platform),
                    "strategy": step.strategy.value,
                    "sources": step.sources.value,
                    "emulator": step.emulator,
                    "builder": step.builder,
                    "cost": step.cost,
                    "reasons": list(step.reasons),
                    "rejected": [
                        {"strategy": r.strategy.value, "why": r.why} for r in step.rejected
                    ],
                }
                for step in self.steps
            ],
            "builds": [
                {
                    "label": inv.label,
                    "platforms": [str(p) for p in inv.platforms],
                    "context": inv.context,
                    "dockerfile": inv.dockerfile,
                    "build_target": inv.build_target,
                    "builder": inv.builder or inv.docker_context,
                    "output": _output_json(inv.output),
                    "buildx": [flag.shown() for flag in inv.buildx],
                    "derived": inv.derived_dockerfile is not None,
                }
                for inv in self.invocations
            ],
            "merge": None
            if self.merge is None
            else {"tags": list(self.merge.tags), "sources": list(self.merge.sources)},
            "output": _output_json(self.output),
            "mirror": None
            if self.mirror is None
            else {"source": self.mirror.source, "path": self.mirror.path, "why": self.mirror.why},
            "notes": list(self.notes),
            "cross": None if self.cross is None else _cross_json(self.cross),
            "skipped": skipped_json(self.special_files),
        }


def _cross_json(derivation: Derivation) -> dict[str, Any]:
    return {
        "complete": derivation.complete,
        # where `buildorch init --cross` writes it; a build uses the text, not the file
        "file": derivation.file,
        "stages": [
            {
                "index": s.index,
                "name": s.name,
                "moves": s.moves,
                "compiles": s.compiles,
                "why": s.why,
                "changes": list(s.changes),
            }
            for s in derivation.stages
        ],
    }


def _output_json(output: Output) -> dict[str, Any]:
    return {"kind": output.kind, "tags": list(output.tags), "dest": output.dest}


@dataclass(frozen=True, kw_only=True, slots=True)
class RunPlan:
    """`buildorch run`: one command in a container of `image`, on the sources."""

    platform: Platform
    emulator: str | None
    image: str
    command: tuple[str, ...]
    sources: Sources
    """VOLUME: a copy in `volume`; DIRECT: the project itself, bind-mounted."""
    source_dir: str
    volume: str | None
    keep: tuple[KeptFolder, ...]
    """Build outputs kept between runs, apart from the sources, so the host's own copies of
    them never overwrite the container's."""
    collect: tuple[str, ...]
    """Paths under the sources copied back to `output_dir` when the command succeeds."""
    output_dir: str | None
    reasons: tuple[str, ...]
    workdir: str = "/src"

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": str(self.platform),
            "emulator": self.emulator,
            "image": self.image,
            "command": list(self.command),
            "sources": self.sources.value,
            "source_dir": self.source_dir,
            "volume": self.volume,
            "keep": [{"path": path, "volume": volume} for path, volume in self.keep],
            "collect": list(self.collect),
            "output_dir": self.output_dir,
            "workdir": self.workdir,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class CiJob:
    """One platform's job in the generated GitHub Actions workflow."""

    platform: Platform
    runner: str
    strategy: Strategy
    qemu: bool
    """The runner registers QEMU first: no native runner, and RUN steps on the target."""
    why: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CiBake:
    """The targets of the project's bake or compose files, each on every platform's runner."""

    files: tuple[str, ...]
    """As buildx finds them in `workdir`: docker-bake.hcl, compose.yaml."""
    workdir: str
    """The project, relative to the repository's top: buildx reads contexts from there."""
    jobs: tuple[CiJob, ...]
    files_out: bool
    """Each target's files uploaded per platform (`output: dir`); else built and cached only."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CiPlan:
    """`buildorch ci github`: the same build, one job per platform on GitHub's runners."""

    name: str
    jobs: tuple[CiJob, ...]
    context: str
    dockerfile: str | None
    """Both relative to the repository's top, where the workflow runs; no Dockerfile: the
    project has only a bake or compose file, and the workflow only the bake job."""
    build_target: str | None
    build_args: tuple[BuildArg, ...]
    tags: tuple[str, ...]
    """Pushed by digest per platform, then joined under these tags; empty: no image."""
    files: bool
    """The final stage's files uploaded as an artifact per platform."""
    cache: Literal["gha", "registry"]
    cache_ref: str | None
    cache_mounts: tuple[CacheMount, ...]
    """(id, target) of the Dockerfile's cache mounts, carried between runs."""
    branches: tuple[str, ...]
    notes: tuple[str, ...] = ()
    cache_mode: Literal["min", "max"] = "max"
    buildx: tuple[BuildxFlag, ...] = ()
    """buildorch.yaml's buildx options, for every build of the workflow."""
    bake: CiBake | None = None

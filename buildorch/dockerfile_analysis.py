"""What a Dockerfile's records mean for a build: where each stage runs, what would be
emulated, which cache mounts collide between platforms, what the context must hold. Pure.

What matters to the planner is where each stage runs: a stage `FROM --platform=$BUILDPLATFORM`
runs on the machine doing the build whatever the target (never emulated), and if it also
reads $TARGETARCH it cross-compiles. RUN steps of the other stages that the target stage
reaches run on the target platform, under an emulator when the target is foreign.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re

from buildorch.cross_derive import derive
from buildorch.dockerfile import (
    Arg,
    Copy,
    Dockerfile,
    Env,
    Run,
    Stage,
    parse_dockerfile,
)
from buildorch.errors import ProjectError
from buildorch.facts import CacheMount, DockerfileFacts, StageFacts

_BUILD_PLATFORM = re.compile(r"^\$\{?BUILDPLATFORM\}?$")
_TARGET_ARGS = re.compile(r"\$\{?TARGET(PLATFORM|ARCH|OS|VARIANT)\b")
_TARGET_ARG_NAME = re.compile(r"^TARGET(PLATFORM|ARCH|OS|VARIANT)$")
_REMOTE_SOURCE = re.compile(r"^[a-z+]+://|^git@")


def analyse_dockerfile(
    text: str,
    path: str,
    build_target: str | None,
    build_args: tuple[tuple[str, str], ...] = (),
    meson_cross_branches: tuple[str, ...] = (),
) -> DockerfileFacts:
    """Stages, where each runs, and what that means for foreign targets. `build_args`: the
    build's --build-arg values, which decide the stage a `FROM build-${VARIANT}` names;
    `meson_cross_branches`: where the project's meson.build asks meson.is_cross_build()."""
    dockerfile = dataclasses.replace(parse_dockerfile(text, path), build_args=build_args)
    target = target_stage(dockerfile, build_target)
    depends = [stage_dependencies(dockerfile, stage) for stage in dockerfile.stages]
    reached = reached_stages(depends, target)
    on_build = build_platform_stages(dockerfile)
    stages = tuple(
        StageFacts(
            index=stage.index,
            name=stage.name,
            base=stage.base,
            platform=stage.platform,
            on_build_platform=stage.index in on_build,
            run_steps=run_steps(stage),
            uses_target_args=uses_target_args(stage),
            depends_on=depends[stage.index],
        )
        for stage in dockerfile.stages
    )
    findings: list[str] = []
    if dockerfile.syntax is not None:
        findings.append(
            "a `# syntax=` line makes BuildKit pull a frontend image before every build"
        )
    cross = any(f.index in reached and f.on_build_platform and f.uses_target_args for f in stages)
    derivation = (
        None
        if cross
        else derive(
            dockerfile,
            target,
            reached,
            on_build,
            frozenset(s.index for s in stages if s.uses_target_args),
            meson_cross_branches,
        )
    )
    emulated = 0
    moved = frozenset(s.index for s in derivation.moved) if derivation else frozenset()
    copied = derivation.copied if derivation else frozenset()
    for facts in stages:
        if facts.index not in reached:
            continue
        label = f"`{facts.name}`" if facts.name else str(facts.index)
        if facts.on_build_platform:
            if facts.uses_target_args:
                findings.append(
                    f"stage {label} compiles on $BUILDPLATFORM for $TARGETARCH: "
                    "cross-compiling, no emulation"
                )
        elif facts.run_steps:
            emulated += facts.run_steps
            if facts.index in moved:
                continue
            findings.append(
                f"{facts.run_steps} RUN step(s) in stage {label} run on the target platform: "
                "emulated for a foreign target"
            )
    for stage, facts in zip(dockerfile.stages, stages, strict=True):
        # a stage buildorch moves builds for the target as one written for it does: a build
        # folder's cache mount would hand one platform's CMake cache and objects to another's
        # (and a stage with a copy that moves shares its mounts with the copy)
        if facts.index in reached and (
            facts.uses_target_args or facts.index in moved or facts.index in copied
        ):
            findings.extend(colliding_cache_mounts(stage))
    findings.extend(copies_from_stage_tops(dockerfile, stages, reached))
    return DockerfileFacts(
        path=path,
        stages=stages,
        target_stage=target,
        cross_capable=cross,
        emulated_run_steps=emulated,
        findings=tuple(findings),
        context_reads=context_reads(dockerfile, reached),
        cache_mounts=cache_mounts(dockerfile, reached),
        derivation=derivation,
    )


def target_stage(dockerfile: Dockerfile, build_target: str | None) -> int:
    """The stage that is built: the last, or the one `--build-target` names."""
    if build_target is None:
        return len(dockerfile.stages) - 1
    index = next(
        (s.index for s in dockerfile.stages if s.name and s.name.lower() == build_target.lower()),
        None,
    )
    if index is None:
        named = ", ".join(str(s.name) for s in dockerfile.stages if s.name)
        raise ProjectError(
            f"no stage `{build_target}` in {dockerfile.path}",
            why="stages: " + (named or "(none named)"),
            fix="pass --build-target with one of those",
        )
    return index


def stage_dependencies(dockerfile: Dockerfile, stage: Stage) -> tuple[int, ...]:
    """Earlier stages it builds on: FROM stage, COPY --from=stage, RUN --mount from=stage."""
    found = {dockerfile.stage_index(r, before=stage.index) for r in stage.references}
    found.add(dockerfile.base_stage(stage))
    return tuple(sorted(i for i in found if i is not None))


def reached_stages(depends: list[tuple[int, ...]], target: int) -> frozenset[int]:
    """The stages building `target` builds: itself and what it depends on, transitively."""
    reached: set[int] = set()
    pending = [target]
    while pending:
        index = pending.pop()
        if index not in reached:
            reached.add(index)
            pending.extend(depends[index])
    return frozenset(reached)


def build_platform_stages(dockerfile: Dockerfile) -> frozenset[int]:
    """Stages that run on $BUILDPLATFORM: pinned there, or built on a stage that is."""
    found: set[int] = set()
    for stage in dockerfile.stages:
        if stage.platform is not None:
            pinned = bool(_BUILD_PLATFORM.match(stage.platform))
        else:
            # a stage built on an earlier stage runs where that stage runs
            parent = dockerfile.base_stage(stage)
            pinned = parent is not None and parent in found
        if pinned:
            found.add(stage.index)
    return frozenset(found)


def run_steps(stage: Stage) -> int:
    return sum(isinstance(i, Run) for i in stage.instructions)


def uses_target_args(stage: Stage) -> bool:
    """Reads TARGETPLATFORM/TARGETARCH/TARGETOS/TARGETVARIANT: it builds *for* the target."""
    if _TARGET_ARGS.search(stage.start.value):
        return True
    for instruction in stage.instructions:
        if isinstance(instruction, Arg):
            if any(_TARGET_ARG_NAME.match(v.name) for v in instruction.variables):
                return True
        elif isinstance(instruction, Run):
            # flags too: a mount keyed `id=cache-$TARGETARCH` is there for the target
            if any(_TARGET_ARGS.search(t) for t in (instruction.value, instruction.script)):
                return True
        elif isinstance(instruction, Copy | Env) and _TARGET_ARGS.search(instruction.value):
            return True
    return False


def colliding_cache_mounts(stage: Stage) -> list[str]:
    """Cache mounts of a stage building for the target that every platform would share.

    A mount is kept apart per platform when the command uses a folder per platform inside
    it (`SCCACHE_DIR=/cache/sccache/$TARGETARCH`), which every BuildKit honours; an
    `id=...-$TARGETARCH` works too, but only where BuildKit expands variables in mount
    options (0.10 and later: Docker 23+), so that one is reported as a caveat.
    """
    findings = []
    for run in (i for i in stage.instructions if isinstance(i, Run)):
        for mount in run.mounts:
            if mount.type != "cache":
                continue
            target, mount_id = mount.target, mount.id
            per_folder = re.search(
                re.escape(target.rstrip("/")) + r"/[^\s\"';]*\$\{?TARGET(PLATFORM|ARCH|OS|VARIANT)",
                run.script,
            )
            if per_folder:
                continue
            if _TARGET_ARGS.search(mount_id):
                findings.append(
                    f"cache mount {target} is keyed by id={mount_id}: BuildKit before 0.10 "
                    "(Docker 20.10) does not expand variables there and shares it between "
                    f"platforms; a folder per platform inside it ({target}/$TARGETARCH) works "
                    "everywhere"
                )
                continue
            findings.append(
                f"cache mount {target} is shared between platforms: keep a folder per "
                f"platform inside it ({target}/$TARGETARCH), or key it with "
                f"id={(mount_id or target.strip('/').replace('/', '-'))}-$TARGETARCH "
                "(BuildKit 0.10 and later)"
            )
    return findings


def copies_from_stage_tops(
    dockerfile: Dockerfile, stages: tuple[StageFacts, ...], reached: frozenset[int]
) -> list[str]:
    """`COPY --from=STAGE /out/ ...` of a path at the top of a stage that runs steps.

    BuildKit checksums what a COPY takes from a stage by walking the path's parent folder,
    once for each new snapshot of the stage (its contenthash `scanPath`). For `/out/` that
    parent is `/`: the whole image the stage is built on, walked on every rebuild of it."""
    findings = []
    for stage in dockerfile.stages:
        if stage.index not in reached:
            continue
        for copy in (i for i in stage.instructions if isinstance(i, Copy)):
            if copy.keyword != "COPY" or copy.from_ref is None:
                continue
            source = dockerfile.stage_index(copy.from_ref, before=stage.index)
            if source is None or not stages[source].run_steps:
                continue
            for path in copy.sources:
                top = posixpath.normpath(posixpath.join("/", path))
                if top != "/" and posixpath.dirname(top) == "/" and "$" not in path:
                    findings.append(
                        f"`COPY --from={copy.from_ref} {path}` takes a path at the top of that "
                        "stage: BuildKit checksums it by walking the stage's whole file system "
                        "after every rebuild of the stage (0.5 to 0.9 s with a 2 GB toolchain "
                        "image); one folder down (`/out/dist/`) only that folder is walked"
                    )
    return findings


def cache_mounts(dockerfile: Dockerfile, reached: frozenset[int]) -> tuple[CacheMount, ...]:
    """The cache mounts of the stages that are built, each once."""
    found = {
        CacheMount(id=mount.id, target=mount.target): None
        for stage in dockerfile.stages
        if stage.index in reached
        for run in stage.instructions
        if isinstance(run, Run)
        for mount in run.mounts
        if mount.type == "cache"
    }
    return tuple(found)


def context_reads(dockerfile: Dockerfile, reached: frozenset[int]) -> tuple[str, ...] | None:
    """The context paths the reached stages read (COPY, ADD, RUN bind mounts), as BuildKit
    sends only those; None when any path may be read (`COPY . .`, a variable in a path)."""
    reads: list[str] = []
    for stage in dockerfile.stages:
        if stage.index not in reached:
            continue
        for instruction in stage.instructions:
            if isinstance(instruction, Copy) and instruction.from_ref is None:
                reads.extend(p for p in instruction.sources if not _REMOTE_SOURCE.match(p))
            elif isinstance(instruction, Run):
                reads.extend(
                    mount.source or "."
                    for mount in instruction.mounts
                    if mount.type == "bind" and mount.from_ref is None
                )
    cleaned = [os.path.normpath(r.strip("/")) for r in reads]
    if any(r in (".", "") or "$" in r for r in cleaned):
        return None
    return tuple(dict.fromkeys(cleaned))

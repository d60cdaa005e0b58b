"""Choose, per target platform, the fastest correct way to build on this host.

Pure: reads HostFacts, ProjectFacts, Options and Costs, returns a Plan. No I/O, no logging, no
docker. Every choice carries its reasons and every alternative the reason it lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Literal, assert_never

from buildorch.buildx_flags import (
    BuildxFlag,
    cache_export_refusal,
    per_build,
    per_build_note,
    privilege_notes,
    relative_to,
)
from buildorch.config import GITHUB_AMD64_RUNNER, SHARED_TARGETS, Options, RegistryCache
from buildorch.cross_derive import Derivation, kit_has_toolchain, kit_platforms_named
from buildorch.detect.emulator_versions import way_around
from buildorch.errors import PlanError
from buildorch.facts import (
    BuilderFacts,
    DockerfileFacts,
    EmulationKind,
    HostFacts,
    ProjectFacts,
)
from buildorch.plan import (
    CiBake,
    CiJob,
    CiPlan,
    Invocation,
    KeptFolder,
    Merge,
    Mirror,
    Output,
    Plan,
    PlatformStep,
    Rejected,
    RunPlan,
    Sources,
    Strategy,
    skipped_note,
)
from buildorch.platforms import Platform
from buildorch.profiles import Costs

# `docker build`'s context walk through a share makes about this many round trips per file
# (lstat, extended attributes, open, read, close): 11,766 files took 25.8 s on a FUSE share at
# 336 us per stat (bench/slow_share.py)
CONTEXT_TRIPS_PER_FILE = 6.5
# a drive (`C:\\`, `c:/`) or a UNC share (`\\\\wsl$\\Ubuntu`, `\\\\server\\share`)
_WINDOWS_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
# a mirror's check keeps this many stats in flight at least (tree.WALK_THREADS is 32)
MIRROR_OVERLAP = 8
# a share nobody measured (a snapshot without the probe): osxfs and 9P cost about this
ASSUMED_SHARE_STAT_US = 100.0

# Strategies this version can carry out; the others are reported with why they were not used.
LOCAL_STRATEGIES = (Strategy.NATIVE, Strategy.CROSS, Strategy.QEMU, Strategy.REMOTE)

_QEMU_FIX = (
    "register QEMU for the target: on Linux `apt-get install qemu-user-static binfmt-support` "
    "(or `docker run --privileged --rm tonistiigi/binfmt --install all`); on Docker Desktop "
    "emulation is built in"
)
_CROSS_FIX = (
    "make the compile stage cross-capable: `FROM --platform=$BUILDPLATFORM ... AS build` "
    "and compile for $TARGETARCH (templates in dockerfiles/)"
)
_OFFLOAD_FIX = "build on a native runner, e.g. GitHub Actions `ubuntu-24.04-arm` for arm64"


@dataclass(frozen=True, slots=True)
class _Candidate:
    strategy: Strategy
    cost: float | None
    """None: does not apply here."""
    why: str
    emulator: str | None = None
    builder: str | None = None
    derived: bool = False
    """Built from buildorch's cross-compiling derivation of the Dockerfile."""


def engine_platform(host: HostFacts) -> Platform:
    """The platform the engine builds without emulation."""
    return Platform("linux", host.docker.arch or host.arch)


def plan_build(
    host: HostFacts,
    project: ProjectFacts,
    options: Options,
    costs: Costs,
    mirror_path: str | None = None,
) -> Plan:
    """The whole plan: one step per target, grouped into buildx invocations. `mirror_path`
    is where this project's mirror would live (None: nowhere to keep one)."""
    native = engine_platform(host)
    targets = options.targets or (native,)
    sources, source_reasons = _choose_sources(host, project, options, costs, mirror_path)
    mirror = (
        Mirror(source=project.context, path=mirror_path, why=source_reasons[0])
        if sources is Sources.MIRROR and mirror_path is not None
        else None
    )
    steps = tuple(
        _plan_platform(p, native, host, project, options, costs, sources, source_reasons)
        for p in targets
    )
    invocations, merge, grouping = _group(
        steps, host, project, options, mirror, _derived(steps, project)
    )
    notes = [
        *grouping,
        *_source_notes(host, sources),
        *_context_notes(project),
        *privilege_notes(options.buildx),
    ]
    if project.template is not None:
        notes.append(project.template)
    if project.dockerfile is not None:
        notes.extend(project.dockerfile.findings)
    if not host.docker.available:
        notes.append(
            "the Docker engine is not reachable, so this plan is from what could be seen "
            "without it: " + (host.docker.error or "no docker CLI")
        )
    return Plan(
        steps=steps,
        invocations=invocations,
        merge=merge,
        output=_requested_output(options),
        mirror=mirror,
        notes=tuple(notes),
        cross=None if project.dockerfile is None else project.dockerfile.derivation,
        special_files=project.special_files,
    )


def _plan_platform(
    platform: Platform,
    native: Platform,
    host: HostFacts,
    project: ProjectFacts,
    options: Options,
    costs: Costs,
    sources: Sources,
    source_reasons: tuple[str, ...],
) -> PlatformStep:
    candidates = [_evaluate(s, platform, native, host, project, options, costs) for s in Strategy]
    usable = [c for c in candidates if c.cost is not None]
    if options.strategy is not None:
        forced = next(c for c in candidates if c.strategy is options.strategy)
        if forced.cost is None:
            raise PlanError(
                f"cannot build {platform} with --strategy {forced.strategy}",
                why=forced.why,
                fix=_fix_for(forced.strategy, usable, _qemu_fix(host, platform)),
            )
        chosen = forced
        lead = f"{forced.strategy} was asked for"
    else:
        if not usable:
            raise PlanError(
                f"no way to build {platform} on this host",
                why="; ".join(f"{c.strategy}: {c.why}" for c in candidates),
                fix=f"{_qemu_fix(host, platform)}; or {_CROSS_FIX}; or {_OFFLOAD_FIX}",
            )
        rank = {s: i for i, s in enumerate((*options.prefer, *Strategy))}
        chosen = min(usable, key=lambda c: (c.cost, rank[c.strategy]))
        lead = f"{chosen.strategy} is the cheapest way that works here"
    assert chosen.cost is not None
    rejected = tuple(
        Rejected(strategy=c.strategy, why=_why_not(c, chosen))
        for c in candidates
        if c is not chosen
    )
    return PlatformStep(
        platform=platform,
        strategy=chosen.strategy,
        sources=sources,
        reasons=(lead, chosen.why, *source_reasons),
        rejected=rejected,
        cost=chosen.cost,
        emulator=chosen.emulator,
        builder=chosen.builder,
        derived=chosen.derived,
    )


def _evaluate(
    strategy: Strategy,
    platform: Platform,
    native: Platform,
    host: HostFacts,
    project: ProjectFacts,
    options: Options,
    costs: Costs,
) -> _Candidate:
    dockerfile = project.dockerfile
    emulation = host.emulation_for(str(platform))
    is_native = platform == native or emulation == "native"
    emulated = costs.emulated(emulation)
    match strategy:
        case Strategy.NATIVE:
            if is_native:
                return _Candidate(
                    strategy,
                    1.0,
                    f"{platform} is the engine's own platform ({native}): nothing is emulated",
                )
            return _Candidate(strategy, None, f"the engine is {native}, not {platform}")
        case Strategy.CROSS:
            return _cross(platform, native, is_native, emulation, project, costs)
        case Strategy.QEMU:
            if is_native:
                return _Candidate(strategy, None, f"{platform} builds natively, nothing to emulate")
            if emulation not in ("qemu", "rosetta"):
                return _Candidate(strategy, None, _no_emulator(host, platform))
            if dockerfile is not None and dockerfile.cross_capable:
                return _Candidate(
                    strategy,
                    None,
                    "the Dockerfile pins its compile stages to $BUILDPLATFORM; emulating the "
                    "target would not move them",
                )
            return _Candidate(
                strategy,
                emulated.factor,
                f"every step runs on {platform} under {emulation}, about {emulated.factor:g}x "
                f"a native build ({emulated.origin})",
                emulator=emulation,
            )
        case Strategy.REMOTE if is_native:
            return _Candidate(strategy, None, f"the engine here builds {platform} natively")
        case Strategy.OFFLOAD if is_native:
            return _Candidate(strategy, None, f"the engine here builds {platform} natively")
        case Strategy.REMOTE:
            return _remote(platform, host, options, costs)
        case Strategy.OFFLOAD:
            return _Candidate(
                strategy,
                None,
                "offloading to GitHub Actions runs from a generated workflow, "
                "not from a local build",
            )
        case _:
            assert_never(strategy)


def _cross(
    platform: Platform,
    native: Platform,
    is_native: bool,
    emulation: EmulationKind | None,
    project: ProjectFacts,
    costs: Costs,
) -> _Candidate:
    """The Dockerfile's own cross-compiling stages, or buildorch's derived Dockerfile that
    moves its builder stages to the build machine."""
    dockerfile = project.dockerfile
    derivation = None if dockerfile is None else dockerfile.derivation
    hint = (
        f"; --use-template would build it with the {project.template_hint} "
        f"template, which cross-compiles (about {costs.cross.factor:g}x native)"
        if project.template_hint
        else ""
    )
    if dockerfile is None or (not dockerfile.cross_capable and derivation is None):
        return _Candidate(
            Strategy.CROSS,
            None,
            "no stage of the Dockerfile runs on $BUILDPLATFORM and builds for "
            f"$TARGETARCH, so every step would run on the target platform{hint}",
        )
    if derivation is not None and not derivation.usable:
        stuck = derivation.blocked or tuple(s for s in derivation.stages if not s.moves)
        return _Candidate(
            Strategy.CROSS,
            None,
            "buildorch cannot move every compiling stage to the build machine: "
            + "; ".join(f"{s.label} stays because {s.why}" for s in stuck)
            + hint,
        )
    if is_native:
        return _Candidate(Strategy.CROSS, None, f"{platform} builds natively, no need to cross")
    if derivation is not None and not kit_has_toolchain(platform.arch, platform.variant):
        return _Candidate(
            Strategy.CROSS,
            None,
            f"buildorch's cross kit has no toolchain for {platform} (it knows "
            f"{kit_platforms_named()})",
        )
    if derivation is not None:
        moved = ", ".join(s.label for s in derivation.moved)
        how = (
            f"buildorch moves {moved} to {native} and cross-compiles there (a Dockerfile "
            "derived from the project's, every RUN step unchanged)"
        )
        # the builders that cannot move are built as written, emulated, beside the moved ones
        how += "".join(
            f"; {s.label} stays on the target because {s.why}" for s in derivation.blocked
        )
        steps = dockerfile.derived_emulated_run_steps
    else:
        how = f"the compile stages run on {native} and cross-compile for {platform}"
        steps = dockerfile.emulated_run_steps
    if steps == 0:
        unaided = (
            "; a step that runs a program it has just built would need an emulator, and none "
            "is registered"
            if derivation is not None and emulation not in ("qemu", "rosetta")
            else ""
        )
        return _Candidate(
            Strategy.CROSS,
            costs.cross.factor,
            f"{how}; no RUN step runs on the target platform{unaided}",
            derived=derivation is not None,
        )
    if emulation in ("qemu", "rosetta"):
        # the final stage's RUN steps are emulated; they are usually light (installs,
        # copies), so count them as a tenth of a fully emulated build. A builder left on the
        # target is not light: its share of the builders' steps costs what emulation costs
        emulated = costs.emulated(emulation).factor
        share, light = 0.0, steps
        if derivation is not None:
            share = _left_on_target(dockerfile, derivation)
            light -= sum(s.run_steps for s in dockerfile.stages if s.index in derivation.blocked_at)
        cost = (
            costs.cross.factor
            + share * (emulated - costs.cross.factor)
            + (0.1 * (emulated - 1.0) if light else 0.0)
        )
        return _Candidate(
            Strategy.CROSS,
            round(cost, 2),
            f"{how}; {steps} RUN step(s) on the target platform run under {emulation}",
            emulator=emulation,
            derived=derivation is not None,
        )
    return _Candidate(
        Strategy.CROSS,
        None,
        f"{steps} RUN step(s) run on {platform} itself and nothing here can run "
        f"{platform} binaries",
    )


def _left_on_target(dockerfile: DockerfileFacts, derivation: Derivation) -> float:
    """The builders' RUN steps that stay on the target, as a share of all of theirs."""
    steps = {s.index: s.run_steps for s in dockerfile.stages}
    builders = [s for s in derivation.stages if s.compiles]
    total = sum(steps.get(s.index, 0) for s in builders)
    left = sum(steps.get(s.index, 0) for s in builders if not s.moves)
    return left / total if total else 0.0


def _remote(platform: Platform, host: HostFacts, options: Options, costs: Costs) -> _Candidate:
    """A builder other than the one in use with a node of the target's own architecture."""
    declared = dict(options.native_builders)
    in_use = _builder(host, options)
    for builder in host.builders:
        if builder is in_use or builder.status != "running":
            continue
        if str(platform) in declared.get(builder.name, ()):
            how = "buildorch.yaml's `builders:` says so"
        elif str(platform) in builder.native:
            how = "it is the first platform its node reports"
        else:
            continue
        where = f"builder `{builder.name}` ({builder.driver} driver, {builder.endpoint or '?'})"
        if builder.driver == "docker" and options.output == "load":
            # the docker driver loads into its own engine, which is not this one
            return _Candidate(
                Strategy.REMOTE,
                None,
                f"{where} builds {platform} natively, but --load would leave the image in "
                "its engine, not this one: push it, or write files with -o",
            )
        return _Candidate(
            Strategy.REMOTE,
            costs.remote.factor,
            f"{where} builds {platform} natively ({how}): the context goes there and the "
            f"result comes back, about {costs.remote.factor:g}x a native build",
            builder=builder.name,
        )
    return _Candidate(
        Strategy.REMOTE,
        None,
        f"no other buildx builder has a native {platform} node (`docker buildx create "
        f"--name {platform.slug} --platform {platform} ssh://USER@HOST` or a docker context "
        f"on an {platform.arch} machine adds one)",
    )


def _why_not(candidate: _Candidate, chosen: _Candidate) -> str:
    if candidate.cost is None:
        return candidate.why
    assert chosen.cost is not None
    if candidate.cost > chosen.cost:
        return f"works, but costs about {candidate.cost:g}x native against {chosen.cost:g}x"
    return f"works at {candidate.cost:g}x native, but {chosen.strategy} was asked for"


def _qemu_fix(host: HostFacts, platform: Platform) -> str:
    """How to get an emulator for the platform: a known-good release in place of a flagged one,
    or one registered at all."""
    fact = host.emulation_fact(str(platform))
    if fact is not None and fact.flagged is not None and fact.kind is None:
        return way_around(str(platform))
    return _QEMU_FIX


def _no_emulator(host: HostFacts, platform: Platform) -> str:
    """Why the platform has no emulator to build with: none registered, or one not to use."""
    fact = host.emulation_fact(str(platform))
    if fact is not None and (fact.works is False or fact.flagged is not None):
        return f"the emulator registered for {platform} is not used ({host.reason('emulation')})"
    return f"no emulator for {platform} is registered ({host.reason('emulation')})"


def _fix_for(strategy: Strategy, usable: list[_Candidate], qemu_fix: str) -> str:
    others = ", ".join(f"--strategy {c.strategy}" for c in usable)
    alternative = f"; or drop --strategy (this host can use {others})" if others else ""
    match strategy:
        case Strategy.QEMU:
            return qemu_fix + alternative
        case Strategy.CROSS:
            return _CROSS_FIX + alternative
        case Strategy.NATIVE | Strategy.REMOTE | Strategy.OFFLOAD:
            return f"{_OFFLOAD_FIX}{alternative}"
        case _:
            assert_never(strategy)


def _choose_sources(
    host: HostFacts, project: ProjectFacts, options: Options, costs: Costs, mirror_path: str | None
) -> tuple[Sources, tuple[str, ...]]:
    """Read the context where it is, or from a mirror on a local disk (and why)."""
    source = host.source
    stat_us = source.stat_us if source.stat_us is not None else ASSUMED_SHARE_STAT_US
    through_share = project.context_files * CONTEXT_TRIPS_PER_FILE * stat_us / 1e6
    checking = project.context_files * stat_us / MIRROR_OVERLAP / 1e6
    figures = (
        f"{project.context_files} files x {CONTEXT_TRIPS_PER_FILE:g} round trips x "
        f"{stat_us:g} us = about {through_share:.1f} s per build through the share"
    )
    if options.sources is Sources.VOLUME:
        raise PlanError(
            "a build cannot read its sources from a volume",
            why="`docker build` sends the context from this machine; volumes are for "
            "`buildorch run`, where a container works on the sources",
            fix="use --sources mirror (a copy on a local disk) or --sources direct",
        )
    if options.sources is Sources.MIRROR and mirror_path is None:
        raise PlanError(
            "no folder to keep a mirror in",
            why="neither XDG_CACHE_HOME nor HOME is set",
            fix="set HOME (or XDG_CACHE_HOME) to a folder on a local disk",
        )
    if options.sources is not None:
        what = (
            f"sources mirrored to {mirror_path}, as asked"
            if options.sources is Sources.MIRROR
            else f"sources read where they are ({source.fs}), as asked"
        )
        return options.sources, (what,)
    if not source.slow:
        desktop = (
            "; Docker Desktop's file sharing slows bind mounts (`buildorch run` copies into a "
            "volume), not the context, which the CLI reads here"
            if host.docker.desktop
            else ""
        )
        return Sources.DIRECT, (f"sources read where they are: {source.fs} is fast{desktop}",)
    if through_share < costs.mirror_min_seconds or mirror_path is None:
        why = (
            f"under the profile's {costs.mirror_min_seconds:g} s threshold for a mirror"
            if mirror_path is not None
            else "but there is no folder to keep a mirror in (set HOME)"
        )
        return Sources.DIRECT, (
            f"sources read where they are, although {source.fs} is a slow share: {figures}, {why}",
        )
    return Sources.MIRROR, (
        f"sources mirrored to a local disk: {source.fs} is a slow share ({host.reason('source')})"
        f"; {figures}; a mirror is copied once, then each build checks the files with "
        f"{MIRROR_OVERLAP} or more stats in flight (about {checking:.1f} s) and copies only "
        "what changed",
    )


def _source_notes(host: HostFacts, sources: Sources) -> list[str]:
    source = host.source
    if not source.slow or sources is Sources.MIRROR:
        return []
    figure = f", {source.stat_us:g} us per stat" if source.stat_us is not None else ""
    return [
        f"the project sits on a slow share ({source.fs}{figure}): every file the build "
        "context sends is a round trip to the host; on WSL2 keep the project in the Linux "
        "file system (~/src) rather than /mnt/c, or build with --sources mirror"
    ]


def _context_notes(project: ProjectFacts) -> list[str]:
    """Large folders the context sends that builds seldom need, with the line that drops them;
    special files it cannot send, in one note however many there are."""
    notes = [
        f"the context sends {heavy.path}/ ({heavy.files} files, {_size(heavy.bytes)}), which "
        f"builds seldom need: add `{heavy.ignore_line}` to .dockerignore"
        for heavy in project.heavy
    ]
    if project.special_files:
        notes.append(skipped_note(project.special_files))
    return notes


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _multi_platform_builds(host: HostFacts, options: Options) -> tuple[bool, str]:
    """Can one buildx call build several platforms? (and why)."""
    builder = _builder(host, options)
    driver = builder.driver if builder is not None else "docker"
    if driver != "docker":
        return True, f"builder `{builder.name if builder else '?'}` ({driver} driver)"
    if host.docker.image_store == "containerd":
        return True, "the docker driver with the containerd image store"
    return (
        False,
        "the docker driver on the classic image store builds one platform per call "
        "(it refuses `--platform a,b`)",
    )


def _builder(host: HostFacts, options: Options) -> BuilderFacts | None:
    for builder in host.builders:
        if options.builder is not None and builder.name == options.builder:
            return builder
    return host.current_builder if options.builder is None else None


def _requested_output(options: Options) -> Output:
    return Output(kind=options.output, tags=options.tags, dest=options.output_dir)


def _group(
    steps: tuple[PlatformStep, ...],
    host: HostFacts,
    project: ProjectFacts,
    options: Options,
    mirror: Mirror | None,
    derived: dict[Platform, str],
) -> tuple[tuple[Invocation, ...], Merge | None, list[str]]:
    assert project.dockerfile is not None
    requested = _requested_output(options)
    context, dockerfile = project.context, project.dockerfile.path
    if mirror is not None:
        context = mirror.path
        inside = PurePosixPath(dockerfile)
        if inside.is_relative_to(project.context):
            dockerfile = str(PurePosixPath(mirror.path) / inside.relative_to(project.context))

    builders = {step.platform: step.builder or options.builder for step in steps}
    contexts = {b.name for b in host.builders if b.is_context}

    def invocation(platforms: tuple[Platform, ...], output: Output, label: str) -> Invocation:
        builder = builders[platforms[0]]
        remote_context = builder if builder in contexts and builder != options.builder else None
        return Invocation(
            platforms=platforms,
            context=context,
            dockerfile=dockerfile,
            build_target=options.build_target,
            build_args=options.build_args,
            builder=None if remote_context else builder,
            output=output,
            label=label,
            buildx=per_build(options.buildx, platforms, of=tuple(s.platform for s in steps))
            + _cache_flags(options.cache, platforms),
            docker_context=remote_context,
            # the derivation builds every platform right (a native one runs its steps as
            # written), so a build that holds a derived platform builds it for all
            derived_dockerfile=next((derived[p] for p in platforms if p in derived), None),
        )

    platforms = tuple(step.platform for step in steps)
    together, why = _together(steps, host, options, derived)
    if len(platforms) == 1 or together:
        note = [f"one build for {', '.join(map(str, platforms))}: {why}"] if len(steps) > 1 else []
        label = "+".join(p.slug for p in platforms)
        return (invocation(platforms, requested, label),), None, note

    notes = [f"one build per platform: {why}", *per_build_note(options.buildx, platforms)]
    merge: Merge | None = None
    per_platform: list[Invocation] = []
    for platform in platforms:
        match requested.kind:
            case "push":
                # the docker driver cannot push by digest: each platform gets its own tag
                output = Output(kind="push", tags=(_platform_tag(requested.tags[0], platform),))
            case "load":
                output = Output(
                    kind="load", tags=tuple(_platform_tag(t, platform) for t in requested.tags)
                )
            case "dir":
                dest = requested.dest or "."
                output = Output(kind="dir", dest=f"{dest.rstrip('/')}/{platform.dir_name}")
            case "none":
                output = requested
            case _:
                assert_never(requested.kind)
        per_platform.append(invocation((platform,), output, platform.slug))
    match requested.kind:
        case "push":
            sources = tuple(inv.output.tags[0] for inv in per_platform)
            merge = Merge(tags=requested.tags, sources=sources)
            notes.append(
                f"each platform is pushed as its own tag ({', '.join(sources)}), then joined "
                f"into one manifest list with `docker buildx imagetools create` as "
                f"{', '.join(requested.tags)}"
            )
        case "load":
            notes.append(
                "the classic image store holds one platform per tag: loaded as "
                + ", ".join(t for inv in per_platform for t in inv.output.tags)
            )
        case "dir":
            notes.append(f"files of each platform go to {requested.dest}/<os>_<arch>/")
        case "none":
            pass
        case _:
            assert_never(requested.kind)
    return tuple(per_platform), merge, notes


def _together(
    steps: tuple[PlatformStep, ...],
    host: HostFacts,
    options: Options,
    derived: dict[Platform, str],
) -> tuple[bool, str]:
    """Whether one build takes every platform, and why (or why not)."""
    together, why = _multi_platform_builds(host, options)
    _check_cache_export(options, exports_cache=together, why=why)
    if together and any(step.builder for step in steps):
        return False, "a remote builder takes some platforms and this one the others"
    if (
        together
        and derived
        and any(
            step.platform not in derived and step.strategy not in ("native", "cross")
            for step in steps
        )
    ):
        # the derived Dockerfile moves stages to the build machine, where only a platform
        # the cross kit can build for belongs; an emulated platform builds the project's own
        return False, "some platforms are cross-compiled from the derived Dockerfile"
    return together, why


def _derived(steps: tuple[PlatformStep, ...], project: ProjectFacts) -> dict[Platform, str]:
    """The derived Dockerfile of each platform built from it."""
    derivation = None if project.dockerfile is None else project.dockerfile.derivation
    if derivation is None or derivation.text is None:
        return {}
    return {step.platform: derivation.text for step in steps if step.derived}


def _cache_flags(
    cache: RegistryCache | None, platforms: tuple[Platform, ...]
) -> tuple[BuildxFlag, ...]:
    """The registry cache of buildorch.yaml, a tag per platform: builds of one platform never
    overwrite another's (the collision users hit with one shared cache scope)."""
    if cache is None:
        return ()
    ref = _cache_ref(cache.ref, "-".join(p.slug for p in platforms))
    return (
        BuildxFlag(flag="--cache-from", value=f"type=registry,ref={ref}"),
        BuildxFlag(flag="--cache-to", value=f"type=registry,ref={ref},mode={cache.mode}"),
    )


def _cache_ref(ref: str, suffix: str) -> str:
    """`reg:5000/app:cache` -> `reg:5000/app:cache-linux-arm64`; without a tag, `buildcache-...`."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:  # no tag: the colon was a registry port's, or there was none
        return f"{ref}:buildcache-{suffix}"
    return f"{name}:{tag}-{suffix}"


def _check_cache_export(options: Options, *, exports_cache: bool, why: str) -> None:
    refusal = cache_export_refusal(options.buildx, exports_cache)
    if refusal is None and options.cache is not None and not exports_cache:
        refusal = f"buildorch.yaml's `cache: {{ref: {options.cache.ref}}}` exports a registry cache"
    if refusal is not None:
        raise PlanError(
            refusal,
            why=f"{why}, and exports no cache but the inline one",
            fix="turn on the containerd image store (Docker Desktop: Settings > General), use "
            "a builder of the docker-container driver (--builder), or use `--cache-to "
            "type=inline` with `--cache-from` the pushed image",
        )


def _platform_tag(tag: str, platform: Platform) -> str:
    """`localhost:5000/app:1.0` -> `localhost:5000/app:1.0-linux-arm64` (a port's colon is
    not a tag's; no tag means `latest`)."""
    name = tag.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    repository, version = name, "latest"
    if ":" in last:
        version = last.split(":", 1)[1]
        repository = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return f"{repository}:{version}-{platform.slug}"


# output folders a language's tools fill, kept in volumes of their own by `buildorch run`
KEEP_BY_LANGUAGE = {"rust": ("target",), "node": ("node_modules",), "python": (".venv",)}


def plan_run(
    host: HostFacts,
    options: Options,
    *,
    command: tuple[str, ...],
    source_dir: str,
    project_id: str,
    languages: tuple[str, ...],
) -> RunPlan:
    """`buildorch run`: where the command runs and how it reaches the sources. Pure."""
    if not command:
        raise PlanError(
            "no command to run",
            why="`buildorch run` runs a command in a container on the project's sources",
            fix="put it after `--`, e.g. `buildorch run --target arm64 -- make`",
        )
    if options.run.image is None:
        raise PlanError(
            "no image to run the command in",
            why="`buildorch run` needs the image the project builds with",
            fix="pass --image IMAGE, or set `run_image:` in buildorch.yaml",
        )
    if len(options.targets) > 1:
        raise PlanError(
            "`buildorch run` runs on one platform at a time",
            why=f"{len(options.targets)} targets were given",
            fix="pass one --target, and run again for the next",
        )
    native = engine_platform(host)
    platform = options.targets[0] if options.targets else native
    emulation = host.emulation_for(str(platform))
    if platform == native or emulation == "native":
        emulator = None
        where = f"{platform} is the engine's own platform: the command runs natively"
    elif emulation in ("qemu", "rosetta"):
        emulator = emulation
        where = (
            f"the command runs on {platform} under {emulation}; commands that compile are "
            "much faster cross-compiled, with `buildorch build` and a cross-capable Dockerfile"
        )
    else:
        raise PlanError(
            f"nothing here can run {platform} programs",
            why=host.reason("emulation") or f"no emulator is registered for {platform}",
            fix=_qemu_fix(host, platform),
        )
    volume = f"buildorch-{project_id}-{platform.slug}"
    keep_paths = options.run.keep if options.run.keep is not None else _default_keep(languages)
    sources, why = _run_sources(host, options)
    if sources is Sources.DIRECT:
        keep_paths = ()
    if options.run.collect and options.output_dir is None:
        raise PlanError(
            "--collect needs a folder to copy the results to",
            why="buildorch never writes into the project's sources",
            fix="add -o DIR (or `output: {dir: PATH}` in buildorch.yaml)",
        )
    return RunPlan(
        platform=platform,
        emulator=emulator,
        image=options.run.image,
        command=command,
        sources=sources,
        source_dir=source_dir,
        volume=volume if sources is Sources.VOLUME else None,
        keep=tuple(KeptFolder(path, f"{volume}-{_volume_slug(path)}") for path in keep_paths),
        collect=options.run.collect,
        output_dir=options.output_dir,
        reasons=(where, why),
    )


def _default_keep(languages: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(path for lang in languages for path in KEEP_BY_LANGUAGE.get(lang, ()))


def _volume_slug(path: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "-" for c in path).strip("-.") or "out"


def _run_sources(host: HostFacts, options: Options) -> tuple[Sources, str]:
    source = host.source
    if options.sources is Sources.MIRROR:
        raise PlanError(
            "`buildorch run` works in a volume, not a mirror",
            why="a mirror is what `docker build` reads its context from",
            fix="use --sources volume (the default) or --sources direct",
        )
    if options.sources is Sources.DIRECT:
        return Sources.DIRECT, (
            "the project is bind-mounted as asked (--sources direct): the command works in "
            "it, and what it writes lands in it"
        )
    if source.slow:
        figure = f" ({source.stat_us:g} us per stat)" if source.stat_us is not None else ""
        why = (
            f"{source.fs} is a slow share{figure}: every stat and open of the command's tools "
            "would be a round trip to the host; a volume lives on the engine's own disk"
        )
    elif host.docker.desktop:
        why = (
            "Docker Desktop bind mounts cross the VM's file sharing (VirtioFS, gRPC-FUSE): "
            "every stat and open a round trip; a volume lives inside the VM"
        )
    else:
        why = (
            "the command writes where it works: in a volume it cannot touch the sources, and "
            "the volume sits on the engine's own disk"
        )
    return Sources.VOLUME, f"sources copied into a volume (only what changed): {why}"


def plan_ci(
    project: ProjectFacts,
    options: Options,
    *,
    repo_root: str,
    bake_files: tuple[str, ...] = (),
) -> CiPlan:
    """The GitHub Actions workflow's plan: each target on a native runner where one exists,
    else cross-compiled on the amd64 runner, QEMU only for what must run on the target; and,
    for a project with bake or compose files, a job per bake target and platform."""
    dockerfile = project.dockerfile
    own = dockerfile is not None and project.template is None
    if not own and not bake_files:
        raise PlanError(
            "the workflow builds the project's own Dockerfile, and this project has none",
            why=project.template or "no Dockerfile was found",
            fix="run `buildorch init` to write Dockerfile.buildorch and buildorch.yaml, "
            "commit them, then run `buildorch ci github` again",
        )
    runners = dict(options.ci.runners)
    fallback = runners.get("linux/amd64", GITHUB_AMD64_RUNNER)
    targets = options.targets or SHARED_TARGETS
    jobs = []
    for platform in targets if own else ():
        if str(platform) in runners:
            jobs.append(_native_ci_job(platform, runners[str(platform)]))
        elif dockerfile is not None and dockerfile.cross_capable:
            emulated = dockerfile.emulated_run_steps > 0
            jobs.append(
                CiJob(
                    platform=platform,
                    runner=fallback,
                    strategy=Strategy.CROSS,
                    qemu=emulated,
                    why=f"no native {platform} runner: the compile stages cross-compile on "
                    f"{fallback}"
                    + (
                        f"; {dockerfile.emulated_run_steps} RUN step(s) on the target run "
                        "under QEMU"
                        if emulated
                        else ", nothing runs emulated"
                    ),
                )
            )
        else:
            jobs.append(
                CiJob(
                    platform=platform,
                    runner=fallback,
                    strategy=Strategy.QEMU,
                    qemu=True,
                    why=f"no native {platform} runner and the Dockerfile does not cross-compile: "
                    f"the whole build runs under QEMU on {fallback}",
                )
            )
    cache, cache_ref = options.ci.cache, options.ci.cache_ref
    cache_mode: Literal["min", "max"] = "max"
    if cache != "registry" and options.cache is not None:
        # the registry cache local builds use, the same tag per platform: CI fills it for them
        cache, cache_mode = "registry", options.cache.mode
        cache_ref = _cache_ref(options.cache.ref, "").removesuffix("-")
    return CiPlan(
        name=_host_path(project.dir).name,
        jobs=tuple(jobs),
        context=_relative(project.context, repo_root),
        dockerfile=_relative(dockerfile.path, repo_root) if own and dockerfile else None,
        build_target=options.build_target,
        build_args=options.build_args,
        tags=options.tags if own else (),
        files=own and (options.output == "dir" or not options.tags),
        cache=cache,
        cache_ref=cache_ref,
        cache_mode=cache_mode,
        cache_mounts=dockerfile.cache_mounts if own and dockerfile else (),
        branches=options.ci.branches,
        buildx=relative_to(options.buildx, lambda path: _inside(path, repo_root)),
        bake=CiBake(
            files=bake_files,
            workdir=_relative(project.dir, repo_root),
            jobs=tuple(_bake_ci_job(p, runners, fallback) for p in targets),
            files_out=options.output == "dir",
        )
        if bake_files
        else None,
    )


def _native_ci_job(platform: Platform, runner: str) -> CiJob:
    return CiJob(
        platform=platform,
        runner=runner,
        strategy=Strategy.NATIVE,
        qemu=False,
        why=f"{runner} is a native {platform} runner",
    )


def _bake_ci_job(platform: Platform, runners: dict[str, str], fallback: str) -> CiJob:
    """A bake target's Dockerfile is only read on the runner: where no native runner exists,
    QEMU is there for the steps it runs on the target (a Dockerfile that cross-compiles runs
    its compile stages natively all the same)."""
    if str(platform) in runners:
        return _native_ci_job(platform, runners[str(platform)])
    return CiJob(
        platform=platform,
        runner=fallback,
        strategy=Strategy.QEMU,
        qemu=True,
        why=f"no native {platform} runner: built on {fallback}, QEMU for what runs on the target",
    )


def _host_path(path: str) -> PurePath:
    """A path of the machine that read the project: `C:\\src\\app` and `\\\\wsl$\\...` are
    Windows paths wherever the plan is made."""
    return PureWindowsPath(path) if _WINDOWS_PATH.match(path) else PurePosixPath(path)


def _inside(path: str, root: str) -> str | None:
    """`path` from `root` when it is an absolute path inside it; else None."""
    inner, top = _host_path(path), _host_path(root)
    if not inner.is_absolute() or type(inner) is not type(top) or not inner.is_relative_to(top):
        return None
    return inner.relative_to(top).as_posix()


def _relative(path: str, root: str) -> str:
    """`path` from `root`, both absolute, as a workflow names it (`.` for the top)."""
    inside = _inside(path, root)
    if inside is None:
        raise PlanError(
            f"{path} is outside the repository at {root}",
            fix="keep the Dockerfile and context inside the repository",
        )
    return inside

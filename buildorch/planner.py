"""Choose, per target platform, the fastest correct way to build on this host.

Pure: reads HostFacts, ProjectFacts and Options, returns a Plan. No I/O, no logging, no
docker. Every choice carries its reasons and every alternative the reason it lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from buildorch.config import Options
from buildorch.errors import PlanError
from buildorch.facts import BuilderFacts, HostFacts, ProjectFacts
from buildorch.plan import (
    Invocation,
    Merge,
    Output,
    Plan,
    PlatformStep,
    Rejected,
    Sources,
    Strategy,
)
from buildorch.platforms import Platform

# Strategies this version can carry out; the others are reported with why they were not used.
LOCAL_STRATEGIES = (Strategy.NATIVE, Strategy.CROSS, Strategy.QEMU)

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


def engine_platform(host: HostFacts) -> Platform:
    """The platform the engine builds without emulation."""
    return Platform("linux", host.docker.arch or host.arch)


def plan_build(host: HostFacts, project: ProjectFacts, options: Options) -> Plan:
    """The whole plan: one step per target, grouped into buildx invocations."""
    native = engine_platform(host)
    targets = options.targets or (native,)
    steps = tuple(_plan_platform(p, native, host, project, options) for p in targets)
    invocations, merge, grouping = _group(steps, host, project, options)
    notes = [*grouping, *_source_notes(host)]
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
        notes=tuple(notes),
    )


def _plan_platform(
    platform: Platform,
    native: Platform,
    host: HostFacts,
    project: ProjectFacts,
    options: Options,
) -> PlatformStep:
    candidates = [_evaluate(s, platform, native, host, project, options) for s in Strategy]
    usable = [c for c in candidates if c.cost is not None]
    if options.strategy is not None:
        forced = next(c for c in candidates if c.strategy is options.strategy)
        if forced.cost is None:
            raise PlanError(
                f"cannot build {platform} with --strategy {forced.strategy}",
                why=forced.why,
                fix=_fix_for(forced.strategy, usable),
            )
        chosen = forced
        lead = f"{forced.strategy} was asked for"
    else:
        if not usable:
            raise PlanError(
                f"no way to build {platform} on this host",
                why="; ".join(f"{c.strategy}: {c.why}" for c in candidates),
                fix=f"{_QEMU_FIX}; or {_CROSS_FIX}; or {_OFFLOAD_FIX}",
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
        sources=Sources.DIRECT,
        reasons=(lead, chosen.why, *_sources_reasons(host)),
        rejected=rejected,
        cost=chosen.cost,
        emulator=chosen.emulator,
    )


def _evaluate(
    strategy: Strategy,
    platform: Platform,
    native: Platform,
    host: HostFacts,
    project: ProjectFacts,
    options: Options,
) -> _Candidate:
    dockerfile = project.dockerfile
    emulation = host.emulation_for(str(platform))
    is_native = platform == native or emulation == "native"
    emulator_cost = options.cost_rosetta if emulation == "rosetta" else options.cost_qemu
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
            if dockerfile is None or not dockerfile.cross_capable:
                hint = (
                    f"; --use-template would build it with the {project.template_hint} "
                    f"template, which cross-compiles (about {options.cost_cross:g}x native)"
                    if project.template_hint
                    else ""
                )
                return _Candidate(
                    strategy,
                    None,
                    "no stage of the Dockerfile runs on $BUILDPLATFORM and builds for "
                    f"$TARGETARCH, so every step would run on the target platform{hint}",
                )
            if is_native:
                return _Candidate(strategy, None, f"{platform} builds natively, no need to cross")
            steps = dockerfile.emulated_run_steps
            if steps == 0:
                return _Candidate(
                    strategy,
                    options.cost_cross,
                    f"the compile stages run on {native} and cross-compile for {platform}; "
                    "no RUN step runs on the target platform",
                )
            if emulation in ("qemu", "rosetta"):
                # the final stage's RUN steps are emulated; they are usually light (installs,
                # copies), so count them as a tenth of a fully emulated build
                cost = options.cost_cross + 0.1 * (emulator_cost - 1.0)
                return _Candidate(
                    strategy,
                    round(cost, 2),
                    f"the compile stages cross-compile on {native}; {steps} RUN step(s) on the "
                    f"target platform run under {emulation}",
                    emulator=emulation,
                )
            return _Candidate(
                strategy,
                None,
                f"{steps} RUN step(s) run on {platform} itself and nothing here can run "
                f"{platform} binaries",
            )
        case Strategy.QEMU:
            if is_native:
                return _Candidate(strategy, None, f"{platform} builds natively, nothing to emulate")
            if emulation not in ("qemu", "rosetta"):
                return _Candidate(
                    strategy,
                    None,
                    f"no emulator for {platform} is registered ({host.reason('emulation')})",
                )
            if dockerfile is not None and dockerfile.cross_capable:
                return _Candidate(
                    strategy,
                    None,
                    "the Dockerfile pins its compile stages to $BUILDPLATFORM; emulating the "
                    "target would not move them",
                )
            return _Candidate(
                strategy,
                emulator_cost,
                f"every step runs on {platform} under {emulation}, about {emulator_cost:g}x "
                "a native build ("
                + dict(options.cost_origin).get(
                    str(emulation), f"profile {options.profile}'s figure"
                )
                + ")",
                emulator=emulation,
            )
        case Strategy.REMOTE if is_native:
            return _Candidate(strategy, None, f"the engine here builds {platform} natively")
        case Strategy.OFFLOAD if is_native:
            return _Candidate(strategy, None, f"the engine here builds {platform} natively")
        case Strategy.REMOTE:
            return _Candidate(
                strategy,
                None,
                f"no buildx builder with a native {platform} node is in use "
                f"(`docker buildx create --name {platform.arch.replace('/', '')} "
                f"--platform {platform} ssh://HOST` adds one)",
            )
        case Strategy.OFFLOAD:
            return _Candidate(
                strategy,
                None,
                "offloading to GitHub Actions runs from a generated workflow, "
                "not from a local build",
            )
        case _:
            assert_never(strategy)


def _why_not(candidate: _Candidate, chosen: _Candidate) -> str:
    if candidate.cost is None:
        return candidate.why
    assert chosen.cost is not None
    if candidate.cost > chosen.cost:
        return f"works, but costs about {candidate.cost:g}x native against {chosen.cost:g}x"
    return f"works at {candidate.cost:g}x native, but {chosen.strategy} was asked for"


def _fix_for(strategy: Strategy, usable: list[_Candidate]) -> str:
    others = ", ".join(f"--strategy {c.strategy}" for c in usable)
    alternative = f"; or drop --strategy (this host can use {others})" if others else ""
    match strategy:
        case Strategy.QEMU:
            return _QEMU_FIX + alternative
        case Strategy.CROSS:
            return _CROSS_FIX + alternative
        case Strategy.NATIVE | Strategy.REMOTE | Strategy.OFFLOAD:
            return f"{_OFFLOAD_FIX}{alternative}"
        case _:
            assert_never(strategy)


def _sources_reasons(host: HostFacts) -> tuple[str, ...]:
    source = host.source
    if source.slow:
        return (f"sources read directly from {source.fs}: {host.reason('source')}",)
    return (f"sources read directly: {source.fs} is a fast local disk",)


def _source_notes(host: HostFacts) -> list[str]:
    source = host.source
    if not source.slow:
        return []
    figure = f", {source.stat_us:g} us per stat" if source.stat_us is not None else ""
    return [
        f"the project sits on a slow share ({source.fs}{figure}): every file the build "
        "context sends is a round trip to the host; on WSL2 keep the project in the Linux "
        "file system (~/src) rather than /mnt/c"
    ]


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
) -> tuple[tuple[Invocation, ...], Merge | None, list[str]]:
    assert project.dockerfile is not None
    requested = _requested_output(options)

    def invocation(platforms: tuple[Platform, ...], output: Output, label: str) -> Invocation:
        return Invocation(
            platforms=platforms,
            context=project.context,
            dockerfile=project.dockerfile.path if project.dockerfile else "Dockerfile",
            build_target=options.build_target,
            build_args=options.build_args,
            builder=options.builder,
            output=output,
            label=label,
        )

    platforms = tuple(step.platform for step in steps)
    together, why = _multi_platform_builds(host, options)
    if len(platforms) == 1 or together:
        note = [f"one build for {', '.join(map(str, platforms))}: {why}"] if len(steps) > 1 else []
        label = "+".join(p.slug for p in platforms)
        return (invocation(platforms, requested, label),), None, note

    notes = [f"one build per platform: {why}"]
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

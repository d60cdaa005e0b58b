"""See the host, read the project, plan: the one place where their order lives.

`plan`, `build` and `run` go through here, top to bottom. The engine is asked in the
background while the project is read (on a slow share, reading the project is the long part),
and the share's `stat` time is measured before the project is read, which could warm the
caches it measures.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from buildorch import history, workspace
from buildorch.config import Options, load_options, profile_name_from, trust_emulator_from
from buildorch.detect import HostView, LiveHost, detect_host, detect_system, load_snapshot
from buildorch.errors import ConfigError, EngineUnavailableError
from buildorch.executor import BuildReport, unwritable_output
from buildorch.facts import HostFacts, ProjectFacts
from buildorch.plan import Plan
from buildorch.planner import plan_build
from buildorch.profiles import Profile, costs_for, load_profiles, select_profile
from buildorch.project import read_project


@dataclass(frozen=True, slots=True, kw_only=True)
class Where:
    """Where to look: the project, and the host (this one, or a recorded snapshot)."""

    project_dir: Path
    snapshot: Path | None = None


@dataclass(frozen=True, slots=True)
class SeenHost:
    host: HostFacts
    profile: Profile
    view: HostView


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything `build` needs, in the order it was learnt."""

    seen: SeenHost
    options: Options
    project: ProjectFacts
    plan: Plan
    mirror_key: Path
    """The folder whose state (workspace.project_state) holds the mirror and its lock."""


def open_view(where: Where, env: Mapping[str, str]) -> HostView:
    """The host to detect: a recorded snapshot, or this machine with the engine asked at once."""
    if where.snapshot is not None:
        return load_snapshot(where.snapshot)
    live = LiveHost(where.project_dir, env)
    live.ask_engine()
    return live


def choose_profile(
    view: HostView, flags: Mapping[str, object], env: Mapping[str, str], project_dir: Path
) -> Profile:
    os_class, arch, ci = detect_system(view)
    name = profile_name_from(dict(flags), env, project_dir)
    return select_profile(load_profiles(), os=os_class, arch=arch, ci=ci, name=name)


def see_host(where: Where, flags: Mapping[str, object], env: Mapping[str, str]) -> SeenHost:
    view = open_view(where, env)
    profile = choose_profile(view, flags, env, where.project_dir)
    host = detect_host(
        view,
        slow_stat_us=profile.thresholds.slow_stat_us,
        trust_emulator=trust_emulator_from(env, where.project_dir),
    )
    return SeenHost(host=host, profile=profile, view=view)


def prepare_build(where: Where, flags: Mapping[str, object], env: Mapping[str, str]) -> Prepared:
    """Host, options, project and plan for `plan` and `build`."""
    view = open_view(where, env)
    profile = choose_profile(view, flags, env, where.project_dir)
    return plan_on(view, profile, where.project_dir, flags, env)


def refuse_replacing_sources(output_dir: str | None, project: ProjectFacts) -> None:
    """An output folder is published by replacing it whole: never the project, its context,
    a folder holding them, or a file (`-o out` inside the project is fine)."""
    if output_dir is None:
        return
    dest = Path(output_dir).resolve()
    for name, folder in (("the project", project.dir), ("the build context", project.context)):
        held = Path(folder).resolve()
        if dest == held or held.is_relative_to(dest):
            raise ConfigError(
                f"--output {output_dir} would replace {name} ({folder})",
                why="the result is published by replacing the output folder as a whole",
                fix="name a folder of its own, e.g. -o out (a folder inside the project is fine)",
            )
    if dest.exists() and not dest.is_dir():
        raise ConfigError(
            f"--output {output_dir} is a file, which publishing the result would replace",
            why="the result of a build with -o is a folder",
            fix="name a folder, e.g. -o out",
        )


def refuse_unwritable_output(output_dir: str | None) -> None:
    """The result is staged beside the output folder, then moved in: a parent this user may
    not write (a read-only folder or file system) is said now, before anything is built.
    Nothing is created to find out: the nearest folder that exists is asked."""
    if output_dir is None:
        return
    parent = Path(output_dir).absolute().parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return
    if not os.access(existing, os.W_OK | os.X_OK):
        # statvfs is POSIX's: elsewhere, say "permission denied"
        read_only = hasattr(os, "statvfs") and os.statvfs(existing).f_flag & os.ST_RDONLY
        why = f"{existing}: {os.strerror(errno.EROFS if read_only else errno.EACCES)}"
        raise unwritable_output(output_dir, why)


def plan_on(
    view: HostView,
    profile: Profile,
    project_dir: Path,
    flags: Mapping[str, object],
    env: Mapping[str, str],
    *,
    mirror_key: Path | None = None,
) -> Prepared:
    """Options, project and plan on a host already opened. `mirror_key` names the folder whose
    mirror the build reads (default: the project's; bake targets of other contexts each have
    their own)."""
    options = load_options(project_dir=project_dir, flags=dict(flags), env=env, profile=profile)
    view.stat_us()  # before the project is read, which could warm the caches it measures
    project = read_project(
        project_dir,
        dockerfile=options.dockerfile,
        context=options.context,
        build_target=options.build_target,
        use_template=options.use_template,
        build_args=options.build_args,
    )
    refuse_replacing_sources(options.output_dir, project)
    refuse_unwritable_output(options.output_dir)
    host = detect_host(
        view,
        slow_stat_us=profile.thresholds.slow_stat_us,
        trust_emulator=options.trust_emulator,
    )
    costs = costs_for(profile, measured_factors(project, env))
    state_dir = workspace.state_path(env, mirror_key or project_dir)
    mirror = str(workspace.mirror_dir(state_dir)) if state_dir is not None else None
    return Prepared(
        seen=SeenHost(host=host, profile=profile, view=view),
        options=options,
        project=project,
        plan=plan_build(host, project, options, costs, mirror),
        mirror_key=mirror_key or project_dir,
    )


def measured_factors(project: ProjectFacts, env: Mapping[str, str]) -> dict[str, history.Measured]:
    """This host's own factors for this project (emulated, cross), where earlier builds
    measured them."""
    path = history.history_file(env)
    if path is None or project.dockerfile is None:
        return {}
    return history.measured_factors(
        history.read(path), project=project.dir, dockerfile=project.dockerfile.path
    )


def remember(
    plan: Plan, report: BuildReport, project: ProjectFacts, env: Mapping[str, str]
) -> None:
    """Keep what this build measured, for the next plans on this host."""
    path = history.history_file(env)
    if path is None or project.dockerfile is None:
        return
    steps = {str(step.platform): step for step in plan.steps}
    entries = [
        history.entry(
            project=project.dir,
            dockerfile=project.dockerfile.path,
            platform=result.platforms[0],
            strategy=steps[result.platforms[0]].strategy.value,
            emulator=steps[result.platforms[0]].emulator,
            seconds=result.seconds,
            steps=result.steps,
            cached=result.cached,
        )
        for result in report.results
        # a build of several platforms at once cannot say what each one cost
        if result.ok and len(result.platforms) == 1
    ]
    if entries:
        with contextlib.suppress(OSError):  # a read-only home must not fail the build
            history.record(path, entries)


def require_engine(host: HostFacts, env: Mapping[str, str]) -> None:
    """Stop before a build or a run when the engine or buildx is not there, saying what to do."""
    where = env.get("DOCKER_HOST") or f"context {host.docker.context or 'default'}"
    if not host.docker.binary:
        raise EngineUnavailableError(
            "no docker CLI was found on PATH",
            why="buildorch drives `docker buildx`",
            fix="install Docker Desktop (macOS, Windows) or run `sudo scripts/provision-engine.sh` "
            "(Debian/Ubuntu)",
        )
    if not host.docker.available:
        raise EngineUnavailableError(
            f"the Docker daemon ({where}) does not answer",
            why=host.docker.error or "`docker info` failed",
            fix="start Docker Desktop, or the engine (`sudo scripts/provision-engine.sh` starts "
            "one on Debian/Ubuntu), then run `buildorch doctor`",
        )
    if not host.buildx.available:
        raise EngineUnavailableError(
            "docker buildx is missing",
            why="every build goes through buildx (BuildKit)",
            fix="install the buildx CLI plugin (Debian: `apt-get install docker-buildx`; "
            "it ships with Docker Desktop)",
        )

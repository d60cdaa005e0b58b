"""Command line: `buildorch doctor | plan | build`.

`main(argv, env)` is testable without a subprocess; `main_entry` is the console script. Every
BuildorchError becomes a message (what, why, fix) and its own exit code; a traceback is shown
only with --debug.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import NoReturn

from buildorch import __version__, console, engine, history, workspace
from buildorch.config import SHARED_TARGETS, Options, load_options, profile_name_from
from buildorch.detect import (
    HostView,
    LiveHost,
    detect_host,
    detect_system,
    load_snapshot,
    save_snapshot,
)
from buildorch.errors import (
    BuildFailedError,
    BuildorchError,
    ConfigError,
    EngineUnavailableError,
    Interrupted,
    ProjectError,
)
from buildorch.executor import BuildReport, execute
from buildorch.facts import HostFacts, ProjectFacts
from buildorch.generate.files import write_all
from buildorch.generate.shortcuts import ShortcutSpec, makefile_advice, shortcuts
from buildorch.generate.workflow import workflow
from buildorch.offload import OffloadRequest, current_branch, gh_ready, manual_steps, unpushed
from buildorch.offload import offload as run_offload
from buildorch.plan import CiPlan, Plan
from buildorch.planner import LOCAL_STRATEGIES, plan_build, plan_ci, plan_run
from buildorch.platforms import parse_targets
from buildorch.profiles import FALLBACK, Profile, load_profiles, select_profile
from buildorch.project import project_languages, read_project, survey_context
from buildorch.runner import execute_run
from buildorch.templates import write_init

EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug in buildorch, not in the user's input
EXIT_NO_GH = 9  # offload could not dispatch: the steps to do it by hand were printed


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-C",
        "--project",
        type=Path,
        default=None,
        metavar="DIR",
        help="the project directory (default: the current one)",
    )
    parser.add_argument(
        "--snapshot",
        type=Path,
        metavar="SNAP",
        help="replay a recorded host snapshot instead of probing this machine",
    )
    parser.add_argument("--profile", help="force a host profile (see profiles/)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--debug", action="store_true", help="show docker commands, tracebacks")


_SHARED_TARGETS_HELP = "target platform (default: buildorch.yaml's targets, else amd64 and arm64)"


def _targets_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "-t", "--target", action="append", dest="targets", metavar="PLATFORM", help=help_text
    )


def _workflow_inputs(
    parser: argparse.ArgumentParser, targets_help: str = _SHARED_TARGETS_HELP
) -> None:
    """What to build: the inputs `plan`, `build`, `ci` and `offload` share."""
    _targets_option(parser, targets_help)
    parser.add_argument("-f", "--file", dest="dockerfile", help="Dockerfile (default: Dockerfile)")
    parser.add_argument("--context", help="build context, relative to the project (default: .)")
    parser.add_argument("--build-target", help="the Dockerfile stage to build")
    parser.add_argument(
        "--build-arg", action="append", dest="build_args", metavar="KEY=VALUE", default=None
    )
    parser.add_argument(
        "--tag", action="append", dest="tags", metavar="NAME:TAG", help="image tag (repeatable)"
    )


def _build_inputs(parser: argparse.ArgumentParser) -> None:
    _workflow_inputs(
        parser, "target platform: arm64, amd64, linux/arm/v7, or a comma list (repeatable)"
    )
    parser.add_argument(
        "--strategy",
        choices=[s.value for s in LOCAL_STRATEGIES],
        help="force a strategy instead of the cheapest one that works",
    )
    parser.add_argument("--builder", help="the buildx builder to use (default: the current one)")
    parser.add_argument(
        "--sources",
        choices=["auto", "direct", "mirror"],
        help="read the context where it is, or from a mirror on a local disk "
        "(default: auto, from the measured cost of the share)",
    )
    parser.add_argument(
        "--use-template",
        action="store_true",
        default=None,
        help="build with buildorch's cross-compiling template when the Dockerfile cannot cross",
    )
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--load", action="store_true", default=None, help="load into the engine")
    out.add_argument("--push", action="store_true", default=None, help="push --tag to its registry")
    out.add_argument(
        "-o", "--output", dest="output_dir", metavar="DIR", help="write the final stage's files"
    )


def _shortcuts_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-C", "--project", type=Path, default=None, metavar="DIR")
    _targets_option(parser, _SHARED_TARGETS_HELP)
    parser.add_argument(
        "--force", action="store_true", help="replace hand-edited files and your own npm scripts"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="buildorch",
        description="Build Docker images for any architecture the fastest correct way this "
        "host allows.",
    )
    parser.add_argument("--version", action="version", version=f"buildorch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    doctor = commands.add_parser("doctor", help="what this host is and what it means for builds")
    _common(doctor)
    doctor.add_argument(
        "--save-snapshot", type=Path, metavar="SNAP", help="record this host for a bug report"
    )

    plan = commands.add_parser("plan", help="how each target would be built, and why")
    _common(plan)
    _build_inputs(plan)

    init = commands.add_parser(
        "init", help="write a cross-capable Dockerfile.buildorch and buildorch.yaml"
    )
    init.add_argument("-C", "--project", type=Path, default=None, metavar="DIR")
    init.add_argument("--force", action="store_true", help="replace files init wrote before")
    init.add_argument("--json", action="store_true", help="print JSON for scripts")
    init.add_argument("--debug", action="store_true", help="show tracebacks")

    _shortcuts_options(
        commands.add_parser(
            "shortcuts",
            help="write the everyday build commands: scripts/, buildorch.mk, npm scripts",
            description="Write scripts/build-<platform>.sh and .ps1 (and build-all), make "
            "targets in buildorch.mk and, for Node projects, npm scripts in package.json, one per "
            "target platform. A file edited by hand is kept unless --force; an existing Makefile "
            "is never touched.",
        )
    )

    build = commands.add_parser("build", help="build for the targets")
    _common(build)
    _build_inputs(build)
    build.add_argument("--dry-run", action="store_true", help="plan and stop")

    run = commands.add_parser(
        "run",
        help="run a command in a container on a copy of the sources (`-- make`)",
        description="Run a command in a container of --image, working on the project's sources "
        "in a named volume (copied in, only what changed), as `docker run -v $PWD:/src` would "
        "without the slow bind mount. Results named by --collect come back to -o DIR.",
    )
    _common(run)
    _targets_option(
        run,
        "the platform to run on: arm64, amd64, linux/arm/v7 (default: buildorch.yaml's "
        "target, else the engine's)",
    )
    run.add_argument("--image", dest="run_image", help="the image to run the command in")
    run.add_argument(
        "--keep",
        action="append",
        metavar="PATH",
        help="an output folder kept in a volume of its own between runs (default: target "
        "for Rust, node_modules for Node)",
    )
    run.add_argument(
        "--collect", action="append", metavar="PATH", help="copy PATH back after the command"
    )
    run.add_argument(
        "-o", "--output", dest="output_dir", metavar="DIR", help="where --collect goes"
    )
    run.add_argument(
        "--sources",
        choices=["auto", "volume", "direct"],
        help="copy the sources into a volume (default) or bind-mount the project itself",
    )
    run.add_argument("--dry-run", action="store_true", help="plan and stop")
    run.add_argument(
        "run_command", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="what to run"
    )

    ci = commands.add_parser(
        "ci",
        help="write the CI workflow for the same builds (`buildorch ci github`)",
        description="Write .github/workflows/buildorch.yml: one job per target platform on a "
        "native GitHub runner where one exists, images pushed by digest and joined, files "
        "uploaded per platform. Settings come from buildorch.yaml (`ci:` for runners and cache).",
    )
    ci.add_argument("provider", choices=["github"], help="the CI service")
    ci.add_argument("-C", "--project", type=Path, default=None, metavar="DIR")
    _workflow_inputs(ci)
    ci.add_argument("--force", action="store_true", help="replace a hand-edited workflow")
    ci.add_argument("--dry-run", action="store_true", help="print the workflow, write nothing")
    ci.add_argument("--json", action="store_true", help="print JSON for scripts")
    ci.add_argument("--debug", action="store_true", help="show tracebacks")

    offload = commands.add_parser(
        "offload",
        help="build on GitHub's native runners with `gh`, and download the files",
        description="Dispatch the workflow `buildorch ci github` wrote, wait for the run and "
        "download each target's files into -o DIR/<os>-<arch>. Without the GitHub CLI (or "
        "logged out) it prints the steps to do the same by hand and exits 9.",
    )
    offload.add_argument("-C", "--project", type=Path, default=None, metavar="DIR")
    _workflow_inputs(offload)
    offload.add_argument("--ref", help="the branch to run on (default: the current one)")
    offload.add_argument(
        "-o", "--output", dest="output_dir", metavar="DIR", help="where files go (default: out)"
    )
    offload.add_argument("--json", action="store_true", help="print JSON for scripts")
    offload.add_argument("--debug", action="store_true", help="show tracebacks")

    clean = commands.add_parser(
        "clean", help="remove what buildorch keeps for a project (mirror, volumes)"
    )
    clean.add_argument("-C", "--project", type=Path, default=None, metavar="DIR")
    clean.add_argument("--all", action="store_true", help="every project buildorch knows")
    clean.add_argument("--json", action="store_true", help="print JSON for scripts")
    clean.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


@dataclass(frozen=True, slots=True)
class _Context:
    host: HostFacts
    profile: Profile
    view: HostView


def _view(ns: argparse.Namespace, env: Mapping[str, str], project_dir: Path) -> HostView:
    if ns.snapshot is not None:
        return load_snapshot(ns.snapshot)
    live = LiveHost(project_dir, env)
    live.ask_engine()
    return live


def _profile(
    ns: argparse.Namespace, env: Mapping[str, str], project_dir: Path, view: HostView
) -> Profile:
    os_class, arch, ci = detect_system(view)
    name = profile_name_from(_flags(ns), env, project_dir)
    return select_profile(load_profiles(), os=os_class, arch=arch, ci=ci, name=name)


def _see_host(ns: argparse.Namespace, env: Mapping[str, str], project_dir: Path) -> _Context:
    view = _view(ns, env, project_dir)
    profile = _profile(ns, env, project_dir, view)
    host = detect_host(view, slow_stat_us=profile.thresholds.slow_stat_us)
    return _Context(host=host, profile=profile, view=view)


def _flags(ns: argparse.Namespace) -> dict[str, object]:
    """Only what the user typed: the cascade fills in the rest."""
    flags: dict[str, object] = {}
    for key in ("dockerfile", "context", "build_target", "builder", "profile", "sources"):
        if getattr(ns, key, None) is not None:
            flags[key] = getattr(ns, key)
    for key in ("run_image",):
        if getattr(ns, key, None) is not None:
            flags[key] = getattr(ns, key)
    for key in ("targets", "tags", "strategy", "build_args", "keep", "collect"):
        if getattr(ns, key, None):
            flags[key] = getattr(ns, key)
    if getattr(ns, "use_template", None):
        flags["use_template"] = True
    if getattr(ns, "load", None):
        flags["output"] = "load"
    elif getattr(ns, "push", None):
        flags["output"] = "push"
    elif getattr(ns, "output_dir", None):
        flags["output"] = "dir"
        flags["output_dir"] = str(Path(ns.output_dir).absolute())
    return flags


def _prepare(
    ns: argparse.Namespace, env: Mapping[str, str]
) -> tuple[_Context, Options, ProjectFacts, Plan]:
    project_dir = (ns.project or Path.cwd()).absolute()
    # the engine is asked in the background meanwhile (see _view): on a slow share, reading
    # the project is the long part
    view = _view(ns, env, project_dir)
    profile = _profile(ns, env, project_dir, view)
    options = load_options(project_dir=project_dir, flags=_flags(ns), env=env, profile=profile)
    view.stat_us()  # before the project is read, which could warm the caches it measures
    project = read_project(
        project_dir,
        dockerfile=options.dockerfile,
        context=options.context,
        build_target=options.build_target,
        use_template=options.use_template,
    )
    host = detect_host(view, slow_stat_us=profile.thresholds.slow_stat_us)
    seen = _Context(host=host, profile=profile, view=view)
    options = _with_measured_costs(options, project, env)
    state = workspace.state_path(env, project_dir)
    mirror = str(workspace.mirror_dir(state)) if state is not None else None
    return seen, options, project, plan_build(seen.host, project, options, mirror)


def _with_measured_costs(
    options: Options, project: ProjectFacts, env: Mapping[str, str]
) -> Options:
    """This host's own emulation factor for this project, where earlier builds measured it."""
    path = history.history_file(env)
    if path is None or project.dockerfile is None:
        return options
    measured = history.emulation_factors(
        history.read(path), project=project.dir, dockerfile=project.dockerfile.path
    )
    if not measured:
        return options
    return replace(
        options,
        cost_qemu=measured["qemu"].factor if "qemu" in measured else options.cost_qemu,
        cost_rosetta=measured["rosetta"].factor if "rosetta" in measured else options.cost_rosetta,
        cost_origin=tuple((name, m.why) for name, m in measured.items()),
    )


def _remember(
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


def cmd_doctor(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    project_dir = (ns.project or Path.cwd()).absolute()
    seen = _see_host(ns, env, project_dir)
    if ns.save_snapshot is not None:
        assert isinstance(seen.view, LiveHost), "argparse keeps --snapshot and saving apart"
        save_snapshot(seen.view, ns.save_snapshot)
        console.err.print(f"snapshot of this host written to {ns.save_snapshot}")
    if ns.json:
        console.print_json({**seen.host.to_json(), "profile": seen.profile.name})
    else:
        console.doctor(seen.host, seen.profile.name)
    return 0


def cmd_plan(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    _, _, project, plan = _prepare(ns, env)
    if ns.json:
        console.print_json(plan.to_json())
    else:
        console.plan(plan, project)
    return 0


def cmd_build(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    if not ns.dry_run:
        engine.load_in_background()
    seen, _, project, plan = _prepare(ns, env)
    if ns.dry_run:
        if ns.json:
            console.print_json(plan.to_json())
        else:
            console.plan(plan, project)
            console.out.print("[dim]dry run: nothing was built[/]")
        return 0
    if ns.snapshot is not None:
        raise ConfigError(
            "a snapshot describes another host: buildorch cannot build on it",
            fix="add --dry-run to see the plan, or drop --snapshot to build here",
        )
    _require_engine(seen.host, env)
    if not ns.json:
        console.plan(plan, project)
    state = workspace.project_state(env, Path(project.dir)) if plan.mirror else None
    with console.LiveProgress(quiet=ns.json) as progress:
        report = execute(plan, env, progress, listing=project.listing, state=state)
    _remember(plan, report, project, env)
    if ns.json:
        console.print_json({"plan": plan.to_json(), "report": report.to_json()})
    else:
        console.summary(report)
    failed = next((r for r in report.results if not r.ok), None)
    if failed is not None:
        raise BuildFailedError(
            f"the build for {', '.join(failed.platforms)} failed",
            why="buildx said:\n" + "\n".join(failed.log_tail[-25:]),
            fix="fix the Dockerfile step above; `buildorch plan` shows how the build was run",
        )
    return 0


def _require_engine(host: HostFacts, env: Mapping[str, str]) -> None:
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


def cmd_init(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    project_dir = (ns.project or Path.cwd()).absolute()
    written = write_init(project_dir, project_languages(project_dir), force=ns.force)
    if ns.json:
        console.print_json([{"path": str(path), "why": why} for path, why in written])
    else:
        for path, why in written:
            console.out.print(f"wrote {path}: {why}")
        console.out.print("next: `buildorch plan` shows how each target will be built")
    return 0


def cmd_shortcuts(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    project_dir = (ns.project or Path.cwd()).absolute()
    # only the targets matter here, and they do not depend on the host: any profile does
    profile = load_profiles()[FALLBACK]
    options = load_options(project_dir=project_dir, flags=_flags(ns), env=env, profile=profile)
    targets = options.targets or SHARED_TARGETS
    spec = ShortcutSpec(
        targets=tuple(str(t) for t in targets),
        package_json=_read_text(project_dir / "package.json"),
        # only looked at (is it buildorch's? does it include buildorch.mk?), never rewritten
        makefile=_read_text(project_dir / "Makefile", errors="replace"),
    )
    written = write_all(project_dir, shortcuts(spec, force=ns.force), force=ns.force)
    advice = makefile_advice(spec)
    if ns.json:
        console.print_json([{"path": w.path, "outcome": w.outcome, "why": w.why} for w in written])
        return 0
    for item in written:
        # paths whole on one line, to copy; `[` in a folder name is not markup
        console.out.print(
            f"{item.outcome} {project_dir / item.path}: {item.why}", markup=False, soft_wrap=True
        )
    if advice is not None:
        console.out.print(f"next: {advice}", markup=False, soft_wrap=True)
    return 0


def _read_text(path: Path, errors: str = "strict") -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors=errors)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(
            f"cannot read {path}",
            why=str(exc),
            fix="make it a readable UTF-8 file, then run again",
        ) from exc


def cmd_run(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    if not ns.dry_run:
        engine.load_in_background()
    project_dir = (ns.project or Path.cwd()).absolute()
    seen = _see_host(ns, env, project_dir)
    options = load_options(project_dir=project_dir, flags=_flags(ns), env=env, profile=seen.profile)
    command = tuple(ns.run_command[1:] if ns.run_command[:1] == ["--"] else ns.run_command)
    project_id = workspace.project_id(project_dir)
    context_dir = (project_dir / options.context).resolve()
    plan = plan_run(
        seen.host,
        options,
        command=command,
        source_dir=str(context_dir),
        project_id=project_id,
        languages=project_languages(project_dir),
    )
    if ns.json and ns.dry_run:
        console.print_json(plan.to_json())
        return 0
    if not ns.json:
        console.run_plan(plan)
    if ns.dry_run:
        return 0
    if ns.snapshot is not None:
        raise ConfigError(
            "a snapshot describes another host: buildorch cannot run on it",
            fix="add --dry-run to see the plan, or drop --snapshot to run here",
        )
    _require_engine(seen.host, env)
    survey = survey_context(context_dir, None, None, skip=tuple(p for p, _ in plan.keep))
    state = workspace.project_state(env, project_dir)
    report = execute_run(plan, survey.listing, state, project_id, env, console.RunOutput(ns.json))
    if ns.json:
        console.print_json({"plan": plan.to_json(), "report": report.to_json()})
    else:
        console.run_summary(plan, report)
    if report.exit_code != 0:
        raise BuildFailedError(
            f"`{' '.join(command)}` exited with {report.exit_code}",
            why="the command failed in the container; its output is above",
            fix="fix the failure, then run again (only changed files are copied in)",
        )
    return 0


def cmd_clean(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    known = workspace.known_projects(env)
    if ns.all:
        chosen = known
    else:
        project_dir = (ns.project or Path.cwd()).absolute()
        chosen = {workspace.project_id(project_dir): project_dir}
    removed: list[tuple[Path, list[str], int]] = []
    up = _engine_up(env)
    for project_id, project_dir in chosen.items():
        state = workspace.state_path(env, project_dir)
        volumes = engine.project_volumes(workspace.LABEL, project_id, env) if up else []
        freed = 0
        with (
            workspace.locked(state, console.err.print)
            if state is not None and state.is_dir()
            else contextlib.nullcontext()
        ):
            engine.remove_volumes(volumes, env)
            if state is not None and state.is_dir():
                freed = workspace.remove_state(state)
        if volumes or freed:
            removed.append((project_dir, volumes, freed))
    if ns.json:
        console.print_json(
            [{"project": str(p), "volumes": v, "freed_bytes": f} for p, v, f in removed]
        )
        return 0
    if not removed:
        console.out.print("nothing to remove: buildorch keeps nothing for this project")
    for project_dir, volumes, freed in removed:
        console.out.print(
            f"removed for {project_dir}: its mirror and records ({freed / 1e6:.1f} MB); "
            f"volumes: {', '.join(volumes) or 'none'}"
        )
    if not up:
        console.err.print("[yellow]note:[/] the engine is not reachable: volumes were left")
    return 0


def _ci_plan(ns: argparse.Namespace, env: Mapping[str, str]) -> tuple[Path, CiPlan]:
    """The workflow's plan, and the repository's top (where .github/ lives)."""
    project_dir = (ns.project or Path.cwd()).absolute()
    # the runners' own profile: what this machine is does not matter to them
    profile = load_profiles()["github-actions"]
    options = load_options(project_dir=project_dir, flags=_flags(ns), env=env, profile=profile)
    project = read_project(
        project_dir,
        dockerfile=options.dockerfile,
        context=options.context,
        build_target=options.build_target,
    )
    root = next(
        (d for d in (project_dir, *project_dir.parents) if (d / ".git").exists()), project_dir
    )
    return root, plan_ci(project, options, repo_root=str(root))


def cmd_ci(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    root, plan = _ci_plan(ns, env)
    generated = workflow(plan)
    if ns.dry_run:
        sys.stdout.write(generated.text)
        return 0
    written = write_all(root, [generated], force=ns.force)
    if ns.json:
        console.print_json(
            {
                "files": [{"path": w.path, "outcome": w.outcome} for w in written],
                "jobs": [
                    {"platform": str(j.platform), "runner": j.runner,
                     "strategy": j.strategy.value, "qemu": j.qemu, "why": j.why}
                    for j in plan.jobs
                ],
            }
        )  # fmt: skip
        return 0
    for item in written:
        console.out.print(f"{item.outcome} {root / item.path}: {item.why}")
    for job in plan.jobs:
        console.out.print(f"  {job.platform} on {job.runner}: {job.strategy} ({job.why})")
    if any(item.outcome != "unchanged" for item in written):
        console.out.print("next: commit it and push; `buildorch offload` runs it from here")
    return 0


def cmd_offload(ns: argparse.Namespace, env: Mapping[str, str]) -> int:
    root, plan = _ci_plan(ns, env)
    if not plan.files:
        raise ConfigError(
            "offload brings back files, and this project's workflow only pushes images",
            why="buildorch.yaml or the flags name tags and no output folder",
            fix="add `output: {dir: out}` to buildorch.yaml, or run the workflow with "
            "`gh workflow run buildorch.yml` and pull the image",
        )
    wanted = parse_targets(ns.targets) if ns.targets else tuple(j.platform for j in plan.jobs)
    request = OffloadRequest(
        repo_root=root,
        ref=ns.ref or current_branch(root, env),
        artifacts=tuple((str(p), f"{plan.name}-{p.slug}") for p in wanted),
        output_dir=Path(ns.output_dir or root / "out").absolute(),
    )
    if (why := gh_ready(env)) is not None:
        console.err.print(f"[yellow]cannot offload from here:[/] {why}. The same by hand:")
        for step in manual_steps(request):
            sys.stdout.write(f"  {step}\n")  # commands to copy: never wrapped
        console.err.print("(install gh from https://cli.github.com and run `gh auth login`)")
        return EXIT_NO_GH
    if (warning := unpushed(root, request.ref, env)) is not None:
        console.err.print(f"[yellow]note:[/] {warning}")
    report = run_offload(request, env, console.err.print)
    if ns.json:
        console.print_json(
            {"run_id": report.run_id, "url": report.url, "seconds": round(report.seconds, 1),
             "downloaded": [{"platform": p, "dir": d} for p, d in report.downloaded]}
        )  # fmt: skip
        return 0
    for platform, folder in report.downloaded:
        console.out.print(f"{platform}: files in {folder}")
    console.out.print(f"run {report.url} took {report.seconds:.0f}s")
    return 0


def _engine_up(env: Mapping[str, str]) -> bool:
    probe = engine.probe_engine(env)
    return probe.info_json is not None and '"ServerVersion"' in probe.info_json


_COMMANDS = {
    "doctor": cmd_doctor,
    "plan": cmd_plan,
    "build": cmd_build,
    "init": cmd_init,
    "run": cmd_run,
    "clean": cmd_clean,
    "ci": cmd_ci,
    "offload": cmd_offload,
    "shortcuts": cmd_shortcuts,
}


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run one command; returns the exit code."""
    env = dict(os.environ if env is None else env)
    parser = build_parser()
    ns = parser.parse_args(argv)
    debug = ns.debug or env.get("BUILDORCH_DEBUG", "") not in ("", "0")
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        return _COMMANDS[ns.command](ns, env)
    except BuildorchError as exc:
        if debug:
            console.err.print_exception()
        console.error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        console.error(
            Interrupted(
                "interrupted",
                why="the running build was stopped and what buildorch created was removed",
            )
        )
        return Interrupted.exit_code
    except Exception as exc:
        if debug:
            raise
        console.err.print(f"[bold red]internal error:[/] {type(exc).__name__}: {exc}")
        console.err.print("[yellow]  fix:[/] rerun with --debug and report the traceback")
        return EXIT_INTERNAL


def main_entry() -> None:
    # `kill` should clean up like Ctrl-C does
    signal.signal(signal.SIGTERM, _interrupt)
    sys.exit(main())

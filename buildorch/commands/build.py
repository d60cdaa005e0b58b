"""`buildorch build`: plan, then build each target the chosen way, with live progress."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass

from buildorch import build_failures, console, engine, workspace
from buildorch.commands import Command, Planned
from buildorch.commands.args import Common, build_inputs, common_from, host_options
from buildorch.errors import (
    BuildorchError,
    ConfigError,
)
from buildorch.executor import BuildReport, execute
from buildorch.facts import EmulationFact, ProjectFacts
from buildorch.pipeline import Prepared, prepare_build, remember, require_engine
from buildorch.plan import Plan


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildInputs:
    common: Common
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildResult(Planned[Plan, BuildReport]):
    project: ProjectFacts


def declare(parser: argparse.ArgumentParser) -> None:
    host_options(parser)
    build_inputs(parser)
    parser.add_argument("--dry-run", action="store_true", help="plan and stop")


def inputs(ns: argparse.Namespace) -> BuildInputs:
    return BuildInputs(common=common_from(ns), dry_run=ns.dry_run)


def run(args: BuildInputs, env: Mapping[str, str]) -> BuildResult:
    common = args.common
    if not args.dry_run:
        engine.load_in_background()
    prepared = prepare_build(common.where, common.flags, env)
    plan, project = prepared.plan, prepared.project
    if args.dry_run:
        return BuildResult(plan=plan, project=project)
    if common.snapshot is not None:
        raise ConfigError(
            "a snapshot describes another host: buildorch cannot build on it",
            fix="add --dry-run to see the plan, or drop --snapshot to build here",
        )
    require_engine(prepared.seen.host, env)
    if not common.as_json:
        console.plan(plan, project)  # before the build: it is what the progress below follows
    report = run_build(prepared, env, quiet=common.as_json)
    failure = failure_of(report, emulation=prepared.seen.host.emulation)
    return BuildResult(plan=plan, project=project, report=report, failure=failure)


def run_build(prepared: Prepared, env: Mapping[str, str], *, quiet: bool) -> BuildReport:
    """Run a plan with live progress, and keep what it measured."""
    plan, project = prepared.plan, prepared.project
    state = workspace.project_state(env, prepared.mirror_key) if plan.mirror else None
    with console.LiveProgress(quiet=quiet) as progress:
        report = execute(plan, env, progress, listing=project.listing, state=state)
    remember(plan, report, project, env)
    return report


def failure_of(
    report: BuildReport, name: str = "", *, emulation: tuple[EmulationFact, ...] = ()
) -> BuildorchError | None:
    failed = next((r for r in report.results if not r.ok), None)
    return None if failed is None else build_failures.failure_of(failed, name, emulation)


def render(result: BuildResult) -> None:
    if result.report is None:
        console.plan(result.plan, result.project)
        console.out.print("[dim]dry run: nothing was built[/]")
    else:
        console.summary(result.report)


COMMAND = Command(
    name="build",
    help="build for the targets",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)

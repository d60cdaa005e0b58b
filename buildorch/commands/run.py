"""`buildorch run -- CMD`: a command in a container, on a copy of the sources in a volume."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from buildorch import console, engine, workspace
from buildorch.commands import Command, Planned
from buildorch.commands.args import Common, common_from, host_options, targets_option
from buildorch.config import load_options
from buildorch.context import survey_context
from buildorch.errors import BuildFailedError, ConfigError
from buildorch.pipeline import require_engine, see_host
from buildorch.plan import RunPlan, skipped_note
from buildorch.planner import plan_run
from buildorch.project import project_languages
from buildorch.runner import RunReport, execute_run


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInputs:
    common: Common
    command: tuple[str, ...]
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult(Planned[RunPlan, RunReport]):
    """`run`'s plan and, unless it was a dry run, what the command did."""


def declare(parser: argparse.ArgumentParser) -> None:
    host_options(parser)
    targets_option(
        parser,
        "the platform to run on: arm64, amd64, linux/arm/v7 (default: buildorch.yaml's "
        "target, else the engine's)",
    )
    parser.add_argument("--image", dest="run_image", help="the image to run the command in")
    parser.add_argument(
        "--keep",
        action="append",
        metavar="PATH",
        help="an output folder kept in a volume of its own between runs (default: target "
        "for Rust, node_modules for Node)",
    )
    parser.add_argument(
        "--collect", action="append", metavar="PATH", help="copy PATH back after the command"
    )
    parser.add_argument(
        "-o", "--output", dest="output_dir", metavar="DIR", help="where --collect goes"
    )
    parser.add_argument(
        "--sources",
        choices=["auto", "volume", "direct"],
        help="copy the sources into a volume (default) or bind-mount the project itself",
    )
    parser.add_argument("--dry-run", action="store_true", help="plan and stop")
    parser.add_argument(
        "run_command", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="what to run"
    )


def inputs(ns: argparse.Namespace) -> RunInputs:
    command = ns.run_command[1:] if ns.run_command[:1] == ["--"] else ns.run_command
    return RunInputs(common=common_from(ns), command=tuple(command), dry_run=ns.dry_run)


def run(args: RunInputs, env: Mapping[str, str]) -> RunResult:
    common = args.common
    if not args.dry_run:
        engine.load_in_background()
    seen = see_host(common.where, common.flags, env)
    options = load_options(project_dir=common.project_dir, flags=common.flags, env=env)
    project_id = workspace.project_id(common.project_dir)
    context_dir = (common.project_dir / options.context).resolve()
    plan = plan_run(
        seen.host,
        options,
        command=args.command,
        source_dir=str(context_dir),
        project_id=project_id,
        languages=project_languages(common.project_dir),
    )
    if args.dry_run:
        return RunResult(plan=plan)
    if common.snapshot is not None:
        raise ConfigError(
            "a snapshot describes another host: buildorch cannot run on it",
            fix="add --dry-run to see the plan, or drop --snapshot to run here",
        )
    require_engine(seen.host, env)
    if not common.as_json:
        console.run_plan(plan)  # before the command: its output follows
    survey = survey_context(context_dir, None, None, skip=tuple(p for p, _ in plan.keep))
    state = workspace.project_state(env, common.project_dir)
    output = console.RunOutput(common.as_json)
    if survey.special:
        output.note(skipped_note(survey.special))
    report = execute_run(plan, survey.listing, state, project_id, env, output)
    report = dataclasses.replace(report, skipped=survey.special)
    failure = None
    if report.exit_code != 0:
        failure = BuildFailedError(
            f"`{' '.join(args.command)}` exited with {report.exit_code}",
            why="the command failed in the container; its output is above",
            fix="fix the failure, then run again (only changed files are copied in)",
        )
    return RunResult(plan=plan, report=report, failure=failure)


def render(result: RunResult) -> None:
    if result.report is None:
        console.run_plan(result.plan)
    else:
        console.run_summary(result.plan, result.report)


COMMAND = Command(
    name="run",
    help="run a command in a container on a copy of the sources (`-- make`)",
    description="Run a command in a container of --image, working on the project's sources "
    "in a named volume (copied in, only what changed), as `docker run -v $PWD:/src` would "
    "without the slow bind mount. Results named by --collect come back to -o DIR.",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)

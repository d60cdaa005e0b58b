"""`buildorch offload`: build on GitHub's native runners with `gh`, and bring the files back."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildorch import console
from buildorch.commands import Command
from buildorch.commands.args import (
    Common,
    common_from,
    output_options,
    project_option,
    workflow_inputs,
)
from buildorch.commands.ci import ci_plan
from buildorch.errors import BuildorchError, ConfigError, OffloadUnavailable
from buildorch.offload import (
    Artifact,
    OffloadReport,
    OffloadRequest,
    current_branch,
    gh_ready,
    manual_steps,
    offload,
    unpushed,
)
from buildorch.platforms import parse_targets


@dataclass(frozen=True, slots=True, kw_only=True)
class OffloadInputs:
    common: Common
    targets: tuple[str, ...] = ()
    ref: str | None = None
    output_dir: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OffloadResult:
    report: OffloadReport | None = None
    manual_steps: tuple[str, ...] = ()  # what to run by hand, where gh cannot
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        if self.report is None:
            return None  # the steps by hand are the answer, JSON or not
        report = self.report
        return {
            "run_id": report.run_id, "url": report.url, "seconds": round(report.seconds, 1),
            "downloaded": [
                {"platform": a.platform, "dir": str(a.folder)} for a in report.downloaded
            ],
        }  # fmt: skip


def declare(parser: argparse.ArgumentParser) -> None:
    project_option(parser)
    workflow_inputs(parser)
    parser.add_argument("--ref", help="the branch to run on (default: the current one)")
    parser.add_argument(
        "-o", "--output", dest="output_dir", metavar="DIR", help="where files go (default: out)"
    )
    output_options(parser)


def inputs(ns: argparse.Namespace) -> OffloadInputs:
    return OffloadInputs(
        common=common_from(ns),
        targets=tuple(ns.targets or ()),
        ref=ns.ref,
        output_dir=Path(ns.output_dir) if ns.output_dir else None,
    )


def run(args: OffloadInputs, env: Mapping[str, str]) -> OffloadResult:
    root, plan = ci_plan(args.common, env)
    if not plan.files:
        raise ConfigError(
            "offload brings back files, and this project's workflow only pushes images",
            why="buildorch.yaml or the flags name tags and no output folder",
            fix="add `output: {dir: out}` to buildorch.yaml, or run the workflow with "
            "`gh workflow run buildorch.yml` and pull the image",
        )
    wanted = (
        parse_targets(list(args.targets)) if args.targets else tuple(j.platform for j in plan.jobs)
    )
    output_dir = (args.output_dir or root / "out").absolute()
    request = OffloadRequest(
        repo_root=root,
        ref=args.ref or current_branch(root, env),
        artifacts=tuple(
            Artifact(str(p), f"{plan.name}-{p.slug}", output_dir / p.slug) for p in wanted
        ),
    )
    if (why := gh_ready(env)) is not None:
        return OffloadResult(
            manual_steps=tuple(manual_steps(request)),
            failure=OffloadUnavailable(
                "cannot offload from here: the same by hand is printed above",
                why=why,
                fix="install gh from https://cli.github.com and run `gh auth login`, or run "
                "the steps above",
            ),
        )
    if (warning := unpushed(root, request.ref, env)) is not None:
        console.err.print(f"[yellow]note:[/] {warning}")
    return OffloadResult(report=offload(request, env, console.err.print))


def render(result: OffloadResult) -> None:
    for step in result.manual_steps:
        sys.stdout.write(f"  {step}\n")  # commands to copy: never wrapped
    if result.report is None:
        return
    for artifact in result.report.downloaded:
        console.out.print(f"{artifact.platform}: files in {artifact.folder}")
    console.out.print(f"run {result.report.url} took {result.report.seconds:.0f}s")


COMMAND = Command(
    name="offload",
    help="build on GitHub's native runners with `gh`, and download the files",
    description="Dispatch the workflow `buildorch ci github` wrote, wait for the run and "
    "download each target's files into -o DIR/<os>-<arch>. Without the GitHub CLI (or "
    "logged out) it prints the steps to do the same by hand and exits 9.",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)

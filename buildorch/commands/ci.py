"""`buildorch ci github`: the CI workflow for the same builds."""

from __future__ import annotations

import argparse
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
from buildorch.config import load_options
from buildorch.errors import BuildorchError
from buildorch.generate.bakefiles import bake_files
from buildorch.generate.files import Written, write_all
from buildorch.generate.workflow import workflow
from buildorch.plan import CiJob, CiPlan
from buildorch.planner import plan_ci
from buildorch.project import read_project


@dataclass(frozen=True, slots=True, kw_only=True)
class CiInputs:
    common: Common
    force: bool = False
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CiResult:
    root: Path
    plan: CiPlan
    written: tuple[Written, ...]
    text: str | None = None  # the workflow itself, for --dry-run
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        if self.text is not None:
            return None  # the workflow itself is the answer, JSON or not
        bake = self.plan.bake
        return {
            "files": [{"path": w.path, "outcome": w.outcome} for w in self.written],
            "jobs": _jobs_json(self.plan.jobs),
            "bake": None if bake is None else {"files": list(bake.files),
                                               "jobs": _jobs_json(bake.jobs)},
        }  # fmt: skip


def _jobs_json(jobs: tuple[CiJob, ...]) -> list[dict[str, Any]]:
    return [
        {"platform": str(j.platform), "runner": j.runner, "strategy": j.strategy.value,
         "qemu": j.qemu, "why": j.why}
        for j in jobs
    ]  # fmt: skip


def declare(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("provider", choices=["github"], help="the CI service")
    project_option(parser)
    workflow_inputs(parser)
    parser.add_argument("--force", action="store_true", help="replace a hand-edited workflow")
    parser.add_argument("--dry-run", action="store_true", help="print the workflow, write nothing")
    output_options(parser)


def inputs(ns: argparse.Namespace) -> CiInputs:
    return CiInputs(common=common_from(ns), force=ns.force, dry_run=ns.dry_run)


def ci_plan(
    common: Common, env: Mapping[str, str], *, with_bake: bool = False
) -> tuple[Path, CiPlan]:
    """The workflow's plan, and the repository's top (where .github/ lives). `with_bake`: the
    bake job too, for the targets of the project's bake or compose files."""
    # resolved, as the project's context and Dockerfile are: a symlink to the project, or a
    # Windows short name (C:\Users\RUNNER~1), names the same repository
    project_dir = common.project_dir.resolve()
    options = load_options(project_dir=project_dir, flags=common.flags, env=env)
    project = read_project(
        project_dir,
        dockerfile=options.dockerfile,
        context=options.context,
        build_target=options.build_target,
        build_args=options.build_args,
    )
    root = next(
        (d for d in (project_dir, *project_dir.parents) if (d / ".git").exists()), project_dir
    )
    own = project.dockerfile if project.template is None else None
    built = None if own is None else (Path(project.context), Path(own.path))
    found = bake_files(project_dir, own=built) if with_bake else ()
    return root, plan_ci(project, options, repo_root=str(root), bake_files=found)


def run(args: CiInputs, env: Mapping[str, str]) -> CiResult:
    root, plan = ci_plan(args.common, env, with_bake=True)
    generated = workflow(plan)
    if args.dry_run:
        return CiResult(root=root, plan=plan, written=(), text=generated.text)
    written = write_all(root, [generated], force=args.force)
    return CiResult(root=root, plan=plan, written=tuple(written))


def render(result: CiResult) -> None:
    if result.text is not None:
        console.write_raw(result.text)
        return
    for item in result.written:
        console.out.print(f"{item.outcome} {result.root / item.path}: {item.why}")
    for job in result.plan.jobs:
        console.out.print(f"  {job.platform} on {job.runner}: {job.strategy} ({job.why})")
    if result.plan.bake is not None:
        bake = result.plan.bake
        console.out.print(
            f"  bake: each target of {', '.join(bake.files)} on "
            + ", ".join(f"{job.platform} ({job.runner})" for job in bake.jobs)
        )
    if any(item.outcome != "unchanged" for item in result.written):
        console.out.print("next: commit it and push; `buildorch offload` runs it from here")


COMMAND = Command(
    name="ci",
    help="write the CI workflow for the same builds (`buildorch ci github`)",
    description="Write .github/workflows/buildorch.yml: one job per target platform on a "
    "native GitHub runner where one exists, images pushed by digest and joined, files "
    "uploaded per platform. Settings come from buildorch.yaml (`ci:` for runners and cache).",
    declare=declare,
    inputs=inputs,
    run=run,
    render=render,
)

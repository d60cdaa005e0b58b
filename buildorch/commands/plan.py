"""`buildorch plan`: how each target would be built, and why."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from buildorch import console
from buildorch.commands import Command
from buildorch.commands.args import Common, build_inputs, common_from, host_options
from buildorch.errors import BuildorchError
from buildorch.facts import ProjectFacts
from buildorch.pipeline import prepare_build
from buildorch.plan import Plan


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanResult:
    plan: Plan
    project: ProjectFacts
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        return self.plan.to_json()


def declare(parser: argparse.ArgumentParser) -> None:
    host_options(parser)
    build_inputs(parser)


def run(args: Common, env: Mapping[str, str]) -> PlanResult:
    prepared = prepare_build(args.where, args.flags, env)
    return PlanResult(plan=prepared.plan, project=prepared.project)


def render(result: PlanResult) -> None:
    console.plan(result.plan, result.project)


COMMAND = Command(
    name="plan",
    help="how each target would be built, and why",
    declare=declare,
    inputs=common_from,
    run=run,
    render=render,
)

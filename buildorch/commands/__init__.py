"""One module per command, in the manner of pipx: each declares its arguments, turns them into
typed inputs, runs with those and returns a result record, and renders that record for people.
`cli` parses, dispatches, prints the record (as JSON with `--json`) and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from buildorch.errors import BuildorchError


class Result(Protocol):
    """What a command returns: its JSON form, and the error it ends with, if any (printed after
    the result, so a failed build still shows its summary)."""

    @property
    def failure(self) -> BuildorchError | None: ...

    def to_json(self) -> Any:
        """The record for `--json`; None where the rendered text is the answer itself."""


class JsonRecord(Protocol):
    def to_json(self) -> Any: ...


PlanT = TypeVar("PlanT", bound=JsonRecord)
ReportT = TypeVar("ReportT", bound=JsonRecord)


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned(Generic[PlanT, ReportT]):
    """The result of a command that plans, then carries the plan out unless told not to.
    Subclassed per command: on Python 3.11 `Planned[A, B](...)` fails, as typing then sets
    an attribute on the frozen, slotted instance."""

    plan: PlanT
    report: ReportT | None = None  # None: planned only (--dry-run, or `plan` itself)
    failure: BuildorchError | None = None

    def to_json(self) -> Any:
        """The plan alone, as `plan --json` gives it, until it ran; then with its report."""
        if self.report is None:
            return self.plan.to_json()
        return plan_and_report(self.plan, self.report)


def plan_and_report(plan: JsonRecord, report: JsonRecord | None) -> dict[str, Any]:
    return {"plan": plan.to_json(), "report": None if report is None else report.to_json()}


InputsT = TypeVar("InputsT")
ResultT = TypeVar("ResultT", bound=Result)


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(Generic[InputsT, ResultT]):
    name: str
    help: str
    declare: Callable[[argparse.ArgumentParser], None]
    inputs: Callable[[argparse.Namespace], InputsT]
    run: Callable[[InputsT, Mapping[str, str]], ResultT]
    render: Callable[[ResultT], None]
    description: str | None = None

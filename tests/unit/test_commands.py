"""What the commands share: the JSON of a plan and of what carrying it out reported."""

from __future__ import annotations

from dataclasses import dataclass

from buildorch.commands import Planned, plan_and_report


@dataclass(frozen=True)
class Record:
    name: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name}


def test_a_plan_alone_until_it_is_carried_out_then_with_its_report() -> None:
    planned: Planned[Record, Record] = Planned(plan=Record("plan"))
    assert planned.to_json() == {"name": "plan"}
    done: Planned[Record, Record] = Planned(plan=Record("plan"), report=Record("report"))
    assert done.to_json() == {"plan": {"name": "plan"}, "report": {"name": "report"}}


def test_a_plan_beside_a_report_that_is_null_until_it_ran() -> None:
    assert plan_and_report(Record("plan"), None) == {"plan": {"name": "plan"}, "report": None}

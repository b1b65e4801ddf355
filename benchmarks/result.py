"""What a scenario hands back: table rows, targets with their verdict, notes and raw details."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class Target:
    """A goal of the issue: ``value`` compared with ``goal`` (``at_least`` or ``at_most``)."""

    name: str
    value: float | None
    goal: float
    direction: str = "at_least"
    unit: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.goal if self.direction == "at_least" else self.value <= self.goal

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "goal": self.goal, "direction": self.direction,
                "unit": self.unit, "met": self.met}


@dataclasses.dataclass
class Result:
    """One scenario's outcome. ``rows`` share their keys, which become the columns of its table."""

    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    targets: list[Target] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    status: str = "ok"  # ok | skipped | error

    @classmethod
    def skipped(cls, why: str) -> Result:
        return cls(notes=[why], status="skipped")

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "rows": self.rows, "targets": [t.as_dict() for t in self.targets],
                "notes": self.notes, "details": self.details}

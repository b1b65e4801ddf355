"""Markdown for a result document: a targets summary, then one table per scenario."""

from __future__ import annotations

from typing import Any


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        magnitude = abs(value)
        if magnitude >= 100:
            return f"{value:,.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        if magnitude >= 0.01 or value == 0:
            return f"{value:.3g}" if magnitude < 1 else f"{value:.2f}"
        return f"{value:.2e}"
    return str(value).replace("|", "\\|")


def table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return lines


def verdict(target: dict[str, Any]) -> str:
    return {True: "met", False: "not met", None: "–"}[target["met"]]


def targets_table(document: dict[str, Any]) -> list[str]:
    rows = []
    for name, scenario in document["scenarios"].items():
        for t in scenario.get("targets", []):
            goal = ("≥ " if t["direction"] == "at_least" else "≤ ") + fmt(float(t["goal"])) + t["unit"]
            value = fmt(t["value"]) + t["unit"] if t["value"] is not None else "–"
            rows.append({"scenario": name, "target": t["name"], "value": value, "goal": goal, "result": verdict(t)})
    return table(rows)


def markdown(document: dict[str, Any]) -> str:
    m = document["machine"]
    gpu = m["gpu"]["name"] if m.get("gpu") else "none"
    lines = [f"# genkit benchmarks ({document['mode']})", "",
             f"`{document['command']}` on {m['date']}: {m['cpu']} ({m['cores']} cores, {m['threads_used']} threads "
             f"used), GPU: {gpu}, torch {m['torch']}, onnxruntime {m['onnxruntime']}, load average "
             f"{m.get('load_average')}", ""]
    summary = targets_table(document)
    if summary:
        lines += ["## Targets", ""]
        if document.get("mode") != "full":
            # Few rounds of small windows: a smoke test of the suite, not a measurement to judge by.
            lines += [f"*{document.get('mode')} mode: a few short rounds each; the verdicts come from a full run "
                      "(`python -m benchmarks`).*", ""]
        lines += [*summary, ""]
    for name, scenario in document["scenarios"].items():
        lines += [f"## {scenario.get('title', name)} (`{name}`)", ""]
        if scenario["status"] != "ok":
            lines += [f"*{scenario['status']}*", ""]
        lines += table(scenario.get("rows", []))
        lines += [""] + [f"- {note}" for note in scenario.get("notes", [])]
        lines += [f"- {scenario.get('seconds', 0):.0f} s", ""]
    return "\n".join(lines).rstrip() + "\n"

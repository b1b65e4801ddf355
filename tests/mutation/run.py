"""Mutation testing of the numeric core: how many deliberately wrong versions of it the test suite catches.

``python tests/mutation/run.py [GROUP ...]`` (or ``tox -e mutation``) runs cosmic-ray over each group
of modules below with the group's own tests: every mutant (``+`` for ``-``, ``<`` for ``<=``, a number
changed by one, a loop that never runs, ...) is applied to the file on disk, the tests run, and the
file is restored. A mutant is *killed* when the tests fail. The summary gives the share killed per
module and lists every survivor, and is written as JSON to ``.mutation/report.json``.

Left out are mutants that say nothing about the tests: replacements by bitwise and shift operators,
which on this code only raise type errors (killed trivially, they would inflate the score); mutations
of ``|``, which here only builds type annotations (``X | None``, never evaluated under ``from
__future__ import annotations``, so each would survive without meaning anything); and removed
decorators, which here are structural (``abstractmethod``, ``dataclass``, ``property``, ``no_grad``).

Outside the groups: ``genkit/training/global_batch_norm.py`` needs a process group, so its tests start
processes (tests/test_distributed_weights.py), too slow to repeat for each mutant; and
``genkit/evaluation/normal.py`` (Φ and Φ⁻¹ for the latent-grid plot), whose final Halley step repairs
most changes to its approximation's coefficients, so its survivors would say little about the tests.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / ".mutation"
PYTEST = f"{sys.executable} -m pytest -x -q -p no:cacheprovider -p no:randomly"

# group -> (modules to mutate, tests that guard them); paths relative to the repository root
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "losses": (["plugins/vae/loss.py", "plugins/ae/loss.py"],
               ["tests/reference/test_losses.py"]),
    "samplers": (["plugins/vae/sampler.py", "plugins/ae/sampler.py", "genkit/contract/components.py",
                  "genkit/runtime/prior.py"],
                 ["tests/reference/test_samplers.py"]),
    "evaluation": (["genkit/evaluation/latent.py", "genkit/evaluation/frechet.py", "genkit/evaluation/manifold.py",
                    "genkit/evaluation/generation.py", "genkit/evaluation/reconstruction.py"],
                   ["tests/reference/test_latent_metrics.py", "tests/reference/test_frechet.py",
                    "tests/reference/test_precision_recall.py", "tests/reference/test_classifier_metrics.py",
                    "tests/reference/test_reconstruction_metrics.py", "tests/reference/test_metric_boundaries.py"]),
    "distributed": (["genkit/training/sharding.py", "genkit/training/global_batch_noise.py"],
                    ["tests/test_sharding.py", "tests/test_global_batch_noise.py"]),
}

EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_.*_(BitOr|BitAnd|BitXor|LShift|RShift)$",
    r"core/ReplaceBinaryOperator_BitOr_.*",
    r"core/RemoveDecorator",
]


def config_text(modules: list[str], tests: list[str], timeout: float) -> str:
    quoted = ", ".join(json.dumps(m) for m in modules)
    excluded = ", ".join(json.dumps(e) for e in EXCLUDED_OPERATORS)
    return (f"[cosmic-ray]\nmodule-path = [{quoted}]\ntimeout = {timeout}\nexcluded-modules = []\n"
            f"test-command = {json.dumps(PYTEST + ' ' + ' '.join(tests))}\n\n"
            f"[cosmic-ray.distributor]\nname = \"local\"\n\n"
            f"[cosmic-ray.filters.operators-filter]\nexclude-operators = [{excluded}]\n")


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def run_group(name: str, modules: list[str], tests: list[str], timeout: float) -> list[dict]:
    WORK.mkdir(exist_ok=True)
    config, session = WORK / f"{name}.toml", WORK / f"{name}.sqlite"
    config.write_text(config_text(modules, tests, timeout))
    session.unlink(missing_ok=True)
    steps = [[tool("cosmic-ray"), "init", str(config), str(session)],
             [tool("cr-filter-operators"), str(session), str(config)],
             [tool("cr-filter-pragma"), str(session)],
             [tool("cosmic-ray"), "baseline", str(config)],
             [tool("cosmic-ray"), "exec", str(config), str(session)]]
    # No bytecode from a mutant: a cached .pyc of one mutant must never stand in for the next
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for step in steps:
        done = subprocess.run(step, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"mutation: {' '.join(step[:2])} failed for {name}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return read_session(name, session)


def read_session(name: str, session: Path) -> list[dict]:
    """Each mutant of a cosmic-ray session: where, which operator, and what the tests made of it."""
    dump = subprocess.run([tool("cosmic-ray"), "dump", str(session)], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    results = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        mutation = item["mutations"][0]
        outcome = "pending" if result is None else (
            "skipped" if result["worker_outcome"] == "skipped" else result["test_outcome"] or result["worker_outcome"])
        results.append({"group": name, "module": mutation["module_path"], "line": mutation["start_pos"][0],
                        "operator": mutation["operator_name"], "occurrence": mutation["occurrence"],
                        "outcome": outcome})
    return results


def summarise(results: list[dict]) -> dict:
    per_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in results:
        per_module[r["module"]][r["outcome"]] += 1
    table = {}
    for module, counts in sorted(per_module.items()):
        killed, survived = counts["killed"], counts["survived"]
        tested = killed + survived + counts["incompetent"]
        table[module] = {"killed": killed + counts["incompetent"], "survived": survived, "tested": tested,
                         "score": round((tested - survived) / tested, 4) if tested else None}
    killed = sum(v["killed"] for v in table.values())
    tested = sum(v["tested"] for v in table.values())
    return {"modules": table, "killed": killed, "tested": tested,
            "score": round(killed / tested, 4) if tested else None,
            "survivors": [r for r in results if r["outcome"] == "survived"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="*", help=f"groups to run (default: all of {', '.join(GROUPS)})")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds one test run may take")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    for name in args.groups or GROUPS:
        modules, tests = GROUPS[name]
        started = time.monotonic()
        print(f"{name}: mutating {', '.join(modules)}", flush=True)
        group = run_group(name, modules, tests, args.timeout)
        counts = collections.Counter(r["outcome"] for r in group)
        print(f"{name}: {dict(counts)} in {time.monotonic() - started:.0f} s", flush=True)
        (WORK / f"{name}.json").write_text(json.dumps(group) + "\n")
    # The report covers every group whose last run is on disk, so groups can be re-run one at a time
    results = [r for name in GROUPS if (WORK / f"{name}.json").exists()
               for r in json.loads((WORK / f"{name}.json").read_text())]
    report = summarise(results)
    (WORK / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n| module | killed | survived | score |\n|---|---|---|---|")
    for module, row in report["modules"].items():
        print(f"| {module} | {row['killed']} | {row['survived']} | {row['score']:.1%} |")
    print(f"| all | {report['killed']} | {report['tested'] - report['killed']} | {report['score']:.1%} |\n")
    for s in report["survivors"]:
        print(f"survived: {s['module']}:{s['line']} {s['operator']} #{s['occurrence']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

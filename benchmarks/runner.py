"""``python -m benchmarks [NAMES...] [--quick]`` and ``genkit bench``: run scenarios, save and print results.

Every run writes one JSON document to ``benchmarks/results/`` (or ``--out``): the machine, the mode,
the command, and per scenario its rows, targets, notes and raw samples; ``$OUT``, where set, gets a
copy and its markdown. The markdown tables go to stdout, progress to stderr. A scenario that fails is
recorded as an error and the others still run; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from genkit.files import atomic
from genkit.files.outputs import make_parent

from . import scenarios
from .context import Context
from .figures import figures, write_figures
from .report import markdown
from .result import Result
from .sizes import SIZES

RESULTS = Path(__file__).resolve().parent / "results"
FORMAT = 1


def parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Run genkit's benchmark scenarios.")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"scenarios to run (default: all): {', '.join(scenarios.ORDER)}")
    p.add_argument("--quick", action="store_const", const="quick", dest="mode",
                   help="small settings: under two minutes on two cores")
    p.add_argument("--tiny", action="store_const", const="tiny", dest="mode", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=2, help="CPU threads for torch and onnxruntime (default: 2)")
    p.add_argument("--out", type=Path, default=None, help=f"folder for the result JSON (default: {RESULTS})")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.set_defaults(mode="full")
    return p


def run_scenarios(names: list[str], ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        module = scenarios.load(name)
        ctx.log(f"[{name}] {module.TITLE}")
        started = time.perf_counter()
        try:
            result: Result = module.run(ctx)
        except Exception as exc:  # one broken scenario must not cost the results of the others
            traceback.print_exc(file=sys.stderr)
            result = Result(notes=[f"error: {type(exc).__name__}: {exc}"], status="error")
        record = {"title": module.TITLE, **result.as_dict(), "seconds": time.perf_counter() - started}
        out[name] = record
        ctx.log(f"[{name}] {record['status']} in {record['seconds']:.0f} s")
    return out


def write(document: dict[str, Any], folder: Path) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    names = document["names"]
    tag = "all" if list(names) == list(scenarios.ORDER) else "-".join(names)
    path = folder / f"{stamp}-{document['mode']}-{tag}.json"
    atomic.write_text(path, json.dumps(document, indent=1, default=_plain) + "\n")
    return path


def main(argv: list[str] | None = None, prog: str = "python -m benchmarks") -> int:
    args = parser(prog).parse_args(argv)
    if args.list:
        for name in scenarios.ORDER:
            print(f"{name:14s} {scenarios.load(name).TITLE}")
        return 0
    unknown = [n for n in args.names if n not in scenarios.ORDER]
    if unknown:
        print(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(scenarios.ORDER)}", file=sys.stderr)
        return 2
    names = [n for n in scenarios.ORDER if n in args.names] if args.names else list(scenarios.ORDER)

    import torch

    from .machine import describe

    torch.set_num_threads(args.threads)
    command = " ".join([prog, *(argv if argv is not None else sys.argv[1:])])
    atomic.check_writable((args.out or RESULTS) / "result.json")  # now, not after the scenarios have run
    if args.out is not None:
        make_parent(args.out)  # the folders above the one named are made, and named
    workdir = Path(tempfile.mkdtemp(prefix="genkit-bench-"))
    try:
        ctx = Context(SIZES[args.mode], args.threads, workdir)
        machine = describe(args.threads)
        found = run_scenarios(names, ctx)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    document = {"format": FORMAT, "suite": "genkit", "mode": args.mode, "command": command, "names": names,
                "machine": machine, "notes": ctx.notes, "scenarios": found}
    text = markdown(document)
    path = write(document, args.out or RESULTS)
    pictures = figures(document)  # drawn once, written beside each copy of the JSON
    drawn = write_figures(pictures, path)
    if os.environ.get("OUT") and Path(os.environ["OUT"]).is_dir():
        copy = write(document, Path(os.environ["OUT"]))
        atomic.write_text(copy.with_suffix(".md"), text)
        write_figures(pictures, copy)
    print(text)
    print(f"results: {', '.join(str(p) for p in [path, *drawn])}", file=sys.stderr)
    return 1 if any(s["status"] == "error" for s in found.values()) else 0


def _plain(value: Any) -> Any:
    """JSON for what json does not know (numpy numbers, paths)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)

"""Start-up: wall time of short ``genkit`` commands in a fresh process, as a user types them.

Each command runs several times in turn (interleaved, so a burst of load hits all of them) and the
median is reported. One extra run of ``genkit --help`` under ``python -X importtime`` lists the
imports that cost the most, which is where to look when the target is missed.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ..context import Context
from ..result import Result, Target

NAME = "startup"
TITLE = "Start-up time of the command line"
HELP_GOAL_S = 0.3


def genkit_command() -> list[str]:
    """The console script next to this interpreter (what a user runs), else ``python -m genkit``."""
    script = Path(sys.executable).with_name("genkit")
    if script.is_file():
        return [str(script)]
    found = shutil.which("genkit")
    return [found] if found else [sys.executable, "-m", "genkit"]


def wall(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def slowest_imports(env: dict[str, str], count: int = 8) -> list[dict[str, object]]:
    """The modules with the largest cumulative import time during ``genkit --help``."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "genkit", "--help"], capture_output=True,
                          text=True, env=env, check=True)
    rows = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append({"module": match.group(4), "cumulative ms": int(match.group(2)) / 1000,
                         "depth": len(match.group(3)) // 2})
    rows = [r for r in rows if r["depth"] == 0]
    return sorted(rows, key=lambda r: -r["cumulative ms"])[:count]


def run(ctx: Context) -> Result:
    genkit = genkit_command()
    export = ctx.export_dir()
    out = ctx.workdir / "startup"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    commands = {
        "genkit --help": [*genkit, "--help"],
        "genkit plugins": [*genkit, "plugins"],
        "genkit generate EXPORT -n 64": [*genkit, "generate", str(export), "-n", "64", "-o", str(out / "grid.png"),
                                         "--provider", "cpu", "--threads", str(ctx.threads)],
    }
    for argv in commands.values():  # warm the file cache: the first start reads every module from disk
        wall(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(ctx.sizes.startup_repeats):
        for name, argv in commands.items():
            samples[name].append(wall(argv, env))
    rows = [{"command": name, "median s": statistics.median(values), "min s": min(values), "runs": len(values)}
            for name, values in samples.items()]
    help_s = statistics.median(samples["genkit --help"])
    imports = slowest_imports(env)
    return Result(rows=rows,
                  targets=[Target("genkit --help wall time", help_s, HELP_GOAL_S, "at_most", "s")],
                  notes=[f"command: {' '.join(genkit)}; the slowest imports of `genkit --help` are in details"],
                  details={"samples": samples, "help_imports": imports})

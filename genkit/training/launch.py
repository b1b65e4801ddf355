"""``genkit train --nproc N``: start N local workers of ``genkit train`` under torchrun's elastic agent.

The agent is torchrun's own (``torch.distributed.run``, the same code as ``python -m torch.distributed.run
--standalone``), run in this process rather than as a second program so that a failed or interrupted
launch ends with one line and the workers' exit code instead of torchrun's traceback. Each worker
runs ``python -m genkit train ARGS`` and finds its rank in the variables torchrun sets.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from genkit.errors import TrainingError

STOPPED_BY_SIGNAL = {128 + signal.SIGINT, 128 + signal.SIGTERM}


def torchrun_argv(train_args: list[str], nproc: int, max_restarts: int) -> list[str]:
    """The torchrun command line (without the program name) that runs ``genkit train TRAIN_ARGS``."""
    return ["--standalone", "--nproc-per-node", str(nproc), "--max-restarts", str(max_restarts),
            "--module", "genkit", "train", *train_args]


def _describe(exitcode: int) -> str:
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def launch(train_args: list[str], nproc: int, max_restarts: int, run_dir: Path) -> int:
    """Run the workers to the end; return the exit code (0, or 128 + signal when they were stopped).

    A worker failure raises ``TrainingError`` naming the ranks and saying how to continue ``run_dir``.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from genkit.run import checkpoint as ckpt

    # torchrun would give each worker one thread; sharing the cores out is a better default.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // nproc)))
    try:
        run(parse_args(torchrun_argv(train_args, nproc, max_restarts)))
    except SignalException as exc:  # Ctrl-C or SIGTERM reached the agent: it forwarded it to the workers
        return 128 + int(exc.sigval)
    except ChildFailedError as exc:
        codes = {failure.exitcode for failure in exc.failures.values()}
        if codes <= STOPPED_BY_SIGNAL:  # the workers stopped on a signal and saved a checkpoint
            return max(codes)
        ranks = "; ".join(f"rank {rank}: {_describe(f.exitcode)}" for rank, f in sorted(exc.failures.items()))
        restarts = f" after {max_restarts} restart(s)" if max_restarts else ""
        then = (f"continue from the last checkpoint with: genkit train --resume {run_dir} --nproc {nproc}"
                if ckpt.has_checkpoint(run_dir) else f"no checkpoint was written to {run_dir}")
        raise TrainingError(f"distributed training failed{restarts} ({ranks}); see the workers' messages "
                            f"above; {then}") from None
    return 0

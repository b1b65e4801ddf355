"""genkit's benchmark suite: scenarios, a runner and the committed results.

Run ``python -m benchmarks [NAMES...] [--quick]`` from the repository root, or ``genkit bench``. Each
scenario module in ``benchmarks/scenarios/`` measures one question (framework overhead, fast training,
roofline, inference, start-up, ablation, memory, GPU); comparisons are ratios of interleaved runs
taken in the same process, so other work on the machine affects both sides alike. Installed, the
folder is the package ``genkit_benchmarks``.
"""

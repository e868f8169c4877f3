"""Laurel's benchmarks: one module per workload, run by `bench/run.py`.

Every measurement runs in a fresh child process (see `worker.py`), so one
run's caches, heap and peak memory never leak into the next; the runner
interleaves the variants round by round, so machine noise hits Laurel, its
limit and its peer alike and the ratios between them hold.
"""

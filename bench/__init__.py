"""Benchmarks of teamchat, run with `make bench` (see bench/run.py and docs/performance.md).

Not tests: nothing here is collected by pytest, and every run uses its own database
(`teamchat_bench`) and Redis prefix (`tcbench`), never the test run's or the app's;
BENCH_INSTANCE names another set of them (bench/environment.py).
"""

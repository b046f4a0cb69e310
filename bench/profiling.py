"""Optional py-spy profiles of the server process while a benchmark runs.

`python -m bench.run --profile` writes collapsed stacks (one line per stack, with its
sample count; flamegraph.pl and speedscope read them) to var/bench/profiles/. Only the
thread holding the GIL is sampled: a daphne process runs its Python on one core at a
time, so that is where its CPU goes. py-spy is
not a dependency of teamchat: install it with `.venv/bin/pip install py-spy` first.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import environment

PROFILE_DIR = environment.DATA_DIR / "profiles"
SAMPLES_PER_SECOND = 200
_py_spy: str | None = None


def enable() -> None:
    global _py_spy
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if found is None:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    _py_spy = found


@contextmanager
def recorded(pid: int, name: str | None) -> Iterator[None]:
    """Sample `pid` while the block runs, if profiling was enabled and the block has a
    name; else do nothing."""
    if _py_spy is None or name is None:
        yield
        return
    output = PROFILE_DIR / f"{name}.txt"
    with open(PROFILE_DIR / f"{name}.log", "wb") as log:
        recorder = subprocess.Popen(
            [_py_spy, "record", "--pid", str(pid), "--gil", "--format", "raw", "--rate",
             str(SAMPLES_PER_SECOND), "--nonblocking", "--output", str(output)],
            stdout=log, stderr=log)
        try:
            yield
        finally:
            # py-spy writes its output when interrupted.
            recorder.send_signal(signal.SIGINT)
            try:
                recorder.wait(timeout=30)
            except subprocess.TimeoutExpired:
                recorder.kill()
                recorder.wait()
    print(f"  profile written to {output.relative_to(environment.ROOT)}", file=sys.stderr)

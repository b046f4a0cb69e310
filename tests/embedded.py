"""Run a test file again in the embedded mode (SQLite, no Redis), from a test of the
PostgreSQL run, for code with a path of its own on each database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def rerun_on_sqlite(test_file: str, *, deselect: str, passed: int | None = None) -> None:
    """Run `test_file` (its other tests, `-k "not <deselect>"`) on SQLite; fail with its
    output unless all pass (`passed` of them, if given)."""
    if connection.vendor == "sqlite":
        pytest.skip("this run is already the embedded mode")
    env = {key: value for key, value in os.environ.items()
           if key not in ("TEAMCHAT_REQUIRE_SERVICES", "DJANGO_SETTINGS_MODULE")
           and not key.startswith("PYTEST")}
    env.update({"DATABASE_URL": "", "REDIS_URL": ""})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:playwright",
         "-p", "no:randomly", test_file, "-k", f"not {deselect}"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "teamchat test services: SQLite" in result.stdout
    assert " passed" in result.stdout and "failed" not in result.stdout
    if passed is not None:
        assert f"{passed} passed" in result.stdout

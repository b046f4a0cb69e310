"""Two benchmark runs on one machine cannot meet: BENCH_INSTANCE gives a run its own
database, Redis prefix (keys and pub/sub channels) and data folder
(bench/environment.py). Run in a child process, as `make bench` would be, since the
module reads its environment when imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from redis import Redis

ROOT = Path(__file__).resolve().parents[2]
SHOW = ("import json; from bench import environment as e; print(json.dumps([e.DATABASE_NAME, "
        "e.CHANNEL_PREFIX, str(e.DATA_DIR.relative_to(e.ROOT)), e.REDIS_URL]))")


def bench_python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=60, check=False)


def test_an_instance_has_its_own_database_prefix_and_folder():
    usual = json.loads(bench_python(SHOW).stdout)
    other = json.loads(bench_python(SHOW, BENCH_INSTANCE="b2", BENCH_REDIS_DB="3").stdout)
    assert usual == ["teamchat_bench", "tcbench", "var/bench", "redis://127.0.0.1:6379/0"]
    assert other == ["teamchat_bench_b2", "tcbench_b2", "var/bench_b2", "redis://127.0.0.1:6379/3"]


@pytest.mark.parametrize(("name", "value"), [("BENCH_INSTANCE", "B;drop"),
                                             ("BENCH_INSTANCE", "x" * 17),
                                             ("BENCH_REDIS_DB", "0/1")])
def test_a_bad_instance_is_refused_naming_the_setting(name, value):
    refused = bench_python(SHOW, **{name: value})
    assert refused.returncode != 0
    assert name in refused.stderr and refused.stdout == ""


def test_clearing_a_runs_keys_leaves_another_instances_alone():
    """`tcbench_q7` clears its own keys, not those of `tcbench_q77` (a prefix of it)."""
    if not settings.TEST_USES_REDIS:
        pytest.skip("needs Redis (CI requires it)")
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    mine, neighbours = "tcbench_q7:1:presence", "tcbench_q77:1:presence"
    redis.set(mine, "1", ex=60)
    redis.set(neighbours, "1", ex=60)
    try:
        cleared = bench_python("from bench import environment as e; print(e.clear_redis())",
                               BENCH_INSTANCE="q7")
        assert cleared.returncode == 0, cleared.stderr
        assert int(cleared.stdout) >= 1
        assert not redis.exists(mine)
        assert redis.exists(neighbours)
    finally:
        redis.delete(mine, neighbours)

"""What the benchmarks ran on, and what the processes involved cost (Linux /proc)."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from bench import environment

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident memory of a process (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may contain spaces; the fields after it are fixed.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class CpuSample:
    busy: int
    total: int


def machine_cpu() -> CpuSample:
    """Jiffies the whole machine spent busy and in total (first line of /proc/stat)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return CpuSample(sum(values) - idle, sum(values))


def busy_share(before: CpuSample, after: CpuSample) -> float:
    total = after.total - before.total
    return (after.busy - before.busy) / total if total else 0.0


def background_load(seconds: float = 3.0) -> float:
    """How busy the machine is while the benchmark itself waits: other people's work,
    which the figures share the cores with."""
    before = machine_cpu()
    time.sleep(seconds)
    return busy_share(before, machine_cpu())


def redis_pid() -> int:
    from redis import Redis

    return int(Redis.from_url(environment.REDIS_URL).info("server")["process_id"])


@dataclass
class CpuUse:
    """CPU seconds each part used during a measurement, and the whole machine's share."""

    elapsed: float
    server: float
    database: float
    redis: float
    client: float
    machine_busy: float


class CpuMeter:
    """CPU used from now on by the server, the database backends serving the bench
    database, Redis and this process. Call sample() now and then: backends come and go
    (connections are recycled), and one is counted from when it is first seen."""

    def __init__(self, server_pid: int) -> None:
        import psycopg

        self._catalog = psycopg.connect(environment.BENCH_DSN, autocommit=True, connect_timeout=5)
        self.pids = {"server": server_pid, "redis": redis_pid()}
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.backends: dict[int, tuple[float, float]] = {}  # pid -> (first, last) CPU seen
        self.sample(starting=True)
        self.client = time.process_time()
        self.machine = machine_cpu()
        self.started = time.perf_counter()

    def sample(self, *, starting: bool = False) -> None:
        rows = self._catalog.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [environment.DATABASE_NAME]).fetchall()
        for (pid,) in rows:
            try:
                used = cpu_seconds(pid)
            except FileNotFoundError:
                continue
            # A backend that appears later was started during the measurement.
            first = self.backends.get(pid, (used if starting else 0.0, 0.0))[0]
            self.backends[pid] = (first, used)

    def read(self) -> CpuUse:
        self.sample()
        self._catalog.close()
        used = {name: cpu_seconds(pid) - self.start[name] for name, pid in self.pids.items()}
        return CpuUse(elapsed=time.perf_counter() - self.started, server=used["server"],
                      database=sum(last - first for first, last in self.backends.values()),
                      redis=used["redis"], client=time.process_time() - self.client,
                      machine_busy=busy_share(self.machine, machine_cpu()))


def round_trips(idle: float = 0.15, samples: int = 20) -> dict[str, tuple[float, float]]:
    """p50 ms of a trivial round trip to PostgreSQL and to Redis, back to back and after
    `idle` seconds of quiet. On virtual machines the second can be many times the first
    (every process involved has to be woken), which weighs on anything paced, such as
    the fan-out benchmark."""
    import psycopg
    from redis import Redis

    redis = Redis.from_url(environment.REDIS_URL)
    with psycopg.connect(environment.BENCH_DSN, autocommit=True, connect_timeout=5) as conn:
        calls = {"PostgreSQL SELECT 1": lambda: conn.execute("SELECT 1").fetchall(),
                 "Redis PING": redis.ping}
        return {name: (_p50_ms(call, 0.0, samples), _p50_ms(call, idle, samples))
                for name, call in calls.items()}


def _p50_ms(call: Any, pause: float, samples: int) -> float:
    took = []
    for _ in range(samples):
        time.sleep(pause)
        started = time.perf_counter()
        call()
        took.append(time.perf_counter() - started)
    return sorted(took)[len(took) // 2] * 1000


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _git_revision() -> str:
    try:
        revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=environment.ROOT,
                                  capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=environment.ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{revision} (with uncommitted changes)" if dirty else revision


def describe() -> dict[str, str]:
    """The machine and the versions of what ran, for the report."""
    from django.db import connection
    from redis import Redis

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    redis_version = Redis.from_url(environment.REDIS_URL).info("server")["redis_version"]
    packages = ", ".join(f"{name} {metadata.version(name)}"
                         for name in ("Django", "channels", "channels-redis", "daphne", "Twisted",
                                      "psycopg", "websockets"))
    trips = "; ".join(f"{name} {warm:.2f} ms back to back, {cold:.2f} ms after 0.15 s idle"
                      for name, (warm, cold) in round_trips().items())
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{_cpu_model()}, {os.cpu_count()} cores",
        "ram": f"{_ram_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": f"{postgres} (shared_buffers {shared_buffers}, over TCP on 127.0.0.1)",
        "redis": redis_version,
        "packages": packages,
        "round trips (p50)": trips,
        "revision": _git_revision(),
    }

"""Compliance export to JSON Lines: messages per second and the peak memory of the
process writing it.

Each export runs in a child process (`python -m bench.export --child …`), so that its
peak resident set size (ru_maxrss, from os.wait4 on that child alone) is the export's
and not the benchmark's. Ours is the real path of the console and of `manage.py
compliance_export`: `compliance.services.export_start(actor=None, format="jsonl",
in_background=False)` then `export_run()`, which streams the messages in batches into a
zip (JSON Lines, manifest, checksums) and saves it to storage. Storage is pointed at
var/bench/export/, deleted afterwards; the zip is first written to a temporary file in
FILE_UPLOAD_TEMP_DIR (the system's temporary folder unless set), which export_run
removes itself. The baseline, in the same kind of child process, streams the same rows
as JSON straight out of PostgreSQL (`COPY (SELECT row_to_json(…)) TO STDOUT`) into a
deflated zip entry: what the database and zlib alone take.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench import environment
from bench.stats import Row

AIM_MB = 300.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
QUICK_SLICE = 100_000
TARGET = environment.DATA_DIR / "export"
BASELINE_SQL = (
    "COPY (SELECT row_to_json(m) FROM (SELECT id, conversation_id, author_id, thread_root_id, "
    "seq, text, html, created_at, edited_at, deleted_at FROM messaging_message "
    "WHERE created_at >= %s ORDER BY id) m) TO STDOUT"
)


@dataclass(frozen=True)
class Exported:
    messages: int
    seconds: float
    peak_mb: float
    size_mb: float


def run(*, quick: bool) -> list[Row]:
    start = _slice_start(QUICK_SLICE if quick else None)
    try:
        ours = _child("ours", start)
        baseline = _child("baseline", start)
    finally:
        shutil.rmtree(TARGET, ignore_errors=True)
    ours_rate, base_rate = ours.messages / ours.seconds, baseline.messages / baseline.seconds
    scope = f"{ours.messages:,} messages" + (" (the newest, by created_at)" if start else "")
    return [
        Row(benchmark="export: JSON Lines, messages per second", measure="messages/s",
            ours=(ours_rate,), baseline=(base_rate,), baseline_name="COPY row_to_json into a zip",
            notes=[f"{scope} in {ours.seconds:.1f} s, a {ours.size_mb:.0f} MB zip; the baseline "
                   f"wrote {baseline.messages:,} rows in {baseline.seconds:.1f} s "
                   f"({baseline.size_mb:.0f} MB)"]),
        Row(benchmark="export: JSON Lines, peak memory of the exporting process",
            measure="peak RSS MB", ours=(ours.peak_mb,), baseline=(baseline.peak_mb,),
            baseline_name="COPY row_to_json into a zip", aim=f"< {AIM_MB:g} MB",
            met=ours.peak_mb < AIM_MB,
            notes=[f"ru_maxrss of the child process, Django and the app loaded included; {scope}"]),
    ]


def _slice_start(newest: int | None) -> datetime | None:
    """The created_at from which the newest `newest` messages lie; None for all."""
    if newest is None:
        return None
    from messaging.models import Message

    return (Message.objects.order_by("-created_at").values_list("created_at", flat=True)
            [newest - 1: newest].first())


def _child(mode: str, start: datetime | None) -> Exported:
    command = [sys.executable, "-m", "bench.export", "--child", mode]
    if start is not None:
        command += ["--start", start.isoformat()]
    env = {**os.environ, "MEDIA_ROOT": str(TARGET)}
    print(f"  export ({mode}) in a child process", file=sys.stderr, flush=True)
    process = subprocess.Popen(command, cwd=environment.ROOT, env=env, stdout=subprocess.PIPE)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"export child ({mode}) failed with exit code {process.returncode}")
    result = json.loads(output)
    # ru_maxrss is in kilobytes on Linux.
    return Exported(messages=result["messages"], seconds=result["seconds"],
                    peak_mb=usage.ru_maxrss / 1024, size_mb=result["bytes"] / 1e6)


def _export_ours(start: datetime | None) -> dict[str, Any]:
    from compliance import services

    job = services.export_start(actor=None, format="jsonl", start=start, in_background=False)
    started = time.perf_counter()
    job = services.export_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    size = job.size
    job.archive.delete(save=True)
    return {"messages": job.done, "seconds": seconds, "bytes": size}


def _export_baseline(start: datetime | None) -> dict[str, Any]:
    from django.db import connection

    TARGET.mkdir(parents=True, exist_ok=True)
    path = TARGET / "baseline.zip"
    rows = 0
    started = time.perf_counter()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive, \
            archive.open("messages.jsonl", "w", force_zip64=True) as out, \
            connection.cursor() as cursor, \
            cursor.copy(BASELINE_SQL, [start or EPOCH]) as copy:
        for block in copy:
            out.write(block)
            rows += bytes(block).count(b"\n")
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    path.unlink()
    return {"messages": rows, "seconds": seconds, "bytes": size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=["ours", "baseline"], required=True)
    parser.add_argument("--start", type=datetime.fromisoformat, default=None)
    args = parser.parse_args(argv)
    environment.configure()
    result = (_export_ours if args.child == "ours" else _export_baseline)(args.start)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

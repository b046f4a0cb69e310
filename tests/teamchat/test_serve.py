"""`make run`'s command on a fresh data directory (issue 34): it migrates, seeds the demo,
serves, and its last lines are the address (already answering) and the sign-in."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_ends_with_the_address_and_the_sign_in(tmp_path):
    port = free_port()
    env = {**os.environ, "DEBUG": "1", "DATABASE_URL": "", "REDIS_URL": "",
           "TEAMCHAT_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "teamchat.settings",
           "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--no-worker", "--port", str(port)], cwd=ROOT,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        # The address is announced once it answers.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert answer.status == 200
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=30)
    address, sign_in, _, ctrl_c = [line for line in lines if line.strip()][-4:]
    assert address.endswith(f"teamchat is running on http://127.0.0.1:{port}/"), lines
    assert sign_in.startswith("Sign in as the owner: olivia@"), lines
    assert ctrl_c.startswith("Press Ctrl-C"), lines
    assert (tmp_path / "demo-sign-in.txt").exists()

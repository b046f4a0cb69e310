"""Long-lived objects are frozen once daphne's application is loaded (teamchat.memory), so
the collector's oldest-generation passes no longer walk them in the middle of a request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _in_a_fresh_process(code: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_loading_the_asgi_application_freezes_what_start_up_made():
    out = _in_a_fresh_process(
        "import gc; before = gc.get_freeze_count()\n"
        "import teamchat.asgi, sys\n"
        "print(before, gc.get_freeze_count(), 'messaging.views' in sys.modules, gc.get_threshold()[0])")
    before, after, views_loaded, young = out.split()
    assert before == "0"
    # Django, Channels and every view module (loaded ahead of the first request).
    assert int(after) > 50_000
    assert views_loaded == "True"
    # Young collections far apart: each one sends fewer survivors up to the costly passes.
    assert int(young) == 10_000


def test_a_celery_worker_freezes_before_it_forks_its_pool():
    out = _in_a_fresh_process(
        "import gc\n"
        "from celery import signals; import teamchat.celery\n"
        "signals.worker_init.send(sender=None)\n"
        "print(gc.get_freeze_count(), gc.get_threshold()[0])")
    frozen, young = out.split()
    assert int(frozen) > 50_000 and int(young) == 10_000

"""`make run`: migrate, seed the demo on an empty database, then serve with daphne and run
the background worker (with its scheduler) beside it. Ctrl-C stops everything it started."""

from __future__ import annotations

import os
import signal
import socket

# Starts our own daphne and celery with sys.executable and fixed arguments.
import subprocess  # nosec B404
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from messaging.services.push import vapid_public_key
from teamchat.demo import DEMO_CREDENTIALS_FILE


class Command(BaseCommand):
    help = "Run teamchat: daphne on HOST:PORT plus a Celery worker and beat."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="Do not start Celery.")
        parser.add_argument("--no-demo", action="store_true", help="Do not seed demo data.")

    def handle(self, *args: Any, host: str, port: int, no_worker: bool, no_demo: bool,
               **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        vapid_public_key()  # the Web Push key pair, generated on the first start and kept
        if not no_demo:
            call_command("seed_demo")
        children: list[subprocess.Popen] = []
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if not no_worker:
            children.append(subprocess.Popen(  # nosec B603
                [sys.executable, "-m", "celery", "-A", "teamchat", "worker", "--beat",
                 "--pool=solo", "--loglevel=WARNING",
                 f"--schedule={settings.CELERY_BEAT_SCHEDULE_FILENAME}"],
                env=env,
            ))
        children.append(subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "daphne", "-b", host, "-p", str(port),
             "teamchat.asgi:application"],
            env=env,
        ))
        # Last on the screen: the address and the sign-in, once daphne answers (after the
        # worker's and daphne's own start-up lines).
        self._wait_until_listening(host, port, children)
        self._announce(host, port)
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.3)
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            self.stderr.write(f"A process stopped unexpectedly (exit {failed[0].returncode}).")
            sys.exit(1)

    @staticmethod
    def _wait_until_listening(host: str, port: int, children: list[subprocess.Popen],
                              seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and all(child.poll() is None for child in children):
            try:
                with socket.create_connection((host, port), timeout=0.5):
                    time.sleep(0.5)  # the worker's banner comes about then too
                    return
            except OSError:
                time.sleep(0.2)

    def _announce(self, host: str, port: int) -> None:
        self.stdout.write(self.style.SUCCESS(f"\nteamchat is running on http://{host}:{port}/"))
        credentials = settings.DATA_DIR / DEMO_CREDENTIALS_FILE
        if credentials.exists():
            self.stdout.write(credentials.read_text())
        self.stdout.write("Press Ctrl-C to stop.\n")

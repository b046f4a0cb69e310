"""Real daphne processes for tests that cross processes or drive a browser.

They serve the test database and share the test run's Redis prefix, so a service called
in the test process broadcasts to sockets held by these servers, and back.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a test server. Servers started side by side share the media
    folder beside their data folders, as processes in production share file storage."""
    db = settings.DATABASES["default"]
    database_url = (f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:"
                    f"{db['PORT']}/{db['NAME']}")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PYTEST") and key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update({
        "DJANGO_SETTINGS_MODULE": "teamchat.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "TEAMCHAT_CHANNEL_PREFIX": settings.CHANNEL_LAYER_PREFIX,
        "SECRET_KEY": settings.SECRET_KEY,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TEAMCHAT_DATA_DIR": str(data_dir),
        "MEDIA_ROOT": str(data_dir.parent / "media"),
        "TEAMCHAT_PRESENCE_GRACE_SECONDS": "1.5",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "EMAIL_URL": "consolemail://",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


@dataclass
class DaphneServer:
    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        host = "localhost" if self.tls else "127.0.0.1"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        host = "localhost" if self.tls else "127.0.0.1"
        return f"{'wss' if self.tls else 'ws'}://{host}:{self.port}/ws/"

    tls: tuple[Path, Path] | None = None  # certificate and key: serve https and wss

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def start(self, **extra_env: str) -> DaphneServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / f"daphne-{self.port}.log", "wb")  # noqa: SIM115
        if self.tls:
            cert, key = self.tls
            where = ["-e", f"ssl:{self.port}:privateKey={key}:certKey={cert}:interface=127.0.0.1"]
        else:
            where = ["-b", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", *where, "teamchat.asgi:application"],
            cwd=ROOT, env=server_env(self.data_dir, **extra_env), stdout=log, stderr=log,
        )
        context = None
        if self.tls:
            import ssl

            context = ssl.create_default_context(cafile=str(self.tls[0]))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {(self.data_dir / log.name).read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2,
                                            context=context) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"daphne on port {self.port} did not become healthy")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, signed by its own key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def wait_until_servers_idle(seconds: float = 15.0) -> None:
    """Until no other session on the test database runs a statement or holds a
    transaction open. A server may still be at work when a test ends (a send's on-commit
    jobs run after its message reached the browser); the flush that empties the database
    for the next test would meet it and deadlock. Through its own connection, so that it
    can run beside Playwright's event loop."""
    import psycopg
    from django.db import connection

    database = connection.settings_dict
    with psycopg.connect(host=database["HOST"] or None, port=database["PORT"] or None,
                         user=database["USER"] or None, password=database["PASSWORD"] or None,
                         dbname=database["NAME"], autocommit=True) as probe:
        deadline = time.monotonic() + seconds
        while probe.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the servers were still busy with the database"
            time.sleep(0.05)

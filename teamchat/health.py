"""GET /healthz: is each part teamchat depends on answering?"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from kombu import Connection

CHECK_TIMEOUT_SECONDS = 3.0


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"engine": connection.vendor}


async def _channel_layer() -> dict[str, Any]:
    layer = get_channel_layer()
    channel = await layer.new_channel("healthz.")
    await layer.send(channel, {"type": "healthz.ping"})
    message = await layer.receive(channel)
    if message.get("type") != "healthz.ping":
        raise RuntimeError("channel layer returned a different message")
    return {"backend": type(layer).__name__}


def _broker() -> dict[str, Any]:
    url = settings.CELERY_BROKER_URL
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    if url.startswith("filesystem"):
        folder = Path(options["data_folder_in"])
        if not folder.is_dir() or not folder.exists():
            raise RuntimeError(f"broker folder {folder} is missing")
    with Connection(url, transport_options=options, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return {"transport": url.split(":", 1)[0]}


async def _run(check: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as error:  # noqa: BLE001  (a health check reports every failure)
        reason = str(error) or type(error).__name__
        return {"ok": False, "error": reason[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1), **detail}


async def healthz(request: HttpRequest) -> JsonResponse:
    results = await asyncio.gather(
        _run(sync_to_async(_database, thread_sensitive=True)),
        _run(_channel_layer),
        _run(sync_to_async(_broker, thread_sensitive=False)),
    )
    checks = dict(zip(("database", "channel_layer", "broker"), results, strict=True))
    healthy = all(result["ok"] for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )

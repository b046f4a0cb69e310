"""Prometheus metrics at /metrics (docs/deploy.md, "Monitoring").

Hot paths only touch in-memory counters (no query, no I/O). The Celery queue depth is
read from the broker when Prometheus scrapes.

Every daphne process and every Celery worker is its own process with its own counters.
With PROMETHEUS_MULTIPROC_DIR set (to a folder all of them on one machine share, emptied
before they start), prometheus_client keeps the counters in files there and a scrape of
any one daphne process answers for all of them. It must be set in the environment before
the process starts: prometheus_client reads it on import.
"""

from __future__ import annotations

import atexit
import functools
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

WEBSOCKET_CONNECTIONS = Gauge(
    "teamchat_websocket_connections", "WebSocket connections open now.",
    multiprocess_mode="livesum")
MESSAGES_SENT = Counter(
    "teamchat_messages_sent", "Messages created, by the door they came in by.", ["origin"])
MESSAGES_DELIVERED = Counter(
    "teamchat_messages_delivered", "New-message frames handed to WebSocket connections.")
DELIVERY_LATENCY = Histogram(
    "teamchat_delivery_latency_seconds",
    "From a message's commit to its frame being handed to a recipient's socket.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
HUB_EVENTS = Counter(
    "teamchat_hub_events",
    "Conversation events passed to a socket by its process's hub: written at once, or "
    "queued for the socket's consumer (busy, or a gap to fill first).", ["path"])
HUB_AT_ONCE = HUB_EVENTS.labels("at_once")
HUB_QUEUED = HUB_EVENTS.labels("queued")
HTTP_REQUESTS = Counter(
    "teamchat_http_requests", "HTTP requests answered, by status class.", ["status"])
TASK_FAILURES = Counter(
    "teamchat_celery_task_failures", "Celery tasks that failed (after their retries).", ["task"])

if MULTIPROCESS:
    # A live gauge of a process that exited must not count any more.
    atexit.register(multiprocess.mark_process_dead, os.getpid())


# --- Recording (called from the hot paths) ---------------------------------------------------

def websocket_opened() -> None:
    WEBSOCKET_CONNECTIONS.inc()


def websocket_closed() -> None:
    WEBSOCKET_CONNECTIONS.dec()


def message_sent(origin: str) -> None:
    MESSAGES_SENT.labels(origin).inc()


def message_delivered(sent_at: float | None) -> None:
    MESSAGES_DELIVERED.inc()
    if sent_at is not None:
        DELIVERY_LATENCY.observe(max(0.0, time.time() - sent_at))


def hub_events_passed(at_once: int, queued: int) -> None:
    if at_once:
        HUB_AT_ONCE.inc(at_once)
    if queued:
        HUB_QUEUED.inc(queued)


def task_failed(sender: Any = None, **_: Any) -> None:
    """Celery's task_failure signal."""
    TASK_FAILURES.labels(getattr(sender, "name", None) or "unknown").inc()


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        HTTP_REQUESTS.labels(f"{response.status_code // 100}xx").inc()
        return response


# --- Scrape ---------------------------------------------------------------------------------------

class CeleryQueueCollector(Collector):
    """Tasks waiting in the default queue, read from a Redis broker at scrape time."""

    def __init__(self) -> None:
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            import redis

            self._client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2,
                                                socket_connect_timeout=2)
        return self._client

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
            return
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        try:
            depth = self._redis().llen(queue)
        except Exception as error:  # noqa: BLE001  (a scrape reports what it can)
            logger.warning("could not read the Celery queue length: %s", error)
            return
        family = GaugeMetricFamily("teamchat_celery_queue_depth",
                                   "Tasks waiting in the Celery queue.", labels=["queue"])
        family.add_metric([queue], depth)
        yield family


_queue_collector = CeleryQueueCollector()
# Collectors that apps above the ground floor add in AppConfig.ready() (core imports no
# app): each reads its figures when Prometheus scrapes.
_app_collectors: list[Collector] = []


def register_scrape_collector(collector: Collector) -> None:
    if collector not in _app_collectors:
        _app_collectors.append(collector)


def _registry() -> CollectorRegistry:
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_SingleProcess())
    registry.register(_queue_collector)
    for collector in _app_collectors:
        registry.register(collector)
    return registry


class _SingleProcess(Collector):
    """This process's own metrics (the default registry, with process and GC metrics)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "")
        if hmac.compare_digest(offered.encode(), f"Bearer {token}".encode()):
            return True
    if "X-Forwarded-For" in request.headers:
        # Came through the reverse proxy (whose address daphne replaces with the client's
        # from this header): only the token counts.
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


@functools.lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip()]


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics for the monitoring network or the holder of METRICS_TOKEN; anyone
    else finds nothing there."""
    if not _allowed(request):
        raise Http404
    # The text format Prometheus asks for (classic or OpenMetrics).
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(_registry()), content_type=content_type)

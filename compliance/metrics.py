"""The audit stream's lag on /metrics (core.metrics), read from the database at scrape
time: every process answers the same, with or without the multiprocess mode."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from compliance.selectors import audit_stream_lag
from compliance.services.stream import configured_collectors

logger = logging.getLogger(__name__)


class AuditStreamLagCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            names = [collector.name for collector in configured_collectors()]
            lags = audit_stream_lag(collectors=names) if names else []
        except Exception as error:  # noqa: BLE001  (a scrape reports what it can)
            logger.warning("could not read the audit stream's lag: %s", error)
            return
        if not lags:
            return
        events = GaugeMetricFamily("teamchat_audit_stream_lag_events",
                                   "Audit events not yet written to the collector.",
                                   labels=["collector"])
        seconds = GaugeMetricFamily("teamchat_audit_stream_lag_seconds",
                                    "How long the oldest audit event not yet written to the "
                                    "collector has waited (0 when none waits).",
                                    labels=["collector"])
        up = GaugeMetricFamily("teamchat_audit_stream_up",
                               "1 when the last attempt to write to the collector succeeded.",
                               labels=["collector"])
        for lag in lags:
            events.add_metric([lag.collector], lag.events)
            seconds.add_metric([lag.collector], lag.seconds)
            up.add_metric([lag.collector], 0 if lag.last_error else 1)
        yield events
        yield seconds
        yield up


collector = AuditStreamLagCollector()

"""The Celery application. Tasks are found in each app's tasks.py."""

import os
from typing import Any

from celery import Celery, signals

from core import batching, metrics, requestid

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "teamchat.settings")

app = Celery("teamchat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _use_django_logging(**_: Any) -> None:
    """Workers log through the project's LOGGING (its format, request ids and secret
    masking) instead of Celery replacing the root logger's handlers."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


# Request ids travel with tasks; failures are counted for /metrics. Connected here so
# that every process that publishes or runs tasks has them.
signals.before_task_publish.connect(requestid.add_request_id_header, weak=False)
signals.task_prerun.connect(requestid.restore_request_id, weak=False)
signals.task_postrun.connect(requestid.forget_request_id, weak=False)
signals.task_failure.connect(metrics.task_failed, weak=False)
# A pool's child process ends without running atexit: publish its sends' batched jobs.
signals.worker_process_shutdown.connect(batching.flush_all, weak=False)


@signals.worker_init.connect
def _settle(**_: Any) -> None:
    """In the worker's main process, before it forks its pool (whose processes inherit the
    frozen objects, without each touching them again) or runs tasks itself (the solo pool
    of `make run`): see teamchat.memory."""
    import django
    from django.apps import apps

    from teamchat.memory import settle_after_startup

    if not apps.ready:
        django.setup()
    settle_after_startup()

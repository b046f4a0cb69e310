"""The Celery application. Tasks are found in each app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "teamchat.settings")

app = Celery("teamchat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

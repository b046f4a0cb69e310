"""Uploaded files and the previews made of them."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def _blob_path(instance: Attachment, filename: str) -> str:
    # Storage names never carry the uploader's file name: no guessing, no collisions.
    return f"attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}"


def _preview_path(instance: Attachment, filename: str) -> str:
    return f"previews/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{filename[filename.rfind('.'):]}"


class FileKind(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    PDF = "pdf", "PDF"
    FILE = "file", "Other file"


class Attachment(models.Model):
    uploader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="attachments")
    # Null until the upload is posted with a message; never-posted uploads are removed
    # after a day (files.tasks.remove_unattached).
    message = models.ForeignKey("messaging.Message", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="attachments")
    name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    content_type = models.CharField(max_length=127)
    kind = models.CharField(max_length=8, choices=FileKind.choices, default=FileKind.FILE)
    sha256 = models.CharField(max_length=64)
    # The bytes as uploaded (the record); for images the served copy is `display`.
    blob = models.FileField(upload_to=_blob_path, max_length=255)
    # Images as served: orientation applied, every metadata field (EXIF location) gone.
    display = models.FileField(upload_to=_preview_path, max_length=255, blank=True)
    thumbnail = models.FileField(upload_to=_preview_path, max_length=255, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["uploader", "message"]),
            models.Index(fields=["message", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.size} bytes)"

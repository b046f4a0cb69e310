"""The JSON shape of a file, in messages and in the files API."""

from __future__ import annotations

from typing import Any

from files.models import Attachment


def attachment_payload(attachment: Attachment) -> dict[str, Any]:
    base = f"/api/v1/files/{attachment.pk}"
    thumbnail = f"{base}/thumbnail" if attachment.thumbnail else None
    preview_width = preview_height = None
    if attachment.width and attachment.height:
        scale = min(1.0, 640 / max(attachment.width, attachment.height))
        preview_width = round(attachment.width * scale)
        preview_height = round(attachment.height * scale)
    return {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "kind": attachment.kind,
        "width": attachment.width,
        "height": attachment.height,
        "duration_seconds": attachment.duration_seconds,
        "url": f"{base}/download",
        "download_url": f"{base}/download?download=1",
        "thumbnail_url": thumbnail,
        "preview_width": preview_width,
        "preview_height": preview_height,
        "message": attachment.message_id,
        "created_at": attachment.created_at.isoformat().replace("+00:00", "Z"),
    }

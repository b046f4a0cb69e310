"""Writes of the files app: accept an upload, make its previews, attach it to a message,
remove uploads nobody posted."""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from core import ratelimit
from core.errors import InvalidInput
from files import media
from files.models import Attachment, FileKind

logger = logging.getLogger(__name__)

MAX_FILES_PER_MESSAGE = 10
UNATTACHED_LIFETIME = timedelta(days=1)


def clean_file_name(name: str) -> str:
    """A file name safe to show and to put in a Content-Disposition header."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    return (name or "file")[:255]


def attachment_upload(*, uploader: User, upload: Any, imported: bool = False) -> Attachment:
    """Store an upload (streamed from Django's temporary file) after checking its size,
    the person's quota, its real type, and, for images, that decoding it is safe.

    `imported`: a file of history brought in by an import (integrations), stored for its
    original sender, who is not uploading it now: no rate limit and no quota."""
    if not imported:
        ratelimit.enforce("uploads", uploader.pk, settings.RATE_LIMIT_UPLOADS, "uploads")
    size = upload.size
    if size > settings.FILE_UPLOAD_MAX_BYTES:
        raise InvalidInput.for_field("file", f"Larger than the limit of "
                                             f"{settings.FILE_UPLOAD_MAX_BYTES} bytes.",
                                     code="too_large")
    if size == 0:
        raise InvalidInput.for_field("file", "The file is empty.")
    used = 0 if imported else (
        Attachment.objects.filter(uploader=uploader).aggregate(total=Sum("size"))["total"] or 0)
    if used + size > settings.FILE_QUOTA_BYTES:
        raise InvalidInput.for_field("file", "This would exceed your storage quota.",
                                     code="quota_exceeded")
    upload.seek(0)
    content_type = media.sniff(upload.read(8192))
    kind = media.kind_of(content_type)
    if kind == FileKind.IMAGE:
        try:
            info = media.check_image(upload)
        except media.MediaRejected as error:
            raise InvalidInput.for_field("file", str(error), code="unsafe_image") from None
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    attachment = Attachment(
        uploader=uploader, name=clean_file_name(upload.name), size=size,
        content_type=content_type, kind=kind, sha256=digest.hexdigest(),
    )
    if kind == FileKind.IMAGE:
        attachment.width, attachment.height = info.width, info.height
    attachment.blob.save("upload", File(upload), save=False)
    try:
        with transaction.atomic():
            attachment.save(force_insert=True)
            transaction.on_commit(lambda: _schedule_processing(attachment.pk))
    except Exception:
        attachment.blob.delete(save=False)
        raise
    if kind == FileKind.IMAGE:
        # Served images never carry EXIF location: make the clean copy before anyone
        # can download it, rather than waiting for the background job.
        attachment_process(attachment_id=attachment.pk)
        attachment.refresh_from_db()
    return attachment


def _schedule_processing(attachment_id: int) -> None:
    from files.tasks import process_attachment

    process_attachment.delay(attachment_id)


def attachment_process(*, attachment_id: int) -> Attachment | None:
    """Make the previews: a metadata-free display copy and a thumbnail for images,
    dimensions and a first frame for video, a first-page picture for PDF. Idempotent."""
    attachment = Attachment.objects.filter(pk=attachment_id).first()
    if attachment is None or attachment.processed_at is not None:
        return attachment
    previews: media.Previews | None = None
    try:
        with attachment.blob.open("rb") as stream:
            if attachment.kind == FileKind.IMAGE:
                previews = media.image_previews(stream, attachment.content_type)
            elif attachment.kind == FileKind.PDF:
                previews = media.pdf_previews(stream)
            elif attachment.kind == FileKind.VIDEO:
                previews = media.video_previews(stream)
    except Exception as error:  # noqa: BLE001  (a file we cannot preview is still a file)
        logger.warning("no preview for attachment %s: %s", attachment_id, error)
        previews = None
    fields = ["processed_at"]
    if previews is not None:
        if previews.display is not None:
            attachment.display.save(f"display{previews.display_suffix}",
                                    ContentFile(previews.display), save=False)
            fields.append("display")
        if previews.thumbnail is not None:
            attachment.thumbnail.save("thumbnail.webp", ContentFile(previews.thumbnail), save=False)
            fields.append("thumbnail")
        for name in ("width", "height", "duration_seconds"):
            value = getattr(previews, name)
            if value is not None:
                setattr(attachment, name, value)
                fields.append(name)
    attachment.processed_at = timezone.now()
    updated = Attachment.objects.filter(pk=attachment.pk, processed_at__isnull=True).update(
        **{name: getattr(attachment, name) for name in fields})
    if not updated:
        # Another worker finished first: drop the copies this run made.
        for field in ("display", "thumbnail"):
            if field in fields:
                getattr(attachment, field).delete(save=False)
    return attachment


def attachments_attach(*, author: User, message: Any, file_ids: Iterable[Any]) -> list[Attachment]:
    """Attach the author's own, not yet posted uploads to a message. Call inside the
    message's transaction."""
    try:
        ids = [int(pk) for pk in file_ids]
    except (TypeError, ValueError):
        raise InvalidInput.for_field("files", "Must be a list of file ids.") from None
    if not ids:
        return []
    if len(ids) > MAX_FILES_PER_MESSAGE:
        raise InvalidInput.for_field("files", f"At most {MAX_FILES_PER_MESSAGE} files per message.")
    attachments = list(Attachment.objects.select_for_update().filter(
        pk__in=ids, uploader=author, message__isnull=True))
    if len(attachments) != len(set(ids)):
        raise InvalidInput.for_field("files", "Some files are not your unposted uploads.")
    Attachment.objects.filter(pk__in=ids).update(message=message)
    order = {pk: index for index, pk in enumerate(ids)}
    attachments.sort(key=lambda a: order[a.pk])
    for attachment in attachments:
        attachment.message = message
    return attachments


def attachment_delete(*, attachment: Attachment) -> None:
    """Remove a file and its previews from storage and the database."""
    for field in (attachment.blob, attachment.display, attachment.thumbnail):
        if field:
            field.delete(save=False)
    attachment.delete()


def attachments_remove_unattached(*, older_than: timedelta = UNATTACHED_LIFETIME,
                                  batch: int = 500) -> int:
    """Remove uploads never posted with a message, after a day."""
    cutoff = timezone.now() - older_than
    removed = 0
    while True:
        stale = list(Attachment.objects.filter(message__isnull=True, created_at__lt=cutoff)
                     .order_by("id")[:batch])
        if not stale:
            return removed
        for attachment in stale:
            attachment_delete(attachment=attachment)
            removed += 1

"""Sending a file's bytes once access is settled: the app streams them, or nginx does
(X-Accel-Redirect), or the object store does (a short-lived signed URL).

Only a safelist of types displays inline; everything else, SVG and HTML included, is a
download served as application/octet-stream with nosniff and a sandboxing CSP, so no
upload can run as active content from teamchat's origin.
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse, HttpResponseRedirect

from files.media import INLINE_TYPES

SANDBOX_CSP = "default-src 'none'; sandbox"
PDF_CSP = "default-src 'none'; frame-ancestors 'self'"


def _disposition(kind: str, name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def avatar_response(field: FieldFile) -> HttpResponse:
    """A person's stored avatar PNG, inline (accounts asks it through a hook)."""
    return serve(field, name="avatar.png", content_type="image/png", download=False)


def serve(field: FieldFile, *, name: str, content_type: str, download: bool) -> HttpResponse:
    inline = content_type in INLINE_TYPES and not download
    served_type = content_type if inline else "application/octet-stream"
    disposition = _disposition("inline" if inline else "attachment", name)
    if settings.FILE_STORAGE_BACKEND == "s3":
        url = field.storage.url(field.name, parameters={
            "ResponseContentType": served_type, "ResponseContentDisposition": disposition,
        }, expire=settings.STORAGES["default"]["OPTIONS"]["querystring_expire"])
        response: HttpResponse = HttpResponseRedirect(url)
    elif settings.FILE_ACCEL_REDIRECT_PREFIX:
        response = HttpResponse(content_type=served_type)
        response["X-Accel-Redirect"] = settings.FILE_ACCEL_REDIRECT_PREFIX.rstrip("/") + "/" + field.name
    else:
        response = FileResponse(field.open("rb"), content_type=served_type)
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    if inline and content_type == "application/pdf":
        # The PDF viewer cannot run in a sandbox; a PDF still loads nothing else. The
        # client's file viewer frames it, so our own pages (and only they) may.
        response["Content-Security-Policy"] = PDF_CSP
        response["X-Frame-Options"] = "SAMEORIGIN"
    else:
        response["Content-Security-Policy"] = SANDBOX_CSP
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response

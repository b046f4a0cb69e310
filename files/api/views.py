"""REST doors of the files app."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput, NotFound
from files import selectors, services
from files.delivery import serve
from files.models import FileKind
from files.payloads import attachment_payload

FILE_SCHEMA = inline_serializer("File", {
    "id": serializers.IntegerField(), "name": serializers.CharField(),
    "size": serializers.IntegerField(), "content_type": serializers.CharField(),
    "kind": serializers.ChoiceField(choices=FileKind.choices),
    "width": serializers.IntegerField(allow_null=True), "height": serializers.IntegerField(allow_null=True),
    "duration_seconds": serializers.FloatField(allow_null=True),
    "url": serializers.CharField(), "download_url": serializers.CharField(),
    "thumbnail_url": serializers.CharField(allow_null=True),
    "preview_width": serializers.IntegerField(allow_null=True),
    "preview_height": serializers.IntegerField(allow_null=True),
    "message": serializers.IntegerField(allow_null=True), "created_at": serializers.DateTimeField(),
})


class FileUploadView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(summary="Upload a file (multipart field 'file'); post it with a message "
                           "within a day by passing its id in the message's 'files'",
                   request={"multipart/form-data": inline_serializer(
                       "FileUpload", {"file": serializers.FileField()})},
                   responses={201: FILE_SCHEMA})
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if getattr(request._request, "upload_rejected", None) == "too_large":
            from django.conf import settings

            raise InvalidInput.for_field(
                "file", f"Larger than the limit of {settings.FILE_UPLOAD_MAX_BYTES} bytes.",
                code="too_large")
        if upload is None:
            raise InvalidInput.for_field("file", "Attach the file as the multipart field 'file'.")
        attachment = services.attachment_upload(uploader=request.user, upload=upload)
        return Response(attachment_payload(attachment), status=status.HTTP_201_CREATED)


class FileDetailView(APIView):
    @extend_schema(summary="A file's metadata", responses=FILE_SCHEMA)
    def get(self, request: Request, file_id: int) -> Response:
        attachment = selectors.attachment_get_for_user(user=request.user, attachment_id=file_id)
        return Response(attachment_payload(attachment))


class FileDownloadView(APIView):
    @extend_schema(summary="A file's bytes (images without their metadata), in the file's own "
                           "content type; ?download=1 always downloads",
                   parameters=[OpenApiParameter("download", bool)],
                   responses={(200, "*/*"): bytes})
    def get(self, request: Request, file_id: int):
        attachment = selectors.attachment_get_for_user(user=request.user, attachment_id=file_id)
        download = request.query_params.get("download") in ("1", "true")
        if attachment.kind == FileKind.IMAGE:
            if not attachment.display:
                services.attachment_process(attachment_id=attachment.pk)
                attachment.refresh_from_db()
            if not attachment.display:
                raise NotFound("This image cannot be shown.")
            return serve(attachment.display, name=attachment.name,
                         content_type=attachment.content_type, download=download)
        return serve(attachment.blob, name=attachment.name, content_type=attachment.content_type,
                     download=download)


class FileThumbnailView(APIView):
    @extend_schema(summary="A small WebP preview of an image, video or PDF",
                   responses={(200, "image/webp"): bytes})
    def get(self, request: Request, file_id: int):
        attachment = selectors.attachment_get_for_user(user=request.user, attachment_id=file_id)
        if not attachment.thumbnail:
            raise NotFound("This file has no preview.")
        return serve(attachment.thumbnail, name=f"{attachment.name}.webp",
                     content_type="image/webp", download=False)

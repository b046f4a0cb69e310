"""An upload handler that stops an oversize upload while it streams in, so nothing of it
reaches storage and no more than the limit is ever buffered."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# Room for the multipart envelope and the other form fields around the file.
ENVELOPE_BYTES = 64 * 1024


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops an upload past `max_bytes` (FILE_UPLOAD_MAX_BYTES unless a view that takes
    larger files, such as the Slack import's, gives its own)."""

    def __init__(self, request: Any = None, max_bytes: int | None = None) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes

    @property
    def limit(self) -> int:
        return self.max_bytes if self.max_bytes is not None else settings.FILE_UPLOAD_MAX_BYTES

    def handle_raw_input(self, input_data: Any, META: dict, content_length: int,
                         boundary: bytes, encoding: str | None = None) -> None:
        self.received = 0
        self.too_large = content_length > self.limit + ENVELOPE_BYTES

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0
        if getattr(self, "too_large", False):
            self._refuse()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self._refuse()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def _refuse(self) -> None:
        if self.request is not None:
            self.request.upload_rejected = "too_large"
        # The rest of the body is read and discarded so the client gets the answer.
        raise StopUpload(connection_reset=False)

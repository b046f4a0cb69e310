"""What a file really is, decided from its bytes, and the previews made of it.

The type comes from libmagic (python-magic) reading the content, never from the name or
the client's Content-Type. Images are re-encoded without metadata (so EXIF location is
never served) with their orientation applied; PDF first pages are drawn with pdfium;
video dimensions and a first frame come from FFmpeg's libraries (PyAV).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import IO

import magic
from PIL import Image, ImageOps, UnidentifiedImageError

from files.images import MAX_IMAGE_PIXELS

# Types a browser may show inline from our origin; everything else is a download.
INLINE_TYPES = {
    "image/png": "image", "image/jpeg": "image", "image/gif": "image", "image/webp": "image",
    "video/mp4": "video", "video/webm": "video", "video/ogg": "video", "video/quicktime": "video",
    "audio/mpeg": "audio", "audio/ogg": "audio", "audio/wav": "audio", "audio/x-wav": "audio",
    "audio/webm": "audio", "audio/mp4": "audio", "audio/flac": "audio", "audio/x-m4a": "audio",
    "application/pdf": "pdf",
}
THUMBNAIL_SIZE = (640, 640)
PIL_FORMAT_FOR = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF",
                  "image/webp": "WEBP"}


class MediaRejected(Exception):
    """The content cannot be accepted (e.g. a decompression bomb)."""


def sniff(head: bytes) -> str:
    """The MIME type of the content, from its first bytes."""
    detected = magic.from_buffer(head, mime=True) or "application/octet-stream"
    return detected.split(";")[0].strip().lower()


def kind_of(content_type: str) -> str:
    return INLINE_TYPES.get(content_type, "file")


@dataclass
class ImageInfo:
    width: int
    height: int


def check_image(stream: IO[bytes]) -> ImageInfo:
    """Read only the header: refuse images whose pixel count would exhaust memory."""
    stream.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaRejected("The image has too many pixels to process safely.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise MediaRejected("The image is damaged or not an image we can read.") from None
    finally:
        stream.seek(0)
    if width * height > MAX_IMAGE_PIXELS:
        raise MediaRejected("The image has too many pixels to process safely.")
    return ImageInfo(width, height)


@dataclass
class Previews:
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    display: bytes | None = None
    display_suffix: str = ""
    thumbnail: bytes | None = None


def _encode(image: Image.Image, image_format: str) -> bytes:
    out = io.BytesIO()
    if image_format == "JPEG":
        image.convert("RGB").save(out, "JPEG", quality=90, optimize=True)
    elif image_format == "GIF":
        image.save(out, "GIF", save_all=getattr(image, "is_animated", False))
    else:
        image.save(out, image_format)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> bytes:
    copy = image.copy()
    copy.thumbnail(THUMBNAIL_SIZE)
    if copy.mode not in ("RGB", "RGBA"):
        copy = copy.convert("RGBA" if "transparency" in copy.info else "RGB")
    out = io.BytesIO()
    copy.save(out, "WEBP", quality=82)
    return out.getvalue()


def image_previews(stream: IO[bytes], content_type: str) -> Previews:
    """A metadata-free copy (orientation applied) and a thumbnail."""
    check_image(stream)
    with Image.open(stream) as original:
        animated = getattr(original, "is_animated", False)
        if animated:
            # Re-saving keeps every frame; Pillow writes no EXIF for GIF or WebP unless asked.
            display = _encode(original, PIL_FORMAT_FOR[content_type])
            original.seek(0)
            upright = original.copy()
        else:
            upright = ImageOps.exif_transpose(original)
            upright.info.pop("exif", None)
            display = _encode(upright, PIL_FORMAT_FOR[content_type])
        suffix = "." + PIL_FORMAT_FOR[content_type].lower().replace("jpeg", "jpg")
        return Previews(width=upright.width, height=upright.height, display=display,
                        display_suffix=suffix, thumbnail=_thumbnail(upright))


def pdf_previews(stream: IO[bytes]) -> Previews:
    import pypdfium2

    stream.seek(0)
    document = pypdfium2.PdfDocument(stream.read())
    try:
        if len(document) == 0:
            return Previews()
        page = document[0]
        width, height = page.get_size()
        scale = min(THUMBNAIL_SIZE[0] / max(width, 1), THUMBNAIL_SIZE[1] / max(height, 1), 2.0)
        bitmap = page.render(scale=scale)
        return Previews(width=round(width), height=round(height),
                        thumbnail=_thumbnail(bitmap.to_pil()))
    finally:
        document.close()


def video_previews(stream: IO[bytes]) -> Previews:
    import av

    stream.seek(0)
    with av.open(stream) as container:
        video = next((s for s in container.streams if s.type == "video"), None)
        if video is None:
            return Previews()
        duration = float(container.duration / 1_000_000) if container.duration else None
        previews = Previews(width=video.codec_context.width, height=video.codec_context.height,
                            duration_seconds=duration)
        for frame in container.decode(video=0):
            previews.thumbnail = _thumbnail(frame.to_image())
            break
        return previews

"""Image checks shared by avatars and uploads: real type from the bytes, bombs refused."""

from __future__ import annotations

import io
import warnings
from typing import IO

from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import InvalidInput

RASTER_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
# Larger than any photo people share; far smaller than a decompression bomb.
MAX_IMAGE_PIXELS = 64_000_000
AVATAR_MAX_BYTES = 5 * 1024 * 1024


def validate_image_upload(upload: IO[bytes], *, field: str, max_bytes: int = AVATAR_MAX_BYTES) -> str:
    """Check that `upload` is a raster image of sane size; return its format name."""
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        raise InvalidInput.for_field(field, f"The image is larger than {max_bytes // (1024 * 1024)} MB.")
    try:
        upload.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                image_format = image.format or ""
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise InvalidInput.for_field(field, "The image has too many pixels.")
                image.verify()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInput.for_field(field, "The image has too many pixels.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidInput.for_field(field, "This is not an image we can read.") from None
    finally:
        upload.seek(0)
    if image_format not in RASTER_FORMATS:
        raise InvalidInput.for_field(field, "Use a PNG, JPEG, GIF or WebP image.")
    return image_format


AVATAR_SIZE = 256


def avatar_png(upload: IO[bytes]) -> ContentFile:
    """A square, upright, metadata-free PNG of an image upload, checked first."""
    validate_image_upload(upload, field="avatar")
    upload.seek(0)
    with Image.open(upload) as image:
        upright = ImageOps.exif_transpose(image).convert("RGBA")
        square = ImageOps.fit(upright, (AVATAR_SIZE, AVATAR_SIZE))
    out = io.BytesIO()
    square.save(out, "PNG", optimize=True)
    return ContentFile(out.getvalue())

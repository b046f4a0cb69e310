"""Uploads: the real type from the bytes, limits, previews, safe download, who may see."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from files import services
from files.models import Attachment
from messaging import services as messaging
from tests.factories import client_for, make_channel, make_user

pytestmark = pytest.mark.django_db


def png_bytes(size: tuple[int, int] = (32, 16), color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_location(size: tuple[int, int] = (40, 20)) -> bytes:
    """A JPEG whose EXIF says where it was taken and that it is rotated 90°."""
    image = Image.new("RGB", size, "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def bomb_png(width: int = 50_000, height: int = 50_000) -> bytes:
    """A tiny file that claims billions of pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def pdf_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 280), "white").save(out, "PDF")
    return out.getvalue()


def video_bytes(container_format: str = "mp4", codec: str = "mpeg4", frames: int = 5) -> bytes:
    """A small clip of frames going from black to red, at 10 frames a second."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for n in range(frames):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), (n * 200 // frames, 0, 0)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def upload(client, name: str, data: bytes, content_type: str = "application/octet-stream"):
    return client.post("/api/v1/files/", {"file": SimpleUploadedFile(name, data, content_type)},
                       format="multipart")


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_upload_post_and_download_by_who_may_see_it(member, other_member, guest,
                                                    compliance_officer, settings):
    channel = make_channel(member, kind="private", members=[other_member])
    client = client_for(member)
    uploaded = upload(client, "diagram.png", png_bytes()).json()

    assert client.get(uploaded["url"]).status_code == 200  # the uploader, before posting
    assert client_for(other_member).get(uploaded["url"]).status_code == 404
    posted = client.post(f"/api/v1/conversations/{channel.pk}/messages/",
                         {"text": "", "files": [uploaded["id"]]}, format="json").json()

    assert [f["id"] for f in posted["files"]] == [uploaded["id"]]
    assert posted["files"][0]["kind"] == "image"
    for person, status in ((member, 200), (other_member, 200), (guest, 404),
                           (compliance_officer, 404), (make_user(), 404)):
        response = client_for(person).get(uploaded["url"])
        assert response.status_code == status, person
        meta = client_for(person).get(f"/api/v1/files/{uploaded['id']}/")
        assert meta.status_code == status
    image = Image.open(io.BytesIO(body(client_for(other_member).get(uploaded["url"]))))
    assert image.size == (32, 16)


def test_a_png_named_exe_is_an_image_and_html_named_png_is_a_download(member):
    client = client_for(member)

    png = upload(client, "setup.exe", png_bytes(), "application/x-msdownload").json()
    html = upload(client, "cute-cat.png", b"<html><body><script>alert(1)</script></body></html>",
                  "image/png").json()
    svg = upload(client, "logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg" '
                                     b'onload="alert(1)"><circle r="4"/></svg>', "image/svg+xml").json()

    assert (png["content_type"], png["kind"]) == ("image/png", "image")
    shown = client.get(png["url"])
    assert shown["Content-Type"] == "image/png"
    assert shown["Content-Disposition"].startswith("inline;")
    assert shown["X-Frame-Options"] == "DENY"  # only PDFs may be framed, by the viewer
    for dangerous, expected_type in ((html, "text/html"), (svg, "image/svg+xml")):
        assert dangerous["content_type"] == expected_type
        assert dangerous["kind"] == "file"
        response = client.get(dangerous["url"])
        assert response.status_code == 200
        assert response["Content-Type"] == "application/octet-stream"
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert "default-src 'none'" in response["Content-Security-Policy"]


def test_an_oversize_upload_is_refused_and_leaves_nothing(member, settings):
    settings.FILE_UPLOAD_MAX_BYTES = 10_000
    media = Path(settings.MEDIA_ROOT)

    response = upload(client_for(member), "big.bin", b"x" * 50_000)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_large"
    assert response.json()["error"]["fields"] == {
        "file": ["Larger than the limit of 10000 bytes."]}
    assert not Attachment.objects.exists()
    assert stored_files(media) == []


def test_the_quota_is_per_person(member, other_member, settings):
    settings.FILE_QUOTA_BYTES = 1_500
    assert upload(client_for(member), "a.bin", b"a" * 1000).status_code == 201
    refused = upload(client_for(member), "b.bin", b"b" * 1000)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert upload(client_for(other_member), "c.bin", b"c" * 1000).status_code == 201


def test_a_decompression_bomb_is_refused(member, settings):
    response = upload(client_for(member), "innocent.png", bomb_png())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsafe_image"
    assert not Attachment.objects.exists()
    assert stored_files(Path(settings.MEDIA_ROOT)) == []


def test_served_images_carry_no_location_and_stand_upright(member):
    client = client_for(member)
    original = jpeg_with_location()
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825)  # the test file has GPS

    uploaded = upload(client, "holiday.jpg", original).json()
    served = Image.open(io.BytesIO(body(client.get(uploaded["url"]))))
    downloaded = Image.open(io.BytesIO(body(client.get(uploaded["download_url"]))))
    thumbnail = Image.open(io.BytesIO(body(client.get(uploaded["thumbnail_url"]))))

    for image in (served, downloaded):
        assert image.format == "JPEG"
        assert not image.getexif().get_ifd(0x8825)
        assert 0x0112 not in image.getexif()
        assert image.size == (20, 40)  # the orientation was applied
    assert thumbnail.format == "WEBP" and thumbnail.size == (20, 40)
    assert (uploaded["width"], uploaded["height"]) == (20, 40)
    stored = Attachment.objects.get(pk=uploaded["id"])
    with stored.blob.open("rb") as blob:
        assert blob.read() == original  # the record keeps what was uploaded


def test_pdf_and_video_get_previews(member, django_capture_on_commit_callbacks):
    client = client_for(member)
    with django_capture_on_commit_callbacks(execute=True):  # the preview job runs on commit
        pdf_id = upload(client, "report.pdf", pdf_bytes()).json()["id"]
        video = upload(client, "clip.mp4", video_bytes()).json()
    pdf = client.get(f"/api/v1/files/{pdf_id}/").json()

    assert (pdf["kind"], pdf["content_type"]) == ("pdf", "application/pdf")
    assert Image.open(io.BytesIO(body(client.get(pdf["thumbnail_url"])))).format == "WEBP"
    pdf_response = client.get(pdf["url"])
    assert pdf_response["Content-Type"] == "application/pdf"
    assert pdf_response["Content-Disposition"].startswith("inline;")
    # The file viewer frames it: our own pages may, no other site may.
    assert pdf_response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'self'"
    assert pdf_response["X-Frame-Options"] == "SAMEORIGIN"
    downloaded = client.get(pdf["download_url"])
    assert downloaded["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in downloaded["Content-Security-Policy"]
    assert downloaded["X-Frame-Options"] == "DENY"
    assert video["kind"] == "video"
    meta = client.get(f"/api/v1/files/{video['id']}/").json()
    assert (meta["width"], meta["height"]) == (64, 48)
    assert meta["duration_seconds"] > 0
    assert client.get(meta["thumbnail_url"]).status_code == 200


def test_files_of_a_deleted_message_are_no_longer_served(member, other_member):
    channel = make_channel(member, members=[other_member])
    uploaded = upload(client_for(member), "a.png", png_bytes()).json()
    message = messaging.message_create(author=member, conversation_id=channel.pk, text="see",
                                       file_ids=[uploaded["id"]]).message
    messaging.message_delete(actor=member, message_id=message.pk)

    assert client_for(other_member).get(uploaded["url"]).status_code == 404
    assert Attachment.objects.filter(pk=uploaded["id"]).exists()  # kept for the records


def test_only_your_own_unposted_uploads_can_be_attached(member, other_member):
    channel = make_channel(member, members=[other_member])
    theirs = upload(client_for(other_member), "t.png", png_bytes()).json()
    response = client_for(member).post(f"/api/v1/conversations/{channel.pk}/messages/",
                                       {"text": "mine now", "files": [theirs["id"]]}, format="json")
    assert response.status_code == 400
    assert "files" in response.json()["error"]["fields"]
    assert Attachment.objects.get(pk=theirs["id"]).message_id is None


def test_unposted_uploads_are_removed_after_a_day(member, settings):
    from files.tasks import remove_unattached

    fresh = services.attachment_upload(uploader=member, upload=SimpleUploadedFile(
        "fresh.txt", b"fresh"))
    stale = services.attachment_upload(uploader=member, upload=SimpleUploadedFile(
        "stale.txt", b"stale"))
    Attachment.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(days=2))
    stale_path = Path(stale.blob.path)

    removed = remove_unattached.delay().get()

    assert removed == 1
    assert list(Attachment.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert not stale_path.exists()


def test_behind_nginx_the_app_authorises_and_nginx_sends(member, settings):
    settings.FILE_ACCEL_REDIRECT_PREFIX = "/protected/"
    uploaded = upload(client_for(member), "notes.txt", b"plain notes").json()
    response = client_for(member).get(uploaded["url"])
    stored = Attachment.objects.get(pk=uploaded["id"])
    assert response["X-Accel-Redirect"] == f"/protected/{stored.blob.name}"
    assert response.content == b""
    assert response["Content-Disposition"].startswith("attachment;")


def test_avatars_are_reencoded_without_metadata(member, other_member):
    from django.test import Client

    client = client_for(member)
    response = client.put("/api/v1/me/avatar/", {"avatar": SimpleUploadedFile(
        "me.jpg", jpeg_with_location((300, 200)), "image/jpeg")}, format="multipart")
    assert response.status_code == 200
    browser = Client()
    browser.force_login(other_member)
    served = browser.get(response.json()["avatar_url"])
    assert served.status_code == 200
    image = Image.open(io.BytesIO(body(served)))
    assert (image.format, image.size) == ("PNG", (256, 256))
    assert not image.getexif()
    not_image = client.put("/api/v1/me/avatar/", {"avatar": SimpleUploadedFile(
        "me.png", b"<html></html>", "image/png")}, format="multipart")
    assert not_image.status_code == 400

"""The S3 path against a real S3-compatible server on loopback (moto in server mode)."""

from __future__ import annotations

import io
import urllib.request
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from moto.server import ThreadedMotoServer
from PIL import Image

from files.models import Attachment
from tests.factories import client_for, make_channel
from tests.files.test_files import png_bytes, upload
from tests.servers import free_port

pytestmark = pytest.mark.django_db

BUCKET = "teamchat-files"


@pytest.fixture
def s3(settings):
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=BUCKET)
    settings.FILE_STORAGE_BACKEND = "s3"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": endpoint, "region_name": "us-east-1",
                    "access_key": "test", "secret_key": "test", "querystring_expire": 120,
                    "default_acl": None, "file_overwrite": False, "signature_version": "s3v4",
                    "addressing_style": "path"},
    }}
    yield endpoint
    server.stop()


def test_a_file_round_trips_through_the_object_store(member, other_member, s3):
    channel = make_channel(member, members=[other_member])
    data = png_bytes((12, 34))
    uploaded = upload(client_for(member), "photo.png", data).json()
    client_for(member).post(f"/api/v1/conversations/{channel.pk}/messages/",
                            {"text": "from S3", "files": [uploaded["id"]]}, format="json")

    response = client_for(other_member).get(uploaded["url"])

    assert response.status_code == 302
    signed = urlparse(response["Location"])
    assert f"{signed.scheme}://{signed.netloc}" == s3
    query = parse_qs(signed.query)
    assert query["X-Amz-Expires"] == ["120"]
    assert query["response-content-disposition"][0].startswith("inline;")
    with urllib.request.urlopen(response["Location"], timeout=10) as fetched:
        served = fetched.read()
        assert fetched.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(served)).size == (12, 34)
    stored = Attachment.objects.get(pk=uploaded["id"])
    objects = boto3.client("s3", endpoint_url=s3, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test").list_objects_v2(
        Bucket=BUCKET)["Contents"]
    assert {o["Key"] for o in objects} >= {stored.blob.name, stored.display.name}
    with stored.blob.open("rb") as blob:
        assert blob.read() == data


def test_an_outsider_gets_no_signed_url(member, other_member, s3):
    channel = make_channel(member, kind="private")
    uploaded = upload(client_for(member), "secret.txt", b"secret").json()
    client_for(member).post(f"/api/v1/conversations/{channel.pk}/messages/",
                            {"text": "x", "files": [uploaded["id"]]}, format="json")
    response = client_for(other_member).get(uploaded["url"])
    assert response.status_code == 404
    assert "Location" not in response

"""The installable app: manifest, service worker and offline page, as a browser fetches them."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.test import Client
from PIL import Image

from teamchat import pwa
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _directives(response) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in
            (p.strip() for p in response["Content-Security-Policy"].split(";")) if part}


def test_the_manifest_is_served_as_a_manifest_with_every_icon(client: Client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["name"] == "teamchat" and manifest["display"] == "standalone"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert re.fullmatch(r"#[0-9a-f]{6}", manifest["theme_color"])
    seen = set()
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200
        with Image.open(io.BytesIO(b"".join(image.streaming_content))) as picture:
            assert f"{picture.width}x{picture.height}" == icon["sizes"]
        seen.add((icon["sizes"], icon["purpose"]))
    assert seen == {("192x192", "any"), ("512x512", "any"), ("192x192", "maskable"),
                    ("512x512", "maskable")}


def test_the_service_worker_is_served_from_the_root_and_never_cached(client: Client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response["Cache-Control"]
    body = response.content.decode()
    assert f'const VERSION = "{pwa.shell_version()}";' in body
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", body).group(1))
    assert "/offline" in precache and "/static/js/app.js" in precache and "/static/js/pwa.js" in precache
    assert len(set(precache)) == len(precache)  # Cache.addAll fails the install on a repeat
    for url in precache:  # install fails if any one is missing
        assert client.get(url).status_code == 200, url


def test_the_cache_version_follows_the_static_files(monkeypatch, tmp_path):
    before = pwa.shell_version()
    changed = tmp_path / "app.css"
    changed.write_text("body { color: red }")
    real_find = pwa.finders.find
    monkeypatch.setattr(pwa.finders, "find", lambda path, *args, **kwargs: (
        str(changed) if path == "css/app.css" else real_find(path, *args, **kwargs)))
    pwa.shell_version.cache_clear()
    try:
        assert pwa.shell_version() != before
    finally:
        monkeypatch.undo()
        pwa.shell_version.cache_clear()
    assert pwa.shell_version() == before


def test_the_offline_page_is_the_same_for_everyone(client: Client):
    anonymous = client.get("/offline")
    person = make_user(name="Private Person")
    client.force_login(person)
    signed_in = client.get("/offline")
    assert anonymous.status_code == signed_in.status_code == 200
    assert b"You are offline" in anonymous.content
    assert b"Private Person" not in signed_in.content and b"csrfmiddlewaretoken" not in signed_in.content


def test_pages_link_the_manifest_and_the_policy_allows_only_our_own(client: Client):
    client.force_login(make_user())
    for path in ("/", "/profile/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b'<link rel="manifest" href="/manifest.webmanifest">' in response.content
        directives = _directives(response)
        assert directives["manifest-src"] == ["'self'"]
        assert directives["worker-src"] == ["'self'", "blob:"]
        assert "'unsafe-inline'" not in directives["script-src"]

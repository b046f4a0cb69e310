"""Link previews from a real HTTP server on loopback, and the SSRF guard that refuses it
unless the setting allows private addresses."""

from __future__ import annotations

import pytest

from accounts import services as accounts
from integrations import fetch
from integrations.models import LinkPreview
from integrations.services import message_previews_make
from messaging.models import ConversationEvent
from messaging.payloads import message_payload
from messaging.selectors import message_get_for_user
from tests.factories import client_for, make_channel, post
from tests.files.test_files import png_bytes
from tests.httpserver import LoopbackServer

pytestmark = pytest.mark.django_db

PAGE = b"""<!doctype html><html><head><title>Plain title</title>
<meta property="og:title" content="Quarterly results &amp; outlook">
<meta property="og:description" content="Revenue grew 12%.">
<meta property="og:site_name" content="Example News">
<meta property="og:image" content="/cover.png">
</head><body>hello</body></html>"""


@pytest.fixture
def site():
    server = LoopbackServer().start()
    server.routes["/page"] = lambda r: (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE)
    server.routes["/cover.png"] = lambda r: (200, {"Content-Type": "image/png"},
                                             png_bytes((800, 400), "green"))
    server.routes["/redirect"] = lambda r: (302, {"Location": server.url("/page")}, b"")
    server.routes["/huge"] = lambda r: (200, {"Content-Type": "text/html"}, b"x" * 1_100_000)
    server.routes["/oembed-page"] = lambda r: (200, {"Content-Type": "text/html"}, (
        f'<link rel="alternate" type="application/json+oembed" href="{server.url("/oembed")}">'
    ).encode())
    server.routes["/oembed"] = lambda r: (200, {"Content-Type": "application/json"},
                                          b'{"title": "A video", "provider_name": "Tube"}')
    yield server
    server.stop()


def test_a_preview_card_is_made_from_open_graph(member, site, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = True
    channel = make_channel(member)
    message = post(member, channel, f"Read this {site.url('/page')} today")

    made = message_previews_make(message_id=message.pk)

    assert len(made) == 1
    (card,) = message_payload(message_get_for_user(user=member, message_id=message.pk))["previews"]
    assert card == {"url": site.url("/page"), "title": "Quarterly results & outlook",
                    "description": "Revenue grew 12%.", "site_name": "Example News",
                    "image_url": f"/api/v1/previews/{made[0].pk}/image"}
    image = client_for(member).get(card["image_url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    event = ConversationEvent.objects.filter(conversation=channel).order_by("-seq").first()
    assert (event.type, event.message_id) == ("message.previews", message.pk)


def test_oembed_is_used_when_there_is_no_open_graph(member, site, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = True
    message = post(member, make_channel(member), site.url("/oembed-page"))
    (preview,) = message_previews_make(message_id=message.pk)
    assert (preview.title, preview.site_name) == ("A video", "Tube")


def test_the_guard_refuses_the_same_server_without_the_setting(member, site, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = False
    message = post(member, make_channel(member), f"see {site.url('/page')}")

    assert message_previews_make(message_id=message.pk) == []
    assert site.requests == []
    assert "non-public address" in LinkPreview.objects.get().error


def test_redirects_are_checked_again(member, site, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = True
    admin_user = member
    admin_user.role = "admin"
    admin_user.save()
    accounts.organisation_update(actor=admin_user, link_preview_domains=["localhost"])
    message = post(member, make_channel(member), site.url("/redirect", host="localhost"))

    assert message_previews_make(message_id=message.pk) == []
    assert [r.path for r in site.requests] == ["/redirect"]  # the hop to 127.0.0.1 was refused
    assert "not on the list of allowed domains" in LinkPreview.objects.get().error


def test_size_time_and_scheme_limits(site, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = True
    with pytest.raises(fetch.FetchRefused, match="larger than"):
        fetch.request("GET", site.url("/huge"), max_bytes=1024 * 1024)
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1/",
                "http://user:pass@127.0.0.1/"):
        with pytest.raises(fetch.FetchRefused):
            fetch.request("GET", url)
    settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = False
    for url in ("http://127.0.0.1/", "http://[::1]/", "http://169.254.169.254/latest/meta-data/",
                "http://10.0.0.1/", "http://0.0.0.0/"):
        with pytest.raises(fetch.FetchRefused):
            fetch.request("GET", url, timeout=1)


def test_admins_can_turn_previews_off(admin, site, settings):
    settings.INTEGRATIONS_ALLOW_PRIVATE_ADDRESSES = True
    accounts.organisation_update(actor=admin, link_previews_enabled=False)
    message = post(admin, make_channel(admin), site.url("/page"))
    assert message_previews_make(message_id=message.pk) == []
    assert site.requests == []

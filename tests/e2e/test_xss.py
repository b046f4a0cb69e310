"""Stored XSS: hostile markup in every field a person can set reaches other people's
browsers as text. A payload that ran would open a dialog or trip the CSP, and the
`people` fixture fails the test on either; the DOM is also searched for injected nodes."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from accounts.models import Role
from accounts.services import user_profile_update
from files.services import attachment_upload
from messaging import services
from tests.factories import make_channel, make_direct, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(2)</script>"
SVG = "\"'><svg onload=alert(3)>"

# Anything that would be live markup or a script URL if a payload had been parsed as HTML.
INJECTED = """() => {
  const nodes = [...document.querySelectorAll(
    "img[src='x'], svg[onload], iframe, script:not([src]):not([type='application/json'])")];
  const handlers = [...document.querySelectorAll("*")].filter(
    (node) => [...node.attributes].some((attribute) => attribute.name.startsWith("on")));
  const links = [...document.querySelectorAll("a[href]")].filter(
    (a) => a.getAttribute("href").trim().toLowerCase().startsWith("javascript:"));
  return [...nodes, ...handlers, ...links].map((node) => node.outerHTML.slice(0, 120));
}"""


def hostile_world():
    ana = make_user(name="Ana Lopez")
    mallory = make_user(name="Mallory")
    user_profile_update(user=mallory, display_name=IMG, full_name=SCRIPT + SVG, title=SVG,
                        status_text=SCRIPT, status_emoji="<b>")
    channel = make_channel(ana, "general", members=[mallory])
    services.conversation_update(actor=ana, conversation_id=channel.pk, topic=IMG + SCRIPT,
                                 purpose=SVG)
    upload = SimpleUploadedFile(f"{IMG}.txt", b"plain text file\n", content_type="text/html")
    attachment = attachment_upload(uploader=mallory, upload=upload)
    services.message_create(
        author=mallory, conversation_id=channel.pk,
        text=f"look {IMG} {SCRIPT} [click](javascript:alert(4)) <a href=\"javascript:alert(5)\">x</a>",
        file_ids=[attachment.pk])
    make_direct(ana, mallory)
    owner = make_user(Role.OWNER, name="Olive Owner")
    return ana, mallory, channel, owner


def test_hostile_fields_render_as_text_everywhere(people, off_loop):
    ana, _mallory, channel, owner = off_loop(hostile_world)
    a = people(ana)
    page = a.page
    a.go(channel.pk)

    message = page.locator("#message-list .message", has_text="look")
    expect(message.locator(".message-author")).to_have_text(IMG)
    expect(message.locator(".message-body")).to_contain_text(f"look {IMG} {SCRIPT}")
    expect(message.locator(".file-card")).to_contain_text(f"{IMG}.txt")
    expect(page.locator("#conversation-topic")).to_have_text(IMG + SCRIPT)
    expect(page.locator("#direct-list")).to_contain_text(IMG)
    assert page.evaluate(INJECTED) == []

    # The profile panel: full name, title and status.
    message.locator(".message-author").click()
    panel = page.locator("#side-panel-body")
    expect(panel).to_contain_text(SCRIPT + SVG)
    expect(panel).to_contain_text(SVG)
    expect(panel).to_contain_text(SCRIPT)
    assert page.evaluate(INJECTED) == []

    # Search results show the hit with its highlight, still as text.
    page.fill("#search-input", "look")
    page.press("#search-input", "Enter")
    hit = page.locator(".search-result").first
    expect(hit).to_contain_text(f"look {IMG}")
    expect(hit.locator("mark")).to_have_text("look")
    assert page.evaluate(INJECTED) == []

    # The admin console lists the person by name, as text.
    o = people(owner)
    o.page.goto(o.server.url + "/console/people/")
    expect(o.page.locator("main")).to_contain_text(IMG)
    assert o.page.evaluate(INJECTED) == []


def test_the_api_reference_renders_under_the_strict_policy(people, off_loop):
    reader = people(off_loop(make_user, name="Rita Reader"))
    reader.page.goto(reader.server.url + "/api/docs/")
    expect(reader.page.get_by_role("heading", name="teamchat API", exact=False).first).to_be_visible(
        timeout=20000)
    expect(reader.page.get_by_text("/api/v1/conversations/").first).to_be_attached()
    # Redoc's attribution footer links a logo on Redocly's CDN; the policy blocks it, so
    # the reference page fetches nothing from outside. Nothing else may be refused.
    reader.errors[:] = [e for e in reader.errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e]

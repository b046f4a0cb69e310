"""The page that hosts the web client: what it tells the browser before any script runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client

from core.client import module_graph
from messaging import services
from tests.factories import make_user

pytestmark = pytest.mark.django_db
STATIC = Path(__file__).resolve().parents[2] / "static"


def _page(user) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def _bootstrap(page: str) -> dict:
    found = re.search(r'<script id="bootstrap" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(found[1])


def test_the_page_preloads_every_module_the_client_imports():
    """Every `import ... from "./x.js"` of the graph, found by reading the modules, is a
    modulepreload link, so the browser asks for all of them at once."""
    page = _page(make_user())
    preloaded = re.findall(r'<link rel="modulepreload" href="/static/([^"]+)">', page)
    assert set(preloaded) == set(module_graph("js/app.js"))
    for module in preloaded:  # closed under the modules' own imports
        imports = re.findall(r'from "\./([a-z-]+\.js)";', (STATIC / module).read_text())
        assert {f"js/{name}" for name in imports} <= set(preloaded), module
    assert {"js/app.js", "js/markdown.js", "js/crypto.js"} <= set(preloaded)
    # Loaded on use only: not part of the first screen.
    assert not any(path.startswith("vendor/") for path in preloaded)
    # boot.js, a classic script, is asked for first and runs before any module, reading
    # the bootstrap above it.
    boot = page.index('<script src="/static/js/boot.js">')
    assert page.index('id="bootstrap"') < boot < page.index('rel="modulepreload"')
    assert page.index("js/boot.js") < page.index('<script type="module" src="/static/js/app.js">')


def test_a_missing_module_is_named():
    with pytest.raises(FileNotFoundError, match=r"js/nowhere\.js"):
        module_graph("js/nowhere.js")


def test_the_page_names_the_conversation_read_last_for_a_browser_that_remembers_none():
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    assert _bootstrap(_page(ana))["open"] is None  # nothing read yet

    first = services.conversation_create(actor=ana, kind="public", name="first")
    second = services.conversation_create(actor=ana, kind="public", name="second")
    for conversation in (first, second):
        services.conversation_join(actor=ben, conversation_id=conversation.pk)
    older = services.message_create(author=ben, conversation_id=second.pk, text="older").message
    newer = services.message_create(author=ben, conversation_id=first.pk, text="newer").message
    # Ana reads the newer message first, then the older one: what counts is the newest
    # message read, the conversation where she caught up with the latest.
    services.read_mark(actor=ana, conversation_id=first.pk, message_id=newer.pk)
    services.read_mark(actor=ana, conversation_id=second.pk, message_id=older.pk)
    assert _bootstrap(_page(ana))["open"] == first.pk
    assert _bootstrap(_page(ben))["open"] == first.pk  # what one sends counts as read

    services.conversation_update(actor=ana, conversation_id=first.pk, archived=True)
    assert _bootstrap(_page(ana))["open"] == second.pk


def test_the_page_names_whose_presence_the_sidebar_shows():
    """Me first, then everyone I share a direct conversation with (a group direct one
    too), and nobody I only share a channel with: boot.js asks for their presence."""
    ana, ben, cleo, dev = (make_user(name=name)
                           for name in ("Ana Lopez", "Ben Okafor", "Cleo Park", "Dev Rao"))
    services.conversation_direct_open(actor=ana, member_ids=[ben.pk])
    services.conversation_direct_open(actor=ana, member_ids=[ben.pk, cleo.pk])
    services.conversation_create(actor=ana, kind="public", name="all", member_ids=[dev.pk])
    assert _bootstrap(_page(ana))["presence_of"] == [ana.pk, *sorted([ben.pk, cleo.pk])]
    assert _bootstrap(_page(dev))["presence_of"] == [dev.pk]

"""The live connection as a person sees it in the browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from files.models import Attachment
from messaging.models import Message
from tests.e2e import message_item
from tests.factories import make_channel, make_direct, make_user, post
from tests.realtime import Socket, token_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Records the status each direct conversation's presence dot has when it first appears,
# before any later frame can correct it.
FIRST_PAINT = """
window.__firstStatus = {};
new MutationObserver(() => {
  for (const dot of document.querySelectorAll('#direct-list a[data-conversation] .presence-dot')) {
    const id = dot.closest('a').dataset.conversation;
    if (!(id in window.__firstStatus)) window.__firstStatus[id] = dot.dataset.status;
  }
}).observe(document, { childList: true, subtree: true, attributes: true });
"""


def test_people_online_before_the_page_loads_show_online_on_first_paint(
        people, daphne_pair, off_loop):
    ana, ben, cleo = (off_loop(make_user, name=n) for n in ("Ana Lopez", "Ben Okafor", "Cleo Li"))
    with_ben = off_loop(make_direct, ana, ben)
    with_cleo = off_loop(make_direct, ana, cleo)
    ben_online = Socket(daphne_pair[1].ws_url, token=off_loop(token_for, ben))
    try:
        a = people(ana)
        a.page.add_init_script(FIRST_PAINT)
        a.page.reload()
        a.page.wait_for_selector("#app[data-state=ready]")
        first = a.page.evaluate("window.__firstStatus")
        assert first == {str(with_ben.pk): "online", str(with_cleo.pk): "offline"}
        expect(a.page.locator("#me-presence")).to_have_attribute("data-status", "online")
    finally:
        ben_online.close()


def test_going_offline_shows_reconnecting_and_what_was_sent_meanwhile_arrives_once(
        people, off_loop, tmp_path):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "launch", members=[ben])
    root = off_loop(post, ben, channel, "Plan for Friday")
    a, b = people(ana), people(ben)
    a.go(channel.pk)
    b.go(channel.pk)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"the launch notes")
    a.page.set_input_files("#file-input", [str(notes)])
    expect(a.page.locator("#upload-list progress")).to_have_count(0)
    message_item(a.page, "Plan for Friday").hover()
    message_item(a.page, "Plan for Friday").get_by_role("button", name="Reply in thread").click()
    expect(a.page.locator("#thread-input")).to_be_visible()

    # The network goes: the banner and Ana's own dot say so at once.
    a.context.set_offline(True)
    banner = a.page.locator("#connection-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("offline")
    expect(a.page.locator("#me-presence")).to_have_attribute("data-status", "offline")

    # She sends a file and replies in a thread meanwhile: kept, shown as sending.
    a.send("notes attached")
    a.page.fill("#thread-input", "Friday works")
    a.page.press("#thread-input", "Enter")
    expect(a.page.locator("#message-list")).to_contain_text("Sending…")
    expect(a.page.locator("#thread-list")).to_contain_text("Sending…")

    # The network returns: the banner goes, and Ben gets each once.
    a.context.set_offline(False)
    expect(banner).to_be_hidden(timeout=10000)
    expect(a.page.locator("#me-presence")).to_have_attribute("data-status", "online")
    arrived = message_item(b.page, "notes attached")
    expect(arrived.locator(".file-card")).to_contain_text("notes.txt")
    expect(message_item(b.page, "Plan for Friday").locator(".thread-summary")).to_have_text("1 reply")
    expect(a.page.locator("#message-list")).not_to_contain_text("Sending…")

    def stored():
        return list(Message.objects.filter(conversation=channel).exclude(pk=root.pk)
                    .order_by("seq").values_list("text", "thread_root_id"))

    assert off_loop(stored) == [("notes attached", None), ("Friday works", root.pk)]
    assert off_loop(lambda: Attachment.objects.filter(message__text="notes attached").count()) == 1


def test_a_connection_that_stops_answering_shows_reconnecting_within_two_heartbeats(
        browser, off_loop, tmp_path_factory):
    """A cut that closes nothing (the socket's frames just stop): only the missing pongs
    tell. A daphne of its own with a one-second heartbeat keeps this short."""
    from tests.e2e.conftest import Person
    from tests.servers import DaphneServer, wait_until_servers_idle

    server = DaphneServer(tmp_path_factory.mktemp("heartbeat")).start(
        REALTIME_HEARTBEAT_SECONDS="1")
    ana = off_loop(make_user, name="Ana Lopez")
    person = None
    try:
        person = Person(browser, server, ana)
        page = person.page
        cut = {"on": False}

        def relay(ws):
            upstream = ws.connect_to_server()
            upstream.on_message(lambda message: None if cut["on"] else ws.send(message))
            ws.on_message(lambda message: None if cut["on"] else upstream.send(message))

        page.route_web_socket("**/ws/", relay)
        page.reload()
        page.wait_for_selector("#app[data-state=ready]")
        for _ in range(100):  # wait_for_function evaluates a string, which our CSP forbids
            if page.evaluate("window.teamchat.state.connected === true"):
                break
            page.wait_for_timeout(100)
        banner = page.locator("#connection-banner")
        expect(banner).to_be_hidden()
        cut["on"] = True
        expect(banner).to_be_visible(timeout=2500)  # 2 beats of 1 s, and a little
        expect(banner).to_contain_text(re.compile(r"Reconnecting in \d+ s"))
        expect(page.locator("#me-presence")).to_have_attribute("data-status", "offline")
        cut["on"] = False
        expect(banner).to_be_hidden(timeout=15000)
        assert person.errors == []
    finally:
        if person is not None:
            person.close()
        wait_until_servers_idle()
        server.stop()

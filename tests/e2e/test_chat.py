"""Two people chat in real browsers, each on a different daphne process."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from messaging import services
from tests.e2e import message_item
from tests.factories import make_channel, make_direct, make_user, post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_two_people_chat_live(people, artifacts, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "launch", members=[ben])
    off_loop(make_direct, ana, ben)
    a, b = people(ana), people(ben)
    a.go(channel.pk)
    b.go(channel.pk)

    # Typing shows at the other end, then the message arrives live.
    a.page.fill("#composer-input", "Release at **noon**")
    expect(b.page.locator("#typing-line")).to_have_text("Ana Lopez is typing…")
    a.page.press("#composer-input", "Enter")
    arrived = message_item(b.page, "Release at noon")
    expect(arrived).to_be_visible()
    expect(arrived.locator("strong")).to_have_text("noon")
    expect(b.page.locator("#typing-line")).to_have_text("")

    # A reaction, with who reacted.
    arrived.hover()
    arrived.get_by_role("button", name="Add reaction").click()
    b.page.get_by_role("option", name="thumbs up").first.click()
    reaction = message_item(a.page, "Release at noon").locator(".reaction")
    expect(reaction).to_contain_text("1")
    expect(reaction).to_have_attribute("title", re.compile("Ben Okafor reacted with"))

    # Ana edits her last message with the Up arrow.
    a.page.click("#composer-input")
    a.page.press("#composer-input", "ArrowUp")
    expect(a.page.locator("#composer-mode")).to_be_visible()
    a.page.fill("#composer-input", "Release at **one**")
    a.page.press("#composer-input", "Enter")
    edited = message_item(b.page, "Release at one")
    expect(edited).to_contain_text("(edited)")

    # Ben replies in a thread; Ana sees the reply count and opens the thread.
    edited.hover()
    edited.get_by_role("button", name="Reply in thread").click()
    b.page.fill("#thread-input", "Works for me")
    b.page.press("#thread-input", "Enter")
    summary = message_item(a.page, "Release at one").locator(".thread-summary")
    expect(summary).to_have_text("1 reply")
    summary.click()
    expect(a.page.locator("#thread-list")).to_contain_text("Works for me")
    a.page.screenshot(path=str(artifacts / "chat-thread.png"))

    # Presence: Ben is online in Ana's direct messages, then offline once he leaves.
    dot = a.page.locator("#direct-list .presence-dot")
    expect(dot).to_have_attribute("data-status", "online")
    b.close()
    expect(dot).to_have_attribute("data-status", "offline", timeout=10000)


def test_messages_sent_while_away_arrive_with_the_new_line(people, artifacts, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "updates", members=[ben])
    off_loop(make_channel, ana, "announcements", members=[ben])  # first: Ben's app opens it
    off_loop(post, ben, channel, "an old message")
    a = people(ana)
    a.go(channel.pk)
    for n in range(3):
        a.send(f"while you were away {n}")
    expect(message_item(a.page, "while you were away 2")).to_be_visible()

    b = people(ben)
    badge = b.page.locator(f'a[data-conversation="{channel.pk}"]')
    expect(badge).to_have_class(re.compile("unread"))
    b.go(channel.pk)
    line = b.page.locator("#message-list .new-line")
    expect(line).to_be_visible()
    following = b.page.locator("#message-list .new-line + li")
    expect(following).to_contain_text("while you were away 0")
    b.page.screenshot(path=str(artifacts / "chat-new-messages.png"))
    expect(badge).not_to_have_class(re.compile("unread"))


def test_the_new_line_stays_when_the_open_conversation_is_opened_again(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "updates", members=[ben])
    off_loop(post, ben, channel, "an old message")
    off_loop(post, ana, channel, "while you were away")

    b = people(ben)  # the app opens Ben's only conversation by itself and marks it read
    badge = b.page.locator(f'a[data-conversation="{channel.pk}"]')
    line = b.page.locator("#message-list .new-line")
    expect(line).to_be_visible()
    expect(badge).not_to_have_class(re.compile("unread"))
    b.go(channel.pk)  # a link to the conversation already on screen
    expect(b.page.locator("#message-list .new-line + li")).to_contain_text("while you were away")
    expect(line).to_have_count(1)


def test_nothing_typed_offline_is_lost(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "offline", members=[ben])
    a, b = people(ana), people(ben)
    a.go(channel.pk)
    b.go(channel.pk)

    # The network drops: nothing new gets through, and the browser says it is offline.
    b.context.set_offline(True)
    expect(b.page.locator("#connection-banner")).to_contain_text("You are offline")
    b.send("typed on the train")
    expect(b.page.locator("#message-list .message.pending")).to_contain_text("typed on the train")
    a.send("meanwhile at the office")
    b.context.set_offline(False)

    expect(message_item(a.page, "typed on the train")).to_be_visible(timeout=20000)
    expect(message_item(b.page, "meanwhile at the office")).to_be_visible(timeout=20000)
    expect(b.page.locator("#message-list .message.pending")).to_have_count(0)
    assert off_loop(lambda: channel.messages.filter(text="typed on the train").count()) == 1


def test_scrolling_up_loads_older_history(people, off_loop):
    ana = off_loop(make_user, name="Ana Lopez")
    channel = off_loop(make_channel, ana, "history")
    off_loop(lambda: [post(ana, channel, f"history message {n:03d}") for n in range(130)])
    a = people(ana)
    a.go(channel.pk)
    messages = a.page.locator("#message-list .message")
    expect(messages).to_have_count(50)

    for _ in range(6):
        a.page.locator("#messages").evaluate("node => { node.scrollTop = 0; }")
        a.page.wait_for_timeout(300)
    expect(message_item(a.page, "history message 000")).to_be_visible()
    expect(messages).to_have_count(130)
    expect(a.page.locator(".history-start")).to_contain_text("This is the start of #history")


def test_hostile_text_renders_as_text(people, off_loop):
    evil = off_loop(make_user, name='<img src=x onerror="window.hacked=1">Eve')
    ana = off_loop(make_user, name="Ana Lopez")
    channel = off_loop(make_channel, evil, "safety", members=[ana])
    payload = ('<script>window.hacked=2</script><img src=x onerror="window.hacked=3"> '
               "[x](javascript:window.hacked=4)")
    off_loop(post, evil, channel, payload)
    off_loop(services.conversation_update, actor=evil, conversation_id=channel.pk,
             topic='<b onmouseover="window.hacked=5">topic</b>')
    a = people(ana)
    a.go(channel.pk)

    item = message_item(a.page, "window.hacked=2")
    expect(item).to_be_visible()
    expect(item.locator(".message-author")).to_have_text('<img src=x onerror="window.hacked=1">Eve')
    expect(a.page.locator("#conversation-topic")).to_have_text('<b onmouseover="window.hacked=5">topic</b>')
    assert item.locator("img, script").count() == 0
    assert item.locator("a[href^='javascript']").count() == 0
    a.page.mouse.move(10, 10)
    assert a.page.evaluate("window.hacked") is None


def test_an_uploaded_image_shows_inline_and_a_hostile_file_name_is_text(people, artifacts,
                                                                       off_loop, tmp_path):
    from tests.files.test_files import png_bytes

    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "pictures", members=[ben])
    a, b = people(ana), people(ben)
    a.go(channel.pk)
    b.go(channel.pk)
    picture = tmp_path / "sunset.png"
    picture.write_bytes(png_bytes((300, 200), "orange"))
    hostile = tmp_path / "<img src=x onerror=window.hacked=1>.txt"
    hostile.write_bytes(b"just text")

    a.page.set_input_files("#file-input", [str(picture), str(hostile)])
    expect(a.page.locator("#upload-list .upload-item")).to_have_count(2)
    expect(a.page.locator("#upload-list progress")).to_have_count(0)
    a.page.fill("#composer-input", "Tonight's sunset")
    a.page.press("#composer-input", "Enter")

    arrived = message_item(b.page, "Tonight's sunset")
    image = arrived.locator(".file-image img")
    expect(image).to_be_visible()
    expect(image).to_have_js_property("complete", True)
    assert image.evaluate("img => img.naturalWidth") > 0
    card = arrived.locator(".file-card")
    expect(card).to_contain_text("<img src=x onerror=window.hacked=1>.txt")
    assert arrived.locator(".file-card img").count() == 0
    assert b.page.evaluate("window.hacked") is None
    b.page.screenshot(path=str(artifacts / "chat-upload.png"))


def test_search_finds_a_message_and_jumps_to_it_in_context(people, off_loop):
    def scenario():
        ana = make_user(name="Ana Lopez")
        channel = make_channel(ana, "archive")
        for n in range(80):
            post(ana, channel, f"filler message {n}")
        target = post(ana, channel, "The budget for **Q3** is approved")
        for n in range(80):
            post(ana, channel, f"later message {n}")
        return ana, channel, target

    ana, channel, target = off_loop(scenario)
    a = people(ana)
    a.go(channel.pk)
    a.page.fill("#search-input", "budget approved")
    a.page.press("#search-input", "Enter")
    result = a.page.locator(".search-result").first
    expect(result).to_contain_text("#archive")
    expect(result.locator("mark").first).to_have_text(re.compile("budget", re.IGNORECASE))
    result.locator("a").click()
    focused = a.page.locator(f"#msg-{target.pk}")
    expect(focused).to_be_visible()
    expect(focused).to_have_class(re.compile("highlight"))
    expect(message_item(a.page, "filler message 79")).to_be_visible()

    a.page.fill("#search-input", '"unclosed')
    a.page.press("#search-input", "Enter")
    expect(a.page.locator(".search-error")).to_contain_text("quote is not closed")


NOTIFICATION_SPY = """
window.__hidden = false;
Object.defineProperty(document, "hidden", { get: () => window.__hidden });
window.__notifications = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notifications.push({ title, body: options.body }); }
  close() {}
};
localStorage.setItem("teamchat.desktopNotifications", "on");
"""


def test_desktop_notifications_follow_the_preferences(people, off_loop):
    def scenario():
        ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
        loud = make_channel(ana, "loud", members=[ben])
        muted = make_channel(ana, "hushed", members=[ben])
        services.membership_preferences_update(actor=ben, conversation_id=muted.pk, muted=True)
        return ana, ben, loud, muted

    ana, ben, loud, muted = off_loop(scenario)
    b = people(ben)
    b.context.add_init_script(NOTIFICATION_SPY)
    b.page.reload()
    b.page.wait_for_selector("#app[data-state=ready]")
    b.page.evaluate("window.__hidden = true")

    off_loop(post, ana, loud, "no mention, no notification")
    off_loop(post, ana, muted, f"<@{ben.pk}> muted, so silent")
    off_loop(post, ana, loud, f"<@{ben.pk}> lunch?")
    expect(b.page.locator(f'a[data-conversation="{loud.pk}"] .badge')).to_have_text("1")
    notifications = b.page.evaluate("window.__notifications")
    assert notifications == [{"title": "Ana Lopez in #loud", "body": "@Ben Okafor lunch?"}]


def test_client_starts_with_a_directory_larger_than_one_page(people, off_loop):
    """The people directory is read page by page; the last page's people have names."""
    ana = off_loop(make_user, name="Ana Lopez")
    last = None
    for n in range(215):
        last = off_loop(make_user, name=f"Zed Person {n:03d}")
    off_loop(make_direct, ana, last)
    channel = off_loop(make_channel, ana, "big-company")
    a = people(ana)
    a.go(channel.pk)
    a.send("hello everyone")
    expect(message_item(a.page, "hello everyone")).to_be_visible()
    expect(a.page.locator("#direct-list")).to_contain_text("Zed Person 214")

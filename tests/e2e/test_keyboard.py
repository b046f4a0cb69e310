"""The keyboard: the message list is one Tab stop with roving focus, the arrows move
between messages, letters act on the focused one, and ? lists every shortcut."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import make_channel, make_user, post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FOCUSED_MESSAGE = "() => document.activeElement.closest('.message')?.dataset.id || null"


def scenario():
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    channel = make_channel(ana, "launch", members=[ben])
    messages = [post(ana if n % 2 else ben, channel, f"Step {n} of the launch plan") for n in range(10)]
    return ana, channel, [str(message.pk) for message in messages]


def focused(page) -> str | None:
    return page.evaluate(FOCUSED_MESSAGE)


@pytest.fixture
def launch(people, off_loop):
    """Ana's browser on #launch, its ten messages shown; with their ids, oldest first."""
    ana, channel, ids = off_loop(scenario)
    a = people(ana)
    a.go(channel.pk)
    expect(a.page.locator("#message-list .message")).to_have_count(10)
    return a.page, ids


def test_the_message_list_is_one_tab_stop_and_the_arrows_move_through_it(launch):
    page, ids = launch
    assert page.locator("#message-list [tabindex='0']").count() == 1

    # From the header's last button to the message box: the ten messages (with their
    # eighty-odd buttons and links) are one stop, the newest message.
    page.focus("#conversation-menu-button")
    stops = []
    while page.evaluate("document.activeElement.id") != "composer-input" and len(stops) < 20:
        page.keyboard.press("Tab")
        stops.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert len(stops) <= 3, stops
    assert f"msg-{ids[-1]}" in stops

    page.keyboard.press("Shift+Tab")
    assert focused(page) == ids[-1]
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert focused(page) == ids[-3]
    page.keyboard.press("ArrowDown")
    assert focused(page) == ids[-2]
    page.keyboard.press("Home")
    assert focused(page) == ids[0]
    page.keyboard.press("End")
    assert focused(page) == ids[-1]
    page.keyboard.press("PageUp")
    assert focused(page) == ids[0]

    # → walks into the focused message's controls (the toolbar shows), Esc comes back;
    # the list remembers the message last focused as its one Tab stop.
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.tagName") == "BUTTON" and focused(page) == ids[0]
    expect(page.locator(f"#msg-{ids[0]} .message-actions")).to_be_visible()
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.id") == f"msg-{ids[0]}"
    page.focus("#composer-input")
    page.keyboard.press("Shift+Tab")
    assert focused(page) == ids[0]

    # The focused message is named for screen readers: author and time, its text as
    # the description.
    name = page.get_attribute(f"#msg-{ids[0]}", "aria-label")
    assert name.startswith("Ben Okafor, ")
    described = page.get_attribute(f"#msg-{ids[0]}", "aria-describedby")
    expect(page.locator(f"#{described}")).to_have_text("Step 0 of the launch plan")


def test_letters_act_on_the_focused_message(launch):
    page, ids = launch
    page.focus("#composer-input")
    page.keyboard.press("Shift+Tab")
    assert focused(page) == ids[-1]  # Ana's own (odd steps are hers)

    page.keyboard.press("e")
    expect(page.locator("#composer-mode")).to_be_visible()
    expect(page.locator("#composer-input")).to_have_value("Step 9 of the launch plan")
    page.keyboard.press("Escape")
    expect(page.locator("#composer-mode")).to_be_hidden()

    page.focus(f"#msg-{ids[-1]}")
    page.keyboard.press("r")
    expect(page.locator("#side-panel-title")).to_have_text("Thread")
    expect(page.locator("#thread-list")).to_contain_text("Step 9 of the launch plan")
    expect(page.locator("#thread-input")).to_be_focused()

    page.focus(f"#msg-{ids[-1]}")
    page.keyboard.press("p")
    expect(page.locator(f"#msg-{ids[-1]}")).to_contain_text("pinned")
    # The redraw that showed the pin kept the keyboard on the message.
    assert focused(page) == ids[-1]


def test_question_mark_lists_the_shortcuts_and_esc_returns(launch):
    page, ids = launch

    page.fill("#composer-input", "what?")  # typing a question mark is only typing
    expect(page.locator("#dialog")).to_be_hidden()
    page.fill("#composer-input", "")

    page.focus(f"#msg-{ids[3]}")
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Jump to a conversation")
    expect(dialog).to_contain_text("Reply in thread")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert focused(page) == ids[3]

    page.click("#me-button")
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#me-button")).to_be_focused()

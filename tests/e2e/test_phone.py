"""On a phone-sized screen (issue 34): a tapped message's tools open inside it and cover
no other message, and every control in them is a 44 px target."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e import message_item
from tests.factories import make_channel, make_user, post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_tapped_messages_tools_cover_nothing_and_are_big_enough(people, off_loop, artifacts):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "plans", members=[ben])
    off_loop(post, ben, channel, "First, the venue")
    off_loop(post, ana, channel, "Second, the catering")
    phone = people(ana)
    page = phone.page
    page.set_viewport_size({"width": 390, "height": 800})
    phone.go(channel.pk)
    first = message_item(page, "First, the venue")
    second = message_item(page, "Second, the catering")
    first.click()
    tools = first.locator(".message-actions")
    expect(tools).to_be_visible()
    page.screenshot(path=str(artifacts / "phone-message-tools.png"))
    box, below = tools.bounding_box(), second.bounding_box()
    assert box["y"] + box["height"] <= below["y"] + 0.5  # the next message starts below them
    sizes = [b.bounding_box() for b in tools.locator("button").all() if b.is_visible()]
    assert sizes and min(min(s["width"], s["height"]) for s in sizes) >= 44


def test_the_composer_stays_above_an_on_screen_keyboard(people, off_loop, artifacts):
    """A keyboard takes the bottom half of the screen: the page follows what is left
    (interactive-widget=resizes-content where the browser honours it, the visual viewport's
    height where it does not), so the composer and the newest message stay in sight."""
    ana = off_loop(make_user, name="Ana Lopez")
    channel = off_loop(make_channel, ana, "plans")
    for number in range(30):
        off_loop(post, ana, channel, f"Point {number}")
    phone = people(ana)
    page = phone.page
    page.set_viewport_size({"width": 390, "height": 800})
    phone.go(channel.pk)
    viewport = page.locator('meta[name="viewport"]').get_attribute("content")
    assert "interactive-widget=resizes-content" in viewport and "viewport-fit=cover" in viewport
    page.click("#composer-input")
    page.set_viewport_size({"width": 390, "height": 430})  # what a keyboard leaves visible
    page.wait_for_function(
        "() => document.documentElement.style.getPropertyValue('--visible-height') === '430px'")
    composer = page.locator("#composer").bounding_box()
    assert composer["y"] + composer["height"] <= 430.5
    newest = message_item(page, "Point 29").bounding_box()
    assert newest["y"] + newest["height"] <= composer["y"] + 0.5
    expect(page.locator("#composer-input")).to_be_focused()
    page.screenshot(path=str(artifacts / "phone-keyboard.png"))
    assert not phone.errors

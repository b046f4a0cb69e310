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

"""axe-core in the real page: no serious or critical violations in the main views; and
screenshots of those views, saved in test-artifacts/ for people to look at."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.factories import make_channel, make_direct, make_user, post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def serious(page) -> list[str]:
    results = Axe().run(page)
    return [f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:4]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def scenario():
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    channel = make_channel(ana, "design", members=[ben])
    root = post(ben, channel, "Mock-ups are **ready**: https://example.com/mockups :tada:")
    post(ana, channel, "Looks great", thread_root_id=root.pk)
    post(ana, channel, f"<@{ben.pk}> can you share the sources?")
    post(ben, channel, f"<@{ana.pk}> they are in the drive")  # a mention of the viewer on screen
    make_direct(ana, ben)
    return ana, channel, root


def test_main_views_have_no_serious_accessibility_violations(people, artifacts, off_loop):
    ana, channel, _root = off_loop(scenario)
    a = people(ana)
    a.go(channel.pk)
    page = a.page
    expect(page.locator("#message-list .message").first).to_be_visible()

    problems = {"conversation": serious(page)}
    page.screenshot(path=str(artifacts / "view-conversation.png"))

    page.locator(".thread-summary").first.click()
    expect(page.locator("#thread-list")).to_contain_text("Looks great")
    problems["thread"] = serious(page)
    page.screenshot(path=str(artifacts / "view-thread.png"))
    page.click("#side-panel-close")

    page.get_by_role("button", name=re.compile("^Threads")).click()
    expect(page.get_by_role("list", name="Threads you follow")).to_contain_text("Looks great")
    problems["threads"] = serious(page)
    page.get_by_role("button", name=re.compile("^Activity")).click()
    expect(page.locator("#side-panel-title")).to_have_text("Activity")
    expect(page.get_by_role("tab", name="Mentions")).to_be_visible()
    problems["activity"] = serious(page)
    page.click("#side-panel-close")

    page.click("#create-channel")
    expect(page.locator("#dialog")).to_be_visible()
    problems["create channel"] = serious(page)
    page.screenshot(path=str(artifacts / "view-create-channel.png"))
    page.keyboard.press("Escape")

    page.fill("#composer-input", "See you tomorrow")
    page.get_by_role("button", name="Schedule message", exact=True).click()
    expect(page.locator("#dialog")).to_contain_text("Send at")
    problems["schedule message"] = serious(page)
    page.screenshot(path=str(artifacts / "view-schedule-message.png"))
    page.locator("#dialog").get_by_role("button", name="Schedule", exact=True).click()
    expect(page.locator("#dialog")).not_to_be_visible()
    page.get_by_role("button", name="Scheduled and reminders").click()
    expect(page.get_by_role("list", name="Scheduled messages")).to_contain_text("See you tomorrow")
    problems["scheduled"] = serious(page)
    page.click("#side-panel-close")
    first = page.locator("#message-list .message").first
    first.hover()
    first.get_by_role("button", name="Remind me").click()
    expect(page.locator("#dialog")).to_contain_text("Remind me about this message")
    problems["remind me"] = serious(page)
    page.keyboard.press("Escape")

    page.click("#me-button")
    expect(page.locator("#dialog")).to_contain_text("Settings")
    problems["settings"] = serious(page)
    page.screenshot(path=str(artifacts / "view-settings.png"))
    page.get_by_role("tab", name="Appearance").click()
    page.get_by_role("radio", name="Dark").check()
    page.keyboard.press("Escape")
    problems["dark"] = serious(page)
    page.screenshot(path=str(artifacts / "view-dark.png"))

    page.emulate_media(reduced_motion="reduce")
    page.set_viewport_size({"width": 390, "height": 800})
    problems["phone conversation"] = serious(page)
    page.click("#sidebar-toggle")
    expect(page.locator("#sidebar")).to_be_in_viewport()
    problems["phone sidebar"] = serious(page)
    page.screenshot(path=str(artifacts / "view-phone-sidebar.png"))

    assert problems == {name: [] for name in problems}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_keyboard_switches_conversations_and_jumps(people, off_loop):
    def two_channels():
        ana = make_user(name="Ana Lopez")
        first, second = make_channel(ana, "alpha"), make_channel(ana, "beta")
        return ana, first, second

    ana, first, _second = off_loop(two_channels)
    a = people(ana)
    a.go(first.pk)
    a.page.keyboard.press("Alt+ArrowDown")
    expect(a.page.locator("#conversation-title")).to_have_text("# beta")
    a.page.keyboard.press("Control+k")
    a.page.keyboard.type("alp")
    a.page.keyboard.press("Enter")
    expect(a.page.locator("#conversation-title")).to_have_text("# alpha")

"""Catching up in the browser (issue 28): marking a message unread, drafts on every
device, saved for later, and the Threads view."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e import ReadMarks, message_item, wait_until_reads_settle
from tests.factories import make_channel, make_direct, make_user, post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_marking_unread_restores_the_badge_in_the_persons_other_browser(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ben, "updates", members=[ana])
    quiet = off_loop(make_channel, ben, "quiet", members=[ana])
    for text in ("the plan", f"the budget, <@{ana.pk}>", "the date"):
        off_loop(post, ben, channel, text)

    laptop, phone = people(ana), people(ana)
    marks = [ReadMarks(browser.page) for browser in (laptop, phone)]
    for browser in (laptop, phone):
        browser.go(channel.pk)
    badge = {browser: browser.page.locator(f'a[data-conversation="{channel.pk}"]')
             for browser in (laptop, phone)}
    for browser in (laptop, phone):
        expect(badge[browser]).not_to_have_class(re.compile("unread"))
    # Either browser's own read position may still be on its way (the other's frame
    # cleared the badge first); arriving after the mark below it would read it again.
    wait_until_reads_settle(*marks)

    budget = message_item(laptop.page, "the budget")
    budget.hover()
    budget.get_by_role("button", name="Mark unread").click()

    # Two messages are unread again, from "the budget" on, and its mention, on both.
    for browser in (phone, laptop):
        expect(badge[browser]).to_have_class(re.compile("unread"))
        expect(badge[browser]).to_have_attribute("aria-label", re.compile("2 unread, 1 mention"))
        expect(badge[browser].locator(".badge")).to_have_text("1")
    # The laptop keeps it unread while the conversation stays open there ...
    laptop.page.mouse.wheel(0, 2000)
    laptop.page.wait_for_timeout(1000)
    expect(badge[laptop]).to_have_class(re.compile("unread"))
    # ... and reads it again once the person goes elsewhere and comes back.
    laptop.go(quiet.pk)
    laptop.go(channel.pk)
    expect(badge[laptop]).not_to_have_class(re.compile("unread"))
    expect(badge[phone]).not_to_have_class(re.compile("unread"))


def test_a_draft_typed_in_one_browser_appears_in_the_other_and_goes_when_sent(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "plans", members=[ben])
    root = off_loop(post, ben, channel, "where do we meet?")
    laptop, phone = people(ana), people(ana)
    for browser in (laptop, phone):
        browser.go(channel.pk)

    laptop.page.fill("#composer-input", "Let us meet at ten")
    expect(phone.page.locator("#composer-input")).to_have_value("Let us meet at ten", timeout=3000)

    # A thread's draft is the thread's own, and follows too.
    for browser in (laptop, phone):
        item = message_item(browser.page, "where do we meet?")
        item.hover()
        item.get_by_role("button", name="Reply in thread").click()
    laptop.page.fill("#thread-composer textarea", "in the small room")
    expect(phone.page.locator("#thread-composer textarea")).to_have_value("in the small room",
                                                                       timeout=3000)
    expect(phone.page.locator("#composer-input")).to_have_value("Let us meet at ten")

    # Sent from the laptop: gone from the phone's box, and from the server.
    laptop.page.press("#composer-input", "Enter")
    expect(message_item(phone.page, "Let us meet at ten")).to_be_visible()
    expect(phone.page.locator("#composer-input")).to_have_value("", timeout=3000)
    thread_draft = {(root.conversation_id, root.pk): "in the small room"}
    assert off_loop(lambda: {(d.conversation_id, d.thread_root_id): d.text
                             for d in ana.drafts.all()}) == thread_draft

    # A browser opened later starts with it.
    tablet = people(ana)
    tablet.go(channel.pk)
    item = message_item(tablet.page, "where do we meet?")
    item.hover()
    item.get_by_role("button", name="Reply in thread").click()
    expect(tablet.page.locator("#thread-composer textarea")).to_have_value("in the small room")


def test_saved_for_later_lists_in_progress_and_done_on_every_browser(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ben, "finance", members=[ana])
    off_loop(post, ben, channel, "the Q3 numbers are in")
    laptop, phone = people(ana), people(ana)
    laptop.go(channel.pk)
    phone.page.get_by_role("button", name="Saved for later").click()
    expect(phone.page.locator("#side-panel")).to_contain_text("Nothing saved for later")

    item = message_item(laptop.page, "the Q3 numbers are in")
    item.hover()
    item.get_by_role("button", name="Save for later").click()

    in_progress = phone.page.get_by_role("list", name="Saved, in progress")
    expect(in_progress).to_contain_text("the Q3 numbers are in")
    expect(in_progress).to_contain_text("finance")
    laptop.page.get_by_role("button", name="Saved for later").click()
    laptop.page.get_by_role("list", name="Saved, in progress").get_by_role(
        "button", name="Done").click()

    expect(phone.page.locator("#side-panel")).to_contain_text("Nothing saved for later")
    phone.page.get_by_role("tab", name="Done").click()
    expect(phone.page.get_by_role("list", name="Saved, done")).to_contain_text(
        "the Q3 numbers are in")
    phone.page.get_by_role("list", name="Saved, done").get_by_role("button", name="Remove").click()
    expect(phone.page.locator("#side-panel")).to_contain_text("Nothing marked done yet")
    assert off_loop(lambda: ana.saved_messages.count()) == 0


def test_a_reply_in_a_followed_thread_appears_in_the_threads_view_live(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "launch", members=[ben])
    root = off_loop(post, ana, channel, "who books the venue?")
    off_loop(post, ben, channel, "I can", thread_root_id=root.pk)
    other = off_loop(make_channel, ana, "elsewhere", members=[ben])
    browser = people(ana)
    browser.go(other.pk)
    page = browser.page
    expect(page.locator("#threads-badge")).to_have_text("1")

    page.get_by_role("button", name=re.compile("^Threads")).click()
    item = page.locator(f'.thread-item[data-root="{root.pk}"]')
    expect(item.locator(".thread-unread")).to_have_text("1 new reply")

    off_loop(post, ben, channel, "booked for Friday", thread_root_id=root.pk)
    expect(item.locator(".thread-unread")).to_have_text("2 new replies")
    expect(item).to_contain_text("booked for Friday")

    # Open it in place and reply: read, and the badge goes.
    item.get_by_role("button", name="Open and reply").click()
    expect(page.locator("#thread-list")).to_contain_text("booked for Friday")
    expect(page.locator("#threads-badge")).to_be_hidden()
    page.fill("#thread-input", "Thanks, Ben")
    page.keyboard.press("Enter")
    expect(page.locator("#thread-list")).to_contain_text("Thanks, Ben")
    page.get_by_role("button", name="All threads").click()
    item = page.locator(f'.thread-item[data-root="{root.pk}"]')
    expect(item).to_contain_text("Thanks, Ben")
    expect(item.locator(".thread-unread")).to_have_count(0)


def test_a_mention_appears_in_activity_live_and_reading_it_clears_the_badge(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ben, "budget", members=[ana])
    other = off_loop(make_channel, ana, "elsewhere", members=[ben])
    browser = people(ana)
    browser.go(other.pk)
    page = browser.page
    page.get_by_role("button", name=re.compile("^Activity")).click()
    expect(page.locator("#side-panel-body")).to_contain_text("Nothing yet")

    off_loop(post, ben, channel, f"<@{ana.pk}> can you sign off the budget?")
    item = page.locator('.activity-item[data-kind="mention"]')
    expect(item).to_contain_text("Ben Okafor mentioned you in")
    expect(item).to_contain_text("can you sign off the budget?")
    expect(item.locator(".activity-unread")).to_have_text("new")
    expect(page.locator("#activity-badge")).to_have_text("1")

    # Only kinds asked for: no reactions yet.
    page.get_by_role("tab", name="Reactions").click()
    expect(page.locator(".activity-item")).to_have_count(0)
    page.get_by_role("tab", name="Mentions").click()
    # Opening it reads the conversation there: the badge goes.
    page.locator(".activity-what").click()
    expect(message_item(page, "can you sign off the budget?")).to_be_visible()
    expect(page.locator("#activity-badge")).to_be_hidden()


def test_seen_by_appears_after_the_other_person_reads_and_never_for_an_outsider(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    cleo = off_loop(make_user, name="Cleo Diaz")
    direct = off_loop(make_direct, ana, ben)
    elsewhere = off_loop(make_channel, ben, "elsewhere", members=[ana, cleo])
    anas, bens, cleos = people(ana), people(ben), people(cleo)
    anas.go(direct.pk)
    bens.go(elsewhere.pk)
    anas.send("Did you get the contract?")
    expect(message_item(anas.page, "Did you get the contract?")).to_be_visible()
    seen_by = anas.page.locator("#seen-by")
    anas.page.wait_for_timeout(800)
    expect(seen_by).to_be_hidden()  # Ben has not read it yet

    bens.page.locator(f'a[data-conversation="{direct.pk}"]').click()
    expect(message_item(bens.page, "Did you get the contract?")).to_be_visible()
    expect(seen_by).to_have_text("Seen by Ben Okafor")

    # Cleo is not in the conversation: the server tells her nothing about it.
    message_id = int(seen_by.get_attribute("data-message"))
    cleos.go(elsewhere.pk)
    status = cleos.page.evaluate(
        "async (id) => (await fetch(`/api/v1/messages/${id}/receipts/`)).status", message_id)
    assert status == 404

"""A new employee's first screen (issue 34): an accepted invitation lands in the default
channels; someone in no conversation is told what to do next and offered no control that
needs one; and no control takes a click before it can act on it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts import services as accounts
from messaging import services
from tests.e2e import message_item
from tests.e2e.conftest import close_context
from tests.factories import make_channel, make_user, post
from tests.realtime import session_cookie_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_new_hire_accepts_the_invitation_and_lands_in_general(browser, daphne_pair, artifacts,
                                                               off_loop):
    admin = off_loop(make_user, "admin", name="Olivia Owner")
    general = off_loop(make_channel, admin, "general")
    off_loop(make_channel, admin, "random")
    off_loop(services.conversation_update, actor=admin, conversation_id=general.pk, default=True)
    off_loop(post, admin, general, "Welcome, everyone! Say hello here.")
    _, token = off_loop(accounts.user_invite, actor=admin, email="new.hire@example.com")

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{daphne_pair[0].url}/invite/{token}/")
        page.get_by_label("Your name as others will see it").fill("Nia Newhire")
        page.get_by_label("Password", exact=True).fill("a long new passphrase")
        page.get_by_label("Password again").fill("a long new passphrase")
        page.get_by_role("button", name="Create my account").click()
        page.wait_for_selector("#app[data-state=ready]", timeout=15000)
        expect(page.locator("#conversation-title")).to_contain_text("general")
        expect(message_item(page, "Welcome, everyone!")).to_be_visible()
        expect(page.locator(f'a[data-conversation="{general.pk}"]')).to_be_visible()
        expect(page.locator("#channel-list")).not_to_contain_text("random")
        page.screenshot(path=str(artifacts / "new-hire-first-screen.png"))
        assert errors == []
    finally:
        close_context(context)


def test_someone_in_no_conversation_is_told_what_to_do(people, off_loop, artifacts):
    loner = off_loop(make_user, name="Lone Ranger")
    other = off_loop(make_user, name="Other Person")
    off_loop(make_channel, other, "projects")
    browser = people(loner)
    page = browser.page
    empty = page.locator(".empty-state.onboarding")
    expect(empty).to_contain_text("You are not in any conversation yet.")
    expect(page.locator("#composer")).to_be_hidden()
    for name in ("Members", "Pinned messages", "Conversation settings"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()
    page.screenshot(path=str(artifacts / "no-conversation-first-screen.png"))
    empty.get_by_role("button", name="Browse channels").click()
    expect(page.locator("#dialog")).to_contain_text("projects")
    assert browser.errors == []


def test_a_click_while_loading_waits_for_the_page_instead_of_being_lost(browser, daphne_pair,
                                                                       off_loop):
    ana = off_loop(make_user, name="Ana Lopez")
    off_loop(make_user, name="Ben Okafor")
    off_loop(make_channel, ana, "plans")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        name, value = session_cookie_for(ana).split("=", 1)
        context.add_cookies([{"name": name, "value": value, "url": daphne_pair[0].url}])
        page = context.new_page()

        # One of the client's modules is held back until the page itself asks for it to go
        # on, a second into the click's wait (a route handler that slept would hold
        # Playwright); the client cannot start without it.
        held = []
        page.route("**/static/js/sidebar.js", lambda route: held.append(route))
        page.route("**/release-held", lambda route: (held.pop().continue_(), route.fulfill(status=204)))
        # Not "domcontentloaded": that waits for the modules, one of which is held.
        page.goto(f"{daphne_pair[0].url}/", wait_until="commit")
        page.wait_for_selector("#composer", state="attached")
        assert page.locator("#app").get_attribute("inert") is not None  # still loading
        page.evaluate("setTimeout(() => fetch('/release-held'), 1000)")
        page.get_by_role("button", name="Start a conversation").click(timeout=15000)
        expect(page.locator("#dialog")).to_be_visible()
        assert page.locator("#app").get_attribute("inert") is None  # it waited for the page
    finally:
        close_context(context)


def test_the_page_logs_no_header_errors(browser, daphne_pair, off_loop):
    ana = off_loop(make_user, name="Ana Lopez")
    off_loop(make_channel, ana, "plans")
    context = browser.new_context()
    try:
        name, value = session_cookie_for(ana).split("=", 1)
        context.add_cookies([{"name": name, "value": value, "url": daphne_pair[0].url}])
        page = context.new_page()
        logged: list[str] = []
        page.on("console", lambda message: logged.append(f"{message.type}: {message.text}"))
        page.goto(f"{daphne_pair[0].url}/")
        page.wait_for_selector("#app[data-state=ready]", timeout=15000)
        page.wait_for_timeout(500)
        assert [line for line in logged if "Permissions-Policy" in line or "feature" in line] == []
    finally:
        close_context(context)

"""Search results as people read them (issue 34): rendered like messages with the matched
words marked, their conversation and the messages around them, a jump to the message,
completion for from: and in:, and the syntax help."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import serious
from tests.factories import make_channel, make_direct, make_user, post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

INJECTED = ("window.__searchInjected === true"
            " || document.querySelectorAll('#side-panel-body script').length > 0")


def scenario():
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    make_user(name="Ana Smith")
    channel = make_channel(ana, "launch", members=[ben])
    post(ben, channel, "we need the numbers first")
    found = post(ana, channel, f"The **budget** for <@{ben.pk}> is ready :rocket: "
                               "<script>window.__searchInjected = true</script>")
    post(ben, channel, "great, ship it")
    for n in range(40):
        post(ben, channel, f"later chatter {n}")
    direct = make_direct(ana, ben)
    post(ana, direct, "the budget in private")
    post(ben, channel, "budget talk by Ben himself")
    post(ana, channel, "来週は東京都庁で **Q3の売上** を報告します")
    return ana, ben, channel, found


def test_search_results_read_like_messages_with_context_and_completion(people, off_loop, artifacts):
    _, ben, channel, found = off_loop(scenario)
    b = people(ben)
    b.go(channel.pk)
    search = b.page.locator("#search-input")

    # from: suggests people by name; the keyboard picks one.
    search.fill("from:ana")
    listbox = b.page.get_by_role("listbox", name="Search suggestions")
    expect(listbox.get_by_role("option")).to_have_count(2)
    expect(search).to_have_attribute("aria-expanded", "true")
    search.press("ArrowDown")
    smith = listbox.get_by_role("option", name=re.compile("Ana Smith"))
    expect(smith).to_have_attribute("aria-selected", "true")
    search.press("ArrowUp")
    search.press("Enter")
    expect(search).to_have_value('from:"Ana Lopez" ')
    expect(listbox).to_be_hidden()
    search.press("End")
    search.type("budget")
    search.press("Enter")

    results = b.page.locator(".search-result")
    expect(results).to_have_count(2)
    hit = results.filter(has_text="#launch")
    direct = results.filter(has_text="Direct message with Ana Lopez")
    expect(direct).to_contain_text("the budget in private")
    # Rendered like a message: formatting, the mention as a name, the emoji as a character,
    # the HTML-looking text as text; the matched word marked.
    body = hit.locator(".search-hit .message-body")
    expect(body.locator("strong mark")).to_have_text("budget")
    expect(body).to_contain_text("@Ben Okafor")
    expect(body).to_contain_text("🚀")
    expect(body).to_contain_text("<script>window.__searchInjected = true</script>")
    expect(body).not_to_contain_text("**")
    expect(hit.locator(".search-hit .message-author")).to_have_text("Ana Lopez")
    # The messages around it, as read in the channel.
    expect(hit.locator(".search-context").first).to_contain_text("we need the numbers first")
    expect(hit.locator(".search-context").last).to_contain_text("great, ship it")
    expect(results.filter(has_text="Ben himself")).to_have_count(0)
    assert not b.page.evaluate(INJECTED)
    b.page.locator("#side-panel").screenshot(path=str(artifacts / "search-results.png"))
    assert serious(b.page) == []

    # Jump to the message in its conversation.
    hit.get_by_role("link", name=re.compile("Jump")).click()
    focused = b.page.locator(f"#msg-{found.pk}")
    expect(focused).to_be_visible()
    expect(focused).to_have_class(re.compile("highlight"))

    # in: suggests channels; a bare name of two words is read as the person's.
    search.fill("in:lau")
    expect(listbox.get_by_role("option", name=re.compile("#launch"))).to_be_visible()
    search.press("Tab")
    expect(search).to_have_value("in:#launch ")
    search.fill("from:Ana Lopez private")
    search.press("Enter")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("Direct message with Ana Lopez")

    # An unknown or ambiguous name is said so, with the syntax.
    search.fill("from:Nobody Here budget")
    search.press("Enter")
    expect(b.page.locator(".search-error")).to_contain_text('No one called "nobody"')
    expect(b.page.locator("#side-panel-body .search-syntax")).to_contain_text("from:")
    search.fill("from:ana budget")
    search.press("Enter")
    expect(b.page.locator(".search-error")).to_contain_text("could be Ana Lopez, Ana Smith")

    # The "?" beside the box shows the operators.
    help_button = b.page.get_by_role("button", name="Search syntax help")
    help_button.click()
    expect(b.page.get_by_role("region", name="Search syntax")).to_contain_text("in:#launch")
    expect(help_button).to_have_attribute("aria-expanded", "true")
    assert serious(b.page) == []
    b.page.keyboard.press("Escape")
    expect(b.page.get_by_role("region", name="Search syntax")).to_be_hidden()
    expect(help_button).to_have_attribute("aria-expanded", "false")

    # Chinese, Japanese and Korean are found and marked inside a run of characters.
    search.fill("東京 Q3の売上")
    search.press("Enter")
    expect(results).to_have_count(1)
    cjk = results.first.locator(".search-hit .message-body")
    expect(cjk.locator("mark")).to_have_text(["東京", "Q3の売上"])
    expect(cjk.locator("strong mark")).to_have_text("Q3の売上")

"""Controls draw the client's own SVG icons, never emoji: on a machine without a colour
emoji font an emoji button is an empty box. Emoji stay where they are content."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.factories import make_channel, make_user, post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Every visible control under `root`, with the emoji in its visible text (outside the
# content that is emoji: reaction chips, the emoji picker) and whether it has a name.
CONTROLS = """(root) => {
  const pictograph = /\\p{Extended_Pictographic}/u;
  const content = ".reactions, .emoji-grid, .message-body";
  const controls = "button, [role=button], a.nav-item, .nav-list a, a.icon-button";
  return [...document.querySelectorAll(`${root} :is(${controls})`)]
    .filter((node) => node.checkVisibility() && !node.closest(content))
    .map((node) => {
      const name = node.getAttribute("aria-label") || node.innerText.trim();
      return { name, emoji: pictograph.test(node.innerText), named: Boolean(name),
        iconOnly: !node.innerText.trim(), titled: Boolean(node.title),
        hiddenIcons: [...node.querySelectorAll("svg")].every((svg) => svg.ariaHidden === "true") };
    });
}"""


def bad(page, root: str) -> list[dict]:
    controls = page.evaluate(CONTROLS, root)
    assert controls, f"no controls found under {root}"
    return [c for c in controls if c["emoji"] or not c["named"] or not c["hiddenIcons"]
            or (c["iconOnly"] and not c["titled"])]


def scenario():
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    channel = make_channel(ana, "design", members=[ben])
    make_channel(ana, "secret", kind="private", members=[ben])
    root = post(ben, channel, "Mock-ups are ready :tada:")
    post(ana, channel, "Looks great", thread_root_id=root.pk)
    mine = post(ana, channel, "Shipping on Friday 🚀")
    return ana, channel, mine


def test_controls_show_svg_icons_with_names_and_no_emoji(people, artifacts, off_loop):
    ana, channel, mine = off_loop(scenario)
    a = people(ana)
    a.go(channel.pk)
    page = a.page
    message = page.locator(f"#msg-{mine.id}")
    expect(message).to_be_visible()
    message.hover()
    message.get_by_role("button", name="Add reaction").click()  # a reaction chip: content
    page.locator(".emoji-grid [role=option]").first.click()
    expect(message.locator(".reaction")).to_be_visible()

    assert bad(page, ".sidebar") == []
    assert bad(page, ".conversation-header") == []
    assert bad(page, "#composer") == []
    message.hover()
    assert bad(page, f"#msg-{mine.id}") == []
    # The sprite is drawn: the icons have a size and their symbol resolves.
    box = message.locator(".message-actions .icon").first.bounding_box()
    assert box and box["width"] > 10 and box["height"] > 10
    page.screenshot(path=str(artifacts / "icons.png"))

    page.locator(".thread-summary").first.click()
    expect(page.locator("#thread-list")).to_contain_text("Looks great")
    assert bad(page, "#side-panel") == []

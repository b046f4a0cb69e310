"""Browser tests: headless Chromium against a real daphne (conftest.py)."""


def message_item(page, text: str):
    """The message in the open conversation's list that shows this text."""
    return page.locator("#message-list .message", has_text=text)

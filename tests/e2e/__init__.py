"""Browser tests: headless Chromium against a real daphne (conftest.py)."""

import time


def message_item(page, text: str):
    """The message in the open conversation's list that shows this text."""
    return page.locator("#message-list .message", has_text=text)


class ReadMarks:
    """Counts a page's read-position requests (POST .../read/), so a test can wait until
    the page has none in flight and has started none for a while: the client sends them
    400 ms after the view settles, and one arriving late would undo what the test does
    next (mark unread, say)."""

    def __init__(self, page) -> None:
        self.page, self.pending, self.last = page, set(), time.monotonic()
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    @staticmethod
    def _is_read(request) -> bool:
        return request.method == "POST" and request.url.endswith("/read/")

    def _started(self, request) -> None:
        if self._is_read(request):
            self.pending.add(request)
            self.last = time.monotonic()

    def _ended(self, request) -> None:
        if request in self.pending:
            self.pending.discard(request)
            self.last = time.monotonic()

    def settled(self, quiet: float = 1.0) -> bool:
        return not self.pending and time.monotonic() - self.last >= quiet


def wait_until_reads_settle(*marks: ReadMarks, within: float = 20.0) -> None:
    """Until no page of `marks` has a read-position request in flight or just sent."""
    deadline = time.monotonic() + within
    while not all(mark.settled() for mark in marks):
        assert time.monotonic() < deadline, "a page kept sending read positions"
        marks[0].page.wait_for_timeout(100)

"""Web client page load: headless Chromium (Playwright, the flags of the end-to-end tests)
against a real daphne process on the bench database, signed in as the person in 500
conversations.

A load is timed from navigation start (the page's performance.timeOrigin) to the moment
`#app` has `data-state="ready"` and `#message-list` holds at least one message, both seen
by a MutationObserver installed before the page's own scripts run, so no polling delay
is added. Cold: a new browser context each time (empty cache and storage, the session
cookie only). Warm: the same context loaded again (cached scripts, the last conversation
remembered). The baseline is the server-rendered sign-in page of the same daphne, cold,
to its `load` event: the fixed cost of a navigation on this machine (browser, HTTP,
Django, a stylesheet), without the client's API calls, WebSocket and rendering.
"""

from __future__ import annotations

import sys
from typing import Any

from bench import environment
from bench.stats import Row, percentile

LOADS_QUICK, LOADS_FULL = 8, 20
# Issue 34: the first conversation shown within this, p50, on this machine.
AIM_P50_MS = {"cold": 800, "warm": 400}
READY_SCRIPT = """
(() => {
  const check = () => {
    const app = document.getElementById("app");
    if (window.__benchList === undefined && document.querySelector("#message-list .message")) {
      window.__benchList = performance.now();
    }
    if (app && app.dataset.state === "ready" && window.__benchList !== undefined) {
      window.__benchReady = performance.now();
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(document, {subtree: true, childList: true, attributes: true,
                              attributeFilter: ["data-state"]});
})();
"""
READY = "() => window.__benchReady !== undefined"
TIMEOUT_MS = 60_000


def run(*, quick: bool) -> list[Row]:
    from playwright.sync_api import sync_playwright

    from accounts.models import User
    from bench.seed_history import HOT_EMAIL
    from tests.e2e.conftest import CHROMIUM_ARGS
    from tests.realtime import session_cookie_for
    from tests.servers import DaphneServer

    loads = LOADS_QUICK if quick else LOADS_FULL
    reader = User.objects.get(email=HOT_EMAIL)
    session = session_cookie_for(reader).split("=", 1)[1]
    server = DaphneServer(environment.DATA_DIR / "daphne-pageload")
    try:
        server.start(**environment.CELERY_ENV, **environment.RATE_LIMITS)
        print(f"  daphne pid {server.process.pid} on port {server.port}", file=sys.stderr, flush=True)
        cookie = {"name": "sessionid", "value": session, "url": server.url}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                                 args=CHROMIUM_ARGS)
            try:
                _load_cold(browser, server.url, cookie)  # unmeasured: daphne's first requests
                cold, warm, lists, baseline = [], [], [], []
                context = _context(browser, cookie)
                page = context.new_page()
                _load(page, server.url)  # unmeasured: the warm context's first load is cold
                for _ in range(loads):
                    ready, listed = _load_cold(browser, server.url, cookie)
                    cold.append(ready)
                    lists.append(listed)
                    baseline.append(_load_sign_in(browser, server.url))
                    warm.append(_load(page, server.url)[0])
                context.close()
            finally:
                browser.close()
    finally:
        server.stop()
    rows = []
    for name, samples in (("cold", cold), ("warm", warm)):
        figures = tuple(percentile(samples, f) for f in (0.5, 0.95))
        print(f"  page load {name}: p50 {figures[0]:.0f} ms, p95 {figures[1]:.0f} ms", file=sys.stderr,
              flush=True)
        rows.append(Row(
            benchmark=f"web client: page load to the first conversation shown, {name}",
            measure="p50 / p95 ms", ours=figures,
            baseline=tuple(percentile(baseline, f) for f in (0.5, 0.95)),
            baseline_name="sign-in page, cold",
            aim=f"p50 < {AIM_P50_MS[name]} ms", met=figures[0] < AIM_P50_MS[name],
            notes=[f"{loads} loads" + (f"; the message list was first filled at p50 "
                                      f"{percentile(lists, 0.5):.0f} ms" if name == "cold" else
                                      " in one context, after its first load")]))
    return rows


def _load_cold(browser: Any, url: str, cookie: dict[str, str]) -> tuple[float, float]:
    context = _context(browser, cookie)
    try:
        return _load(context.new_page(), url)
    finally:
        context.close()


def _context(browser: Any, cookie: dict[str, str]) -> Any:
    context = browser.new_context()
    context.add_cookies([cookie])
    context.add_init_script(READY_SCRIPT)
    return context


def _load(page: Any, url: str) -> tuple[float, float]:
    page.goto(url + "/", wait_until="commit", timeout=TIMEOUT_MS)
    page.wait_for_function(READY, timeout=TIMEOUT_MS)
    return page.evaluate("() => [window.__benchReady, window.__benchList]")


def _load_sign_in(browser: Any, url: str) -> float:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url + "/accounts/login/", wait_until="load", timeout=TIMEOUT_MS)
        return page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd")
    finally:
        context.close()

"""The installable app in Chromium: the manifest is valid and linked, the service worker
registers and keeps the shell, a push is shown (and withdrawn) by the worker, a click
opens the message, and the offline page comes from the cache once the server is gone."""

from __future__ import annotations

import json
import os
import re

import pytest
from playwright.sync_api import expect

from messaging.models import PushSubscription
from messaging.services import push
from teamchat.pwa import shell_version
from tests.e2e.conftest import Person
from tests.factories import make_channel, make_user, post
from tests.pushservice import Browser, b64url
from tests.servers import DaphneServer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_server(daphne_pair, tmp_path):
    """A daphne process of this test's own, which it may stop."""
    server = DaphneServer(tmp_path / "pwa").start()
    yield server
    server.stop()


def _worker_ready(page) -> None:
    page.wait_for_function("""async () => {
        const registration = await navigator.serviceWorker.getRegistration("/");
        return Boolean(registration && registration.active && navigator.serviceWorker.controller);
    }""", timeout=20000, polling=200)


def _notifications_until(page, tag: str, wanted) -> list[dict]:
    """The worker's notifications with this tag, asked again until `wanted` holds of them
    (page.evaluate awaits the answer; a polled async predicate would not)."""
    for _ in range(50):
        shown = page.evaluate("""async (tag) => {
            const registration = await navigator.serviceWorker.getRegistration("/");
            return (await registration.getNotifications({ tag })).map((n) => ({
                title: n.title, body: n.body, tag: n.tag, data: n.data }));
        }""", tag)
        if wanted(shown):
            return shown
        page.wait_for_timeout(200)
    return shown


def test_the_app_installs_shows_pushes_and_opens_offline(browser, own_server, off_loop):
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    channel = off_loop(make_channel, ana, "launch", members=[ben])
    message = off_loop(post, ana, channel, f"<@{ben.pk}> the launch moved")
    person = Person(browser, own_server, ben)
    try:
        person.context.grant_permissions(["notifications"], origin=own_server.url)
        page = person.page
        page.reload()  # the first visit installed the worker; this one is under its control
        page.wait_for_selector("#app[data-state=ready]")
        _worker_ready(page)

        # The manifest: linked, served, and without errors as Chromium reads it.
        cdp = person.context.new_cdp_session(page)
        manifest = cdp.send("Page.getAppManifest")
        assert manifest["url"].endswith("/manifest.webmanifest")
        assert manifest["errors"] == [], manifest["errors"]
        assert json.loads(manifest["data"])["display"] == "standalone"

        # The shell is cached under this release's name.
        names = page.evaluate("caches.keys()")
        assert names == [f"teamchat-{shell_version()}"]
        kept = page.evaluate("""async (name) => {
            const cache = await caches.open(name);
            return (await cache.keys()).map((request) => new URL(request.url).pathname);
        }""", names[0])
        assert "/offline" in kept and "/static/js/app.js" in kept

        # A push, as the push service hands it to the worker, is shown by tag.
        registrations: list[dict] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated",
               lambda event: registrations.extend(event["registrations"]))
        cdp.send("ServiceWorker.enable")
        page.wait_for_timeout(300)
        (registration,) = {r["registrationId"]: r for r in registrations
                           if r["scopeURL"] == own_server.url + "/" and not r["isDeleted"]}.values()
        payload = push.message_payload(message, ben)
        cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": own_server.url, "registrationId": registration["registrationId"],
            "data": json.dumps(payload)})
        shown = _notifications_until(page, payload["tag"], bool)
        assert shown == [{"title": "Ana Lopez in #launch", "body": f"@{ben.display_name} the launch moved",
                          "tag": f"conv-{channel.pk}",
                          "data": {"url": payload["url"], "conversation": channel.pk, "message": message.pk}}]

        # Read on another device: the withdrawal closes it.
        cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": own_server.url, "registrationId": registration["registrationId"],
            "data": json.dumps(push.withdraw_payload(channel.pk))})
        assert _notifications_until(page, payload["tag"], lambda shown: not shown) == []

        # The server goes away: a page opened now is the offline page, from the cache.
        own_server.stop()
        page.goto(own_server.url + "/")
        assert page.locator("h1").inner_text() == "You are offline"
        assert person.errors == []
    finally:
        person.close()



# Headless Chromium has no push service to subscribe with (pushManager.subscribe fails
# with "permission denied"): the browser's side of subscribing is stood in for, with a
# real key pair, and everything after it (the page, the API, the profile) is real.
FAKE_PUSH_MANAGER = """(() => {
  const subscription = {
    endpoint: ENDPOINT, options: { applicationServerKey: null },
    toJSON() { return { endpoint: ENDPOINT, expirationTime: null, keys: KEYS }; },
    async unsubscribe() { current = null; return true; },
  };
  let current = null;
  PushManager.prototype.subscribe = async function () { current = subscription; return subscription; };
  PushManager.prototype.getSubscription = async function () { return current; };
})();"""


def test_push_is_turned_on_in_settings_listed_on_the_profile_and_gone_on_sign_out(people):
    ben = make_user(name="Ben Okafor")
    device = Browser(endpoint="https://fcm.googleapis.com/fcm/send/e2e-" + b64url(os.urandom(9)))
    person = people(ben)
    person.context.grant_permissions(["notifications"], origin=person.server.url)
    person.context.add_init_script(FAKE_PUSH_MANAGER.replace("ENDPOINT", json.dumps(device.endpoint))
                                   .replace("KEYS", json.dumps(device.subscription_json()["keys"])))
    page = person.open()

    page.click("#me-button")
    page.get_by_role("tab", name="Notifications").click()
    page.check("#push-notifications")
    expect(page.locator("#push-note")).to_have_text("Push notifications are on for this device.")
    (subscription,) = PushSubscription.objects.filter(user=ben)
    assert subscription.endpoint == device.endpoint and subscription.device_name == "Chrome on Linux"

    # The profile lists it as this device; removing it there stops push here too.
    page.goto(person.server.url + "/profile/")
    row = page.locator(f'#push-devices-table tr[data-id="{subscription.pk}"]')
    expect(row).to_contain_text("Chrome on Linux (this one)")
    row.get_by_role("button", name="Remove").click()
    expect(page.locator("#push-devices-empty")).to_be_visible()
    assert not PushSubscription.objects.filter(user=ben).exists()
    assert page.evaluate("localStorage.getItem('teamchat.pushSubscription')") is None

    # On again, then signing out forgets this device's subscription.
    page.goto(person.server.url + "/")
    page.wait_for_selector("#app[data-state=ready]")
    page.click("#me-button")
    page.get_by_role("tab", name="Notifications").click()
    page.check("#push-notifications")
    expect(page.locator("#push-note")).to_have_text("Push notifications are on for this device.")
    assert PushSubscription.objects.filter(user=ben).count() == 1
    page.goto(person.server.url + "/profile/")
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url("**/accounts/login/**")
    assert not PushSubscription.objects.filter(user=ben).exists()


# The worker's notificationclick handler, run by Chromium's JavaScript engine with the
# browser's Clients API stood in for: a headless browser shows no notification to click,
# and a synthetic click may neither focus a window nor open one.
RUN_CLICK = """async ({ source, windows }) => {
  const handlers = {}, calls = [];
  const clients = windows.map((url) => ({ url,
    focus: async () => { calls.push(["focus", url]); },
    navigate: async (target) => { calls.push(["navigate", url, target]); } }));
  const worker = {
    addEventListener: (type, handler) => { handlers[type] = handler; },
    location: new URL("/sw.js", location.origin),
    clients: { matchAll: async () => clients,
               openWindow: async (target) => { calls.push(["open", target]); } },
  };
  new Function("self", "caches", source)(worker, {});
  let waited;
  handlers.notificationclick({ notification: { data: { url: "/#/c/5/m/9" },
                                               close: () => calls.push(["close"]) },
                               waitUntil: (promise) => { waited = promise; } });
  await waited;
  return calls;
}"""


def test_clicking_a_notification_opens_the_app_at_the_message(people, off_loop):
    ana, ben = off_loop(make_user, name="Ana Lopez"), off_loop(make_user, name="Ben Okafor")
    channel = off_loop(make_channel, ana, "launch", members=[ben])
    older = [off_loop(post, ana, channel, f"filler {n}") for n in range(60)]
    message = off_loop(post, ana, channel, f"<@{ben.pk}> the launch moved")
    person = people(ben)
    page = person.page
    origin = person.server.url
    source = page.evaluate("fetch('/sw.js').then((answer) => answer.text())")

    # A window of the app is open: it is focused and taken to the message.
    windows = ["https://elsewhere.example/", origin + "/"]  # another site's window is left alone
    assert page.evaluate(RUN_CLICK, {"source": source, "windows": windows}) == [
        ["close"], ["focus", origin + "/"], ["navigate", origin + "/", origin + "/#/c/5/m/9"]]
    # None is: a new one opens at the message.
    assert page.evaluate(RUN_CLICK, {"source": source, "windows": []}) == [
        ["close"], ["open", origin + "/#/c/5/m/9"]]

    # Where it lands: the conversation open at the message (far up its history), marked.
    url = push.message_payload(message, ben)["url"]
    assert url == f"/#/c/{channel.pk}/m/{message.pk}"
    first = older[0]
    page.goto(origin + f"/#/c/{channel.pk}/m/{first.pk}")
    expect(page.locator(f'a[data-conversation="{channel.pk}"][aria-current="page"]')).to_be_visible()
    expect(page.locator(f"#msg-{first.pk}")).to_have_class(re.compile("highlight"))
    expect(page.locator(f"#msg-{first.pk}")).to_be_in_viewport()

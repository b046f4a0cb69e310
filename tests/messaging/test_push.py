"""Web Push against a real push service on loopback (tests/pushservice.py): each push is
checked as a push service checks it (the VAPID JWT) and decrypted as a browser does."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts import presence
from accounts import services as accounts
from messaging import services
from messaging.models import PushShown, PushSubscription
from messaging.services import notifications, push
from tests.factories import client_for, make_channel, make_direct, make_user, post, wait_for
from tests.pushservice import PushService

pytestmark = pytest.mark.django_db


@pytest.fixture
def push_service(settings):
    service = PushService(vapid_public_key=push.vapid_public_key())
    settings.PUSH_SERVICE_HOSTS = ["127.0.0.1"]
    settings.PUSH_RETRY_SECONDS = 0
    yield service
    service.stop()


@pytest.fixture
def scene(member, other_member, push_service, django_capture_on_commit_callbacks):
    """Ana and Ben in #launch; Ben's phone is subscribed and no tab of his is open."""
    ana, ben = member, other_member
    channel = make_channel(ana, "launch", members=[ben])
    phone = push_service.subscribe()
    response = client_for(ben).post("/api/v1/me/push-subscriptions/",
                                    phone.subscription_json("Ben's phone"), format="json")
    assert response.status_code == 201

    def say(author, text, conversation=None):
        with django_capture_on_commit_callbacks(execute=True):
            return post(author, conversation or channel, text)

    return ana, ben, channel, phone, say


def test_a_mention_reaches_the_device_signed_and_decryptable(scene, push_service):
    ana, ben, channel, phone, say = scene
    message = say(ana, f"<@{ben.pk}> the **launch** moved to Friday")

    assert push_service.refused == []
    (pushed,) = push_service.wait(1)
    assert pushed.browser is phone
    assert pushed.payload == {
        "type": "message", "tag": f"conv-{channel.pk}",
        "title": f"{ana.display_name} in #launch",
        "body": f"@{ben.display_name} the launch moved to Friday",
        "url": f"/#/c/{channel.pk}/m/{message.pk}",
        "conversation": channel.pk, "message": message.pk,
    }
    assert pushed.headers["topic"] == f"conv-{channel.pk}"
    assert pushed.headers["urgency"] == "high"
    assert PushSubscription.objects.get().last_used_at is not None


def test_direct_messages_push_and_plain_channel_messages_do_not(scene, push_service):
    ana, ben, _channel, _phone, say = scene
    say(ana, "nobody is mentioned here")
    direct = make_direct(ana, ben)
    say(ana, "just between us", direct)

    (pushed,) = push_service.wait(1)
    assert pushed.payload["title"] == ana.display_name
    assert pushed.payload["body"] == "just between us"


def test_a_muted_conversation_pushes_nothing(scene, push_service):
    ana, ben, channel, _phone, say = scene
    services.membership_preferences_update(actor=ben, conversation_id=channel.pk, muted=True)
    say(ana, f"<@{ben.pk}> you muted this")
    assert push_service.server.requests == []


def test_quiet_hours_and_do_not_disturb_push_nothing(scene, push_service):
    ana, ben, _channel, _phone, say = scene
    ben.timezone = "Europe/Paris"
    ben.save()
    local = timezone.now().astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    notifications.notification_preferences_update(
        user=ben, quiet_hours_start=(local - timedelta(hours=1)).time().replace(second=0, microsecond=0),
        quiet_hours_end=(local + timedelta(hours=2)).time().replace(second=0, microsecond=0))
    say(ana, f"<@{ben.pk}> during quiet hours")

    notifications.notification_preferences_update(user=ben, quiet_hours_start=None,
                                                  quiet_hours_end=None)
    accounts.presence_set(user=ben, status="dnd", dnd_until=timezone.now() + timedelta(hours=1))
    say(ana, f"<@{ben.pk}> during do-not-disturb")
    assert push_service.server.requests == []


def test_someone_active_in_a_tab_is_not_pushed(scene, push_service):
    ana, ben, _channel, _phone, say = scene
    presence.store().touch(ben.pk, "tab", "active")
    try:
        say(ana, f"<@{ben.pk}> you are looking at it")
    finally:
        presence.store().drop(ben.pk, "tab")
    assert push_service.server.requests == []


def test_reading_on_another_device_withdraws_the_notification(scene, push_service,
                                                              django_capture_on_commit_callbacks):
    ana, ben, channel, phone, say = scene
    laptop = push_service.subscribe()
    client_for(ben).post("/api/v1/me/push-subscriptions/", laptop.subscription_json(), format="json")
    message = say(ana, f"<@{ben.pk}> look")
    assert len(push_service.wait(2)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        client_for(ben).post(f"/api/v1/conversations/{channel.pk}/read/", {"message": message.pk},
                             format="json")

    pushes = push_service.wait(4)
    withdrawals = [p for p in pushes if p.payload["type"] == "withdraw"]
    assert sorted(p.browser.endpoint for p in withdrawals) == sorted([phone.endpoint, laptop.endpoint])
    assert all(p.payload == {"type": "withdraw", "tag": f"conv-{channel.pk}"} for p in withdrawals)
    assert all(p.headers["topic"] == f"conv-{channel.pk}" for p in withdrawals)
    assert not PushShown.objects.exists()

    # Reading again withdraws nothing more: nothing is shown.
    with django_capture_on_commit_callbacks(execute=True):
        services.read_mark(actor=ben, conversation_id=channel.pk, message_id=message.pk)
    assert len(push_service.server.requests) == 4


def test_reading_the_thread_withdraws_a_notification_about_a_reply_in_it(
        scene, push_service, django_capture_on_commit_callbacks):
    ana, ben, _channel, phone, say = scene
    direct = make_direct(ana, ben)  # every message there is pushed
    root = say(ana, "the contract", direct)
    services.thread_follow(actor=ben, message_id=root.pk, following=True)
    with django_capture_on_commit_callbacks(execute=True):
        reply = post(ana, direct, "signed it", thread_root_id=root.pk)
    assert [p.payload["message"] for p in push_service.wait(2)] == [root.pk, reply.pk]

    with django_capture_on_commit_callbacks(execute=True):
        services.thread_read(actor=ben, message_id=root.pk)
    (withdrawal,) = [p for p in push_service.wait(3) if p.payload["type"] == "withdraw"]
    assert withdrawal.browser is phone and withdrawal.payload["tag"] == f"conv-{direct.pk}"
    assert not PushShown.objects.exists()

    # A notification about something else in the conversation stays when a thread is read.
    with django_capture_on_commit_callbacks(execute=True):
        post(ana, direct, "another reply", thread_root_id=root.pk)
    say(ana, "and lunch?", direct)
    assert len(push_service.wait(5)) == 5
    with django_capture_on_commit_callbacks(execute=True):
        services.thread_read(actor=ben, message_id=root.pk)
    assert len(push_service.server.requests) == 5
    assert PushShown.objects.filter(user=ben, conversation=direct).exists()


def test_a_subscription_the_push_service_forgot_is_removed(scene, push_service):
    ana, ben, _channel, _phone, say = scene
    push_service.answers = [410]
    say(ana, f"<@{ben.pk}> anyone?")
    assert len(push_service.server.requests) == 1
    assert not PushSubscription.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_busy_push_service_is_asked_again_by_the_worker(push_service, real_worker):
    ana, ben = make_user(), make_user()
    channel = make_channel(ana, members=[ben])
    phone = push_service.subscribe()
    client_for(ben).post("/api/v1/me/push-subscriptions/", phone.subscription_json(), format="json")
    push_service.answers = [429, 503]

    post(ana, channel, f"<@{ben.pk}> persistent")  # the worker plans and sends the push

    (pushed,) = push_service.wait(1, seconds=30)
    assert pushed.payload["body"].endswith("persistent")
    assert len(push_service.server.requests) == 3
    assert push_service.refused == []
    # The worker notes the device's use once the push service's answer is back.
    wait_for(lambda: PushSubscription.objects.filter(last_used_at__isnull=False).exists(), seconds=10)


def test_the_preview_setting_limits_what_the_device_shows(scene, push_service):
    ana, ben, _channel, _phone, say = scene
    client = client_for(ben)
    assert client.patch("/api/v1/me/notifications/", {"notification_preview": "sender"},
                        format="json").status_code == 200
    say(ana, f"<@{ben.pk}> secret plans")
    client.patch("/api/v1/me/notifications/", {"notification_preview": "none"}, format="json")
    say(ana, f"<@{ben.pk}> more secret plans")

    first, second = push_service.wait(2)
    assert first.payload["title"] == f"{ana.display_name} in #launch"
    assert first.payload["body"] == "New message"
    assert second.payload["title"] == "teamchat" and second.payload["body"] == push.HIDDEN_BODY
    assert client.patch("/api/v1/me/notifications/", {"notification_preview": "loud"},
                        format="json").status_code == 400


def test_subscriptions_over_the_api(member, other_member, push_service):
    browser = push_service.subscribe()
    client = client_for(member)
    created = client.post("/api/v1/me/push-subscriptions/", browser.subscription_json("Laptop"),
                          format="json", HTTP_USER_AGENT="Firefox/140")
    assert created.status_code == 201
    body = created.json()
    assert body["endpoint"] == browser.endpoint and body["device_name"] == "Laptop"
    assert body["user_agent"] == "Firefox/140" and body["last_used_at"] is None

    again = client.post("/api/v1/me/push-subscriptions/", browser.subscription_json(), format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert again.json()["device_name"] == "Laptop"
    listed = client.get("/api/v1/me/push-subscriptions/").json()
    assert [s["id"] for s in listed["results"]] == [body["id"]]
    assert client_for(other_member).get("/api/v1/me/push-subscriptions/").json() == {"results": []}
    assert client_for(other_member).delete(
        f"/api/v1/me/push-subscriptions/{body['id']}/").status_code == 404
    assert client.delete(f"/api/v1/me/push-subscriptions/{body['id']}/").status_code == 204
    assert not PushSubscription.objects.exists()


def test_a_subscription_must_come_from_a_known_push_service(member, push_service, settings):
    client = client_for(member)
    browser = push_service.subscribe()
    elsewhere = {**browser.subscription_json(), "endpoint": "https://intranet.example.com/push/1"}
    refused = client.post("/api/v1/me/push-subscriptions/", elsewhere, format="json")
    assert refused.status_code == 400
    assert "endpoint" in refused.json()["error"]["fields"]
    bad_keys = {**browser.subscription_json(), "keys": {"p256dh": "AAAA", "auth": "AAAA"}}
    refused = client.post("/api/v1/me/push-subscriptions/", bad_keys, format="json")
    assert refused.status_code == 400
    assert set(refused.json()["error"]["fields"]) == {"p256dh"}
    settings.PUSH_SERVICE_HOSTS = ["fcm.googleapis.com"]
    plain = {**browser.subscription_json(), "endpoint": "http://fcm.googleapis.com/fcm/send/x"}
    assert client.post("/api/v1/me/push-subscriptions/", plain, format="json").status_code == 400
    assert not PushSubscription.objects.exists()


def test_the_vapid_key_is_made_once_and_shown_by_a_command(member):
    key = push.vapid_public_key()
    out = StringIO()
    call_command("push_vapid_key", stdout=out)
    assert out.getvalue().strip() == key == push.vapid_public_key()
    assert client_for(member).get("/api/v1/push/key/").json() == {"vapid_public_key": key}

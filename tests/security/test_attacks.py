"""The attack suite: CSRF on every form, reaching other people's things by id (REST and
WebSocket), hostile search input, and the doors that are meant to work without a cookie."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts import services as accounts
from accounts.models import UserSession
from compliance import services as compliance
from files import services as files
from messaging import services as messaging
from tests.factories import client_for, make_channel, make_direct, make_user, post
from tests.realtime import Socket, token_for

pytestmark = pytest.mark.django_db


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_every_form_refuses_a_post_without_the_csrf_token(owner, member):
    token, _ = accounts.api_token_create(actor=owner, user=owner, name="t")
    _, raw = accounts.user_invite(actor=owner, email="invited@example.com")
    csrf_client(owner).get("/")
    session = UserSession.objects.filter(user=owner).first()
    forms = [
        "/accounts/logout/", "/accounts/password/change/", "/profile/", "/profile/avatar/",
        "/profile/tokens/", f"/profile/tokens/{token.pk}/revoke/", "/accounts/2fa/setup/",
        "/accounts/2fa/disable/", "/accounts/2fa/recovery-codes/",
        f"/accounts/sessions/{session.pk if session else 1}/end/", "/accounts/sessions/end-others/",
        "/console/holds/", "/console/retention/", "/console/exports/", "/console/people/invite/",
        f"/console/people/{member.pk}/role/", f"/console/people/{member.pk}/active/",
        f"/console/people/{member.pk}/export/", f"/console/people/{member.pk}/erase/",
        "/console/holds/1/release/", "/console/retention/1/clear/", "/console/audit/verify/",
        "/console/import/", "/console/import/1/resume/",
    ]
    attacker = csrf_client(owner)
    for path in forms:
        assert attacker.post(path, {"name": "x"}).status_code == 403, path
    anonymous = Client(enforce_csrf_checks=True)
    for path in ("/accounts/login/", "/accounts/password/reset/", f"/invite/{raw}/"):
        assert anonymous.post(path, {"username": owner.email}).status_code == 403, path
    member.refresh_from_db()
    assert member.is_active and member.role == "member"


def test_unsafe_api_calls_on_a_session_need_the_csrf_token(member):
    channel = make_channel(member)
    client = csrf_client(member)
    assert client.get("/api/v1/me/").status_code == 200  # reading is fine
    for method, path, body in (
        ("post", f"/api/v1/conversations/{channel.pk}/messages/", {"text": "forged"}),
        ("patch", "/api/v1/me/", {"display_name": "Forged"}),
        ("delete", f"/api/v1/conversations/{channel.pk}/members/{member.pk}/", None),
        ("put", "/api/v1/me/presence/", {"status": "away"}),
    ):
        response = getattr(client, method)(path, body, content_type="application/json")
        assert response.status_code == 403, path
        assert "CSRF" in response.json()["error"]["detail"]
    assert not channel.messages.exists()


def test_other_peoples_things_cannot_be_reached_by_id(member, other_member):
    secret = make_channel(other_member, "their-secret", kind="private")
    their_message = post(other_member, secret, "private words")
    shared = make_channel(other_member, "shared", members=[member])
    their_shared = post(other_member, shared, "shared words")
    direct = make_direct(other_member, make_user())
    upload = files.attachment_upload(uploader=other_member, upload=SimpleUploadedFile("a.txt", b"x"))
    token, _ = accounts.api_token_create(actor=other_member, user=other_member, name="theirs")
    client = client_for(member)

    for path in (f"/api/v1/messages/{their_message.pk}/", f"/api/v1/conversations/{secret.pk}/",
                 f"/api/v1/conversations/{direct.pk}/messages/", f"/api/v1/files/{upload.pk}/",
                 f"/api/v1/files/{upload.pk}/download", f"/api/v1/messages/{their_message.pk}/replies/",
                 f"/api/v1/messages/{their_message.pk}/revisions/"):
        assert client.get(path).status_code == 404, path
    assert client.patch(f"/api/v1/messages/{their_shared.pk}/", {"text": "mine now"},
                        format="json").status_code == 403
    assert client.delete(f"/api/v1/messages/{their_shared.pk}/").status_code == 403
    assert client.delete(f"/api/v1/messages/{their_message.pk}/").status_code == 404
    assert client.delete(f"/api/v1/me/tokens/{token.pk}/").status_code == 404
    assert client.post(f"/api/v1/conversations/{secret.pk}/read/", {"message": their_message.pk},
                       format="json").status_code == 404
    assert client.post(f"/api/v1/conversations/{secret.pk}/members/", {"user": member.pk},
                       format="json").status_code == 404
    their_shared.refresh_from_db()
    assert their_shared.text == "shared words" and their_shared.deleted_at is None


@pytest.mark.django_db(transaction=True)
def test_other_peoples_conversations_cannot_be_reached_over_the_websocket(daphne_pair):
    member, other = make_user(), make_user()
    secret = make_channel(other, "not-yours", kind="private")
    direct = make_direct(other, make_user())
    with Socket(daphne_pair[0].ws_url, token=token_for(member)) as socket:
        for frame in ({"type": "subscribe", "conversation": secret.pk},
                      {"type": "resume", "since": {str(direct.pk): 0}},
                      {"type": "message.send", "conversation": secret.pk, "text": "hi",
                       "client_msg_id": "x1"},
                      {"type": "typing", "conversation": direct.pk}):
            socket.send(**frame)
            assert socket.next("error")["code"] == "not_found", frame
        post(other, secret, "nobody else hears this")
        assert socket.collect("message.created", seconds=1) == []
    assert not secret.messages.filter(text="hi").exists()


@pytest.mark.parametrize("query", ["x" * 10_000, "' OR '1'='1", "%' --", "\x00", "a" * 501,
                                   "); DROP TABLE messaging_message; --"])
def test_hostile_search_input_is_a_clear_answer_never_a_500(member, query):
    for path in ("/api/v1/search/messages/", "/api/v1/search/people/", "/api/v1/search/channels/",
                 "/api/v1/users/", "/api/v1/conversations/directory/"):
        response = client_for(member).get(path, {"q": query})
        assert response.status_code in (200, 400), (path, response.status_code)
        if response.status_code == 400:
            assert response.json()["error"]["code"]


def test_only_the_tokenised_doors_work_without_a_session(admin, member):
    """The unsubscribe link and incoming webhooks take no cookie and no CSRF token: their
    URL carries a secret. Everything else refuses anonymous callers."""
    from integrations import services as integrations
    from messaging.services.notifications import unsubscribe_url

    channel = make_channel(admin, "hooks")
    _, raw = integrations.incoming_webhook_create(actor=admin, conversation_id=channel.pk, name="CI")
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post(f"/api/v1/hooks/{raw}", '{"text": "hi"}',
                          content_type="application/json").content == b"ok"
    link = unsubscribe_url(member).split("://", 1)[1].split("/", 1)[1]
    assert anonymous.post("/" + link).status_code == 200
    for path in ("/api/v1/conversations/", "/api/v1/me/", "/api/v1/files/1/download"):
        assert anonymous.get(path).status_code == 401
    _ = compliance, messaging

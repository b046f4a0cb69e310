"""The messaging REST API: shapes, paging by id, errors and fixed query counts."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging import services
from messaging.models import Message
from tests.factories import client_for, make_channel, make_direct, post

pytestmark = pytest.mark.django_db


def test_create_channel_and_read_it_back(member, other_member):
    client = client_for(member)

    response = client.post("/api/v1/conversations/", {
        "kind": "public", "name": "launch", "topic": "T-minus 3", "members": [other_member.pk]},
        format="json")

    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("kind", "name", "topic", "archived", "last_seq", "is_member")} == {
        "kind": "public", "name": "launch", "topic": "T-minus 3", "archived": False,
        "last_seq": 1, "is_member": True}
    assert body["membership"]["role"] == "admin"
    assert client.get(f"/api/v1/conversations/{body['id']}/").json()["name"] == "launch"


def test_direct_conversation_is_201_when_new_and_200_after(member, other_member):
    client = client_for(member)
    first = client.post("/api/v1/conversations/", {"kind": "direct", "members": [other_member.pk]},
                        format="json")
    again = client_for(other_member).post("/api/v1/conversations/",
                                          {"kind": "direct", "members": [member.pk]},
                                          format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["members"] == sorted([member.pk, other_member.pk])


@pytest.mark.parametrize("body, fields", [
    ({"kind": "public"}, {"name"}),
    ({"kind": "secret", "name": "x"}, {"kind"}),
    ({"kind": "direct"}, {"members"}),
    ({"kind": "direct", "members": [1], "name": "x"}, {"name"}),
    ({"kind": "public", "name": "Bad Name"}, {"name"}),
    ({"kind": "public", "name": "ok", "members": ["abc"]}, {"members.0"}),
])
def test_bad_conversation_input_names_the_field(member, body, fields):
    response = client_for(member).post("/api/v1/conversations/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == fields


def test_send_returns_the_message_shape_and_retrying_returns_the_same(member):
    channel = make_channel(member)
    client = client_for(member)
    cmid = str(uuid.uuid4())

    first = client.post(f"/api/v1/conversations/{channel.pk}/messages/",
                        {"text": "Hello **world** :wave:", "client_msg_id": cmid}, format="json")
    retry = client.post(f"/api/v1/conversations/{channel.pk}/messages/",
                        {"text": "Hello **world** :wave:", "client_msg_id": cmid}, format="json")

    assert (first.status_code, retry.status_code) == (201, 200)
    body = first.json()
    assert set(body) == {"id", "conversation", "author", "text", "html", "seq", "thread_root",
                         "also_in_channel", "client_msg_id", "created_at", "edited_at", "deleted",
                         "reactions", "files", "thread", "pinned", "previews",
                         "encrypted", "ciphertext", "nonce", "key_id"}
    assert (body["encrypted"], body["ciphertext"], body["nonce"], body["key_id"]) == (False, None, None, None)
    assert body["html"] == "<p>Hello <strong>world</strong> 👋</p>"
    assert (body["author"], body["seq"], body["client_msg_id"]) == (member.pk, 2, cmid)
    assert retry.json() == body
    assert Message.objects.count() == 1


def test_history_pages_by_id_oldest_first(member):
    channel = make_channel(member)
    ids = [post(member, channel, f"m{n}").pk for n in range(12)]
    client = client_for(member)
    url = f"/api/v1/conversations/{channel.pk}/messages/"

    newest = client.get(url, {"limit": 5}).json()
    older = client.get(newest["older"]).json()
    after = client.get(url, {"after": ids[2], "limit": 3}).json()
    around = client.get(url, {"around": ids[6], "limit": 4}).json()
    oldest = client.get(url, {"before": ids[2]}).json()

    assert [m["id"] for m in newest["results"]] == ids[7:]
    assert (newest["has_older"], newest["has_newer"], newest["newer"]) == (True, False, None)
    assert [m["id"] for m in older["results"]] == ids[2:7]
    assert [m["id"] for m in after["results"]] == ids[3:6]
    assert after["has_newer"] is True
    assert [m["id"] for m in around["results"]] == ids[4:8]
    assert [m["id"] for m in oldest["results"]] == ids[:2]
    assert oldest["has_older"] is False


@pytest.mark.parametrize("params, field", [
    ({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"limit": "many"}, "limit"),
    ({"before": "x"}, "before"), ({"before": 5, "after": 3}, "before"),
])
def test_bad_paging_parameters_are_named(member, params, field):
    channel = make_channel(member)
    response = client_for(member).get(f"/api/v1/conversations/{channel.pk}/messages/", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_edit_delete_revisions_reactions_and_thread_over_the_api(member, other_member):
    channel = make_channel(member, members=[other_member])
    client, other = client_for(member), client_for(other_member)
    message = post(member, channel, "draft")

    edited = client.patch(f"/api/v1/messages/{message.pk}/", {"text": "final"}, format="json")
    reacted = other.post(f"/api/v1/messages/{message.pk}/reactions/", {"emoji": ":tada:"},
                         format="json")
    reply = other.post(f"/api/v1/conversations/{channel.pk}/messages/",
                       {"text": "nice", "thread_root": message.pk}, format="json")
    thread = client.get(f"/api/v1/messages/{message.pk}/replies/").json()
    revisions = client.get(f"/api/v1/messages/{message.pk}/revisions/").json()["results"]
    unreact = other.delete(f"/api/v1/messages/{message.pk}/reactions/🎉/")
    deleted = client.delete(f"/api/v1/messages/{message.pk}/")

    assert edited.json()["text"] == "final" and edited.json()["edited_at"]
    assert reacted.status_code == 201
    assert reacted.json()["reactions"] == [{"emoji": "🎉", "count": 1, "users": [other_member.pk]}]
    assert reply.json()["thread_root"] == message.pk
    assert thread["root"]["thread"]["reply_count"] == 1
    assert [r["text"] for r in thread["results"]] == ["nice"]
    assert [r["text"] for r in revisions] == ["draft"]
    assert unreact.status_code == 204
    assert deleted.status_code == 204
    tombstone = client.get(f"/api/v1/messages/{message.pk}/").json()
    assert (tombstone["deleted"], tombstone["text"]) == (True, "")


def test_pins_saved_read_and_preferences(member, other_member):
    channel = make_channel(member, members=[other_member])
    message = post(member, channel, f"<@{other_member.pk}> please read")
    other = client_for(other_member)

    assert other.post(f"/api/v1/messages/{message.pk}/pin/").status_code == 201
    assert other.post(f"/api/v1/messages/{message.pk}/save/").status_code == 201
    pins = other.get(f"/api/v1/conversations/{channel.pk}/pins/").json()["results"]
    saved = other.get("/api/v1/me/saved/").json()["results"]
    before = next(c for c in other.get("/api/v1/conversations/").json()["results"]
                  if c["id"] == channel.pk)
    read = other.post(f"/api/v1/conversations/{channel.pk}/read/", {"message": message.pk},
                      format="json").json()
    prefs = other.patch(f"/api/v1/conversations/{channel.pk}/preferences/",
                        {"muted": True, "notification_level": "mentions"}, format="json").json()
    bad = other.patch(f"/api/v1/conversations/{channel.pk}/preferences/",
                      {"notification_level": "loud"}, format="json")

    assert [m["id"] for m in pins] == [message.pk] and pins[0]["pinned"] is True
    assert [m["id"] for m in saved] == [message.pk]
    assert (before["unread_count"], before["mention_count"]) == (1, 1)
    assert (read["unread_count"], read["mention_count"]) == (0, 0)
    assert read["membership"]["last_read_message"] == message.pk
    assert (prefs["membership"]["muted"], prefs["membership"]["notification_level"]) == (
        True, "mentions")
    assert bad.status_code == 400 and "notification_level" in bad.json()["error"]["fields"]


def test_members_directory_join_and_leave(member, other_member):
    channel = make_channel(member, "open-house")
    client = client_for(other_member)

    found = client.get("/api/v1/conversations/directory/", {"q": "house"}).json()["results"]
    joined = client.post(f"/api/v1/conversations/{channel.pk}/join/")
    members = client.get(f"/api/v1/conversations/{channel.pk}/members/").json()["results"]
    left = client.post(f"/api/v1/conversations/{channel.pk}/leave/")

    assert [(c["name"], c["is_member"], c["member_count"]) for c in found] == [
        ("open-house", False, 1)]
    assert joined.status_code == 200 and joined.json()["is_member"] is True
    assert {m["user"] for m in members} == {member.pk, other_member.pk}
    assert left.status_code == 204


def test_unknown_ids_are_404_with_the_error_shape(member):
    client = client_for(member)
    for url in ("/api/v1/conversations/999999/", "/api/v1/messages/999999/",
                "/api/v1/conversations/999999/messages/", "/api/v1/nothing-here/"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_malformed_json_is_a_clear_400(member):
    channel = make_channel(member)
    response = client_for(member).post(f"/api/v1/conversations/{channel.pk}/messages/",
                                       data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["error"]["detail"]


# --- Query counts ----------------------------------------------------------------------


def count_queries(func) -> int:
    with CaptureQueriesContext(connection) as context:
        func()
    return len(context.captured_queries)


def test_history_page_costs_the_same_whatever_its_size(member, other_member):
    channel = make_channel(member, members=[other_member])
    client = client_for(member)
    url = f"/api/v1/conversations/{channel.pk}/messages/"
    for n in range(3):
        message = post(member, channel, f"m{n}")
        services.reaction_add(actor=other_member, message_id=message.pk, emoji_value="👍")
    small = count_queries(lambda: client.get(url))
    for n in range(30):
        message = post(other_member, channel, f"more {n}")
        services.reaction_add(actor=member, message_id=message.pk, emoji_value="🎉")
        services.pin_add(actor=member, message_id=message.pk)
    large = count_queries(lambda: client.get(url))
    assert small == large <= 6


def test_conversation_list_costs_the_same_whatever_the_number(member, other_member, user_factory):
    client = client_for(member)
    channel = make_channel(other_member, members=[member])
    post(other_member, channel, f"<@{member.pk}>")
    make_direct(member, other_member)
    small = count_queries(lambda: client.get("/api/v1/conversations/"))
    for n in range(15):
        extra = make_channel(other_member, members=[member])
        post(other_member, extra, f"news {n}")
        make_direct(member, user_factory())
    large = count_queries(lambda: client.get("/api/v1/conversations/"))
    results = client.get("/api/v1/conversations/").json()["results"]
    assert len(results) == 32
    assert small == large <= 3


def test_thread_costs_the_same_whatever_its_length(member, other_member):
    channel = make_channel(member, members=[other_member])
    root = post(member, channel, "root")
    client = client_for(member)
    url = f"/api/v1/messages/{root.pk}/replies/"
    post(other_member, channel, "r", thread_root_id=root.pk)
    small = count_queries(lambda: client.get(url))
    for n in range(20):
        reply = post(other_member, channel, f"r{n}", thread_root_id=root.pk)
        services.reaction_add(actor=member, message_id=reply.pk, emoji_value="👀")
    large = count_queries(lambda: client.get(url))
    assert small == large <= 9


def test_bearer_token_and_session_reach_the_same_api(member):
    from rest_framework.test import APIClient

    from accounts import services as accounts

    _, raw = accounts.api_token_create(actor=member, user=member, name="t")
    channel = make_channel(member)
    token_client = APIClient()
    token_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert token_client.post(f"/api/v1/conversations/{channel.pk}/messages/", {"text": "via token"},
                             format="json").status_code == 201

    session_client = APIClient(enforce_csrf_checks=True)
    session_client.force_login(member)
    refused = session_client.post(f"/api/v1/conversations/{channel.pk}/messages/",
                                  {"text": "no csrf"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]["detail"]


def test_the_openapi_schema_covers_the_endpoints(member):
    response = client_for(member).get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"] if response["Content-Type"].startswith(
        "application/json") else None
    if paths is None:
        import yaml  # drf-spectacular depends on PyYAML

        paths = yaml.safe_load(response.content)["paths"]
    for path in ("/api/v1/conversations/", "/api/v1/conversations/{conversation_id}/messages/",
                 "/api/v1/messages/{message_id}/reactions/", "/api/v1/me/tokens/"):
        assert path in paths


def test_nul_characters_are_a_clear_400_not_a_crash(member):
    client = client_for(member)
    channel = make_channel(member)
    assert client.get("/api/v1/search/channels/", {"q": "a\x00b"}).status_code == 200
    assert client.get("/api/v1/users/", {"q": "a\x00b"}).status_code == 200
    response = client.patch(f"/api/v1/conversations/{channel.pk}/", {"topic": "bad\x00topic"},
                            format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid", "invalid_characters")
    channel.refresh_from_db()
    assert channel.topic == ""

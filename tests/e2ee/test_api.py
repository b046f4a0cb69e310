"""End-to-end encrypted conversations through the REST API and the services."""

from __future__ import annotations

import base64
import json

import pytest

from accounts import services as account_services
from accounts.models import Organisation, Role
from core.errors import Forbidden, InvalidInput
from core.models import AuditEvent
from e2ee import scheme
from e2ee.models import ConversationKey, IdentityKey, WrappedKey
from messaging import services as messaging
from messaging.models import Conversation, ConversationEvent, Mention, Message, MessageRevision
from messaging.search import message_search
from tests.e2ee.helpers import fake_backup, publish, sealed, set_policy, start_key, wrapped_for
from tests.factories import client_for, make_channel, make_direct, make_user, post

pytestmark = pytest.mark.django_db


def error_of(response) -> dict:
    return response.json()["error"]


# --- Policy ---------------------------------------------------------------------------

def test_policy_off_refuses_encrypted_conversations_and_changes_nothing(ana, ben):
    before = Conversation.objects.count()
    response = client_for(ana).post("/api/v1/conversations/", {"kind": "direct", "members": [ben.pk],
                                                               "encrypted": True}, format="json")
    assert response.status_code == 403
    assert error_of(response)["code"] == "encryption_off"
    assert error_of(response)["fields"] == {"encrypted": ["End-to-end encryption is turned off."]}
    response = client_for(ana).post("/api/v1/conversations/", {"kind": "private", "name": "secret",
                                                               "encrypted": True}, format="json")
    assert response.status_code == 403
    assert Conversation.objects.count() == before


def test_allowed_policy_creates_encrypted_direct_and_private_but_never_public(allowed, ana, ben):
    client = client_for(ana)
    direct = client.post("/api/v1/conversations/", {"kind": "direct", "members": [ben.pk], "encrypted": True},
                         format="json")
    assert direct.status_code == 201 and direct.json()["encrypted"] is True
    plain = client.post("/api/v1/conversations/", {"kind": "direct", "members": [ben.pk]}, format="json")
    assert plain.status_code == 201 and plain.json()["encrypted"] is False
    assert plain.json()["id"] != direct.json()["id"]
    private = client.post("/api/v1/conversations/", {"kind": "private", "name": "secret", "encrypted": True},
                          format="json")
    assert private.status_code == 201 and private.json()["encrypted"] is True
    public = client.post("/api/v1/conversations/", {"kind": "public", "name": "open", "encrypted": True},
                         format="json")
    assert public.status_code == 400
    assert list(error_of(public)["fields"]) == ["encrypted"]
    assert not Conversation.objects.filter(name="open").exists()


def test_required_policy_forces_direct_conversations_to_be_encrypted(ana, ben):
    old_plain = make_direct(ana, ben)
    set_policy("required")
    response = client_for(ana).post("/api/v1/conversations/", {"kind": "direct", "members": [ben.pk]},
                                    format="json")
    assert response.status_code == 201
    assert response.json()["encrypted"] is True
    refused = client_for(ana).post("/api/v1/conversations/", {"kind": "direct", "members": [ben.pk],
                                                              "encrypted": False}, format="json")
    assert refused.status_code == 403 and error_of(refused)["code"] == "encryption_required"
    # The plain conversation from before takes no more plain text.
    with pytest.raises(Forbidden) as caught:
        post(ana, old_plain, "still plain?")
    assert caught.value.code == "encryption_required"
    assert not Message.objects.filter(conversation=old_plain).exists()
    # Channels are not affected.
    channel = make_channel(ana, "general", members=[ben])
    assert channel.encrypted is False and post(ana, channel, "hello").text == "hello"


def test_organisation_update_validates_policy_and_escrow_key(admin):
    with pytest.raises(InvalidInput) as caught:
        account_services.organisation_update(actor=admin, e2ee_policy="sometimes")
    assert caught.value.fields == {"e2ee_policy": ["Must be off, allowed or required."]}
    with pytest.raises(InvalidInput) as caught:
        account_services.organisation_update(actor=admin, e2ee_escrow_public_key="not a key")
    assert list(caught.value.fields) == ["e2ee_escrow_public_key"]
    assert Organisation.get().e2ee_policy == "off"
    escrow = scheme.generate_rsa_key(2048)
    pem = escrow.public_key().public_bytes(
        scheme.serialization.Encoding.PEM, scheme.serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    organisation = account_services.organisation_update(actor=admin, e2ee_policy="allowed",
                                                        e2ee_escrow_public_key=pem)
    assert organisation.e2ee_policy == "allowed"
    spki = scheme.unb64(scheme.public_spki_b64(escrow))
    assert organisation.e2ee_escrow_fingerprint == scheme.fingerprint(spki)
    event = AuditEvent.objects.filter(action="organisation.updated").latest("id")
    assert event.data["after"]["e2ee_policy"] == "allowed"
    assert event.data["before"]["e2ee_escrow_fingerprint"] == ""
    # The same key as a JWK is the same key.
    numbers = escrow.public_key().public_numbers()
    as_jwk = json.dumps({"kty": "RSA", "e": jwk_int(numbers.e), "n": jwk_int(numbers.n)})
    assert scheme.escrow_key_from_text(as_jwk) == (organisation.e2ee_escrow_public_key,
                                                   organisation.e2ee_escrow_fingerprint)


def jwk_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode().rstrip("=")


def test_the_console_settings_page_sets_the_policy(admin, client):
    client.force_login(admin)
    page = client.get("/console/settings/")
    assert b"End-to-end encryption" in page.content and b"escrow public key" in page.content
    organisation = Organisation.get()
    response = client.post("/console/settings/", {
        "name": organisation.name, "message_edit_window_seconds": 3600, "link_preview_domains": "",
        "require_two_factor": "off", "e2ee_policy": "required", "e2ee_escrow_public_key": ""})
    assert response.status_code == 302
    assert Organisation.get().e2ee_policy == "required"
    bad = client.post("/console/settings/", {
        "name": organisation.name, "message_edit_window_seconds": 3600, "link_preview_domains": "",
        "require_two_factor": "off", "e2ee_policy": "allowed", "e2ee_escrow_public_key": "garbage"})
    assert bad.status_code == 200
    assert Organisation.get().e2ee_policy == "required"  # the failed save changed nothing


# --- Identity keys --------------------------------------------------------------------

def test_publishing_and_replacing_a_key_is_audited_and_announced(allowed, ana, ben):
    conversation, _ = messaging.conversation_direct_open(actor=ana, member_ids=[ben.pk], encrypted=True)
    first = scheme.generate_rsa_key(2048)
    response = client_for(ana).put("/api/v1/me/keys/", {"public_key": scheme.public_spki_b64(first),
                                                        "backup": fake_backup()}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["public_key"] == scheme.public_spki_b64(first) and body["policy"] == "allowed"
    assert body["backup"]["iterations"] == 600_000
    publish(ana)  # a new key, as after losing the passphrase
    actions = list(AuditEvent.objects.filter(action__startswith="e2ee.identity_key").order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["e2ee.identity_key_created", "e2ee.identity_key_changed"]
    events = list(ConversationEvent.objects.filter(conversation=conversation, type="e2ee.identity_key")
                  .values_list("payload", flat=True))
    assert [e["changed"] for e in events] == [False, True]
    seen = client_for(ben).get(f"/api/v1/users/{ana.pk}/keys/").json()
    assert len(seen["history"]) == 2 and seen["history"][1]["replaced_at"] is not None
    assert seen["fingerprint"] == seen["history"][0]["fingerprint"] != seen["history"][1]["fingerprint"]
    assert "backup" not in seen


def test_bad_keys_are_refused_naming_the_field(ana):
    client = client_for(ana)
    bad_key = client.put("/api/v1/me/keys/", {"public_key": "bm90IGEga2V5", "backup": fake_backup()},
                         format="json")
    assert bad_key.status_code == 400 and list(error_of(bad_key)["fields"]) == ["public_key"]
    weak_key = scheme.public_spki_b64(scheme.generate_rsa_key(1024))
    weak = client.put("/api/v1/me/keys/", {"public_key": weak_key,
                                           "backup": fake_backup()}, format="json")
    assert weak.status_code == 400 and "2048" in error_of(weak)["detail"]
    few_rounds = {**fake_backup(), "iterations": 1000}
    good_key = scheme.public_spki_b64(scheme.generate_rsa_key(2048))
    bad_backup = client.put("/api/v1/me/keys/", {"public_key": good_key,
                                                 "backup": few_rounds}, format="json")
    assert bad_backup.status_code == 400 and list(error_of(bad_backup)["fields"]) == ["backup"]
    assert not IdentityKey.objects.filter(user=ana).exists()


def test_a_guest_sees_keys_only_of_people_they_share_a_conversation_with(ana, ben, guest):
    publish(ana)
    assert client_for(guest).get(f"/api/v1/users/{ana.pk}/keys/").status_code == 404
    make_channel(ana, "with-guest", kind="private", members=[guest])
    assert client_for(guest).get(f"/api/v1/users/{ana.pk}/keys/").status_code == 200


# --- Messages -------------------------------------------------------------------------

@pytest.fixture
def encrypted_direct(allowed, ana, ben, keys):
    conversation, _ = messaging.conversation_direct_open(actor=ana, member_ids=[ben.pk], encrypted=True)
    raw = start_key(ana, conversation, [ana, ben])
    return conversation, raw


def test_the_server_stores_only_ciphertext_and_members_can_decrypt_it(encrypted_direct, ana, ben, keys):
    conversation, raw = encrypted_direct
    body = sealed(raw, conversation, 1, "the merger closes friday @**Ben Okafor**")
    response = client_for(ana).post(f"/api/v1/conversations/{conversation.pk}/messages/",
                                    {**body, "client_msg_id": "c-1"}, format="json")
    assert response.status_code == 201
    payload = response.json()
    assert payload["text"] == "" and payload["html"] == "" and payload["encrypted"] is True
    assert payload["ciphertext"] == body["ciphertext"] and payload["key_id"] == 1
    stored = Message.objects.get(pk=payload["id"])
    assert (stored.text, stored.html, stored.has_link) == ("", "", False)
    assert not Mention.objects.filter(message=stored).exists()
    # Ben unwraps his copy of the key and reads it.
    mine = client_for(ben).get(f"/api/v1/conversations/{conversation.pk}/keys/").json()
    assert [k["key_id"] for k in mine["keys"]] == [1]
    key = scheme.unwrap_key(keys[ben.pk], mine["keys"][0]["wrapped_key"])
    fetched = client_for(ben).get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"][0]
    text = scheme.decrypt_message(key, conversation.pk, 1, fetched["ciphertext"], fetched["nonce"])["text"]
    assert text == "the merger closes friday @**Ben Okafor**"
    # An edit replaces the ciphertext and keeps the earlier one as a revision.
    edit = sealed(raw, conversation, 1, "the merger closes monday")
    response = client_for(ana).patch(f"/api/v1/messages/{stored.pk}/", edit, format="json")
    assert response.status_code == 200 and response.json()["ciphertext"] == edit["ciphertext"]
    revision = MessageRevision.objects.get(message=stored)
    assert (revision.text, revision.ciphertext, revision.key_id) == ("", body["ciphertext"], 1)
    (earlier,) = client_for(ben).get(f"/api/v1/messages/{stored.pk}/revisions/").json()["results"]
    assert (earlier["text"], earlier["ciphertext"], earlier["nonce"], earlier["key_id"]) == (
        "", body["ciphertext"], body["nonce"], 1)


def test_plaintext_and_malformed_ciphertext_are_refused_and_nothing_is_stored(encrypted_direct, ana, ben):
    conversation, raw = encrypted_direct
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    client = client_for(ana)
    plain = client.post(url, {"text": "plain secret"}, format="json")
    assert plain.status_code == 400
    assert error_of(plain)["code"] == "encrypted_conversation" and list(error_of(plain)["fields"]) == ["text"]
    both = client.post(url, {"text": "leak", **sealed(raw, conversation, 1, "x")}, format="json")
    assert both.status_code == 400 and list(error_of(both)["fields"]) == ["text"]
    short_nonce = client.post(url, {**sealed(raw, conversation, 1, "x"), "nonce": "AAAA"}, format="json")
    assert short_nonce.status_code == 400 and list(error_of(short_nonce)["fields"]) == ["nonce"]
    stale = client.post(url, sealed(raw, conversation, 2, "x"), format="json")
    assert stale.status_code == 409 and error_of(stale)["code"] == "stale_key"
    channel = make_channel(ana, "plain", members=[ben])
    wrong_place = client.post(f"/api/v1/conversations/{channel.pk}/messages/", sealed(raw, channel, 1, "x"),
                              format="json")
    assert wrong_place.status_code == 400 and list(error_of(wrong_place)["fields"]) == ["ciphertext"]
    assert not Message.objects.exists()
    message_id = client.post(url, sealed(raw, conversation, 1, "fine"), format="json").json()["id"]
    plain_edit = client.patch(f"/api/v1/messages/{message_id}/", {"text": "plain edit"}, format="json")
    assert plain_edit.status_code == 400 and list(error_of(plain_edit)["fields"]) == ["text"]
    assert Message.objects.get(pk=message_id).text == ""


def test_search_never_returns_encrypted_messages(encrypted_direct, ana, ben):
    conversation, raw = encrypted_direct
    client_for(ana).post(f"/api/v1/conversations/{conversation.pk}/messages/",
                         sealed(raw, conversation, 1, "budget numbers"), format="json")
    channel = make_channel(ana, "finance", members=[ben])
    visible = post(ana, channel, "budget numbers in the open")
    for query in ("budget", 'from:"Ana Lopez"', f"from:{ana.email}"):
        hits = message_search(user=ben, query=query).hits
        assert [hit.message.pk for hit in hits] == [visible.pk], query
    api = client_for(ben).get("/api/v1/search/messages/", {"q": "numbers"}).json()
    assert [r["id"] for r in api["results"]] == [visible.pk]


# --- Who gets keys --------------------------------------------------------------------

def test_only_members_can_fetch_or_create_wrapped_keys(allowed, ana, ben, keys, admin, compliance_officer):
    outsider = make_user(name="Olga Outsider")
    guest_inside = make_user(Role.GUEST, name="Gil Inside")
    guest_outside = make_user(Role.GUEST, name="Gia Out")
    publish(guest_inside)
    channel = messaging.conversation_create(actor=ana, kind="private", name="deal", encrypted=True,
                                            member_ids=[ben.pk, guest_inside.pk])
    start_key(ana, channel, [ana, ben, guest_inside])
    url = f"/api/v1/conversations/{channel.pk}/keys/"
    expected = {ana: 200, ben: 200, guest_inside: 200, outsider: 404, guest_outside: 404, admin: 404,
                compliance_officer: 404}
    seen = {person: client_for(person).get(url).status_code for person in expected}
    assert seen == expected
    body = client_for(guest_inside).get(url).json()
    assert [k["key_id"] for k in body["keys"]] == [1]
    assert {m["user"] for m in body["members"]} == {ana.pk, ben.pk, guest_inside.pk}
    for person in (outsider, admin, compliance_officer):
        response = client_for(person).post(url, {"key_id": 2, "wrapped": []}, format="json")
        assert response.status_code == 404
        assert client_for(person).put(f"{url}1/", {"wrapped": []}, format="json").status_code == 404
    assert ConversationKey.objects.filter(conversation=channel).count() == 1


def test_a_removed_member_gets_no_key_for_what_is_sent_after(allowed, ana, ben, keys):
    carl = make_user(name="Carl Cole")
    publish(carl)
    channel = messaging.conversation_create(actor=ana, kind="private", name="board", encrypted=True,
                                            member_ids=[ben.pk, carl.pk])
    raw1 = start_key(ana, channel, [ana, ben, carl])
    messaging.membership_remove(actor=ana, conversation_id=channel.pk, user_id=carl.pk)
    state = client_for(ana).get(f"/api/v1/conversations/{channel.pk}/keys/").json()
    assert state["rotation_required"] is True
    # The old key is retired: no more messages under it, and it is not handed to anyone.
    old = client_for(ana).post(f"/api/v1/conversations/{channel.pk}/messages/", sealed(raw1, channel, 1, "x"),
                               format="json")
    assert old.status_code == 409 and error_of(old)["code"] == "key_rotation_required"
    # Carl may not be given the new key.
    with_carl = client_for(ana).post(f"/api/v1/conversations/{channel.pk}/keys/",
                                     {"key_id": 2, "wrapped": wrapped_for([ana, ben, carl], b"k" * 32)},
                                     format="json")
    assert with_carl.status_code == 400 and list(error_of(with_carl)["fields"]) == ["wrapped"]
    raw2 = start_key(ben, channel, [ana, ben], key_id=2)
    assert not WrappedKey.objects.filter(conversation_key__key_id=2, user=carl).exists()
    assert client_for(carl).get(f"/api/v1/conversations/{channel.pk}/keys/").status_code == 404
    sent = client_for(ana).post(f"/api/v1/conversations/{channel.pk}/messages/",
                                sealed(raw2, channel, 2, "after carl left"), format="json")
    assert sent.status_code == 201
    # Key 1, all Carl ever held, does not open it.
    with pytest.raises(scheme.SchemeError):
        scheme.decrypt_message(raw1, channel.pk, 2, sent.json()["ciphertext"], sent.json()["nonce"])
    assert AuditEvent.objects.filter(action="e2ee.conversation_key_created").count() == 2


def test_a_newcomer_gets_only_the_current_key(allowed, ana, ben, keys):
    channel = messaging.conversation_create(actor=ana, kind="private", name="plans", encrypted=True,
                                            member_ids=[ben.pk])
    start_key(ana, channel, [ana, ben])
    messaging.membership_remove(actor=ana, conversation_id=channel.pk, user_id=ben.pk)
    raw2 = start_key(ana, channel, [ana], key_id=2)
    dora = make_user(name="Dora Diaz")
    publish(dora)
    messaging.membership_add(actor=ana, conversation_id=channel.pk, user_id=dora.pk)
    state = client_for(ana).get(f"/api/v1/conversations/{channel.pk}/keys/").json()
    assert state["missing"] == [dora.pk] and state["rotation_required"] is False
    old = client_for(ana).put(f"/api/v1/conversations/{channel.pk}/keys/1/",
                              {"wrapped": wrapped_for([dora], b"o" * 32)}, format="json")
    assert old.status_code == 409 and error_of(old)["code"] == "stale_key"
    shared = client_for(ana).put(f"/api/v1/conversations/{channel.pk}/keys/2/",
                                 {"wrapped": wrapped_for([dora], raw2)}, format="json")
    assert shared.status_code == 200 and shared.json()["missing"] == []
    again = client_for(ana).put(f"/api/v1/conversations/{channel.pk}/keys/2/",
                                {"wrapped": wrapped_for([dora], raw2)}, format="json")
    assert again.status_code == 400
    hers = client_for(dora).get(f"/api/v1/conversations/{channel.pk}/keys/").json()
    assert [k["key_id"] for k in hers["keys"]] == [2]
    assert WrappedKey.objects.filter(user=dora).count() == 1


def test_a_member_without_the_key_can_ask_for_it(allowed, ana, ben):
    publish(ana)
    conversation, _ = messaging.conversation_direct_open(actor=ana, member_ids=[ben.pk], encrypted=True)
    start_key(ana, conversation, [ana])  # Ben has no key yet: he is not in it
    assert client_for(ben).post(f"/api/v1/conversations/{conversation.pk}/keys/request/").status_code == 400
    publish(ben)
    response = client_for(ben).post(f"/api/v1/conversations/{conversation.pk}/keys/request/")
    assert response.status_code == 202
    assert ConversationEvent.objects.filter(conversation=conversation, type="e2ee.key_requested",
                                            payload__user=ben.pk).exists()
    assert client_for(ana).get(f"/api/v1/conversations/{conversation.pk}/keys/").json()["missing"] == [ben.pk]


def test_a_key_version_must_cover_every_member_and_the_escrow_key(allowed, ana, ben, keys):
    escrow = scheme.generate_rsa_key(2048)
    set_policy("allowed", escrow.public_key().public_bytes(
        scheme.serialization.Encoding.PEM, scheme.serialization.PublicFormat.SubjectPublicKeyInfo).decode())
    conversation, _ = messaging.conversation_direct_open(actor=ana, member_ids=[ben.pk], encrypted=True)
    url = f"/api/v1/conversations/{conversation.pk}/keys/"
    missing_ben = client_for(ana).post(url, {"key_id": 1, "wrapped": wrapped_for([ana], b"k" * 32)},
                                       format="json")
    assert missing_ben.status_code == 409 and error_of(missing_ben)["code"] == "members_changed"
    no_escrow = client_for(ana).post(url, {"key_id": 1, "wrapped": wrapped_for([ana, ben], b"k" * 32)},
                                     format="json")
    assert no_escrow.status_code == 400 and list(error_of(no_escrow)["fields"]) == ["escrow"]
    assert not ConversationKey.objects.exists()
    raw = start_key(ana, conversation, [ana, ben])
    key = ConversationKey.objects.get()
    assert scheme.unwrap_key(escrow, key.escrow_wrapped_key) == raw
    assert client_for(ana).get(url).json()["escrow"]["missing"] is False

"""Encrypted conversations over the WebSocket stream, on two daphne processes."""

from __future__ import annotations

import pytest

from e2ee import services as e2ee
from messaging import services as messaging
from messaging.models import Message
from tests.e2ee.helpers import publish, sealed, set_policy, start_key
from tests.factories import make_user
from tests.realtime import Socket, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("servers_settled")]


def test_plain_text_is_refused_live_and_members_receive_only_ciphertext_and_key_events(daphne_pair):
    set_policy("allowed")
    ana, ben = make_user(name="Ana Lopez"), make_user(name="Ben Okafor")
    publish(ana), publish(ben)
    conversation, _ = messaging.conversation_direct_open(actor=ana, member_ids=[ben.pk], encrypted=True)
    with Socket(daphne_pair[0].ws_url, token=token_for(ana)) as a, \
            Socket(daphne_pair[1].ws_url, token=token_for(ben)) as b:
        raw = start_key(ana, conversation, [ana, ben])
        rotated = b.next("e2ee.key_rotated")
        assert (rotated["conversation"], rotated["key_id"], rotated["by"]) == (conversation.pk, 1, ana.pk)
        a.send(type="message.send", conversation=conversation.pk, text="plain secret", client_msg_id="p-1")
        error = a.next("error")
        assert error["code"] == "encrypted_conversation"
        body = sealed(raw, conversation, 1, "sealed secret")
        message = messaging.message_create(author=ana, conversation_id=conversation.pk, text="",
                                           encrypted=body).message
        created = b.next("message.created")
        e2ee.conversation_key_request(actor=ben, conversation_id=conversation.pk)
        requested = a.next("e2ee.key_requested")
    assert not Message.objects.filter(client_msg_id="p-1").exists()
    assert created["message"]["id"] == message.pk
    assert (created["message"]["text"], created["message"]["html"]) == ("", "")
    assert created["message"]["ciphertext"] == body["ciphertext"] and created["message"]["encrypted"] is True
    assert "sealed secret" not in str(created)
    assert requested["user"] == ben.pk

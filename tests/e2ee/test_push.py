"""A push about an encrypted direct message: it arrives, without the text."""

from __future__ import annotations

import pytest

from messaging import services as messaging
from messaging.models import Message
from messaging.services.push import ENCRYPTED_BODY
from tests.e2ee.helpers import sealed, start_key
from tests.factories import client_for
from tests.messaging.test_push import push_service  # noqa: F401  (a fixture, shared)

pytestmark = pytest.mark.django_db


def test_an_encrypted_direct_message_is_pushed_without_its_text(
        allowed, ana, ben, keys, push_service,  # noqa: F811
        django_capture_on_commit_callbacks):
    phone = push_service.subscribe()
    assert client_for(ben).post("/api/v1/me/push-subscriptions/", phone.subscription_json(),
                                format="json").status_code == 201
    conversation, _ = messaging.conversation_direct_open(actor=ana, member_ids=[ben.pk], encrypted=True)
    raw = start_key(ana, conversation, [ana, ben])
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(ana).post(f"/api/v1/conversations/{conversation.pk}/messages/",
                                        sealed(raw, conversation, 1, "the vault code is 7731"),
                                        format="json")
    assert response.status_code == 201

    (pushed,) = push_service.wait(1)
    message = Message.objects.get()
    assert pushed.payload == {
        "type": "message", "tag": f"conv-{conversation.pk}", "title": ana.display_name,
        "body": ENCRYPTED_BODY, "url": f"/#/c/{conversation.pk}/m/{message.pk}",
        "conversation": conversation.pk, "message": message.pk,
    }
    assert "7731" not in str(pushed.payload) and message.ciphertext not in str(pushed.payload)

"""Missed-message email for an encrypted direct message: it arrives, without the text."""

from __future__ import annotations

import pytest

from messaging import services as messaging
from messaging.models import Message
from messaging.services.notifications import ENCRYPTED_NOTICE
from tests.e2ee.helpers import sealed, start_key
from tests.factories import client_for
from tests.messaging.test_notifications import deliver, text_of

pytestmark = pytest.mark.django_db


def test_an_encrypted_direct_message_is_emailed_without_its_text(allowed, ana, ben, keys, mailbox,
                                                                  django_capture_on_commit_callbacks):
    conversation, _ = messaging.conversation_direct_open(actor=ana, member_ids=[ben.pk], encrypted=True)
    raw = start_key(ana, conversation, [ana, ben])
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(ana).post(f"/api/v1/conversations/{conversation.pk}/messages/",
                                        sealed(raw, conversation, 1, "the vault code is 7731"), format="json")
    assert response.status_code == 201
    assert deliver() == 1
    (mail,) = mailbox.to(ben.email)
    body = text_of(mail)
    assert ENCRYPTED_NOTICE in body and ana.display_name in body
    assert "7731" not in mail.as_string()
    assert Message.objects.get().ciphertext not in mail.as_string()

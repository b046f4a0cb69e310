"""core.hooks: a lower app's question answered by a higher app, and the apps' own
answers wired at startup; with the answer withdrawn, the asking app falls back to what it
does alone."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.errors import InvalidInput
from core.hooks import Hook


def test_the_provided_answer_is_used_and_the_default_only_without_one():
    hook = Hook("tests.double", default=lambda n: n)

    def double(n):
        return 2 * n

    assert hook(4) == 4
    hook.provide(double)
    hook.provide(double)  # the same answer again is no conflict
    assert hook(4) == 8 and hook.provided
    hook.withdraw(double)
    assert hook(4) == 4 and not hook.provided


def test_two_answers_to_one_hook_are_refused():
    hook = Hook("tests.one")
    hook.provide(lambda: 1)
    with pytest.raises(ImproperlyConfigured, match=r"Two apps answer the hook tests\.one"):
        hook.provide(lambda: 2)


def test_a_hook_without_answer_or_default_names_itself():
    with pytest.raises(ImproperlyConfigured, match=r"No installed app answers the hook tests\.none"):
        Hook("tests.none")()


def _hooks():
    from accounts import avatars
    from accounts import selectors as account_selectors
    from accounts.services import people
    from files import selectors as file_selectors
    from messaging import encryption
    from messaging import selectors as messaging_selectors

    return {
        "accounts.avatar_png": avatars.avatar_png,
        "accounts.avatar_response": avatars.avatar_response,
        "accounts.people_sharing_a_conversation": account_selectors.people_sharing_a_conversation,
        "accounts.organisation_e2ee_changes": people.organisation_e2ee_changes,
        "accounts.bot_reach_visible": people.bot_reach_visible,
        "files.message_visible": file_selectors.message_visible,
        "messaging.accepts_plain_text": encryption.accepts_plain_text,
        "messaging.conversation_encryption_decide": encryption.conversation_encryption_decide,
        "messaging.message_sealed_fields": encryption.message_sealed_fields,
        "messaging.link_previews_of": messaging_selectors.link_previews_of,
    }


def test_every_hook_is_answered_by_the_installed_apps():
    hooks = _hooks()
    assert {name for name, hook in hooks.items() if not hook.provided} == set()
    assert all(hook.name == name for name, hook in hooks.items())


@pytest.mark.django_db
def test_without_messaging_s_answer_a_guest_sees_only_themself_and_no_posted_file(user_factory):
    from accounts import selectors as account_selectors
    from files import selectors as file_selectors
    from messaging import selectors as messaging_selectors
    from messaging.services import conversation_create, message_create

    member = user_factory(role="member")
    guest = user_factory(role="guest")
    channel = conversation_create(actor=member, kind="private", name="shared",
                                  member_ids=[guest.pk])
    message = message_create(author=member, conversation_id=channel.pk, text="hello",
                             client_msg_id="h1").message
    assert set(account_selectors.user_list(viewer=guest).values_list("pk", flat=True)) == {
        member.pk, guest.pk}
    assert file_selectors.message_visible(guest, message)

    account_selectors.people_sharing_a_conversation.withdraw(
        messaging_selectors.people_sharing_a_conversation)
    file_selectors.message_visible.withdraw(messaging_selectors.message_visible_to)
    try:
        assert list(account_selectors.user_list(viewer=guest).values_list("pk", flat=True)) == [
            guest.pk]
        assert not file_selectors.message_visible(guest, message)
    finally:
        account_selectors.people_sharing_a_conversation.provide(
            messaging_selectors.people_sharing_a_conversation)
        file_selectors.message_visible.provide(messaging_selectors.message_visible_to)


def test_without_e2ee_a_request_to_encrypt_is_refused_and_plain_text_allowed():
    from e2ee import selectors, services
    from messaging import encryption

    encryption.conversation_encryption_decide.withdraw(services.conversation_encryption_decide)
    encryption.message_sealed_fields.withdraw(services.message_sealed_fields)
    encryption.accepts_plain_text.withdraw(selectors.accepts_plain_text)
    try:
        assert encryption.conversation_encryption_decide(kind="private", requested=None) is False
        with pytest.raises(InvalidInput):
            encryption.conversation_encryption_decide(kind="private", requested=True)
        assert encryption.message_sealed_fields(conversation=None, text="hi", encrypted=None) == {}
        with pytest.raises(InvalidInput):
            encryption.message_sealed_fields(conversation=None, text="", encrypted={"ciphertext": "x"})
        assert encryption.accepts_plain_text(None) is True
    finally:
        encryption.conversation_encryption_decide.provide(services.conversation_encryption_decide)
        encryption.message_sealed_fields.provide(services.message_sealed_fields)
        encryption.accepts_plain_text.provide(selectors.accepts_plain_text)

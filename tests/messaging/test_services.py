"""Conversation and message services: the rules, the rows they write, the events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import presence
from accounts.models import Organisation
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.models import AuditEvent
from messaging import selectors, services
from messaging.models import (
    Conversation,
    ConversationEvent,
    Membership,
    MembershipRole,
    Mention,
    Message,
    MessageRevision,
    Reaction,
)
from tests.factories import make_channel, make_direct, make_user, post

pytestmark = pytest.mark.django_db


def event_types(conversation: Conversation) -> list[tuple[int, str]]:
    return list(ConversationEvent.objects.filter(conversation=conversation)
                .order_by("seq").values_list("seq", "type"))


# --- Channels ------------------------------------------------------------------------


def test_creating_a_channel_makes_the_creator_its_admin_and_logs_seq_1(member, other_member):
    channel = make_channel(member, "Product-Launch", members=[other_member])

    assert channel.name == "product-launch"
    roles = dict(Membership.objects.filter(conversation=channel).values_list("user_id", "role"))
    assert roles == {member.pk: MembershipRole.ADMIN, other_member.pk: MembershipRole.MEMBER}
    assert event_types(channel) == [(1, "conversation.created")]
    assert AuditEvent.objects.filter(action="conversation.created",
                                     conversation_id=channel.pk).exists()


@pytest.mark.parametrize("name, problem", [
    ("", "A channel needs a name."),
    ("has space", "lowercase letters"),
    ("-leading", "lowercase letters"),
    ("x" * 81, "lowercase letters"),
])
def test_bad_channel_names_are_refused_and_nothing_is_created(member, name, problem):
    with pytest.raises(InvalidInput) as error:
        services.conversation_create(actor=member, kind="public", name=name)
    assert problem in error.value.fields["name"][0]
    assert not Conversation.objects.exists()


def test_channel_names_are_unique_whatever_the_case(member):
    make_channel(member, "general")
    with pytest.raises(Conflict):
        services.conversation_create(actor=member, kind="private", name="#GENERAL")
    assert Conversation.objects.count() == 1


def test_guests_cannot_create_channels(guest):
    with pytest.raises(Forbidden):
        services.conversation_create(actor=guest, kind="public", name="guests-corner")


def test_rename_topic_archive_and_unarchive(member, other_member):
    channel = make_channel(member, "old", members=[other_member])

    services.conversation_update(actor=other_member, conversation_id=channel.pk, topic="Q3 plans")
    with pytest.raises(Forbidden):
        services.conversation_update(actor=other_member, conversation_id=channel.pk, name="new")
    services.conversation_update(actor=member, conversation_id=channel.pk, name="new")
    services.conversation_update(actor=member, conversation_id=channel.pk, archived=True)
    with pytest.raises(Forbidden) as archived:
        post(other_member, channel)
    services.conversation_update(actor=member, conversation_id=channel.pk, archived=False,
                                 name="newer")

    channel.refresh_from_db()
    assert (channel.name, channel.topic, channel.archived_at) == ("newer", "Q3 plans", None)
    assert archived.value.code == "archived"
    assert [t for _, t in event_types(channel)] == [
        "conversation.created"] + ["conversation.updated"] * 4
    last = ConversationEvent.objects.filter(conversation=channel).order_by("seq").last()
    assert last.payload == {"changes": {"archived": False, "name": "newer"}, "by": member.pk}


def test_join_and_leave_a_public_channel(member, other_member):
    channel = make_channel(member, "open")
    post(member, channel)

    membership = services.conversation_join(actor=other_member, conversation_id=channel.pk)
    assert membership.last_read_seq == 2  # joining does not make old messages unread
    services.conversation_leave(actor=other_member, conversation_id=channel.pk)

    assert not Membership.objects.filter(user=other_member, conversation=channel).exists()
    assert [t for _, t in event_types(channel)][-2:] == ["member.joined", "member.left"]


def test_private_channels_cannot_be_joined_only_added_to(member, other_member, user_factory):
    channel = make_channel(member, "secret", kind="private")
    with pytest.raises(NotFound):
        services.conversation_join(actor=other_member, conversation_id=channel.pk)

    services.membership_add(actor=member, conversation_id=channel.pk, user_id=other_member.pk)
    newcomer = user_factory()
    services.membership_add(actor=other_member, conversation_id=channel.pk, user_id=newcomer.pk)
    with pytest.raises(Forbidden):
        services.membership_remove(actor=other_member, conversation_id=channel.pk,
                                   user_id=newcomer.pk)
    services.membership_remove(actor=member, conversation_id=channel.pk, user_id=newcomer.pk)

    assert set(Membership.objects.filter(conversation=channel).values_list("user_id", flat=True)
               ) == {member.pk, other_member.pk}


def test_adding_someone_twice_changes_nothing(member, other_member):
    channel = make_channel(member, members=[other_member])
    seq = Conversation.objects.get(pk=channel.pk).last_seq

    services.membership_add(actor=member, conversation_id=channel.pk, user_id=other_member.pk)

    assert Conversation.objects.get(pk=channel.pk).last_seq == seq


# --- Direct conversations ----------------------------------------------------------------


def test_one_direct_conversation_per_member_set(member, other_member, admin):
    first, created = services.conversation_direct_open(actor=member, member_ids=[other_member.pk])
    again, created_again = services.conversation_direct_open(actor=other_member,
                                                             member_ids=[member.pk, member.pk])
    group, _ = services.conversation_direct_open(actor=member,
                                                 member_ids=[other_member.pk, admin.pk])

    assert created and not created_again
    assert first.pk == again.pk
    assert group.pk != first.pk
    assert first.direct_key == ",".join(str(pk) for pk in sorted([member.pk, other_member.pk]))


def test_direct_conversations_have_2_to_9_people(member, user_factory):
    with pytest.raises(InvalidInput, match="2 to 9 people"):
        services.conversation_direct_open(actor=member, member_ids=[member.pk])
    people = [user_factory() for _ in range(9)]
    with pytest.raises(InvalidInput, match="2 to 9 people"):
        services.conversation_direct_open(actor=member, member_ids=[p.pk for p in people])
    conversation, _ = services.conversation_direct_open(actor=member,
                                                        member_ids=[p.pk for p in people[:8]])
    assert conversation.memberships.count() == 9


def test_direct_conversations_refuse_unknown_and_deactivated_people(member, other_member, admin):
    from accounts import services as accounts

    accounts.user_deactivate(actor=admin, user=other_member)
    with pytest.raises(InvalidInput) as error:
        services.conversation_direct_open(actor=member, member_ids=[other_member.pk, 999999])
    assert "No active person with id" in error.value.fields["members"][0]


def test_guests_message_only_people_they_share_a_conversation_with(guest, member, other_member):
    make_channel(member, members=[guest])

    services.conversation_direct_open(actor=guest, member_ids=[member.pk])
    with pytest.raises(Forbidden):
        services.conversation_direct_open(actor=guest, member_ids=[other_member.pk])


def test_direct_conversations_cannot_be_renamed_or_extended(member, other_member, admin):
    direct = make_direct(member, other_member)
    with pytest.raises(InvalidInput):
        services.conversation_update(actor=member, conversation_id=direct.pk, name="x")
    with pytest.raises(InvalidInput):
        services.membership_add(actor=member, conversation_id=direct.pk, user_id=admin.pk)
    with pytest.raises(InvalidInput):
        services.conversation_leave(actor=member, conversation_id=direct.pk)


# --- Messages ------------------------------------------------------------------------


def test_each_event_takes_the_next_seq(member, other_member):
    channel = make_channel(member, members=[other_member])

    first = post(member, channel, "one")
    services.reaction_add(actor=other_member, message_id=first.pk, emoji_value="👍")
    second = post(other_member, channel, "two")
    services.message_edit(actor=member, message_id=first.pk, text="one!")
    services.message_delete(actor=other_member, message_id=second.pk)

    assert (first.seq, second.seq) == (2, 4)
    assert event_types(channel) == [(1, "conversation.created"), (2, "message.created"),
                                    (3, "reaction.added"), (4, "message.created"),
                                    (5, "message.edited"), (6, "message.deleted")]
    assert Conversation.objects.get(pk=channel.pk).last_seq == 6


def test_a_repeated_client_msg_id_returns_the_first_message(member):
    channel = make_channel(member)

    first = services.message_create(author=member, conversation_id=channel.pk, text="hi",
                                    client_msg_id="c-1")
    again = services.message_create(author=member, conversation_id=channel.pk, text="hi again",
                                    client_msg_id="c-1")

    assert first.created and not again.created
    assert again.message.pk == first.message.pk
    assert Message.objects.count() == 1
    assert Conversation.objects.get(pk=channel.pk).last_seq == 2


def test_the_same_client_msg_id_by_another_author_is_another_message(member, other_member):
    channel = make_channel(member, members=[other_member])
    services.message_create(author=member, conversation_id=channel.pk, text="a", client_msg_id="x")
    services.message_create(author=other_member, conversation_id=channel.pk, text="b",
                            client_msg_id="x")
    assert Message.objects.count() == 2


def test_a_client_msg_id_reused_in_another_conversation_is_a_conflict(member):
    first, second = make_channel(member), make_channel(member)
    services.message_create(author=member, conversation_id=first.pk, text="a", client_msg_id="x")
    with pytest.raises(Conflict):
        services.message_create(author=member, conversation_id=second.pk, text="a",
                                client_msg_id="x")


@pytest.mark.parametrize("text, field", [
    ("", "text"), ("   \n ", "text"), ("x" * 40_001, "text"), (None, "text"), ("a\x00b", "text"),
])
def test_bad_text_is_refused_and_nothing_changes(member, text, field):
    channel = make_channel(member)
    with pytest.raises(InvalidInput) as error:
        services.message_create(author=member, conversation_id=channel.pk, text=text)
    assert field in error.value.fields
    assert Conversation.objects.get(pk=channel.pk).last_seq == 1


def test_a_bad_client_msg_id_is_named(member):
    channel = make_channel(member)
    with pytest.raises(InvalidInput) as error:
        services.message_create(author=member, conversation_id=channel.pk, text="x",
                                client_msg_id="has spaces")
    assert "client_msg_id" in error.value.fields


def test_replies_update_the_root_and_stay_out_of_the_channel(member, other_member, admin):
    channel = make_channel(member, members=[other_member, admin])
    root = post(member, channel, "plan")

    post(other_member, channel, "ok", thread_root_id=root.pk)
    post(admin, channel, "also", thread_root_id=root.pk, also_in_channel=True)
    post(other_member, channel, "again", thread_root_id=root.pk)

    root.refresh_from_db()
    assert root.reply_count == 3
    assert root.thread_participants == [member.pk, admin.pk, other_member.pk]
    history = selectors.message_history(user=member, conversation_id=channel.pk)
    assert [m.text for m in history.messages] == ["plan", "also"]
    _, replies, _ = selectors.message_replies(user=member, message_id=root.pk)
    assert [m.text for m in replies] == ["ok", "also", "again"]


def test_replies_to_replies_and_to_other_conversations_are_refused(member):
    channel, elsewhere = make_channel(member), make_channel(member)
    root = post(member, channel)
    reply = post(member, channel, thread_root_id=root.pk)
    with pytest.raises(InvalidInput, match="first message"):
        post(member, channel, thread_root_id=reply.pk)
    with pytest.raises(InvalidInput, match="No such message"):
        post(member, elsewhere, thread_root_id=root.pk)


def test_editing_keeps_every_earlier_body(member):
    channel = make_channel(member)
    message = post(member, channel, "first")

    services.message_edit(actor=member, message_id=message.pk, text="second")
    services.message_edit(actor=member, message_id=message.pk, text="**third**")

    message.refresh_from_db()
    assert message.html == "<p><strong>third</strong></p>"
    assert message.edited_at is not None
    assert list(MessageRevision.objects.filter(message=message).values_list("text", flat=True)) == [
        "first", "second"]
    assert AuditEvent.objects.filter(action="message.edited", target_id=str(message.pk)).count() == 2


def test_only_the_author_edits_and_only_within_the_window(member, other_member, admin):
    channel = make_channel(member, members=[other_member, admin])
    message = post(member, channel, "mine")
    with pytest.raises(Forbidden):
        services.message_edit(actor=other_member, message_id=message.pk, text="theirs")
    with pytest.raises(Forbidden):
        services.message_edit(actor=admin, message_id=message.pk, text="admin's")

    organisation = Organisation.get()
    organisation.message_edit_window_seconds = 60
    organisation.save()
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    with pytest.raises(Forbidden) as error:
        services.message_edit(actor=member, message_id=message.pk, text="late")
    assert error.value.code == "edit_window_closed"

    old_admin_message = post(admin, channel, "admin")
    Message.objects.filter(pk=old_admin_message.pk).update(
        created_at=timezone.now() - timedelta(days=30))
    services.message_edit(actor=admin, message_id=old_admin_message.pk, text="admin, edited")


def test_deleting_leaves_a_tombstone_and_keeps_the_body_for_the_records(member, other_member):
    channel = make_channel(member, members=[other_member])
    message = post(member, channel, f"regrettable <@{other_member.pk}>")
    services.reaction_add(actor=other_member, message_id=message.pk, emoji_value=":eyes:")
    services.pin_add(actor=other_member, message_id=message.pk)

    services.message_delete(actor=member, message_id=message.pk)

    message = selectors.message_get_for_user(user=other_member, message_id=message.pk)
    from messaging.payloads import message_payload

    payload = message_payload(message)
    assert (payload["deleted"], payload["text"], payload["html"], payload["reactions"],
            payload["pinned"]) == (True, "", "", [], False)
    assert MessageRevision.objects.get(message=message).text.startswith("regrettable")
    assert not Mention.objects.filter(message=message).exists()
    with pytest.raises(InvalidInput):
        services.message_edit(actor=member, message_id=message.pk, text="undo")
    assert AuditEvent.objects.filter(action="message.deleted").last().data == {
        "author": member.pk, "by_author": True}


def test_deleting_a_reply_lowers_the_reply_count(member):
    channel = make_channel(member)
    root = post(member, channel)
    reply = post(member, channel, thread_root_id=root.pk)
    services.message_delete(actor=member, message_id=reply.pk)
    root.refresh_from_db()
    assert root.reply_count == 0


# --- Reactions, pins, saved ---------------------------------------------------------


def test_one_reaction_per_person_per_emoji_and_shortcodes_become_emoji(member, other_member):
    channel = make_channel(member, members=[other_member])
    message = post(member, channel)

    services.reaction_add(actor=other_member, message_id=message.pk, emoji_value=":thumbsup:")
    services.reaction_add(actor=other_member, message_id=message.pk, emoji_value="👍")
    services.reaction_add(actor=member, message_id=message.pk, emoji_value="👍")
    services.reaction_add(actor=member, message_id=message.pk, emoji_value="🎉")

    from messaging.payloads import message_payload

    message = selectors.message_get_for_user(user=member, message_id=message.pk)
    assert message_payload(message)["reactions"] == [
        {"emoji": "👍", "count": 2, "users": [other_member.pk, member.pk]},
        {"emoji": "🎉", "count": 1, "users": [member.pk]},
    ]
    services.reaction_remove(actor=member, message_id=message.pk, emoji_value=":tada:")
    with pytest.raises(NotFound):
        services.reaction_remove(actor=member, message_id=message.pk, emoji_value="🎉")
    assert Reaction.objects.count() == 2


@pytest.mark.parametrize("value", ["", "nope", ":not_an_emoji_at_all:", "👍👍", "a👍", "x" * 70])
def test_bad_emoji_are_named(member, value):
    channel = make_channel(member)
    message = post(member, channel)
    with pytest.raises(InvalidInput) as error:
        services.reaction_add(actor=member, message_id=message.pk, emoji_value=value)
    assert "emoji" in error.value.fields
    assert not Reaction.objects.exists()


def test_pins_and_saved_messages(member, other_member):
    channel = make_channel(member, members=[other_member])
    first, second = post(member, channel, "first"), post(member, channel, "second")

    services.pin_add(actor=other_member, message_id=first.pk)
    services.pin_add(actor=other_member, message_id=first.pk)
    services.message_save(actor=other_member, message_id=second.pk)
    services.message_save(actor=other_member, message_id=first.pk)

    assert [m.pk for m in selectors.pin_list(user=member, conversation_id=channel.pk)] == [first.pk]
    assert [m.pk for m, _ in selectors.saved_list(user=other_member)] == [first.pk, second.pk]
    assert selectors.saved_list(user=member) == []
    services.pin_remove(actor=member, message_id=first.pk)
    assert selectors.pin_list(user=member, conversation_id=channel.pk) == []


# --- Mentions and read state ---------------------------------------------------------


def test_mentions_are_stored_for_members_however_they_are_written(member, other_member, admin,
                                                                  user_factory):
    outsider = user_factory(name="Nora Outside")
    channel = make_channel(member, members=[other_member, admin])
    services.usergroup_create(actor=admin, handle="leads", name="Leads", member_ids=[admin.pk])

    by_id = post(member, channel, f"<@{other_member.pk}> and <@{outsider.pk}>")
    by_name = post(member, channel, "@**Otto Other** look")
    by_group = post(member, channel, "@leads decide")
    everyone = post(other_member, channel, "@channel lunch!")
    in_code = post(member, channel, "`@channel` is how you ping")

    def mentioned(message: Message) -> dict[int, str]:
        return dict(Mention.objects.filter(message=message).values_list("user_id", "kind"))

    assert mentioned(by_id) == {other_member.pk: "user"}
    assert mentioned(by_name) == {other_member.pk: "user"}
    assert mentioned(by_group) == {admin.pk: "group"}
    assert mentioned(everyone) == {member.pk: "channel", admin.pk: "channel"}
    assert mentioned(in_code) == {}
    assert f'data-user-id="{other_member.pk}"' in by_name.html


def test_here_mentions_only_those_active_now(member, other_member, admin):
    channel = make_channel(member, members=[other_member, admin])
    presence.store().touch(other_member.pk, "tab-1", "active")
    presence.store().touch(admin.pk, "tab-2", "idle")
    try:
        message = post(member, channel, "@here standup")
    finally:
        presence.store().drop(other_member.pk, "tab-1")
        presence.store().drop(admin.pk, "tab-2")
    assert list(Mention.objects.filter(message=message).values_list("user_id", flat=True)) == [
        other_member.pk]


def test_editing_a_message_updates_its_mentions(member, other_member, admin):
    channel = make_channel(member, members=[other_member, admin])
    message = post(member, channel, f"<@{other_member.pk}>")
    services.message_edit(actor=member, message_id=message.pk, text=f"<@{admin.pk}> instead")
    assert list(Mention.objects.filter(message=message).values_list("user_id", flat=True)) == [
        admin.pk]


def test_conversation_list_is_each_persons_own_with_model_values(member, other_member, admin):
    """membership_list runs SQL compiled once, for whoever asks: each person gets their own
    rows, with the same values (types included) as the models and the unread counts."""
    channel = make_channel(member, members=[other_member])
    services.membership_preferences_update(actor=other_member, conversation_id=channel.pk,
                                           muted=True)
    direct, _ = services.conversation_direct_open(actor=admin, member_ids=[member.pk])
    post(member, channel, f"hello <@{other_member.pk}>")
    post(admin, direct, "psst")

    mine = selectors.membership_list(user=member)
    theirs = selectors.membership_list(user=other_member)
    admins = selectors.membership_list(user=admin)

    assert selectors._membership_list_query.compiled["default"] is not None  # compiled once, reused
    assert [m.conversation_id for m in mine] == [direct.pk, channel.pk]  # newest activity first
    assert [m.conversation_id for m in theirs] == [channel.pk]
    assert [m.conversation_id for m in admins] == [direct.pk]
    assert [(m.unread_count, m.mention_count) for m in mine] == [(1, 0), (0, 0)]
    assert (theirs[0].unread_count, theirs[0].mention_count, theirs[0].muted) == (1, 1, True)
    listed_by_person = [(member, entry) for entry in mine] + [(other_member, entry) for entry in theirs]
    for person, listed in listed_by_person + [(admin, entry) for entry in admins]:
        membership = Membership.objects.select_related("conversation").get(
            user=person, conversation_id=listed.conversation_id)
        conversation = membership.conversation
        for name in ("role", "last_read_message_id", "last_read_seq", "notification_level",
                     "muted", "starred"):
            assert getattr(listed, name) == getattr(membership, name), name
            assert type(getattr(listed, name)) is type(getattr(membership, name)), name
        for name in ("pk", "kind", "name", "topic", "purpose", "created_by_id", "created_at",
                     "archived_at", "last_seq", "last_message_at", "encrypted"):
            assert getattr(listed.conversation, name) == getattr(conversation, name), name
            assert type(getattr(listed.conversation, name)) is type(getattr(conversation, name)), name


def test_unread_and_mention_counts_and_read_moves_forward_only(member, other_member):
    channel = make_channel(member, members=[other_member])
    post(other_member, channel, "my own, read by me")
    first = post(member, channel, "one")
    post(member, channel, f"two <@{other_member.pk}>")
    root = post(member, channel, "three")
    post(member, channel, "in a thread", thread_root_id=root.pk)
    deleted = post(member, channel, "gone")
    services.message_delete(actor=member, message_id=deleted.pk)

    assert selectors.unread_count(user=other_member, conversation_id=channel.pk) == (3, 1)
    assert selectors.unread_count(user=member, conversation_id=channel.pk) == (0, 0)
    assert selectors.unread_count(user=make_user(), conversation_id=channel.pk) == (0, 0)

    read = services.read_mark(actor=other_member, conversation_id=channel.pk, message_id=first.pk)
    assert (read.unread_count, read.mention_count) == (2, 1)
    assert read.membership.conversation.last_seq == Conversation.objects.get(pk=channel.pk).last_seq
    read = services.read_mark(actor=other_member, conversation_id=channel.pk, message_id=root.pk)
    assert (read.unread_count, read.mention_count) == (0, 0)
    assert selectors.unread_count(user=other_member, conversation_id=channel.pk) == (0, 0)
    # Backward: the position stays, and says what is unread after it.
    read = services.read_mark(actor=other_member, conversation_id=channel.pk, message_id=first.pk)
    assert (read.membership.last_read_message_id, read.unread_count) == (root.pk, 0)
    membership = Membership.objects.get(user=other_member, conversation=channel)
    assert membership.last_read_message_id == root.pk


def test_marking_read_in_a_conversation_you_are_not_in_is_not_found(member, other_member):
    channel = make_channel(member)
    message = post(member, channel)
    with pytest.raises(NotFound):
        services.read_mark(actor=other_member, conversation_id=channel.pk, message_id=message.pk)


def test_usergroups_are_managed_by_admins_only(member, admin):
    with pytest.raises(Forbidden):
        services.usergroup_create(actor=member, handle="x", name="X")
    with pytest.raises(InvalidInput):
        services.usergroup_create(actor=admin, handle="channel", name="Reserved")
    group = services.usergroup_create(actor=admin, handle="ops", name="Ops", member_ids=[member.pk])
    with pytest.raises(Conflict):
        services.usergroup_create(actor=admin, handle="OPS", name="Again")
    services.usergroup_update(actor=admin, group_id=group.pk, members=[admin.pk])
    assert list(group.members.values_list("pk", flat=True)) == [admin.pk]

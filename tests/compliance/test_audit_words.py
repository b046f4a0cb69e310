"""Audit events in words: every action the code records has a describer, and sentences
name people, conversations and messages with links, never a dict."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.utils.html import strip_tags

from accounts.models import Role
from compliance.audit_words import GROUPS, REGISTRY, Names, action_choices, describe, detail_lines
from core.audit import audit_record
from core.models import AuditEvent
from tests.factories import make_channel, make_user, post

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", "tests", "bench", "node_modules", "var", "migrations"}


def recorded_actions() -> set[str]:
    """Every action string passed to audit_record anywhere in the product's code."""
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        if SKIP & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "audit_record"):
                continue
            for keyword in node.keywords:
                if keyword.arg != "action":
                    continue
                assert not any(isinstance(n, ast.JoinedStr) for n in ast.walk(keyword.value)), \
                    f"{path}: an action built at run time cannot be described; spell it out"
                found |= {n.value for n in ast.walk(keyword.value)
                          if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return found


def test_every_action_the_code_records_has_a_describer_and_no_describer_is_stale():
    actions = recorded_actions()

    assert len(actions) > 50  # the scan itself works
    assert sorted(actions - set(REGISTRY)) == []
    assert sorted(set(REGISTRY) - actions) == []
    assert all(action.split(".")[0] in GROUPS for action in REGISTRY)


def test_the_filter_lists_every_action_in_words_grouped_by_subject():
    choices = action_choices()
    values = [value for _, group in choices[1:] for value, _ in group]
    labels = [label for _, group in choices[1:] for _, label in group]

    assert choices[0] == ("", "Any action")
    assert set(REGISTRY) <= set(values)
    assert "message" in values and "Message deleted" in labels
    assert not any(re.fullmatch(r"[a-z0-9_]+\.[a-z0-9_]+", label) for label in labels)


@pytest.mark.django_db
def test_a_deleted_message_reads_as_a_sentence_with_links():
    ana = make_user(Role.ADMIN, name="Ana Lopez")
    ben = make_user(name="Ben Okafor")
    channel = make_channel(ana, "design", members=[ben])
    message = post(ben, channel, "secret plans")
    from messaging import services

    services.message_delete(actor=ana, message_id=message.pk)
    event = AuditEvent.objects.get(action="message.deleted")

    sentence = describe(event, Names([event]))

    assert strip_tags(sentence) == "Ana Lopez deleted a message by Ben Okafor in #design"
    assert f'href="/console/people/?q={ana.email.replace("@", "%40")}"' in sentence
    assert f'href="/console/audit/?conversation={channel.pk}"' in sentence
    assert f"target_type=messaging.message&amp;target_id={message.pk}" in sentence
    assert "secret plans" not in sentence


@pytest.mark.django_db
def test_names_load_a_page_of_events_in_a_fixed_number_of_queries(django_assert_num_queries):
    ana = make_user(Role.ADMIN, name="Ana Lopez")
    channel = make_channel(ana, "design")
    from messaging import services

    for _ in range(5):
        services.message_delete(actor=ana, message_id=post(ana, channel, "x").pk)
    events = list(AuditEvent.objects.order_by("-id")[:50])

    with django_assert_num_queries(3):
        names = Names(events)
    with django_assert_num_queries(0):
        sentences = [describe(event, names) for event in events]
    assert all(sentences)


@pytest.mark.django_db
@pytest.mark.parametrize("action", sorted(REGISTRY))
def test_every_describer_reads_as_words_even_without_details(action, member):
    event = audit_record(action=action, actor=member, data={})

    sentence = strip_tags(describe(event, Names([event])))

    assert sentence and "{" not in sentence and "None" not in sentence
    assert member.display_name in sentence or not sentence.startswith("{")


@pytest.mark.django_db
def test_an_unknown_action_falls_back_to_a_readable_sentence(member):
    event = audit_record(action="robot.calibrated", actor=member, target=member,
                         data={"arm": {"left": 1}})

    sentence = strip_tags(describe(event, Names([event])))

    assert sentence == f"{member.display_name} recorded “robot: calibrated” concerning {member.display_name}"


def test_details_are_key_value_lines():
    assert detail_lines({"b": [1, 2], "a": {"x": None}, "c": "y"}) == [
        ("a.x", "—"), ("b", "1, 2"), ("c", "y")]

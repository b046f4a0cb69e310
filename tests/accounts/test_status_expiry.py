"""A custom status that clears itself (issue 34): given with a time, the status text and
emoji go then, for everyone watching; without one they stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import presence, services
from core.errors import InvalidInput
from tests.factories import client_for

pytestmark = pytest.mark.django_db


def shown(user) -> tuple[str, str]:
    (current,) = presence.presence_many([user.pk])
    return current.status_text, current.status_emoji


def test_a_status_clears_at_its_time_and_one_without_a_time_stays(member, other_member):
    soon = timezone.now() + timedelta(minutes=30)
    services.presence_set(user=member, status="auto", status_text="In a meeting",
                          status_emoji="📅", status_expires_at=soon)
    services.presence_set(user=other_member, status="auto", status_text="On holiday")
    assert shown(member) == ("In a meeting", "📅")

    member.__class__.objects.filter(pk=member.pk).update(
        status_expires_at=timezone.now() - timedelta(seconds=1))  # its time has come
    assert shown(member) == ("", "")  # hidden at once, before the sweep
    assert services.statuses_expire() == 1
    member.refresh_from_db()
    assert (member.status_text, member.status_emoji, member.status_expires_at) == ("", "", None)
    assert shown(other_member) == ("On holiday", "")
    assert services.statuses_expire() == 0


def test_a_new_status_without_a_time_keeps_no_old_expiry_and_bad_times_change_nothing(member):
    services.presence_set(user=member, status="auto", status_text="Lunch",
                          status_expires_at=timezone.now() + timedelta(hours=1))
    services.presence_set(user=member, status="auto", status_text="Working from home")
    member.refresh_from_db()
    assert member.status_expires_at is None
    for bad in (timezone.now() - timedelta(minutes=1), timezone.now() + timedelta(days=400)):
        with pytest.raises(InvalidInput) as refused:
            services.presence_set(user=member, status="auto", status_text="x", status_expires_at=bad)
        assert list(refused.value.fields) == ["status_expires_at"]
    member.refresh_from_db()
    assert member.status_text == "Working from home"


def test_over_rest(member):
    client = client_for(member)
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    answer = client.put("/api/v1/me/presence/", {"status": "auto", "status_text": "Focus",
                                                 "status_expires_at": later}, format="json")
    assert answer.status_code == 200 and answer.json()["status_text"] == "Focus"
    assert client.get("/api/v1/me/").json()["status_expires_at"] is not None
    bad = client.put("/api/v1/me/presence/", {"status": "auto", "status_text": "x",
                                              "status_expires_at": "yesterday"}, format="json")
    assert bad.status_code == 400 and "status_expires_at" in bad.json()["error"]["fields"]

"""The console at /console/: refused to members and guests, usable by records roles."""

from __future__ import annotations

import pytest
from django.test import Client

from compliance.models import ExportJob, LegalHold, RetentionPolicy
from core.models import AuditEvent
from tests.factories import make_channel

pytestmark = pytest.mark.django_db

PAGES = ["/console/", "/console/audit/", "/console/retention/", "/console/holds/",
         "/console/exports/", "/console/people/"]


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", PAGES)
def test_members_and_guests_are_refused_every_console_page(page, member, guest, admin,
                                                           compliance_officer, owner):
    for person in (member, guest):
        assert browser_for(person).get(page).status_code == 403
    for person in (admin, compliance_officer, owner):
        assert browser_for(person).get(page).status_code == 200, person
    anonymous = Client().get(page)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


@pytest.mark.parametrize("path, data", [
    ("/console/holds/", {"name": "x", "reason": "y", "custodians": "a@example.com"}),
    ("/console/retention/", {"keep_days": "5"}),
    ("/console/exports/", {"format": "jsonl"}),
    ("/console/people/invite/", {"email": "new@example.com", "role": "member"}),
])
def test_members_cannot_post_to_the_console(path, data, member):
    assert browser_for(member).post(path, data).status_code == 403
    assert not LegalHold.objects.exists() and not RetentionPolicy.objects.exists()
    assert not ExportJob.objects.exists()


def test_a_compliance_officer_works_through_the_console(compliance_officer, member,
                                                        django_capture_on_commit_callbacks):
    make_channel(member, "finance")
    client = browser_for(compliance_officer)

    hold = client.post("/console/holds/", {"name": "Matter 7", "reason": "Subpoena",
                                           "custodians": member.email, "conversations": "finance"})
    policy = client.post("/console/retention/", {"conversation": "finance", "keep_days": "90"})
    dry = client.post("/console/retention/", {"dry_run": "1"})
    with django_capture_on_commit_callbacks(execute=True):
        export = client.post("/console/exports/", {"format": "csv"})
    listing = client.get("/console/exports/").content.decode()
    audit = client.get("/console/audit/", {"action": "legal_hold"}).content.decode()

    assert hold.status_code == policy.status_code == export.status_code == 302
    assert LegalHold.objects.get().custodians.get() == member
    assert RetentionPolicy.objects.get(conversation__name="finance").keep_days == 90
    assert "Would remove" in dry.content.decode()
    job = ExportJob.objects.get()
    assert job.status == "done"
    assert f"/console/exports/{job.pk}/download/" in listing
    assert "legal_hold.placed" in audit
    assert AuditEvent.objects.filter(action="audit.viewed", actor=compliance_officer).exists()


def test_only_admins_change_people_and_erasure_needs_the_email(admin, compliance_officer, member):
    officer = browser_for(compliance_officer)
    assert officer.post(f"/console/people/{member.pk}/role/", {"role": "admin"}).status_code == 403
    assert officer.post(f"/console/people/{member.pk}/erase/", {}).status_code == 403
    boss = browser_for(admin)
    boss.post(f"/console/people/{member.pk}/role/", {"role": "compliance"})
    member.refresh_from_db()
    assert member.role == "compliance"
    boss.post(f"/console/people/{member.pk}/erase/", {"confirm_email": "wrong@example.com"})
    member.refresh_from_db()
    assert member.is_active
    boss.post(f"/console/people/{member.pk}/erase/", {"confirm_email": member.email})
    member.refresh_from_db()
    assert not member.is_active and member.email.endswith("@erased.invalid")

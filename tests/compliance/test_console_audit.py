"""The console's audit page for people: sentences, a list of actions checked on the server,
a verification of the chain run by a real worker, and exports' progress as JSON."""

from __future__ import annotations

import time
from unittest import mock

import pytest
from django.test import Client

from compliance import services
from compliance.models import AuditVerification, ExportJob, VerificationStatus
from compliance.selectors import audit_chain_verify
from core.audit import audit_record
from core.errors import Conflict
from core.models import AuditEvent
from tests.compliance.test_audit import _tamper

ROLES_ALLOWED = ("owner", "admin", "compliance_officer")
ROLES_REFUSED = ("member", "guest")


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _no_worker():
    """Ask for work without scheduling it: the verification stays waiting."""
    return mock.patch("compliance.services.audit._schedule")


@pytest.mark.django_db
def test_the_audit_page_reads_in_words_and_keeps_the_details(compliance_officer, member):
    audit_record(action="user.deactivated", actor=compliance_officer, target=member,
                 data={"note": "left the company"})

    html = browser_for(compliance_officer).get("/console/audit/").content.decode()

    assert f"deactivated <a href=\"/console/people/?q={member.email.replace('@', '%40')}\">" \
           f"{member.display_name}</a>" in html
    assert "<dt>note</dt><dd>left the company</dd>" in html
    assert "{&#x27;" not in html and "{'" not in html  # no dict repr anywhere


@pytest.mark.django_db
def test_the_action_filter_is_a_list_and_narrows_to_one_action_or_a_subject(compliance_officer,
                                                                             member):
    audit_record(action="auth.sign_in", actor=member, target=member)
    audit_record(action="auth.sign_in_failed", data={"email": "x@example.com"})
    client = browser_for(compliance_officer)

    page = client.get("/console/audit/").content.decode()
    one = client.get("/console/audit/", {"action": "auth.sign_in"}).content.decode()
    subject = client.get("/console/audit/", {"action": "auth"}).content.decode()

    assert '<select name="action"' in page and '<optgroup label="Signing in">' in page
    assert '<option value="message.deleted">Message deleted</option>' in page
    assert f"{member.display_name}</a> signed in" in one and "failed to sign in" not in one
    assert "signed in" in subject and "failed to sign in as x@example.com" in subject


@pytest.mark.django_db
@pytest.mark.parametrize("query", [{"action": "auth.sign_"}, {"action": "<script>"},
                                   {"conversation": "abc"}])
def test_a_bad_filter_is_refused_with_a_clear_error_and_reads_nothing(query, compliance_officer,
                                                                      member):
    audit_record(action="auth.sign_in", actor=member, target=member)
    viewed_before = AuditEvent.objects.filter(action="audit.viewed").count()

    response = browser_for(compliance_officer).get("/console/audit/", query)

    html = response.content.decode()
    assert response.status_code == 400
    assert "The filter was not applied" in html
    assert "signed in" not in html  # no events listed, filtered or not
    assert AuditEvent.objects.filter(action="audit.viewed").count() == viewed_before
    if query.get("action") == "<script>":
        assert "<script>" not in html and "choose one from the list" in html


@pytest.mark.django_db
def test_the_conversation_filter_shows_one_conversations_history(compliance_officer, member):
    audit_record(action="membership.joined", actor=member, conversation_id=7, data={})
    audit_record(action="membership.joined", actor=member, conversation_id=8, data={})

    html = browser_for(compliance_officer).get("/console/audit/", {"conversation": 7}).content.decode()

    assert html.count(f"{member.display_name}</a> joined") == 1
    assert AuditEvent.objects.filter(action="audit.viewed").last().data["filters"] == {
        "conversation": "7"}
    nothing = browser_for(compliance_officer).get("/console/audit/", {"conversation": 9})
    assert nothing.status_code == 200 and "No events match." in nothing.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES_ALLOWED + ROLES_REFUSED)
def test_who_may_use_the_new_console_doors(role, request):
    person = request.getfixturevalue(role)
    client = browser_for(person)
    with _no_worker():
        started = client.post("/console/audit/verify/")
    job = AuditVerification.objects.first()
    export = ExportJob.objects.create(format="jsonl")

    progress = client.get(f"/console/audit/verify/{job.pk}/progress/") if job else None
    exports = client.get("/console/exports/progress/")

    if role in ROLES_ALLOWED:
        assert started.status_code == 302 and job.requested_by == person
        assert progress.status_code == 200
        assert progress.json()["items"][0]["text"] == (
            f"Waiting for a worker: 0 of {job.total:,} events checked")
        assert exports.json()["items"] == [{"id": f"export-{export.pk}", "value": 0, "max": 0,
                                            "finished": False, "text": "Waiting"}]
        assert AuditEvent.objects.filter(action="audit.verification_started", actor=person).exists()
    else:
        assert started.status_code == 403 and job is None
        assert exports.status_code == 403
        assert not AuditEvent.objects.filter(action="audit.verification_started").exists()


@pytest.mark.django_db
def test_members_cannot_read_a_verifications_progress_and_strangers_are_sent_to_sign_in(
        compliance_officer, member):
    with _no_worker():
        job = services.audit_verification_start(actor=compliance_officer)

    assert browser_for(member).get(f"/console/audit/verify/{job.pk}/progress/").status_code == 403
    assert browser_for(compliance_officer).get(
        f"/console/audit/verify/{job.pk + 1}/progress/").status_code == 404
    assert Client().post("/console/audit/verify/").status_code == 302
    assert browser_for(compliance_officer).get("/console/audit/verify/").status_code == 405


@pytest.mark.django_db
def test_only_one_verification_at_a_time(compliance_officer, admin):
    with _no_worker():
        services.audit_verification_start(actor=compliance_officer)
        with pytest.raises(Conflict):
            services.audit_verification_start(actor=admin)
        response = browser_for(admin).post("/console/audit/verify/", follow=True)

    assert "already under way" in response.content.decode()
    assert AuditVerification.objects.count() == 1
    assert AuditEvent.objects.filter(action="audit.verification_started").count() == 1


@pytest.mark.django_db
def test_a_verification_whose_worker_went_silent_gives_way(compliance_officer):
    from datetime import timedelta

    from django.utils import timezone

    with _no_worker():
        stuck = services.audit_verification_start(actor=compliance_officer)
        AuditVerification.objects.filter(pk=stuck.pk).update(
            updated_at=timezone.now() - timedelta(hours=1))
        fresh = services.audit_verification_start(actor=compliance_officer)

    stuck.refresh_from_db()
    assert stuck.status == VerificationStatus.FAILED and "stopped reporting" in stuck.reason
    assert fresh.active and fresh.pk != stuck.pk


@pytest.mark.django_db
def test_the_walk_reports_progress_after_each_batch_and_stops_where_asked(member):
    events = [audit_record(action="auth.sign_in", actor=member) for _ in range(5)]
    before = AuditEvent.objects.filter(id__lt=events[0].id).count()
    heard: list[int] = []

    checked, chain_break = audit_chain_verify(batch_size=2, up_to_id=events[3].id,
                                              on_progress=heard.append)

    assert chain_break is None and checked == before + 4
    assert heard == sorted(heard) and heard[-1] == checked and len(heard) >= 2


def _wait_for(job: AuditVerification, seconds: float = 60) -> AuditVerification:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished:
            return job
        time.sleep(0.1)
    raise AssertionError(f"the worker did not finish {job}")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_verifies_the_chain_and_records_the_result(real_worker, compliance_officer,
                                                                  member):
    for _ in range(3):
        audit_record(action="auth.sign_in", actor=member)

    job = _wait_for(services.audit_verification_start(actor=compliance_officer))

    assert job.status == VerificationStatus.INTACT and job.checked == job.total > 3
    assert job.active is None and job.finished_at is not None
    result = AuditEvent.objects.get(action="audit.verified")
    assert result.actor == compliance_officer and result.target_id == str(job.pk)
    assert result.data == {"intact": True, "checked": job.total, "up_to": job.up_to_id,
                           "broken_at": None, "reason": None, "kind": None,
                           "checkpoint": None}


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_names_the_break_and_the_page_says_so(real_worker, compliance_officer,
                                                             member):
    events = [audit_record(action="auth.sign_in", actor=member) for _ in range(3)]
    _tamper(events[1].id, data={"forged": True})

    job = _wait_for(services.audit_verification_start(actor=compliance_officer))
    html = browser_for(compliance_officer).get("/console/audit/").content.decode()

    assert job.status == VerificationStatus.BROKEN and job.broken_at == events[1].id
    assert job.reason == "edited row: its contents do not match its hash"
    assert AuditEvent.objects.get(action="audit.verified").data["intact"] is False
    assert f"the chain breaks at event #{events[1].id}" in html
    assert f"BROKEN at event {events[1].id}" in html  # the result, as an event in words

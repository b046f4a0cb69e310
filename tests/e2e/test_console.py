"""The compliance console in a real browser: the audit log in words, a verification of
the audit chain with its progress and result, and an export's progress, all updating
without a reload by hand; axe finds no serious or critical violation on those pages."""

from __future__ import annotations

import re
import threading
from unittest import mock

import pytest
from django.db import connections
from playwright.sync_api import expect

from accounts.models import Role
from compliance import selectors, services
from tests.e2e.test_accessibility import serious
from tests.factories import make_channel, make_user, post

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def scenario():
    from messaging import services as messaging

    ana = make_user(Role.ADMIN, name="Ana Lopez")
    ben = make_user(name="Ben Okafor")
    carol = make_user(Role.COMPLIANCE, name="Carol Reyes")
    channel = make_channel(ana, "design", members=[ben])
    messaging.message_delete(actor=ana, message_id=post(ben, channel, "draft numbers").pk)
    post(ben, channel, "the real numbers")
    return carol


def test_the_audit_log_reads_in_words_and_a_verification_shows_progress_and_result(
        people, off_loop, artifacts):
    carol = off_loop(scenario)
    c = people(carol)
    page = c.page
    page.goto(c.server.url + "/console/audit/")
    deleted = page.locator("table.audit tbody tr", has_text="deleted a message")
    expect(deleted).to_contain_text("Ana Lopez deleted a message by Ben Okafor in #design")
    expect(deleted.get_by_role("link", name="#design")).to_have_attribute(
        "href", re.compile(r"^/console/audit/\?conversation=\d+$"))
    deleted.locator("summary").click()
    expect(deleted.locator("dl.details")).to_contain_text("by_author")
    problems = {"audit log": serious(page)}
    page.screenshot(path=str(artifacts / "console-audit.png"), full_page=True)

    # A verification waits for a worker: its progress reads 0 of all the events.
    with mock.patch("compliance.services.audit._schedule"):
        job = off_loop(services.audit_verification_start, actor=carol)
    page.reload()
    caption = page.locator(f"#progress-verification-{job.pk}-text")
    expect(caption).to_have_text(f"Waiting for a worker: 0 of {job.total:,} events checked")

    # The worker walks two events, then pauses: the page shows it without a reload.
    reached, go_on = threading.Event(), threading.Event()
    walk = selectors.audit_chain_verify

    def paused_walk(**arguments):
        report = arguments.pop("on_progress")

        def on_progress(checked: int) -> None:
            report(checked)
            if not reached.is_set():
                reached.set()
                go_on.wait(60)

        return walk(**arguments, on_progress=on_progress)

    def worker() -> None:
        try:
            services.audit_verification_run(job_id=job.pk)
        finally:
            connections.close_all()

    with mock.patch("compliance.services.audit.audit_chain_verify", paused_walk), \
            mock.patch("compliance.services.audit.BATCH", 2):
        thread = threading.Thread(target=worker)
        thread.start()
        try:
            assert reached.wait(30)
            expect(caption).to_have_text(f"Checking: 2 of {job.total:,} events checked")
            expect(page.locator(f"#progress-verification-{job.pk}")).to_have_attribute("value", "2")
            problems["verification running"] = serious(page)
            page.screenshot(path=str(artifacts / "console-audit-verifying.png"))
        finally:
            go_on.set()
            thread.join(60)

    # Done: the page reloads itself with the verdict, and the log holds it as an event.
    expect(page.locator("#verification-result")).to_contain_text(
        f"Intact: all {job.total} events up to #{job.up_to_id} fit the chain.")
    expect(page.locator("table.audit tbody tr", has_text="audit chain was verified")).to_contain_text(
        f"The audit chain was verified for Carol Reyes: intact, {job.total} events checked")

    # The button asks for the next one (these servers run tasks at once, on commit).
    page.get_by_role("button", name="Verify the audit chain").click()
    expect(page.locator(".flash")).to_contain_text("Verification of the audit chain started.")
    expect(page.locator("#verification")).to_contain_text(f"Verification #{job.pk + 1}")
    expect(page.locator("#verification-result")).to_contain_text("Intact")
    problems["verification done"] = serious(page)
    page.screenshot(path=str(artifacts / "console-audit-verified.png"), full_page=True)

    # A filter value that is not in the list is refused in words.
    page.goto(c.server.url + "/console/audit/?action=message.burned")
    expect(page.locator(".field-error")).to_contain_text("choose one from the list")
    problems["bad filter"] = serious(page)

    assert problems == {name: [] for name in problems}


def test_an_export_shows_its_progress_and_then_its_link_without_a_reload(people, off_loop,
                                                                         artifacts):
    carol = off_loop(scenario)
    job = off_loop(services.export_start, actor=carol, format="jsonl", in_background=False)
    c = people(carol)
    page = c.page
    page.goto(c.server.url + "/console/exports/")
    expect(page.locator(f"#progress-export-{job.pk}-text")).to_have_text("Waiting")
    problems = serious(page)
    page.screenshot(path=str(artifacts / "console-exports-waiting.png"), full_page=True)

    off_loop(services.export_run, job_id=job.pk)

    expect(page.get_by_role("link", name=re.compile(r"^zip, "))).to_be_visible()
    expect(page.locator(f"#progress-export-{job.pk}")).to_have_count(0)
    page.screenshot(path=str(artifacts / "console-exports-ready.png"), full_page=True)
    assert problems == [] and serious(page) == []

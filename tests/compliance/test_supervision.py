"""Supervision (FINRA 3110, issue 30): a policy routes matching messages and edits to its
review queue (matched in Celery after commit, through the message's own side-effect job),
its reviewers decide on each item with a comment, every step is audited, reviewers see
only their policies' items, and the queue exports as CSV."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client

from compliance import selectors, services
from compliance.models import SupervisionItem
from core.errors import Forbidden, InvalidInput, NotFound
from core.models import AuditEvent
from messaging import services as messaging
from messaging.models import UserGroup
from tests.factories import make_channel, make_direct, make_user, post

pytestmark = pytest.mark.django_db

WORDS = "guarantee\ninside   information\n"
PATTERNS = r"wire\s+\$?\d{4,}"


@pytest.fixture
def desk(member, other_member, compliance_officer, django_capture_on_commit_callbacks):
    ana, ben = member, other_member
    channel = make_channel(ana, "trading", members=[ben])

    def say(author, text, conversation=None):
        with django_capture_on_commit_callbacks(execute=True):
            return post(author, conversation or channel, text)

    def edit(author, message, text):
        with django_capture_on_commit_callbacks(execute=True):
            return messaging.message_edit(actor=author, message_id=message.pk, text=text)

    return ana, ben, channel, say, edit


def policy(officer, **fields):
    return services.supervision_policy_save(**{
        "actor": officer, "name": "Promises", "words": WORDS, "patterns": PATTERNS,
        "reviewers": [officer], **fields})


def test_a_matching_message_goes_to_the_queue_with_why_and_others_do_not(desk, compliance_officer):
    ana, ben, channel, say, _ = desk
    rules = policy(compliance_officer)
    caught = say(ana, "I GUARANTEE a 20% return")
    phrase = say(ben, "that is inside\ninformation, keep it quiet")
    wired = say(ana, "please wire $250000 today")
    for text in ("we guaranteed nothing", "hello", "wire 12"):  # whole words; four digits
        say(ana, text)
    direct = say(ben, "guarantee it", make_direct(ben, ana))

    items = {i.message_id: i for i in SupervisionItem.objects.filter(policy=rules)}
    assert set(items) == {caught.pk, phrase.pk, wired.pk, direct.pk}
    assert items[caught.pk].reasons == ["word: guarantee"]
    assert items[phrase.pk].reasons == ["word: inside information"]
    assert items[wired.pk].reasons == [f"pattern: {PATTERNS}"]
    assert items[caught.pk].text == "I GUARANTEE a 20% return" and items[caught.pk].status == "open"
    assert items[caught.pk].author == ana and items[caught.pk].conversation == channel
    queued = AuditEvent.objects.filter(action="supervision.item_queued")
    assert queued.count() == 4 and queued.get(target_id=str(items[wired.pk].pk)).data["message"] == wired.pk


def test_an_edit_that_brings_a_match_is_queued_as_its_own_version(desk, compliance_officer):
    ana, _, _, say, edit = desk
    rules = policy(compliance_officer)
    message = say(ana, "returns look fine")
    assert not SupervisionItem.objects.exists()
    edit(ana, message, "returns look fine, I guarantee it")
    edit(ana, message, "returns look fine, I guarantee it!")
    items = SupervisionItem.objects.filter(policy=rules, message=message).order_by("version")
    assert [(i.version, i.text) for i in items] == [
        (1, "returns look fine, I guarantee it"), (2, "returns look fine, I guarantee it!")]
    # Matching again (a task retried) adds nothing.
    assert services.supervision_match(message_id=message.pk, version=2) == []
    assert items.count() == 2


def test_only_the_people_and_groups_under_review_and_the_sample(desk, compliance_officer):
    ana, ben, _, say, _ = desk
    cleo = make_user(name="Cleo Li")
    traders = UserGroup.objects.create(handle="traders", name="Traders")
    traders.members.add(cleo)
    policy(compliance_officer, people=[ana], groups=[traders])
    from_ana, from_ben = say(ana, "I guarantee it"), say(ben, "I guarantee it")
    from_cleo = say(cleo, "I guarantee it", make_direct(cleo, ben))
    assert set(SupervisionItem.objects.values_list("message_id", flat=True)) == {from_ana.pk, from_cleo.pk}
    assert from_ben.pk not in SupervisionItem.objects.values_list("message_id", flat=True)  # not under review

    everything = policy(compliance_officer, name="Everything of Ben's", words="", patterns="",
                        people=[ben], sample_percent=100)
    plain = say(ben, "nothing special")
    (item,) = SupervisionItem.objects.filter(policy=everything)
    assert item.message_id == plain.pk and item.reasons == ["sample: 100%"]


def test_a_sample_takes_about_its_share_and_the_same_answer_each_time(desk, compliance_officer):
    ana, _, channel, _, _ = desk
    rules = policy(compliance_officer, words="", patterns="", sample_percent=30)
    messages = [post(ana, channel, f"note {n}") for n in range(200)]
    for message in messages:
        services.supervision_match(message_id=message.pk)
    taken = SupervisionItem.objects.filter(policy=rules).count()
    assert 40 <= taken <= 80  # 30% of 200, give or take
    for message in messages:
        services.supervision_match(message_id=message.pk)
    assert SupervisionItem.objects.filter(policy=rules).count() == taken


def test_reviewers_decide_with_comments_and_each_decision_is_audited(desk, compliance_officer):
    ana, _, _, say, _ = desk
    policy(compliance_officer)
    say(ana, "I guarantee it")
    item = SupervisionItem.objects.get()

    with pytest.raises(InvalidInput, match="needs a comment"):
        services.supervision_item_act(actor=compliance_officer, item_id=item.pk, status="escalated")
    with pytest.raises(InvalidInput, match="status"):
        services.supervision_item_act(actor=compliance_officer, item_id=item.pk, status="shredded")
    item.refresh_from_db()
    assert item.status == "open" and not item.actions.exists()  # bad input changed nothing

    services.supervision_item_act(actor=compliance_officer, item_id=item.pk, status="escalated",
                                  comment="promises returns; to the branch manager")
    services.supervision_item_act(actor=compliance_officer, item_id=item.pk, status="closed",
                                  comment="client told it was not a guarantee")
    item.refresh_from_db()
    assert item.status == "closed"
    assert [(a.status, a.comment) for a in item.actions.all()] == [
        ("escalated", "promises returns; to the branch manager"),
        ("closed", "client told it was not a guarantee")]
    acted = AuditEvent.objects.filter(action="supervision.item_acted").order_by("seq")
    assert [(e.data["from"], e.data["to"], e.actor_id) for e in acted] == [
        ("open", "escalated", compliance_officer.pk), ("escalated", "closed", compliance_officer.pk)]


def test_reviewers_see_and_act_on_only_their_policies(desk, compliance_officer, owner, admin, guest):
    ana, _, _, say, _ = desk
    other_officer = make_user("compliance", name="Other Officer")
    policy(compliance_officer)
    policy(other_officer, name="Other desk", words="bonus", patterns="")
    say(ana, "I guarantee it")
    say(ana, "the bonus is certain")
    mine, theirs = (SupervisionItem.objects.get(policy__name=n) for n in ("Promises", "Other desk"))

    assert list(selectors.supervision_queue(viewer=compliance_officer)) == [mine]
    assert list(selectors.supervision_queue(viewer=other_officer)) == [theirs]
    with pytest.raises(NotFound):
        services.supervision_item_act(actor=compliance_officer, item_id=theirs.pk, status="reviewed")
    with pytest.raises(NotFound):
        services.supervision_queue_csv(actor=compliance_officer, policy_id=theirs.policy_id)
    # Nobody but compliance officers: not owners, admins, members or guests.
    for person in (owner, admin, ana, guest):
        with pytest.raises(Forbidden):
            selectors.supervision_queue(viewer=person)
        with pytest.raises(Forbidden):
            services.supervision_item_act(actor=person, item_id=mine.pk, status="reviewed")
        with pytest.raises(Forbidden):
            policy(person, name=f"by {person.pk}")
        with pytest.raises(Forbidden):
            services.supervision_queue_csv(actor=person, policy_id=mine.policy_id)
    assert not theirs.actions.exists() and not mine.actions.exists()


def test_bad_policies_are_refused_by_name_and_change_nothing(compliance_officer, member):
    cases = [
        ({"patterns": "wire (\\d+"}, "Line 1 (wire (\\d+) is not a regular expression"),
        ({"sample_percent": 101}, "from 0 to 100"),
        ({"words": "", "patterns": ""}, "would catch nothing"),
        ({"reviewers": []}, "at least one reviewer"),
        ({"reviewers": [member]}, f"must be active compliance officers: {member.email}"),
        ({"name": "  "}, "needs a name"),
    ]
    for fields, message in cases:
        with pytest.raises(InvalidInput, match=re.escape(message)):
            policy(compliance_officer, **fields)
    policy(compliance_officer)
    with pytest.raises(InvalidInput, match="exists"):
        policy(compliance_officer)
    assert AuditEvent.objects.filter(action="supervision.policy_saved").count() == 1


def test_the_console_queue_decisions_and_csv_export(desk, compliance_officer):
    ana, _, _, say, _ = desk
    browser = Client()
    browser.force_login(compliance_officer)
    page = browser.post("/console/supervision/", {
        "name": "Promises", "words": WORDS, "patterns": PATTERNS, "people": "", "groups": "",
        "sample_percent": "0", "reviewers": compliance_officer.email, "active": "on"})
    assert page.status_code == 302
    say(ana, "I <b>guarantee</b> it")
    item = SupervisionItem.objects.get()

    page = browser.get("/console/supervision/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-item="{item.pk}"' in html and "I &lt;b&gt;guarantee&lt;/b&gt; it" in html
    assert "word: guarantee" in html

    answer = browser.post(f"/console/supervision/items/{item.pk}/", {
        "status": "escalated", "comment": "to the principal", "next": "/console/supervision/"})
    assert answer.status_code == 302
    item.refresh_from_db()
    assert item.status == "escalated"
    assert f'data-item="{item.pk}"' not in browser.get("/console/supervision/").content.decode()  # not open
    assert f'data-item="{item.pk}"' in browser.get("/console/supervision/?status=escalated").content.decode()

    exported = browser.get(f"/console/supervision/policies/{item.policy_id}/export/")
    assert exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert len(rows) == 1 and rows[0]["status"] == "escalated" and rows[0]["author"] == ana.email
    assert rows[0]["text"] == "I <b>guarantee</b> it" and "to the principal" in rows[0]["decisions"]
    exports = AuditEvent.objects.filter(action="supervision.queue_exported", actor=compliance_officer)
    assert exports.count() == 1

    # The policy's own page: its settings filled in, saved again with a change; an unknown
    # group is named and changes nothing.
    edit_url = f"/console/supervision/policies/{item.policy_id}/"
    assert "Promises" in browser.get(edit_url).content.decode()
    fields = {"name": "Promises", "words": WORDS, "patterns": PATTERNS, "people": "", "groups": "",
              "sample_percent": "5", "reviewers": compliance_officer.email, "active": "on"}
    refused = browser.post(edit_url, {**fields, "groups": "@nobody"})
    assert "No group @nobody." in refused.content.decode()
    item.policy.refresh_from_db()
    assert item.policy.sample_percent == 0
    assert browser.post(edit_url, fields).status_code == 302
    item.policy.refresh_from_db()
    assert item.policy.sample_percent == 5
    assert browser.get("/console/supervision/policies/999999/").status_code == 404

    # Members do not get in.
    outsider = Client()
    outsider.force_login(ana)
    assert outsider.get("/console/supervision/").status_code == 403


def test_a_deleted_message_is_not_matched(desk, compliance_officer):
    ana, _, channel, _, _ = desk
    policy(compliance_officer)
    message = post(ana, channel, "I guarantee it")
    messaging.message_delete(actor=ana, message_id=message.pk)
    assert services.supervision_match(message_id=message.pk) == []


def test_erasing_a_person_erases_what_supervision_caught_of_their_removed_messages(
        desk, compliance_officer, owner):
    ana, _, _, say, _ = desk
    policy(compliance_officer)
    say(ana, "I guarantee it")
    item = SupervisionItem.objects.get()
    services.supervision_item_act(actor=compliance_officer, item_id=item.pk, status="reviewed")
    services.user_erase(actor=owner, user=ana, remove_messages=True)
    item.refresh_from_db()
    assert item.message_id is None and item.text == "(erased)"
    assert [a.status for a in item.actions.all()] == ["reviewed"]  # the review's record stays

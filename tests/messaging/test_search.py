"""Message search: every operator, permission filtering, deletes and edits, bad syntax.

The same tests run on PostgreSQL (the suite's database in CI) and, through
test_the_embedded_mode_searches_the_same_way, on SQLite FTS5.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from core.errors import InvalidInput
from files import services as files
from messaging import services
from messaging.models import Message
from messaging.search import message_search
from messaging.search_syntax import parse
from tests.embedded import rerun_on_sqlite
from tests.factories import client_for, make_channel, make_direct, post

pytestmark = pytest.mark.django_db


def texts(user, query: str) -> list[str]:
    return sorted(hit.message.text for hit in message_search(user=user, query=query, limit=50).hits)


def at(message: Message, when: str) -> Message:
    Message.objects.filter(pk=message.pk).update(
        created_at=datetime.fromisoformat(when).replace(tzinfo=ZoneInfo("UTC")))
    return message


@pytest.fixture
def world(member, other_member, user_factory):
    ana = member
    ben = other_member
    cara = user_factory(name="Cara Diaz", email="cara.diaz@example.com")
    general = make_channel(ana, "general", members=[ben, cara])
    launch = make_channel(ben, "launch", members=[ana])
    secret = make_channel(cara, "secret", kind="private")
    post(ana, general, "The quarterly report is ready")
    post(ben, general, "Deploying the release tonight")
    post(cara, general, "Lunch options: pizza or sushi")
    post(ben, launch, "Release checklist: deploy, verify, announce")
    post(ana, launch, "see https://example.com/notes for the release notes")
    post(cara, secret, "The secret release date is Friday")
    direct = make_direct(ana, cara)
    post(cara, direct, "Can we talk about the report?")
    return {"ana": ana, "ben": ben, "cara": cara, "general": general, "launch": launch,
            "secret": secret, "direct": direct}


def test_words_are_all_required_and_stemmed(world):
    assert texts(world["ana"], "release deploy") == [
        "Deploying the release tonight", "Release checklist: deploy, verify, announce"]
    assert texts(world["ana"], "reports") == ["Can we talk about the report?",
                                              "The quarterly report is ready"]


def test_exact_phrases(world):
    assert texts(world["ana"], '"quarterly report"') == ["The quarterly report is ready"]
    assert texts(world["ana"], '"report quarterly"') == []


def test_a_phrase_is_its_words_side_by_side(world):
    """PostgreSQL's own phrase match reads a stop word inside a phrase as any word at all;
    teamchat's word-pair index holds it to a stop word (SQLite's FTS5, to the word itself)."""
    ana, general = world["ana"], world["general"]
    for text in ("deploy to prod now", "deploy review prod", "prod to deploy"):
        post(ana, general, text)

    found = texts(ana, '"deploy to prod"')
    either = texts(ana, '"deploy to prod" OR "quarterly report"')
    with_word = texts(ana, '"deploy to prod" now')

    assert "deploy to prod now" in found
    assert not {"deploy review prod", "prod to deploy"} & set(found)
    assert either == sorted([*found, "The quarterly report is ready"])
    assert with_word == ["deploy to prod now"]
    assert texts(ana, '"prod deploy"') == []


def test_or_and_exclusion(world):
    assert texts(world["ana"], "pizza OR checklist") == [
        "Lunch options: pizza or sushi", "Release checklist: deploy, verify, announce"]
    assert texts(world["ana"], "release -checklist") == [
        "Deploying the release tonight", "see https://example.com/notes for the release notes"]
    assert texts(world["ana"], 'release -"release notes" -tonight') == [
        "Release checklist: deploy, verify, announce"]


def test_in_from_and_has_filters(world):
    ana = world["ana"]
    assert texts(ana, "release in:#launch") == [
        "Release checklist: deploy, verify, announce",
        "see https://example.com/notes for the release notes"]
    assert texts(ana, "in:@cara.diaz") == ["Can we talk about the report?"]
    assert texts(ana, "report from:@cara.diaz") == ["Can we talk about the report?"]
    assert texts(ana, 'from:"Otto Other" release') == [
        "Deploying the release tonight", "Release checklist: deploy, verify, announce"]
    assert texts(ana, "has:link") == ["see https://example.com/notes for the release notes"]
    upload = files.attachment_upload(uploader=ana, upload=SimpleUploadedFile("r.txt", b"numbers"))
    services.message_create(author=ana, conversation_id=world["general"].pk,
                            text="numbers attached", file_ids=[upload.pk])
    assert texts(ana, "has:file") == ["numbers attached"]


def test_is_thread(world):
    root = Message.objects.get(text="The quarterly report is ready")
    post(world["ben"], world["general"], "Thanks for the report", thread_root_id=root.pk)
    assert texts(world["ana"], "report is:thread") == ["Thanks for the report",
                                                        "The quarterly report is ready"]


def test_date_filters(world):
    ana = world["ana"]
    at(Message.objects.get(text="The quarterly report is ready"), "2026-03-15T12:00:00")
    at(Message.objects.get(text="Can we talk about the report?"), "2026-04-02T09:00:00")
    assert texts(ana, "report before:2026-04-01") == ["The quarterly report is ready"]
    assert texts(ana, "report after:2026-03-31 before:2026-05-01") == [
        "Can we talk about the report?"]
    assert texts(ana, "report during:2026-03") == ["The quarterly report is ready"]
    assert texts(ana, "report during:2026") == ["Can we talk about the report?",
                                               "The quarterly report is ready"]
    assert texts(ana, "report during:2026-04-02") == ["Can we talk about the report?"]


def test_only_what_the_searcher_may_see_now(world, guest):
    ana, ben, cara = world["ana"], world["ben"], world["cara"]
    assert texts(ana, "secret") == []                       # a private channel she is not in
    assert texts(ben, "report") == ["The quarterly report is ready"]  # not the direct one
    assert texts(cara, "secret") == ["The secret release date is Friday"]
    services.membership_add(actor=cara, conversation_id=world["secret"].pk, user_id=ben.pk)
    assert texts(ben, "secret") == ["The secret release date is Friday"]
    services.membership_remove(actor=cara, conversation_id=world["secret"].pk, user_id=ben.pk)
    assert texts(ben, "secret") == []                       # removed: no longer found
    assert texts(guest, "release") == []                    # guests: only where added
    services.membership_add(actor=ana, conversation_id=world["launch"].pk, user_id=guest.pk)
    assert texts(guest, "release") == [
        "Release checklist: deploy, verify, announce",
        "see https://example.com/notes for the release notes"]


def test_public_channels_are_searchable_without_joining(world, user_factory):
    newcomer = user_factory()
    assert texts(newcomer, "pizza") == ["Lunch options: pizza or sushi"]


def test_deleted_messages_are_never_found_and_edits_are_reindexed(world):
    ana = world["ana"]
    lunch = Message.objects.get(text="Lunch options: pizza or sushi")
    services.message_delete(actor=world["cara"], message_id=lunch.pk)
    assert texts(ana, "pizza") == []
    report = Message.objects.get(text="The quarterly report is ready")
    services.message_edit(actor=ana, message_id=report.pk, text="The annual summary is ready")
    assert texts(ana, "quarterly") == []
    assert texts(ana, "annual summary") == ["The annual summary is ready"]


def test_results_are_highlighted_and_escaped(world):
    ana = world["ana"]
    post(ana, world["general"], "budget <script>alert(1)</script> review if x<y & z")
    (hit,) = message_search(user=ana, query="budget").hits
    assert "<mark>budget</mark>" in hit.highlight
    assert "<" not in hit.highlight.replace("<mark>", "").replace("</mark>", "")


def test_relevance_and_recency_rank_the_results(world):
    ana = world["ana"]
    old = at(post(ana, world["general"], "roadmap roadmap roadmap planning"),
             "2025-01-01T00:00:00")
    recent = post(ana, world["general"], "roadmap planning")
    hits = message_search(user=ana, query="roadmap").hits
    assert [h.message.pk for h in hits] == [recent.pk, old.pk]


def test_many_matches_rank_the_newest(world, monkeypatch):
    """On PostgreSQL a word or phrase matching more than RANKED_MATCHES messages ranks the
    newest that many (a quarter of all messages would otherwise be ranked on every search)."""
    from messaging import search

    ana = world["ana"]
    old = at(post(ana, world["general"], "roadmap roadmap roadmap planning"), "2025-01-01T00:00:00")
    newer = [post(ana, world["general"], f"roadmap item {n}") for n in range(3)]
    in_launch = post(ana, world["launch"], "roadmap for the launch")
    monkeypatch.setattr(search, "RANKED_MATCHES", 2)
    found = [hit.message.pk for hit in message_search(user=ana, query="roadmap").hits]
    if connection.vendor == "postgresql":
        assert sorted(found) == [newer[2].pk, in_launch.pk]
        # A filter narrows what is walked: the newest two in #general, not in the whole.
        found = [hit.message.pk for hit in message_search(user=ana, query="roadmap in:#general").hits]
        assert sorted(found) == [newer[1].pk, newer[2].pk]
        # A phrase is found through its word pairs, the newest that many of them ranked.
        found = [hit.message.pk for hit in message_search(user=ana, query='"roadmap planning"').hits]
        assert found == [old.pk]
        # In a narrow scope the newest messages are read first; when they do not settle it
        # (3 read, none matching, more behind) the index finds the older match.
        monkeypatch.setattr(search, "WALKED_MESSAGES", 3)
        for query in ("planning in:#general", "planning from:@" + ana.email):
            assert [hit.message.pk for hit in message_search(user=ana, query=query).hits] == [old.pk]
        found = [hit.message.pk for hit in message_search(user=ana, query="roadmap from:@" + ana.email).hits]
        assert sorted(found) == [newer[2].pk, in_launch.pk]
        # Of five messages holding the phrase "roadmap item", the newest two are ranked;
        # with another word too, every message holding both is found, however old.
        phrased = [post(ana, world["general"], f"the roadmap item {n}") for n in range(2)]
        found = [hit.message.pk for hit in message_search(user=ana, query='"roadmap item"').hits]
        assert sorted(found) == [p.pk for p in phrased]
        with_word = [hit.message.pk for hit in message_search(user=ana, query='"roadmap item" 0').hits]
        assert sorted(with_word) == [newer[0].pk, phrased[0].pk]  # newer[0] is older than both
        # Within dates the newest are the newest in time: a message posted with an older
        # date (imported, say) after one in the range has the larger id but is not newer.
        at(newer[0], "2025-06-20T00:00:00")
        at(newer[1], "2025-06-10T00:00:00")
        at(in_launch, "2025-06-15T00:00:00")
        found = [hit.message.pk for hit in message_search(
            user=ana, query="roadmap after:2025-06-01 before:2025-07-01").hits]
        assert sorted(found) == [newer[0].pk, in_launch.pk]
    else:  # SQLite FTS5 ranks every match
        assert sorted(found) == sorted([old.pk, *(m.pk for m in newer), in_launch.pk])


@pytest.mark.parametrize("query, problem", [
    ("", "Type something"),
    ('"unclosed phrase', "quote is not closed"),
    ("OR release", "OR needs a word"),
    ("release OR", "OR needs a word"),
    ("-only -exclusions", "not only what to leave out"),
    ("in:#nowhere release", "no channel #nowhere"),
    ("from:@nobody release", "No one called \"nobody\""),
    ("has:unicorn", "has:file or has:link"),
    ("is:pinned", "is:thread"),
    ("before:2026-13-45", "not a date"),
    ("during:yesterday", "not a date"),
    ("after:2026-05-01 before:2026-04-01", "leave no day"),
    ("x" * 501, "at most 500"),
    ("in:", "needs a value"),
])
def test_bad_syntax_gets_a_clear_error(world, query, problem):
    with pytest.raises(InvalidInput) as error:
        message_search(user=world["ana"], query=query)
    assert problem in error.value.detail
    assert error.value.code == "bad_query"


@pytest.mark.parametrize("query", [
    "' OR 1=1 --", "release'; DROP TABLE messaging_message; --", "NEAR(a b)", "a* ^b", "\\", "%",
    "()", "\x00", "🙂" * 100, "release " * 24, "col:value", 'x "" y',
])
def test_hostile_or_odd_input_is_either_a_clear_error_or_a_search(world, query):
    try:
        message_search(user=world["ana"], query=query)
    except InvalidInput as error:
        assert error.code == "bad_query"
    assert Message.objects.filter(text="The quarterly report is ready").exists()


def test_the_api_pages_and_names_conversations(world):
    client = client_for(world["ana"])
    for n in range(25):
        post(world["ana"], world["general"], f"standup note {n}")
    first = client.get("/api/v1/search/messages/", {"q": "standup", "limit": 20}).json()
    second = client.get("/api/v1/search/messages/", {"q": "standup", "limit": 20, "page": 2}).json()
    bad = client.get("/api/v1/search/messages/", {"q": '"oops'})
    people = client.get("/api/v1/search/people/", {"q": "cara"}).json()["results"]
    channels = client.get("/api/v1/search/channels/", {"q": "laun"}).json()["results"]

    assert (len(first["results"]), first["has_more"]) == (20, True)
    assert (len(second["results"]), second["has_more"]) == (5, False)
    assert {r["conversation_name"] for r in first["results"]} == {"#general"}
    assert "<mark>" in first["results"][0]["highlight"]
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_query"
    assert [p["display_name"] for p in people] == ["Cara Diaz"]
    assert [c["name"] for c in channels] == ["launch"]


def test_a_bare_name_keeps_the_words_that_may_continue_it():
    spec = parse("from:Ana Lopez budget -draft")
    tail_words = [term.text for term in spec.name_tails[("from", 0)]]
    quoted = parse('from:"Ana  Lopez" budget')
    email = parse("from:ana@example.com budget")
    with_or = parse("from:Ana Lopez OR Smith")
    channel = parse("in:general launch")

    assert spec.from_people == ["ana"] and tail_words == ["Lopez", "budget"]
    assert [g[0].text for g in spec.groups] == ["Lopez", "budget"]
    assert quoted.from_people == ["ana lopez"] and not any(quoted.name_tails.values())
    assert email.from_people == ["ana@example.com"] and not any(email.name_tails.values())
    assert with_or.name_tails[("from", 0)] == []  # Lopez is one side of the OR
    assert channel.in_places == ["?general"] and [t.text for t in channel.name_tails[("in", 0)]] == ["launch"]


def test_from_takes_a_display_name_an_email_or_a_handle(world, user_factory):
    ana = world["ana"]
    post(world["cara"], world["general"], "Cara Diaz wrote this report too")
    by_cara = ["Can we talk about the report?", "Cara Diaz wrote this report too"]

    assert texts(ana, 'from:"Cara Diaz" report') == by_cara
    assert texts(ana, "from:Cara Diaz report") == by_cara
    assert texts(ana, "from:cara diaz report") == by_cara
    assert texts(ana, "from:cara.diaz@example.com report") == by_cara
    assert texts(ana, "from:@cara.diaz report") == by_cara
    assert texts(ana, "from:cara report") == by_cara  # the only Cara: her first name will do
    # The name's words stop being search words only when they make the name.
    assert texts(ana, "from:Cara Diaz wrote") == ["Cara Diaz wrote this report too"]

    user_factory(name="Cara Zhou", email="cz@example.com")
    with pytest.raises(InvalidInput) as ambiguous:
        message_search(user=ana, query="from:cara report")
    with pytest.raises(InvalidInput) as unknown:
        message_search(user=ana, query="from:Dora Nobody report")
    assert "could be Cara Diaz, Cara Zhou" in ambiguous.value.detail
    assert 'No one called "dora"' in unknown.value.detail
    assert texts(ana, "from:Cara Diaz report") == by_cara


def test_in_takes_a_channel_or_a_person(world):
    ana = world["ana"]

    assert texts(ana, "in:launch release") == ["Release checklist: deploy, verify, announce",
                                               "see https://example.com/notes for the release notes"]
    assert texts(ana, "in:Cara Diaz report") == ["Can we talk about the report?"]
    assert texts(ana, 'in:"cara diaz"') == ["Can we talk about the report?"]
    with pytest.raises(InvalidInput) as nowhere:
        message_search(user=ana, query="in:nowhere report")
    assert "no channel or person called nowhere" in nowhere.value.detail


def test_results_carry_the_messages_around_them_as_read(world):
    ana, ben, general = world["ana"], world["ben"], world["general"]
    first = post(ana, general, "first of the morning")
    gone = post(ben, general, "this one is deleted")
    reply = post(ben, general, "a reply only in the thread", thread_root_id=first.pk)
    found = post(ana, general, "the zebra crossing plan")
    later_reply = post(ben, general, "zebra reply in thread", thread_root_id=first.pk)
    after = post(ben, general, "agreed, ship it")
    post(ana, world["launch"], "another conversation entirely")
    services.message_delete(actor=ben, message_id=gone.pk)

    hits = {hit.message.pk: hit for hit in message_search(user=ana, query="zebra").hits}

    channel_hit, thread_hit = hits[found.pk], hits[later_reply.pk]
    assert (channel_hit.before.pk, channel_hit.after.pk) == (first.pk, after.pk)
    # A reply not sent to the channel is read in its thread: the reply before it, none after.
    assert (thread_hit.before.pk, thread_hit.after) == (reply.pk, None)
    assert channel_hit.conversation_kind == "public"
    assert "zebra" in channel_hit.match_words


def test_match_words_are_the_texts_own_forms(world):
    (hit,) = message_search(user=world["ana"], query="deploys tonight").hits
    assert hit.message.text == "Deploying the release tonight"
    assert {"deploying", "tonight"} <= set(hit.match_words)


def test_the_api_gives_context_labels_and_safe_html(world):
    ana, cara = world["ana"], world["cara"]
    post(ana, world["general"], "before the hostile one")
    post(cara, world["general"], "budget <script>alert(1)</script> **bold** :rocket:")
    post(ana, world["general"], "after the hostile one")

    mine = client_for(ana).get("/api/v1/search/messages/", {"q": "budget"}).json()["results"]
    direct_for_ana = client_for(ana).get("/api/v1/search/messages/", {"q": "talk"}).json()["results"]
    direct_for_cara = client_for(cara).get("/api/v1/search/messages/", {"q": "talk"}).json()["results"]

    (hit,) = mine
    assert hit["conversation_name"] == "#general" and hit["conversation_kind"] == "public"
    assert hit["context"]["before"]["text"] == "before the hostile one"
    assert hit["context"]["after"]["text"] == "after the hostile one"
    assert "<script>" not in hit["html"] and "&lt;script&gt;" in hit["html"]
    assert "<strong>bold</strong>" in hit["html"] and "🚀" in hit["html"]
    assert "<" not in hit["highlight"].replace("<mark>", "").replace("</mark>", "")
    assert hit["match_words"] == ["budget"]
    # A direct conversation is named by the other person, whoever searches.
    def labels(results):
        return [(r["conversation_name"], r["conversation_kind"]) for r in results]

    assert labels(direct_for_ana) == [("Cara Diaz", "direct")]
    assert labels(direct_for_cara) == [("Mia Member", "direct")]
    assert direct_for_ana[0]["context"] == {"before": None, "after": None}


def test_the_embedded_mode_searches_the_same_way():
    rerun_on_sqlite(__file__, deselect="embedded_mode")

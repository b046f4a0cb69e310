"""Search in Chinese, Japanese and Korean (issue 31): any substring of one or more
characters is found inside a sentence, beside the word search, with its operators and
permission filter; the matched characters are marked.

The same tests run on PostgreSQL and, through test_the_embedded_mode_searches_the_same_way,
on SQLite FTS5.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import InvalidInput
from messaging import services
from messaging.models import Message
from messaging.search import message_search
from messaging.search_cjk import bigrams, index_terms
from tests.embedded import rerun_on_sqlite
from tests.factories import client_for, make_channel, make_direct, post

pytestmark = pytest.mark.django_db

SHANGHAI = "明天我们在上海开会，请准时到。"  # noqa: RUF001  (Chinese is written with a full-width comma)
TOKYO_TO = "来週は東京都庁で打ち合わせです"
TOKYO_KYOTO = "東京と京都、どちらに行きますか"
KYOTO = "週末は京都へ行きました"
HIRAGANA = "こどもたちはひらがなをならっています"
KATAKANA = "このボタンの名前はカタカナで書いてください"
SEOUL = "다음 주에 서울에서 만나요"
KOREAN = "저는 한국어를 공부하고 있습니다"
SALES = "今期のQ3の売上は好調でした"
ENGLISH = "The quarterly report is ready"


def texts(user, query: str) -> list[str]:
    return sorted(hit.message.text for hit in message_search(user=user, query=query, limit=50).hits)


@pytest.fixture
def world(member, other_member, user_factory):
    ana, ben = member, other_member
    cara = user_factory(name="Cara Diaz", email="cara.diaz@example.com")
    general = make_channel(ana, "general", members=[ben, cara])
    tokyo = make_channel(ben, "tokyo", members=[ana])
    secret = make_channel(cara, "secret", kind="private")
    direct = make_direct(ben, cara)
    for author, where, text in ((ana, general, SHANGHAI), (ben, tokyo, TOKYO_TO),
                                (ben, general, TOKYO_KYOTO), (cara, general, KYOTO),
                                (ana, general, HIRAGANA), (cara, general, KATAKANA),
                                (ben, general, SEOUL), (ana, general, KOREAN),
                                (ana, general, SALES), (ana, general, ENGLISH),
                                (cara, secret, "上海の秘密の計画: 東京都とソウル, 서울 회의"),
                                (cara, direct, "한국어 수업은 上海에서 해요")):
        post(author, where, text)
    return {"ana": ana, "ben": ben, "cara": cara, "general": general, "tokyo": tokyo,
            "secret": secret, "direct": direct}


@pytest.mark.parametrize("query, found", [
    ("上海", [SHANGHAI]),
    ("東京", sorted([TOKYO_TO, TOKYO_KYOTO])),
    ("東京都", [TOKYO_TO]),            # not 東京と京都: its bigrams must be side by side
    ("京都", sorted([TOKYO_TO, TOKYO_KYOTO, KYOTO])),  # 東京都 holds 京都 too
    ("都", sorted([TOKYO_TO, TOKYO_KYOTO, KYOTO])),  # one character: a unigram
    ("ひらがな", [HIRAGANA]),
    ("がな", [HIRAGANA]),
    ("カタカナ", [KATAKANA]),
    ("서울", [SEOUL]),
    ("한국어", [KOREAN]),
    ("국", [KOREAN]),
    ("Q3の売上", [SALES]),
    ("q3の売上", [SALES]),
    ("売上", [SALES]),
    ("Q3", [SALES]),                   # the Latin part of a mixed word is a word
    ("上海开会", [SHANGHAI]),
    ("海上", []),                      # the characters, but not in that order
    ("大阪", []),
])
def test_any_substring_is_found_inside_a_sentence(world, query, found):
    assert texts(world["ana"], query) == found


def test_nothing_from_conversations_the_person_cannot_see(world, guest):
    ana, ben, cara = world["ana"], world["ben"], world["cara"]

    assert texts(ana, "秘密") == []                 # a private channel she is not in
    assert texts(ana, "수업") == []                  # a direct conversation of others
    assert texts(guest, "上海") == []                # guests: only where added
    assert texts(cara, "上海") == sorted([SHANGHAI, "上海の秘密の計画: 東京都とソウル, 서울 회의",
                                          "한국어 수업은 上海에서 해요"])
    assert texts(ben, "수업") == ["한국어 수업은 上海에서 해요"]
    services.membership_add(actor=cara, conversation_id=world["secret"].pk, user_id=ana.pk)
    assert texts(ana, "秘密") == ["上海の秘密の計画: 東京都とソウル, 서울 회의"]
    api = client_for(guest).get("/api/v1/search/messages/", {"q": "東京"})
    assert api.status_code == 200 and api.json()["results"] == []


def test_operators_combine_with_cjk_terms(world):
    ana, general = world["ana"], world["general"]
    dated = post(ana, general, "2025年の上海出張の報告 report")
    Message.objects.filter(pk=dated.pk).update(
        created_at=datetime(2025, 6, 1, 12, tzinfo=ZoneInfo("UTC")))

    assert texts(ana, "東京 in:#tokyo") == [TOKYO_TO]
    assert texts(ana, "東京 in:#general") == [TOKYO_KYOTO]
    assert texts(ana, "京都 from:@cara.diaz") == [KYOTO]
    assert texts(ana, "京都 -東京") == [KYOTO]
    assert texts(ana, "上海 OR 서울") == sorted([SHANGHAI, SEOUL, dated.text])
    assert texts(ana, '"東京都"') == [TOKYO_TO]
    assert texts(ana, '"京都へ行き"') == [KYOTO]
    assert texts(ana, '"京都 どちら"') == [TOKYO_KYOTO]  # each run a substring, both needed
    assert texts(ana, "上海 report") == [dated.text]     # a CJK term and an English word
    assert texts(ana, "上海 during:2025") == [dated.text]
    assert texts(ana, "上海 before:2026-01-01") == [dated.text]
    assert texts(ana, "上海 after:2025-12-31") == [SHANGHAI]
    assert texts(ana, "quarterly OR 売上") == sorted([ENGLISH, SALES])
    assert texts(ana, "report -上海") == [ENGLISH]


def test_edits_are_reindexed_and_deleted_messages_never_found(world):
    ana = world["ana"]
    shanghai = Message.objects.get(text=SHANGHAI)
    korean = Message.objects.get(text=KOREAN)

    services.message_edit(actor=ana, message_id=shanghai.pk, text="明天我们在北京开会")
    services.message_delete(actor=ana, message_id=korean.pk)

    assert texts(ana, "上海") == []
    assert texts(ana, "北京") == ["明天我们在北京开会"]
    assert texts(ana, "한국어") == []


def test_matched_characters_are_marked_and_escaped(world):
    ana = world["ana"]
    post(ana, world["general"], "<script>alert(1)</script> 東京タワーの夜景, 東京駅 & more")

    (hit,) = message_search(user=ana, query="タワー").hits
    (tokyo_hit,) = message_search(user=ana, query="東京 夜景").hits
    (sales,) = message_search(user=ana, query="Q3の売上").hits
    (one,) = message_search(user=ana, query="駅").hits

    assert "東京<mark>タワー</mark>の夜景" in hit.highlight
    assert "&amp; more" in hit.highlight
    assert "<" not in hit.highlight.replace("<mark>", "").replace("</mark>", "")
    assert tokyo_hit.highlight.count("<mark>東京</mark>") == 2
    assert "<mark>夜景</mark>" in tokyo_hit.highlight
    assert "今期の<mark>Q3の売上</mark>は好調" in sales.highlight
    assert "東京<mark>駅</mark>" in one.highlight
    assert "タワー" in hit.match_words
    assert sales.match_words[:3] == ["q3の売上", "の売上", "q3"]


def test_a_match_far_into_a_long_message_is_shown(world):
    ana = world["ana"]
    post(ana, world["general"], "長い前置き。" * 200 + "ここに大事な決定事項があります。" + "後書き。" * 50)

    (hit,) = message_search(user=ana, query="決定事項").hits

    assert "<mark>決定事項</mark>" in hit.highlight
    assert len(hit.highlight) < 300


def test_cjk_results_are_ranked_by_relevance_and_recency(world):
    ana, general = world["ana"], world["general"]
    old = post(ana, general, "名古屋、名古屋、名古屋の計画")
    Message.objects.filter(pk=old.pk).update(
        created_at=datetime(2025, 1, 1, tzinfo=ZoneInfo("UTC")))
    recent = post(ana, general, "名古屋の計画")
    many = post(ana, general, "名古屋と名古屋の計画")

    hits = message_search(user=ana, query="名古屋").hits

    assert [h.message.pk for h in hits] == [many.pk, recent.pk, old.pk]


@pytest.mark.parametrize("query, found", [
    ("東京*", sorted([TOKYO_TO, TOKYO_KYOTO])),
    ("NEAR(東京", []),                     # "near" is then a word to find too
    ("'東京' OR 1=1", sorted([TOKYO_TO, TOKYO_KYOTO])),
    ("cjk:東京", []),                       # not a column filter: the word cjk and 東京
    ('東京"', None),                        # an unclosed quote: a clear error
])
def test_odd_cjk_input_is_a_search_or_a_clear_error(world, query, found):
    if found is None:
        with pytest.raises(InvalidInput) as error:
            texts(world["ana"], query)
        assert error.value.code == "bad_query"
    else:
        assert texts(world["ana"], query) == found
    assert Message.objects.filter(text=TOKYO_TO).exists()


def test_index_terms_keep_runs_apart():
    assert bigrams("東京都") == ["東京", "京都"]
    assert bigrams("都") == ["都"]
    # Two runs: the first run's unigrams stand between their bigrams.
    assert index_terms("東京 と京都") == "東京 東 京 と京 京都 と 京 都"
    assert index_terms("今期のQ3の売上") == "今期 期の 今 期 の の売 売上 の 売 上 Q3"
    assert index_terms("plain English") == ""


def test_the_embedded_mode_searches_the_same_way():
    rerun_on_sqlite(__file__, deselect="embedded_mode")

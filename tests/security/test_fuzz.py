"""Fuzzing the parsers people and programs feed: message Markdown and Slack payloads.
Whatever comes in, they neither crash nor produce markup that could run."""

from __future__ import annotations

import contextlib
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations import slack
from messaging import markdown
from messaging.markdown import MentionTarget, Resolved
from tests.messaging.test_markdown import active_parts

# Characters that mean something to Markdown, HTML, URLs and Slack's mrkdwn, so the
# generator spends its effort where the parsers branch.
ALPHABET = st.sampled_from([
    *"<>&\"'`*_~[]()!#@:/\\|=-+. \n\tajvsx1",
    "javascript:", "data:", "<script>", "<img src=x onerror=", "onload=", "<@1>", "@**",
    "```", "> ", "http://", "https://e.com/", "<!here>", "<https://a.b|x>", "&lt;", "\x00",
    "\u202e",
])
TEXT = st.lists(ALPHABET, max_size=60).map("".join)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def resolver(refs):
    return Resolved(users_by_id={1: MentionTarget(1, '"><svg onload=alert(1)>')},
                    users_by_name={}, groups={"x": "X"})


@FUZZ
@given(TEXT)
def test_markdown_never_crashes_or_emits_active_markup(text):
    html = markdown.render(text, resolver).html
    assert active_parts(html) == [], (text, html)


@FUZZ
@given(TEXT)
def test_mrkdwn_conversion_stays_safe_once_rendered(text):
    converted = slack.mrkdwn(text)
    assert active_parts(markdown.render(converted).html) == []


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["type", "text", "blocks", "attachments", "fields", "elements",
                         "title", "title_link", "fallback", "pretext", "value", "section",
                         "header", "divider", "context", "mrkdwn", "plain_text"]), children,
        max_size=5),
    max_leaves=20)


@FUZZ
@given(JSONISH)
def test_webhook_payloads_either_post_safe_text_or_fail_with_a_slack_error(payload):
    body = json.dumps(payload).encode()
    try:
        text = slack.to_markdown(slack.parse(body, "application/json"))
    except slack.PayloadError as error:
        assert error.code in {"invalid_payload", "no_text", "invalid_blocks", "invalid_attachments"}
        return
    assert text.strip()
    assert active_parts(markdown.render(text).html) == []


@FUZZ
@given(st.binary(max_size=200))
def test_raw_bytes_never_crash_the_payload_parser(body):
    for content_type in ("application/json", "application/x-www-form-urlencoded"):
        with contextlib.suppress(slack.PayloadError):
            slack.to_markdown(slack.parse(body, content_type))

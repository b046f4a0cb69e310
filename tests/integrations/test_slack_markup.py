"""Slack's markup as teamchat Markdown (integrations.slack_markup)."""

from __future__ import annotations

import pytest

from integrations.slack_markup import (
    MarkupContext,
    blocks_markdown,
    emoji_name_to_unicode,
    slack_to_markdown,
)
from messaging import markdown


@pytest.fixture
def context() -> MarkupContext:
    return MarkupContext(user_ids={"U1": 5}, user_names={"U2": "bob"},
                         channel_names={"C1": "general", "C2": "random-renamed"})


@pytest.mark.parametrize(("slack", "expected"), [
    ("hi <@U1>", "hi <@5>"),
    ("hi <@U1|alice>", "hi <@5>"),
    ("and <@U2>", "and @bob"),
    ("see <#C1|general> and <#C2|random>", "see #general and #random-renamed"),
    ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
    ("<!subteam^S1|@design> look", "@design look"),
    ("<!date^1392734382^{date}|Feb 18, 2014>", "Feb 18, 2014"),
    ("<https://x.example/a?b=1&amp;c=2|the docs>", "[the docs](https://x.example/a?b=1&c=2)"),
    ("<https://x.example/path>", "<https://x.example/path>"),
    ("<https://x.example/path|https://x.example/path>", "<https://x.example/path>"),
    ("<mailto:a@b.example|a@b.example>", "[a@b.example](mailto:a@b.example)"),
    ("*bold* and _italic_ and ~strike~", "**bold** and _italic_ and ~~strike~~"),
    ("*bold <https://x.example|link>*", "**bold [link](https://x.example)**"),
    ("2*3*4 stays", "2*3*4 stays"),
    ("R&amp;D &lt;tag&gt;", "R&D \\<tag>"),
    ("&gt; quoted", "> quoted"),
    ("&amp;copy; is not an entity", "\\&copy; is not an entity"),
    ("`*code* &lt;b&gt; <@U1>`", "`*code* <b> <@U1>`"),
    ("before ```x = *y* &amp;&amp; ~z~``` after", "before \n```\nx = *y* && ~z~\n```\n after"),
    ("```\nmulti\nline\n```", "```\nmulti\nline\n```"),
    (":smile: :simple_smile: :thumbsup::skin-tone-3:", "😄 🙂 👍🏼"),
    (":partyparrot: at 10:30:45", ":partyparrot: at 10:30:45"),
    ("# not a heading", "\\# not a heading"),
])
def test_slack_markup_becomes_teamchat_markdown(context, slack, expected):
    assert slack_to_markdown(slack, context) == expected


def test_people_and_channels_not_known_are_reported(context):
    slack_to_markdown("<@U9> in <#C9>", context)
    assert context.unknown == {"U9", "C9"}


def test_the_converted_text_renders_as_slack_showed_it(context):
    text = slack_to_markdown("*Deploy* to <https://ci.example|CI> by <@U1>: `a &lt; b`", context)
    rendered = markdown.render(text, lambda refs: markdown.Resolved(
        users_by_id={5: markdown.MentionTarget(5, "Alice")}))
    assert rendered.html == (
        '<p><strong>Deploy</strong> to <a href="https://ci.example" target="_blank" '
        'rel="noopener noreferrer nofollow">CI</a> by <span class="mention" data-user-id="5">'
        "@Alice</span>: <code>a &lt; b</code></p>")
    assert rendered.user_ids == {5}


def test_a_typed_mention_form_stays_text(context):
    rendered = markdown.render(slack_to_markdown("&lt;@5&gt;", context))
    assert rendered.user_ids == set()


@pytest.mark.parametrize(("name", "expected"), [
    ("+1", "👍"), ("thumbsup", "👍"), ("+1::skin-tone-2", "👍🏻"), ("heart", "❤️"),
    ("simple_smile", "🙂"), ("partyparrot", None),
])
def test_reaction_names_become_emoji(name, expected):
    assert emoji_name_to_unicode(name) == expected


def test_rich_text_blocks_become_markdown(context):
    block = {"type": "rich_text", "elements": [
        {"type": "rich_text_section", "elements": [
            {"type": "text", "text": "Hi "}, {"type": "user", "user_id": "U1"},
            {"type": "text", "text": " look ", "style": {"bold": True}},
            {"type": "link", "url": "https://x.example", "text": "here"},
            {"type": "text", "text": " 2*3 is "},
            {"type": "text", "text": "six", "style": {"italic": True, "strike": True}},
            {"type": "text", "text": " "}, {"type": "emoji", "name": "+1", "skin_tone": 2},
            {"type": "broadcast", "range": "channel"}, {"type": "channel", "channel_id": "C1"},
            {"type": "text", "text": "\n"}]},
        {"type": "rich_text_list", "style": "ordered", "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "one"}]},
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "x<y",
                                                        "style": {"code": True}}]}]},
        {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "x = *1*"}]},
        {"type": "rich_text_quote", "elements": [{"type": "text", "text": "quoted"}]},
    ]}

    text, skipped = blocks_markdown([block, {"type": "actions", "elements": []}], context)

    assert text == ("Hi <@5> **look** [here](https://x.example) 2\\*3 is _~~six~~_ 👍🏻@channel"
                    "#general\n1. one\n2. `x<y`\n```\nx = *1*\n```\n> quoted")
    assert skipped == ["actions"]
    rendered = markdown.render(text)
    assert "<strong>look</strong>" in rendered.html and "2*3" in rendered.html
    assert "<em><s>six</s></em>" in rendered.html


def test_layout_blocks_become_markdown(context):
    text, skipped = blocks_markdown([
        {"type": "header", "text": {"type": "plain_text", "text": "Deploy *done*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "by <@U1>"},
         "fields": [{"type": "mrkdwn", "text": "*env* prod"}]},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "via CI"}]},
    ], context)
    assert text == "**Deploy \\*done\\***\n\nby <@5>\n- **env** prod\n\n---\n\n_via CI_"
    assert skipped == []

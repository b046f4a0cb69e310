"""Slack's markup as teamchat Markdown (integrations.slack_markup)."""

from __future__ import annotations

import pytest

from integrations.slack_markup import MarkupContext, emoji_name_to_unicode, slack_to_markdown
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

"""Message Markdown renders what people expect and nothing that can run."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messaging import markdown
from messaging.markdown import MentionTarget, Resolved

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "![img](javascript:alert(1))",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<p onclick=\"alert(1)\">hi</p>",
    "[x](https://example.com \"title\\\" onmouseover=\\\"alert(1)\")",
    "<<script>script>alert(1)<</script>/script>",
    "`<script>alert(1)</script>`",
    "```html\n<script>alert(1)</script>\n```",
    "<object data=x></object><embed src=x>",
    "<form action=x><input name=a></form>",
    "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
    "<style>*{display:none}</style>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<@1\"><img src=x onerror=alert(1)>",
    "@**<img src=x onerror=alert(1)>**",
]


def _resolver(refs):
    return Resolved(users_by_id={1: MentionTarget(1, '"><img src=x onerror=alert(1)>')})


SAFE_TAGS = {"p", "br", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol",
             "li", "a", "span", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead",
             "tbody", "tr", "th", "td"}
SAFE_ATTRIBUTES = {"href", "title", "target", "rel", "class", "data-user-id", "data-group",
                   "data-mention", "start", "align"}


class ElementCollector(HTMLParser):
    """Every element and attribute a browser would build from the HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.elements.append((tag, dict(attrs)))


def active_parts(html: str) -> list[str]:
    collector = ElementCollector()
    collector.feed(html)
    problems = []
    for tag, attrs in collector.elements:
        if tag not in SAFE_TAGS:
            problems.append(f"<{tag}>")
        for name, value in attrs.items():
            if name not in SAFE_ATTRIBUTES:
                problems.append(f"{tag}[{name}]")
            if name == "href" and not (value or "").startswith(("http://", "https://", "mailto:")):
                problems.append(f"href={value}")
    return problems


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_nothing_in_a_message_can_become_active_markup(payload):
    html = markdown.render(payload, _resolver).html

    assert active_parts(html) == [], html


def test_links_are_safe_and_open_in_a_new_tab():
    html = markdown.render("see https://example.com/a?b=1 and [docs](http://docs.example.com)").html
    assert html == (
        '<p>see <a href="https://example.com/a?b=1" target="_blank" '
        'rel="noopener noreferrer nofollow">https://example.com/a?b=1</a> and '
        '<a href="http://docs.example.com" target="_blank" rel="noopener noreferrer nofollow">'
        "docs</a></p>")
    assert markdown.render("plain words").has_link is False
    assert markdown.render("<https://example.com>").has_link is True


@pytest.mark.parametrize("source, expected", [
    ("**bold** _it_ ~~gone~~ `code`",
     "<p><strong>bold</strong> <em>it</em> <s>gone</s> <code>code</code></p>"),
    ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
    ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
    ("1. a\n2. b", "<ol>\n<li>a</li>\n<li>b</li>\n</ol>"),
    ("```python\nx = 1 < 2\n```", '<pre><code class="language-python"><span class="hl-n">x</span> '
     '<span class="hl-o">=</span> <span class="hl-mi">1</span> <span class="hl-o">&lt;</span> '
     '<span class="hl-mi">2</span>\n</code></pre>'),
    ("```\nx = 1 < 2\n```", '<pre><code>x = 1 &lt; 2\n</code></pre>'),
    ("line one\nline two", "<p>line one<br>\nline two</p>"),
    (":rocket: :+1: :nope:", "<p>🚀 👍 :nope:</p>"),
    ("`:rocket:`", "<p><code>:rocket:</code></p>"),
])
def test_markdown_renders_what_people_expect(source, expected):
    assert markdown.render(source).html == expected


def test_mentions_become_spans_and_are_reported():
    def resolver(refs):
        assert refs.ids == {7} and refs.names == {"ana lopez"} and refs.words == {"ops", "here"}
        return Resolved(users_by_id={7: MentionTarget(7, "Ben")},
                        users_by_name={"ana lopez": MentionTarget(3, "Ana Lopez")},
                        groups={"ops": "Operations"})

    rendered = markdown.render("<@7> @**Ana Lopez** @ops @here mail@ops.com", resolver)

    assert rendered.user_ids == {7, 3}
    assert rendered.group_handles == {"ops"}
    assert rendered.specials == {"here"}
    assert '<span class="mention" data-user-id="7">@Ben</span>' in rendered.html
    assert 'data-group="ops"' in rendered.html
    assert 'href="mailto:mail@ops.com"' in rendered.html


def test_unknown_mentions_stay_as_typed():
    rendered = markdown.render("<@99> @nobody", lambda refs: Resolved())
    assert rendered.html == "<p>&lt;@99&gt; @nobody</p>"
    assert rendered.user_ids == set()


def test_fenced_code_with_a_language_is_coloured_and_stays_escaped():
    rendered = markdown.render('```python\ndef f(x):\n    return "<script>alert(1)</script>"  # hi\n```')
    assert '<span class="hl-k">def</span>' in rendered.html
    assert '<span class="hl-nf">f</span>' in rendered.html
    assert "&lt;script&gt;" in rendered.html and "<script>" not in rendered.html
    assert '<span class="hl-c1"># hi</span>' in rendered.html


def test_code_without_a_known_language_or_too_long_is_plain():
    for source in ("```\nif x: pass\n```", "```no-such-language\nif x: pass\n```",
                   "```python\n" + "x = 1\n" * 5000 + "```"):
        rendered = markdown.render(source)
        assert "hl-" not in rendered.html
        assert rendered.html.startswith("<pre><code")
    # Mentions and emoji shortcodes are never read inside code, coloured or not.
    assert "mention" not in markdown.render("```python\n# <@1> :tada:\n```").html


PLAIN_TEXTS = ["thanks", "looks good, ship it.", "don't merge yet!", "Q3 review today?",
               "明天上海会议", "東京の会議資料を確認", "서울에서 회의 자료를 확인", "café déjà vu",
               "v2 is out; thanks all"]


@pytest.mark.parametrize("text", PLAIN_TEXTS)
def test_plain_text_takes_the_shortcut_and_renders_as_the_parser_would(text):
    assert markdown._PLAIN_RE.fullmatch(text)
    assert markdown.render(text) == markdown.render_markdown(text)


@pytest.mark.parametrize("text", ["1.", "1 2.", "2024 budget", "a_b", "example.com", "x:y",
                                  "it's  spaced", " lead", "trail ", "a\nb", "5) five"])
def test_text_near_markup_renders_as_the_parser_would(text):
    assert markdown.render(text, _resolver) == markdown.render_markdown(text, _resolver)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1 .,;'?!:_-*~`#>[]()<@&\"\n\tÉ明한\u00ad\u200d\u0301")),
               max_size=12))
def test_the_shortcut_never_changes_what_render_gives(text):
    assert markdown.render(text, _resolver) == markdown.render_markdown(text, _resolver)

"""Message Markdown: parsed by markdown-it-py, sanitised by nh3 (ammonia).

Mentions and emoji shortcodes are found in text tokens only, never inside code.
Mention forms: `<@123>` (by id, as integrations write it), `@**Display Name**` (what
the web client inserts), `@handle` of a user group, and `@channel`, `@everyone`, `@here`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import emoji
import nh3
import pygments
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

MAX_TEXT_LENGTH = 40_000

_ID_RE = re.compile(r"<@(\d{1,18})>")
_NAME_RE = re.compile(r"@\*\*([^*\n]{1,80})\*\*")
_WORD_RE = re.compile(r"@([a-z0-9][a-z0-9_-]{0,39})(?![\w@-])", re.IGNORECASE)
_SHORTCODE_RE = re.compile(r":[a-z0-9_+-]{1,50}:", re.IGNORECASE)
SPECIAL_MENTIONS = {"channel": "channel", "everyone": "channel", "here": "here"}



def _mention_rule(state: StateInline, silent: bool) -> bool:
    """Inline rule: a mention token where a mention form starts at this position."""
    src, pos = state.src, state.pos
    char = src[pos]
    if char not in "<@":
        return False
    kind = value = None
    if char == "<":
        match = _ID_RE.match(src, pos)
        if match:
            kind, value = "id", match.group(1)
    else:
        if pos > 0 and (src[pos - 1].isalnum() or src[pos - 1] in "_.@-"):
            return False  # part of an email address or a word
        match = _NAME_RE.match(src, pos)
        if match:
            kind, value = "name", match.group(1).strip().lower()
        else:
            match = _WORD_RE.match(src, pos)
            if match:
                kind, value = "word", match.group(1).lower()
    if kind is None or match is None:
        return False
    if not silent:
        token = state.push("mention", "", 0)
        token.meta = {"kind": kind, "value": value}
        token.content = match.group(0)
    state.pos = match.end()
    return True


def _render_mention(self, tokens: list[Token], idx: int, options, env: dict) -> str:
    token = tokens[idx]
    replacement = _mention_html(token.meta["kind"], token.meta["value"], env["resolved"],
                                env["found"])
    return replacement if replacement is not None else html.escape(token.content)


# Code blocks longer than this are shown without colours: highlighting is paid for on the
# send path.
HIGHLIGHT_MAX_CHARS = 20_000
_formatter = HtmlFormatter(nowrap=True, classprefix="hl-")


def _highlight(code: str, lang: str, attrs: str) -> str:
    """A fenced code block naming a language Pygments knows, as escaped HTML with token
    classes (`hl-k` keywords, `hl-s` strings, ...); "" leaves it to the plain renderer."""
    if not lang or len(code) > HIGHLIGHT_MAX_CHARS:
        return ""
    try:
        lexer = get_lexer_by_name(lang.strip().lower())
    except ClassNotFound:
        return ""
    return pygments.highlight(code, lexer, _formatter)


_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True, "typographer": False,
                              "highlight": _highlight})
    .enable(["linkify", "strikethrough", "table"])
)
_md.inline.ruler.before("emphasis", "mention", _mention_rule)
_md.add_render_rule("mention", _render_mention)

_cleaner = nh3.Cleaner(
    tags={
        "p", "br", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
        "a", "span", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr",
        "th", "td",
    },
    attributes={
        "a": {"href", "title"},
        "span": {"class", "data-user-id", "data-group", "data-mention"},
        "code": {"class"},
        "ol": {"start"},
        "th": {"align"},
        "td": {"align"},
    },
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    strip_comments=True,
)


@dataclass(frozen=True)
class MentionTarget:
    user_id: int
    display_name: str


@dataclass
class MentionRefs:
    """What the text refers to, before anything is looked up."""

    ids: set[int] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    words: set[str] = field(default_factory=set)


@dataclass
class Resolved:
    """What the references turned out to be."""

    users_by_id: dict[int, MentionTarget] = field(default_factory=dict)
    users_by_name: dict[str, MentionTarget] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)  # handle -> group name


@dataclass
class Rendered:
    html: str
    has_link: bool
    user_ids: set[int]
    group_handles: set[str]
    specials: set[str]


Resolver = Callable[[MentionRefs], Resolved]


def _walk(tokens: Iterable[Token]) -> Iterable[tuple[Token, bool]]:
    """Every inline child token, with whether it sits inside a link's label."""
    for token in tokens:
        if token.type != "inline" or not token.children:
            continue
        inside_link = 0
        for child in token.children:
            if child.type == "link_open":
                inside_link += 1
            elif child.type == "link_close":
                inside_link -= 1
            yield child, inside_link > 0


def _mention_html(kind: str, value: str, resolved: Resolved, found: Rendered) -> str | None:
    target: MentionTarget | None = None
    if kind == "id":
        target = resolved.users_by_id.get(int(value))
    elif kind == "name":
        target = resolved.users_by_name.get(value)
    elif value in SPECIAL_MENTIONS:
        found.specials.add(SPECIAL_MENTIONS[value])
        return f'<span class="mention mention-special" data-mention="{value}">@{value}</span>'
    elif value in resolved.groups:
        found.group_handles.add(value)
        return (f'<span class="mention mention-group" data-group="{html.escape(value)}">'
                f"@{html.escape(value)}</span>")
    if target is None:
        return None
    found.user_ids.add(target.user_id)
    return (f'<span class="mention" data-user-id="{target.user_id}">'
            f"@{html.escape(target.display_name)}</span>")


# Text Markdown would only wrap in a paragraph: words of letters and digits (any script,
# an apostrophe inside) between single spaces, with , ; ? ! after a word and a full stop
# at the very end. None of these starts markup, a mention, an emoji shortcode, an HTML
# escape or a link (linkify needs a dot or a colon inside), and a first word of digits is
# left out ("1." is a list). Most chat messages are this, and parsing them costs more than
# the rest of a bulk import per message; tests/messaging/test_markdown.py checks that both
# ways give the same result.
_PLAIN_WORD = r"[^\W_]+(?:'[^\W_]+)*"
_PLAIN_RE = re.compile(rf"(?![0-9]){_PLAIN_WORD}(?:[,;?!]?\ {_PLAIN_WORD})*[,;?!.]?")


def render(text: str, resolver: Resolver | None = None) -> Rendered:
    """Render message Markdown to safe HTML and report what it mentions and links."""
    if _PLAIN_RE.fullmatch(text):
        return Rendered(html=f"<p>{text}</p>", has_link=False, user_ids=set(),
                        group_handles=set(), specials=set())
    return render_markdown(text, resolver)


def render_markdown(text: str, resolver: Resolver | None = None) -> Rendered:
    """render() without its plain-text shortcut: every text through the parser."""
    tokens = _md.parse(text)
    refs = MentionRefs()
    found = Rendered(html="", has_link=False, user_ids=set(), group_handles=set(), specials=set())
    for child, inside_link in _walk(tokens):
        if child.type == "mention":
            kind, value = child.meta["kind"], child.meta["value"]
            {"id": refs.ids, "name": refs.names, "word": refs.words}[kind].add(
                int(value) if kind == "id" else value
            )
        elif child.type == "link_open":
            if (child.attrGet("href") or "").startswith(("http://", "https://")):
                found.has_link = True
        elif child.type == "text" and not inside_link:
            child.content = _SHORTCODE_RE.sub(
                lambda m: emoji.emojize(m.group(0), language="alias"), child.content
            )
    resolved = resolver(refs) if resolver and (refs.ids or refs.names or refs.words) else Resolved()
    # The parser takes no HTML input; nh3 still cleans the whole output, so nothing a
    # person typed can become markup.
    raw = _md.renderer.render(tokens, _md.options, {"resolved": resolved, "found": found})
    found.html = _cleaner.clean(raw).strip()
    return found


def plain_text(rendered_html: str) -> str:
    """The words of a rendered message without markup, for previews and notifications."""
    return html.unescape(nh3.clean(rendered_html, tags=set())).strip()

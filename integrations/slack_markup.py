"""Slack's message markup ("mrkdwn", as exports store it) turned into teamchat Markdown.

`<@U123>` becomes teamchat's mention by id (`<@42>`), `<#C123|name>` the channel's name
as `#name`, `<!here>` / `<!channel>` / `<!everyone>` the special mentions, links
`[label](url)`, `*bold*` `**bold**`, `~strike~` `~~strike~~` (`_italic_` is already
Markdown). Code, inline or fenced, keeps its text: only Slack's three HTML escapes are
undone there. Emoji names stay `:name:`, which teamchat renders, under the name teamchat
knows when Slack's differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import emoji

# Slack's names that the emoji library knows by another alias.
SLACK_EMOJI_ALIASES = {
    "simple_smile": "slightly_smiling_face",
    "thumbsup": "+1",
    "thumbsdown": "-1",
    "white_check_mark": "white_check_mark",
    "slightly_smiling_face": "slightly_smiling_face",
    "tada": "tada",
    "heavy_plus_sign": "heavy_plus_sign",
}
SKIN_TONES = {"skin-tone-2": "\U0001F3FB", "skin-tone-3": "\U0001F3FC", "skin-tone-4": "\U0001F3FD",
              "skin-tone-5": "\U0001F3FE", "skin-tone-6": "\U0001F3FF"}

_FENCE = re.compile(r"```(.*?)```", re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_ANGLE = re.compile(r"<([^<>\n]{1,3000})>")
_BOLD = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_STRIKE = re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])")
_EMOJI = re.compile(r":([a-z0-9_+'-]{1,60}):(?::(skin-tone-[2-6]):)?", re.IGNORECASE)
# Placeholders for the parts already converted, out of the way of the bold and strike rules.
_HOLE = "\ue000{}\ue001"
_HOLE_RE = re.compile("\ue000(\\d+)\ue001")
_ENTITY_LIKE = re.compile(r"&(?=#?[A-Za-z0-9]+;)")


@dataclass
class MarkupContext:
    """What Slack ids turn into: people's teamchat ids (or, for people not imported,
    their names) and channels' names."""

    user_ids: dict[str, int] = field(default_factory=dict)
    user_names: dict[str, str] = field(default_factory=dict)
    channel_names: dict[str, str] = field(default_factory=dict)
    # Slack ids met that the context did not know, for the import's warnings.
    unknown: set[str] = field(default_factory=set)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _unescape_outside_code(text: str) -> str:
    # A literal "<@5>" a person typed would become a mention once unescaped: keep it
    # text with Markdown's backslash. "&amp;copy;" must not become an HTML entity.
    text = text.replace("&lt;", "\\<").replace("&gt;", ">")
    return _ENTITY_LIKE.sub("\\&", text.replace("&amp;", "&"))


def _link_label(label: str) -> str:
    return _unescape(label).replace("[", "\\[").replace("]", "\\]")


def _angle(inner: str, context: MarkupContext) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        slack_id = target[1:]
        if slack_id in context.user_ids:
            return f"<@{context.user_ids[slack_id]}>"
        context.unknown.add(slack_id)
        return "@" + (label or context.user_names.get(slack_id) or slack_id)
    if target.startswith("#"):
        slack_id = target[1:]
        name = context.channel_names.get(slack_id) or label
        if not name:
            context.unknown.add(slack_id)
        return f"#{name or slack_id}"
    if target.startswith("!"):
        word = target[1:].split("^", 1)[0]
        if word in ("here", "channel", "everyone"):
            return f"@{word}"
        # <!subteam^S1|@team>, <!date^...|fallback text>
        return _unescape(label) if label else ""
    url = _unescape(target)
    if re.match(r"^(https?|mailto|ftp):", url, re.IGNORECASE):
        safe = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
        if label and label != target:
            return f"[{_link_label(label)}]({safe})"
        return f"<{safe}>"
    return _unescape(inner)


def emoji_name_to_unicode(name: str) -> str | None:
    """A Slack emoji name (as in reactions: `+1`, `wave::skin-tone-3`) as its Unicode
    characters; None for a workspace's custom emoji."""
    base, _, tone = name.partition("::")
    base = SLACK_EMOJI_ALIASES.get(base, base)
    for candidate in (base, base.replace("-", "_")):
        converted = emoji.emojize(f":{candidate}:", language="alias")
        if converted != f":{candidate}:":
            return converted + SKIN_TONES.get(tone, "")
    return None


def _emoji(match: re.Match[str]) -> str:
    name = match.group(1)
    converted = emoji_name_to_unicode(name + (f"::{match.group(2)}" if match.group(2) else ""))
    # Known names become their characters; a workspace's own emoji stays :name:.
    return converted if converted is not None else f":{name}:"


def slack_to_markdown(text: str, context: MarkupContext) -> str:
    """Slack markup as teamchat Markdown (see the module's docstring)."""
    holes: list[str] = []

    def hole(replacement: str) -> str:
        holes.append(replacement)
        return _HOLE.format(len(holes) - 1)

    def fence(match: re.Match[str]) -> str:
        body = _unescape(match.group(1)).strip("\n")
        return hole(f"\n```\n{body}\n```\n")

    def code(match: re.Match[str]) -> str:
        return hole(_unescape(match.group(0)))

    text = _FENCE.sub(fence, text)
    text = _INLINE_CODE.sub(code, text)
    text = _ANGLE.sub(lambda m: hole(_angle(m.group(1), context)), text)
    text = _BOLD.sub(r"**\1**", text)
    text = _STRIKE.sub(r"~~\1~~", text)
    text = _EMOJI.sub(_emoji, text)
    # A line Slack shows as text but Markdown would make a heading.
    text = re.sub(r"(?m)^(#{1,6})(?=\s)", r"\\\1", text)
    text = _unescape_outside_code(text)
    fill: Callable[[re.Match[str]], str] = lambda m: holes[int(m.group(1))]  # noqa: E731
    while _HOLE_RE.search(text):
        text = _HOLE_RE.sub(fill, text)
    # A fence at the start or end of the message leaves an extra blank line.
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# Rich text (the `rich_text` blocks Slack's clients write) ----------------------------------

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_~\[\]<>#|])")


def _escape(text: str) -> str:
    """Plain text in Markdown: rich text's styles are explicit, so every mark is literal."""
    return _MARKDOWN_SPECIALS.sub(r"\\\1", text)


def _inline(element: dict, context: MarkupContext) -> str:
    kind = element.get("type")
    if kind == "text":
        text = str(element.get("text") or "")
        style = element.get("style") or {}
        if style.get("code"):
            return f"`{text}`" if text else ""
        body = _escape(text)
        stripped = body.strip()
        if not stripped:
            return body
        # Markdown's emphasis may not start or end with a space: keep spaces outside.
        lead, trail = body[: len(body) - len(body.lstrip())], body[len(body.rstrip()):]
        for flag, mark in (("strike", "~~"), ("italic", "_"), ("bold", "**")):
            if style.get(flag):
                stripped = f"{mark}{stripped}{mark}"
        return f"{lead}{stripped}{trail}"
    if kind == "link":
        url = str(element.get("url") or "")
        label = str(element.get("text") or "")
        return _angle(f"{url}|{label}" if label else url, context)
    if kind == "user":
        return _angle(f"@{element.get('user_id', '')}", context)
    if kind == "channel":
        return _angle(f"#{element.get('channel_id', '')}", context)
    if kind == "broadcast":
        return f"@{element.get('range', 'here')}"
    if kind == "emoji":
        name = str(element.get("name") or "")
        tone = element.get("skin_tone")
        return emoji_name_to_unicode(name + (f"::skin-tone-{tone}" if tone else "")) or f":{name}:"
    if kind == "usergroup":
        return f"@{element.get('usergroup_id', 'group')}"
    if kind == "date":
        return str(element.get("fallback") or "")
    return ""


def _section(elements: list, context: MarkupContext) -> str:
    return "".join(_inline(e, context) for e in elements if isinstance(e, dict))


def _rich_element(element: dict, context: MarkupContext, depth: int = 0) -> str:
    kind = element.get("type")
    elements = [e for e in element.get("elements") or [] if isinstance(e, dict)]
    if kind == "rich_text_section":
        return _section(elements, context)
    if kind == "rich_text_preformatted":
        code = "".join(str(e.get("text") or e.get("url") or "") for e in elements)
        return f"```\n{code}\n```"
    if kind == "rich_text_quote":
        return "\n".join(f"> {line}" for line in _section(elements, context).split("\n"))
    if kind == "rich_text_list":
        ordered = element.get("style") == "ordered"
        indent = "   " * int(element.get("indent") or depth)
        start = int(element.get("offset") or 0)
        return "\n".join(f"{indent}{f'{start + n + 1}.' if ordered else '-'} "
                         f"{_rich_element(item, context, depth + 1)}"
                         for n, item in enumerate(elements))
    return ""


def rich_text_markdown(block: dict, context: MarkupContext) -> str:
    """One `rich_text` block as teamchat Markdown."""
    parts = [_rich_element(e, context) for e in block.get("elements") or [] if isinstance(e, dict)]
    text = ""
    for part in parts:
        # Sections run on (their own text carries the line breaks); blocks stand apart.
        text += part if not text or text.endswith("\n") else f"\n{part}"
    return text.strip("\n")


def _text_object(value: object, context: MarkupContext) -> str:
    if not isinstance(value, dict):
        return ""
    text = str(value.get("text") or "")
    return slack_to_markdown(text, context) if value.get("type") == "mrkdwn" else _escape(text)


def blocks_markdown(blocks: list, context: MarkupContext) -> tuple[str, list[str]]:
    """Slack's layout blocks as Markdown, and the types of the blocks left out."""
    parts: list[str] = []
    skipped: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "rich_text":
            parts.append(rich_text_markdown(block, context))
        elif kind == "section":
            fields = [f"- {_text_object(f, context)}" for f in block.get("fields") or []]
            parts.append("\n".join(filter(None, [_text_object(block.get("text"), context), *fields])))
        elif kind == "header":
            parts.append(f"**{_text_object(block.get('text'), context).strip()}**")
        elif kind == "context":
            texts = [_text_object(e, context) for e in block.get("elements") or []]
            parts.append("_" + " · ".join(t.strip() for t in texts if t.strip()) + "_")
        elif kind == "divider":
            parts.append("---")
        elif kind == "image" and isinstance(block.get("image_url"), str):
            parts.append(f"[{_escape(str(block.get('alt_text') or 'image'))}]({block['image_url']})")
        else:
            skipped.append(str(kind))
    return "\n\n".join(p for p in parts if p.strip() and p != "__"), skipped

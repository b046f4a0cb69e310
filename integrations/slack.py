"""Slack's incoming-webhook payloads, turned into teamchat Markdown, so the tools people
already point at Slack work unchanged.

Accepted: a JSON body or a form with `payload=<json>`; `text` in Slack's mrkdwn with its
<url|label>, <@user>, <#channel|name> and <!here> forms; `blocks` (section, header,
context, divider, with fields); legacy `attachments` (fallback, pretext, title,
title_link, text, fields, color). Errors are Slack's plain words: invalid_payload,
no_text, invalid_blocks.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from core.parsers import JSONTooDeep, json_loads

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_BLOCKS = 50
MAX_ATTACHMENTS = 20


class PayloadError(Exception):
    """A payload we cannot post; `code` is Slack's error word."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code


_ANGLE = re.compile(r"<([^<>\n]{1,2000})>")


def _angle(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user = target[1:]
        return f"<@{user}>" if user.isdigit() else f"@{label or user}"
    if target.startswith("#"):
        return f"#{label or target[1:]}"
    if target.startswith("!"):
        word = target[1:].split("^")[0]
        if word in ("here", "channel", "everyone"):
            return f"@{word}"
        if word.startswith("date"):
            return label or target
        return label or ""
    if re.match(r"^(https?|mailto):", target, re.IGNORECASE):
        safe = target.replace(")", "%29").replace(" ", "%20")
        return f"[{_escape_label(label)}]({safe})" if label else f"<{safe}>"
    return html.unescape(match.group(0))


def _escape_label(label: str) -> str:
    return label.replace("[", "\\[").replace("]", "\\]")


def mrkdwn(text: str) -> str:
    """Slack mrkdwn to CommonMark: *bold*, ~strike~, <links|labels>, &lt; escapes."""
    if not isinstance(text, str):
        raise PayloadError("invalid_payload", "text must be a string")
    text = _ANGLE.sub(_angle, text)
    text = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])", r"**\1**", text)
    text = re.sub(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])", r"~~\1~~", text)
    return html.unescape(text)


def _text_object(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, dict) or value.get("type") not in ("mrkdwn", "plain_text"):
        raise PayloadError("invalid_blocks", f"{where} must be a text object")
    text = value.get("text", "")
    if not isinstance(text, str):
        raise PayloadError("invalid_blocks", f"{where}.text must be a string")
    return mrkdwn(text) if value["type"] == "mrkdwn" else text.replace("*", "\\*")


def _fields(fields: Any, where: str) -> list[str]:
    if fields is None:
        return []
    if not isinstance(fields, list) or len(fields) > 10:
        raise PayloadError("invalid_blocks", f"{where}.fields must be a list of at most 10")
    return [_text_object(field, f"{where}.fields") for field in fields]


def blocks_markdown(blocks: Any) -> str:
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise PayloadError("invalid_blocks", f"blocks must be a list of at most {MAX_BLOCKS}")
    parts: list[str] = []
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        if not isinstance(block, dict):
            raise PayloadError("invalid_blocks", f"{where} must be an object")
        kind = block.get("type")
        if kind == "section":
            text = _text_object(block.get("text"), f"{where}.text")
            fields = _fields(block.get("fields"), where)
            if not text and not fields:
                raise PayloadError("invalid_blocks", f"{where} needs text or fields")
            parts.append("\n".join(filter(None, [text, *(f"- {f}" for f in fields)])))
        elif kind == "header":
            text = _text_object(block.get("text"), f"{where}.text")
            if not text:
                raise PayloadError("invalid_blocks", f"{where} needs text")
            parts.append(f"**{text.strip()}**")
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                raise PayloadError("invalid_blocks", f"{where}.elements must be a list")
            texts = [_text_object(e, f"{where}.elements") for e in elements
                     if isinstance(e, dict) and e.get("type") in ("mrkdwn", "plain_text")]
            parts.append("_" + " · ".join(t.strip() for t in texts if t.strip()) + "_")
        elif kind == "divider":
            parts.append("---")
        else:
            raise PayloadError("invalid_blocks", f"{where} has an unsupported type {kind!r}")
    return "\n\n".join(parts)


def attachments_markdown(attachments: Any, convert: Callable[[str], str] | None = None) -> str:
    """Legacy attachments as quoted Markdown; `convert` turns their mrkdwn into Markdown
    (by default as a webhook's; an import resolves people and channels)."""
    convert = convert or mrkdwn
    if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
        raise PayloadError("invalid_attachments",
                           f"attachments must be a list of at most {MAX_ATTACHMENTS}")
    parts: list[str] = []
    for attachment in attachments:
        if not isinstance(attachment, dict):
            raise PayloadError("invalid_attachments", "each attachment must be an object")
        lines: list[str] = []
        if attachment.get("pretext"):
            parts.append(convert(str(attachment["pretext"])))
        title = str(attachment.get("title") or "")
        if title:
            link = str(attachment.get("title_link") or "")
            lines.append(f"**[{_escape_label(title)}]({link})**"
                         if re.match(r"^https?://", link) else f"**{title}**")
        if attachment.get("text"):
            lines.extend(convert(str(attachment["text"])).splitlines())
        fields = attachment.get("fields") or []
        if not isinstance(fields, list):
            raise PayloadError("invalid_attachments", "an attachment's fields must be a list")
        for field in fields:
            if isinstance(field, dict) and (field.get("title") or field.get("value")):
                lines.append(f"**{field.get('title', '')}**: {convert(str(field.get('value', '')))}")
        if not lines and attachment.get("fallback"):
            lines.append(convert(str(attachment["fallback"])))
        if lines:
            parts.append("\n".join(f"> {line}" if line else ">" for line in lines))
    return "\n\n".join(parts)


def parse(body: bytes, content_type: str) -> dict[str, Any]:
    """The payload as a dict, from JSON or from a form's `payload` field."""
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadError("invalid_payload", "payload too large")
    try:
        if "application/x-www-form-urlencoded" in content_type:
            form = parse_qs(body.decode("utf-8"), strict_parsing=False)
            raw = (form.get("payload") or [""])[0]
            if not raw:
                raise PayloadError("invalid_payload", "no payload field")
            payload = json_loads(raw)
        else:
            payload = json_loads(body.decode("utf-8"))
    except JSONTooDeep as error:
        raise PayloadError("invalid_payload", f"the payload is {error}") from None
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("invalid_payload", "not valid JSON") from None
    if not isinstance(payload, dict):
        raise PayloadError("invalid_payload", "the payload must be a JSON object")
    return payload


def to_markdown(payload: dict[str, Any]) -> str:
    """The message text a payload posts. Blocks, when present, take the place of text
    (as in Slack, where text is then the notification fallback)."""
    parts: list[str] = []
    if payload.get("blocks") is not None:
        parts.append(blocks_markdown(payload["blocks"]))
    elif payload.get("text") is not None:
        parts.append(mrkdwn(payload["text"]))
    if payload.get("attachments") is not None:
        parts.append(attachments_markdown(payload["attachments"]))
    text = "\n\n".join(p for p in parts if p and p.strip())
    if not text.strip():
        raise PayloadError("no_text", "the payload has no text, blocks or attachments to show")
    return text[:40_000]

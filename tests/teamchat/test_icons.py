"""The control icons: one sprite, served as SVG, holding every icon the client names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPRITE = ROOT / "static" / "icons.svg"
# icon("name"), iconButton(label, "name", …), actionButton(action, label, "name", …) in
# the JS, {% icon "name" %} in templates, and raw #i-name anywhere.
JS_CALL = re.compile(r"\b(icon|iconButton|actionButton)\(")
NAMES_BEFORE_THE_ICON = {"icon": 0, "iconButton": 0, "actionButton": 1}  # actionButton("edit", …)
NAME = re.compile(r'"([a-z][a-z-]*)"')
TEMPLATE_TAG = re.compile(r'{%\s*icon\s+"([a-z][a-z-]*)"\s*%}')
RAW = re.compile(r"#i-([a-z][a-z-]*)")


def symbols() -> set[str]:
    return set(re.findall(r'<symbol id="i-([a-z-]+)"', SPRITE.read_text()))


def top_level_arguments(text: str, start: int) -> str:
    """The text of a call's arguments from `start` (just past its parenthesis), without
    what is nested in brackets: the literals the call itself was given."""
    depth, kept = 0, []
    for char in text[start:]:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def referenced() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for path in (ROOT / "static" / "js").glob("*.js"):
        text = path.read_text()
        found = set()
        for call in JS_CALL.finditer(text):
            literals = NAME.findall(top_level_arguments(text, call.end()))
            found.update(literals[NAMES_BEFORE_THE_ICON[call[1]]:])
        names[path.name] = found | set(RAW.findall(text))
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        names[path.name] = set(TEMPLATE_TAG.findall(text)) | set(RAW.findall(text))
    return {where: found for where, found in names.items() if found}


def test_every_icon_the_client_names_is_in_the_sprite_and_every_symbol_is_used():
    drawn = symbols()
    used = referenced()
    missing = {where: sorted(found - drawn) for where, found in used.items() if found - drawn}
    assert missing == {}
    assert sorted(drawn - set().union(*used.values())) == []


@pytest.mark.django_db
def test_the_sprite_is_served_as_svg(client):
    response = client.get("/static/icons.svg")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    assert b'<symbol id="i-reply"' in b"".join(response.streaming_content)


def test_the_icon_tag_draws_a_decorative_use_of_the_sprite():
    from django.template import Context, Template

    html = Template('{% load icons %}{% icon "pin" %}').render(Context())
    assert html == ('<svg class="icon" aria-hidden="true" focusable="false">'
                    '<use href="/static/icons.svg#i-pin"></use></svg>')

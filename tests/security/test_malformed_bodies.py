"""Finding 5: no request body crashes a request. Each malformed body is posted to every
POST, PUT and PATCH endpoint of the API that takes one (walked from the OpenAPI schema)
and must answer a 4xx in the one error shape, never a 500 or Django's HTML page; and
the incoming webhook answers Slack's plain words to the same bodies."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts import services as accounts
from core.parsers import MAX_JSON_DEPTH, json_depth, json_loads
from integrations import services as integrations
from messaging import services as messaging
from tests.factories import client_for, make_channel, post

pytestmark = pytest.mark.django_db

LIMIT = 300_000  # DATA_UPLOAD_MAX_MEMORY_SIZE for these tests
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
BOUNDARY = "malformed"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


# (what, content type, body, the codes it may answer when the endpoint reads the body)
BODIES = [
    ("100,000 nested arrays", JSON, nested(100_000), {"invalid"}),
    ("40,000 nested objects", JSON, '{"a":' * 40_000 + "1" + "}" * 40_000, {"invalid"}),
    ("nesting just past the limit", JSON, '{"name": ' + nested(MAX_JSON_DEPTH) + "}",
     {"invalid"}),
    ("a list", JSON, '[{"name": "x", "text": "x"}]', {"invalid"}),
    ("a string", JSON, '"name"', {"invalid"}),
    ("a number", JSON, "42", {"invalid"}),
    ("null", JSON, "null", {"invalid"}),
    ("true", JSON, "true", {"invalid"}),
    ("broken JSON", JSON, '{"name": ', {"invalid"}),
    ("NaN", JSON, '{"name": NaN}', {"invalid"}),
    ("bytes that are not UTF-8", JSON, b"{\"name\": \"\xff\xfe\"}", {"invalid"}),
    ("JSON past the size limit", JSON, '{"name": "' + "x" * LIMIT + '"}', {"too_large"}),
    ("a form past the size limit", FORM, "name=" + "x" * LIMIT, {"too_large"}),
    ("a multipart field past the size limit", MULTIPART,
     f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{"x" * LIMIT}'
     f"\r\n--{BOUNDARY}--\r\n", {"too_large"}),
]


def body_endpoints() -> list[tuple[str, str]]:
    """(method, path template) of every endpoint whose schema takes a request body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted((method.upper(), path) for path, operations in schema["paths"].items()
                  for method, operation in operations.items()
                  if method in ("post", "put", "patch") and operation.get("requestBody"))


@pytest.fixture
def world(owner, member, settings) -> dict[str, int]:
    """An owner, and real ids for every path parameter, so each endpoint gets as far as
    reading its body."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    settings.RATE_LIMIT_API = settings.RATE_LIMIT_MESSAGES = "0"
    channel = make_channel(owner, "general", members=[member])
    message = post(owner, channel, "hello")
    bot = accounts.bot_create(actor=owner, display_name="Robot", username="robot")
    group = messaging.usergroup_create(actor=owner, handle="oncall", name="Oncall",
                                       member_ids=[member.pk])
    scheduled = messaging.scheduled_create(
        actor=owner, conversation_id=channel.pk, text="later",
        send_at=(timezone.now() + timedelta(hours=1)).isoformat())
    return {"conversation_id": channel.pk, "message_id": message.pk, "user_id": member.pk,
            "bot_id": bot.pk, "group_id": group.pk, "key_id": 1, "scheduled_id": scheduled.pk}


def test_every_endpoint_answers_every_malformed_body_in_the_error_shape(owner, world):
    client = client_for(owner)
    endpoints = body_endpoints()
    assert ("POST", "/api/v1/commands/") in endpoints
    assert ("POST", "/api/v1/bots/{bot_id}/tokens/") in endpoints
    wrong = []
    for method, template in endpoints:
        path = re.sub(r"{(\w+)}", lambda m: str(world[m.group(1)]), template)
        for what, content_type, body, codes in BODIES:
            response = client.generic(method, path, data=body, content_type=content_type)
            error = (response.json().get("error") if response.get("Content-Type", "")
                     .startswith(JSON) else None) or {}
            in_shape = isinstance(error.get("detail"), str) and isinstance(
                error.get("fields"), dict)
            # 415: bodies are JSON, but for the uploads, which take multipart alone; a body
            # of another type is refused before it is read.
            takes = "multipart" if template in MULTIPART_ONLY else JSON
            expected = 400 if content_type.startswith(takes) else 415
            if response.status_code != expected or not in_shape or (
                    expected == 400 and error.get("code") not in codes):
                wrong.append(f"{method} {template} <- {what}: {response.status_code} "
                             f"{error.get('code') or response.content[:80]!r}")
    assert wrong == [], "\n".join(wrong)


MULTIPART_ONLY = {"/api/v1/files/", "/api/v1/me/avatar/"}  # their views parse multipart alone


def test_a_wrong_top_level_type_names_the_problem(owner, world):
    response = client_for(owner).post("/api/v1/commands/", data="[1, 2]", content_type=JSON)
    assert response.status_code == 400
    assert response.json() == {"error": {
        "code": "invalid", "detail": "The JSON body must be an object, not an array.",
        "fields": {}}}


def test_an_over_size_body_outside_the_api_still_answers_in_our_shape(settings):
    # given a page that reads its form (the sign-in page), and a form past the limit
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    response = Client().post("/accounts/login/", data="username=" + "x" * LIMIT,
                             content_type=FORM, HTTP_ACCEPT=JSON)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_large"


@pytest.mark.parametrize(("what", "body", "word"), [
    ("100,000 nested arrays", nested(100_000), "invalid_payload"),
    ("nesting past the limit", '{"text": "x", "blocks": ' + nested(MAX_JSON_DEPTH) + "}",
     "invalid_payload"),
    ("a list", '[{"text": "x"}]', "invalid_payload"),
    ("a string", '"text"', "invalid_payload"),
    ("a body past Django's own limit", '{"text": "' + "x" * 3_000_000 + '"}',
     "invalid_payload"),
])
def test_the_incoming_webhook_answers_malformed_payloads_in_slacks_words(owner, what, body, word):
    channel = make_channel(owner, "alerts")
    _, secret = integrations.incoming_webhook_create(actor=owner, name="CI",
                                                     conversation_id=channel.pk)
    response = Client().post(f"/api/v1/hooks/{secret}", data=body, content_type=JSON)
    assert (response.status_code, response.content.decode()) == (400, word)


@pytest.mark.parametrize("text", [nested(100_000), nested(MAX_JSON_DEPTH + 1), '{"a": NaN}'])
def test_the_bounded_reader_of_integration_answers_refuses_with_a_value_error(text):
    # Slash-command and outgoing-webhook answers are read with it, and treated as no
    # answer on ValueError (integrations/services/commands.py, outgoing.py).
    with pytest.raises(ValueError):
        json_loads(text)



def test_the_bounded_reader_takes_nesting_up_to_the_limit():
    assert json_depth(json_loads(nested(MAX_JSON_DEPTH))) == MAX_JSON_DEPTH

"""Bad client frames (docs/realtime.md, "Errors"): each gets an error frame naming the
problem, nothing is stored, and the socket stays open. First realtime.frames alone,
then through a real daphne process."""

from __future__ import annotations

import json

import pytest

from core.errors import InvalidInput
from messaging.models import Message
from realtime import frames
from tests.factories import make_channel, make_user
from tests.realtime import Socket, token_for

SEND = '{"type": "message.send", "conversation": %s, "text": %s, "client_msg_id": %s}'

BAD = {
    # name: (raw frame, code, field named)
    "lone surrogate in text": (SEND % ("1", '"hi \\ud800"', '"s-1"'), "invalid", "text"),
    "lone low surrogate": (SEND % ("1", '"\\udfff"', '"s-2"'), "invalid", "text"),
    "surrogate in a nested key": ('{"type": "resume", "since": {"\\ud800": 1}}', "invalid",
                                  "since"),
    "surrogate in a field name": ('{"type": "ping", "\\ud800": 1}', "invalid", None),
    "5,000 nested arrays": ('{"type": "ping", "x": ' + "[" * 5000 + "]" * 5000 + "}",
                            "invalid_frame", None),
    "nesting past the limit": ('{"type": "ping", "x": ' + "[" * 20 + "]" * 20 + "}",
                               "invalid_frame", None),
    "an id past 64 bits": (SEND % (str(2**64), '"hi"', '"s-3"'), "invalid", "conversation"),
    "a seq past 64 bits": ('{"type": "resume", "since": {"1": ' + str(10**30) + "}}", "invalid",
                           "since"),
    "a float overflowing to infinity": (SEND % ("1e400", '"hi"', '"s-4"'), "invalid",
                                        "conversation"),
    "NaN": (SEND % ("NaN", '"hi"', '"s-5"'), "invalid_json", None),
    "a 5,000-digit number": ('{"type": "ping", "n": ' + "9" * 5000 + "}", "invalid_json", None),
    "a float id": (SEND % ("1.5", '"hi"', '"s-6"'), "invalid", "conversation"),
    "a bool id": (SEND % ("true", '"hi"', '"s-7"'), "invalid", "conversation"),
    "text as a list": (SEND % ("1", '["hi"]', '"s-8"'), "invalid", "text"),
    "files not ids": ('{"type": "message.send", "conversation": 1, "text": "x", '
                      '"client_msg_id": "s-9", "files": ["a"]}', "invalid", "files"),
    "type not a string": ('{"type": 7}', "invalid_frame", None),
    "unknown type": ('{"type": "message.teleport"}', "unknown_type", None),
    "truncated JSON": ('{"type": "ping"', "invalid_json", None),
}

# Well-formed frames of the wrong shape: the parser passes them, the handler refuses them.
SHAPED_WRONG = {"a float id", "a bool id", "text as a list", "files not ids", "unknown type"}


@pytest.mark.parametrize("name", BAD)
def test_a_bad_frame_is_refused_by_the_parser_or_the_handler_naming_the_problem(name):
    raw, code, field = BAD[name]
    try:
        frames.parse(raw, None)
    except InvalidInput as error:
        assert name not in SHAPED_WRONG
        assert (error.code, next(iter(error.fields), None)) == (code, field)
        assert error.detail
        return
    assert name in SHAPED_WRONG  # left to the handler's field readers


def test_good_frames_pass_whole():
    frame = {"type": "message.send", "conversation": 2**63 - 1, "text": "naïve 👍 [x] {y}",
             "client_msg_id": "c-1", "files": [1, 2], "deep": [[[[{"a": [1.5, -2, None]}]]]]}
    assert frames.parse(json.dumps(frame), None) == frame
    assert frames.parse(json.dumps(frame, ensure_ascii=False), None) == frame


def test_an_error_frame_names_its_field_and_echoes_the_reference():
    error = InvalidInput.of_field("text", "'text' is required for message.send.")
    assert frames.error_frame(error, client_msg_id="c-1") == {
        "type": "error", "code": "invalid", "detail": "'text' is required for message.send.",
        "fields": {"text": ["'text' is required for message.send."]}, "field": "text",
        "client_msg_id": "c-1"}
    assert frames.reference(None, SEND % ("1", '"\\ud800"', '"c-2"')) == {"client_msg_id": "c-2"}
    assert frames.reference(None, '{"client_msg_id": "\\ud800"}') == {}
    assert frames.reference(None, "[" * 5000) == {}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("servers_settled")
@pytest.mark.parametrize("name", BAD)
def test_a_bad_frame_through_daphne_gets_an_error_stores_nothing_and_keeps_the_socket(
        daphne_pair, name):
    raw, code, field = BAD[name]
    alice = make_user()
    channel = make_channel(alice)
    raw = raw.replace('"conversation": 1,', f'"conversation": {channel.pk},')
    with Socket(daphne_pair[0].ws_url, token=token_for(alice)) as socket:
        socket.send_raw(raw)
        error = socket.next("error")
        socket.send(type="message.send", conversation=channel.pk, text="still here",
                    client_msg_id=f"after-{sorted(BAD).index(name)}")
        ack = socket.next("message.ack")
    assert (error["code"], error.get("field")) == (code, field), error
    assert error["detail"]
    if '"client_msg_id": "s-' in raw:
        assert error["client_msg_id"] == json.loads(raw.split('"client_msg_id": ')[1][:5])
    assert ack["message"]["text"] == "still here"
    assert list(Message.objects.filter(conversation=channel).values_list("text", flat=True)) \
        == ["still here"]

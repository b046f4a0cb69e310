"""realtime.registry: the frames and events the apps below realtime register, found
through their AppConfig, and never one type claimed twice."""

from __future__ import annotations

import sys
import types

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from realtime import registry
from realtime.consumer import OWN_FRAMES


def test_every_client_frame_of_docs_realtime_md_has_one_handler():
    handled = set(OWN_FRAMES) | set(registry.handlers().frames)
    assert handled == {"ping", "message.send", "resume", "subscribe", "unsubscribe", "typing",
                       "presence.set", "presence.subscribe", "call.start", "call.accept",
                       "call.decline", "call.cancel", "call.leave", "call.signal", "call.media"}
    assert not set(OWN_FRAMES) & set(registry.handlers().frames)
    assert set(registry.handlers().events) == {"call.event", "call.status"}
    assert [hook.__module__ for hook in registry.handlers().closed] == ["calls.frames"]


def test_two_apps_claiming_one_frame_type_is_refused(monkeypatch):
    claimant = types.ModuleType("tests.realtime.claimant")

    async def typing(socket, frame):
        raise AssertionError

    claimant.FRAMES = {"typing": typing}
    monkeypatch.setitem(sys.modules, claimant.__name__, claimant)
    monkeypatch.setattr(apps.get_app_config("files"), "realtime_handlers", claimant.__name__,
                        raising=False)
    registry.handlers.cache_clear()
    try:
        with pytest.raises(ImproperlyConfigured, match="'typing'"):
            registry.handlers()
    finally:
        registry.handlers.cache_clear()

"""Presence on connect: `ready` carries the current presence of the person and of
everyone whose presence the socket watches, so nothing shows stale until it changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as accounts
from tests.factories import make_channel, make_direct, make_user
from tests.realtime import Socket, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("servers_settled")]


def test_ready_carries_the_presence_of_direct_partners_online_before_the_socket_opened(
        daphne_pair):
    ana, ben, cleo, dan = (make_user(name=n) for n in ("Ana", "Ben", "Cleo", "Dan"))
    make_direct(ana, ben)
    make_direct(ana, cleo)
    make_channel(ana, members=[dan])  # a channel: Dan's presence is not watched
    accounts.presence_set(user=cleo, status="dnd", status_text="Focus",
                          dnd_until=timezone.now() + timedelta(hours=1))
    with Socket(daphne_pair[1].ws_url, token=token_for(ben)), \
            Socket(daphne_pair[0].ws_url, token=token_for(dan)), \
            Socket(daphne_pair[0].ws_url, token=token_for(ana)) as socket:
        snapshot = {entry["user"]: entry for entry in socket.ready["presence"]}

    assert set(snapshot) == {ana.pk, ben.pk, cleo.pk}
    assert snapshot[ana.pk]["status"] == "online"  # this very socket counts
    assert snapshot[ben.pk] == {"type": "presence", "user": ben.pk, "status": "online",
                                "status_text": "", "status_emoji": "", "dnd_until": None}
    assert (snapshot[cleo.pk]["status"], snapshot[cleo.pk]["status_text"]) == ("dnd", "Focus")
    assert snapshot[cleo.pk]["dnd_until"]


def test_a_partner_who_left_is_offline_in_the_next_ready(daphne_pair):
    ana, ben = make_user(), make_user()
    make_direct(ana, ben)
    Socket(daphne_pair[1].ws_url, token=token_for(ben)).close()
    with Socket(daphne_pair[0].ws_url, token=token_for(ana)) as socket:
        statuses = {e["user"]: e["status"] for e in socket.ready["presence"]}
    assert statuses == {ana.pk: "online", ben.pk: "offline"}

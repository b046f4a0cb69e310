"""The scheduled check of a process's sockets, made for all of them together
(accounts.selectors.socket_accesses, driven by realtime/access.py): the same answer for
each socket as its own check would give, in a number of queries that does not grow with
the number of sockets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services as accounts
from accounts.models import Role
from accounts.selectors import SocketAccess, socket_access, socket_accesses
from tests.factories import make_user
from tests.security.test_socket_sessions import enable_two_factor

pytestmark = pytest.mark.django_db


def session_of(user) -> str:
    browser = Client()
    browser.force_login(user)
    return browser.session.session_key


def the_sockets(owner) -> dict[str, SocketAccess]:
    """One socket for each way a check can end, and some that may go on streaming."""
    fine, deleted, expired, soon = make_user(), make_user(), make_user(), make_user()
    reset, gone, demoted, owing, careful = (make_user(), make_user(), make_user(Role.ADMIN),
                                            make_user(Role.ADMIN), make_user(Role.ADMIN))
    token_holder, revoked_holder = make_user(), make_user()
    enable_two_factor(careful)
    sockets = {
        "fine": SocketAccess(fine.pk, fine.role, session_key=session_of(fine)),
        "deleted": SocketAccess(deleted.pk, deleted.role, session_key=session_of(deleted)),
        "expired": SocketAccess(expired.pk, expired.role, session_key=session_of(expired)),
        "expires soon": SocketAccess(soon.pk, soon.role, session_key=session_of(soon)),
        "password set": SocketAccess(reset.pk, reset.role, session_key=session_of(reset)),
        "deactivated": SocketAccess(gone.pk, gone.role, session_key=session_of(gone)),
        "demoted": SocketAccess(demoted.pk, demoted.role, session_key=session_of(demoted)),
        "owes a second factor": SocketAccess(owing.pk, owing.role, session_key=session_of(owing)),
        "has a second factor": SocketAccess(careful.pk, careful.role,
                                            session_key=session_of(careful)),
        "token": SocketAccess(token_holder.pk, token_holder.role, token_id=accounts.api_token_create(
            actor=token_holder, user=token_holder, name="t")[0].pk),
    }
    revoked, _ = accounts.api_token_create(actor=revoked_holder, user=revoked_holder, name="r")
    sockets["revoked token"] = SocketAccess(revoked_holder.pk, revoked_holder.role,
                                            token_id=revoked.pk)
    # Then what happens to them, none of it with news to the sockets.
    Session.objects.filter(session_key=sockets["deleted"].session_key).delete()
    Session.objects.filter(session_key=sockets["expired"].session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1))
    Session.objects.filter(session_key=sockets["expires soon"].session_key).update(
        expire_date=timezone.now() + timedelta(seconds=20))
    reset.set_password("set by an operator, not the pages")
    reset.save()
    gone.is_active = False
    gone.save()
    demoted.role = Role.MEMBER
    demoted.save()
    revoked.revoked_at = timezone.now()
    revoked.save()
    accounts.two_factor_policy_set(actor=owner, policy="admins")
    return sockets


def test_each_socket_gets_the_answer_its_own_check_gives(owner):
    enable_two_factor(owner)
    sockets = the_sockets(owner)

    together = dict(zip(sockets, socket_accesses(list(sockets.values())), strict=True))

    codes = {name: refusal.code if refusal else None for name, (refusal, _) in together.items()}
    assert codes == {
        "fine": None, "deleted": "signed_out", "expired": "signed_out", "expires soon": None,
        "password set": "signed_out", "deactivated": "deactivated", "demoted": "role_changed",
        "owes a second factor": "two_factor_required", "has a second factor": None,
        "token": None, "revoked token": "signed_out"}
    for name, access in sockets.items():
        refusal, expires_in = socket_access(**access._asdict())
        assert (refusal.code if refusal else None) == codes[name], name
        assert (expires_in is None) == (together[name][1] is None), name
    assert 15 < together["expires soon"][1] <= 20
    assert together["fine"][1] > 3600
    assert together["token"][1] is None


def test_the_queries_do_not_grow_with_the_sockets(owner):
    enable_two_factor(owner)
    accounts.two_factor_policy_set(actor=owner, policy="everyone")
    people = [make_user() for _ in range(30)]
    for person in people[::3]:
        enable_two_factor(person)
    sockets = [SocketAccess(p.pk, p.role, session_key=session_of(p)) for p in people]
    sockets += [SocketAccess(p.pk, p.role, token_id=accounts.api_token_create(
        actor=p, user=p, name="t")[0].pk) for p in people[:10]]

    socket_accesses(sockets[:1])  # the organisation's policy read into the cache
    with CaptureQueriesContext(connection) as few:
        socket_accesses(sockets[:2] + sockets[-1:])
    with CaptureQueriesContext(connection) as many:
        answers = socket_accesses(sockets)

    assert len(many) == len(few) <= 4  # people, tokens, sessions, second factors
    owed = {p.pk for p in people} - {p.pk for p in people[::3]}
    assert {a.user_id for a, (refusal, _) in zip(sockets, answers, strict=True)
            if refusal is not None} == owed
    assert all(refusal.code == "two_factor_required"
               for refusal, _ in answers if refusal is not None)


class FakeSocket:
    """What the sweep needs of a socket: its access, and a place for the answer."""

    ended = False

    def __init__(self, access: SocketAccess) -> None:
        self._access = access
        self.answers: list = []

    def access(self) -> dict:
        return self._access._asdict()

    def access_checked(self, refusal, expires_in) -> None:
        self.answers.append(refusal.code if refusal else None)


@pytest.mark.django_db(transaction=True)
def test_the_sweep_checks_every_socket_a_chunk_at_a_time(monkeypatch):
    import asyncio

    from realtime import access as sweep_module

    monkeypatch.setattr(sweep_module, "SWEEP_CHUNK", 2)
    people = [make_user() for _ in range(5)]
    sockets = [FakeSocket(SocketAccess(p.pk, p.role, session_key=session_of(p))) for p in people]
    Session.objects.filter(session_key=sockets[3]._access.session_key).delete()
    sweep = sweep_module.AccessSweep()
    sweep.sockets.update(sockets)

    checked = asyncio.run(sweep.check())

    assert checked == 5
    assert [s.answers for s in sockets] == [[None], [None], [None], ["signed_out"], [None]]

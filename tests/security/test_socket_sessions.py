"""A socket lives no longer than what let it open: each way a browser session (or a
token) ends closes the sockets opened with it, and the handshake applies the API's checks,
the two-factor policy included. Against real daphne processes on PostgreSQL and Redis."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pyotp
import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from accounts import services as accounts
from accounts.models import Role
from core.live import access_changed_on_commit, user_event_on_commit
from core.secrets import decrypt
from tests.factories import PASSWORD, make_channel, make_user, post
from tests.realtime import Socket, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("servers_settled")]

ACCESS_CHECK_SECONDS = 1


@pytest.fixture(scope="module")
def checking_server(django_db_setup, tmp_path_factory):
    """A daphne process that re-checks each socket's session every second (the servers of
    daphne_pair keep the default minute, so what closes their sockets within the tests'
    timeouts is the news of the change, not the schedule)."""
    from tests.servers import DaphneServer

    if not (settings.TEST_USES_POSTGRES and settings.TEST_USES_REDIS):
        pytest.skip("cross-process tests need PostgreSQL and Redis (CI requires them)")
    server = DaphneServer(tmp_path_factory.mktemp("checking") / "a").start(
        REALTIME_ACCESS_CHECK_SECONDS=str(ACCESS_CHECK_SECONDS))
    yield server
    server.stop()


def signed_in(user, password: str = PASSWORD) -> Client:
    """A browser signed in through the sign-in page, as a person would."""
    browser = Client()
    response = browser.post(reverse("accounts:login"), {"username": user.email,
                                                        "password": password})
    assert response.status_code == 302 and "_auth_user_id" in browser.session
    return browser


def cookie(browser: Client) -> str:
    return f"sessionid={browser.cookies[settings.SESSION_COOKIE_NAME].value}"


def browser_socket(server, browser: Client) -> Socket:
    return Socket(server.ws_url, cookie=cookie(browser), origin=server.url)


def streaming(socket: Socket, author, conversation) -> None:
    """The socket receives the conversation's messages (so a later silence means something)."""
    message = post(author, conversation, "still here?")
    assert socket.next("message.created",
                       where=lambda f: f["message"]["id"] == message.pk)["conversation"] == conversation.pk


def assert_ended(socket: Socket, *, close_code: int, error_code: str, author, conversation) -> None:
    """The socket says why, closes with `close_code`, and what is posted after that never
    reaches it."""
    notice = socket.next("error", timeout=10)
    with pytest.raises(ConnectionClosed):
        socket.next("never sent", timeout=10)
    assert notice["code"] == error_code
    assert socket.ws.close_code == close_code
    late = post(author, conversation, "after the end")
    with pytest.raises(ConnectionClosed):
        socket.next("message.created", timeout=1, where=lambda f: f["message"]["id"] == late.pk)


def still_open(socket: Socket) -> None:
    socket.send(type="ping")
    assert socket.next("pong")["type"] == "pong"


def enable_two_factor(user) -> None:
    device, _ = accounts.two_factor_begin(user=user)
    accounts.two_factor_confirm(user=user, code=pyotp.TOTP(decrypt(device.secret_encrypted)).now())


def refused_after_opening(server, **headers: str) -> tuple[dict, int]:
    """Open a socket that the server accepts and then closes: the error frame it sent,
    and the close code."""
    with connect(server.ws_url, additional_headers=list(headers.items()), origin=server.url,
                 open_timeout=10, close_timeout=2) as ws:
        frames = []
        with pytest.raises(ConnectionClosed):
            while True:
                frames.append(json.loads(ws.recv(timeout=10)))
        assert [f["type"] for f in frames] == ["error"], frames
        return frames[0], ws.close_code


# --- Signing out and resetting the password ----------------------------------------------


def test_signing_out_closes_that_sessions_sockets_and_no_other(daphne_pair):
    member, author = make_user(), make_user()
    channel = make_channel(author, members=[member])
    laptop, phone = signed_in(member), signed_in(member)
    on_laptop = browser_socket(daphne_pair[0], laptop)
    on_phone = browser_socket(daphne_pair[1], phone)
    streaming(on_laptop, author, channel)

    assert laptop.post(reverse("accounts:logout")).status_code == 302

    assert_ended(on_laptop, close_code=4001, error_code="signed_out", author=author,
                 conversation=channel)
    with on_phone:
        still_open(on_phone)
    assert laptop.get("/api/v1/me/").status_code in (401, 403)


def test_a_password_reset_through_the_emailed_link_closes_every_session_socket(daphne_pair):
    member, author = make_user(), make_user()
    channel = make_channel(author, members=[member])
    socket = browser_socket(daphne_pair[1], signed_in(member))
    program = Socket(daphne_pair[0].ws_url, token=token_for(member))
    streaming(socket, author, channel)

    stranger = Client()  # whoever reads the mailbox
    stranger.post(reverse("accounts:password_reset"), {"email": member.email})
    link = re.search(r"https?://[^\s]+(/accounts/password/reset/[^\s]+/)", mail.outbox[-1].body)
    form = stranger.get(link.group(1), follow=True)
    done = stranger.post(form.redirect_chain[-1][0], {"new_password1": "brand new passphrase 42",
                                                      "new_password2": "brand new passphrase 42"})
    assert done.status_code == 302

    assert_ended(socket, close_code=4001, error_code="signed_out", author=author,
                 conversation=channel)
    with program:  # an API token is not a session: it outlives the password, as in the API
        still_open(program)


def test_changing_the_password_closes_the_other_sessions_sockets_and_keeps_this_ones(daphne_pair):
    """The session the password was changed in takes a new key; its sockets follow it and
    keep streaming, also past their next check."""
    member, author = make_user(), make_user()
    channel = make_channel(author, members=[member])
    laptop, phone = signed_in(member), signed_in(member)
    on_laptop = browser_socket(daphne_pair[0], laptop)
    on_phone = browser_socket(daphne_pair[1], phone)
    streaming(on_laptop, author, channel)

    changed = laptop.post(reverse("accounts:password_change"), {
        "old_password": PASSWORD, "new_password1": "a new and long passphrase",
        "new_password2": "a new and long passphrase"})
    assert changed.status_code == 302

    assert_ended(on_phone, close_code=4001, error_code="signed_out", author=author,
                 conversation=channel)
    with on_laptop:
        # A check now, as the schedule would make it; the marker comes after it through
        # the same group, so once it arrives the check is done.
        access_changed_on_commit([member.pk])
        user_event_on_commit(member.pk, {"type": "marker"})
        on_laptop.next("marker")
        streaming(on_laptop, author, channel)
        still_open(on_laptop)


# --- Deactivation, roles, tokens ------------------------------------------------------------


def test_deactivation_closes_session_sockets_as_deactivated(daphne_pair):
    admin, member = make_user(Role.ADMIN), make_user()
    channel = make_channel(admin, members=[member])
    socket = browser_socket(daphne_pair[0], signed_in(member))
    streaming(socket, admin, channel)

    accounts.user_deactivate(actor=admin, user=member)

    assert_ended(socket, close_code=4003, error_code="deactivated", author=admin,
                 conversation=channel)


def test_a_role_change_that_removes_access_closes_the_sockets(daphne_pair):
    """Demoted to guest, a person may no longer follow the public channels they are not a
    member of; the socket that followed one is closed, and its successor cannot follow it."""
    admin, member = make_user(Role.ADMIN), make_user()
    public = make_channel(admin, "town-square")
    browser = signed_in(member)
    socket = browser_socket(daphne_pair[1], browser)
    socket.send(type="subscribe", conversation=public.pk)
    assert socket.next("subscribed")["conversation"] == public.pk
    streaming(socket, admin, public)

    accounts.user_role_change(actor=admin, user=member, role=Role.GUEST)

    assert_ended(socket, close_code=4004, error_code="role_changed", author=admin,
                 conversation=public)
    with browser_socket(daphne_pair[1], browser) as again:
        again.send(type="subscribe", conversation=public.pk)
        assert again.next("error")["code"] == "not_found"


def test_revoking_a_token_closes_its_sockets(daphne_pair):
    member, author = make_user(), make_user()
    channel = make_channel(author, members=[member])
    raw = token_for(member)
    socket = Socket(daphne_pair[0].ws_url, token=raw)
    streaming(socket, author, channel)

    token = member.api_tokens.get(prefix=raw[:10])
    accounts.api_token_revoke(actor=member, token=token)

    assert_ended(socket, close_code=4001, error_code="signed_out", author=author,
                 conversation=channel)


# --- The two-factor policy ------------------------------------------------------------------


def test_the_two_factor_policy_closes_the_sockets_of_people_without_a_second_factor(daphne_pair):
    owner, member, careful = make_user(Role.OWNER), make_user(), make_user()
    enable_two_factor(owner)
    channel = make_channel(owner, members=[member, careful])
    socket = browser_socket(daphne_pair[0], signed_in(member))
    program = Socket(daphne_pair[1].ws_url, token=token_for(member))
    careful_browser = signed_in(careful)
    enable_two_factor(careful)  # set up while signed in, as the setup page does
    protected = browser_socket(daphne_pair[1], careful_browser)
    streaming(socket, owner, channel)

    accounts.two_factor_policy_set(actor=owner, policy="everyone")

    assert_ended(socket, close_code=4002, error_code="two_factor_required", author=owner,
                 conversation=channel)
    with program, protected:  # tokens are outside the policy, as in the API
        still_open(program)
        still_open(protected)


def test_a_promotion_into_the_two_factor_policy_closes_the_sockets(daphne_pair):
    owner, member = make_user(Role.OWNER), make_user()
    enable_two_factor(owner)
    accounts.two_factor_policy_set(actor=owner, policy="admins")
    channel = make_channel(owner, members=[member])
    socket = browser_socket(daphne_pair[0], signed_in(member))
    streaming(socket, owner, channel)

    accounts.user_role_change(actor=owner, user=member, role=Role.ADMIN)

    assert_ended(socket, close_code=4002, error_code="two_factor_required", author=owner,
                 conversation=channel)


def test_the_handshake_refuses_a_session_the_two_factor_policy_holds_back(daphne_pair):
    owner, member = make_user(Role.OWNER), make_user()
    enable_two_factor(owner)
    accounts.two_factor_policy_set(actor=owner, policy="everyone")
    browser = signed_in(member)
    api = browser.get("/api/v1/conversations/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "two_factor_required"

    notice, close_code = refused_after_opening(daphne_pair[0], Cookie=cookie(browser))

    assert notice["code"] == "two_factor_required" and close_code == 4002
    # Halfway through signing in (password given, code not yet): not signed in at all.
    halfway = Client()
    halfway.post(reverse("accounts:login"), {"username": owner.email, "password": PASSWORD})
    assert "_auth_user_id" not in halfway.session
    with pytest.raises(InvalidStatus) as refused:
        Socket(daphne_pair[0].ws_url, cookie=cookie(halfway), origin=daphne_pair[0].url)
    assert refused.value.response.status_code == 403
    # Once the person has a second factor, the same session connects.
    enable_two_factor(member)
    with browser_socket(daphne_pair[0], browser) as socket:
        assert socket.ready["user"] == member.pk


# --- What no news announces: the session's expiry, and the schedule ------------------------


def test_a_session_that_expires_ends_its_socket_as_it_expires(daphne_pair):
    """daphne_pair checks on schedule only every minute: what ends this socket within the
    test's timeouts is the check the socket set for its session's expiry."""
    member, author = make_user(), make_user()
    channel = make_channel(author, members=[member])
    browser = signed_in(member)
    Session.objects.filter(session_key=browser.session.session_key).update(
        expire_date=timezone.now() + timedelta(seconds=3))
    socket = browser_socket(daphne_pair[0], browser)
    streaming(socket, author, channel)

    assert_ended(socket, close_code=4001, error_code="signed_out", author=author,
                 conversation=channel)



def test_an_expired_session_stops_streaming_on_the_next_check(checking_server):
    member, author = make_user(), make_user()
    channel = make_channel(author, members=[member])
    browser = signed_in(member)
    socket = browser_socket(checking_server, browser)
    streaming(socket, author, channel)

    Session.objects.filter(session_key=browser.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1))

    assert_ended(socket, close_code=4001, error_code="signed_out", author=author,
                 conversation=channel)


def test_a_deleted_session_stops_streaming_on_the_next_check(checking_server):
    """As `manage.py clearsessions` or a cleared session store leave it."""
    member, author = make_user(), make_user()
    channel = make_channel(author, members=[member])
    browser = signed_in(member)
    socket = browser_socket(checking_server, browser)
    streaming(socket, author, channel)

    Session.objects.filter(session_key=browser.session.session_key).delete()

    assert_ended(socket, close_code=4001, error_code="signed_out", author=author,
                 conversation=channel)


def test_a_password_set_outside_the_pages_stops_streaming_on_the_next_check(checking_server):
    """`manage.py changepassword` or the Django admin set the password without any news:
    the session no longer matches it, as for the API."""
    member, author = make_user(), make_user()
    channel = make_channel(author, members=[member])
    socket = browser_socket(checking_server, signed_in(member))
    streaming(socket, author, channel)

    member.set_password("set by an operator 1234")
    member.save(update_fields=["password"])

    assert_ended(socket, close_code=4001, error_code="signed_out", author=author,
                 conversation=channel)

"""Finding 4: the sign-in lock-out under concurrent guesses. Each attempt is counted
before its secret is checked, so of many simultaneous wrong passwords or codes at most
the promised five are checked; the second step is also limited per address."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest
from django.contrib.auth import authenticate
from django.db import connections
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import User
from accounts.services.security import FAILURES_BEFORE_LOCK
from core.errors import Forbidden, InvalidInput
from core.models import AuditEvent
from core.secrets import decrypt
from tests.factories import PASSWORD, make_user

GUESSES = 40


@pytest.fixture(params=["configured", "file"])
def lockout_cache(request, settings, tmp_path) -> str:
    """The suite's cache (Redis wherever it is reachable) and the embedded default's
    file cache."""
    if request.param == "file":
        settings.CACHES = {"default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache")}}
    return request.param


def enable_two_factor(user: User) -> pyotp.TOTP:
    device, _ = services.two_factor_begin(user=user)
    totp = pyotp.TOTP(decrypt(device.secret_encrypted))
    services.two_factor_confirm(user=user, code=totp.now())
    return totp


def wrong_code(totp: pyotp.TOTP) -> str:
    now = time.time()
    valid = {totp.at(now + drift) for drift in (-60, -30, 0, 30, 60)}
    return next(code for code in ("000000", "111111", "222222") if code not in valid)


def all_at_once(attempt: Callable[[], str]) -> Counter:
    """Run GUESSES attempts in as many threads, released together; count the outcomes."""
    start = threading.Barrier(GUESSES)

    def one(_: int) -> str:
        try:
            start.wait(timeout=30)
            return attempt()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(GUESSES) as pool:
        return Counter(pool.map(one, range(GUESSES)))


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_codes_check_at_most_five(lockout_cache):
    # given a person with an authenticator, and a wrong code
    member = make_user()
    code = wrong_code(enable_two_factor(member))

    def guess() -> str:
        try:
            services.two_factor_verify(user=member, code=code)
        except InvalidInput:
            return "checked"
        except Forbidden as error:
            return error.code
        return "accepted"

    # when forty guesses arrive at once
    outcomes = all_at_once(guess)

    # then five were checked (and failed), the rest refused unchecked, and the account is
    # locked
    assert outcomes == {"checked": FAILURES_BEFORE_LOCK, "locked": GUESSES - FAILURES_BEFORE_LOCK}
    assert AuditEvent.objects.filter(action="2fa.failed").count() == FAILURES_BEFORE_LOCK
    assert 0 < services.sign_in_locked_for(email=member.email) <= 30


@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_check_at_most_five(lockout_cache, monkeypatch):
    # given an account, and a count of the passwords actually checked against it
    member = make_user()
    checked = Counter()
    check_password = User.check_password

    def counted(self: User, raw: str) -> bool:
        checked[self.pk] += 1
        return check_password(self, raw)

    monkeypatch.setattr(User, "check_password", counted)

    # when forty wrong passwords arrive at once, through authenticate (as every door)
    outcomes = all_at_once(lambda: str(authenticate(
        None, username=member.email, password="not the password")))

    # then none signed in, five passwords were checked, and the account is locked
    assert outcomes == {"None": GUESSES}
    assert checked[member.pk] == FAILURES_BEFORE_LOCK
    assert services.sign_in_locked_for(email=member.email) > 0
    assert authenticate(None, username=member.email, password=PASSWORD) is None


@pytest.mark.django_db
def test_a_right_password_does_not_clear_failed_second_steps(member):
    # given four wrong codes on the second step
    totp = enable_two_factor(member)
    for _ in range(FAILURES_BEFORE_LOCK - 1):
        with pytest.raises(InvalidInput):
            services.two_factor_verify(user=member, code=wrong_code(totp))

    # when the right password is given again (the first step only)
    assert authenticate(None, username=member.email, password=PASSWORD) == member

    # then the next wrong code still locks the account
    with pytest.raises(InvalidInput):
        services.two_factor_verify(user=member, code=wrong_code(totp))
    with pytest.raises(Forbidden) as locked:
        services.two_factor_verify(user=member, code=totp.now())
    assert locked.value.code == "locked"


@pytest.mark.django_db
def test_the_second_step_is_limited_per_address(settings):
    # given two people half-way through signing in, from one address
    settings.RATE_LIMIT_TWO_FACTOR = "3/60"
    browsers = []
    for person in (make_user(), make_user()):
        enable_two_factor(person)
        browser = Client()
        first = browser.post(reverse("accounts:login"),
                             {"username": person.email, "password": PASSWORD})
        assert first["Location"] == reverse("accounts:two_factor_verify")
        browsers.append(browser)

    # when they send codes between them past the address's limit
    url = reverse("accounts:two_factor_verify")
    statuses = [browsers[n % 2].post(url, {"code": "000000"}).status_code for n in range(4)]

    # then the fourth is refused before it is checked
    assert statuses == [200, 200, 200, 429]
    assert AuditEvent.objects.filter(action="2fa.failed").count() == 3

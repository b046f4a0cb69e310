"""Two-factor authentication, lock-out, sessions and rate limits."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import Organisation, TwoFactorDevice
from accounts.services.security import _lock_key
from core.errors import Forbidden, InvalidInput
from core.models import AuditEvent
from core.secrets import decrypt
from tests.factories import PASSWORD, client_for, make_channel

pytestmark = pytest.mark.django_db


def sign_in(client: Client, email: str, password: str = PASSWORD):
    return client.post(reverse("accounts:login"), {"username": email, "password": password})


def enable_two_factor(user) -> tuple[pyotp.TOTP, list[str]]:
    device, _ = services.two_factor_begin(user=user)
    totp = pyotp.TOTP(decrypt(device.secret_encrypted))
    codes = services.two_factor_confirm(user=user, code=totp.now())
    return totp, codes


def next_code(totp: pyotp.TOTP) -> str:
    """A code for the next time step (a code is accepted once)."""
    return totp.at(time.time() + totp.interval)


# --- Two-factor authentication ------------------------------------------------------------


def test_setting_up_two_factor_through_the_pages(member):
    browser = Client()
    browser.force_login(member)
    page = browser.get(reverse("accounts:two_factor_setup")).content.decode()
    assert 'src="data:image/svg+xml' in page
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)

    wrong = browser.post(reverse("accounts:two_factor_setup"), {"code": "000000"})
    done = browser.post(reverse("accounts:two_factor_setup"), {"code": pyotp.TOTP(secret).now()})

    assert "That code is not right" in wrong.content.decode()
    codes = re.findall(r"<code>([0-9a-f]{6}-[0-9a-f]{6})</code>", done.content.decode())
    assert len(codes) == 10
    assert services.two_factor_enabled(member)
    assert AuditEvent.objects.filter(action="2fa.enabled", actor=member).exists()


def test_sign_in_asks_for_the_second_factor_and_cannot_be_bypassed(member):
    totp, recovery = enable_two_factor(member)
    browser = Client()

    first = sign_in(browser, member.email)

    assert first["Location"] == reverse("accounts:two_factor_verify")
    # Password alone: not signed in anywhere.
    assert "_auth_user_id" not in browser.session
    assert browser.get("/").status_code == 302
    assert browser.get("/api/v1/me/").status_code == 401
    assert browser.get("/console/").status_code == 302
    wrong = browser.post(reverse("accounts:two_factor_verify"), {"code": "123456"})
    assert "not right" in wrong.content.decode() and "_auth_user_id" not in browser.session
    good = browser.post(reverse("accounts:two_factor_verify"), {"code": next_code(totp)})
    assert good.status_code == 302 and int(browser.session["_auth_user_id"]) == member.pk

    # A recovery code works once.
    other = Client()
    sign_in(other, member.email)
    other.post(reverse("accounts:two_factor_verify"), {"code": recovery[0]})
    assert int(other.session["_auth_user_id"]) == member.pk
    third = Client()
    sign_in(third, member.email)
    third.post(reverse("accounts:two_factor_verify"), {"code": recovery[0]})
    assert "_auth_user_id" not in third.session


def test_a_code_is_accepted_only_once(member):
    totp, _ = enable_two_factor(member)
    code = next_code(totp)
    assert services.two_factor_verify(user=member, code=code) == "totp"
    with pytest.raises(InvalidInput):
        services.two_factor_verify(user=member, code=code)


def test_the_pending_step_expires(member, monkeypatch):
    totp, _ = enable_two_factor(member)
    browser = Client()
    sign_in(browser, member.email)
    session = browser.session
    session["two_factor_pending"]["at"] -= 600
    session.save()
    response = browser.post(reverse("accounts:two_factor_verify"), {"code": next_code(totp)})
    assert response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in browser.session


def test_the_organisation_policy_requires_two_factor(owner, member, admin):
    services.two_factor_policy_set(actor=owner, policy="admins")
    admin_browser, member_browser = Client(), Client()
    admin_browser.force_login(admin)
    member_browser.force_login(member)

    assert admin_browser.get("/")["Location"] == reverse("accounts:two_factor_setup")
    api = admin_browser.get("/api/v1/conversations/")
    assert api.status_code == 403 and api.json()["error"]["code"] == "two_factor_required"
    assert member_browser.get("/").status_code == 200
    enable_two_factor(admin)
    assert admin_browser.get("/").status_code == 200
    with pytest.raises(Forbidden):
        services.two_factor_disable(user=admin, code="000000")
    with pytest.raises(Forbidden):
        services.two_factor_policy_set(actor=admin, policy="off")
    assert Organisation.get().require_two_factor == "admins"


def test_admins_reset_a_lost_authenticator(admin, member):
    enable_two_factor(member)
    services.two_factor_reset(actor=admin, user=member)
    assert not TwoFactorDevice.objects.filter(user=member).exists()
    with pytest.raises(Forbidden):
        services.two_factor_reset(actor=member, user=admin)


def test_the_console_sets_the_policy_and_resets_authenticators(owner, admin, member):
    enable_two_factor(member)
    enable_two_factor(owner)
    boss, deputy, plain = Client(), Client(), Client()
    for browser, user in ((boss, owner), (deputy, admin), (plain, member)):
        browser.force_login(user)
    people = deputy.get("/console/people/").content.decode()
    assert f"/console/people/{member.pk}/two-factor/reset/" in people
    assert f"/console/people/{admin.pk}/two-factor/reset/" not in people  # nothing to reset

    form = {"name": "Acme", "message_edit_window_seconds": "600", "link_previews_enabled": "on",
            "link_preview_domains": "example.com\nacme.test", "require_two_factor": "everyone",
            "e2ee_policy": "off"}
    refused = deputy.post("/console/settings/", form)
    assert "Only an owner may change the two-factor policy." in refused.content.decode()
    organisation = Organisation.get()
    assert (organisation.require_two_factor, organisation.name) == ("off", "teamchat")
    bad = boss.post("/console/settings/", {**form, "message_edit_window_seconds": "-1"})
    assert bad.status_code == 200 and "greater than or equal to 0" in bad.content.decode()
    assert Organisation.get().name == "teamchat"

    assert boss.post("/console/settings/", form).status_code == 302
    organisation = Organisation.get()
    assert organisation.require_two_factor == "everyone"
    assert organisation.message_edit_window_seconds == 600
    assert organisation.link_preview_domains == ["acme.test", "example.com"]

    assert plain.post(f"/console/people/{owner.pk}/two-factor/reset/").status_code == 403
    assert plain.get("/console/settings/").status_code == 403
    assert boss.post(f"/console/people/{member.pk}/two-factor/reset/").status_code == 302
    assert not TwoFactorDevice.objects.filter(user=member).exists()
    assert AuditEvent.objects.filter(action="2fa.reset", actor=owner).exists()
    # Reset ends their sessions; signed in again, they must set up a new authenticator.
    assert plain.get("/")["Location"].startswith(reverse("accounts:login"))


# --- Lock-out and rate limits -------------------------------------------------------------


def test_brute_force_locks_the_account_with_growing_waits(member):
    browser = Client()
    for _ in range(5):
        assert sign_in(browser, member.email, "wrong password").status_code == 200
    locked = sign_in(browser, member.email, PASSWORD)  # even the right password now waits
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.content.decode()
    assert "_auth_user_id" not in browser.session
    first_wait = services.sign_in_locked_for(email=member.email)
    assert 0 < first_wait <= 30
    cache.delete(f"{_lock_key(member.email)}:lock")  # the lock ran out
    assert sign_in(browser, member.email, "wrong password").status_code == 200
    assert 30 < services.sign_in_locked_for(email=member.email) <= 60  # doubled
    services.sign_in_succeeded(email=member.email)
    assert sign_in(Client(), member.email).status_code == 302


def test_sign_in_attempts_are_rate_limited_per_address(member, settings):
    settings.RATE_LIMIT_SIGN_IN = "3/60"
    browser = Client()
    statuses = [sign_in(browser, f"nobody{n}@example.com", "x").status_code for n in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_sends_uploads_and_api_calls_are_rate_limited_with_retry_after(member, settings):
    channel = make_channel(member)
    client = client_for(member)
    settings.RATE_LIMIT_MESSAGES = "2/60"
    sends = [client.post(f"/api/v1/conversations/{channel.pk}/messages/", {"text": f"m{n}"},
                         format="json") for n in range(3)]
    assert [r.status_code for r in sends] == [201, 201, 429]
    assert 0 < int(sends[2]["Retry-After"]) <= 60
    assert sends[2].json()["error"]["code"] == "rate_limited"
    settings.RATE_LIMIT_API = "3/60"
    calls = [client.get("/api/v1/me/").status_code for _ in range(4)]
    assert calls[-1] == 429


# --- Sessions -------------------------------------------------------------------------------


def test_people_see_their_sessions_and_sign_out_any(member, other_member):
    laptop, phone = Client(HTTP_USER_AGENT="Laptop Firefox"), Client(HTTP_USER_AGENT="Phone Safari")
    sign_in(laptop, member.email)
    sign_in(phone, member.email)
    page = laptop.get(reverse("accounts:profile")).content.decode()
    assert "Laptop Firefox" in page and "Phone Safari" in page
    phone_session = member.browser_sessions.get(user_agent="Phone Safari")

    assert client_for(other_member) is not None
    stranger = Client()
    stranger.force_login(other_member)
    stranger.post(reverse("accounts:session_end", args=[phone_session.pk]))
    assert phone.get("/").status_code == 200  # someone else cannot end it

    laptop.post(reverse("accounts:session_end", args=[phone_session.pk]))
    assert phone.get("/").status_code == 302
    assert laptop.get("/").status_code == 200
    sign_in(phone, member.email)
    laptop.post(reverse("accounts:sessions_end_others"))
    assert phone.get("/").status_code == 302 and laptop.get("/").status_code == 200
    assert Session.objects.count() == 2  # the laptop's and the stranger's


def test_signing_in_gives_a_new_session_key(member):
    browser = Client()
    browser.get(reverse("accounts:login"))
    browser.cookies["sessionid"] = "attacker-chosen-session-key"
    sign_in(browser, member.email)
    assert browser.cookies["sessionid"].value != "attacker-chosen-session-key"
    assert browser.session.session_key != "attacker-chosen-session-key"

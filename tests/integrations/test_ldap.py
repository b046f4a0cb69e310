"""LDAP sign-in and the directory sync against a real OpenLDAP server (tests/ldapserver.py),
through the sign-in form and `manage.py ldap_sync` as an admin would use them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from websockets.exceptions import ConnectionClosed

from accounts.models import Role, User
from core.models import AuditEvent
from integrations.ldap_auth import UNAVAILABLE
from integrations.models import LdapAccount, LdapSyncRun, LdapSyncStatus
from messaging.models import UserGroup
from tests.factories import PASSWORD, make_user
from tests.ldapserver import (
    ADA_PASSWORD,
    GRACE_PASSWORD,
    PEOPLE,
    SLAPD,
    configure,
    group_dn,
    seeded_directory,
)
from tests.realtime import Socket, token_for

pytestmark = pytest.mark.skipif(not Path(SLAPD).exists(),
                                reason="needs Debian's slapd (.ci/run installs it)")



@pytest.fixture
def slapd(tmp_path, settings):
    """The seeded directory (tests/ldapserver.py), with teamchat's settings pointing at it."""
    server = seeded_directory(tmp_path / "slapd")
    configure(settings, server)
    yield server
    server.stop()


def sign_in(email: str, password: str) -> tuple[Client, object]:
    client = Client()
    response = client.post(reverse("accounts:login"), {"username": email, "password": password})
    return client, response


def sync(*args: str) -> str:
    out = io.StringIO()
    call_command("ldap_sync", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# --- Signing in ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_directory_person_signs_in_with_their_directory_password_and_gets_an_account(slapd):
    client, response = sign_in("ada@example.com", ADA_PASSWORD)

    assert response.status_code == 302
    ada = User.objects.get(email="ada@example.com")
    assert int(client.session["_auth_user_id"]) == ada.pk
    assert client.session["_auth_user_backend"] == "integrations.ldap_auth.TeamchatLDAPBackend"
    assert (ada.display_name, ada.full_name, ada.role) == ("Ada", "Ada Lovelace", Role.ADMIN)
    assert not ada.has_usable_password()
    assert list(ada.user_groups.values_list("handle", flat=True)) == ["engineering"]
    assert LdapAccount.objects.get(user=ada).dn == f"uid=ada,{PEOPLE}"
    actions = list(AuditEvent.objects.filter(action__in=[
        "user.created", "ldap.account_linked", "user.role_changed", "usergroup.created",
        "usergroup.members_changed", "auth.sign_in"]).values_list("action", flat=True))
    assert actions == ["user.created", "ldap.account_linked", "user.role_changed",
                       "usergroup.created", "usergroup.members_changed", "auth.sign_in"]


@pytest.mark.django_db
def test_groups_map_to_roles_and_user_groups_and_an_existing_account_is_linked_by_email(slapd):
    existing = make_user(email="grace@example.com", name="G")
    engineering = UserGroup.objects.create(handle="engineering", name="Engineering")
    outsider = make_user()
    engineering.members.add(outsider)

    client, response = sign_in("grace@example.com", GRACE_PASSWORD)

    assert response.status_code == 302
    existing.refresh_from_db()
    assert int(client.session["_auth_user_id"]) == existing.pk
    assert existing.role == Role.COMPLIANCE
    assert existing.display_name == "Grace"
    assert set(engineering.members.all()) == {existing, outsider}
    _, linus_response = sign_in("linus@example.com", "linus-pw")
    linus = User.objects.get(email="linus@example.com")
    assert linus_response.status_code == 302
    assert linus.role == Role.MEMBER and not linus.user_groups.exists()


@pytest.mark.django_db
def test_a_wrong_directory_password_is_refused_and_audited(slapd):
    client, response = sign_in("ada@example.com", "not her password")

    assert response.status_code == 200
    assert "do not match an active account" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(email="ada@example.com").exists()
    assert AuditEvent.objects.filter(action="auth.sign_in_failed").last().data["email"] == "ada@example.com"


@pytest.mark.django_db
def test_wrong_directory_passwords_count_toward_the_sign_in_lock_out(slapd):
    for _ in range(5):
        sign_in("ada@example.com", "guess")

    client, response = sign_in("ada@example.com", ADA_PASSWORD)

    assert response.status_code == 429
    assert "Too many failed attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_with_password_sign_in_off_directory_passwords_still_sign_in_but_teamchat_ones_do_not(
        slapd, settings, owner):
    settings.PASSWORD_SIGN_IN = False
    settings.PASSWORD_SIGN_IN_BREAK_GLASS = owner.email
    local = make_user()

    _, directory_person = sign_in("ada@example.com", ADA_PASSWORD)
    local_client, local_person = sign_in(local.email, PASSWORD)
    _, break_glass = sign_in(owner.email, PASSWORD)

    assert directory_person.status_code == 302
    assert "_auth_user_id" not in local_client.session
    assert local_person.status_code == 200
    assert break_glass.status_code == 302


@pytest.mark.django_db
def test_only_members_of_the_required_group_may_sign_in(slapd, settings):
    settings.LDAP_REQUIRE_GROUP = group_dn("engineering")

    _, refused = sign_in("linus@example.com", "linus-pw")
    _, admitted = sign_in("ada@example.com", ADA_PASSWORD)

    assert refused.status_code == 200 and admitted.status_code == 302
    assert not User.objects.filter(email="linus@example.com").exists()
    refusal = AuditEvent.objects.filter(action="ldap.sign_in_refused").last()
    assert refusal.data["email"] == "linus@example.com"


@pytest.mark.django_db
def test_nested_groups_count_when_asked_for_as_in_active_directory(slapd, settings):
    leads = slapd.add_group("team-leads", [f"uid=linus,{PEOPLE}"])
    slapd.modify(group_dn("chat-admins"), "member", [f"uid=ada,{PEOPLE}", leads])

    sign_in("linus@example.com", "linus-pw")
    assert User.objects.get(email="linus@example.com").role == Role.MEMBER

    settings.LDAP_GROUP_NESTED = True
    sync()
    assert User.objects.get(email="linus@example.com").role == Role.ADMIN


@pytest.mark.django_db
def test_posix_groups_name_their_members_by_uid(slapd, settings):
    slapd.add(group_dn("posix-admins"), objectClass=["posixGroup"], cn="posix-admins", gidNumber="5000",
              memberUid=["linus"])
    configure(settings, slapd, LDAP_GROUP_MEMBER_ATTR="memberUid",
              LDAP_ADMIN_GROUP=group_dn("posix-admins"), LDAP_USER_GROUPS={})

    sign_in("linus@example.com", "linus-pw")
    sign_in("ada@example.com", ADA_PASSWORD)

    assert User.objects.get(email="linus@example.com").role == Role.ADMIN
    assert User.objects.get(email="ada@example.com").role == Role.MEMBER


@pytest.mark.django_db
def test_direct_bind_signs_in_without_a_service_account(slapd, settings):
    configure(settings, slapd, LDAP_BIND_DN="", LDAP_BIND_PASSWORD="",
              LDAP_USER_DN_TEMPLATE=f"uid=%(user)s,{PEOPLE}")
    # The direct-bind template takes what was typed; here people type their uid's email.
    slapd.add_person("ken@example.com", name="Ken Thompson", email="ken@example.com",
                     password="ken-pw")

    _, response = sign_in("ken@example.com", "ken-pw")

    assert response.status_code == 302
    assert User.objects.get(email="ken@example.com").full_name == "Ken Thompson"


@pytest.mark.django_db
@pytest.mark.parametrize("transport", ["ldaps", "starttls"])
def test_sign_in_and_sync_over_ldaps_and_starttls_check_the_servers_certificate(
        slapd, settings, transport):
    uri = slapd.ldaps_uri if transport == "ldaps" else slapd.uri
    configure(settings, slapd, LDAP_SERVER_URI=uri, LDAP_START_TLS=transport == "starttls",
              LDAP_CA_FILE=str(slapd.ca_file))

    _, response = sign_in("ada@example.com", ADA_PASSWORD)
    sync()

    assert response.status_code == 302
    assert LdapSyncRun.objects.get().status == LdapSyncStatus.SUCCEEDED
    # A server whose certificate the authorities do not vouch for is not trusted.
    configure(settings, slapd, LDAP_SERVER_URI=uri, LDAP_START_TLS=transport == "starttls",
              LDAP_CA_FILE="")
    client, refused = sign_in("ada@example.com", ADA_PASSWORD)
    assert "_auth_user_id" not in client.session
    assert UNAVAILABLE in refused.content.decode().replace("&#x27;", "'")
    with pytest.raises(CommandError, match="cannot be reached"):
        sync()


@pytest.mark.django_db
def test_a_directory_that_is_down_gives_a_clear_message_and_an_audit_row(slapd):
    slapd.stop()

    client, response = sign_in("ada@example.com", ADA_PASSWORD)

    assert response.status_code == 200
    assert UNAVAILABLE in response.content.decode().replace("&#x27;", "'")
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.filter(action="ldap.sign_in_unavailable").last()
    assert event.data["email"] == "ada@example.com"
    assert "cannot be reached" in event.data["error"]


@pytest.mark.django_db
def test_a_person_an_admin_deactivated_stays_out_even_with_the_right_password(slapd, admin):
    sign_in("ada@example.com", ADA_PASSWORD)
    from accounts import services as accounts

    accounts.user_deactivate(actor=admin, user=User.objects.get(email="ada@example.com"))

    client, response = sign_in("ada@example.com", ADA_PASSWORD)

    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert not User.objects.get(email="ada@example.com").is_active


# --- The sync -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_dry_run_shows_what_the_sync_would_change_and_changes_nothing(slapd):
    sign_in("ada@example.com", ADA_PASSWORD)
    sign_in("linus@example.com", "linus-pw")
    slapd.delete(f"uid=linus,{PEOPLE}")
    slapd.modify(f"uid=ada,{PEOPLE}", "displayName", ["Countess"])
    slapd.modify(group_dn("chat-admins"), "member", [f"uid=grace,{PEOPLE}"])

    out = sync("--dry-run")

    assert "Would: deactivate linus@example.com: no longer in the directory" in out
    assert "Would: update ada@example.com: display_name 'Ada' → 'Countess'" in out
    assert "Would: role of ada@example.com: admin → member" in out
    assert "Dry run, nothing changed" in out
    assert User.objects.get(email="linus@example.com").is_active
    assert User.objects.get(email="ada@example.com").role == Role.ADMIN
    assert not LdapSyncRun.objects.exists()


@pytest.mark.django_db
def test_the_sync_deactivates_leavers_updates_names_roles_groups_and_brings_back_returners(slapd):
    for email, password in (("ada@example.com", ADA_PASSWORD), ("linus@example.com", "linus-pw"),
                            ("grace@example.com", GRACE_PASSWORD)):
        sign_in(email, password)
    slapd.delete(f"uid=linus,{PEOPLE}")
    slapd.modify(f"uid=ada,{PEOPLE}", "displayName", ["Countess"])
    slapd.modify(group_dn("chat-admins"), "member", [f"uid=grace,{PEOPLE}"])
    slapd.modify(group_dn("engineering"), "member", [f"uid=grace,{PEOPLE}"])

    out = sync()

    ada, grace, linus = (User.objects.get(email=f"{n}@example.com") for n in ("ada", "grace", "linus"))
    assert not linus.is_active and LdapAccount.objects.get(user=linus).deactivated_by_sync
    assert (ada.display_name, ada.role) == ("Countess", Role.MEMBER)
    assert grace.role == Role.ADMIN
    assert list(UserGroup.objects.get(handle="engineering").members.all()) == [grace]
    run = LdapSyncRun.objects.get()
    assert run.status == LdapSyncStatus.SUCCEEDED
    assert run.counts == {"in directory": 2, "deactivated": 1, "updated": 2}
    assert "Did: deactivate linus@example.com: no longer in the directory" in out
    left = AuditEvent.objects.get(action="ldap.person_left")
    assert (left.actor_id, left.target_id) == (None, str(linus.pk))
    assert AuditEvent.objects.get(action="user.deactivated").target_id == str(linus.pk)
    assert AuditEvent.objects.filter(action="ldap.sync_completed").count() == 1

    slapd.add_person("linus", name="Linus Torvalds", email="linus@example.com", password="linus-pw")
    sync()

    linus.refresh_from_db()
    assert linus.is_active and not LdapAccount.objects.get(user=linus).deactivated_by_sync
    assert AuditEvent.objects.filter(action="ldap.person_returned", target_id=str(linus.pk)).exists()


@pytest.mark.django_db
def test_when_the_directory_cannot_be_read_the_sync_deactivates_nobody(slapd, settings):
    sign_in("ada@example.com", ADA_PASSWORD)
    slapd.stop()

    with pytest.raises(CommandError, match=r"cannot be reached.*Nothing was changed"):
        sync()

    assert User.objects.get(email="ada@example.com").is_active
    run = LdapSyncRun.objects.get()
    assert run.status == LdapSyncStatus.FAILED and "cannot be reached" in run.errors[0]
    assert AuditEvent.objects.filter(action="ldap.sync_failed").count() == 1
    assert not AuditEvent.objects.filter(action="user.deactivated").exists()


@pytest.mark.django_db
def test_a_directory_answering_with_nobody_or_missing_the_required_group_deactivates_nobody(slapd, settings):
    sign_in("ada@example.com", ADA_PASSWORD)
    settings.LDAP_SYNC_FILTER = "(mail=nobody-has-this)"

    with pytest.raises(CommandError, match="found nobody"):
        sync()

    assert User.objects.get(email="ada@example.com").is_active
    settings.LDAP_SYNC_FILTER = "(mail=*)"
    settings.LDAP_REQUIRE_GROUP = "cn=chat-users-with-a-typo,ou=groups,dc=example,dc=com"
    with pytest.raises(CommandError, match=r"LDAP_REQUIRE_GROUP .* is not in the directory"):
        sync()
    assert User.objects.get(email="ada@example.com").is_active


@pytest.mark.django_db
def test_the_beat_task_retries_when_the_directory_is_down(slapd, settings):
    from celery.exceptions import Retry

    from integrations.tasks import ldap_sync

    sign_in("ada@example.com", ADA_PASSWORD)
    slapd.stop()

    with pytest.raises(Retry):
        ldap_sync()

    assert User.objects.get(email="ada@example.com").is_active


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("servers_settled")
def test_a_person_deleted_from_the_directory_loses_their_socket_at_the_next_sync(slapd, daphne_pair):
    client, _ = sign_in("linus@example.com", "linus-pw")
    linus = User.objects.get(email="linus@example.com")
    socket = Socket(daphne_pair[1].ws_url, token=token_for(linus))
    slapd.delete(f"uid=linus,{PEOPLE}")

    sync()

    notice = socket.next("error")
    with pytest.raises(ConnectionClosed):
        socket.next("anything", timeout=3)
    assert notice["code"] == "deactivated"
    assert socket.ws.close_code == 4003
    assert client.get("/api/v1/me/").status_code in (401, 403)


# --- The console's identity page -----------------------------------------------------------


def page_for(user) -> tuple[int, str]:
    client = Client()
    client.force_login(user)
    response = client.get("/console/identity/")
    return response.status_code, response.content.decode()


@pytest.mark.django_db
def test_the_identity_page_lists_sources_scim_tokens_and_ldap_syncs_with_their_errors(
        slapd, admin, member, compliance_officer):
    from integrations.services.scim import scim_token_authenticate, scim_token_create

    _, raw = scim_token_create(actor=admin, name="Okta")
    scim_token_authenticate(raw)
    sign_in("ada@example.com", ADA_PASSWORD)
    sync()
    slapd.stop()
    with pytest.raises(CommandError):
        sync()

    status, page = page_for(admin)

    assert status == 200
    assert "Okta" in page and raw[:12] in page and raw not in page
    assert "never" not in page.split("Okta", 1)[1].split("</tr>", 1)[0]  # last use shown
    assert slapd.uri in page and "Off (OIDC_CLIENT_ID is not set)" in page
    assert f"search {PEOPLE}" in page and group_dn("chat-admins") in page
    assert "1 active, 0 deactivated" in page
    assert "Failed: the directory could not be read" in page
    assert f"The directory server {slapd.uri} cannot be reached" in page
    assert page.count("Succeeded") == 1
    for person in (member, compliance_officer):
        assert page_for(person)[0] == 403
        client = Client()
        client.force_login(person)
        assert client.post("/console/identity/ldap/sync/").status_code == 403


@pytest.mark.django_db
def test_the_identity_page_says_ldap_is_off_when_it_is(owner):
    status, page = page_for(owner)

    assert status == 200
    assert "Off (LDAP_SERVER_URI is not set)" in page
    assert "Off (SAML_IDP_METADATA_URL and SAML_IDP_METADATA_FILE are not set)" in page
    assert "No SCIM tokens" in page


@pytest.mark.django_db
def test_the_identity_page_shows_saml_and_the_password_switch(slapd, settings, owner):
    settings.SAML_ENABLED = True
    settings.SAML_IDP_METADATA_URL = "https://idp.example.com/metadata"
    settings.PASSWORD_SIGN_IN = False
    settings.PASSWORD_SIGN_IN_BREAK_GLASS = owner.email

    status, page = page_for(owner)

    assert status == 200
    assert "the identity provider described by https://idp.example.com/metadata" in page
    assert f"Off (PASSWORD_SIGN_IN=0), except for the break-glass owner {owner.email}" in page


# --- Settings from the environment ----------------------------------------------------------


def test_the_ldap_environment_becomes_django_auth_ldap_settings_and_a_beat_entry(tmp_path):
    from tests.teamchat.test_settings import run_settings

    code = """
import json, ldap
from django.conf import settings as s
print(json.dumps({"backends": s.AUTHENTICATION_BACKENDS, "uri": s.AUTH_LDAP_SERVER_URI,
    "tls": s.AUTH_LDAP_START_TLS,
    "search": [s.AUTH_LDAP_USER_SEARCH.base_dn, s.AUTH_LDAP_USER_SEARCH.filterstr],
    "ca": s.AUTH_LDAP_CONNECTION_OPTIONS.get(ldap.OPT_X_TLS_CACERTFILE),
    "last_option_is_new_context": list(s.AUTH_LDAP_CONNECTION_OPTIONS)[-1] == ldap.OPT_X_TLS_NEWCTX,
    "sync_filter": s.LDAP_SYNC_FILTER, "groups": s.LDAP_USER_GROUPS,
    "beat": s.CELERY_BEAT_SCHEDULE["ldap-sync"]["schedule"]}))
"""
    base = {"DEBUG": "1", "TEAMCHAT_DATA_DIR": str(tmp_path), "LDAP_SERVER_URI": "ldap://dc1.example.com",
            "LDAP_START_TLS": "1", "LDAP_CA_FILE": "/etc/ssl/corp.pem",
            "LDAP_USER_SEARCH_BASE": "OU=Staff,DC=corp,DC=example,DC=com",
            "LDAP_USER_SEARCH_FILTER": "(userPrincipalName=%(user)s)",
            "LDAP_USER_GROUPS": '{"CN=Eng,DC=corp,DC=example,DC=com": "engineering"}',
            "LDAP_SYNC_INTERVAL_SECONDS": "900"}
    result = run_settings(base, code)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.splitlines()[-1])
    assert got == {
        "backends": ["integrations.ldap_auth.TeamchatLDAPBackend", "accounts.backends.LockoutModelBackend"],
        "uri": "ldap://dc1.example.com", "tls": True,
        "search": ["OU=Staff,DC=corp,DC=example,DC=com", "(userPrincipalName=%(user)s)"],
        "ca": "/etc/ssl/corp.pem", "last_option_is_new_context": True,
        "sync_filter": "(userPrincipalName=*)", "groups": {"CN=Eng,DC=corp,DC=example,DC=com": "engineering"},
        "beat": 900.0}
    incomplete = run_settings({**base, "LDAP_USER_SEARCH_BASE": ""})
    assert incomplete.returncode != 0 and "LDAP_USER_SEARCH_BASE" in incomplete.stderr
    bad_handle = run_settings({**base, "LDAP_USER_GROUPS": '{"CN=Eng,DC=corp": "Engineering Team"}'})
    assert bad_handle.returncode != 0 and "'Engineering Team'" in bad_handle.stderr

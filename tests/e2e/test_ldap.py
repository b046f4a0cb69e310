"""A person created in the LDAP directory signs in with their directory password in a real
browser, against a daphne process configured for that directory; deleting them from the
directory and running the sync closes their open connection at once."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command

from accounts.models import Role, User
from tests.e2e.conftest import close_context
from tests.ldapserver import PEOPLE, configure, seeded_directory, server_environment
from tests.servers import DaphneServer, wait_until_servers_idle

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ldap_server(tmp_path, settings, daphne_pair):
    """The directory, and one daphne process signing people in against it (daphne_pair
    only ensures PostgreSQL and Redis, which cross-process tests need)."""
    directory = seeded_directory(tmp_path / "slapd")
    configure(settings, directory)
    server = DaphneServer(tmp_path / "daphne").start(**server_environment(directory))
    yield directory, server
    wait_until_servers_idle()
    server.stop()
    directory.stop()


def test_a_directory_person_signs_in_in_the_browser_and_leaving_the_directory_closes_their_session(
        browser, ldap_server, off_loop):
    directory, server = ldap_server
    directory.add_person("hedy", name="Hedy Lamarr", email="hedy@example.com", password="hedy-pw-1914")
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(server.url + "/accounts/login/")
    page.fill("input[name=username]", "hedy@example.com")
    page.fill("input[name=password]", "not her password")
    page.click("button[type=submit]")
    page.wait_for_selector("text=do not match an active account")
    page.fill("input[name=username]", "hedy@example.com")
    page.fill("input[name=password]", "hedy-pw-1914")
    page.click("button[type=submit]")
    page.wait_for_selector("#app[data-state=ready]", timeout=15000)

    hedy = off_loop(User.objects.get, email="hedy@example.com")
    assert (hedy.display_name, hedy.role) == ("Hedy", Role.MEMBER)
    directory.delete(f"uid=hedy,{PEOPLE}")
    off_loop(call_command, "ldap_sync", stdout=io.StringIO())
    synced = time.monotonic()

    page.wait_for_selector("text=Your account was deactivated.", timeout=5000)
    closed_after = time.monotonic() - synced
    assert page.request.get(server.url + "/api/v1/me/").status in (401, 403)
    # Within a second on an idle machine (issue 32); a loaded 2-core CI gets some slack.
    assert closed_after < 2
    assert errors == []
    close_context(context)

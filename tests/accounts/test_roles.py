"""Organisation roles: who may change whom."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.models import Role
from core.errors import Conflict, Forbidden, InvalidInput
from core.models import AuditEvent
from tests.factories import client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("actor_role", [Role.MEMBER, Role.GUEST, Role.COMPLIANCE])
def test_people_without_admin_rights_cannot_change_roles_or_deactivate(actor_role, user_factory,
                                                                      member):
    actor = user_factory(actor_role)
    with pytest.raises(Forbidden):
        services.user_role_change(actor=actor, user=member, role=Role.ADMIN)
    with pytest.raises(Forbidden):
        services.user_deactivate(actor=actor, user=member)
    member.refresh_from_db()
    assert member.role == Role.MEMBER and member.is_active


def test_an_admin_changes_a_members_role_and_it_is_audited(admin, member):
    services.user_role_change(actor=admin, user=member, role=Role.COMPLIANCE)

    member.refresh_from_db()
    assert member.role == Role.COMPLIANCE
    event = AuditEvent.objects.get(action="user.role_changed")
    assert event.data == {"from": "member", "to": "compliance"}
    assert event.actor_id == admin.pk


def test_only_an_owner_makes_or_unmakes_owners(admin, owner, member):
    with pytest.raises(Forbidden):
        services.user_role_change(actor=admin, user=member, role=Role.OWNER)
    with pytest.raises(Forbidden):
        services.user_role_change(actor=admin, user=owner, role=Role.MEMBER)
    services.user_role_change(actor=owner, user=member, role=Role.OWNER)
    member.refresh_from_db()
    assert member.role == Role.OWNER


def test_the_last_owner_cannot_step_down_or_be_deactivated(owner):
    with pytest.raises(Conflict):
        services.user_role_change(actor=owner, user=owner, role=Role.ADMIN)
    with pytest.raises(Conflict):
        services.user_deactivate(actor=owner, user=owner)
    owner.refresh_from_db()
    assert owner.role == Role.OWNER and owner.is_active


def test_an_unknown_role_names_the_field(admin, member):
    with pytest.raises(InvalidInput) as error:
        services.user_role_change(actor=admin, user=member, role="emperor")
    assert error.value.fields == {"role": ["Must be one of: owner, admin, compliance, member, guest."]}


def test_admins_reach_the_django_admin_and_members_do_not(admin, member, client):
    client.force_login(admin)
    assert client.get("/admin/accounts/user/").status_code == 200
    client.force_login(member)
    assert client.get("/admin/accounts/user/").status_code == 302


def test_profile_update_over_the_api_checks_each_field(member):
    client = client_for(member)

    response = client.patch("/api/v1/me/", {"display_name": "Mia M.", "timezone": "Europe/Paris"},
                            format="json")
    assert response.status_code == 200
    assert response.json()["display_name"] == "Mia M."

    response = client.patch("/api/v1/me/", {"timezone": "Mars/Olympus"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "timezone": ["'Mars/Olympus' is not a known time zone (use an IANA name like Europe/Paris)."]}
    member.refresh_from_db()
    assert member.timezone == "Europe/Paris"


def test_the_directory_hides_deactivated_people_and_guests_see_only_whom_they_share(
        admin, member, guest, other_member):
    services.user_deactivate(actor=admin, user=other_member)

    everyone = client_for(member).get("/api/v1/users/").json()["results"]
    assert {u["id"] for u in everyone} == {admin.pk, member.pk, guest.pk}

    seen_by_guest = client_for(guest).get("/api/v1/users/").json()["results"]
    assert [u["id"] for u in seen_by_guest] == [guest.pk]
    assert client_for(guest).get(f"/api/v1/users/{member.pk}/").status_code == 404

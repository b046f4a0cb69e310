"""SCIM 2.0 provisioning (issue 32; RFC 7643/7644): an identity provider creates, finds,
changes, deactivates and deletes people and groups with a token an admin made; bodies as
the RFCs' examples and Okta and Entra ID send them; errors as SCIM error bodies; every
write audited; deactivation closes the person's socket at once."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client
from websockets.exceptions import ConnectionClosed

from accounts.models import User
from core.models import AuditEvent
from integrations.models import ScimExternalId
from integrations.services.scim import scim_token_create, scim_token_revoke
from messaging.models import UserGroup
from tests.factories import make_user
from tests.realtime import Socket, token_for

SCIM = "application/scim+json"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


class ScimClient:
    """What an identity provider does: JSON bodies, a bearer token, /scim/v2/..."""

    def __init__(self, raw: str) -> None:
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def call(self, method: str, path: str, body: dict | None = None):
        response = getattr(self.client, method)(
            f"/scim/v2/{path}", data=json.dumps(body) if body is not None else None, content_type=SCIM)
        response.body = json.loads(response.content) if response.content else None
        return response

    def get(self, path):
        return self.call("get", path)

    def post(self, path, body):
        return self.call("post", path, body)

    def put(self, path, body):
        return self.call("put", path, body)

    def patch(self, path, *operations):
        return self.call("patch", path, {"schemas": [PATCH], "Operations": list(operations)})

    def delete(self, path):
        return self.call("delete", path)


@pytest.fixture
def idp(admin):
    _, raw = scim_token_create(actor=admin, name="Okta")
    return ScimClient(raw)


BARBARA = {  # RFC 7643 §8.2, trimmed to what teamchat keeps
    "schemas": [USER], "externalId": "701984", "userName": "bjensen@example.com",
    "name": {"formatted": "Barbara Jensen", "familyName": "Jensen", "givenName": "Barbara"},
    "displayName": "Babs Jensen", "active": True,
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
}


@pytest.mark.django_db
def test_a_person_is_created_found_and_read_back_as_the_rfc_shows(idp, admin):
    created = idp.post("Users", BARBARA)
    assert created.status_code == 201 and created["Content-Type"] == SCIM
    body = created.body
    assert created["Location"] == body["meta"]["location"] == f"http://testserver/scim/v2/Users/{body['id']}"
    assert (body["userName"], body["displayName"], body["active"], body["externalId"]) == (
        "bjensen@example.com", "Babs Jensen", True, "701984")
    assert body["name"]["formatted"] == "Barbara Jensen" and body["schemas"] == [USER]
    person = User.objects.get(email="bjensen@example.com")
    assert not person.has_usable_password()  # signs in through the identity provider

    found = idp.get('Users?filter=userName eq "BJensen@example.com"')
    assert found.body["totalResults"] == 1 and found.body["Resources"][0]["id"] == body["id"]
    assert idp.get('Users?filter=externalId eq "701984"').body["Resources"][0]["id"] == body["id"]
    assert idp.get('Users?filter=userName eq "nobody@example.com"').body["totalResults"] == 0
    assert idp.get(f"Users/{body['id']}").body == body
    event = AuditEvent.objects.get(action="scim.user_created")
    assert event.actor == admin and event.data["scim_token"] == "Okta"

    again = idp.post("Users", BARBARA)
    assert again.status_code == 409 and again.body["scimType"] == "uniqueness"


@pytest.mark.django_db
def test_lists_page_and_filter_with_and_or_and_presence(idp):
    for n in range(5):
        idp.post("Users", {"schemas": [USER], "userName": f"p{n}@example.com", "displayName": f"P {n}",
                           "active": n % 2 == 0})
    first = idp.get("Users?startIndex=1&count=2").body
    second = idp.get("Users?startIndex=3&count=2").body
    assert first["totalResults"] == second["totalResults"] == User.objects.filter(is_bot=False).count()
    assert first["itemsPerPage"] == 2 and first["startIndex"] == 1 and second["startIndex"] == 3
    assert not {r["id"] for r in first["Resources"]} & {r["id"] for r in second["Resources"]}
    active = idp.get('Users?filter=userName sw "p" and active eq true').body
    assert sorted(r["userName"] for r in active["Resources"]) == ["p0@example.com", "p2@example.com",
                                                                   "p4@example.com"]
    either = idp.get('Users?filter=(userName eq "p1@example.com") or (displayName co "P 3")').body
    assert sorted(r["userName"] for r in either["Resources"]) == ["p1@example.com", "p3@example.com"]
    bad = idp.get('Users?filter=password eq "x"')
    assert bad.status_code == 400 and bad.body["scimType"] == "invalidFilter"
    assert "Cannot filter on “password”" in bad.body["detail"]
    refused = AuditEvent.objects.filter(action="scim.request_refused").last()
    assert refused.data["scim_type"] == "invalidFilter" and refused.data["status"] == 400
    assert refused.data["method"] == "GET" and "password" in refused.data["detail"]
    broken = idp.get('Users?filter=userName eq')
    assert broken.status_code == 400 and broken.body["scimType"] == "invalidFilter"


@pytest.mark.django_db
def test_replace_and_patch_change_the_person_as_okta_and_entra_send_them(idp, admin):
    person = idp.post("Users", BARBARA).body
    replaced = idp.put(f"Users/{person['id']}", {**BARBARA, "userName": "barbara@example.com",
                                                 "displayName": "Barbara J."})
    assert replaced.status_code == 200
    user = User.objects.get(pk=person["id"])
    assert (user.email, user.display_name) == ("barbara@example.com", "Barbara J.")
    assert AuditEvent.objects.filter(action="user.email_changed", target_id=person["id"]).exists()

    # Okta: replace without a path; Entra ID: a path, and "False" as a string.
    idp.patch(f"Users/{person['id']}", {"op": "replace", "value": {"displayName": "BJ"}})
    user.refresh_from_db()
    assert user.display_name == "BJ"
    answer = idp.patch(f"Users/{person['id']}", {"op": "Replace", "path": "active", "value": "False"})
    assert answer.status_code == 200 and answer.body["active"] is False
    user.refresh_from_db()
    assert not user.is_active
    idp.patch(f"Users/{person['id']}", {"op": "replace", "path": "active", "value": True})
    user.refresh_from_db()
    assert user.is_active

    for operation, kind in (({"op": "replace", "path": "active", "value": "maybe"}, "invalidValue"),
                            ({"op": "replace", "path": "password", "value": "x"}, "invalidPath"),
                            ({"op": "remove", "path": "displayName"}, "mutability"),
                            ({"op": "move", "path": "displayName"}, "invalidSyntax")):
        refused = idp.patch(f"Users/{person['id']}", operation)
        assert refused.status_code == 400 and refused.body["scimType"] == kind, operation
    user.refresh_from_db()
    assert user.display_name == "BJ" and user.is_active  # refused patches changed nothing
    assert AuditEvent.objects.filter(action="scim.request_refused", data__method="PATCH").count() == 4
    assert idp.call("patch", f"Users/{person['id']}", {"Operations": []}).body["scimType"] == "invalidSyntax"


@pytest.mark.django_db
def test_delete_deactivates_and_keeps_the_record(idp, member):
    gone = idp.delete(f"Users/{member.pk}")
    assert gone.status_code == 204
    member.refresh_from_db()
    assert not member.is_active  # their messages stay part of the record
    assert AuditEvent.objects.filter(action="user.deactivated", target_id=str(member.pk)).exists()
    assert AuditEvent.objects.get(action="scim.user_deleted").data["email"] == member.email
    assert idp.get("Users/999999").status_code == 404
    assert idp.get("Users/999999").body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


@pytest.mark.django_db
def test_groups_map_to_user_groups_and_members_come_and_go(idp, member, other_member):
    created = idp.post("Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                  "displayName": "Trading Desk", "externalId": "g-1",
                                  "members": [{"value": str(member.pk)}]})
    assert created.status_code == 201
    group = UserGroup.objects.get(pk=created.body["id"])
    assert (group.name, group.handle) == ("Trading Desk", "trading-desk")
    assert [m.pk for m in group.members.all()] == [member.pk]

    idp.patch(f"Groups/{group.pk}", {"op": "add", "path": "members",
                                     "value": [{"value": str(other_member.pk)}]})
    assert set(group.members.values_list("pk", flat=True)) == {member.pk, other_member.pk}
    idp.patch(f"Groups/{group.pk}", {"op": "remove", "path": f'members[value eq "{member.pk}"]'})
    assert list(group.members.values_list("pk", flat=True)) == [other_member.pk]
    idp.patch(f"Groups/{group.pk}", {"op": "replace", "path": "displayName", "value": "Desk"})
    group.refresh_from_db()
    assert group.name == "Desk"
    found = idp.get('Groups?filter=displayName eq "desk"').body
    assert [r["id"] for r in found["Resources"]] == [str(group.pk)]
    assert idp.get('Groups?filter=externalId eq "g-1"').body["totalResults"] == 1
    people = idp.get(f"Users/{other_member.pk}").body
    assert people["groups"][0]["value"] == str(group.pk)

    unknown = idp.patch(f"Groups/{group.pk}", {"op": "add", "path": "members",
                                               "value": [{"value": "424242"}]})
    assert unknown.status_code == 400 and "424242" in unknown.body["detail"]
    assert list(group.members.values_list("pk", flat=True)) == [other_member.pk]

    assert idp.delete(f"Groups/{group.pk}").status_code == 204
    assert not UserGroup.objects.filter(pk=group.pk).exists()
    actions = set(AuditEvent.objects.filter(action__startswith="scim.group").values_list("action", flat=True))
    assert actions == {"scim.group_created", "scim.group_updated", "scim.group_deleted"}


@pytest.mark.django_db
def test_only_a_live_token_gets_in(admin, owner, member):
    token, raw = scim_token_create(actor=admin, name="Entra ID")
    anonymous = Client().get("/scim/v2/Users")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == 'Bearer realm="scim"'
    assert json.loads(anonymous.content)["status"] == "401"
    api_token = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(member)}").get("/scim/v2/Users")
    assert api_token.status_code == 401  # a person's API token is not a SCIM token
    assert ScimClient(raw).get("Users").status_code == 200
    scim_token_revoke(actor=owner, token_id=token.pk)
    assert ScimClient(raw).get("Users").status_code == 401
    # A token stops when its admin is no longer one.
    _, other = scim_token_create(actor=admin, name="Keycloak")
    admin.role = "member"
    admin.save()
    assert ScimClient(other).get("Users").status_code == 401
    # Members may not make tokens.
    from core.errors import Forbidden

    with pytest.raises(Forbidden):
        scim_token_create(actor=member, name="mine")


@pytest.mark.django_db
def test_the_command_prints_a_token_that_works(owner):
    out = io.StringIO()
    call_command("create_scim_token", "--name", "Okta", stdout=out)
    raw = out.getvalue().strip()
    assert raw.startswith("scim_")
    config = ScimClient(raw).get("ServiceProviderConfig").body
    assert config["patch"]["supported"] is True and config["filter"]["supported"] is True
    assert {r["id"] for r in ScimClient(raw).get("ResourceTypes").body["Resources"]} == {"User", "Group"}
    assert ScimExternalId.objects.count() == 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("servers_settled")
def test_active_false_closes_the_persons_open_socket_within_a_second(daphne_pair, admin):
    import urllib.request

    ben = make_user(name="Ben Okafor")
    _, raw = scim_token_create(actor=admin, name="Okta")
    bearer = token_for(ben)
    socket = Socket(daphne_pair[0].ws_url, token=bearer)
    request = urllib.request.Request(
        f"{daphne_pair[1].url}/scim/v2/Users/{ben.pk}", method="PATCH",
        data=json.dumps({"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "active", "value": False}]}).encode(),
        headers={"Authorization": f"Bearer {raw}", "Content-Type": SCIM})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and json.loads(response.read())["active"] is False
    notice = socket.next("error", timeout=5)
    with pytest.raises(ConnectionClosed):
        socket.next("anything", timeout=5)
    assert notice["code"] == "deactivated" and socket.ws.close_code == 4003
    # And the next request with their token is refused.
    refused = Client(HTTP_AUTHORIZATION=f"Bearer {bearer}").get("/api/v1/me/")
    assert refused.status_code == 401

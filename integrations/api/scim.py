"""SCIM 2.0 at /scim/v2/ (RFC 7643 resources, RFC 7644 protocol; docs/identity.md):
Users and Groups for an identity provider holding a SCIM token. Thin: read the body, call
integrations.services.scim, answer as `application/scim+json`; every error is a SCIM
error body (`urn:ietf:params:scim:api:messages:2.0:Error`) with its `scimType`."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from accounts.authentication import parse_bearer
from accounts.models import User
from core.errors import Conflict, InvalidInput, NotFound, TeamchatError
from integrations.models import ScimExternalId, ScimToken
from integrations.scim_filter import Attributes, scim_filter
from integrations.services import scim as services
from messaging.models import UserGroup

CONTENT_TYPE = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
MAX_COUNT = 200
MAX_BODY = 1024 * 1024


def _answer(body: Any, status: int = 200, location: str | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    if location:
        response["Location"] = location
    return response


def _error(status: int, detail: str, scim_type: str | None = None) -> HttpResponse:
    body = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return _answer(body, status)


def scim_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A SCIM token in `Authorization: Bearer`, and every error as SCIM's error body."""
    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        raw = parse_bearer(request.META.get("HTTP_AUTHORIZATION", ""))
        token = services.scim_token_authenticate(raw) if raw else None
        if token is None:
            response = _error(401, "A valid SCIM token is required (Authorization: Bearer scim_...).")
            response["WWW-Authenticate"] = 'Bearer realm="scim"'
            return response
        try:
            return view(request, token, *args, **kwargs)
        except NotFound as error:
            return _error(404, error.detail)
        except Conflict as error:
            return _refused(request, token, _error(409, error.detail, "uniqueness"))
        except InvalidInput as error:
            kind = error.code if error.code in ("invalidFilter", "invalidPath", "invalidSyntax",
                                                "noTarget", "mutability") else "invalidValue"
            return _refused(request, token, _error(400, error.detail, kind))
        except TeamchatError as error:
            return _refused(request, token, _error(error.status_code, error.detail))

    return wrapped


def _refused(request: HttpRequest, token: ScimToken, response: HttpResponse) -> HttpResponse:
    """A refused request, in the audit log: what the identity provider asked and why not."""
    body = json.loads(response.content)
    services.scim_request_refused(token=token, method=request.method or "", path=request.path,
                                  status=response.status_code, scim_type=body.get("scimType", ""),
                                  detail=body["detail"])
    return response


def _body(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY:
        raise InvalidInput("The body is larger than 1 MiB.", code="invalidSyntax")
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as error:
        raise InvalidInput(f"The body is not JSON: {error}.", code="invalidSyntax") from None
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.", code="invalidSyntax")
    return body


def _base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/scim/v2")


def _external_ids(resource: str, ids: list[int]) -> dict[int, str]:
    return dict(ScimExternalId.objects.filter(resource=resource, local_id__in=ids)
                .values_list("local_id", "external_id"))


# --- Users ------------------------------------------------------------------------------

def user_resource(request: HttpRequest, user: User, external_id: str | None) -> dict[str, Any]:
    given, _, family = (user.full_name or "").partition(" ")
    resource = {
        "schemas": [USER], "id": str(user.pk), "userName": user.email,
        "name": {"formatted": user.full_name or user.display_name, "givenName": given,
                 "familyName": family},
        "displayName": user.display_name,
        "emails": [{"value": user.email, "type": "work", "primary": True}],
        "active": user.is_active,
        "groups": [{"value": str(g.pk), "display": g.name, "$ref": f"{_base(request)}/Groups/{g.pk}"}
                   for g in user.user_groups.all()],
        "meta": {"resourceType": "User", "created": user.date_joined.isoformat(),
                 "location": f"{_base(request)}/Users/{user.pk}"},
    }
    if external_id:
        resource["externalId"] = external_id
    return resource


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):  # Entra ID sends "False"
        return value.lower() == "true"
    raise InvalidInput(f"{name} must be true or false.", code="invalidValue")


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string.", code="invalidValue")
    return value


def _person_fields(body: dict[str, Any],
                   fields: services.PersonFields | None = None) -> services.PersonFields:
    """The User attributes teamchat keeps, from a resource (or a PATCH value)."""
    fields = fields or services.PersonFields()
    lower = {key.lower(): value for key, value in body.items()}
    if "username" in lower:
        fields.email = _text(lower["username"], "userName")
        fields.given.add("userName")
    elif "emails" in lower and isinstance(lower["emails"], list) and lower["emails"]:
        primary = next((e for e in lower["emails"] if isinstance(e, dict) and e.get("primary")),
                       lower["emails"][0])
        if isinstance(primary, dict) and "value" in primary:
            fields.email = _text(primary["value"], "emails.value")
            fields.given.add("emails")
    if "displayname" in lower:
        fields.display_name = _text(lower["displayname"], "displayName")
        fields.given.add("displayName")
    name = lower.get("name")
    if isinstance(name, dict):
        parts = {key.lower(): value for key, value in name.items()}
        formatted = parts.get("formatted") or " ".join(
            p for p in (parts.get("givenname"), parts.get("familyname")) if isinstance(p, str) and p)
        fields.full_name = _text(formatted or "", "name.formatted")
        fields.display_name = fields.display_name or fields.full_name or None
        fields.given.add("name")
    for key, attribute in (("name.givenname", "given"), ("name.familyname", "family")):
        if key in lower:  # PATCH replace without a path sends these flat
            given, family = [*(fields.full_name or "").split(" ", 1), ""][:2]
            value = _text(lower[key], key)
            fields.full_name = (f"{value} {family}" if attribute == "given" else f"{given} {value}").strip()
            fields.given.add("name")
    if "active" in lower:
        fields.active = _flag(lower["active"], "active")
        fields.given.add("active")
    if "externalid" in lower:
        fields.external_id = _text(lower["externalid"] or "", "externalId")
        fields.given.add("externalId")
    return fields


def _user_filter_attributes() -> Attributes:
    def external(lookup: str, value: object) -> Q:
        ids = ScimExternalId.objects.filter(resource="user", **{f"external_id__{lookup}": value})
        return Q(pk__in=ids.values("local_id"))

    return {
        "username": lambda lookup, value: Q(**{f"email__{lookup}": value}),
        "emails.value": lambda lookup, value: Q(**{f"email__{lookup}": value}),
        "emails": lambda lookup, value: Q(**{f"email__{lookup}": value}),
        "displayname": lambda lookup, value: Q(**{f"display_name__{lookup}": value}),
        "name.formatted": lambda lookup, value: Q(**{f"full_name__{lookup}": value}),
        "active": lambda lookup, value: Q(**{f"is_active__{lookup}": value}),
        "id": lambda lookup, value: Q(**{f"pk__{'exact' if lookup == 'iexact' else lookup}": value}),
        "externalid": external,
        "meta.created": lambda lookup, value: Q(**{f"date_joined__{lookup}": value}),
    }


def _page(request: HttpRequest, rows: QuerySet, render: Callable[[list[Any]], list[dict]]) -> HttpResponse:
    try:
        start = max(1, int(request.GET.get("startIndex", 1)))
        count = min(MAX_COUNT, max(0, int(request.GET.get("count", 100))))
    except ValueError:
        raise InvalidInput("startIndex and count must be whole numbers.", code="invalidValue") from None
    total = rows.count()
    chosen = list(rows[start - 1:start - 1 + count])
    return _answer({"schemas": [LIST], "totalResults": total, "startIndex": start,
                    "itemsPerPage": len(chosen), "Resources": render(chosen)})


@scim_view
def users(request: HttpRequest, token: ScimToken) -> HttpResponse:
    if request.method == "POST":
        user = services.scim_user_create(token=token, fields=_person_fields(_body(request)))
        resource = user_resource(request, user, _external_ids("user", [user.pk]).get(user.pk))
        return _answer(resource, 201, location=resource["meta"]["location"])
    if request.method != "GET":
        return _error(405, "Users takes GET and POST.")
    rows = User.objects.filter(is_bot=False).prefetch_related("user_groups").order_by("pk")
    if request.GET.get("filter"):
        rows = rows.filter(scim_filter(request.GET["filter"], _user_filter_attributes()))

    def render(chosen: list[User]) -> list[dict]:
        external = _external_ids("user", [u.pk for u in chosen])
        return [user_resource(request, u, external.get(u.pk)) for u in chosen]

    return _page(request, rows, render)


def _patch_operations(body: dict[str, Any]) -> list[dict[str, Any]]:
    if PATCH not in (body.get("schemas") or []):
        raise InvalidInput(f"A PATCH body names the schema {PATCH}.", code="invalidSyntax")
    operations = body.get("Operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidInput("A PATCH body lists its Operations.", code="invalidSyntax")
    for operation in operations:
        if not isinstance(operation, dict) or str(operation.get("op", "")).lower() not in ("add", "remove",
                                                                                           "replace"):
            raise InvalidInput("Each operation's op is add, remove or replace.", code="invalidSyntax")
    return operations


@scim_view
def user(request: HttpRequest, token: ScimToken, user_id: str) -> HttpResponse:
    if request.method == "GET":
        found = services.scim_person(user_id)
    elif request.method == "PUT":
        found = services.scim_user_update(token=token, user_id=user_id,
                                          fields=_person_fields(_body(request)))
    elif request.method == "PATCH":
        fields = services.PersonFields()
        for operation in _patch_operations(_body(request)):
            op, where, value = operation["op"].lower(), operation.get("path"), operation.get("value")
            if op == "remove":
                raise InvalidInput("Removing a person's attributes is not supported; replace them.",
                                   code="mutability")
            if where:
                if not isinstance(where, str) or "[" in where:
                    raise InvalidInput(f"Cannot patch the path “{where}”.", code="invalidPath")
                value = {where: value}
            if not isinstance(value, dict):
                raise InvalidInput("A patch without a path takes an object of attributes.",
                                   code="invalidValue")
            _person_fields(value, fields)
            unknown = {k for k in value if k.lower() not in (
                "username", "emails", "displayname", "name", "name.givenname", "name.familyname",
                "active", "externalid", "schemas", "id")}
            if unknown:
                raise InvalidInput(f"Cannot patch {', '.join(sorted(unknown))}.", code="invalidPath")
        found = services.scim_user_update(token=token, user_id=user_id, fields=fields)
    elif request.method == "DELETE":
        services.scim_user_delete(token=token, user_id=user_id)
        return HttpResponse(status=204)
    else:
        return _error(405, "A User takes GET, PUT, PATCH and DELETE.")
    return _answer(user_resource(request, found, _external_ids("user", [found.pk]).get(found.pk)))


# --- Groups -----------------------------------------------------------------------------

def group_resource(request: HttpRequest, group: UserGroup, external_id: str | None) -> dict[str, Any]:
    resource = {
        "schemas": [GROUP], "id": str(group.pk), "displayName": group.name,
        "members": [{"value": str(u.pk), "display": u.display_name,
                     "$ref": f"{_base(request)}/Users/{u.pk}"} for u in group.members.all()],
        "meta": {"resourceType": "Group", "created": group.created_at.isoformat(),
                 "location": f"{_base(request)}/Groups/{group.pk}"},
    }
    if external_id:
        resource["externalId"] = external_id
    return resource


def _member_ids(value: Any) -> list[Any]:
    if not isinstance(value, list) or not all(isinstance(m, dict) and "value" in m for m in value):
        raise InvalidInput("members is a list of {\"value\": id}.", code="invalidValue")
    return [str(m["value"]) for m in value]


@scim_view
def groups(request: HttpRequest, token: ScimToken) -> HttpResponse:
    if request.method == "POST":
        body = {k.lower(): v for k, v in _body(request).items()}
        group = services.scim_group_create(token=token, name=body.get("displayname"),
                                           member_ids=_member_ids(body.get("members", [])),
                                           external_id=body.get("externalid"))
        resource = group_resource(request, group, _external_ids("group", [group.pk]).get(group.pk))
        return _answer(resource, 201, location=resource["meta"]["location"])
    if request.method != "GET":
        return _error(405, "Groups takes GET and POST.")
    rows = UserGroup.objects.prefetch_related("members").order_by("pk")
    if request.GET.get("filter"):
        def external(lookup: str, value: object) -> Q:
            ids = ScimExternalId.objects.filter(resource="group", **{f"external_id__{lookup}": value})
            return Q(pk__in=ids.values("local_id"))

        rows = rows.filter(scim_filter(request.GET["filter"], {
            "displayname": lambda lookup, value: Q(**{f"name__{lookup}": value}),
            "externalid": external,
            "members.value": lambda lookup, value: Q(
                **{f"members__pk__{'exact' if lookup == 'iexact' else lookup}": value}),
            "id": lambda lookup, value: Q(**{f"pk__{'exact' if lookup == 'iexact' else lookup}": value}),
        })).distinct()

    def render(chosen: list[UserGroup]) -> list[dict]:
        external = _external_ids("group", [g.pk for g in chosen])
        return [group_resource(request, g, external.get(g.pk)) for g in chosen]

    return _page(request, rows, render)


def _member_path(where: str) -> str | None:
    """`members[value eq "12"]` -> "12"."""
    import re

    match = re.fullmatch(r'\s*members\s*\[\s*value\s+eq\s+"([^"]+)"\s*\]\s*', where, re.IGNORECASE)
    return match.group(1) if match else None


@scim_view
def group(request: HttpRequest, token: ScimToken, group_id: str) -> HttpResponse:
    if request.method == "GET":
        found = services.scim_group(group_id)
    elif request.method == "PUT":
        body = {k.lower(): v for k, v in _body(request).items()}
        found = services.scim_group_update(token=token, group_id=group_id, name=body.get("displayname"),
                                           member_ids=_member_ids(body.get("members", [])),
                                           external_id=body.get("externalid"))
    elif request.method == "PATCH":
        name, members, add, remove = None, None, [], []
        for operation in _patch_operations(_body(request)):
            op, where, value = operation["op"].lower(), (operation.get("path") or ""), operation.get("value")
            target = where.lower().strip()
            if target == "members":
                if op == "add":
                    add += _member_ids(value)
                elif op == "replace":
                    members = _member_ids(value)
                else:
                    remove += _member_ids(value) if value else [m.pk for m in services.scim_group(group_id)
                                                                .members.all()]
            elif (member := _member_path(where)) is not None and op == "remove":
                remove.append(member)
            elif target == "displayname" and op in ("add", "replace"):
                name = _text(value, "displayName")
            elif not target and op in ("add", "replace") and isinstance(value, dict):
                lower = {k.lower(): v for k, v in value.items()}
                if "displayname" in lower:
                    name = _text(lower["displayname"], "displayName")
                if "members" in lower:
                    add += _member_ids(lower["members"]) if op == "add" else []
                    members = _member_ids(lower["members"]) if op == "replace" else members
            else:
                raise InvalidInput(f"Cannot {op} the path “{where}” of a Group.", code="invalidPath")
        found = services.scim_group_update(token=token, group_id=group_id, name=name, member_ids=members,
                                           add=add, remove=remove)
    elif request.method == "DELETE":
        services.scim_group_delete(token=token, group_id=group_id)
        return HttpResponse(status=204)
    else:
        return _error(405, "A Group takes GET, PUT, PATCH and DELETE.")
    return _answer(group_resource(request, found, _external_ids("group", [found.pk]).get(found.pk)))


# --- Discovery --------------------------------------------------------------------------

@scim_view
def service_provider_config(request: HttpRequest, token: ScimToken) -> HttpResponse:
    return _answer({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": "docs/identity.md",
        "patch": {"supported": True}, "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_COUNT},
        "changePassword": {"supported": False}, "sort": {"supported": False}, "etag": {"supported": False},
        "authenticationSchemes": [{"type": "oauthbearertoken", "name": "SCIM token",
                                   "description": "A token an admin made in the console or with "
                                                  "manage.py create_scim_token.", "primary": True}],
    })


@scim_view
def resource_types(request: HttpRequest, token: ScimToken) -> HttpResponse:
    types = [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": name,
              "name": name, "endpoint": f"/{name}s", "schema": schema}
             for name, schema in (("User", USER), ("Group", GROUP))]
    return _answer({"schemas": [LIST], "totalResults": 2, "startIndex": 1, "itemsPerPage": 2,
                    "Resources": types})


urlpatterns = [
    path("ServiceProviderConfig", service_provider_config, name="scim-config"),
    path("ResourceTypes", resource_types, name="scim-resource-types"),
    path("Users", users, name="scim-users"),
    path("Users/<str:user_id>", user, name="scim-user"),
    path("Groups", groups, name="scim-groups"),
    path("Groups/<str:group_id>", group, name="scim-group"),
]

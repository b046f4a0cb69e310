"""The web client's page: the JavaScript modules it announces, and the answers of its
first API requests, sent with it.

A browser learns a module's imports only once the module has arrived, so a graph three
levels deep costs three round trips before the client runs. The page lists every module
of the graph up front (`<link rel="modulepreload">`), and the browser fetches them all at
once. The list is read from the modules' own static `import ... from "./x.js"` lines, so
it cannot drift from the code.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import Any

from django.contrib.staticfiles import finders
from django.http import HttpRequest, QueryDict
from django.urls import resolve

_STATIC_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;'"]*?\bfrom\s*["'](\.{1,2}/[^"']+\.js)["']""",
                            re.MULTILINE)
_BARE_IMPORT = re.compile(r"""^\s*import\s*["'](\.{1,2}/[^"']+\.js)["']""", re.MULTILINE)


@cache
def module_graph(entry: str) -> tuple[str, ...]:
    """Every module `entry` (a static path such as "js/app.js") imports, directly or not,
    as static paths, the entry first. Dynamic `import()`s are left out: they load on use."""
    seen: list[str] = []
    pending = [entry]
    while pending:
        path = pending.pop(0)
        if path in seen:
            continue
        seen.append(path)
        found = finders.find(path)
        if not found:
            raise FileNotFoundError(f"static module {path} is imported but does not exist")
        with open(found, encoding="utf-8") as source:
            text = source.read()
        base = PurePosixPath(path).parent
        for target in _STATIC_IMPORT.findall(text) + _BARE_IMPORT.findall(text):
            pending.append(_normalise(base / target))
    return tuple(seen)


def _normalise(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def first_answers(request: HttpRequest, paths: list[str]) -> dict[str, Any]:
    """What GET /api/v1/<path> answers the person making `request`, for each path, computed
    within this request by the same views: the web client's first screen arrives with its
    page instead of after six more requests (each a turn on daphne's one thread for
    synchronous views). A path whose view answers anything but 200 is left out; the
    client then asks for it as usual and shows what it says."""
    answers: dict[str, Any] = {}
    for path in paths:
        location, _, query = path.partition("?")
        url = f"/api/v1/{location}"
        match = resolve(url)
        inner = copy.copy(request)
        inner.path = inner.path_info = url
        inner.GET = QueryDict(query)
        inner.META = {**request.META, "PATH_INFO": url, "QUERY_STRING": query,
                      "HTTP_ACCEPT": "application/json", "REQUEST_METHOD": "GET"}
        inner.method = "GET"
        response = match.func(inner, *match.args, **match.kwargs)
        if response.status_code == HTTPStatus.OK:
            answers[path] = response.data
    return answers

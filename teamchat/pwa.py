"""The installable app: its web app manifest, its service worker and the page shown
offline (docs/notifications.md, "Push notifications").

The service worker is served from the site's root (`/sw.js`) so that its scope is the
whole app. It caches the client's static files under a name made from a hash of their
contents: a release that changes any of them brings a new worker, which fills a new cache
and deletes the old one."""

from __future__ import annotations

import hashlib
import json
from functools import cache

from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from core.client import module_graph

# The manifest holds one theme colour (the light one); templates/pwa/head.html gives
# browsers the light and the dark one.
THEME_LIGHT = "#2f5bd3"
OFFLINE_URL = "/offline"
ICON = "icons/teamchat-192.png"

_SHELL = ("css/app.css", "css/calls.css", "css/viewer.css", "css/pages.css", "favicon.svg",
          "icons.svg", ICON, "icons/teamchat-512.png", "icons/teamchat-192-maskable.png",
          "icons/teamchat-512-maskable.png", "js/boot.js")


@cache
def shell_files() -> tuple[str, ...]:
    """The static files the worker keeps for the app to start offline: the client's
    modules (the import graph the page preloads), its styles and icons."""
    return tuple(dict.fromkeys((*module_graph("js/app.js"), *_SHELL)))  # Cache.addAll refuses repeats


@cache
def shell_version() -> str:
    """A hash of the shell's contents and of the worker itself: it changes with any release
    that changes one of them, and only then."""
    digest = hashlib.sha256()
    for path in shell_files():
        found = finders.find(path)
        if found:
            with open(found, "rb") as source:
                digest.update(path.encode() + b"\0" + source.read())
    digest.update(render_to_string("pwa/sw.js", {}).encode())
    return digest.hexdigest()[:16]


@require_GET
@cache_control(no_cache=True)
def service_worker(request: HttpRequest) -> HttpResponse:
    precache = [OFFLINE_URL, *(static(path) for path in shell_files())]
    body = render_to_string("pwa/sw.js", {
        "version": shell_version(), "precache": json.dumps(precache),
        "offline": json.dumps(OFFLINE_URL), "icon": json.dumps(static(ICON))})
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
@cache_control(max_age=3600)
def manifest(request: HttpRequest) -> HttpResponse:
    icons = [{"src": static(f"icons/teamchat-{size}.png"), "sizes": f"{size}x{size}",
              "type": "image/png", "purpose": "any"} for size in (192, 512)]
    icons += [{"src": static(f"icons/teamchat-{size}-maskable.png"), "sizes": f"{size}x{size}",
               "type": "image/png", "purpose": "maskable"} for size in (192, 512)]
    body = {
        "id": "/", "name": "teamchat", "short_name": "teamchat",
        "description": "Team chat: channels, direct messages, threads and calls.",
        "start_url": "/", "scope": "/", "display": "standalone",
        "background_color": "#ffffff", "theme_color": THEME_LIGHT, "icons": icons,
    }
    return JsonResponse(body, content_type="application/manifest+json")


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "pwa/offline.html")

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from core.metrics import metrics_view
from teamchat import pwa
from teamchat.health import healthz

handler400 = "teamchat.views.bad_request"
handler404 = "teamchat.views.not_found"
handler500 = "teamchat.views.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    # The installable app: at the root, so the service worker's scope is the whole site.
    path("sw.js", pwa.service_worker, name="service-worker"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("offline", pwa.offline, name="offline"),
    path("admin/", admin.site.urls),
    path("console/", include("integrations.urls")),
    path("console/", include("compliance.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Redoc styles itself with inline <style> elements; only this page allows them.
    path("api/docs/", csp_update({"style-src": ["'unsafe-inline'"]})(
        SpectacularRedocView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/v1/", include("teamchat.api_urls")),
    path("scim/v2/", include("integrations.api.scim")),
    path("", include("accounts.urls")),
    path("", include("messaging.urls")),
]

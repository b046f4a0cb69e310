"""Every REST route under /api/v1/, gathered from the apps."""

from django.urls import include, path

urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("messaging.api.urls")),
    path("", include("files.api.urls")),
    path("", include("integrations.api.urls")),
    path("", include("calls.api.urls")),
    path("", include("e2ee.api.urls")),
    path("", include("compliance.api.urls")),
]

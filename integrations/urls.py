from django.urls import path

from integrations import views

app_name = "integrations_console"

# Console pages that integrations serve, under /console/ (teamchat/urls.py).
urlpatterns = [
    path("import/", views.slack_import, name="slack_import"),
    path("import/progress/", views.slack_import_progress, name="slack_import_progress"),
    path("import/<int:run_id>/resume/", views.slack_import_resume, name="slack_import_resume"),
    path("identity/", views.identity_sources, name="identity_sources"),
    path("identity/ldap/sync/", views.ldap_sync_now, name="ldap_sync_now"),
]

from django.urls import path

from integrations import views

app_name = "integrations_console"

urlpatterns = [
    path("", views.slack_import, name="slack_import"),
    path("progress/", views.slack_import_progress, name="slack_import_progress"),
    path("<int:run_id>/resume/", views.slack_import_resume, name="slack_import_resume"),
]

from django.urls import path

from compliance import views

app_name = "console"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("audit/", views.audit_log, name="audit"),
    path("audit/verify/", views.audit_verify, name="audit_verify"),
    path("audit/verify/<int:verification_id>/progress/", views.audit_verification_progress,
         name="audit_verification_progress"),
    path("retention/", views.retention, name="retention"),
    path("retention/<int:conversation_id>/clear/", views.retention_clear, name="retention_clear"),
    path("holds/", views.holds, name="holds"),
    path("holds/<int:hold_id>/release/", views.hold_release, name="hold_release"),
    path("exports/", views.exports, name="exports"),
    path("exports/progress/", views.exports_progress, name="exports_progress"),
    path("exports/<int:export_id>/download/<str:token>/", views.export_download,
         name="export_download"),
    path("supervision/", views.supervision, name="supervision"),
    path("supervision/policies/<int:policy_id>/", views.supervision_policy, name="supervision_policy"),
    path("supervision/policies/<int:policy_id>/export/", views.supervision_export,
         name="supervision_export"),
    path("supervision/items/<int:item_id>/", views.supervision_item, name="supervision_item"),
    path("people/", views.people, name="people"),
    path("people/invite/", views.person_invite, name="person_invite"),
    path("people/<int:user_id>/role/", views.person_role, name="person_role"),
    path("people/<int:user_id>/active/", views.person_active, name="person_active"),
    path("people/<int:user_id>/export/", views.person_subject_export, name="person_export"),
    path("people/<int:user_id>/two-factor/reset/", views.person_two_factor_reset,
         name="person_two_factor_reset"),
    path("settings/", views.organisation_settings, name="settings"),
    path("people/<int:user_id>/erase/", views.person_erase, name="person_erase"),
]

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("accounts/login/", views.SignInView.as_view(), name="login"),
    path("accounts/logout/", views.SignOutView.as_view(), name="logout"),
    path("accounts/password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("accounts/password/reset/sent/", views.PasswordResetDoneView.as_view(),
         name="password_reset_done"),
    path("accounts/password/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("accounts/password/reset/complete/", views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    path("accounts/2fa/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("accounts/2fa/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("accounts/2fa/disable/", views.two_factor_disable, name="two_factor_disable"),
    path("accounts/2fa/recovery-codes/", views.recovery_codes_regenerate,
         name="recovery_codes_regenerate"),
    path("accounts/sessions/<int:session_id>/end/", views.session_end, name="session_end"),
    path("accounts/sessions/end-others/", views.sessions_end_others, name="sessions_end_others"),
    path("oidc/authenticate/", views.sso_start, name="sso_start"),
    path("oidc/callback/", views.sso_callback, name="sso_callback"),
    path("saml/metadata/", views.saml_metadata, name="saml_metadata"),
    path("saml/login/", views.saml_login, name="saml_login"),
    path("saml/acs/", views.saml_acs, name="saml_acs"),
    path("saml/sls/", views.saml_sls, name="saml_sls"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("profile/", views.profile, name="profile"),
    path("avatars/<int:user_id>", views.avatar, name="avatar"),
    path("profile/avatar/", views.avatar_upload, name="avatar_upload"),
    path("profile/tokens/", views.token_create, name="token_create"),
    path("profile/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]

"""Forms of the server-rendered account pages. They validate; services write."""

from __future__ import annotations

import zoneinfo

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm

from accounts.models import Role


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an active account.",
    }

    def get_invalid_login_error(self) -> forms.ValidationError:
        # A backend that could not reach the server holding the password (the LDAP
        # directory, integrations/ldap_auth.py) says so on the request: the password may
        # well be right, and the person should hear that it could not be checked.
        reason = getattr(self.request, "sign_in_unavailable", "")
        if reason:
            return forms.ValidationError(reason, code="unavailable")
        return super().get_invalid_login_error()


class QueuedPasswordResetForm(PasswordResetForm):
    """Password reset whose email goes out from the background worker, not the request."""

    def send_mail(self, subject_template_name, email_template_name, context,
                  from_email, to_email, html_email_template_name=None) -> None:
        from django.template import loader

        from accounts.tasks import send_plain_email

        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        send_plain_email.delay(subject, body, to_email)


class InvitationNameForm(forms.Form):
    """Joining where password sign-in is off: a name; sign-in is the identity provider's."""

    display_name = forms.CharField(max_length=80, label="Your name as others will see it")


class InvitationAcceptForm(InvitationNameForm):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password_again = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}), label="Password again"
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


def _timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ProfileForm(forms.Form):
    display_name = forms.CharField(max_length=80)
    full_name = forms.CharField(max_length=150, required=False)
    title = forms.CharField(max_length=100, required=False)
    timezone = forms.ChoiceField(choices=_timezone_choices)
    status_text = forms.CharField(max_length=100, required=False, label="Status")
    status_emoji = forms.CharField(max_length=32, required=False, label="Status emoji")


class AvatarForm(forms.Form):
    avatar = forms.ImageField()


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, label="Token name")


class InviteForm(forms.Form):
    email = forms.EmailField()
    # Member first and chosen: an admin picks a role with more rights on purpose (issue 34).
    role = forms.ChoiceField(
        choices=[(r.value, r.label) for r in (Role.MEMBER, Role.GUEST, Role.ADMIN, Role.COMPLIANCE)],
        initial=Role.MEMBER)


class TwoFactorCodeForm(forms.Form):
    code = forms.CharField(max_length=20, label="Code from your authenticator app (or a recovery code)",
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code",
                                                         "inputmode": "text", "autofocus": True}))

"""Server-rendered account pages: sign-in, invitations, profile and tokens. Thin doors."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import avatars, saml, selectors, services
from accounts.backends import SSO_ONLY_MESSAGE
from accounts.forms import (
    AvatarForm,
    EmailAuthenticationForm,
    InvitationAcceptForm,
    InvitationNameForm,
    ProfileForm,
    QueuedPasswordResetForm,
    TokenCreateForm,
    TwoFactorCodeForm,
)
from accounts.models import User
from accounts.signals import client_ip
from core import ratelimit
from core.errors import TeamchatError

PENDING_KEY = "two_factor_pending"
SAML_SESSION_KEY = "saml"
PENDING_SECONDS = 300


def sign_in_choices(request: HttpRequest) -> dict[str, object]:
    """What the sign-in page offers: the password form (unless turned off, when it is
    folded away for the break-glass owner), OpenID Connect, SAML."""
    return {
        # With LDAP the form takes directory passwords, whatever teamchat's own do.
        "password_sign_in": (settings.PASSWORD_SIGN_IN or settings.LDAP_ENABLED
                             or not services.identity_provider_configured()),
        "sso_enabled": settings.OIDC_ENABLED, "sso_label": settings.OIDC_BUTTON_LABEL,
        "sso_failed": request.GET.get("sso") == "failed",
        "saml_enabled": settings.SAML_ENABLED, "saml_label": settings.SAML_BUTTON_LABEL,
    }


class SignInView(auth_views.LoginView):
    """Email and password; then, for people with an authenticator, a second step. Too
    many failures lock the account for a while (doubling), and each address is limited."""

    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), **sign_in_choices(self.request)}

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        ratelimit.enforce("signin", client_ip(request), settings.RATE_LIMIT_SIGN_IN,
                          "sign-in attempts")
        email = request.POST.get("username", "")
        # With LDAP the directory may still take this password (integrations/ldap_auth.py);
        # the password backend refuses teamchat's own for everyone but the break-glass owner.
        if not settings.LDAP_ENABLED and not services.password_sign_in_allowed(email=email):
            services.sign_in_failure_record(email=email, ip_address=client_ip(request))
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, SSO_ONLY_MESSAGE)
            return self.render_to_response(self.get_context_data(form=form), status=403)
        locked = services.sign_in_locked_for(email=request.POST.get("username", ""))
        if locked:
            form = self.get_form()
            form.errors.clear()
            form.add_error(None, f"Too many failed attempts. Try again in {locked} seconds.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.get_user()
        if services.two_factor_enabled(user):
            # Not signed in yet: only the pending step is remembered, in this session.
            self.request.session[PENDING_KEY] = {"user": user.pk, "backend": user.backend,
                                                 "at": time.time(), "next": self.get_success_url()}
            return redirect("accounts:two_factor_verify")
        return super().form_valid(form)


def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator, or a recovery code."""
    pending = request.session.get(PENDING_KEY)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        messages.error(request, "Sign in again, then enter your code within five minutes.")
        return redirect("accounts:login")
    user = User.objects.filter(pk=pending["user"], is_active=True).first()
    if user is None:
        return redirect("accounts:login")
    if request.method == "POST":
        # Beside the account's lock-out, each address is limited across accounts.
        ratelimit.enforce("two_factor", client_ip(request), settings.RATE_LIMIT_TWO_FACTOR,
                          "codes")
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.two_factor_verify(user=user, code=form.cleaned_data["code"])
        except TeamchatError as error:
            form.add_error("code", error.detail)
        else:
            request.session.pop(PENDING_KEY, None)
            login(request, user, backend=pending["backend"])
            return redirect(pending["next"] if url_has_allowed_host_and_scheme(
                pending["next"], allowed_hosts={request.get_host()}) else "/")
    return render(request, "accounts/two_factor_verify.html", {"form": form})


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Turn on two-factor authentication: scan the code, confirm with a first code."""
    if services.two_factor_enabled(request.user):
        return redirect("accounts:profile")
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.two_factor_confirm(user=request.user, code=form.cleaned_data["code"])
        except TeamchatError as error:
            form.add_error("code", error.detail)
        else:
            return render(request, "accounts/recovery_codes.html", {"codes": codes})
    _, uri = services.two_factor_begin(user=request.user)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, dark="#1d2330")
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    return render(request, "accounts/two_factor_setup.html", {
        "form": form, "qr": qr, "secret": secret,
        "required": services.two_factor_required(request.user)})


@login_required
@require_POST
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    try:
        services.two_factor_disable(user=request.user, code=request.POST.get("code", ""))
    except TeamchatError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, "Two-factor authentication is off.")
    return redirect("accounts:profile")


@login_required
@require_POST
def recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    try:
        codes = services.recovery_codes_regenerate(user=request.user,
                                                   code=request.POST.get("code", ""))
    except TeamchatError as error:
        messages.error(request, error.detail)
        return redirect("accounts:profile")
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@login_required
@require_POST
def session_end(request: HttpRequest, session_id: int) -> HttpResponse:
    services.session_end(actor=request.user, session_id=session_id)
    messages.success(request, "That session is signed out.")
    return redirect("accounts:profile")


@login_required
@require_POST
def sessions_end_others(request: HttpRequest) -> HttpResponse:
    ended = services.sessions_end(user_id=request.user.pk,
                                  keep_session_key=request.session.session_key)
    messages.success(request, f"Signed out of {ended} other session{'s' if ended != 1 else ''}.")
    return redirect("accounts:profile")


class SignOutView(auth_views.LogoutView):
    """Signs out here; a session signed in by SAML then goes on to the identity provider
    so that its session ends too (single logout), when its metadata offers that."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        signed_in_by_saml = request.session.get(SAML_SESSION_KEY)
        response = super().post(request, *args, **kwargs)
        if signed_in_by_saml and settings.SAML_ENABLED:
            try:
                location = saml.logout_redirect(next_url=settings.SITE_URL + "/accounts/login/",
                                                **signed_in_by_saml)
            except saml.SamlRefused:
                location = None
            if location:
                return redirect(location)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        old_key = self.request.session.session_key
        response = super().form_valid(form)
        # The session's data is stored under its new key now, not when the response
        # leaves: a socket told of the new key below checks it at once.
        self.request.session.save()
        services.session_rekeyed(user_id=self.request.user.pk, old_key=old_key,
                                 new_key=self.request.session.session_key)
        services.password_changed_record(
            user=self.request.user,
            session_key=self.request.session.session_key,
            ip_address=client_ip(self.request),
        )
        messages.success(self.request, "Password changed. Your other sessions were signed out.")
        return response


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/email/password_reset.txt"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    form_class = QueuedPasswordResetForm
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        services.password_reset_record(user=form.user, ip_address=client_ip(self.request))
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    # Where password sign-in is off, joining asks only a name; the person then signs in
    # through the identity provider.
    passwords = services.password_sign_in_allowed()
    form = (InvitationAcceptForm if passwords else InvitationNameForm)(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token,
                display_name=form.cleaned_data["display_name"],
                password=form.cleaned_data.get("password"),
            )
        except TeamchatError as error:
            for field, problems in error.fields.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
            if not error.fields:
                return render(request, "accounts/invitation_invalid.html",
                              {"reason": error.detail}, status=error.status_code)
        else:
            if not passwords:
                messages.success(request, "Your account is ready: sign in with your organisation's "
                                          "single sign-on.")
                return redirect("accounts:login")
            login(request, user, backend="accounts.backends.LockoutModelBackend")
            return redirect("/")
    return render(request, "accounts/invitation_accept.html", {"form": form, "passwords": passwords})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = ProfileForm(
        request.POST or None,
        initial={name: getattr(user, name) for name in services.PROFILE_FIELDS},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.user_profile_update(user=user, **form.cleaned_data)
        except TeamchatError as error:
            form.add_error(None, error.detail)
        else:
            messages.success(request, "Profile saved.")
            return redirect("accounts:profile")
    return render(request, "accounts/profile.html", _profile_context(request, form=form))


def _profile_context(request: HttpRequest, **extra: object) -> dict:
    context = {
        "form": ProfileForm(initial={n: getattr(request.user, n) for n in services.PROFILE_FIELDS}),
        "avatar_form": AvatarForm(),
        "token_form": TokenCreateForm(),
        "tokens": selectors.api_token_list(user=request.user),
        "two_factor": services.two_factor_enabled(request.user),
        "two_factor_required": services.two_factor_required(request.user),
        "recovery_left": selectors.recovery_codes_left(user=request.user),
        "sessions": selectors.session_list(user=request.user),
        "current_session": request.session.session_key,
    }
    context.update(extra)
    return context


@login_required
@require_POST
def avatar_upload(request: HttpRequest) -> HttpResponse:
    form = AvatarForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.user_avatar_set(user=request.user, avatar=form.cleaned_data["avatar"])
        except TeamchatError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, "Avatar updated.")
    else:
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
    return redirect("accounts:profile")


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST)
    new_token = None
    if form.is_valid():
        try:
            _, new_token = services.api_token_create(
                actor=request.user, user=request.user, name=form.cleaned_data["name"]
            )
        except TeamchatError as error:
            form.add_error("name", error.detail)
    return render(
        request,
        "accounts/profile.html",
        _profile_context(request, token_form=form, new_token=new_token),
        status=200 if new_token else 400,
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.api_token_get_for_user(user=request.user, token_id=token_id)
    services.api_token_revoke(actor=request.user, token=token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("accounts:profile")


@login_required
def avatar(request: HttpRequest, user_id: int) -> HttpResponse:
    """A person's avatar, to anyone who may see them in the directory."""
    person = selectors.user_get_for_user(viewer=request.user, user_id=user_id)
    if not person.avatar:
        raise Http404
    response = avatars.avatar_response(person.avatar)
    response["Cache-Control"] = "private, max-age=86400"
    return response


def sso_start(request: HttpRequest) -> HttpResponse:
    """Begin single sign-on (404 when the organisation has not configured it)."""
    from mozilla_django_oidc.views import OIDCAuthenticationRequestView

    if not settings.OIDC_ENABLED:
        raise Http404
    return OIDCAuthenticationRequestView.as_view()(request)


def sso_callback(request: HttpRequest) -> HttpResponse:
    from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

    if not settings.OIDC_ENABLED:
        raise Http404
    return OIDCAuthenticationCallbackView.as_view()(request)


# --- SAML 2.0 (accounts.saml speaks the protocol; accounts.services decides who) -------


def _saml_on() -> None:
    if not settings.SAML_ENABLED:
        raise Http404


def saml_metadata(request: HttpRequest) -> HttpResponse:
    """Our SP metadata, for the identity provider's administrator."""
    _saml_on()
    return HttpResponse(saml.sp_metadata(), content_type="application/samlmetadata+xml")


def saml_login(request: HttpRequest) -> HttpResponse:
    """Begin a SAML sign-in: off to the identity provider with a signed-if-we-can request."""
    _saml_on()
    next_url = request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    try:
        return redirect(saml.login_redirect(next_url))
    except saml.SamlRefused as refused:
        return _saml_refused(request, refused)


def _saml_refused(request: HttpRequest, refused: saml.SamlRefused) -> HttpResponse:
    services.saml_refusal_record(reason=refused.reason, detail=refused.detail,
                                 ip_address=client_ip(request), **refused.data)
    return _saml_error_page(request, refused.detail)


def _saml_error_page(request: HttpRequest, detail: str) -> HttpResponse:
    context = {**sign_in_choices(request), "form": EmailAuthenticationForm(request),
               "saml_error": detail, "next": "/"}
    return render(request, "accounts/login.html", context, status=403)


@csrf_exempt  # the provider's form posts here from its own site; the assertion is the proof
@require_POST
def saml_acs(request: HttpRequest) -> HttpResponse:
    """The assertion consumer service: check the provider's answer, sign the person in."""
    _saml_on()
    try:
        assertion = saml.assertion_accept(request.POST.get("SAMLResponse", ""),
                                          request.POST.get("RelayState", ""))
    except saml.SamlRefused as refused:
        return _saml_refused(request, refused)
    try:
        user = services.saml_sign_in(
            email=assertion.email, name=assertion.name, groups=assertion.groups,
            issuer=assertion.issuer, assertion_id=assertion.assertion_id,
            idp_initiated=assertion.idp_initiated, ip_address=client_ip(request))
    except TeamchatError as error:
        return _saml_error_page(request, error.detail)
    login(request, user, backend="accounts.backends.LockoutModelBackend")
    request.session["auth_method"] = "saml"
    request.session[SAML_SESSION_KEY] = {"name_id": assertion.name_id,
                                         "name_id_format": assertion.name_id_format,
                                         "session_index": assertion.session_index}
    next_url = assertion.next_url
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    return redirect(next_url)


@csrf_exempt  # logout requests and answers come from the provider's site
def saml_sls(request: HttpRequest) -> HttpResponse:
    """Single logout: the provider's LogoutRequest (end this person's sessions here and
    answer), or its answer to ours (then on to the sign-in page)."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT

    _saml_on()
    data = request.POST if request.method == "POST" else request.GET
    binding = BINDING_HTTP_POST if request.method == "POST" else BINDING_HTTP_REDIRECT
    if data.get("SAMLRequest"):
        try:
            logout = saml.logout_request_accept(
                data["SAMLRequest"], binding=binding, relay_state=data.get("RelayState"),
                sigalg=data.get("SigAlg"), signature=data.get("Signature"))
        except saml.SamlRefused as refused:
            return _saml_refused(request, refused)
        services.saml_logout(email=logout.name_id, issuer=logout.issuer,
                             ip_address=client_ip(request))
        return redirect(logout.answer_url)
    if data.get("SAMLResponse"):
        try:
            saml.logout_response_accept(data["SAMLResponse"], binding)
        except saml.SamlRefused as refused:
            return _saml_refused(request, refused)
        return redirect("accounts:login")
    return _saml_error_page(request, "The logout message was empty.")

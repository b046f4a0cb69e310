"""Server-rendered account pages: sign-in, invitations, profile and tokens. Thin doors."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import (
    AvatarForm,
    EmailAuthenticationForm,
    InvitationAcceptForm,
    ProfileForm,
    QueuedPasswordResetForm,
    TokenCreateForm,
)
from accounts.signals import client_ip
from teamchat.errors import TeamchatError


class SignInView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True


class SignOutView(auth_views.LogoutView):
    pass


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        response = super().form_valid(form)
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


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token,
                display_name=form.cleaned_data["display_name"],
                password=form.cleaned_data["password"],
            )
        except TeamchatError as error:
            for field, problems in error.fields.items():
                for problem in problems:
                    form.add_error(field if field in form.fields else None, problem)
            if not error.fields:
                return render(request, "accounts/invitation_invalid.html",
                              {"reason": error.detail}, status=error.status_code)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("/")
    return render(request, "accounts/invitation_accept.html", {"form": form})


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
    from files.delivery import serve

    person = selectors.user_get_for_user(viewer=request.user, user_id=user_id)
    if not person.avatar:
        raise Http404
    response = serve(person.avatar, name="avatar.png", content_type="image/png", download=False)
    response["Cache-Control"] = "private, max-age=86400"
    return response

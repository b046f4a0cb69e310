"""The console at /console/ for owners, admins and compliance officers: server-rendered,
thin doors onto the compliance and accounts services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from functools import wraps
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.forms import InviteForm
from accounts.models import Organisation, Role
from compliance import audit_words, selectors, services
from compliance.checkpoints import public_key_pem
from compliance.forms import (
    AuditFilterForm,
    ExportForm,
    LegalHoldForm,
    OrganisationForm,
    RetentionForm,
    ReviewForm,
    RoleForm,
    SupervisionPolicyForm,
)
from compliance.models import ExportJob, ExportStatus, ReviewStatus
from compliance.services.holds import require_records_role
from compliance.services.stream import configured_collectors
from core.errors import Forbidden, TeamchatError

View = Callable[..., HttpResponse]


def console_view(view: View) -> View:
    """Signed in, and an owner, admin or compliance officer (members and guests get 403)."""
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        require_records_role(request.user, "use the compliance console")
        return view(request, *args, **kwargs)

    return wrapped


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _flash_error(request: HttpRequest, error: TeamchatError) -> None:
    messages.error(request, error.detail)


@console_view
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "console/dashboard.html", {
        "running_exports": selectors.export_list(viewer=request.user).filter(
            status__in=[ExportStatus.PENDING, ExportStatus.RUNNING]).count(),
        "holds": selectors.legal_hold_list(viewer=request.user).filter(released_at__isnull=True).count(),
        "policies": selectors.retention_policy_list(viewer=request.user).count(),
    })


@console_view
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    verification = selectors.audit_verification_list(viewer=request.user).first()
    signing_key = selectors.audit_signing_key_get()
    context = {"form": form, "verification": verification,
               "checkpoint": selectors.audit_checkpoint_latest(), "signing_key": signing_key,
               "public_key_pem": public_key_pem(signing_key.public_key) if signing_key else "",
               "stream_lags": selectors.audit_stream_lag(
                   collectors=[c.name for c in configured_collectors()])}
    if form.is_bound and not form.is_valid():
        # A filter we cannot honour shows nothing, rather than everything unfiltered.
        return render(request, "console/audit.html", context, status=400)
    filters = {k: v for k, v in (form.cleaned_data if form.is_bound else {}).items() if v}
    events = selectors.audit_event_list(viewer=request.user, **filters)
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    services.audit_log_viewed(actor=request.user, filters=filters, page=page.number,
                              ip_address=_ip(request))
    names = audit_words.Names(page)
    rows = [{"event": event, "sentence": audit_words.describe(event, names),
             "label": audit_words.action_label(event.action),
             "details": audit_words.detail_lines(event.data)} for event in page]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "console/audit.html", {**context, "page": page, "rows": rows,
                                                  "listed": True, "query": query.urlencode()})


@console_view
@require_POST
def audit_verify(request: HttpRequest) -> HttpResponse:
    try:
        services.audit_verification_start(actor=request.user)
    except TeamchatError as error:
        _flash_error(request, error)
    else:
        messages.success(request, "Verification of the audit chain started.")
    return redirect(reverse("console:audit") + "#verification")


@console_view
def audit_verification_progress(request: HttpRequest, verification_id: int) -> JsonResponse:
    job = selectors.audit_verification_get_for_user(viewer=request.user,
                                                    verification_id=verification_id)
    return JsonResponse({"items": [{
        "id": f"verification-{job.pk}", "value": job.checked, "max": job.total,
        "finished": job.finished,
        "text": f"{job.get_status_display()}: {job.checked:,} of {job.total:,} events checked"}]})


@console_view
def retention(request: HttpRequest) -> HttpResponse:
    form = RetentionForm(request.POST or None)
    report = None
    if request.method == "POST" and "dry_run" in request.POST:
        report = services.retention_apply(actor=request.user, dry_run=True)
    elif request.method == "POST" and form.is_valid():
        conversations = form.cleaned_data["conversation"]
        try:
            services.retention_policy_set(
                actor=request.user, keep_days=form.cleaned_data["keep_days"],
                conversation_id=conversations[0].pk if conversations else None)
        except TeamchatError as error:
            _flash_error(request, error)
        else:
            messages.success(request, "Retention policy saved.")
            return redirect("console:retention")
    policies = list(selectors.retention_policy_list(viewer=request.user))
    default = next((p for p in policies if p.conversation_id is None), None)
    return render(request, "console/retention.html", {
        "form": form, "report": report, "default": default,
        "policies": [p for p in policies if p.conversation_id is not None]})


@console_view
@require_POST
def retention_clear(request: HttpRequest, conversation_id: int) -> HttpResponse:
    services.retention_policy_clear(actor=request.user, conversation_id=conversation_id)
    messages.success(request, "The channel follows the organisation's default again.")
    return redirect("console:retention")


@console_view
def holds(request: HttpRequest) -> HttpResponse:
    form = LegalHoldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ends = (datetime.combine(data["ends_at"], time.min, tzinfo=ZoneInfo("UTC"))
                if data["ends_at"] else None)
        try:
            services.legal_hold_create(
                actor=request.user, name=data["name"], reason=data["reason"],
                custodian_ids=[u.pk for u in data["custodians"]],
                conversation_ids=[c.pk for c in data["conversations"]], ends_at=ends)
        except TeamchatError as error:
            _flash_error(request, error)
        else:
            messages.success(request, f"Legal hold “{data['name']}” placed.")
            return redirect("console:holds")
    return render(request, "console/holds.html", {
        "form": form, "holds": selectors.legal_hold_list(viewer=request.user)})


@console_view
@require_POST
def hold_release(request: HttpRequest, hold_id: int) -> HttpResponse:
    hold = services.legal_hold_release(actor=request.user, hold_id=hold_id)
    messages.success(request, f"Legal hold “{hold.name}” released.")
    return redirect("console:holds")


@console_view
def exports(request: HttpRequest) -> HttpResponse:
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.export_start(actor=request.user, **form.service_arguments())
        except TeamchatError as error:
            _flash_error(request, error)
        else:
            messages.success(request, "Export started; it appears below when ready.")
            return redirect("console:exports")
    jobs = list(selectors.export_list(viewer=request.user)[:100])
    for job in jobs:
        job.progress_text = export_progress_text(job)
        if job.status == ExportStatus.DONE and job.archive and request.user.is_compliance_officer:
            token = services.export_download_token(job=job)
            job.download_url = reverse("console:export_download", args=[job.pk, token])
    return render(request, "console/exports.html", {
        "form": form, "jobs": jobs, "can_export": request.user.is_compliance_officer})


@console_view
def exports_progress(request: HttpRequest) -> JsonResponse:
    """The progress of the exports the Exports page lists; its script polls this."""
    jobs = selectors.export_list(viewer=request.user)[:100]
    return JsonResponse({"items": [{
        "id": f"export-{job.pk}", "value": job.done, "max": job.total,
        "finished": job.status in (ExportStatus.DONE, ExportStatus.FAILED),
        "text": export_progress_text(job)} for job in jobs]})


def export_progress_text(job: ExportJob) -> str:
    if job.status == ExportStatus.RUNNING:
        stage = f", {job.get_stage_display()}" if job.stage else ""
        return f"Running{stage}: {job.done:,} of {job.total:,} messages written"
    return job.get_status_display()


@console_view
def export_download(request: HttpRequest, export_id: int, token: str) -> HttpResponse:
    from files.delivery import serve

    job = services.export_for_download(actor=request.user, job_id=export_id, token=token,
                                       ip_address=_ip(request))
    return serve(job.archive, name=f"teamchat-export-{job.pk}.zip", content_type="application/zip",
                 download=True)


@console_view
def people(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    directory = account_selectors.user_list(viewer=request.user, query=query,
                                            include_deactivated=True)
    page = Paginator(directory, 100).get_page(request.GET.get("page"))
    return render(request, "console/people.html", {
        "page": page, "query": query, "invite_form": InviteForm(), "role_form": RoleForm(),
        "can_manage": request.user.is_org_admin,
        "can_export": request.user.is_compliance_officer,
        "two_factor_ids": account_selectors.two_factor_user_ids(
            user_ids=[person.pk for person in page]) if request.user.is_org_admin else set(),
        "invitations": account_selectors.invitation_list(viewer=request.user)[:20]})


def _person(request: HttpRequest, user_id: int):
    return account_selectors.user_get_for_user(viewer=request.user, user_id=user_id)


def _admin_only(request: HttpRequest) -> None:
    if not request.user.is_org_admin:
        raise Forbidden("Only owners and admins manage people.")


@console_view
@require_POST
def person_invite(request: HttpRequest) -> HttpResponse:
    _admin_only(request)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            _, raw = account_services.user_invite(actor=request.user, **form.cleaned_data)
        except TeamchatError as error:
            _flash_error(request, error)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}. "
                                      f"The link, also usable once: {account_services.invitation_url(raw)}")
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("console:people")


@console_view
@require_POST
def person_role(request: HttpRequest, user_id: int) -> HttpResponse:
    _admin_only(request)
    form = RoleForm(request.POST)
    person = _person(request, user_id)
    if form.is_valid():
        try:
            account_services.user_role_change(actor=request.user, user=person,
                                              role=form.cleaned_data["role"])
        except TeamchatError as error:
            _flash_error(request, error)
        else:
            messages.success(request, f"{person.display_name} is now {person.get_role_display()}.")
    return redirect("console:people")


@console_view
@require_POST
def person_active(request: HttpRequest, user_id: int) -> HttpResponse:
    _admin_only(request)
    person = _person(request, user_id)
    try:
        if request.POST.get("active") == "1":
            account_services.user_reactivate(actor=request.user, user=person)
            messages.success(request, f"{person.display_name} can sign in again.")
        else:
            account_services.user_deactivate(actor=request.user, user=person)
            messages.success(request, f"{person.display_name} was deactivated.")
    except TeamchatError as error:
        _flash_error(request, error)
    return redirect("console:people")


@console_view
@require_POST
def person_subject_export(request: HttpRequest, user_id: int) -> HttpResponse:
    person = _person(request, user_id)
    services.subject_export_start(actor=request.user, subject=person)
    messages.success(request, f"Export of everything about {person.display_name} started.")
    return redirect("console:exports")


@console_view
@require_POST
def person_two_factor_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    _admin_only(request)
    person = _person(request, user_id)
    try:
        account_services.two_factor_reset(actor=request.user, user=person)
    except TeamchatError as error:
        _flash_error(request, error)
    else:
        messages.success(request, f"{person.display_name}'s two-factor authentication was reset "
                                  "and their sessions were ended; they set it up again at sign-in.")
    return redirect("console:people")


@console_view
def organisation_settings(request: HttpRequest) -> HttpResponse:
    _admin_only(request)
    organisation = Organisation.get()
    current = {"name": organisation.name,
               "message_edit_window_seconds": organisation.message_edit_window_seconds,
               "link_previews_enabled": organisation.link_previews_enabled,
               "link_preview_domains": "\n".join(organisation.link_preview_domains),
               "read_receipts_enabled": organisation.read_receipts_enabled,
               "read_receipts_max_members": organisation.read_receipts_max_members,
               "require_two_factor": organisation.require_two_factor,
               "e2ee_policy": organisation.e2ee_policy,
               "e2ee_escrow_public_key": organisation.e2ee_escrow_public_key}
    form = OrganisationForm(request.POST or None, initial=current)
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        if changes.get("read_receipts_max_members") is None:
            changes.pop("read_receipts_max_members", None)  # left empty: unchanged
        policy = changes.pop("require_two_factor")
        try:
            with transaction.atomic():
                account_services.organisation_update(actor=request.user, **changes)
                if policy != organisation.require_two_factor:
                    account_services.two_factor_policy_set(actor=request.user, policy=policy)
        except TeamchatError as error:
            _flash_error(request, error)
        else:
            messages.success(request, "Settings saved.")
            return redirect("console:settings")
    return render(request, "console/settings.html", {
        "form": form, "is_owner": request.user.role == Role.OWNER})


@console_view
def person_erase(request: HttpRequest, user_id: int) -> HttpResponse:
    _admin_only(request)
    person = _person(request, user_id)
    if request.method == "POST":
        if request.POST.get("confirm_email", "").strip().lower() != person.email.lower():
            messages.error(request, "Type the person's email to confirm.")
        else:
            try:
                result = services.user_erase(actor=request.user, user=person,
                                             remove_messages=request.POST.get("remove_messages") == "on")
            except TeamchatError as error:
                _flash_error(request, error)
            else:
                messages.success(request, f"Erased. Messages removed: {result['messages_removed']}; "
                                          f"kept under legal hold: {result['messages_kept_on_hold']}.")
                return redirect("console:people")
    return render(request, "console/erase.html", {"person": person})


def _policy_initial(policy) -> dict:
    return {"name": policy.name, "words": policy.words, "patterns": policy.patterns,
            "people": ", ".join(u.email for u in policy.people.all()),
            "groups": ", ".join(f"@{g.handle}" for g in policy.groups.all()),
            "sample_percent": policy.sample_percent, "active": policy.active,
            "reviewers": ", ".join(u.email for u in policy.reviewers.all())}


def _save_policy(request: HttpRequest, form: SupervisionPolicyForm, policy_id: int | None) -> bool:
    if not form.is_valid():
        return False
    try:
        policy = services.supervision_policy_save(actor=request.user, policy_id=policy_id,
                                                  **form.cleaned_data)
    except TeamchatError as error:
        _flash_error(request, error)
        return False
    messages.success(request, f"Supervision policy “{policy.name}” saved.")
    return True


@console_view
def supervision(request: HttpRequest) -> HttpResponse:
    """The reviewer's queue (the policies they review only), the policies, a new one."""
    form = SupervisionPolicyForm(request.POST or None, initial={"reviewers": request.user.email})
    if request.method == "POST" and _save_policy(request, form, None):
        return redirect("console:supervision")
    policies = list(selectors.supervision_policy_list(viewer=request.user))
    status = request.GET.get("status", "open")
    policy_id = request.GET.get("policy", "")
    queue = selectors.supervision_queue(viewer=request.user, status=status if status != "all" else "",
                                        policy_id=int(policy_id) if policy_id.isdigit() else None)
    page = Paginator(queue, 50).get_page(request.GET.get("page"))
    return render(request, "console/supervision.html", {
        "form": form, "policies": policies, "page": page, "status": status, "policy_id": policy_id,
        "statuses": ReviewStatus.choices, "review_form": ReviewForm(),
        "reviewing": [p for p in policies if request.user in p.reviewers.all()]})


@console_view
def supervision_policy(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = selectors.supervision_policy_list(viewer=request.user).filter(pk=policy_id).first()
    if policy is None:
        raise Http404("No such supervision policy.")
    form = SupervisionPolicyForm(request.POST or None, initial=_policy_initial(policy))
    if request.method == "POST" and _save_policy(request, form, policy.pk):
        return redirect("console:supervision")
    return render(request, "console/supervision_policy.html", {"form": form, "policy": policy})


@console_view
def supervision_export(request: HttpRequest, policy_id: int) -> HttpResponse:
    name, data = services.supervision_queue_csv(actor=request.user, policy_id=policy_id)
    response = HttpResponse(data, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@console_view
@require_POST
def supervision_item(request: HttpRequest, item_id: int) -> HttpResponse:
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose what to do with the item.")
    else:
        try:
            item = services.supervision_item_act(actor=request.user, item_id=item_id, **form.cleaned_data)
        except TeamchatError as error:
            _flash_error(request, error)
        else:
            messages.success(request, f"Item {item.pk}: {item.get_status_display().lower()}.")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/console/supervision/") else "console:supervision")

"""The console's Slack import page (/console/import/), for owners and admins: thin doors
onto integrations.services. Its nav link and layout are the console's
(templates/console/base.html)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from core.errors import Forbidden, TeamchatError
from files.uploads import SizeLimitUploadHandler
from integrations import selectors, services
from integrations.forms import SlackImportForm
from integrations.models import SlackImportRun, SlackImportStatus

View = Callable[..., HttpResponse]


def admin_console_view(view: View) -> View:
    """Signed in, and an owner or admin (everyone else gets 403)."""
    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not (request.user.is_active and request.user.is_org_admin):
            raise Forbidden("Only owners and admins import from Slack.")
        return view(request, *args, **kwargs)

    return wrapped


def progress_text(run: SlackImportRun) -> str:
    if run.status == SlackImportStatus.RUNNING:
        since = f" (last progress {run.progressed_at:%Y-%m-%d %H:%M} UTC)" if run.progressed_at else ""
        return f"Importing: {run.done:,} of {run.total:,} messages read{since}"
    return run.get_status_display()


@csrf_exempt  # checked below, once the upload limit is set (which reading the form fixes)
@admin_console_view
def slack_import(request: HttpRequest) -> HttpResponse:
    # An export is larger than a chat upload: its own limit, set before the body is read,
    # and only for owners and admins (checked above, without reading the body).
    request.upload_handlers = [
        SizeLimitUploadHandler(request, max_bytes=settings.SLACK_IMPORT_MAX_UPLOAD_BYTES)
        if isinstance(handler, SizeLimitUploadHandler) else handler
        for handler in request.upload_handlers]
    return _slack_import(request)


@csrf_protect
def _slack_import(request: HttpRequest) -> HttpResponse:
    form = (SlackImportForm(request.POST, request.FILES) if request.method == "POST"
            else SlackImportForm())
    if request.method == "POST" and getattr(request, "upload_rejected", None) == "too_large":
        form.is_valid()  # the form's own errors first (the file never arrived)
        form.add_error("export", f"Larger than SLACK_IMPORT_MAX_UPLOAD_BYTES "
                                 f"({settings.SLACK_IMPORT_MAX_UPLOAD_BYTES:,} bytes): import it "
                                 f"on the server with manage.py import_slack.")
    elif request.method == "POST" and form.is_valid():
        try:
            services.slack_import_start(actor=request.user, upload=form.cleaned_data["export"],
                                        dry_run=form.cleaned_data["dry_run"])
        except TeamchatError as error:
            messages.error(request, error.detail)
        else:
            messages.success(request, "Import started; its progress and report appear below.")
            return redirect("integrations_console:slack_import")
    runs = list(selectors.slack_import_list(viewer=request.user)[:50])
    for run in runs:
        run.progress_text = progress_text(run)
    return render(request, "console/import.html", {"form": form, "runs": runs})


@admin_console_view
def slack_import_progress(request: HttpRequest) -> JsonResponse:
    """The progress of the imports the page lists; console.js polls this."""
    runs = selectors.slack_import_list(viewer=request.user)[:50]
    return JsonResponse({"items": [{
        "id": f"import-{run.pk}", "value": run.done, "max": run.total, "finished": run.finished,
        "text": progress_text(run)} for run in runs]})


@admin_console_view
@require_POST
def slack_import_resume(request: HttpRequest, run_id: int) -> HttpResponse:
    try:
        services.slack_import_resume(actor=request.user, run_id=run_id)
    except TeamchatError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, "Import resumed: it continues where it stopped.")
    return redirect("integrations_console:slack_import")


@login_required
def identity_sources(request: HttpRequest) -> HttpResponse:
    """The console's identity page (/console/identity/): how people sign in and arrive."""
    sources = selectors.identity_sources(viewer=request.user)
    return render(request, "console/identity.html", {"sources": sources})


@login_required
@require_POST
def ldap_sync_now(request: HttpRequest) -> HttpResponse:
    """Queue a directory sync now, beside the scheduled ones."""
    from integrations.tasks import ldap_sync

    selectors.identity_sources(viewer=request.user)  # owners and admins only
    if not settings.LDAP_ENABLED:
        messages.error(request, "LDAP is not configured.")
    else:
        ldap_sync.delay()
        messages.success(request, "Directory sync queued; its result appears below when it is done.")
    return redirect("integrations_console:identity_sources")

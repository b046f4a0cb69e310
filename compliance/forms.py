"""Forms of the console: they parse and validate; services decide and write."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from django import forms

from accounts.models import Role, User
from compliance.audit_words import action_choices
from compliance.models import ExportFormat, ReviewStatus
from messaging.models import Conversation, UserGroup


def _names(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


class NamesField(forms.CharField):
    """Names, comma-separated (or a line each), each resolved to a row by `find`, or refused
    with `missing`'s message."""

    def find(self, name: str):  # pragma: no cover - each field says how
        raise NotImplementedError

    def missing(self, name: str) -> str:  # pragma: no cover
        raise NotImplementedError

    def clean(self, value: str) -> list:
        value = super().clean(value)
        found = []
        for name in _names(value or ""):
            row = self.find(name)
            if row is None:
                raise forms.ValidationError(self.missing(name))
            found.append(row)
        return found


class PeopleField(NamesField):
    """Emails, comma-separated, resolved to people."""

    def find(self, name: str) -> User | None:
        return User.objects.filter(email__iexact=name).first()

    def missing(self, name: str) -> str:
        return f"No person with the email {name}."


class ConversationsField(NamesField):
    """Channel names, comma-separated, resolved to conversations."""

    def find(self, name: str) -> Conversation | None:
        return Conversation.objects.filter(name__iexact=name.lstrip("#")).first()

    def missing(self, name: str) -> str:
        return f"No channel named {name}."


def _start_of(day) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo("UTC")) if day else None


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=ExportFormat.choices)
    start = forms.DateField(required=False, help_text="First day (UTC), YYYY-MM-DD.",
                            widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, help_text="Day after the last.",
                          widget=forms.DateInput(attrs={"type": "date"}))
    conversations = ConversationsField(required=False, help_text="Channel names, comma-separated; "
                                       "empty for all.")
    people = PeopleField(required=False, help_text="Authors' emails, comma-separated; empty for all.")
    with_files = forms.BooleanField(required=False, label="Include the files")

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        return {"format": data["format"], "start": _start_of(data["start"]),
                "end": _start_of(data["end"]), "with_files": data["with_files"],
                "conversation_ids": [c.pk for c in data["conversations"]],
                "user_ids": [u.pk for u in data["people"]]}


class LegalHoldForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="e.g. the matter number")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))
    custodians = PeopleField(required=False, help_text="Emails of the people held, comma-separated.")
    conversations = ConversationsField(required=False, help_text="Channel names held, comma-separated.")
    ends_at = forms.DateField(required=False, label="Until (optional)",
                              widget=forms.DateInput(attrs={"type": "date"}))


class RetentionForm(forms.Form):
    conversation = ConversationsField(required=False, label="Channel (empty: the organisation's default)")
    keep_days = forms.IntegerField(required=False, min_value=1, label="Keep for (days)",
                                   help_text="Empty keeps forever.")


class AuditFilterForm(forms.Form):
    action = forms.ChoiceField(required=False, choices=action_choices, error_messages={
        "invalid_choice": "“%(value)s” is not an action the audit log records; choose one from the list."})
    actor = forms.CharField(required=False, label="Actor email")
    conversation = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    target_type = forms.CharField(required=False, max_length=64)
    target_id = forms.CharField(required=False, max_length=64)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class OrganisationForm(forms.Form):
    """The organisation's settings an admin changes in the console."""

    name = forms.CharField(max_length=120)
    message_edit_window_seconds = forms.IntegerField(
        min_value=0, label="Edit window (seconds)",
        help_text="How long authors may edit their messages; 0 for always. Admins always may.")
    link_previews_enabled = forms.BooleanField(required=False, label="Show link previews")
    link_preview_domains = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Link preview domains",
        help_text="One per line or comma-separated; empty allows every public site.")
    read_receipts_enabled = forms.BooleanField(
        required=False, label="Read receipts",
        help_text="Show who has read a message (\"Seen by\") in direct conversations and in "
                  "channels up to the size below. People may still stop sharing theirs.")
    read_receipts_max_members = forms.IntegerField(
        required=False, min_value=0, max_value=10_000, label="Read receipts in channels up to (members)",
        help_text="0 keeps them to direct conversations.")
    require_two_factor = forms.ChoiceField(
        choices=[("off", "Nobody"), ("admins", "Owners and admins"), ("everyone", "Everyone")],
        label="Require two-factor authentication for",
        help_text="Only an owner may change this. People without it are asked to set it up.")
    e2ee_policy = forms.ChoiceField(
        choices=[("off", "Off"), ("allowed", "Allowed"), ("required", "Required for direct conversations")],
        label="End-to-end encryption",
        help_text="Allowed: people may create encrypted direct conversations and private channels. "
                  "Required: every new direct conversation is encrypted. The server cannot search, "
                  "preview or read encrypted messages (docs/security.md).")
    e2ee_escrow_public_key = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
        label="Compliance escrow public key",
        help_text="RSA-OAEP public key (SPKI PEM or JWK, 2048 bits or more). Every conversation key "
                  "is also wrapped for it, so exports can be decrypted offline with "
                  "manage.py decrypt_export --key. Keep its private half offline.")

    def clean_link_preview_domains(self) -> list[str]:
        return _names(self.cleaned_data["link_preview_domains"])


class GroupsField(NamesField):
    """Group handles (@sales), comma-separated, resolved to groups."""

    def find(self, name: str) -> UserGroup | None:
        return UserGroup.objects.filter(handle__iexact=name.lstrip("@")).first()

    def missing(self, name: str) -> str:
        return f"No group @{name.lstrip('@')}."


class SupervisionPolicyForm(forms.Form):
    name = forms.CharField(max_length=120)
    words = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}),
                            help_text="One word or phrase a line; matched as whole words, in any case.")
    patterns = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                               help_text="One regular expression a line (Python syntax, any case).")
    people = PeopleField(required=False, label="People under review",
                         help_text="Emails, comma-separated. With no people and no groups: everyone.")
    groups = GroupsField(required=False, label="Groups under review", help_text="e.g. @traders")
    sample_percent = forms.IntegerField(min_value=0, max_value=100, initial=0, label="Random sample (%)",
                                        help_text="Also review this share of their other messages.")
    reviewers = PeopleField(help_text="Compliance officers' emails, comma-separated.")
    active = forms.BooleanField(required=False, initial=True)


class ReviewForm(forms.Form):
    status = forms.ChoiceField(choices=[c for c in ReviewStatus.choices if c[0] != ReviewStatus.OPEN]
                               + [(ReviewStatus.OPEN, "Reopen")])
    comment = forms.CharField(required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))

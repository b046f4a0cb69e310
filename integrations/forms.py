"""Forms of the integrations' console page: they parse and validate; services decide."""

from __future__ import annotations

from django import forms


class SlackImportForm(forms.Form):
    export = forms.FileField(
        label="Slack export (.zip)",
        help_text="As Slack gives it: Workspace settings → Import/Export Data → Export. "
                  "Files whose bytes are not in the zip (under __uploads/FILE_ID/) become "
                  "named placeholders; see docs/import.md.")
    dry_run = forms.BooleanField(
        label="Dry run", required=False,
        help_text="Report what would be created and every problem, and change nothing.")

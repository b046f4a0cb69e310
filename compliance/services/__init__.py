"""Every write of the compliance app, one function per action."""

from compliance.services.audit import audit_verification_run, audit_verification_start
from compliance.services.checkpoints import (
    audit_checkpoint_mail,
    audit_checkpoint_write,
    audit_signing_key_ensure,
)
from compliance.services.daily import daily_exports_run
from compliance.services.exports import (
    export_download_token,
    export_for_download,
    export_run,
    export_start,
    exports_remove_expired,
)
from compliance.services.holds import legal_hold_create, legal_hold_release
from compliance.services.people import subject_export_start, user_erase
from compliance.services.retention import (
    retention_apply,
    retention_policy_clear,
    retention_policy_set,
)
from compliance.services.supervision import (
    supervision_item_act,
    supervision_match,
    supervision_policy_save,
    supervision_queue_csv,
)

__all__ = [
    "audit_checkpoint_mail",
    "audit_checkpoint_write",
    "audit_signing_key_ensure",
    "audit_verification_run",
    "audit_verification_start",
    "daily_exports_run",
    "export_download_token",
    "export_for_download",
    "export_run",
    "export_start",
    "exports_remove_expired",
    "legal_hold_create",
    "legal_hold_release",
    "retention_apply",
    "retention_policy_clear",
    "retention_policy_set",
    "subject_export_start",
    "supervision_item_act",
    "supervision_match",
    "supervision_policy_save",
    "supervision_queue_csv",
    "user_erase",
]

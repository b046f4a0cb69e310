"""One sentence per audit action. Each describer takes the event and the page's Names, and
returns safe HTML built with format_html (every value escaped)."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString

from compliance.audit_words.registry import Names, _plural, describes
from core.models import AuditEvent as E

MISSING = "(not recorded)"
ROLES = {"owner": "Owner", "admin": "Admin", "compliance": "Compliance officer",
         "member": "Member", "guest": "Guest"}


def _role(value: object) -> str:
    return ROLES.get(str(value), str(value)) if value else MISSING


def _v(e: E, key: str) -> object:
    """A detail to show in a sentence; an event recorded without it says so in words."""
    value = e.data.get(key)
    return MISSING if value is None or value == "" else value


def _in(e: E, n: Names) -> SafeString:
    return n.conversation(e.conversation_id or e.target_id)


# --- signing in ----------------------------------------------------------------------

@describes("auth.sign_in", "Signed in")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} signed in", n.actor(e))


@describes("auth.sign_in_failed", "Sign-in failed")
def _(e: E, n: Names) -> SafeString:
    return format_html("Someone failed to sign in as {}", e.data.get("email") or "an unknown email")


@describes("auth.sign_out", "Signed out")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} signed out", n.actor(e))


@describes("auth.password_changed", "Password changed")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} changed their password, ending {}", n.actor(e),
                       _plural(_v(e, "sessions_ended"), "other session"))


@describes("auth.password_reset", "Password reset")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} reset their password, ending {}", n.actor(e),
                       _plural(_v(e, "sessions_ended"), "session"))


@describes("auth.session_ended", "Session ended")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} ended one of their sessions ({})", n.actor(e),
                       e.data.get("user_agent") or "unknown browser")


@describes("auth.sso_refused", "Single sign-on refused")
def _(e: E, n: Names) -> SafeString:
    return format_html("Single sign-on refused {} ({})", e.data.get("email") or "an unknown person",
                       e.data.get("reason") or "no reason given")


@describes("auth.saml_sign_in", "Signed in by SAML")
def _(e: E, n: Names) -> SafeString:
    started = "the identity provider" if e.data.get("idp_initiated") else "teamchat"
    return format_html("{} signed in by SAML through {} (started at {})", n.actor(e),
                       _v(e, "issuer"), started)


@describes("auth.saml_refused", "SAML sign-in refused")
def _(e: E, n: Names) -> SafeString:
    return format_html("SAML sign-in refused for {} ({}: {})",
                       e.data.get("email") or "an unknown person",
                       e.data.get("reason") or "no reason given", _v(e, "detail"))


@describes("auth.saml_logout", "Signed out by the identity provider")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} signed out at the identity provider {}, ending {}", n.actor(e),
                       _v(e, "issuer"), _plural(_v(e, "sessions_ended"), "session"))


# --- two-factor ------------------------------------------------------------------------

@describes("2fa.enabled", "Two-factor turned on")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} turned on two-factor authentication", n.actor(e))


@describes("2fa.disabled", "Two-factor turned off")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} turned off two-factor authentication", n.actor(e))


@describes("2fa.failed", "Wrong two-factor code")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} entered a wrong two-factor code", n.actor(e))


@describes("2fa.recovery_code_used", "Recovery code used")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} used a recovery code ({} left)", n.actor(e), _v(e, "left"))


@describes("2fa.recovery_codes_regenerated", "Recovery codes renewed")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} made new recovery codes", n.actor(e))


@describes("2fa.reset", "Two-factor reset by an admin")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} reset the two-factor authentication of {}", n.actor(e), n.target_person(e))


# --- people --------------------------------------------------------------------------

@describes("user.created", "Account created")
def _(e: E, n: Names) -> SafeString:
    kind = "bot" if e.data.get("is_bot") else _role(e.data.get("role", "member")).lower()
    return format_html("{} created the account of {} ({})", n.actor(e), n.target_person(e), kind)


@describes("user.invited", "Invited")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} invited {} as {}", n.actor(e), _v(e, "email"),
                       _role(e.data.get("role")).lower())


@describes("user.invitation_accepted", "Invitation accepted")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} accepted their invitation and joined", n.actor(e))


@describes("user.invitation_revoked", "Invitation revoked")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} revoked invitation {}", n.actor(e), e.target_id)


@describes("user.role_changed", "Role changed")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} changed the role of {} from {} to {}", n.actor(e), n.target_person(e),
                       _role(e.data.get("from")), _role(e.data.get("to")))


@describes("user.deactivated", "Deactivated")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} deactivated {}", n.actor(e), n.target_person(e))


@describes("user.reactivated", "Reactivated")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} reactivated {}", n.actor(e), n.target_person(e))


@describes("notifications.unsubscribed", "Unsubscribed from email")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} turned off email notifications from an unsubscribe link", n.actor(e))


# --- tokens and organisation ---------------------------------------------------------

@describes("token.created", "API token created")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} created the API token “{}” ({}…) for {}", n.actor(e), _v(e, "name"),
                       _v(e, "prefix"), n.person(e.data.get("user_id")))


@describes("token.revoked", "API token revoked")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} revoked the API token {}… of {}", n.actor(e), _v(e, "prefix"),
                       n.person(e.data.get("user_id")))


@describes("organisation.updated", "Organisation settings changed")
def _(e: E, n: Names) -> SafeString:
    changed = ", ".join(sorted((e.data.get("after") or {}).keys())) or "nothing"
    return format_html("{} changed the organisation's settings: {}", n.actor(e),
                       changed.replace("_", " "))


# --- conversations -------------------------------------------------------------------

@describes("conversation.created", "Conversation created")
def _(e: E, n: Names) -> SafeString:
    locked = " (end-to-end encrypted)" if e.data.get("encrypted") else ""
    return format_html("{} created {}{}", n.actor(e), _in(e, n), locked)


@describes("conversation.updated", "Conversation changed")
def _(e: E, n: Names) -> SafeString:
    changes = e.data.get("changes") or []
    fields = ", ".join(sorted(changes)) if isinstance(changes, list | dict) else str(changes)
    return format_html("{} changed the {} of {}", n.actor(e), fields.replace("_", " ") or "settings",
                       _in(e, n))


@describes("membership.joined", "Joined a conversation")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} joined {}", n.actor(e), _in(e, n))


@describes("membership.added", "Added to a conversation")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} added {} to {}", n.actor(e), n.person(e.data.get("user")), _in(e, n))


@describes("membership.left", "Left a conversation")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} left {}", n.actor(e), _in(e, n))


@describes("membership.removed", "Removed from a conversation")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} removed {} from {}", n.actor(e), n.person(e.data.get("user")), _in(e, n))


@describes("membership.role_changed", "Conversation role changed")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} made {} {} of {}", n.actor(e), n.person(e.data.get("user")),
                       _v(e, "role"), _in(e, n))


# --- messages ------------------------------------------------------------------------

@describes("message.edited", "Message edited")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} edited {} in {} (version {})", n.actor(e), n.message(e.target_id),
                       _in(e, n), _v(e, "revisions"))


@describes("message.deleted", "Message deleted")
def _(e: E, n: Names) -> SafeString:
    if e.data.get("by_author"):
        return format_html("{} deleted {} in {}", n.actor(e), n.message(e.target_id, "their message"),
                           _in(e, n))
    return format_html("{} deleted {} by {} in {}", n.actor(e), n.message(e.target_id),
                       n.message_author(e.target_id, e.data.get("author")), _in(e, n))


@describes("scheduled_message.sent", "Scheduled message sent")
def _(e: E, n: Names) -> SafeString:
    return format_html("{}'s {} was sent in {}", n.actor(e),
                       n.message(e.data.get("message"), "scheduled message"), _in(e, n))


@describes("scheduled_message.failed", "Scheduled message not sent")
def _(e: E, n: Names) -> SafeString:
    return format_html("{}'s scheduled message to {} could not be sent ({})", n.actor(e), _in(e, n),
                       e.data.get("code") or "unknown reason")


@describes("usergroup.created", "User group created")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} created the group @{} with {}", n.actor(e), _v(e, "handle"),
                       _plural(len(e.data.get("members") or []), "member"))


@describes("usergroup.updated", "User group changed")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} changed the {} of user group {}", n.actor(e),
                       ", ".join(e.data.get("changes") or []) or "settings", e.target_id)


@describes("usergroup.members_changed", "User group members changed")
def _(e: E, n: Names) -> SafeString:
    by = "The directory sync" if e.data.get("via") == "ldap" else n.actor(e)
    return format_html("{} changed the members of @{}: added {}, removed {}", by, _v(e, "handle"),
                       n.people(e.data.get("added")), n.people(e.data.get("removed")))


@describes("usergroup.deleted", "User group deleted")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} deleted the group @{}", n.actor(e), _v(e, "handle"))


# --- integrations --------------------------------------------------------------------

@describes("slash_command.created", "Slash command created")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} created the slash command /{} calling {}", n.actor(e),
                       _v(e, "command"), _v(e, "url"))


@describes("webhook.incoming_created", "Incoming webhook created")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} created the incoming webhook “{}” posting to {}", n.actor(e),
                       _v(e, "name"), _in(e, n))


@describes("webhook.incoming_revoked", "Incoming webhook revoked")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} revoked an incoming webhook of {}", n.actor(e), _in(e, n))


@describes("webhook.outgoing_created", "Outgoing webhook created")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} created the outgoing webhook “{}” calling {} for {}", n.actor(e),
                       _v(e, "name"), _v(e, "url"),
                       n.conversations_list(e.data.get("conversations")))


@describes("webhook.outgoing_revoked", "Outgoing webhook revoked")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} revoked outgoing webhook {}", n.actor(e), e.target_id)


@describes("slack.import_requested", "Slack import started")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} uploaded the Slack export {} to import{}", n.actor(e), _v(e, "export"),
                       " (a dry run)" if e.data.get("dry_run") else "")


@describes("slack.import_resumed", "Slack import resumed")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} resumed the import of the Slack export {}", n.actor(e),
                       _v(e, "export"))


@describes("slack.imported", "Slack export imported")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} imported the Slack export {}: {} people created, {} matched, "
                       "{} conversations, {} messages", n.actor(e), _v(e, "export"),
                       _v(e, "people_created"), _v(e, "people_matched"),
                       _v(e, "conversations_created"), _v(e, "messages"))


# --- end-to-end encryption -----------------------------------------------------------

@describes("e2ee.identity_key_created", "Encryption key published")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} published their end-to-end encryption key ({})", n.actor(e),
                       _v(e, "fingerprint"))


@describes("e2ee.identity_key_changed", "Encryption key replaced")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} replaced their end-to-end encryption key ({} → {})", n.actor(e),
                       _v(e, "previous_fingerprint"), _v(e, "fingerprint"))


@describes("e2ee.key_backup_changed", "Key backup passphrase changed")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} changed the passphrase of their key backup", n.actor(e))


@describes("e2ee.conversation_key_created", "Conversation key made")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} made encryption key {} of {} for {}", n.actor(e), _v(e, "key_id"),
                       _in(e, n), _plural(len(e.data.get("recipients") or []), "person", "people"))


@describes("e2ee.conversation_key_shared", "Conversation key shared")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} shared encryption key {} of {} with {}", n.actor(e), _v(e, "key_id"),
                       _in(e, n), _plural(len(e.data.get("recipients") or []), "person", "people"))


# --- records -------------------------------------------------------------------------

def _retention_rule(days: object) -> str:
    return f"keep {days} days" if days else "keep forever"


@describes("retention.policy_set", "Retention rule set")
def _(e: E, n: Names) -> SafeString:
    scope = _in(e, n) if e.conversation_id else format_html("the organisation")
    return format_html("{} set the retention of {} to {}", n.actor(e), scope,
                       _retention_rule(e.data.get("keep_days")))


@describes("retention.policy_cleared", "Retention rule cleared")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} made {} follow the organisation's retention default", n.actor(e), _in(e, n))


@describes("retention.dry_run", "Retention dry run")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} ran a retention dry run: {} would be removed, {} kept by legal holds",
                       n.actor(e), _plural(_v(e, "messages"), "message"),
                       _v(e, "held"))


@describes("retention.applied", "Retention applied")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} applied retention: {}, {} and {} removed", n.actor(e, "The nightly job"),
                       _plural(_v(e, "messages"), "message"),
                       _plural(_v(e, "revisions"), "earlier version"),
                       _plural(_v(e, "files"), "file"))


@describes("legal_hold.placed", "Legal hold placed")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} placed the legal hold “{}” on {} and {}", n.actor(e), _v(e, "name"),
                       n.people(e.data.get("custodians")),
                       n.conversations_list(e.data.get("conversations")))


@describes("legal_hold.released", "Legal hold released")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} released the legal hold “{}”", n.actor(e), _v(e, "name"))


@describes("export.requested", "Export requested")
def _(e: E, n: Names) -> SafeString:
    if e.data.get("subject"):
        scope = format_html("of everything about {}", n.person(e.data.get("subject")))
    else:
        scope = format_html("from {} to {}", str(e.data.get("start") or "")[:10] or "the beginning",
                            str(e.data.get("end") or "")[:10] or "now")
    who = n.actor(e, "The daily export" if e.data.get("via") == "daily export" else "The operator")
    return format_html("{} asked for {} ({}) {}", who, n.export(e.target_id), _v(e, "format"), scope)


@describes("export.completed", "Export ready")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} is ready: {} and {}", n.export(e.target_id),
                       _plural(_v(e, "messages"), "message"), _plural(_v(e, "files"), "file"))


@describes("scim.token_created", "SCIM token created")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} created the SCIM token “{}” ({}…)", n.actor(e), _v(e, "name"), _v(e, "prefix"))


@describes("scim.token_revoked", "SCIM token revoked")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} revoked the SCIM token “{}” ({}…)", n.actor(e), _v(e, "name"), _v(e, "prefix"))


@describes("scim.request_refused", "SCIM request refused")
def _(e: E, n: Names) -> SafeString:
    return format_html("The identity provider (SCIM token “{}”) was refused {} {}: {} ({})",
                       _v(e, "scim_token"), _v(e, "method"), _v(e, "path"), _v(e, "detail"),
                       _v(e, "status"))


@describes("scim.user_created", "Person provisioned (SCIM)")
def _(e: E, n: Names) -> SafeString:
    return format_html("The identity provider (SCIM token “{}”) created {}", _v(e, "scim_token"),
                       n.target_person(e))


@describes("scim.user_updated", "Person updated (SCIM)")
def _(e: E, n: Names) -> SafeString:
    fields = ", ".join(str(f) for f in e.data.get("fields") or []) or "nothing"
    return format_html("The identity provider (SCIM token “{}”) updated {}: {}", _v(e, "scim_token"),
                       n.target_person(e), fields)


@describes("scim.user_deleted", "Person removed (SCIM)")
def _(e: E, n: Names) -> SafeString:
    return format_html("The identity provider (SCIM token “{}”) removed {}, who was deactivated",
                       _v(e, "scim_token"), n.target_person(e))


@describes("scim.group_created", "Group provisioned (SCIM)")
def _(e: E, n: Names) -> SafeString:
    return format_html("The identity provider (SCIM token “{}”) created the group “{}”",
                       _v(e, "scim_token"), _v(e, "name"))


@describes("scim.group_updated", "Group updated (SCIM)")
def _(e: E, n: Names) -> SafeString:
    return format_html("The identity provider (SCIM token “{}”) changed the group “{}”: added {}, removed {}",
                       _v(e, "scim_token"), _v(e, "name"), n.people(e.data.get("added")),
                       n.people(e.data.get("removed")))


@describes("scim.group_deleted", "Group removed (SCIM)")
def _(e: E, n: Names) -> SafeString:
    return format_html("The identity provider (SCIM token “{}”) deleted the group “{}”",
                       _v(e, "scim_token"), _v(e, "name"))


@describes("ldap.account_linked", "Person linked to the directory (LDAP)")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} signed in with the directory password of {}; the directory manages them now",
                       n.target_person(e), _v(e, "dn"))


@describes("ldap.person_updated", "Person updated from the directory (LDAP)")
def _(e: E, n: Names) -> SafeString:
    fields = ", ".join(str(f) for f in e.data.get("fields") or []) or "nothing"
    return format_html("The directory updated {}: {}", n.target_person(e), fields)


@describes("ldap.person_left", "Person left the directory (LDAP)")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} is no longer in the directory ({}) and was deactivated by the sync",
                       n.target_person(e), _v(e, "dn"))


@describes("ldap.person_returned", "Person back in the directory (LDAP)")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} is back in the directory ({}) and was reactivated", n.target_person(e),
                       _v(e, "dn"))


@describes("ldap.sign_in_refused", "Directory sign-in refused (LDAP)")
def _(e: E, n: Names) -> SafeString:
    reasons = {"no such person": "no teamchat account has that email and LDAP_CREATE_USERS is off"}
    reason = e.data.get("reason")
    return format_html("The directory accepted the password of {}, but they may not sign in: {}",
                       _v(e, "email"), reasons.get(reason, reason) or MISSING)


@describes("ldap.sign_in_unavailable", "Directory unreachable at sign-in (LDAP)")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} could not sign in because the directory could not be asked: {}",
                       _v(e, "email"), _v(e, "error"))


@describes("ldap.sync_completed", "Directory sync (LDAP)")
def _(e: E, n: Names) -> SafeString:
    counts = ", ".join(f"{kind} {count}" for kind, count in sorted((e.data.get("counts") or {}).items()))
    return format_html("The directory sync ran: {}; {}", counts or "nobody linked",
                       _plural(e.data.get("errors") or 0, "problem"))


@describes("ldap.sync_failed", "Directory sync failed (LDAP)")
def _(e: E, n: Names) -> SafeString:
    return format_html("The directory sync could not read the directory and changed nothing: {}",
                       _v(e, "error"))


@describes("user.email_changed", "Email changed")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} changed the email of {} from {} to {}", n.actor(e), n.target_person(e),
                       _v(e, "from"), _v(e, "to"))


@describes("supervision.policy_saved", "Supervision policy saved")
def _(e: E, n: Names) -> SafeString:
    verb = "created" if e.data.get("created") else "changed"
    return format_html("{} {} the supervision policy “{}”: {} words, {} patterns, {}% sample, "
                       "reviewed by {}{}", n.actor(e), verb, _v(e, "name"), _v(e, "words"),
                       _v(e, "patterns"), _v(e, "sample_percent"), n.people(e.data.get("reviewers")),
                       "" if e.data.get("active", True) else " (off)")


@describes("supervision.item_queued", "Message queued for review")
def _(e: E, n: Names) -> SafeString:
    reasons = e.data.get("reasons") or []
    return format_html("{} went to review item {} ({})", n.message(e.data.get("message")),
                       e.target_id or "?", ", ".join(str(r) for r in reasons) or "no reason recorded")


@describes("supervision.item_acted", "Review decision")
def _(e: E, n: Names) -> SafeString:
    comment = e.data.get("comment")
    return format_html("{} marked review item {} {} (was {}){}", n.actor(e), e.target_id or "?",
                       _v(e, "to"), _v(e, "from"), format_html(": “{}”", comment) if comment else "")


@describes("supervision.queue_exported", "Review queue exported")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} exported the review queue of policy {} ({})", n.actor(e), _v(e, "policy"),
                       _plural(_v(e, "items"), "item"))


@describes("audit.checkpoint_mailed", "Audit checkpoint mailed")
def _(e: E, n: Names) -> SafeString:
    return format_html("The checkpoint at event {} was mailed to {}", _v(e, "seq"),
                       _plural(_v(e, "recipients"), "compliance officer"))


@describes("export.delivered", "Daily export delivered")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} ({}, {}) was delivered to {}", n.export(e.target_id), _v(e, "format"),
                       _v(e, "day"), _v(e, "location"))


@describes("export.delivery_failed", "Daily export not delivered")
def _(e: E, n: Names) -> SafeString:
    return format_html("The daily export ({}, {}) could not be delivered: {}", _v(e, "format"),
                       _v(e, "day"), _v(e, "error"))


@describes("export.downloaded", "Export downloaded")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} downloaded {}", n.actor(e), n.export(e.target_id))


@describes("data_subject.export_requested", "Data-subject export requested")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} asked for {} of everything about {}", n.actor(e),
                       n.export(e.data.get("export")), n.target_person(e))


@describes("data_subject.erased", "Person erased")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} erased {}: {} removed, {} kept under legal hold", n.actor(e),
                       n.target_person(e), _plural(_v(e, "messages_removed"), "message"),
                       _v(e, "messages_kept_on_hold"))


# --- the audit log itself ------------------------------------------------------------

@describes("audit.viewed", "Audit log viewed")
def _(e: E, n: Names) -> SafeString:
    filters = e.data.get("filters") or {}
    how = ("filtered by " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(filters.items()))
           if filters else "unfiltered")
    if e.data.get("via") == "api":
        start = e.data.get("page")
        where = f"after event {start}" if start else "from the start"
        return format_html("{} read {} of the audit log through the API ({}), {}", n.actor(e),
                           _plural(e.data.get("count"), "event"), where, how)
    return format_html("{} viewed page {} of the audit log, {}", n.actor(e), _v(e, "page"), how)


@describes("audit.verification_started", "Chain verification started")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} started verifying the audit chain ({})", n.actor(e),
                       _plural(_v(e, "total"), "event"))


@describes("audit.stream_rewound", "SIEM stream sent again")
def _(e: E, n: Names) -> SafeString:
    return format_html("{} had the audit log sent again to {} from event {} on (it had been "
                       "sent up to event {})", n.actor(e, "The operator"), _v(e, "collector"),
                       _v(e, "from"), _v(e, "cursor_before"))


@describes("audit.verified", "Chain verified")
def _(e: E, n: Names) -> SafeString:
    checked = _plural(_v(e, "checked"), "event")
    if e.data.get("intact"):
        return format_html("The audit chain was verified for {}: intact, {} checked",
                           n.actor(e, "the operator"), checked)
    where = format_html(" at event {}", _v(e, "broken_at")) if e.data.get("broken_at") else ""
    return format_html("The audit chain was verified for {}: BROKEN{} ({}); {} before it intact",
                       n.actor(e, "the operator"), where, _v(e, "reason"), checked)

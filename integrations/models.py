"""Bots' doors to teamchat: incoming and outgoing webhooks, slash commands, link previews."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class IncomingWebhook(models.Model):
    """A secret URL that posts into one conversation as a bot; only the secret's SHA-256
    is kept (the URL is shown once)."""

    name = models.CharField(max_length=100)
    conversation = models.ForeignKey("messaging.Conversation", on_delete=models.CASCADE,
                                     related_name="incoming_webhooks")
    bot = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    secret_hash = models.CharField(max_length=64, unique=True)
    secret_prefix = models.CharField(max_length=12)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class OutgoingWebhook(models.Model):
    """POSTs new messages of chosen conversations to a URL, signed with HMAC-SHA256.
    The signing secret must be usable to sign, so it is kept encrypted, not hashed."""

    name = models.CharField(max_length=100)
    bot = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    url = models.URLField(max_length=500)
    conversations = models.ManyToManyField("messaging.Conversation", related_name="outgoing_webhooks")
    trigger_words = models.JSONField(default=list, blank=True)
    secret_encrypted = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One message sent (or being sent) to an outgoing webhook: the delivery log."""

    webhook = models.ForeignKey(OutgoingWebhook, on_delete=models.CASCADE, related_name="deliveries")
    message = models.ForeignKey("messaging.Message", null=True, on_delete=models.SET_NULL,
                                related_name="+")
    status = models.CharField(max_length=9, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    reply_message = models.ForeignKey("messaging.Message", null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["webhook", "message"], name="integrations_delivery_once")
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} to {self.webhook_id}: {self.status}"


class SlashCommand(models.Model):
    """A custom /command an admin points at an external URL (Slack-style form payload
    with a verification token)."""

    command = models.SlugField(max_length=32, unique=True)
    description = models.CharField(max_length=200, blank=True)
    usage_hint = models.CharField(max_length=100, blank=True)
    url = models.URLField(max_length=500)
    bot = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    token_encrypted = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"/{self.command}"


class LinkPreview(models.Model):
    """What a linked page says about itself (Open Graph or oEmbed), fetched once per URL."""

    url = models.URLField(max_length=2000)
    url_hash = models.CharField(max_length=64, unique=True)
    title = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    site_name = models.CharField(max_length=200, blank=True)
    image = models.FileField(upload_to="previews/links/%Y/%m/", max_length=255, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)
    error = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return self.url[:80]


class MessageLinkPreview(models.Model):
    """Which previews show under which message, in the order the links appear."""

    message = models.ForeignKey("messaging.Message", on_delete=models.CASCADE,
                                related_name="link_previews")
    preview = models.ForeignKey(LinkPreview, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "preview"], name="integrations_preview_once")
        ]
        ordering = ["position"]

    def __str__(self) -> str:
        return f"preview {self.preview_id} on {self.message_id}"


class SlackImportMapping(models.Model):
    """A Slack object an import made (or matched) in teamchat: importing again finds it
    here and leaves it be, so a second import changes nothing and a stopped one continues.

    `slack_id` is Slack's id for people, bots (`B…`), conversations and files; a message
    is `<conversation id>:<ts>`, a join or leave `<conversation id>:<ts>:event`."""

    kind = models.CharField(max_length=12)
    slack_id = models.CharField(max_length=120)
    object_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "slack_id"],
                                               name="integrations_slack_mapping_unique")]

    def __str__(self) -> str:
        return f"slack {self.kind} {self.slack_id} -> {self.object_id}"


class SlackImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    REFUSED = "refused", "Refused"
    FAILED = "failed", "Stopped by an error"


class SlackImportRun(models.Model):
    """A Slack export uploaded in the console and imported by a worker, with its
    progress and report. The archive is removed once the import is done."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    name = models.CharField(max_length=255)
    archive = models.FileField(upload_to="slack-imports/%Y/%m/", max_length=255, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=8, choices=SlackImportStatus.choices,
                              default=SlackImportStatus.PENDING)
    # Messages read of the export's total, as the worker writes.
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    # Moved on with each progress write: a running import whose worker died stops moving.
    progressed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The report's counts and warnings (ImportReport), or the export's problems.
    report = models.JSONField(default=dict, blank=True)
    problems = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"slack import {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (SlackImportStatus.DONE, SlackImportStatus.REFUSED,
                               SlackImportStatus.FAILED)


class ScimToken(models.Model):
    """A bearer token an identity provider provisions people with (SCIM 2.0, /scim/v2/).
    It acts as the admin who created it, and stops working when they lose that right."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"SCIM token {self.name} ({self.prefix}…)"


class ScimExternalId(models.Model):
    """The identity provider's own id (`externalId`) of a person or a group it provisioned."""

    resource = models.CharField(max_length=5, choices=[("user", "User"), ("group", "Group")])
    local_id = models.BigIntegerField()
    external_id = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["resource", "local_id"],
                                    name="integrations_scim_one_external_id"),
        ]
        indexes = [models.Index(fields=["resource", "external_id"], name="integrations_scim_external_idx")]

    def __str__(self) -> str:
        return f"{self.resource} {self.local_id} = {self.external_id}"


class LdapAccount(models.Model):
    """A person the LDAP directory manages (docs/identity.md): linked by email at their first
    sign-in through it. The sync deactivates them when they leave the directory, and
    reactivates only those it deactivated itself."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="ldap_account")
    dn = models.CharField(max_length=1024)
    linked_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    deactivated_by_sync = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.dn


class LdapSyncStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed: the directory could not be read; nothing was changed"


class LdapSyncRun(models.Model):
    """One pass of the directory sync (or a dry run of it), for the console's identity page."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=LdapSyncStatus.choices)
    # Counts by kind of change: deactivated, reactivated, updated, unchanged, seen.
    counts = models.JSONField(default=dict)
    # One line per change made (or, in a dry run, that would be made).
    changes = models.JSONField(default=list)
    # The directory's error when it could not be read, and problems with single people.
    errors = models.JSONField(default=list)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"LDAP sync {self.started_at:%Y-%m-%d %H:%M} {self.status}"

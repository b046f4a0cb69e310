"""Retention, legal holds and exports. The audit log itself is core.models.AuditEvent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class RetentionPolicy(models.Model):
    """How long messages are kept: the organisation's default (conversation is null) or
    one conversation's own rule. keep_days null means forever."""

    conversation = models.OneToOneField("messaging.Conversation", null=True, blank=True,
                                        on_delete=models.CASCADE, related_name="retention_policy")
    keep_days = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation"], condition=models.Q(conversation__isnull=True),
                                    name="compliance_one_default_retention"),
        ]

    def __str__(self) -> str:
        scope = f"conversation {self.conversation_id}" if self.conversation_id else "organisation"
        return f"{scope}: {'forever' if self.keep_days is None else f'{self.keep_days} days'}"


class LegalHold(models.Model):
    """Preserve everything of some people and conversations while the hold is in force."""

    name = models.CharField(max_length=120)
    reason = models.TextField()
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    custodians = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="legal_holds")
    conversations = models.ManyToManyField("messaging.Conversation", blank=True,
                                           related_name="legal_holds")

    def __str__(self) -> str:
        return self.name

    def in_force(self, at=None) -> bool:
        at = at or timezone.now()
        return (self.released_at is None and self.starts_at <= at
                and (self.ends_at is None or self.ends_at > at))


class ExportFormat(models.TextChoices):
    JSONL = "jsonl", "JSON Lines"
    CSV = "csv", "CSV"
    EML = "eml", "EML (RFC 5322)"
    ACTIANCE = "actiance", "Actiance (Smarsh) XML"
    GLOBALRELAY = "globalrelay", "Global Relay EML"


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Running"
    DONE = "done", "Ready"
    FAILED = "failed", "Failed"


class ExportStage(models.TextChoices):
    MESSAGES = "messages", "writing messages"
    FILES = "files", "copying files"
    SEALING = "sealing", "sealing the archive"


class ExportJob(models.Model):
    # Null for an operator's export from the command line (manage.py compliance_export).
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # What to export; a data-subject export names its subject.
    format = models.CharField(max_length=12, choices=ExportFormat.choices)
    start = models.DateTimeField(null=True, blank=True)
    end = models.DateTimeField(null=True, blank=True)
    conversations = models.ManyToManyField("messaging.Conversation", blank=True, related_name="+")
    people = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    with_files = models.BooleanField(default=False)
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    # Progress, as the worker writes.
    status = models.CharField(max_length=8, choices=ExportStatus.choices,
                              default=ExportStatus.PENDING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    stage = models.CharField(max_length=8, choices=ExportStage.choices, blank=True)
    archive = models.FileField(upload_to="exports/%Y/%m/", max_length=255, blank=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.status})"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class VerificationStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Checking"
    INTACT = "intact", "Intact"
    BROKEN = "broken", "Broken"
    FAILED = "failed", "Could not finish"


class AuditVerification(models.Model):
    """One walk of the audit chain, asked for in the console and run by a worker, up to
    the newest event when it was asked for (the log keeps growing while it runs)."""

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=8, choices=VerificationStatus.choices,
                              default=VerificationStatus.PENDING)
    # True while waiting or running, null after: the unique constraint lets one run at a time.
    active = models.BooleanField(null=True, default=True)
    up_to_id = models.BigIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    checked = models.PositiveIntegerField(default=0)
    broken_at = models.BigIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=models.Q(active=True),
                                    name="compliance_one_audit_verification_at_a_time"),
        ]

    def __str__(self) -> str:
        return f"audit verification {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status not in (VerificationStatus.PENDING, VerificationStatus.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == VerificationStatus.INTACT:
            return 100
        return int(100 * self.checked / self.total) if self.total else 0


class AuditSigningKey(models.Model):
    """The organisation's Ed25519 key that signs audit checkpoints, made on first need. The
    private half is kept encrypted with SECRET_KEY (core.secrets) and never leaves the
    server's processes: no API, console page or admin shows it. Append-only like the log."""

    created_at = models.DateTimeField(default=timezone.now)
    public_key = models.CharField(max_length=64)  # raw 32 bytes, base64
    fingerprint = models.CharField(max_length=64, unique=True)  # SHA-256 of the raw public key
    private_key_encrypted = models.TextField()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"audit signing key {self.fingerprint[:16]}"


class AuditCheckpoint(models.Model):
    """A signed statement that the chain held `count` events, the last of them number `seq`
    (event `event_id`) with hash `head_hash`, at `created_at`. A copy outside the database
    (`manage.py audit_checkpoint --out`, export manifests) is what anchors the log: whoever
    can delete the log can delete this table too. Append-only like the log."""

    created_at = models.DateTimeField(default=timezone.now)
    seq = models.BigIntegerField(unique=True)
    event_id = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    count = models.BigIntegerField()
    key_fingerprint = models.CharField(max_length=64)
    signature = models.CharField(max_length=128)  # Ed25519 over the canonical payload, base64

    class Meta:
        ordering = ["-seq"]

    def __str__(self) -> str:
        return f"audit checkpoint at event {self.seq}"


class DailyExport(models.Model):
    """One day's scheduled export in one format, and where it was delivered. Unique per
    day and format: two workers never deliver the same day twice."""

    day = models.DateField()
    format = models.CharField(max_length=12, choices=ExportFormat.choices)
    job = models.ForeignKey(ExportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    location = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-day", "format"]
        constraints = [models.UniqueConstraint(fields=["day", "format"], name="compliance_one_daily_export")]

    def __str__(self) -> str:
        return f"daily export {self.day} ({self.format})"


class SupervisionPolicy(models.Model):
    """What compliance officers supervise (FINRA 3110): messages by the people under review
    (everyone when no one is named) that contain a listed word or phrase, match a pattern,
    or fall in the random sample, go to the policy's review queue for its reviewers."""

    name = models.CharField(max_length=120, unique=True)
    words = models.TextField(blank=True)  # one word or phrase a line, matched as whole words
    patterns = models.TextField(blank=True)  # one regular expression a line
    people = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    groups = models.ManyToManyField("messaging.UserGroup", blank=True, related_name="+")
    sample_percent = models.PositiveSmallIntegerField(default=0)
    reviewers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="supervision_policies")
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReviewStatus(models.TextChoices):
    OPEN = "open", "To review"
    REVIEWED = "reviewed", "Reviewed"
    ESCALATED = "escalated", "Escalated"
    CLOSED = "closed", "Closed"


class SupervisionItem(models.Model):
    """One version of one message (0: as sent; n: after its n-th edit) in one policy's
    queue, with why it is there and the text it was caught with."""

    policy = models.ForeignKey(SupervisionPolicy, on_delete=models.PROTECT, related_name="items")
    # The item outlives its message (retention may remove it): what was caught is kept here.
    message = models.ForeignKey("messaging.Message", null=True, on_delete=models.SET_NULL,
                                related_name="+")
    conversation = models.ForeignKey("messaging.Conversation", null=True, on_delete=models.SET_NULL,
                                     related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                               related_name="+")
    sent_at = models.DateTimeField()
    version = models.PositiveIntegerField(default=0)
    text = models.TextField()
    reasons = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["policy", "message", "version"],
                                               name="compliance_one_item_per_version")]
        indexes = [models.Index(fields=["policy", "status", "-created_at"], name="compliance_queue_idx")]

    def __str__(self) -> str:
        return f"{self.policy}: message {self.message_id} v{self.version} ({self.status})"


class SupervisionAction(models.Model):
    """A reviewer's decision on an item, with their comment: the item's history."""

    item = models.ForeignKey(SupervisionItem, on_delete=models.PROTECT, related_name="actions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=ReviewStatus.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.status} by {self.actor_id} on item {self.item_id}"

"""People, the organisation they belong to, invitations and API tokens."""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.timezone import now


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (use an IANA name like Europe/Paris).")


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    COMPLIANCE = "compliance", "Compliance officer"
    MEMBER = "member", "Member"
    GUEST = "guest", "Guest"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username or "")

    def create_user(self, email: str, password: str | None = None, **fields: object) -> User:
        """Low-level constructor for migrations, admin and `createsuperuser`.

        Product code creates people through accounts.services (invitations, bots, demo).
        """
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> User:
        fields.setdefault("role", Role.OWNER)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(max_length=254, unique=True)
    display_name = models.CharField(max_length=80)
    full_name = models.CharField(max_length=150, blank=True)
    title = models.CharField(max_length=100, blank=True)
    avatar = models.ImageField(upload_to="avatars/%Y/%m/", blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    is_bot = models.BooleanField(default=False)
    bot_owner = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="bots"
    )
    is_active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    date_joined = models.DateTimeField(default=now)
    status_text = models.CharField(max_length=100, blank=True)
    status_emoji = models.CharField(max_length=32, blank=True)
    # The custom status (text and emoji) is cleared at this time; None keeps it (issue 34).
    status_expires_at = models.DateTimeField(null=True, blank=True)
    # Presence the person set by hand; the rest comes from their connections.
    presence_manual = models.CharField(
        max_length=8, blank=True, choices=[("", "Automatic"), ("away", "Away")]
    )
    dnd_until = models.DateTimeField(null=True, blank=True)
    # Notification preferences (docs/notifications.md).
    notify_default = models.CharField(
        max_length=8, default="mentions",
        choices=[("all", "All messages"), ("mentions", "Mentions and direct messages"),
                 ("nothing", "Nothing")],
    )
    email_notifications = models.BooleanField(default=True)
    # What a push notification on a device's lock screen shows of a message: the sender
    # and the text, only who wrote in which conversation, or only that something came.
    notification_preview = models.CharField(
        max_length=8, default="full",
        choices=[("full", "Sender and text"), ("sender", "Sender only"), ("none", "Nothing")],
    )
    daily_digest = models.BooleanField(default=False)
    # Read receipts (issue 28): whether others see when this person has read their
    # messages. Off, they see no one's either.
    share_read_receipts = models.BooleanField(default=True)
    # A daily window in the person's own time zone when nothing is emailed.
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    last_digest_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]
        indexes = [models.Index(fields=["display_name"])]

    def __str__(self) -> str:
        return f"{self.display_name} <{self.email}>"

    # Organisation roles, asked by name so call sites read as policy.
    @property
    def is_org_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)

    @property
    def is_guest(self) -> bool:
        return self.role == Role.GUEST

    @property
    def is_compliance_officer(self) -> bool:
        return self.role == Role.COMPLIANCE

    @property
    def is_staff(self) -> bool:
        """Django admin access follows the organisation role."""
        return self.is_active and self.is_org_admin and not self.is_bot

    def has_perm(self, perm: str, obj: object = None) -> bool:
        if self.is_active and self.is_org_admin and not self.is_bot:
            return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and self.is_org_admin and not self.is_bot:
            return True
        return super().has_module_perms(app_label)

    def get_full_name(self) -> str:
        return self.full_name or self.display_name

    def get_short_name(self) -> str:
        return self.display_name


ORGANISATION_CACHE_KEY = "accounts:organisation"


class Organisation(models.Model):
    """The one organisation this installation serves; its policies live here."""

    name = models.CharField(max_length=120, default="teamchat")
    # How long an author may edit their own message; admins may always edit theirs.
    message_edit_window_seconds = models.PositiveIntegerField(default=24 * 3600)
    # Link previews: on or off, and (when the list is not empty) only for these domains.
    link_previews_enabled = models.BooleanField(default=True)
    link_preview_domains = models.JSONField(default=list, blank=True)
    # Who must use two-factor authentication: nobody, owners and admins, or everyone.
    require_two_factor = models.CharField(
        max_length=8, default="off",
        choices=[("off", "Nobody"), ("admins", "Owners and admins"), ("everyone", "Everyone")],
    )
    # End-to-end encryption (e2ee app): off, allowed, or required for direct conversations;
    # and the compliance escrow public key (RSA-OAEP SPKI PEM) every conversation key is
    # also wrapped for, its private half kept offline by the compliance team.
    e2ee_policy = models.CharField(
        max_length=8, default="off",
        choices=[("off", "Off"), ("allowed", "Allowed"), ("required", "Required for direct conversations")],
    )
    e2ee_escrow_public_key = models.TextField(blank=True)
    e2ee_escrow_fingerprint = models.CharField(max_length=64, blank=True)
    # Read receipts ("Seen by"): on or off, and in channels only up to this many members
    # (direct and group direct conversations always, when on).
    read_receipts_enabled = models.BooleanField(default=True)
    read_receipts_max_members = models.PositiveIntegerField(default=50)
    # Web Push (messaging/services/push.py): the VAPID key pair push services know this
    # installation by, generated on first use; the private half encrypted (core.secrets).
    push_vapid_public_key = models.CharField(max_length=100, blank=True)
    push_vapid_private_key_encrypted = models.TextField(blank=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        from django.core.cache import cache

        super().save(*args, **kwargs)
        cache.delete(ORGANISATION_CACHE_KEY)

    @classmethod
    def get(cls) -> Organisation:
        """The organisation, cached for a minute (policies are read on every request)."""
        from django.core.cache import cache

        organisation = cache.get(ORGANISATION_CACHE_KEY)
        if organisation is None:
            organisation, _ = cls.objects.get_or_create(pk=1)
            cache.set(ORGANISATION_CACHE_KEY, organisation, timeout=60)
        return organisation


class Invitation(models.Model):
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="invitations_sent")
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Invitation for {self.email}"


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 is kept, the token itself is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class TwoFactorDevice(models.Model):
    """A person's authenticator app (TOTP). The shared secret must be read back to check
    codes, so it is kept encrypted (core.secrets), never in the clear."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="two_factor")
    secret_encrypted = models.TextField()
    created_at = models.DateTimeField(default=now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last time step a code was accepted for: a code works once.
    last_step = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"authenticator of {self.user_id}"


class RecoveryCode(models.Model):
    """One-time codes for when the authenticator is lost; only their hashes are kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=now)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}"


class UserSession(models.Model):
    """A signed-in browser session, so people can see theirs and sign out of any."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="browser_sessions")
    session_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(default=now)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return f"session of {self.user_id} from {self.ip_address}"

"""Audio and video calls: the record of each call and of everyone it rang.

The media never passes through the server (browsers connect to each other); these rows
are the call's shared state, read by every daphne process, and its record afterwards.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class CallMedia(models.TextChoices):
    AUDIO = "audio"
    VIDEO = "video"


class CallState(models.TextChoices):
    RINGING = "ringing"  # nobody but the caller has answered yet
    ACTIVE = "active"  # someone answered
    ENDED = "ended"


class CallEndReason(models.TextChoices):
    COMPLETED = "completed"
    MISSED = "missed"
    DECLINED = "declined"
    BUSY = "busy"
    CANCELLED = "cancelled"
    DROPPED = "dropped"


class ParticipantState(models.TextChoices):
    RINGING = "ringing"
    JOINED = "joined"
    DECLINED = "declined"
    BUSY = "busy"
    MISSED = "missed"
    LEFT = "left"


class CallRecord(models.Model):
    conversation = models.ForeignKey("messaging.Conversation", on_delete=models.CASCADE,
                                     related_name="calls")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    media = models.CharField(max_length=8, choices=CallMedia.choices)
    state = models.CharField(max_length=8, choices=CallState.choices, default=CallState.RINGING)
    started_at = models.DateTimeField(default=timezone.now)
    ring_deadline = models.DateTimeField()
    connected_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=10, choices=CallEndReason.choices, blank=True)
    # The message that announced the call's end in its conversation.
    message = models.ForeignKey("messaging.Message", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [
            # One call at a time per conversation: a second caller joins the first call.
            models.UniqueConstraint(fields=["conversation"], condition=~Q(state="ended"),
                                    name="calls_one_live_call_per_conversation"),
        ]

    def __str__(self) -> str:
        return f"{self.media} call {self.pk} in {self.conversation_id} ({self.state})"

    @property
    def duration_seconds(self) -> int | None:
        if self.connected_at is None:
            return None
        return int(((self.ended_at or timezone.now()) - self.connected_at).total_seconds())


class CallParticipant(models.Model):
    call = models.ForeignKey(CallRecord, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=8, choices=ParticipantState.choices)
    # The socket (RealtimeConsumer.connection_id) that answered: signalling goes to that
    # tab only, and its disconnect drops the person from the call.
    connection = models.CharField(max_length=64, blank=True)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    dropped = models.BooleanField(default=False)
    audio = models.BooleanField(default=True)
    video = models.BooleanField(default=False)
    screen = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["call", "user"],
                                               name="calls_one_participant_per_person")]
        indexes = [models.Index(fields=["user", "state"]),
                   models.Index(fields=["connection"], condition=Q(state="joined"),
                                name="calls_joined_connection")]

    def __str__(self) -> str:
        return f"{self.user_id} in call {self.call_id} ({self.state})"

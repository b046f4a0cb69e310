"""Logging that never writes a secret: API tokens (tc_…), incoming-webhook keys (whk_…),
webhook signing secrets (whsec_…) and bearer credentials are masked in every record,
tracebacks included, whichever logger wrote them (an incoming-webhook URL in a 404
warning, a token echoed in an exception message)."""

from __future__ import annotations

import logging
import re

SECRET_RE = re.compile(r"\b(tc|whk|whsec)_[A-Za-z0-9_\-]{6,}")
BEARER_RE = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9_\-.~+/=]+")


def redact(text: str) -> str:
    return BEARER_RE.sub(r"\1 [redacted]", SECRET_RE.sub(r"\1_[redacted]", text))


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True

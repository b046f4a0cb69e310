"""Fixtures the compliance tests share with others."""

from tests.messaging.test_notifications import mailbox  # noqa: F401  (a real SMTP server on loopback)

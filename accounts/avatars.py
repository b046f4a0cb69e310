"""A person's avatar is stored here, in accounts, but made and served by the files app
on the floor above: its image checks re-encode an upload as a safe PNG, and its safe
delivery serves the stored bytes. Files answers these hooks in FilesConfig.ready()."""

from __future__ import annotations

from core.hooks import Hook

# (upload) -> a square, upright, metadata-free PNG (ContentFile); a bad upload is refused
# with InvalidInput naming the field "avatar".
avatar_png = Hook("accounts.avatar_png")
# (field file) -> the HTTP response that serves the stored PNG inline, safely.
avatar_response = Hook("accounts.avatar_response")

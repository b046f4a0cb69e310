"""Hooks: where an app needs an answer that only an app on a higher floor can give.

The app that asks declares the hook, with what it does when no installed app answers;
the app that answers provides its function in AppConfig.ready(). Imports keep pointing
down the floors (pyproject.toml, [tool.importlinter]): files asks whether a person may
see a message without importing messaging, messaging asks about encryption without
importing e2ee. Where the answer is news after a commit rather than a question, use
core.bus instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class Hook:
    """One question, answered by at most one provider."""

    def __init__(self, name: str, *, default: Callable[..., Any] | None = None) -> None:
        self.name = name
        self._default = default
        self._answer: Callable[..., Any] | None = None

    def provide(self, answer: Callable[..., Any]) -> None:
        if self._answer is not None and self._answer is not answer:
            raise ImproperlyConfigured(f"Two apps answer the hook {self.name}.")
        self._answer = answer

    def withdraw(self, answer: Callable[..., Any]) -> None:
        if self._answer is answer:
            self._answer = None

    @property
    def provided(self) -> bool:
        return self._answer is not None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        answer = self._answer or self._default
        if answer is None:
            raise ImproperlyConfigured(f"No installed app answers the hook {self.name}.")
        return answer(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {'provided' if self.provided else 'default'}>"
